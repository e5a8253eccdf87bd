#include "bench/focus/load_bench.hpp"

#include "bench/json_text.hpp"

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/focus/forwarding_floor.hpp"
#include "bench/focus/synthetic_participant.hpp"
#include "io/dtls_transport.hpp"
#include "io/sctp_association.hpp"
#include "matrix/client.hpp"
#include "matrix/event_loop.hpp"
#include "matrix/sync_response.hpp"
#include "proc/child.hpp"
#include "proc/process_stats.hpp"
#include "proto/signalling.hpp"

namespace chorus::focus {

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using bench::SyntheticParticipant;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr const char* kPassword = "pw";
constexpr const char* kCallMemberType = "org.matrix.msc3401.call.member";
constexpr const char* kCallType = "org.matrix.msc3401.call";
constexpr std::chrono::milliseconds kTick{2};
// Audio-only mode: streams per participant whose packets are unprotected (for latency; the rest are counted).
constexpr std::size_t kAudioOnlyUnprotectedSsrcs = 8;

// The focus's memory from /proc/<pid>/status (KiB): VmRSS, its anonymous (heap, stacks) and file-backed
// (code) parts, and the peak VmHWM.
struct Memory {
  std::int64_t rss{0};
  std::int64_t anon{0};
  std::int64_t file{0};
  std::int64_t hwm{0};
};

Memory readMemory(pid_t pid) {
  Memory m;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    const auto value = [&] { return std::strtoll(line.c_str() + line.find(':') + 1, nullptr, 10); };
    if (line.rfind("VmRSS:", 0) == 0) m.rss = value();
    if (line.rfind("RssAnon:", 0) == 0) m.anon = value();
    if (line.rfind("RssFile:", 0) == 0) m.file = value();
    if (line.rfind("VmHWM:", 0) == 0) m.hwm = value();
  }
  return m;
}

json::object memoryJson(const Memory& m) {
  return json::object{{"rss_kib", m.rss}, {"anon_kib", m.anon}, {"file_kib", m.file}, {"hwm_kib", m.hwm}};
}

SteadyTime now() {
  return std::chrono::steady_clock::now();
}
double secondsBetween(SteadyTime a, SteadyTime b) {
  return std::chrono::duration<double>(b - a).count();
}

double loadAverage() {
  std::ifstream f("/proc/loadavg");
  double one = 0;
  f >> one;
  return one;
}

double selfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::uint64_t jsonUint(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64()) return static_cast<std::uint64_t>(std::max<std::int64_t>(0, v->as_int64()));
  if (v->is_double()) return static_cast<std::uint64_t>(std::max(0.0, v->as_double()));
  return 0;
}

