#include "call/demo.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "matrix/client.hpp"
#include "matrix/event_loop.hpp"
#include "matrix/sync_response.hpp"
#include "proc/child.hpp"

namespace chorus::call {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

std::atomic<int> g_demo_signal{0};
void onDemoSignal(int s) {
  g_demo_signal.store(s);
}

// A child of the demo (`chorus hs`, `chorus focus`, a `chorus call` bot). Its stdout lines are also copied
// into its log file, where its stderr goes, so each log file shows what its process said; the connections it
// reported stuck (peer_not_connected / leg_not_connected events) are kept for the verdict.
struct Child {
  std::string name;
  proc::Child proc{proc::Child::Options{.max_lines = 2000}};
  std::FILE* log{nullptr};  // owned
  std::vector<json::object> problems;

  Child() = default;
  explicit Child(std::string n) : name(std::move(n)) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (log != nullptr) std::fclose(log);
  }
  pid_t pid() const { return proc.pid(); }
};

// Spawns `argv` with stdout on a pipe (stdin from /dev/null, stderr to `errlog`).
bool spawn(Child& c, const std::vector<std::string>& argv, const std::string& errlog) {
  if (!c.proc.spawn(argv, errlog)) return false;
  if (c.log != nullptr) std::fclose(c.log);
  c.log = std::fopen(errlog.c_str(), "a");
  c.proc.onLine([&c](const proc::Child::Line& l) {
    if (c.log != nullptr) {
      std::fprintf(c.log, "%s\n", l.text.c_str());
      std::fflush(c.log);
    }
    if (!l.object) return;
    const auto* e = l.object->if_contains("event");
    if (e && e->is_string() &&
        (e->as_string() == "peer_not_connected" || e->as_string() == "leg_not_connected") &&
        c.problems.size() < 32) {
      c.problems.push_back(*l.object);
    }
  });
  return true;
}

void pump(const std::vector<Child*>& children, int timeout_ms) {
  std::vector<proc::Child*> procs;
  for (auto* c : children) procs.push_back(&c->proc);
  proc::pump(procs, timeout_ms);
}

const json::object* last(const Child& c, std::string_view event) {
  return c.proc.lastEventObject(event);
}

void printView(const std::vector<Child>& bots) {
  std::printf("\n%-8s %-24s %-10s %-5s %-5s %9s %9s %8s\n", "bot", "sees", "state", "mic", "cam", "audio_fr",
              "video_fr", "rtt_ms");
  for (const auto& b : bots) {
    const auto* stats = last(b, "stats");
    if (!stats || stats->at("peers").as_array().empty()) {
      std::printf("%-8s (no peers yet)\n", b.name.c_str());
      continue;
    }
    for (const auto& pv : stats->at("peers").as_array()) {
      const auto& p = pv.as_object();
      auto get = [&](const char* k) -> std::string {
        const auto* v = p.if_contains(k);
        if (!v) return "-";
        if (v->is_string()) return std::string(v->as_string());
        if (v->is_bool()) return v->as_bool() ? "off" : "on";
        if (v->is_double()) return std::to_string(static_cast<int>(v->as_double()));
        return json::serialize(*v);
      };
      std::printf("%-8s %-24.24s %-10.10s %-5s %-5s %9s %9s %8s\n", b.name.c_str(), get("user_id").c_str(),
                  get("state").c_str(), get("audio_muted").c_str(), get("video_muted").c_str(),
                  get("audio_frames_decoded").c_str(), get("video_frames_decoded").c_str(),
                  get("rtt_ms").c_str());
    }
  }
  std::fflush(stdout);
}

}  // namespace

