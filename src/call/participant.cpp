#include "call/participant.hpp"

#include <malloc.h>

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "base/log.hpp"
#include "call/endpoint_backend.hpp"
#include "crypto/olm_machine.hpp"
#include "endpoint/media_engine.hpp"
#include "matrix/client.hpp"
#include "matrix/event_loop.hpp"
#include "session/call_session.hpp"

namespace chorus::call {

namespace json = boost::json;

namespace {

std::atomic<int> g_signal{0};
constexpr TimeMs kNotConnectedReportMs = 10'000;  // after the offer/answer exchange
constexpr std::size_t kMaxDiagCandidates = 32;
void onSignal(int sig) {
  g_signal.store(sig);
}

struct PeerTotals {
  std::uint64_t packets_sent{0}, bytes_sent{0}, packets_received{0}, bytes_received{0};
  std::uint64_t audio_frames_decoded{0}, video_frames_decoded{0};
  std::uint64_t h264_frames_decoded{0};  // of video_frames_decoded
  void add(const endpoint::LegStats& s) {
    packets_sent += s.packets_sent;
    bytes_sent += s.bytes_sent;
    packets_received += s.packets_received;
    bytes_received += s.bytes_received;
    audio_frames_decoded += s.audio_frames_decoded;
    video_frames_decoded += s.video_frames_decoded;
    for (const auto& [sid, r] : s.remote_streams) h264_frames_decoded += r.h264_frames_decoded;
  }
  void add(const PeerTotals& o) {
    packets_sent += o.packets_sent;
    bytes_sent += o.bytes_sent;
    packets_received += o.packets_received;
    bytes_received += o.bytes_received;
    audio_frames_decoded += o.audio_frames_decoded;
    video_frames_decoded += o.video_frames_decoded;
    h264_frames_decoded += o.h264_frames_decoded;
  }
};

using PeerKey = std::pair<std::string, std::string>;  // (user_id, device_id)

struct LegView {
  std::string user_id;
  std::string device_id;
  std::string call_id;
  core::LegState state{core::LegState::CreatingOffer};
  bool focus{false};
  proto::SdpStreamMetadata metadata;
  endpoint::LegStats stats;
  // Diagnostics of a leg that does not connect (reported once, kNotConnectedReportMs after it started
  // connecting): the candidates on both sides, bounded.
  TimeMs connecting_since{0};
  bool reported{false};
  bool connected_once{false};
  std::vector<std::string> local_candidates;
  std::vector<std::string> remote_candidates;

  // The remote participants this leg carries, with what arrived from each. A mesh leg carries its peer. The
  // focus leg carries everyone whose streams the focus forwards (attributed by the user_id/device_id of each
  // stream's metadata); what we send to the focus counts as sent to each of them.
  std::map<PeerKey, PeerTotals> peers() const {
    std::map<PeerKey, PeerTotals> out;
    if (!focus) {
      out[{user_id, device_id}].add(stats);
      return out;
    }
    for (const auto& [sid, md] : metadata) {
      if (md.user_id && md.device_id) out[{*md.user_id, *md.device_id}];
    }
    for (const auto& [sid, s] : stats.remote_streams) {
      auto md = metadata.find(sid);
      if (md == metadata.end() || !md->second.user_id || !md->second.device_id) continue;
      PeerTotals& t = out[{*md->second.user_id, *md->second.device_id}];
      t.packets_received += s.packets_received;
      t.bytes_received += s.bytes_received;
      t.audio_frames_decoded += s.audio_frames_decoded;
      t.video_frames_decoded += s.video_frames_decoded;
      t.h264_frames_decoded += s.h264_frames_decoded;
    }
    for (auto& [key, t] : out) {
      t.packets_sent = stats.packets_sent;
      t.bytes_sent = stats.bytes_sent;
    }
    return out;
  }
  // Mute state of a peer's usermedia stream as its metadata says.
  std::pair<bool, bool> muted(const PeerKey& peer) const {
    for (const auto& [sid, md] : metadata) {
      if (md.purpose != proto::kPurposeUserMedia) continue;
      if (focus && (md.user_id != peer.first || md.device_id != peer.second)) continue;
      return {md.audio_muted, md.video_muted};
    }
    return {false, false};
  }
};

class Participant {
 public:
  explicit Participant(const ParticipantOptions& opt) : opt_(opt), client_(loop_, opt.homeserver) {}

  int run();

