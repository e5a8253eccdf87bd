#include "bench/call/call_bench.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "matrix/client.hpp"
#include "matrix/event_loop.hpp"
#include "proc/child.hpp"

namespace chorus::call {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr double kAimS = 1.5;  // issue #9: every leg connected <= 1.5 s after the answers arrive

std::int64_t wallMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// `chorus hs` and the `chorus call` participants: their JSON lines (the newest 4000 of each).
using Child = proc::Child;

std::string str(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::int64_t num(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_number() ? v->to_number<std::int64_t>() : 0;
}

bool hasEvent(const Child& c, std::string_view event) {
  return c.lastEvent(event) != nullptr;
}

// The latest state of each peer's (non-ended) leg: peer user id -> state.
std::map<std::string, std::string> legStates(const Child& c) {
  std::map<std::string, std::string> out;
  for (const auto& line : c.lines()) {
    if (!line.object || str(*line.object, "event") != "leg") continue;
    const json::object& l = *line.object;
    const std::string state = str(l, "state");
    if (state == "ended") {
      out.erase(str(l, "user_id"));
    } else {
      out[str(l, "user_id")] = state;
    }
  }
  return out;
}

bool connectedTo(const Child& c, const std::vector<std::string>& peers) {
  auto states = legStates(c);
  for (const auto& p : peers) {
    auto it = states.find(p);
    if (it == states.end() || it->second != "connected") return false;
  }
  return true;
}

void endChild(Child& c) {
  c.stop(SIGTERM, 10'000);
}

double seconds(std::int64_t ms) {
  return static_cast<double>(ms) / 1000.0;
}

// One newcomer's legs, from its JSON lines: per peer the first time of each state (ms, wall clock).
json::object newcomerFigures(const Child& c, const std::vector<std::string>& peers, bool complete) {
  struct LegTimes {
    std::string direction;
    std::optional<std::int64_t> created, connecting, connected;
  };
  std::map<std::string, LegTimes> legs;  // by peer user id; a leg that ended is replaced by the next one
  std::optional<std::int64_t> ready;
  const std::int64_t started_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(c.startedAt().time_since_epoch()).count();
  for (const auto& line : c.lines()) {
    if (!line.object) continue;
    const json::object& l = *line.object;
    const std::string ev = str(l, "event");
    if (ev == "ready" && !ready) ready = num(l, "ts");
    if (ev != "leg") continue;
    const std::string peer = str(l, "user_id"), state = str(l, "state");
    const std::int64_t ts = num(l, "ts");
    if (state == "ended") {
      legs.erase(peer);
      continue;
    }
    LegTimes& t = legs[peer];
    if (state == "creating_offer" || state == "creating_answer") {
      if (t.created) t = LegTimes{};
      t.created = ts;
      t.direction = state == "creating_offer" ? "out" : "in";
    } else if (state == "invite_sent") {
      if (t.direction.empty()) t.direction = "out";
    } else if (state == "connecting") {
      if (!t.connecting) t.connecting = ts;
    } else if (state == "connected") {
      if (!t.connected) t.connected = ts;
    }
  }
  json::array arr;
  double max_answer = 0, max_start = 0;
  bool all = complete;
  for (const auto& p : peers) {
    json::object leg{{"peer", p}};
    auto it = legs.find(p);
    if (it == legs.end()) {
      leg["missing"] = true;
      all = false;
      arr.push_back(std::move(leg));
      continue;
    }
    const LegTimes& t = it->second;
    leg["direction"] = t.direction;
    auto rel = [&](const std::optional<std::int64_t>& v) -> json::value {
      return v ? json::value(seconds(*v - started_ms)) : json::value(nullptr);
    };
    leg["created_s"] = rel(t.created);
    leg["answer_s"] = rel(t.connecting);
    leg["connected_s"] = rel(t.connected);
    if (t.connecting && t.connected) {
      const double a = seconds(*t.connected - *t.connecting);
      leg["answer_to_connected_s"] = a;
      max_answer = std::max(max_answer, a);
      max_start = std::max(max_start, seconds(*t.connected - started_ms));
    } else {
      all = false;
    }
    arr.push_back(std::move(leg));
  }
  json::object out{{"legs", std::move(arr)}, {"complete", all}};
  out["ready_s"] = ready ? json::value(seconds(*ready - started_ms)) : json::value(nullptr);
  if (all) {
    out["max_answer_to_connected_s"] = max_answer;
    out["max_start_to_connected_s"] = max_start;
  }
  return out;
}

struct Harness {
  const CallBenchOptions& opt;
  std::string dir;
  std::string url;
  std::string alias;
  Child hs;
};

// Starts the hs, registers the users and creates the room (once for all modes).
Status startHomeserver(Harness& h, const std::vector<std::string>& users) {
  fs::create_directories(h.dir + "/hs");
  for (const auto& u : users) {
    std::string cmd = "'" + h.opt.chorus_binary + "' hs register --data '" + h.dir + "/hs' --user " + u +
                      " --password bench >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) return fail(Code::Internal, "cannot register " + u);
  }
  if (!h.hs.spawn({h.opt.chorus_binary, "hs", "--listen", "127.0.0.1:0", "--data", h.dir + "/hs",
                   "--server-name", "localhost"},
                  h.dir + "/hs.log")) {
    return fail(Code::Internal, "cannot start chorus hs");
  }
  for (int i = 0; i < 200 && h.url.empty(); ++i) {
    h.hs.pump(50);
    for (const auto& l : h.hs.lines()) {
      if (l.object) continue;
      const std::string& s = l.text;
      auto p = s.find("http://");
      if (p != std::string::npos && s.find("listening") != std::string::npos) {
        auto e = s.find_first_of(" \r\n", p);
        h.url = s.substr(p, e == std::string::npos ? std::string::npos : e - p);
      }
    }
  }
  if (h.url.empty()) return fail(Code::Internal, "chorus hs did not start; see " + h.dir + "/hs.log");
  matrix::EventLoop loop;
  matrix::Client client(loop, h.url);
  auto login = matrix::blocking(
      loop, [&](matrix::Client::Reply cb) { client.login(users[0], "bench", "", std::move(cb)); });
  if (!login) return fail(Code::Internal, "login: " + login.error().message);
  json::object create{{"preset", "public_chat"},
                      {"room_alias_name", "bench"},
                      {"name", "chorus bench call"},
                      {"power_level_content_override",
                       json::object{{"events", json::object{{"org.matrix.msc3401.call.member", 0},
                                                            {"org.matrix.msc3401.call", 0}}}}}};
  auto room =
      matrix::blocking(loop, [&](matrix::Client::Reply cb) { client.createRoom(create, std::move(cb)); });
  if (!room) return fail(Code::Internal, "createRoom: " + room.error().message);
  h.alias = "#bench:localhost";
  return ok();
}

std::vector<std::string> callArgv(const Harness& h, const std::string& user, bool create, bool legacy) {
  std::vector<std::string> argv = {
      h.opt.chorus_binary, "call",  "--homeserver", h.url,   "--user",           user,
      "--password",        "bench", "--room",       h.alias, "--json",           "--no-commands",
      "--width",           "320",   "--height",     "180",   "--stats-interval", "5"};
  if (create) argv.push_back("--create");
  if (legacy) argv.push_back("--legacy-leg-setup");
  return argv;
}

// One mode: the mesh of `participants`, then `rounds` newcomers.
json::object runMode(Harness& h, const std::vector<std::string>& members, const std::string& newcomer,
                     bool legacy) {
  const std::string tag = legacy ? "legacy" : "event";
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(h.opt.timeout_s * 1000));
  json::object out{{"mode", tag}};
  std::vector<Child> bots(members.size());
  std::vector<Child*> ptrs;
  std::vector<std::string> mxids;
  for (const auto& m : members) mxids.push_back("@" + m + ":localhost");
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (!bots[i].spawn(callArgv(h, members[i], i == 0, legacy),
                       h.dir + "/" + tag + "-" + members[i] + ".log")) {
      out["error"] = "cannot start chorus call";
      return out;
    }
    ptrs.push_back(&bots[i]);
    if (i == 0) {
      const auto until = std::chrono::steady_clock::now() + timeout;
      while (!hasEvent(bots[0], "ready") && std::chrono::steady_clock::now() < until) proc::pump(ptrs, 100);
    }
  }
  auto meshConnected = [&] {
    for (std::size_t i = 0; i < bots.size(); ++i) {
      std::vector<std::string> others;
      for (std::size_t j = 0; j < bots.size(); ++j)
        if (j != i) others.push_back(mxids[j]);
      if (!connectedTo(bots[i], others)) return false;
    }
    return true;
  };
  const std::int64_t mesh_start = wallMs();
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!meshConnected() && std::chrono::steady_clock::now() < until) proc::pump(ptrs, 100);
  if (!meshConnected()) {
    out["error"] = "the first " + std::to_string(members.size()) + " participants did not connect (logs in " +
                   h.dir + ")";
    for (auto& b : bots) endChild(b);
    return out;
  }
  out["mesh_connected_s"] = seconds(wallMs() - mesh_start);