int runDemo(const DemoOptions& opt) {
  std::signal(SIGINT, onDemoSignal);
  std::signal(SIGTERM, onDemoSignal);
  std::signal(SIGPIPE, SIG_IGN);
  std::error_code ec;
  std::string dir = opt.data_dir;
  if (dir.empty()) {
    char tmpl[] = "/tmp/chorus-demo-XXXXXX";
    if (!mkdtemp(tmpl)) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
  }
  fs::create_directories(dir + "/hs", ec);
  static const char* kBots[] = {"alice", "bob", "carol", "dave", "erin", "frank"};
  const int n = std::max(1, std::min(opt.participants, 6));
  std::vector<std::string> users(kBots, kBots + n);
  std::vector<std::string> guests = {"guest1", "guest2"};
  if (opt.use_focus) guests.push_back("focus");
  std::printf("== chorus demo: homeserver data in %s\n", dir.c_str());
  for (const auto& u : users) {
    std::string cmd = "'" + opt.chorus_binary + "' hs register --data '" + dir + "/hs' --user " + u +
                      " --password demo >/dev/null 2>&1";
    (void)std::system(cmd.c_str());
  }
  for (const auto& u : guests) {
    std::string cmd = "'" + opt.chorus_binary + "' hs register --data '" + dir + "/hs' --user " + u +
                      " --password demo >/dev/null 2>&1";
    (void)std::system(cmd.c_str());
  }

  // The homeserver: the requested port, or any free one.
  Child hs{"hs"};
  std::string url;
  for (const std::string& listen : {opt.listen, std::string("127.0.0.1:0")}) {
    if (!spawn(hs,
               {opt.chorus_binary, "hs", "--listen", listen, "--data", dir + "/hs", "--server-name",
                "localhost"},
               dir + "/hs.log")) {
      std::fprintf(stderr, "cannot start chorus hs\n");
      return 1;
    }
    for (int i = 0; i < 100 && url.empty(); ++i) {
      hs.proc.pump(50);
      for (const auto& l : hs.proc.lines()) {
        if (l.object) continue;
        const std::string& s = l.text;
        auto p = s.find("http://");
        if (p != std::string::npos && s.find("listening") != std::string::npos) {
          auto e = s.find_first_of(" \r\n", p);
          url = s.substr(p, e == std::string::npos ? std::string::npos : e - p);
        }
      }
      if (!hs.proc.running()) break;  // exited (port taken)
    }
    if (!url.empty()) break;
    hs.proc.stop(SIGKILL, 1000);
  }
  if (url.empty()) {
    std::fprintf(stderr, "chorus hs did not start; see %s/hs.log\n", dir.c_str());
    return 1;
  }
  std::printf("== chorus hs is serving %s\n", url.c_str());

  // A room whose members may join calls.
  matrix::EventLoop loop;
  matrix::Client client(loop, url);
  auto login = matrix::blocking(
      loop, [&](matrix::Client::Reply cb) { client.login(users[0], "demo", "", std::move(cb)); });
  if (!login) {
    std::fprintf(stderr, "login failed: %s\n", login.error().message.c_str());
    hs.proc.stop(SIGTERM, 10'000);
    return 1;
  }
  json::object create{{"preset", "public_chat"},
                      {"room_alias_name", "demo"},
                      {"name", "Chorus demo call"},
                      {"power_level_content_override",
                       json::object{{"events", json::object{{"org.matrix.msc3401.call.member", 0},
                                                            {"org.matrix.msc3401.call", 0}}}}}};
  auto room =
      matrix::blocking(loop, [&](matrix::Client::Reply cb) { client.createRoom(create, std::move(cb)); });
  const std::string alias = "#demo:localhost";
  if (!room) std::printf("== room %s already exists (%s)\n", alias.c_str(), room.error().message.c_str());

  // The focus: a Matrix device of its own that joins the room when invited.
  Child focus{"focus"};
  const std::string focus_user = "@focus:localhost";
  if (opt.use_focus) {
    std::string room_id;
    if (room) {
      if (const auto* id = room->if_contains("room_id"); id && id->is_string()) room_id = id->as_string();
    } else {
      auto dir_entry = matrix::blocking(loop, [&](matrix::Client::Reply cb) {
        client.call("GET", "/_matrix/client/v3/directory/room/" + matrix::encodePathSegment(alias),
                    std::nullopt, std::move(cb));
      });
      if (dir_entry) {
        if (const auto* id = dir_entry->if_contains("room_id"); id && id->is_string())
          room_id = id->as_string();
      }
    }
    if (!spawn(focus,
               {opt.chorus_binary, "focus", "--homeserver", url, "--user", "focus", "--password", "demo",
                "--udp-port", "0", "--json", "--stats-interval", "0"},
               dir + "/focus.log")) {
      std::fprintf(stderr, "cannot start chorus focus\n");
    }
    for (int t = 0; t < 100 && !last(focus, "ready"); ++t) pump({&focus}, 100);
    if (const auto* ready = last(focus, "ready")) {
      std::string addresses;
      if (const auto* a = ready->if_contains("addresses"); a && a->is_array()) {
        for (const auto& x : a->as_array()) {
          if (x.is_string())
            addresses += std::string(addresses.empty() ? "" : ", ") + std::string(x.as_string());
        }
      }
      std::printf("== chorus focus is %s, media on UDP port %lld of %s\n", focus_user.c_str(),
                  static_cast<long long>(ready->at("udp_port").to_number<std::int64_t>()), addresses.c_str());
    } else {
      std::printf("== chorus focus did not start; see %s/focus.log\n", dir.c_str());
    }
    auto invited = matrix::blocking(loop, [&](matrix::Client::Reply cb) {
      client.call("POST", "/_matrix/client/v3/rooms/" + matrix::encodePathSegment(room_id) + "/invite",
                  json::object{{"user_id", focus_user}}, std::move(cb));
    });
    if (!invited && !room) invited = json::object{};  // a reused room: the focus is a member already
    // Wait until the focus has joined, so the bots' invites find it in the room.
    bool joined = false;
    for (int t = 0; t < 50 && invited && !joined; ++t) {
      auto m = matrix::blocking(loop, [&](matrix::Client::Reply cb) {
        client.call("GET",
                    "/_matrix/client/v3/rooms/" + matrix::encodePathSegment(room_id) +
                        "/state/m.room.member/" + matrix::encodePathSegment(focus_user),
                    std::nullopt, std::move(cb));
      });
      if (m) {
        const auto* ms = m->if_contains("membership");
        joined = ms && ms->is_string() && ms->as_string() == "join";
      }
      if (!joined) pump({&focus}, 200);
    }
    std::printf("== %s %s the room\n", focus_user.c_str(), joined ? "joined" : "did NOT join");
  }

  std::vector<Child> bots(users.size());
  for (std::size_t i = 0; i < users.size(); ++i) {
    bots[i].name = users[i];
    std::vector<std::string> argv = {
        opt.chorus_binary, "call", "--homeserver", url,   "--user",           users[i],
        "--password",      "demo", "--room",       alias, "--json",           "--no-commands",
        "--width",         "640",  "--height",     "360", "--stats-interval", "1"};
    if (i == 0) argv.push_back("--create");
    if (opt.loopback_only) argv.push_back("--loopback-only");
    if (opt.use_focus) {
      argv.push_back("--focus");
      argv.push_back(focus_user);
    }
    if (!spawn(bots[i], argv, dir + "/" + users[i] + ".log")) {
      std::fprintf(stderr, "cannot start chorus call for %s\n", users[i].c_str());
    }
    std::printf("== started %s (chorus call, pid %d)\n", users[i].c_str(), bots[i].pid());
    // Let the first one create the call before the others look for it.
    if (i == 0) {
      for (int t = 0; t < 100 && !last(bots[0], "ready"); ++t) pump({&bots[0]}, 100);
    }
  }
  if (opt.use_focus) {
    std::printf(
        "\n== join from a browser: open %s/call/?room=%%23demo:localhost&focus=%%40focus:localhost\n"
        "   and sign in as guest1 / demo (or guest2 / demo): you join the call through the focus\n",
        url.c_str());
  } else {
    std::printf(
        "\n== join from a browser: open %s/call/?room=%%23demo:localhost and sign in as guest1 / demo\n"
        "   (or guest2 / demo); any matrix-js-sdk GroupCall client works too\n",
        url.c_str());
  }
  std::printf("== %s; Ctrl-C to stop\n",
              opt.duration_s > 0
                  ? ("running for " + std::to_string(static_cast<int>(opt.duration_s)) + " s").c_str()
                  : "running");

  const auto start = std::chrono::steady_clock::now();
  auto last_print = start;
  std::vector<Child*> ptrs;
  for (auto& b : bots) ptrs.push_back(&b);
  if (focus.pid() > 0) ptrs.push_back(&focus);
  while (g_demo_signal.load() == 0) {
    pump(ptrs, 200);
    const auto now = std::chrono::steady_clock::now();
    if (opt.duration_s > 0 &&
        now - start >= std::chrono::milliseconds(static_cast<long>(opt.duration_s * 1000))) {
      break;
    }
    if (now - last_print >= std::chrono::seconds(3)) {
      last_print = now;
      printView(bots);
    }
  }

  std::printf("\n== stopping: each bot leaves the call\n");
  // What each bot saw while everyone was still there: they all leave at once, so a bot's final summary may
  // no longer list a peer that left a moment earlier.
  std::vector<json::object> before_stop(bots.size());
  for (std::size_t i = 0; i < bots.size(); ++i) {
    if (const auto* st = last(bots[i], "stats")) before_stop[i] = *st;
  }
  for (auto& b : bots) b.proc.signal(SIGTERM);
  int failures = 0;
  for (std::size_t bi = 0; bi < bots.size(); ++bi) {
    auto& b = bots[bi];
    if (!b.proc.wait(15'000)) b.proc.stop(SIGKILL, 2'000);
    const auto* summary = last(b, "summary");
    if (!summary) {
      std::printf("%-8s no summary (see %s/%s.log)\n", b.name.c_str(), dir.c_str(), b.name.c_str());
      ++failures;
      continue;
    }
    // Every other bot must be there, with audio and video.
    for (const auto& other : bots) {
      if (other.name == b.name) continue;
      const std::string other_id = "@" + other.name + ":localhost";
      std::int64_t audio = 0, video = 0;
      bool seen = false;
      // The larger of the summary's and the last figures before the stop.
      for (const json::object* report :
           std::initializer_list<const json::object*>{summary, &before_stop[bi]}) {
        const auto* peers = report->if_contains("peers");
        if (!peers || !peers->is_array()) continue;
        std::int64_t a = 0, v = 0;
        for (const auto& pv : peers->as_array()) {
          const auto& p = pv.as_object();
          const auto* uid = p.if_contains("user_id");
          if (!uid || !uid->is_string() || uid->as_string() != other_id) continue;
          seen = true;
          a += p.at("audio_frames_decoded").to_number<std::int64_t>();
          v += p.at("video_frames_decoded").to_number<std::int64_t>();
        }
        audio = std::max(audio, a);
        video = std::max(video, v);
      }
      if (!seen) {
        std::printf("%-8s never saw %s\n", b.name.c_str(), other_id.c_str());
        ++failures;
        continue;
      }
      std::printf("%-8s received from %-22s audio %6lld frames, video %6lld frames\n", b.name.c_str(),
                  other_id.c_str(), static_cast<long long>(audio), static_cast<long long>(video));
      if (video == 0 || audio == 0) ++failures;
    }
  }
  if (focus.pid() > 0) focus.proc.stop(SIGTERM, 10'000);
  hs.proc.stop(SIGTERM, 10'000);
  std::printf(
      "== %s (logs in %s)\n",
      failures == 0 ? "every bot received audio and video from every other bot" : "some media did not flow",
      dir.c_str());
  if (failures != 0) {
    // Why: what the focus and the bots reported about connections that did not complete.
    std::vector<const Child*> all;
    for (const auto& b : bots) all.push_back(&b);
    if (opt.use_focus) all.push_back(&focus);
    int reasons = 0;
    for (const Child* c : all) {
      for (const auto& p : c->problems) {
        const auto* who = p.if_contains(p.contains("participant") ? "participant" : "peer");
        const auto* reason = p.if_contains("reason");
        std::printf("   why: %s: %s did not connect: %s\n", c->name.c_str(),
                    who && who->is_string() ? std::string(who->as_string()).c_str() : "?",
                    reason && reason->is_string() ? std::string(reason->as_string()).c_str() : "?");
        ++reasons;
      }
    }
    if (reasons == 0) {
      std::printf("   why: no connection was reported stuck; see the bots' and the focus's logs in %s\n",
                  dir.c_str());
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace chorus::call