 private:
  void emit(json::object line);
  void onNotify(const core::Action& a);
  void startSession();
  void pumpMedia();
  void pollStats();
  // Stats of the live legs within `budget` in total (engine calls block the Matrix loop, which also restarts
  // the MSC4140 delayed leave); legs not reached are polled first next time.
  void refreshStats(std::chrono::milliseconds budget);
  void checkConnecting();
  void reportNotConnected(core::LegId id, LegView& v, const std::string& ended_by = {});
  void render();
  void stop(const std::string& why, bool terminate = false);
  void applyCommand(const std::string& cmd);
  void setFeeds();
  json::array peersJson(bool final_totals);
  json::value focusJson() const;
  std::vector<core::LocalFeed> localFeeds() const;

  ParticipantOptions opt_;
  matrix::EventLoop loop_;
  matrix::Client client_;
  std::unique_ptr<endpoint::MediaEngine> engine_;
  std::unique_ptr<EndpointBackend> backend_;
  std::unique_ptr<session::CallSession> session_;
  std::map<core::LegId, LegView> legs_;
  core::LegId stats_cursor_{0};  // refreshStats resumes after this leg
  std::map<PeerKey, PeerTotals>
      closed_totals_;  // stats of legs that ended (at most kMaxClosedPeerTotals + 1)
  static constexpr std::size_t kMaxClosedPeerTotals = 1024;
  std::vector<core::Participant> participants_;
  std::vector<std::string> warnings_;
  bool stopping_{false};
  int exit_code_{0};
  bool muted_audio_{false};
  bool muted_video_{false};
  bool screenshare_{false};
  std::atomic<bool> media_thread_run_{true};
  std::thread media_thread_;
  std::thread stdin_thread_;
};

void Participant::emit(json::object line) {
  if (!opt_.json) return;
  line["ts"] = SystemClock().nowMs();
  std::string s = json::serialize(line);
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

json::object metadataJson(const proto::SdpStreamMetadata& md) {
  json::object feeds;
  for (const auto& [id, m] : md) {
    json::object f{{"purpose", m.purpose}, {"audio_muted", m.audio_muted}, {"video_muted", m.video_muted}};
    if (m.user_id) f["user_id"] = *m.user_id;
    if (m.device_id) f["device_id"] = *m.device_id;
    if (!m.tracks.empty()) {
      json::object tracks;
      for (const auto& [tid, t] : m.tracks)
        tracks[tid] = t.kind ? json::value(*t.kind) : json::value(nullptr);
      f["tracks"] = std::move(tracks);
    }
    feeds[id] = std::move(f);
  }
  return feeds;
}

void Participant::onNotify(const core::Action& a) {
  if (const auto* p = std::get_if<core::act::ParticipantsChanged>(&a)) {
    participants_ = p->participants;
    json::array arr;
    for (const auto& x : participants_) {
      arr.push_back(
          json::object{{"user_id", x.user_id}, {"device_id", x.device_id}, {"session_id", x.session_id}});
    }
    emit({{"event", "participants"}, {"participants", arr}});
  } else if (const auto* l = std::get_if<core::act::LegChanged>(&a)) {
    auto& v = legs_[l->leg];
    v.user_id = l->user_id;
    v.device_id = l->device_id;
    v.call_id = l->call_id;
    if (l->state == core::LegState::Connecting && v.state != core::LegState::Connecting) {
      v.connecting_since = SystemClock().nowMs();
    }
    if (l->state == core::LegState::Connected) v.connected_once = true;
    if (l->state == core::LegState::Connected && v.reported) {
      CHORUS_LOG(Warn, "call", "leg to " << l->user_id << "/" << l->device_id << " connected after all");
    }
    v.state = l->state;
    v.focus = l->focus;
    emit({{"event", "leg"},
          {"user_id", l->user_id},
          {"device_id", l->device_id},
          {"call_id", l->call_id},
          {"state", std::string(core::toString(l->state))},
          {"reason", l->reason},
          {"focus", l->focus}});
    if (l->state == core::LegState::Ended) {
      // A leg that gave up before it ever connected (ICE failed, timed out) is reported like a stuck one.
      if (v.connecting_since != 0 && !v.reported && !v.connected_once) {
        v.reported = true;
        reportNotConnected(l->leg, v, l->reason);
      }
      for (const auto& [key, t] : v.peers()) {
        // Bounded: a long-lived participant meets ever new devices. Past the bound, ended legs of peers not
        // yet listed count under user and device "*" in the summary.
        const bool listed = closed_totals_.count(key) != 0;
        closed_totals_[listed || closed_totals_.size() < kMaxClosedPeerTotals ? key : PeerKey{"*", "*"}].add(
            t);
      }
      legs_.erase(l->leg);
    }
  } else if (const auto* r = std::get_if<core::act::RemoteFeedsChanged>(&a)) {
    auto it = legs_.find(r->leg);
    if (it == legs_.end()) return;
    it->second.metadata = r->metadata;
    emit({{"event", "remote_feeds"},
          {"user_id", it->second.user_id},
          {"device_id", it->second.device_id},
          {"focus", r->focus},
          {"feeds", metadataJson(r->metadata)}});
  } else if (const auto* c = std::get_if<core::act::CallChanged>(&a)) {
    emit({{"event", "call"},
          {"call_id", c->call_id ? json::value(*c->call_id) : json::value(nullptr)},
          {"entered", c->entered}});
  } else if (const auto* w = std::get_if<core::act::Warning>(&a)) {
    warnings_.push_back(w->message);
    if (warnings_.size() > 5) warnings_.erase(warnings_.begin());
    emit({{"event", "warning"}, {"message", w->message}});
    if (!opt_.json) std::fprintf(stderr, "warning: %s\n", w->message.c_str());
  }
}

std::vector<core::LocalFeed> Participant::localFeeds() const {
  // Both video feeds are encoded at --width x --height (docs/endpoint.md).
  std::vector<core::LocalFeed> feeds{core::LocalFeed{
      engine_->localStreamId(endpoint::StreamPurpose::UserMedia), std::string(proto::kPurposeUserMedia),
      muted_audio_, muted_video_, opt_.width, opt_.height}};
  if (screenshare_) {
    feeds.push_back(core::LocalFeed{engine_->localStreamId(endpoint::StreamPurpose::ScreenShare),
                                    std::string(proto::kPurposeScreenshare), true, false, opt_.width,
                                    opt_.height});
  }
  return feeds;
}

void Participant::setFeeds() {
  if (session_) session_->input(core::in::SetFeeds{localFeeds()});
}

void Participant::applyCommand(const std::string& cmd) {
  if (cmd == "mute-audio" || cmd == "unmute-audio") {
    muted_audio_ = cmd == "mute-audio";
  } else if (cmd == "mute-video" || cmd == "unmute-video") {
    muted_video_ = cmd == "mute-video";
  } else if (cmd == "screenshare-on" || cmd == "screenshare-off") {
    screenshare_ = cmd == "screenshare-on";
    engine_->setScreenshare(screenshare_);
  } else if (cmd == "leave" || cmd == "quit") {
    stop("leave command");
    return;
  } else if (cmd == "terminate") {
    stop("terminate command", true);
    return;
  } else {
    if (!cmd.empty()) std::fprintf(stderr, "unknown command: %s\n", cmd.c_str());
    return;
  }
  engine_->setMuted(muted_audio_, muted_video_);
  setFeeds();
  emit({{"event", "local"},
        {"audio_muted", muted_audio_},
        {"video_muted", muted_video_},
        {"screenshare", screenshare_}});
}

json::array Participant::peersJson(bool final_totals) {
  std::map<PeerKey, PeerTotals> totals;
  if (final_totals) totals = closed_totals_;
  std::map<PeerKey, const LegView*> live;
  for (const auto& [id, v] : legs_) {
    for (const auto& [key, t] : v.peers()) {
      totals[key].add(t);
      live[key] = &v;
    }
  }
  json::array peers;
  for (const auto& [key, t] : totals) {
    json::object p{{"user_id", key.first},
                   {"device_id", key.second},
                   {"audio_frames_decoded", t.audio_frames_decoded},
                   {"video_frames_decoded", t.video_frames_decoded},
                   {"h264_frames_decoded", t.h264_frames_decoded},
                   {"packets_received", t.packets_received},
                   {"bytes_received", t.bytes_received},
                   {"packets_sent", t.packets_sent},
                   {"bytes_sent", t.bytes_sent}};
    auto it = live.find(key);
    if (it != live.end()) {
      const LegView& v = *it->second;
      p["state"] = std::string(core::toString(v.state));
      p["call_id"] = v.call_id;  // through a focus: the call to the focus
      if (v.stats.rtt_ms) p["rtt_ms"] = *v.stats.rtt_ms;
      if (v.stats.jitter_ms) p["jitter_ms"] = *v.stats.jitter_ms;
      // transport-cc feedback for what we send on this leg (through a focus: what the focus received).
      if (v.stats.twcc_bitrate_recv_bps) p["twcc_recv_bps"] = *v.stats.twcc_bitrate_recv_bps;
      if (v.stats.twcc_loss_pct) p["twcc_loss_pct"] = *v.stats.twcc_loss_pct;
      auto [audio_muted, video_muted] = v.muted(key);
      p["audio_muted"] = audio_muted;
      p["video_muted"] = video_muted;
      p["via"] = v.focus ? "focus" : "mesh";
    } else {
      p["state"] = "ended";
    }
    peers.push_back(std::move(p));
  }
  return peers;
}

json::value Participant::focusJson() const {
  const auto* call = session_ ? session_->call() : nullptr;
  if (!call || !call->focus()) return nullptr;
  json::object f{{"user_id", call->focus()->user_id}, {"device_id", call->focus()->device_id}};
  for (const auto& [id, v] : legs_) {
    if (!v.focus) continue;
    f["state"] = std::string(core::toString(v.state));
    f["call_id"] = v.call_id;
    f["packets_sent"] = v.stats.packets_sent;
    f["bytes_sent"] = v.stats.bytes_sent;
    f["packets_received"] = v.stats.packets_received;
    f["bytes_received"] = v.stats.bytes_received;
    f["dc_messages_sent"] = v.stats.dc_messages_sent;
    f["dc_messages_received"] = v.stats.dc_messages_received;
    f["remote_streams"] = static_cast<std::uint64_t>(v.metadata.size());
    if (v.stats.rtt_ms) f["rtt_ms"] = *v.stats.rtt_ms;
  }
  if (const auto* leg = call->focusLeg()) {
    f["subscribed_tracks"] = static_cast<std::uint64_t>(leg->subscriptions().subscribed().size());
    f["subscription_messages"] = leg->subscriptions().messagesSent();
    f["pings_answered"] = leg->pingsAnswered();
    f["dc_malformed"] = leg->dcMalformed();
  }
  // Mixed calls: the devices that use no focus, reached on mesh legs next to the focus leg (docs/focus.md).
  json::array mesh;
  for (const auto* leg : call->legs()) {
    if (!leg->ended() && !leg->focus()) mesh.emplace_back(leg->userId() + "/" + leg->deviceId());
  }
  f["mesh_peers"] = std::move(mesh);
  f["max_mesh_peers"] = static_cast<std::uint64_t>(call->config().max_mesh_peers);
  return f;
}

void Participant::refreshStats(std::chrono::milliseconds budget) {
  if (!engine_ || legs_.empty()) return;
  // Issue #10: one 500 ms wait per leg, with hundreds of legs and a busy engine, held the loop for minutes
  // and the homeserver fired our delayed leave. Now: one budget for all, and the first timeout ends the
  // round.
  const auto deadline = std::chrono::steady_clock::now() + budget;
  auto start = legs_.upper_bound(stats_cursor_);
  std::vector<core::LegId> order;
  for (auto it = start; it != legs_.end(); ++it) order.push_back(it->first);
  for (auto it = legs_.begin(); it != start; ++it) order.push_back(it->first);
  for (core::LegId id : order) {
    auto& v = legs_.at(id);
    if (v.state == core::LegState::Ended) continue;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    auto s = engine_->stats(id, std::min(left, std::chrono::milliseconds(100)));
    if (s) v.stats = *s;
    stats_cursor_ = id;
    if (!s && s.error().code == Code::DeadlineExceeded) break;  // the engine is busy: try again later
  }
}

void Participant::pollStats() {
  refreshStats(std::chrono::milliseconds(200));
  checkConnecting();
  json::object line{{"event", "stats"}, {"peers", peersJson(false)}};
  if (auto f = focusJson(); !f.is_null()) line["focus"] = std::move(f);
  // The C heap (glibc mallinfo2): bytes in live allocations vs. held free. A growing RSS with flat in_use is
  // fragmentation, not a leak (bench/soak.py reports both).
  const struct mallinfo2 mi = ::mallinfo2();
  line["heap"] = json::object{{"in_use_bytes", mi.uordblks + mi.hblkhd},
                              {"free_bytes", mi.fordblks},
                              {"arena_bytes", mi.arena},
                              {"mmapped_bytes", mi.hblkhd}};
  emit(std::move(line));
  render();
}

void Participant::checkConnecting() {
  const TimeMs now = SystemClock().nowMs();
  for (auto& [id, v] : legs_) {
    if (v.state != core::LegState::Connecting || v.reported || v.connecting_since == 0) continue;
    if (now - v.connecting_since < kNotConnectedReportMs) continue;
    v.reported = true;
    reportNotConnected(id, v);
  }
}

// At the default log level (and as a JSON event): what ICE knows about a leg that has not connected.
void Participant::reportNotConnected(core::LegId id, LegView& v, const std::string& ended_by) {
  endpoint::LegStats st;
  if (engine_) {
    if (auto s = engine_->stats(id, std::chrono::milliseconds(100))) st = *s;
  }
  if (st.ice_state.empty()) st.ice_state = ended_by == "ice_failed" ? "failed" : "unknown";
  if (st.connection_state.empty()) st.connection_state = "closed";
  std::string reason;
  if (v.local_candidates.empty()) {
    reason = "we gathered no ICE candidate";
  } else if (v.remote_candidates.empty() && !v.focus) {
    reason = "the peer sent no ICE candidate";
  } else if (st.ice_state == "checking" || st.ice_state == "new") {
    reason = "no candidate pair works (ICE " + st.ice_state + ")";
  } else if (st.ice_state == "failed") {
    reason = "ICE failed: no candidate pair works";
  } else if (st.ice_state == "connected" || st.ice_state == "completed") {
    reason =
        "ICE is " + st.ice_state + " but DTLS has not completed (connection " + st.connection_state + ")";
  } else {
    reason = "ICE " + st.ice_state + ", connection " + st.connection_state;
  }
  if (!ended_by.empty()) reason = "the leg ended (" + ended_by + ") before it connected: " + reason;
  // webrtcbin 1.22 gives no per-pair state: the pairs are every local x remote candidate of one transport
  // and address family, all in the ICE state above.
  json::array local, remote, pairs, seen;
  for (const auto& c : v.local_candidates) local.emplace_back(c);
  for (const auto& c : v.remote_candidates) remote.emplace_back(c);
  for (const auto& c : st.ice_candidates) seen.emplace_back(c);
  auto fields = [](const std::string& cand) {
    // "candidate:F C transport prio address port typ type ..." -> (transport, address, port, type)
    std::vector<std::string> f;
    std::size_t pos = 0;
    while (pos < cand.size() && f.size() < 8) {
      auto e = cand.find(' ', pos);
      f.push_back(cand.substr(pos, e == std::string::npos ? std::string::npos : e - pos));
      if (e == std::string::npos) break;
      pos = e + 1;
    }
    return f;
  };
  for (const auto& l : v.local_candidates) {
    auto lf = fields(l);
    if (lf.size() < 8) continue;
    for (const auto& r : v.remote_candidates) {
      auto rf = fields(r);
      if (rf.size() < 8) continue;
      const bool v6l = lf[4].find(':') != std::string::npos, v6r = rf[4].find(':') != std::string::npos;
      auto lower = [](std::string x) {
        for (auto& ch : x) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return x;
      };
      if (v6l != v6r || lower(lf[2]) != lower(rf[2])) continue;
      if (pairs.size() < 64) {
        pairs.emplace_back(lf[4] + ":" + lf[5] + " (" + lf[7] + ") -> " + rf[4] + ":" + rf[5] + " (" + rf[7] +
                           ") " + lower(lf[2]) + ": " + st.ice_state);
      }
    }
  }
  json::object o{{"event", "leg_not_connected"},
                 {"peer", v.user_id + "/" + v.device_id},
                 {"focus", v.focus},
                 {"reason", reason},
                 {"after_ms", v.connecting_since ? SystemClock().nowMs() - v.connecting_since : 0},
                 {"ice_state", st.ice_state},
                 {"connection_state", st.connection_state},
                 {"local_candidates", local},
                 {"remote_candidates", remote},
                 {"pairs", pairs},
                 {"webrtcbin_candidates", seen}};
  CHORUS_LOG(Warn, "call",
             "leg to " << v.user_id << "/" << v.device_id << " has not connected "
                       << (SystemClock().nowMs() - v.connecting_since) / 1000
                       << " s after offer/answer: " << reason << "; details: " << json::serialize(o));
  emit(std::move(o));
}

void Participant::render() {
  if (opt_.json) return;
  const bool tty = isatty(STDOUT_FILENO);
  std::string out;
  if (tty) out += "\x1b[H\x1b[2J";
  const auto* call = session_ ? session_->call() : nullptr;
  out += "chorus call: " + client_.userId() + " (" + client_.deviceId() + ") in " +
         (session_ ? session_->roomId() : opt_.room) + "\n";
  out += "call " + (call && call->callId() ? *call->callId() : std::string("(none)")) +
         (call && call->entered() ? "  [in call]" : "  [not in call]") + "   you: audio " +
         (muted_audio_ ? "MUTED" : "on") + ", video " + (muted_video_ ? "MUTED" : "on") +
         (screenshare_ ? ", screensharing" : "") + "\n";
  out += std::to_string(participants_.size()) + " other device(s) in the call";
  if (call && call->focus()) {
    out += ", through focus " + call->focus()->user_id + " (" + call->focus()->device_id + ")";
  }
  out += "\n\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-28s %-12s %-10s %-5s %-5s %8s %8s %9s %9s %7s\n", "peer", "device",
                "state", "mic", "cam", "audio_fr", "video_fr", "pkts_in", "pkts_out", "rtt_ms");
  out += line;
  for (const auto& [id, v] : legs_) {
    for (const auto& [key, t] : v.peers()) {
      auto [am, vm] = v.muted(key);
      const std::string state = std::string(core::toString(v.state)) + (v.focus ? "*" : "");
      std::snprintf(line, sizeof line, "%-28.28s %-12.12s %-10.10s %-5s %-5s %8llu %8llu %9llu %9llu %7s\n",
                    key.first.c_str(), key.second.c_str(), state.c_str(), am ? "off" : "on",
                    vm ? "off" : "on", static_cast<unsigned long long>(t.audio_frames_decoded),
                    static_cast<unsigned long long>(t.video_frames_decoded),
                    static_cast<unsigned long long>(t.packets_received),
                    static_cast<unsigned long long>(t.packets_sent),
                    v.stats.rtt_ms ? std::to_string(static_cast<int>(*v.stats.rtt_ms)).c_str() : "-");
      out += line;
    }
    if (v.focus && v.metadata.empty()) {
      std::snprintf(line, sizeof line, "%-28.28s %-12.12s %-10.10s (focus; nobody else yet)\n",
                    v.user_id.c_str(), v.device_id.c_str(), std::string(core::toString(v.state)).c_str());
      out += line;
    }
  }
  if (call && call->focus()) out += "(* = through the focus)\n";
  for (const auto& w : warnings_) out += "! " + w + "\n";
  if (tty)
    out += "\ncommands on stdin: mute-audio unmute-audio mute-video unmute-video screenshare-on leave\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (!tty) std::fputc('\n', stdout);
  std::fflush(stdout);
}

void Participant::stop(const std::string& why, bool terminate) {
  if (stopping_) return;
  stopping_ = true;
  CHORUS_LOG(Info, "call", "leaving: " << why);
  // Take the final media figures while the legs still exist.
  refreshStats(std::chrono::milliseconds(1000));
  json::object counters;
  if (const auto* call = session_ ? session_->call() : nullptr) {
    const auto& c = call->counters();
    counters = json::object{{"to_device_received", c.to_device_received},
                            {"malformed", c.malformed},
                            {"wrong_session", c.wrong_session},
                            {"wrong_conf_id", c.wrong_conf_id},
                            {"unknown_call", c.unknown_call},
                            {"seq_held", call->seqReorderer().heldCount()},
                            {"seq_duplicate", c.seq_duplicate},
                            {"seq_gaps_skipped", call->seqReorderer().gapsSkipped()},
                            {"glare_resolved", c.glare_resolved},
                            {"mesh_invites_in_focus_mode", c.mesh_invites_in_focus_mode},
                            {"mesh_peer_legs", c.mesh_peer_legs},
                            {"mesh_peers_over_cap", c.mesh_peers_over_cap},
                            {"mesh_legs_to_focus_user", c.mesh_legs_to_focus_user},
                            {"invites_held", c.invites_held},
                            {"held_invites_released", c.held_invites_released},
                            {"held_invites_expired", c.held_invites_expired},
                            {"held_invites_overflow", c.held_invites_overflow},
                            {"invalid_offer", c.invalid_offer},
                            {"too_many_legs", c.too_many_legs + c.too_many_legs_per_user},
                            {"sync_events_skipped", session_->syncEventsSkipped()},
                            {"sync_invalid_utf8", session_->syncInvalidUtf8()}};
    counters["room_encrypted"] = session_->roomEncrypted();
    session_->e2eeCounters().addTo(counters);
  }
  json::object summary{{"event", "summary"}, {"peers", peersJson(true)}, {"signalling", counters}};
  if (auto f = focusJson(); !f.is_null()) summary["focus"] = std::move(f);
  emit(std::move(summary));
  if (!opt_.json) {
    render();
    std::printf("left the call (%s)\n", why.c_str());
  }
  auto finish = [this] { loop_.stop(); };
  if (!session_) {
    finish();
    return;
  }
  if (terminate) {
    session_->terminate(finish);
  } else {
    session_->leave(finish);
  }
  loop_.setTimer(5'000, finish);  // do not hang on an unreachable homeserver
}

void Participant::startSession() {
  client_.turnServer([this](Result<json::object> turn) {
    endpoint::MediaConfig mc;
    mc.audio_source = opt_.audio_source;
    mc.video_source = opt_.video_source;
    mc.width = opt_.width;
    mc.height = opt_.height;
    mc.fps = opt_.fps;
    mc.loopback_only = opt_.loopback_only;
    mc.relay_only = opt_.relay_only;
    mc.send_h264 = opt_.send_h264;
    mc.video_label = opt_.video_label.value_or(client_.userId());
    mc.legacy_leg_setup = opt_.legacy_leg_setup;
    mc.name = client_.deviceId();
    if (turn) {
      // {"uris": ["turn:host:port?transport=udp", ...], "username", "password"}
      const auto* uris = turn->if_contains("uris");
      const auto* user = turn->if_contains("username");
      const auto* pass = turn->if_contains("password");
      if (uris && uris->is_array() && user && user->is_string() && pass && pass->is_string()) {
        for (const auto& u : uris->as_array()) {
          if (!u.is_string()) continue;
          std::string uri(u.as_string());
          auto colon = uri.find(':');
          if (colon == std::string::npos) continue;
          std::string scheme = uri.substr(0, colon), rest = uri.substr(colon + 1);
          if (auto q = rest.find('?'); q != std::string::npos) rest = rest.substr(0, q);
          if (scheme == "turn" || scheme == "turns") {
            mc.turn_servers.push_back(scheme + "://" + std::string(user->as_string()) + ":" +
                                      std::string(pass->as_string()) + "@" + rest);
          } else if (scheme == "stun" && mc.stun_server.empty()) {
            mc.stun_server = "stun://" + rest;
          }
        }
      }
    }
    if (opt_.relay_only && mc.turn_servers.empty()) {
      std::fprintf(stderr, "chorus call: --relay-only, but the homeserver offers no TURN server\n");
      exit_code_ = 1;
      loop_.stop();
      return;
    }
    emit({{"event", "turn"},
          {"servers", static_cast<std::int64_t>(mc.turn_servers.size())},
          {"relay_only", mc.relay_only}});
    auto engine = endpoint::MediaEngine::create(mc);
    if (!engine) {
      std::fprintf(stderr, "chorus call: media engine: %s\n", engine.error().message.c_str());
      exit_code_ = 1;
      loop_.stop();
      return;
    }
    engine_ = std::move(*engine);
    backend_ = std::make_unique<EndpointBackend>(*engine_);
    backend_->on_remote_candidate = [this](core::LegId leg, const std::string& cand) {
      auto it = legs_.find(leg);
      if (it != legs_.end() && it->second.remote_candidates.size() < kMaxDiagCandidates && !cand.empty())
        it->second.remote_candidates.push_back(cand.substr(0, 200));
    };
    muted_audio_ = opt_.mute_audio;
    muted_video_ = opt_.mute_video;
    screenshare_ = opt_.screenshare;
    engine_->setMuted(muted_audio_, muted_video_);
    if (screenshare_) engine_->setScreenshare(true);

    session::SessionConfig sc;
    sc.core.ice_restart_by_new_call = true;  // webrtcbin 1.22 cannot restart ICE (docs/endpoint.md)
    sc.room = opt_.room;
    sc.create_call = opt_.create;
    sc.use_delayed_events = opt_.use_delayed_events;
    sc.e2ee = opt_.e2ee;
    if (opt_.e2ee && !opt_.data_dir.empty()) {
      auto store =
          matrix::olmStoreIn(opt_.data_dir, opt_.olm_passphrase, client_.userId(), client_.deviceId());
      if (!store) {
        std::fprintf(stderr, "chorus call: Olm state key: %s\n", store.error().message.c_str());
        exit_code_ = 1;
        loop_.stop();
        return;
      }
      sc.olm_state_path = std::move(store->path);
      sc.olm_state_key = std::move(store->key);
    }
    sc.feeds = localFeeds();
    if (!opt_.focus_user.empty()) sc.core.focus = proto::FocusInfo{opt_.focus_user, opt_.focus_device};
    sc.core.adopt_focus = opt_.adopt_focus;
    sc.core.focus_max_video_tracks = static_cast<std::size_t>(std::max(0, opt_.max_video_tiles));
    sc.core.focus_video_width = opt_.subscribe_width;
    sc.core.focus_video_height = opt_.subscribe_height;
    sc.core.max_mesh_peers = static_cast<std::size_t>(std::max(0, opt_.max_mesh_peers));
    session_ = std::make_unique<session::CallSession>(loop_, client_, sc, backend_.get(),
                                                      [this](const core::Action& a) { onNotify(a); });
    media_thread_ = std::thread([this] { pumpMedia(); });
    session_->start([this](Status st) {
      if (!st) {
        std::fprintf(stderr, "chorus call: %s\n", st.error().message.c_str());
        exit_code_ = 1;
        stopping_ = true;
        loop_.stop();
        return;
      }
      emit({{"event", "ready"},
            {"user_id", client_.userId()},
            {"device_id", client_.deviceId()},
            {"room_id", session_->roomId()},
            {"delayed_events", session_->delayedEventsSupported()}});
    });
  });
}

void Participant::pumpMedia() {
  while (media_thread_run_.load()) {
    if (!engine_->waitForEvents(std::chrono::milliseconds(200))) continue;
    auto events = engine_->poll();
    loop_.post([this, events = std::move(events)] {
      for (const auto& ev : events) {
        if (const auto* c = std::get_if<endpoint::LocalCandidate>(&ev)) {
          auto it = legs_.find(c->leg);
          if (it != legs_.end() && it->second.local_candidates.size() < kMaxDiagCandidates)
            it->second.local_candidates.push_back(c->candidate.substr(0, 200));
        }
        if (auto in = EndpointBackend::toInput(ev)) session_->input(*in);
      }
    });
  }
}

int Participant::run() {
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  std::signal(SIGPIPE, SIG_IGN);
  auto begin = [this] {
    if (!opt_.access_token.empty()) {
      client_.setSession(opt_.access_token, opt_.user, opt_.device_id);
      client_.whoami([this](Result<json::object> r) {
        if (!r) {
          std::fprintf(stderr, "chorus call: access token rejected: %s\n", r.error().message.c_str());
          exit_code_ = 1;
          loop_.stop();
          return;
        }
        std::string uid(r->at("user_id").as_string());
        std::string did = opt_.device_id;
        if (const auto* d = r->if_contains("device_id"); d && d->is_string()) did = d->as_string();
        client_.setSession(opt_.access_token, uid, did);
        startSession();
      });
      return;
    }
    client_.login(opt_.user, opt_.password, opt_.device_id, [this](Result<json::object> r) {
      if (!r) {
        std::fprintf(stderr, "chorus call: login failed: %s\n", r.error().message.c_str());
        exit_code_ = 1;
        loop_.stop();
        return;
      }
      startSession();
    });
  };
  loop_.post(begin);
  // Signals, duration and stats are checked on the loop thread.
  const auto started = std::chrono::steady_clock::now();
  std::function<void()> tick;
  TimeMs since_stats = 0;
  tick = [&] {
    if (!stopping_) {
      if (int sig = g_signal.load()) {
        stop(sig == SIGINT ? "SIGINT" : "SIGTERM");
      } else if (opt_.duration_s > 0 &&
                 std::chrono::steady_clock::now() - started >=
                     std::chrono::milliseconds(static_cast<TimeMs>(opt_.duration_s * 1000))) {
        stop("duration reached");
      } else if (engine_ && (since_stats += 100) >= static_cast<TimeMs>(opt_.stats_interval_s * 1000)) {
        since_stats = 0;
        pollStats();
      }
    }
    loop_.setTimer(100, tick);
  };
  loop_.setTimer(100, tick);
  if (opt_.read_commands) {
    stdin_thread_ = std::thread([this] {
      std::string line;
      while (media_thread_run_.load()) {
        pollfd pfd{STDIN_FILENO, POLLIN, 0};
        int r = ::poll(&pfd, 1, 200);
        if (r <= 0) continue;
        if (!std::getline(std::cin, line)) break;  // EOF: no more commands (keep running)
        loop_.post([this, line] {
          if (!stopping_ && engine_ && session_) applyCommand(line);
        });
      }
    });
  }
  loop_.run();
  media_thread_run_.store(false);
  if (media_thread_.joinable()) media_thread_.join();
  if (stdin_thread_.joinable()) stdin_thread_.join();
  session_.reset();
  backend_.reset();
  engine_.reset();
  return exit_code_;
}

}  // namespace

int runParticipant(const ParticipantOptions& options) {
  Participant p(options);
  return p.run();
}

}  // namespace chorus::call