  json::array rounds;
  double worst_answer = 0, worst_start = 0;
  bool all_complete = true;
  for (int r = 0; r < h.opt.rounds; ++r) {
    Child nc;
    if (!nc.spawn(callArgv(h, newcomer, false, legacy),
                  h.dir + "/" + tag + "-" + newcomer + "-" + std::to_string(r + 1) + ".log")) {
      out["error"] = "cannot start the newcomer";
      break;
    }
    std::vector<Child*> all = ptrs;
    all.push_back(&nc);
    until = std::chrono::steady_clock::now() + timeout;
    bool done = false;
    while (!(done = connectedTo(nc, mxids)) && std::chrono::steady_clock::now() < until) proc::pump(all, 50);
    proc::pump(all, 0);
    json::object fig = newcomerFigures(nc, mxids, done);
    fig["round"] = r + 1;
    if (fig.at("complete").as_bool()) {
      worst_answer = std::max(worst_answer, fig.at("max_answer_to_connected_s").as_double());
      worst_start = std::max(worst_start, fig.at("max_start_to_connected_s").as_double());
    } else {
      all_complete = false;
    }
    rounds.push_back(std::move(fig));
    // The newcomer leaves; wait until the others have ended their legs to it before the next one enters.
    endChild(nc);
    const std::string nc_id = "@" + newcomer + ":localhost";
    until = std::chrono::steady_clock::now() + timeout;
    auto gone = [&] {
      for (auto& b : bots)
        if (legStates(b).count(nc_id) != 0) return false;
      return true;
    };
    while (!gone() && std::chrono::steady_clock::now() < until) proc::pump(ptrs, 100);
  }
  out["rounds"] = std::move(rounds);
  out["complete"] = all_complete;
  if (all_complete) {
    out["max_answer_to_connected_s"] = worst_answer;
    out["max_start_to_connected_s"] = worst_start;
    out["ratio_to_aim"] = worst_answer / kAimS;
    out["aim_met"] = worst_answer <= kAimS;
  }
  for (auto& b : bots) endChild(b);
  return out;
}

