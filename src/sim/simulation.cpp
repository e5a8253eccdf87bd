#include "sim/simulation.hpp"

#include "base/overloaded.hpp"

#include <algorithm>
#include <sstream>

#include "proto/event_types.hpp"

namespace chorus::sim {

namespace {

// Fake media gives up on a leg that has both descriptions but no remote candidate for this long (ICE
// failure).
constexpr TimeMs kFakeIceFailAfterMs = 10'000;
}  // namespace

SimClient::SimClient(std::string user_id, std::string device_id, std::string session_id, const Clock& clock,
                     Rng& rng, const core::CallConfig& base_config)
    : user_id_(std::move(user_id)),
      device_id_(std::move(device_id)),
      session_id_(std::move(session_id)),
      media_(user_id_ + "/" + device_id_, clock) {
  core::CallConfig cfg = base_config;
  cfg.user_id = user_id_;
  cfg.device_id = device_id_;
  cfg.session_id = session_id_;
  call_ = std::make_unique<core::GroupCall>(cfg, clock, rng);
}

Simulation::Simulation(FakeClock& clock, std::uint64_t seed, core::CallConfig base_config)
    : clock_(clock), rng_(seed), base_config_(std::move(base_config)) {}

SimClient& Simulation::addClient(const std::string& user_id, const std::string& device_id) {
  clients_.push_back(
      std::make_unique<SimClient>(user_id, device_id, rng_.alnum(10), clock_, rng_, base_config_));
  SimClient& c = *clients_.back();
  // Everything already in the room reaches the newcomer in its first sync.
  for (const auto& [key, ev] : state_) c.pending_state_.push_back(ev);
  core::act::PutState join;
  join.type = std::string(proto::kRoomMemberEventType);
  join.state_key = user_id;
  join.content = boost::json::object{{"membership", "join"}};
  putState(c, join);
  return c;
}

void Simulation::input(SimClient& c, core::Input in) {
  if (c.crashed_) return;
  execute(c, c.call_->handle(in));
}

void Simulation::note(const std::string& line) {
  std::ostringstream os;
  os << "[t+" << (clock_.nowMs() % 10'000'000) << "ms] " << line;
  log_.push_back(os.str());
  if (log_sink_) log_sink_(log_.back());
}

SimClient* Simulation::find(const std::string& user, const std::string& device) {
  for (auto& c : clients_) {
    if (c->userId() == user && c->deviceId() == device && !c->crashed_) return c.get();
  }
  return nullptr;
}

void Simulation::crash(SimClient& c) {
  c.crashed_ = true;
  c.pending_state_.clear();
  c.lagged_state_.clear();
  c.pending_to_device_.clear();
  c.pending_inputs_.clear();
  note(who(c) + " crashed");
  for (auto& other : clients_) {
    if (other.get() == &c || other->crashed_) continue;
    other->media_.peerGone(c.userId(), c.deviceId());
  }
}

void Simulation::restart(SimClient& c, const std::string& new_session) {
  if (!c.crashed_) crash(c);
  c.session_id_ = new_session;
  core::CallConfig cfg = base_config_;
  cfg.user_id = c.userId();
  cfg.device_id = c.deviceId();
  cfg.session_id = new_session;
  c.call_ = std::make_unique<core::GroupCall>(cfg, clock_, rng_);
  c.media_.clear();
  c.crashed_ = false;
  for (const auto& [key, ev] : state_) c.pending_state_.push_back(ev);
  note(who(c) + " restarted with session " + new_session);
}

void Simulation::injectToDevice(const std::string& from_user, SimClient& to, const std::string& type,
                                boost::json::object content) {
  to.pending_to_device_.push_back(core::ToDeviceMessage{type, from_user, std::move(content)});
}

void Simulation::runFor(TimeMs duration, TimeMs step_ms) {
  const TimeMs end = clock_.nowMs() + duration;
  while (clock_.nowMs() < end) {
    step();
    clock_.advance(step_ms);
  }
}

bool Simulation::runUntil(const std::function<bool()>& pred, TimeMs limit, TimeMs step_ms) {
  const TimeMs end = clock_.nowMs() + limit;
  while (clock_.nowMs() < end) {
    step();
    if (pred()) return true;
    clock_.advance(step_ms);
  }
  return pred();
}

void Simulation::step() {
  for (std::size_t i = 0; i < clients_.size(); ++i) {
    if (!clients_[i]->crashed_) deliver(*clients_[i]);
  }
}

void Simulation::deliver(SimClient& c) {
  // One /sync: state first, then to-device, as a homeserver returns them.
  while (!c.lagged_state_.empty() && c.lagged_state_.front().first <= clock_.nowMs()) {
    c.pending_state_.push_back(std::move(c.lagged_state_.front().second));
    c.lagged_state_.erase(c.lagged_state_.begin());
  }
  if (!c.pending_state_.empty()) {
    auto events = std::move(c.pending_state_);
    c.pending_state_.clear();
    execute(c, c.call_->handle(core::in::StateChanged{std::move(events)}));
  }
  if (!c.pending_to_device_.empty()) {
    auto msgs = std::move(c.pending_to_device_);
    c.pending_to_device_.clear();
    if (policy_.reorder) {
      for (std::size_t i = msgs.size(); i > 1; --i) std::swap(msgs[i - 1], msgs[rng_.below(i)]);
    }
    for (auto& m : msgs) execute(c, c.call_->handle(core::in::ToDeviceReceived{std::move(m)}));
  }
  {
    auto results = std::move(c.pending_inputs_);
    c.pending_inputs_.clear();
    for (auto& r : c.media_.takeResults()) results.push_back(std::move(r));
    for (auto& r : results) execute(c, c.call_->handle(r));
  }
  c.media_.tick();
  const TimeMs now = clock_.nowMs();
  if (auto t = c.call_->nextTimeout(); t && *t <= now) execute(c, c.call_->handle(core::in::Tick{}));
}

void Simulation::execute(SimClient& c, core::Actions actions) {
  for (auto& a : actions) {
    std::visit(Overloaded{
                   [&](const core::act::PutState& p) { putState(c, p); },
                   [&](const core::act::SendToDevice& s) { sendToDevice(c, s); },
                   [&](const core::act::ScheduleWakeup&) {},
                   [&](const core::act::ParticipantsChanged& p) {
                     std::string line =
                         who(c) + " sees " + std::to_string(p.participants.size()) + " other device(s):";
                     for (const auto& x : p.participants) line += " " + x.user_id + "/" + x.device_id;
                     note(line);
                   },
                   [&](const core::act::LegChanged& l) {
                     std::string line = who(c) + " leg to " + l.user_id + "/" + l.device_id + " -> " +
                                        std::string(core::toString(l.state));
                     if (!l.reason.empty()) line += " (" + l.reason + ")";
                     note(line);
                   },
                   [&](const core::act::CallChanged& cc) {
                     note(who(c) + (cc.entered ? " entered call " : " call is now ") +
                          cc.call_id.value_or("(none)"));
                   },
                   [&](const core::act::Warning& w) { note(who(c) + " warning: " + w.message); },
                   [&](const core::act::RemoteFeedsChanged& r) {
                     for (const auto& [sid, md] : r.metadata) {
                       note(who(c) + " remote feed " + sid + " " + md.purpose +
                            (md.audio_muted ? " audio-muted" : "") + (md.video_muted ? " video-muted" : ""));
                     }
                   },
                   [&](const auto& media_action) { c.media_.execute(core::Action{media_action}); },
               },
               a);
  }
}

void Simulation::putState(SimClient& c, const core::act::PutState& a) {
  if (!a.state_key.empty() && a.state_key[0] == '@' && a.state_key != c.userId()) {
    // The auth rule a real server enforces; core must never trip it.
    note(who(c) + " FORBIDDEN state write to " + a.state_key);
    c.pending_inputs_.push_back(core::in::RequestFailed{a.id, Error{Code::PermissionDenied, "M_FORBIDDEN"}});
    return;
  }
  core::StateEvent ev;
  ev.type = a.type;
  ev.state_key = a.state_key;
  ev.sender = c.userId();
  ev.event_id = "$ev" + std::to_string(++event_counter_);
  ev.origin_server_ts = clock_.nowMs();
  ev.content = a.content;
  state_[{ev.type, ev.state_key}] = ev;
  if (proto::isCallMemberEventType(a.type) || proto::isCallEventType(a.type)) {
    note(who(c) + " PUT " + a.type + " " + boost::json::serialize(a.content));
  }
  for (auto& other : clients_) {
    if (other->crashed_) continue;
    if (policy_.state_lag_ms > 0 && other.get() != &c) {
      other->lagged_state_.emplace_back(clock_.nowMs() + policy_.state_lag_ms, ev);
    } else {
      other->pending_state_.push_back(ev);
    }
  }
}

void Simulation::sendToDevice(SimClient& c, const core::act::SendToDevice& a) {
  ++to_device_sent_;
  ++to_device_by_type_[a.type];
  SimClient* target = find(a.user_id, a.device_id);
  if (!target) return;  // a device that never syncs again: the message waits forever in its queue
  if (policy_.drop > 0 && static_cast<double>(rng_.below(1'000'000)) / 1e6 < policy_.drop) {
    ++to_device_dropped_;
    return;
  }
  core::ToDeviceMessage m{a.type, c.userId(), a.content};
  target->pending_to_device_.push_back(m);
  if (policy_.duplicate > 0 && static_cast<double>(rng_.below(1'000'000)) / 1e6 < policy_.duplicate) {
    target->pending_to_device_.push_back(std::move(m));
    ++to_device_duplicated_;
  }
}

std::uint64_t Simulation::toDeviceSentOfType(const std::string& type) const {
  auto it = to_device_by_type_.find(type);
  return it == to_device_by_type_.end() ? 0 : it->second;
}

bool Simulation::pairConnected(const SimClient& a, const SimClient& b) const {
  const auto* la = a.call().legFor(b.userId(), b.deviceId());
  const auto* lb = b.call().legFor(a.userId(), a.deviceId());
  if (!la || !lb || la->state() != core::LegState::Connected || lb->state() != core::LegState::Connected) {
    return false;
  }
  if (la->callId() != lb->callId()) return false;
  auto ma = a.media().find(la->leg());
  auto mb = b.media().find(lb->leg());
  if (ma == a.media().end() || mb == b.media().end()) return false;
  return ma->second.connected && mb->second.connected && ma->second.remote_sdp == mb->second.local_sdp &&
         mb->second.remote_sdp == ma->second.local_sdp && ma->second.media_enabled &&
         mb->second.media_enabled;
}

bool Simulation::allPairsConnected() const {
  for (std::size_t i = 0; i < clients_.size(); ++i) {
    if (clients_[i]->crashed_) continue;
    for (std::size_t j = i + 1; j < clients_.size(); ++j) {
      if (clients_[j]->crashed_) continue;
      if (!pairConnected(*clients_[i], *clients_[j])) return false;
    }
  }
  return true;
}

}  // namespace chorus::sim