std::string jsonString(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

double percentile(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const std::size_t i =
      std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

double round2(double x) {
  return static_cast<double>(static_cast<std::int64_t>(x * 100 + (x >= 0 ? 0.5 : -0.5))) / 100;
}

// ---------------------------------------------------------------------------------------------------------
// The Matrix side: one EventLoop thread; the bench thread calls through it and waits.
class MatrixThread {
 public:
  MatrixThread() : thread_([this] { loop_.run(); }) {}
  ~MatrixThread() { stop(); }
  MatrixThread(const MatrixThread&) = delete;
  MatrixThread& operator=(const MatrixThread&) = delete;

  matrix::EventLoop& loop() { return loop_; }

  void stop() {
    if (thread_.joinable()) {
      loop_.stop();
      thread_.join();
    }
  }

  // Runs fn(reply) on the loop thread and waits for the reply (bounded).
  Result<json::object> call(std::function<void(matrix::Client::Reply)> fn, int timeout_ms = 30'000) {
    auto p = std::make_shared<std::promise<Result<json::object>>>();
    auto f = p->get_future();
    loop_.post([fn = std::move(fn), p] { fn([p](Result<json::object> r) { p->set_value(std::move(r)); }); });
    if (f.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready) {
      return fail(Code::DeadlineExceeded, "homeserver request timed out");
    }
    return f.get();
  }

 private:
  matrix::EventLoop loop_;
  std::thread thread_;
};

// One synthetic participant's Matrix identity and call ids.
struct Member {
  std::string localpart;
  std::string user_id;
  std::string device_id;
  std::unique_ptr<matrix::Client> client;  // used on the Matrix thread only
  std::string session_id;
  std::string call_id;
  std::string since;
  bool publisher{false};  // audio + video publisher, or (audio-only) every participant
  SyntheticParticipant::Role role{SyntheticParticipant::Role::Subscriber};
};

// The media side: every synthetic participant on one io_context thread.
class MediaThread {
 public:
  MediaThread() : guard_(asio::make_work_guard(io_)), tick_(io_) {}
  ~MediaThread() { stop(); }
  MediaThread(const MediaThread&) = delete;
  MediaThread& operator=(const MediaThread&) = delete;

  asio::io_context& io() { return io_; }
  std::vector<std::unique_ptr<SyntheticParticipant>>& peers() { return peers_; }

  void start() {
    scheduleTick();
    thread_ = std::thread([this] { io_.run(); });
  }

  // Runs fn on the media thread and returns its result.
  template <typename F>
  auto run(F fn) -> decltype(fn()) {
    using R = decltype(fn());
    std::packaged_task<R()> task(std::move(fn));
    auto f = task.get_future();
    asio::post(io_, [&task] { task(); });
    return f.get();
  }

  void stop() {
    if (!thread_.joinable()) return;
    run([this] {
      tick_.cancel();
      peers_.clear();  // usrsctp is driven from this thread only
      return 0;
    });
    guard_.reset();
    io_.stop();
    thread_.join();
  }

 private:
  void scheduleTick() {
    tick_.expires_after(kTick);
    tick_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      const std::uint64_t t = bench::steadyNowNs();
      for (auto& p : peers_) p->tick(t);
      if (last_sctp_ns_ == 0) last_sctp_ns_ = t;
      if (t - last_sctp_ns_ >= 10'000'000) {
        io::SctpAssociation::handleTimers(static_cast<std::uint32_t>((t - last_sctp_ns_) / 1'000'000));
        last_sctp_ns_ = t;
      }
      scheduleTick();
    });
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  asio::steady_timer tick_;
  std::vector<std::unique_ptr<SyntheticParticipant>> peers_;  // Owned; touched on the media thread only
  std::uint64_t last_sctp_ns_{0};
  std::thread thread_;
};

struct PeerState {
  bool ice{false};
  bool dtls{false};
  bool dc{false};
  std::size_t inbound{0};  // incoming SSRCs; with audio slots: those that delivered lately
  std::string error;
};

class Bench {
 public:
  explicit Bench(const FocusBenchOptions& o) : o_(o) {}

  ~Bench() {
    media_.stop();
    matrix_.stop();
    members_.clear();
    focus_.stop(SIGKILL, 1000);
    hs_.stop(SIGKILL, 1000);
    if (!dir_.empty() && !o_.keep_temp) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  Result<json::object> run() {
    if (o_.audio_only) {
      if (o_.participants < 2) return fail(Code::InvalidArgument, "--participants must be >= 2");
      if (o_.speakers < 0 || o_.speakers > o_.participants)
        return fail(Code::InvalidArgument, "--speakers must be within 0..participants");
      if (o_.dtx_interval_ms < 1) return fail(Code::InvalidArgument, "--dtx-interval-ms must be >= 1");
      if (o_.audio_slots < 0) return fail(Code::InvalidArgument, "--audio-slots must be >= 0");
    } else if (o_.publishers < 1 || o_.subscribers < 1) {
      return fail(Code::InvalidArgument, "need at least 1 publisher and 1 subscriber");
    }
    if (o_.seconds <= 0) return fail(Code::InvalidArgument, "--seconds must be > 0");
    binary_ = o_.chorus_binary.empty() ? std::string("/proc/self/exe") : o_.chorus_binary;
    char tmpl[] = "/tmp/chorus-bench-focus-XXXXXX";
    if (!mkdtemp(tmpl)) return fail(Code::Internal, "mkdtemp failed");
    dir_ = tmpl;

    traffic_.audio_pps = o_.audio_pps;
    traffic_.video_pps = o_.video_pps;
    traffic_.audio_payload_bytes = o_.audio_payload_bytes;
    traffic_.video_payload_bytes = o_.payload_bytes;
    traffic_.dtx_interval_ms = o_.dtx_interval_ms;
    if (o_.audio_only) {
      traffic_.video_pps = 0;
      // One thread takes every forwarded packet: unprotect only a few streams per participant (latency),
      // count the rest from their clear headers.
      traffic_.max_unprotected_ssrcs = kAudioOnlyUnprotectedSsrcs;
      // Every audio packet carries its level (what the focus's loudest-speaker selection reads).
      traffic_.audio_level = true;
    }
    load_start_ = loadAverage();
    if (!o_.audio_only) {
      progress("measuring the floor (no routing), first run ...");
      if (auto st = floorRun(); !st) return fail(st.error());
    }
    const SteadyTime t_setup = now();
    if (auto st = startHomeserver(); !st) return fail(st.error());
    if (auto st = registerUsers(); !st) return fail(st.error());
    if (auto st = startFocus(); !st) return fail(st.error());
    if (auto st = createRoomAndCall(); !st) return fail(st.error());
    // The focus with no participants (logged in, joined, synced the room).
    for (int i = 0; i < 10; ++i) focus_.pump(50);
    rss_idle_kib_ = proc::rssKib(focus_.pid()).value_or(0);
    mem_idle_ = readMemory(focus_.pid());
    if (auto st = joinMembers(); !st) return fail(st.error());
    if (auto st = connectAll(); !st) return fail(st.error());
    const double setup_s = secondsBetween(t_setup, now());
    rss_flowing_ = readMemory(focus_.pid());
    if (auto st = measure(); !st) return fail(st.error());
    shutdown();
    if (o_.audio_only) {
      load_end_ = loadAverage();
      return reportAudioOnly(setup_s);
    }
    progress("measuring the floor (no routing), more runs ...");
    auto floor = floorMedian();
    if (!floor) return fail(floor.error());
    progress("measuring the floor paced at the load's input rate ...");
    auto paced = pacedFloor();
    if (!paced) return fail(paced.error());
    progress("measuring the batched floor (recvmmsg/sendmmsg) ...");
    auto batched = batchedFloorMedian();
    if (!batched) return fail(batched.error());
    load_end_ = loadAverage();
    return report(*floor, *paced, *batched, setup_s);
  }

 private:
  void progress(const std::string& s) {
    if (o_.progress) std::fprintf(stderr, "[bench focus] %s\n", s.c_str());
  }

  Status startHomeserver() {
    progress("starting chorus hs in " + dir_);
    std::filesystem::create_directories(dir_ + "/hs");
    if (!hs_.spawn({binary_, "hs", "--listen", "127.0.0.1:0", "--data", dir_ + "/hs", "--server-name",
                    "localhost", "--fast-kdf", "--no-rate-limit", "--open-registration"},
                   dir_ + "/hs.log")) {
      return fail(Code::Internal, "cannot spawn " + binary_ + " hs");
    }
    const SteadyTime deadline = now() + std::chrono::seconds(15);
    while (url_.empty() && now() < deadline && hs_.running()) {
      hs_.pump(50);
      for (const auto& l : hs_.lines()) {
        const auto p = l.text.find("http://");
        if (p == std::string::npos || l.text.find("listening") == std::string::npos) continue;
        const auto e = l.text.find_first_of(" \r\n", p);
        url_ = l.text.substr(p, e == std::string::npos ? std::string::npos : e - p);
      }
    }
    if (url_.empty()) return fail(Code::Unavailable, "chorus hs did not start; see " + dir_ + "/hs.log");
    return {};
  }

  Result<json::object> registerUser(const std::string& localpart, const std::string& device_id) {
    json::object body{{"username", localpart},
                      {"password", kPassword},
                      {"device_id", device_id},
                      {"initial_device_display_name", "chorus bench"},
                      {"auth", json::object{{"type", "m.login.dummy"}}}};
    auto anon = std::make_shared<matrix::Client>(matrix_.loop(), url_);
    return matrix_.call([anon, body](matrix::Client::Reply cb) {
      anon->call("POST", "/_matrix/client/v3/register", body, std::move(cb));
    });
  }

  Status registerUsers() {
    const int n = o_.audio_only ? o_.participants : o_.publishers + o_.subscribers;
    progress("registering " + std::to_string(n) + " users and the focus");
    auto f = registerUser("focus", "FOCUSLOGIN");
    if (!f) return fail(Code::Internal, "register focus: " + f.error().message);
    for (int i = 0; i < n; ++i) {
      auto m = std::make_unique<Member>();
      std::string device;
      if (o_.audio_only) {
        m->publisher = true;
        m->role = SyntheticParticipant::Role::AudioPeer;
        m->localpart = "benchpeer" + std::to_string(i);
        device = "BENCHA" + std::to_string(i);
      } else {
        m->publisher = i < o_.publishers;
        m->role =
            m->publisher ? SyntheticParticipant::Role::Publisher : SyntheticParticipant::Role::Subscriber;
        m->localpart =
            (m->publisher ? "benchpub" : "benchsub") + std::to_string(m->publisher ? i : i - o_.publishers);
        device = (m->publisher ? "BENCHP" : "BENCHS") + std::to_string(m->publisher ? i : i - o_.publishers);
      }
      auto r = registerUser(m->localpart, device);
      if (!r) return fail(Code::Internal, "register " + m->localpart + ": " + r.error().message);
      if (o_.audio_only && (i + 1) % 100 == 0) progress("registered " + std::to_string(i + 1));
      m->user_id = jsonString(*r, "user_id");
      m->device_id = jsonString(*r, "device_id");
      const std::string token = jsonString(*r, "access_token");
      if (m->user_id.empty() || token.empty()) return fail(Code::Internal, "register: no access token");
      m->client = std::make_unique<matrix::Client>(matrix_.loop(), url_);
      m->client->setSession(token, m->user_id, m->device_id);
      m->session_id = "bs" + std::to_string(i) + "-" + std::to_string(::getpid());
      m->call_id = "bc" + std::to_string(i) + "-" + std::to_string(::getpid());
      members_.push_back(std::move(m));
    }
    return {};
  }

  Status startFocus() {
    progress("starting chorus focus");
    std::vector<std::string> args{
        binary_,  "--log-level",      "warn",    "focus",  "--homeserver", url_,         "--user",
        "focus",  "--password",       kPassword, "--bind", "127.0.0.1",    "--udp-port", "0",
        "--json", "--stats-interval", "1"};
    const std::string config = dir_ + "/focus.json";
    std::ofstream out(config);
    out << "{\"udp_gso\": " << (o_.udp_gso ? "true" : "false");
    if (o_.audio_only) {
      // The default limits are 100 participants per conference, 64 m-lines per description and 64
      // subscriptions per subscriber: raised so that each participant may receive every other one (a few
      // m-lines more for its own sections).
      out << ", \"max_participants_per_conference\": " << o_.participants + 1
          << ", \"max_media_sections\": " << o_.participants + 8
          << ", \"max_subscriptions_per_subscriber\": " << o_.participants;
      // The bounded audio forwarding set (RouterConfig::audio_slots; `chorus focus` defaults to 16): 0 turns
      // it off, so that every participant receives every other one.
      out << ", \"audio_slots\": " << o_.audio_slots;
    }
    out << "}\n";
    out.close();
    args.insert(args.end(), {"--config", config});
    if (!focus_.spawn(args, dir_ + "/focus.log")) {
      return fail(Code::Internal, "cannot spawn " + binary_ + " focus");
    }
    const SteadyTime deadline = now() + std::chrono::seconds(20);
    while (now() < deadline && focus_.running()) {
      focus_.pump(50);
      if (const auto* l = focus_.lastEvent("ready")) {
        focus_user_ = jsonString(*l->object, "user_id");
        focus_device_ = jsonString(*l->object, "device_id");
        focus_port_ = static_cast<std::uint16_t>(jsonUint(*l->object, "udp_port"));
        focus_address_ = jsonString(*l->object, "address");
        break;
      }
    }
    if (focus_user_.empty()) {
      return fail(Code::Unavailable,
                  "chorus focus did not report ready (does `chorus focus` exist in this build?); see " +
                      dir_ + "/focus.log");
    }
    return {};
  }

  Status createRoomAndCall() {
    Member& creator = *members_.front();
    json::object create{{"preset", "public_chat"},
                        {"name", "chorus bench focus"},
                        {"invite", json::array{json::value(focus_user_)}},
                        {"power_level_content_override",
                         json::object{{"events", json::object{{kCallMemberType, 0}, {kCallType, 0}}}}}};
    auto r =
        matrix_.call([&](matrix::Client::Reply cb) { creator.client->createRoom(create, std::move(cb)); });
    if (!r) return fail(Code::Internal, "createRoom: " + r.error().message);
    room_id_ = jsonString(*r, "room_id");
    progress("room " + room_id_ + "; waiting for the focus to join");
    const std::string path = "/_matrix/client/v3/rooms/" + matrix::encodePathSegment(room_id_) +
                             "/state/m.room.member/" + matrix::encodePathSegment(focus_user_);
    bool joined = false;
    const SteadyTime deadline = now() + std::chrono::seconds(20);
    while (!joined && now() < deadline) {
      auto s = matrix_.call([&](matrix::Client::Reply cb) {
        matrix::RetryPolicy once;
        once.max_attempts = 1;
        creator.client->call("GET", path, std::nullopt, std::move(cb), once);
      });
      joined = s && jsonString(*s, "membership") == "join";
      if (!joined) focus_.pump(100);
    }
    if (!joined)
      return fail(Code::DeadlineExceeded, "the focus did not join the room; see " + dir_ + "/focus.log");
    conf_id_ = "benchconf" + std::to_string(::getpid());
    json::object call{{"m.intent", "m.room"}, {"m.type", "m.video"}, {"m.name", "chorus bench focus"}};
    auto c = matrix_.call([&](matrix::Client::Reply cb) {
      creator.client->putState(room_id_, kCallType, conf_id_, call, std::move(cb));
    });
    if (!c) return fail(Code::Internal, "m.call state: " + c.error().message);
    return {};
  }

  // Bounded memory: the run stops when the focus's VmRSS passes max_focus_rss_mib.
  Status checkFocusRss() {
    const Memory m = readMemory(focus_.pid());
    max_rss_seen_kib_ = std::max(max_rss_seen_kib_, m.rss);
    if (o_.max_focus_rss_mib > 0 && m.rss > o_.max_focus_rss_mib * 1024) {
      return fail(Code::ResourceExhausted, "the focus's RSS reached " + std::to_string(m.rss / 1024) +
                                               " MiB (limit --max-focus-rss-mib " +
                                               std::to_string(o_.max_focus_rss_mib) + "); see " + dir_ +
                                               "/focus.log");
    }
    return {};
  }

  Status joinMembers() {
    progress("joining " + std::to_string(members_.size()) + " participants (member events)");
    const std::int64_t expires = std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count() +
                                 3'600'000;
    for (std::size_t i = 0; i < members_.size(); ++i) {
      Member& m = *members_[i];
      if (i != 0) {
        auto j = matrix_.call([&](matrix::Client::Reply cb) { m.client->joinRoom(room_id_, std::move(cb)); });
        if (!j) return fail(Code::Internal, "join " + m.user_id + ": " + j.error().message);
      }
      json::object device{
          {"device_id", m.device_id},
          {"session_id", m.session_id},
          {"expires_ts", expires},
          {"feeds", json::array{json::object{{"purpose", "m.usermedia"}}}},
          {"org.matrix.msc3898.foci.active",
           json::array{json::object{{"user_id", focus_user_}, {"device_id", focus_device_}}}}};
      json::object content{
          {"m.calls", json::array{json::object{{"m.call_id", conf_id_},
                                               {"m.devices", json::array{std::move(device)}}}}}};
      auto s = matrix_.call([&](matrix::Client::Reply cb) {
        m.client->putState(room_id_, kCallMemberType, m.user_id, content, std::move(cb));
      });
      if (!s) return fail(Code::Internal, "member event of " + m.user_id + ": " + s.error().message);
      focus_.pump(0);
    }
    return {};
  }

  // Long-polls /sync for `m` until the focus's answer to its call arrives, then hands it to the media thread.
  void syncForAnswer(std::size_t i) {
    Member& member = *members_[i];
    member.client->sync(member.since, 5'000, [this, i](Result<json::object> r) {
      Member& m = *members_[i];
      if (stopping_) return;
      if (!r) {
        matrix_.loop().setTimer(200, [this, i] { syncForAnswer(i); });
        return;
      }
      auto batch = matrix::parseSyncResponse(*r);
      if (!batch) {
        matrix_.loop().setTimer(200, [this, i] { syncForAnswer(i); });
        return;
      }
      m.since = batch->next_batch;
      for (const auto& msg : batch->to_device) {
        if (jsonString(msg.content, "call_id") != m.call_id) continue;
        if (msg.type == "m.call.answer") {
          auto sig = proto::parseCallSignal(msg.type, msg.content);
          if (!sig || !sig->description) continue;
          std::string sdp = sig->description->sdp;
          asio::post(media_.io(), [this, i, sdp = std::move(sdp)] {
            const asio::ip::udp::endpoint fallback(
                asio::ip::make_address(focus_address_.empty() ? "127.0.0.1" : focus_address_), focus_port_);
            if (auto st = media_.peers()[i]->applyAnswer(sdp, fallback); !st) {
              answer_errors_.push_back(members_[i]->user_id + ": " + st.error().message);
            }
          });
          return;  // done with Matrix for this participant
        }
        if (msg.type == "m.call.hangup" || msg.type == "m.call.reject") {
          asio::post(media_.io(), [this, i, t = msg.type, reason = jsonString(msg.content, "reason")] {
            answer_errors_.push_back(members_[i]->user_id + ": the focus sent " + t + " (" + reason + ")");
          });
          return;
        }
      }
      syncForAnswer(i);
    });
  }

  Status connectAll() {
    progress("connecting " + std::to_string(members_.size()) + " synthetic WebRTC participants");
    for (std::size_t i = 0; i < members_.size(); ++i) {
      identities_.push_back(io::DtlsIdentity::generate("chorus-bench-" + std::to_string(i)));
      if (!identities_.back()) return fail(Code::Internal, "cannot create a DTLS certificate");
      bench::SyntheticTraffic traffic = traffic_;
      traffic.silent = o_.audio_only && static_cast<int>(i) >= o_.speakers;
      media_.peers().push_back(std::make_unique<SyntheticParticipant>(
          media_.io(), *identities_.back(), static_cast<std::uint16_t>(i), members_[i]->role, traffic));
    }
    media_.start();
    // Invites (publishers first) and the /sync loops that wait for the answers.
    for (std::size_t i = 0; i < members_.size(); ++i) {
      Member& m = *members_[i];
      proto::CallSignal sig;
      sig.type = proto::SignalType::Invite;
      sig.call_id = m.call_id;
      sig.party_id = m.device_id;
      sig.version = "1";
      sig.conf_id = conf_id_;
      sig.device_id = m.device_id;
      sig.sender_session_id = m.session_id;
      sig.dest_session_id = "sfu";
      sig.seq = 0;
      sig.lifetime = 60'000;
      sig.description =
          proto::SessionDescription{"offer", media_.run([&] { return media_.peers()[i]->offerSdp(); })};
      auto meta = media_.run([&] { return media_.peers()[i]->metadata(); });
      sig.metadata = std::move(meta);
      json::object messages{{focus_user_, json::object{{focus_device_, proto::serializeCallSignal(sig)}}}};
      auto r = matrix_.call([&](matrix::Client::Reply cb) {
        m.client->sendToDevice("m.call.invite", m.client->newTxnId(), messages, std::move(cb));
      });
      if (!r) return fail(Code::Internal, "invite from " + m.user_id + ": " + r.error().message);
      matrix_.loop().post([this, i] { syncForAnswer(i); });
      focus_.pump(0);
    }
    // Until every data channel is open and every subscriber receives every publisher's audio and video.
    // With audio slots (K > 0) each participant receives min(K, N - 1) streams, not N - 1.
    const std::size_t want_streams =
        o_.audio_only ? streamsPerParticipant() : static_cast<std::size_t>(o_.publishers) * 2;
    const SteadyTime deadline =
        now() + (o_.setup_timeout_s > 0
                     ? std::chrono::milliseconds(static_cast<std::int64_t>(o_.setup_timeout_s * 1000))
                     : std::chrono::milliseconds(1000 * (30 + static_cast<std::int64_t>(members_.size()))));
    SteadyTime last_report = now();
    std::size_t last_streams = 0;
    SteadyTime streams_since = now();
    while (true) {
      focus_.pump(100);
      if (!focus_.running()) return fail(Code::Aborted, "chorus focus exited; see " + dir_ + "/focus.log");
      if (auto st = checkFocusRss(); !st) return st;
      auto states = media_.run([this] {
        std::vector<PeerState> v;
        // With audio slots a participant's streams change SSRC when it moves onto slots: count only those
        // that delivered within three DTX intervals (at least 1 s).
        const std::uint64_t t = bench::steadyNowNs();
        const auto within = static_cast<std::uint64_t>(std::max(1000, 3 * o_.dtx_interval_ms)) * 1'000'000;
        for (auto& p : media_.peers()) {
          v.push_back(
              PeerState{p->iceConnected(), p->dtlsConnected(), p->dataChannelOpen(),
                        o_.audio_slots > 0 ? p->recentInboundStreams(t, within) : p->activeInboundStreams(),
                        p->lastError()});
        }
        return v;
      });
      auto errors = media_.run([this] { return answer_errors_; });
      std::size_t ice = 0, dtls = 0, dc = 0, flowing = 0, streams = 0;
      std::size_t min_streams = SIZE_MAX, max_streams = 0;
      for (std::size_t i = 0; i < states.size(); ++i) {
        ice += states[i].ice;
        dtls += states[i].dtls;
        dc += states[i].dc;
        streams += states[i].inbound;
        min_streams = std::min(min_streams, states[i].inbound);
        max_streams = std::max(max_streams, states[i].inbound);
        // With audio slots exactly min(K, N - 1): more means streams it had before it moved onto its slots
        // still counted (or a focus that does not bound the set).
        const bool all_flow = o_.audio_only && o_.audio_slots > 0 ? states[i].inbound == want_streams
                                                                  : states[i].inbound >= want_streams;
        if (members_[i]->role == SyntheticParticipant::Role::Publisher || all_flow) ++flowing;
      }
      inbound_streams_ = streams;
      min_inbound_streams_ = min_streams;
      max_inbound_streams_ = max_streams;
      const bool done = dc == states.size() && flowing == states.size();
      if (done) break;
      // Audio-only: a focus that takes fewer subscriptions per subscriber than the call has tracks (the
      // router's max_subscriptions_per_subscriber) never lets every stream flow. When every data channel is
      // open, everyone receives something and the count has not grown for 5 s, measure what flows.
      if (streams != last_streams) {
        last_streams = streams;
        streams_since = now();
      } else if (o_.audio_only && dc == states.size() && min_streams > 0 &&
                 secondsBetween(streams_since, now()) >= 5) {
        incomplete_ = std::to_string(streams) + " of " + std::to_string(states.size() * want_streams) +
                      (o_.audio_slots > 0 ? " slot streams flow" : " subscriptions flow") +
                      " (per participant " + std::to_string(min_streams) + ".." +
                      std::to_string(max_streams) + ") and the count has not grown for 5 s";
        progress(incomplete_);
        break;
      }
      if (now() >= deadline || !errors.empty()) {
        std::string why = "ice " + std::to_string(ice) + ", dtls " + std::to_string(dtls) +
                          ", data channel " + std::to_string(dc) + ", flowing " + std::to_string(flowing) +
                          " of " + std::to_string(states.size());
        for (const auto& e : errors) why += "; " + e;
        for (std::size_t i = 0; i < states.size(); ++i) {
          if (!states[i].error.empty()) why += "; " + members_[i]->user_id + ": " + states[i].error;
        }
        if (!errors.empty()) return fail(Code::Aborted, "participants refused: " + why);
        // Measure anyway (partial); the report says so.
        incomplete_ = "not every stream flowed within the setup timeout: " + why;
        progress(incomplete_);
        break;
      }
      if (secondsBetween(last_report, now()) >= 2) {
        last_report = now();
        progress("ice " + std::to_string(ice) + " dtls " + std::to_string(dtls) + " dc " +
                 std::to_string(dc) + " flowing " + std::to_string(flowing) + " / " +
                 std::to_string(states.size()) + ", inbound streams " + std::to_string(streams));
      }
    }
    return {};
  }

  struct Snapshot {
    std::uint64_t rtp_sent{0};
    std::uint64_t rtp_received{0};
    std::uint64_t speakers_rtp_sent{0};  // audio-only: by the first `speakers` participants
  };
  Snapshot snapshot() {
    return media_.run([this] {
      Snapshot s;
      for (std::size_t i = 0; i < media_.peers().size(); ++i) {
        const auto& p = media_.peers()[i];
        s.rtp_sent += p->counters().rtp_sent;
        s.rtp_received += p->counters().rtp_received;
        if (static_cast<int>(i) < o_.speakers) s.speakers_rtp_sent += p->counters().rtp_sent;
      }
      return s;
    });
  }

  // Audio-only: the streams each participant should receive: N - 1, or min(K, N - 1) with K audio slots.
  std::size_t streamsPerParticipant() const {
    const auto others = static_cast<std::size_t>(o_.participants - 1);
    return o_.audio_slots > 0 ? std::min(static_cast<std::size_t>(o_.audio_slots), others) : others;
  }

  // Audio-only with K audio slots: summed over the participants, how many speaker streams and how many silent
  // (DTX) streams they receive. Participant p hears min(K, speakers other than p) speakers (the loudest), and
  // silent participants fill its remaining min(K, N - 1) - that slots.
  struct SlotStreams {
    std::uint64_t speaker{0};
    std::uint64_t silent{0};
  };
  SlotStreams slotStreams() const {
    SlotStreams s;
    const auto slots = static_cast<std::uint64_t>(streamsPerParticipant());
    for (int p = 0; p < o_.participants; ++p) {
      const auto other_speakers = static_cast<std::uint64_t>(o_.speakers - (p < o_.speakers ? 1 : 0));
      const std::uint64_t speaking = std::min(slots, other_speakers);
      s.speaker += speaking;
      s.silent += slots - speaking;
    }
    return s;
  }

  Status measure() {
    // Warm-up: subscriptions settle, keyframes arrive, the first stats lines come.
    const SteadyTime warm = now() + std::chrono::seconds(1);
    while (now() < warm) focus_.pump(50);
    progress("measuring for " + std::to_string(o_.seconds) + " s");
    const auto cpu0 = proc::cpuSeconds(focus_.pid());
    const auto run0 = proc::runSeconds(focus_.pid());
    const double self0 = selfCpuSeconds();
    const Snapshot s0 = snapshot();
    media_.run([this] {
      for (auto& p : media_.peers()) p->setMeasuring(true);
      return 0;
    });
    t0_ = now();
    const SteadyTime end = t0_ + std::chrono::milliseconds(static_cast<std::int64_t>(o_.seconds * 1000));
    while (now() < end) {
      focus_.pump(static_cast<int>(std::max<std::int64_t>(
          1, std::min<std::int64_t>(
                 100, std::chrono::duration_cast<std::chrono::milliseconds>(end - now()).count()))));
      if (!focus_.running())
        return fail(Code::Aborted, "chorus focus exited during the measurement; see " + dir_ + "/focus.log");
      if (auto st = checkFocusRss(); !st) return st;
    }
    media_.run([this] {
      for (auto& p : media_.peers()) p->setMeasuring(false);
      return 0;
    });
    t1_ = now();
    const auto cpu1 = proc::cpuSeconds(focus_.pid());
    const auto run1 = proc::runSeconds(focus_.pid());
    self_cpu_s_ = selfCpuSeconds() - self0;
    rss_kib_ = proc::rssKib(focus_.pid()).value_or(0);
    mem_end_ = readMemory(focus_.pid());
    const Snapshot s1 = snapshot();
    if (!cpu0 || !cpu1) return fail(Code::Internal, "cannot read the focus's CPU time from /proc");
    focus_cpu_ticks_s_ = *cpu1 - *cpu0;
    focus_cpu_s_ = run0 && run1 && *run1 > *run0 ? *run1 - *run0 : focus_cpu_ticks_s_;
    sent_in_window_ = s1.rtp_sent - s0.rtp_sent;
    speakers_sent_in_window_ = s1.speakers_rtp_sent - s0.speakers_rtp_sent;
    media_.run([this] {
      for (auto& p : media_.peers()) {
        const auto& c = p->counters();
        received_ += c.received_in_window;
        expected_ += c.expected;
        keyframe_requests_ += c.keyframe_requests;
        keyframes_sent_ += c.keyframes_sent;
        negotiations_ += c.negotiations;
        streams_in_window_ += p->streamsInWindow();
        if (o_.audio_slots > 0 && p->streamsInWindow() > static_cast<std::size_t>(o_.audio_slots))
          ++over_slots_;
        if (p->audioLevelExtId() != 0) ++audio_level_negotiated_;
        unprotect_failures_ += c.unprotect_failures;
        send_failures_ += c.send_failures;
        pings_ += c.pings;
        auto s = p->takeLatencySamples();
        latency_.insert(latency_.end(), s.begin(), s.end());
        profile_ = p->srtpProfile();
      }
      return 0;
    });
    // One more stats line after the window, so the focus's own count brackets it.
    const SteadyTime settle = now() + std::chrono::milliseconds(1100);
    while (now() < settle) focus_.pump(50);
    return {};
  }

  void shutdown() {
    media_.stop();
    stopping_ = true;
    focus_.stop(SIGTERM, 5000);
    if (const auto* s = focus_.lastEvent("summary")) focus_summary_ = *s->object;
    hs_.stop(SIGTERM, 5000);
    matrix_.stop();
  }

  // One floor run before the focus starts and more after it stopped; the median of the runs with the profile
  // the focus negotiated (GCM in practice). Measuring on both sides of the focus's window makes a load change
  // on this shared machine show in the spread and move the figure less.
  Status floorRun() {
    bench::FloorOptions f;
    f.fanout = o_.subscribers;
    f.traffic = traffic_;
    f.profile = profile_;
    f.input_packets =
        static_cast<std::size_t>(std::clamp(200'000 / std::max(1, o_.subscribers), 5'000, 50'000));
    auto r = bench::measureForwardingFloor(f);
    if (!r) return fail(r.error());
    floor_runs_.emplace_back(profile_, *r);
    return {};
  }

  // The same input rate as the focus's window (P publishers' packets per second), for about 3 s: the
  // forwarding thread sleeps between packets like the lightly loaded focus does.
  Result<bench::FloorResult> pacedFloor() {
    bench::FloorOptions f;
    f.fanout = o_.subscribers;
    f.traffic = traffic_;
    f.profile = profile_;
    f.pace_pps = static_cast<double>(o_.publishers) * (o_.audio_pps + o_.video_pps);
    f.input_packets = static_cast<std::size_t>(std::clamp(f.pace_pps * 3, 200.0, 50'000.0));
    return bench::measureForwardingFloor(f);
  }

  // The floor with the system calls batched as the focus batches them (recvmmsg, sendmmsg): three runs after
  // the focus stopped, the median.
  Result<bench::FloorResult> batchedFloorMedian() {
    std::vector<bench::FloorResult> runs;
    for (int i = 0; i < 3; ++i) {
      bench::FloorOptions f;
      f.fanout = o_.subscribers;
      f.traffic = traffic_;
      f.profile = profile_;
      f.batched = true;
      f.input_packets =
          static_cast<std::size_t>(std::clamp(200'000 / std::max(1, o_.subscribers), 5'000, 50'000));
      auto r = bench::measureForwardingFloor(f);
      if (!r) return fail(r.error());
      runs.push_back(*r);
    }
    std::sort(runs.begin(), runs.end(),
              [](const auto& a, const auto& b) { return a.out_per_cpu_s < b.out_per_cpu_s; });
    batched_runs_.clear();
    for (const auto& r : runs) batched_runs_.push_back(r.out_per_cpu_s);
    return runs[runs.size() / 2];
  }

  Result<bench::FloorResult> floorMedian() {
    std::vector<bench::FloorResult> runs;
    while (true) {
      runs.clear();
      for (const auto& [p, r] : floor_runs_) {
        if (p == profile_) runs.push_back(r);
      }
      if (runs.size() >= 3) break;
      if (auto st = floorRun(); !st) return fail(st.error());
    }
    std::sort(runs.begin(), runs.end(),
              [](const auto& a, const auto& b) { return a.out_per_cpu_s < b.out_per_cpu_s; });
    return runs[runs.size() / 2];
  }

  json::object report(const bench::FloorResult& floor, const bench::FloorResult& paced,
                      const bench::FloorResult& batched, double setup_s) {
    const double window = secondsBetween(t0_, t1_);
    const std::size_t n = members_.size();
    const double forwarded_pps = static_cast<double>(received_) / window;
    const double per_cpu = focus_cpu_s_ > 0 ? static_cast<double>(received_) / focus_cpu_s_ : 0;
    const double ratio = floor.out_per_cpu_s > 0 ? per_cpu / floor.out_per_cpu_s : 0;
    const double per_pub_pps = static_cast<double>(o_.audio_pps + o_.video_pps);
    json::object o;
    o["publishers"] = o_.publishers;
    o["subscribers"] = o_.subscribers;
    o["audio_pps"] = o_.audio_pps;
    o["video_pps"] = o_.video_pps;
    o["payload_bytes"] = o_.payload_bytes;
    o["audio_payload_bytes"] = o_.audio_payload_bytes;
    o["srtp_profile"] = std::string(media::srtpProfileName(profile_));
    o["setup_s"] = round2(setup_s);
    o["window_s"] = round2(window);
    o["published_packets"] = sent_in_window_;
    o["expected_forwarded_pps"] = per_pub_pps * o_.publishers * o_.subscribers;
    o["forwarded_packets"] = received_;
    o["forwarded_pps"] = round2(forwarded_pps);
    // The focus's own count over (about) the same window, from its 1 s stats lines.
    const auto* a = focus_.lastEvent("stats", t0_);
    const auto* b = focus_.lastEvent("stats", t1_);
    if (a && b && b->at > a->at) {
      const std::uint64_t fa = jsonUint(*a->object, "forwarded_packets"),
                          fb = jsonUint(*b->object, "forwarded_packets");
      o["focus_reported_forwarded_pps"] = round2(static_cast<double>(fb - fa) / secondsBetween(a->at, b->at));
      // How the focus sent: datagrams per send call, and the share that left inside UDP GSO messages.
      const auto delta = [&](std::string_view key) {
        return static_cast<double>(jsonUint(*b->object, key) - jsonUint(*a->object, key));
      };
      if (delta("udp_tx_calls") > 0)
        o["focus_datagrams_per_send_call"] = round2(delta("udp_tx") / delta("udp_tx_calls"));
      if (delta("udp_tx") > 0) o["focus_gso_share"] = round2(delta("udp_tx_gso") / delta("udp_tx"));
    }
    o["udp_gso"] = o_.udp_gso;
    if (const auto* last = focus_.lastEvent("stats")) {
      o["focus_forwarded_packets_total"] = jsonUint(*last->object, "forwarded_packets");
      o["focus_udp_drops"] = jsonUint(*last->object, "udp_drops");
      o["focus_keyframe_requests"] = jsonUint(*last->object, "keyframe_requests");
    }
    o["focus_cpu_s"] = round2(focus_cpu_s_ * 1000) / 1000;
    o["focus_cpu_s_utime_stime"] = round2(focus_cpu_ticks_s_ * 1000) / 1000;
    o["focus_cpu_percent"] = round2(100 * focus_cpu_s_ / window);
    o["forwarded_per_cpu_s"] = static_cast<std::int64_t>(per_cpu);
    o["focus_cpu_us_per_forwarded"] =
        received_ > 0 ? round2(focus_cpu_s_ * 1e6 / static_cast<double>(received_)) : 0.0;
    json::object lat;
    lat["samples"] = latency_.size();
    lat["p50"] = percentile(latency_, 0.50);
    lat["p90"] = percentile(latency_, 0.90);
    lat["p99"] = percentile(latency_, 0.99);
    lat["max"] = latency_.empty() ? 0 : *std::max_element(latency_.begin(), latency_.end());
    o["latency_us"] = std::move(lat);
    // End to end: every subscriber takes every published packet, so S x published is what should arrive (the
    // edges of the window cancel out to within the packets in flight). The seq-gap figure only sees what is
    // lost after the focus (it numbers what it forwards without gaps).
    const std::uint64_t should_arrive = sent_in_window_ * static_cast<std::uint64_t>(o_.subscribers);
    const auto lossPercent = [](std::uint64_t want, std::uint64_t got) {
      return want > 0
                 ? round2(100.0 * static_cast<double>(want - std::min(want, got)) / static_cast<double>(want))
                 : 0.0;
    };
    o["loss_percent"] = lossPercent(should_arrive, received_);
    o["loss_after_focus_percent"] = lossPercent(expected_, received_);
    o["focus_rss_idle_kib"] = rss_idle_kib_;
    o["focus_rss_kib"] = rss_kib_;
    o["focus_rss_kib_per_participant"] = static_cast<std::int64_t>(rss_kib_ / static_cast<std::int64_t>(n));
    o["focus_rss_added_kib_per_participant"] =
        static_cast<std::int64_t>((rss_kib_ - rss_idle_kib_) / static_cast<std::int64_t>(n));
    o["generator_cpu_s"] = round2(self_cpu_s_);
    o["keyframe_requests_at_publishers"] = keyframe_requests_;
    o["keyframes_sent"] = keyframes_sent_;
    o["negotiations_answered"] = negotiations_;
    o["pings_answered"] = pings_;
    o["generator_unprotect_failures"] = unprotect_failures_;
    o["generator_send_failures"] = send_failures_;
    json::object fl;
    fl["fanout"] = o_.subscribers;
    fl["packets_in"] = floor.packets_in;
    fl["packets_out"] = floor.packets_out;
    fl["cpu_s"] = round2(floor.cpu_s * 1000) / 1000;
    fl["out_per_cpu_s"] = static_cast<std::int64_t>(floor.out_per_cpu_s);
    fl["cpu_us_per_out"] = round2(floor.cpu_us_per_out);
    json::array runs;  // in order: before the focus ran, then after
    for (const auto& [p, x] : floor_runs_) {
      if (p == profile_) runs.push_back(static_cast<std::int64_t>(x.out_per_cpu_s));
    }
    fl["runs_out_per_cpu_s"] = std::move(runs);
    o["floor"] = std::move(fl);
    o["ratio"] = round2(ratio * 1000) / 1000;
    json::object fp;
    fp["pace_input_pps"] =
        static_cast<std::int64_t>(static_cast<double>(o_.publishers) * (o_.audio_pps + o_.video_pps));
    fp["packets_in"] = paced.packets_in;
    fp["packets_out"] = paced.packets_out;
    fp["cpu_s"] = round2(paced.cpu_s * 1000) / 1000;
    fp["out_per_cpu_s"] = static_cast<std::int64_t>(paced.out_per_cpu_s);
    fp["cpu_us_per_out"] = round2(paced.cpu_us_per_out);
    o["floor_paced"] = std::move(fp);
    o["ratio_paced"] = paced.out_per_cpu_s > 0 ? round2(per_cpu / paced.out_per_cpu_s * 1000) / 1000 : 0.0;
    json::object fb;
    fb["packets_in"] = batched.packets_in;
    fb["packets_out"] = batched.packets_out;
    fb["cpu_s"] = round2(batched.cpu_s * 1000) / 1000;
    fb["out_per_cpu_s"] = static_cast<std::int64_t>(batched.out_per_cpu_s);
    fb["cpu_us_per_out"] = round2(batched.cpu_us_per_out);
    json::array bruns;  // sorted
    for (const double x : batched_runs_) bruns.push_back(static_cast<std::int64_t>(x));
    fb["runs_out_per_cpu_s"] = std::move(bruns);
    o["floor_batched"] = std::move(fb);
    o["ratio_batched"] =
        batched.out_per_cpu_s > 0 ? round2(per_cpu / batched.out_per_cpu_s * 1000) / 1000 : 0.0;
    o["load_average_1m"] = json::array{load_start_, load_end_};
    o["aim"] =
        "forwarded_per_cpu_s >= 250000 and ratio >= 1.0 (the unbatched floor; issue #11); figures, not "
        "pass/fail";
    o["aim_per_cpu_s_met"] = per_cpu >= 250'000;
    o["aim_ratio_met"] = ratio >= 1.0;
    if (!incomplete_.empty()) o["incomplete"] = incomplete_;
    if (!focus_summary_.empty()) {
      json::object s;
      for (const char* k : {"peers", "udp_rx", "udp_tx", "udp_drops", "forwarded_packets",
                            "keyframe_requests", "nacks_answered", "offers_sent", "invites_accepted"}) {
        if (const auto* v = focus_summary_.if_contains(k)) s[k] = *v;
      }
      o["focus_summary"] = std::move(s);
    }
    if (o_.keep_temp) o["temp_dir"] = dir_;
    return o;
  }

  // Audio-only mode: every published packet should reach the other N - 1 participants (with K audio slots:
  // each participant's min(K, N - 1) streams, see slotStreams()).
  json::object reportAudioOnly(double setup_s) {
    const double window = secondsBetween(t0_, t1_);
    const auto n = static_cast<std::int64_t>(members_.size());
    const int silent = o_.participants - o_.speakers;
    const double dtx_pps = 1000.0 / o_.dtx_interval_ms;
    const double in_pps = o_.speakers * static_cast<double>(o_.audio_pps) + silent * dtx_pps;
    const bool slots = o_.audio_slots > 0;
    const SlotStreams slot_streams = slotStreams();
    json::object o;
    o["mode"] = "audio-only";
    o["participants"] = o_.participants;
    o["speakers"] = o_.speakers;
    o["audio_slots"] = o_.audio_slots;
    o["subscriptions"] = n * (n - 1);
    o["subscriptions_flowing"] = inbound_streams_;
    // What should flow: N x (N - 1), or N x min(K, N - 1) with audio slots.
    o["streams_expected"] = static_cast<std::uint64_t>(n) * streamsPerParticipant();
    o["streams_in_window"] = streams_in_window_;
    o["audio_level_negotiated"] = audio_level_negotiated_;
    if (slots) o["participants_over_slots"] = over_slots_;
    o["streams_per_participant_min"] = min_inbound_streams_;
    o["streams_per_participant_max"] = max_inbound_streams_;
    o["audio_pps"] = o_.audio_pps;
    o["audio_payload_bytes"] = o_.audio_payload_bytes;
    o["dtx_interval_ms"] = o_.dtx_interval_ms;
    o["srtp_profile"] = std::string(media::srtpProfileName(profile_));
    o["setup_s"] = round2(setup_s);
    o["window_s"] = round2(window);
    o["published_packets"] = sent_in_window_;
    o["expected_published_pps"] = round2(in_pps);
    // Without slots every published packet goes to N - 1 participants; with K slots each participant takes
    // its speaker streams at the audio rate and its silent ones at the DTX rate.
    o["expected_forwarded_pps"] = slots ? round2(static_cast<double>(slot_streams.speaker) * o_.audio_pps +
                                                 static_cast<double>(slot_streams.silent) * dtx_pps)
                                        : round2(in_pps * static_cast<double>(n - 1));
    o["forwarded_packets"] = received_;
    o["forwarded_pps"] = round2(static_cast<double>(received_) / window);
    const auto* a = focus_.lastEvent("stats", t0_);
    const auto* b = focus_.lastEvent("stats", t1_);
    if (a && b && b->at > a->at) {
      const double dt = secondsBetween(a->at, b->at);
      const auto rate = [&](std::string_view key) {
        return round2(static_cast<double>(jsonUint(*b->object, key) - jsonUint(*a->object, key)) / dt);
      };
      o["focus_reported_forwarded_pps"] = rate("forwarded_packets");
      o["focus_udp_rx_pps"] = rate("udp_rx");
      o["focus_udp_drops_per_s"] = rate("udp_drops");
    }
    if (const auto* last = focus_.lastEvent("stats")) {
      o["focus_peers"] = jsonUint(*last->object, "peers");
      o["focus_forwarded_packets_total"] = jsonUint(*last->object, "forwarded_packets");
      o["focus_udp_drops"] = jsonUint(*last->object, "udp_drops");
      o["focus_offers_sent"] = jsonUint(*last->object, "offers_sent");
      o["focus_offers_refused"] = jsonUint(*last->object, "offers_refused");
      o["focus_metadata_messages"] = jsonUint(*last->object, "metadata_messages");
      o["focus_metadata_bytes"] = jsonUint(*last->object, "metadata_bytes");
      o["focus_answers_without_metadata"] = jsonUint(*last->object, "answers_without_metadata");
      o["focus_not_negotiated_drops"] = jsonUint(*last->object, "not_negotiated_drops");
    }
    o["focus_cpu_s"] = round2(focus_cpu_s_ * 1000) / 1000;
    o["focus_cpu_percent"] = round2(100 * focus_cpu_s_ / window);
    const double per_cpu = focus_cpu_s_ > 0 ? static_cast<double>(received_) / focus_cpu_s_ : 0;
    o["forwarded_per_cpu_s"] = static_cast<std::int64_t>(per_cpu);
    o["focus_cpu_us_per_forwarded"] =
        received_ > 0 ? round2(focus_cpu_s_ * 1e6 / static_cast<double>(received_)) : 0.0;
    json::object lat;
    lat["samples"] = latency_.size();
    lat["streams_sampled_per_participant"] = kAudioOnlyUnprotectedSsrcs;
    lat["p50"] = percentile(latency_, 0.50);
    lat["p90"] = percentile(latency_, 0.90);
    lat["p99"] = percentile(latency_, 0.99);
    lat["max"] = latency_.empty() ? 0 : *std::max_element(latency_.begin(), latency_.end());
    o["latency_us"] = std::move(lat);
    std::uint64_t should_arrive = sent_in_window_ * static_cast<std::uint64_t>(n - 1);
    if (slots) {
      // Each speaker stream (silent stream) received carries what one speaker (silent participant) sent.
      const double per_speaker =
          o_.speakers > 0 ? static_cast<double>(speakers_sent_in_window_) / o_.speakers : 0.0;
      const double per_silent =
          silent > 0 ? static_cast<double>(sent_in_window_ - speakers_sent_in_window_) / silent : 0.0;
      should_arrive =
          static_cast<std::uint64_t>(std::llround(per_speaker * static_cast<double>(slot_streams.speaker) +
                                                  per_silent * static_cast<double>(slot_streams.silent)));
    }
    const auto lossPercent = [](std::uint64_t want, std::uint64_t got) {
      return want > 0
                 ? round2(100.0 * static_cast<double>(want - std::min(want, got)) / static_cast<double>(want))
                 : 0.0;
    };
    o["loss_percent"] = lossPercent(should_arrive, received_);
    o["loss_after_focus_percent"] = lossPercent(expected_, received_);
    o["focus_rss_idle_kib"] = mem_idle_.rss;
    o["focus_rss_flowing_kib"] = rss_flowing_.rss;
    o["focus_rss_kib"] = mem_end_.rss;
    o["focus_rss_max_sampled_kib"] = max_rss_seen_kib_;
    // The figure: (full - idle) / N, with "full" the larger of the two loaded samples.
    const std::int64_t full = std::max(rss_flowing_.rss, mem_end_.rss);
    o["focus_rss_kib_per_participant"] =
        round2(static_cast<double>(full - mem_idle_.rss) / static_cast<double>(n));
    o["focus_rss_anon_kib_per_participant"] =
        round2(static_cast<double>(std::max(rss_flowing_.anon, mem_end_.anon) - mem_idle_.anon) /
               static_cast<double>(n));
    // Per stream that flows: the SSRCs delivering when the window opened, or with slots (a slot may carry
    // different publishers over time) those that delivered during the window.
    const std::size_t flowing = slots ? streams_in_window_ : inbound_streams_;
    o["focus_rss_bytes_per_subscription"] =
        flowing > 0 ? static_cast<std::int64_t>(static_cast<double>(full - mem_idle_.rss) * 1024 /
                                                static_cast<double>(flowing))
                    : 0;
    o["aim_rss_kib_per_participant"] = 256;
    o["aim_rss_met"] = full - mem_idle_.rss <= 256 * n;
    o["focus_memory"] = json::object{{"idle", memoryJson(mem_idle_)},
                                     {"flowing", memoryJson(rss_flowing_)},
                                     {"end", memoryJson(mem_end_)}};
    o["generator_cpu_s"] = round2(self_cpu_s_);
    o["negotiations_answered"] = negotiations_;
    o["pings_answered"] = pings_;
    o["generator_unprotect_failures"] = unprotect_failures_;
    o["generator_send_failures"] = send_failures_;
    o["load_average_1m"] = json::array{load_start_, load_end_};
    if (!incomplete_.empty()) o["incomplete"] = incomplete_;
    if (!focus_summary_.empty()) {
      json::object s;
      for (const char* k : {"peers", "udp_rx", "udp_tx", "udp_drops", "forwarded_packets", "offers_sent",
                            "invites_accepted", "rejected_full"}) {
        if (const auto* v = focus_summary_.if_contains(k)) s[k] = *v;
      }
      o["focus_summary"] = std::move(s);
    }
    if (o_.keep_temp) o["temp_dir"] = dir_;
    return o;
  }

  const FocusBenchOptions& o_;
  std::string binary_;
  std::string dir_;
  // `chorus hs` and `chorus focus`; the focus prints a stats line per interval, kept for the whole run.
  proc::Child hs_{proc::Child::Options{.max_lines = 100'000}};
  proc::Child focus_{proc::Child::Options{.max_lines = 100'000}};
  std::string url_;
  std::string focus_user_;
  std::string focus_device_;
  std::string focus_address_;
  std::uint16_t focus_port_{0};
  std::string room_id_;
  std::string conf_id_;
  std::vector<io::DtlsIdentityPtr> identities_;  // outlive the participants (destroyed after media_.stop())
  MatrixThread matrix_;
  std::vector<std::unique_ptr<Member>> members_;
  MediaThread media_;
  std::vector<std::string> answer_errors_;  // media thread
  std::atomic<bool> stopping_{false};       // read on the Matrix thread
  bench::SyntheticTraffic traffic_;
  media::SrtpProfile profile_{media::SrtpProfile::AeadAes128Gcm};
  std::string incomplete_;
  SteadyTime t0_, t1_;
  double load_start_{0};
  double load_end_{0};
  double focus_cpu_s_{0};        // schedstat (ns resolution), else utime+stime
  double focus_cpu_ticks_s_{0};  // utime+stime from /proc/<pid>/stat
  double self_cpu_s_{0};
  std::int64_t rss_idle_kib_{0};
  std::int64_t rss_kib_{0};
  std::size_t inbound_streams_{0};  // subscriptions that delivered a packet when the window opened
  std::size_t min_inbound_streams_{0};
  std::size_t max_inbound_streams_{0};
  std::int64_t max_rss_seen_kib_{0};  // the largest VmRSS sampled during setup and the window
  Memory mem_idle_;                   // the focus before any participant joined
  Memory rss_flowing_;                // when every stream flows (before the warm-up)
  Memory mem_end_;                    // at the end of the window
  std::uint64_t sent_in_window_{0};
  std::uint64_t speakers_sent_in_window_{0};  // audio-only: by the speakers
  std::size_t streams_in_window_{0};          // incoming SSRCs that delivered in the window, summed
  std::size_t over_slots_{0};  // audio slots: participants that received more than K SSRCs in the window
  std::size_t audio_level_negotiated_{0};  // participants whose answer kept the audio level extension
  std::uint64_t received_{0};
  std::uint64_t expected_{0};
  std::uint64_t keyframe_requests_{0};
  std::uint64_t keyframes_sent_{0};
  std::uint64_t negotiations_{0};
  std::uint64_t unprotect_failures_{0};
  std::uint64_t send_failures_{0};
  std::uint64_t pings_{0};
  std::vector<std::uint32_t> latency_;
  std::vector<std::pair<media::SrtpProfile, bench::FloorResult>> floor_runs_;
  std::vector<double> batched_runs_;  // batched floor runs, out per CPU-second, sorted
  json::object focus_summary_;
};

}  // namespace

Result<json::object> runFocusLoadBench(const FocusBenchOptions& options) {
  signal(SIGPIPE, SIG_IGN);
  Bench b(options);
  return b.run();
}

}  // namespace chorus::focus