std::string fmt(const json::value* v) {
  if (v == nullptr || v->is_null()) return "-";
  if (v->is_double()) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", v->as_double());
    return b;
  }
  if (v->is_string()) return std::string(v->as_string());
  return json::serialize(*v);
}

}  // namespace

Result<json::object> runCallBench(const CallBenchOptions& opt) {
  if (opt.participants < 1 || opt.participants > 8) return fail(Code::InvalidArgument, "participants: 1..8");
  if (opt.mode != "event" && opt.mode != "legacy" && opt.mode != "both")
    return fail(Code::InvalidArgument, "mode: event | legacy | both");
  std::signal(SIGPIPE, SIG_IGN);
  CallBenchOptions o = opt;
  if (o.chorus_binary.empty()) {
    std::error_code ec;
    o.chorus_binary = fs::read_symlink("/proc/self/exe", ec).string();
    if (ec) return fail(Code::Internal, "cannot find our own executable; pass --chorus-binary");
  }
  Harness h{o, "", "", "", {}};
  char tmpl[] = "/tmp/chorus-bench-call-XXXXXX";
  if (!mkdtemp(tmpl)) return fail(Code::Internal, "mkdtemp failed");
  h.dir = tmpl;
  static const char* kNames[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"};
  // Mesh calls go from the lower user id to the higher one (core::GroupCall::wantsOutgoingCall).
  const int first = opt.newcomer_offers ? 1 : 0;
  std::vector<std::string> members(kNames + first, kNames + first + opt.participants);
  const std::string newcomer = opt.newcomer_offers ? kNames[0] : kNames[opt.participants];
  std::vector<std::string> users = members;
  users.push_back(newcomer);
  if (auto st = startHomeserver(h, users); !st) {
    endChild(h.hs);
    return fail(st.error());
  }
  json::object result{
      {"aim_s", kAimS},
      {"participants", opt.participants},
      {"newcomer", newcomer},
      {"newcomer_offers", opt.newcomer_offers},
      {"rounds", opt.rounds},
      {"answer_time",
       "the newcomer's leg event 'connecting': outgoing leg = the peer's answer arrived, incoming "
       "leg = the newcomer's answer was sent"}};
  json::object modes;
  if (opt.mode != "legacy") modes["event"] = runMode(h, members, newcomer, false);
  if (opt.mode != "event") modes["legacy"] = runMode(h, members, newcomer, true);
  result["modes"] = std::move(modes);
  endChild(h.hs);
  if (o.keep_temp) {
    result["logs"] = h.dir;
  } else {
    std::error_code ec;
    fs::remove_all(h.dir, ec);
  }
  return result;
}

std::string formatCallBench(const json::object& r) {
  std::ostringstream o;
  const auto* offers = r.if_contains("newcomer_offers");
  o << "chorus bench call: a newcomer enters a mesh call of " << fmt(r.if_contains("participants"))
    << " chorus call participants, " << fmt(r.if_contains("rounds")) << " round(s) per mode; the newcomer ("
    << fmt(r.if_contains("newcomer")) << ") "
    << (offers && offers->is_bool() && offers->as_bool() ? "sends the offers" : "answers the others' offers")
    << "\n"
    << "  times in s from the newcomer's start; 'answer' = leg event 'connecting' (outgoing leg: the peer's "
       "answer arrived; incoming leg: our answer was sent)\n";
  const auto& modes = r.at("modes").as_object();
  for (const auto& [name, mv] : modes) {
    const auto& m = mv.as_object();
    o << "\n  mode " << std::string(name)
      << (name == "event"
              ? " (event-driven leg setup)"
              : " (old: blocking wait for send caps, tee allocation queries into connecting legs)")
      << "\n";
    if (const auto* e = m.if_contains("error")) o << "    error: " << fmt(e) << "\n";
    if (const auto* mc = m.if_contains("mesh_connected_s"))
      o << "    first mesh connected after " << fmt(mc) << " s\n";
    if (const auto* rounds = m.if_contains("rounds")) {
      for (const auto& rv : rounds->as_array()) {
        const auto& rd = rv.as_object();
        o << "    round " << fmt(rd.if_contains("round")) << ": ready " << fmt(rd.if_contains("ready_s"))
          << "\n";
        for (const auto& lv : rd.at("legs").as_array()) {
          const auto& l = lv.as_object();
          char line[256];
          std::snprintf(line, sizeof line,
                        "      %-18s %-3s created %7s  answer %7s  connected %7s  answer->connected %7s\n",
                        fmt(l.if_contains("peer")).c_str(), fmt(l.if_contains("direction")).c_str(),
                        fmt(l.if_contains("created_s")).c_str(), fmt(l.if_contains("answer_s")).c_str(),
                        fmt(l.if_contains("connected_s")).c_str(),
                        fmt(l.if_contains("answer_to_connected_s")).c_str());
          o << line;
        }
        if (!rd.at("complete").as_bool()) o << "      (not every leg connected in time)\n";
      }
    }
    if (m.if_contains("max_answer_to_connected_s")) {
      o << "    max answer->connected " << fmt(m.if_contains("max_answer_to_connected_s"))
        << " s, max start->connected " << fmt(m.if_contains("max_start_to_connected_s")) << " s\n"
        << "    aim <= " << fmt(r.if_contains("aim_s")) << " s after the answers: ratio "
        << fmt(m.if_contains("ratio_to_aim")) << " (" << (m.at("aim_met").as_bool() ? "met" : "NOT met")
        << ")\n";
    } else {
      o << "    incomplete: no maximum\n";
    }
  }
  if (const auto* logs = r.if_contains("logs")) o << "\n  logs in " << fmt(logs) << "\n";
  return o.str();
}

}  // namespace chorus::call
