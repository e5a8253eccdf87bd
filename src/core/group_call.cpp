#include "core/group_call.hpp"

#include "base/overloaded.hpp"

#include <algorithm>

#include "base/log.hpp"
#include "proto/event_types.hpp"

namespace chorus::core {

using proto::SignalType;

namespace {

// Roughly what a message costs to hold (keys, strings, a fixed overhead per value), without serialising it.
std::size_t approxSize(const boost::json::value& v);
std::size_t approxSize(const boost::json::object& o) {
  std::size_t n = 16;
  for (const auto& [k, x] : o) n += k.size() + approxSize(x);
  return n;
}
std::size_t approxSize(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::string:
      return 16 + v.get_string().size();
    case boost::json::kind::object:
      return approxSize(v.get_object());
    case boost::json::kind::array: {
      std::size_t n = 16;
      for (const auto& x : v.get_array()) n += approxSize(x);
      return n;
    }
    default:
      return 16;
  }
}
// What any SDP offer starts with (RFC 8866 §5): anything else is refused before a leg (a media pipeline)
// exists.
bool plausibleOfferSdp(std::string_view sdp) {
  return sdp.size() >= 3 && sdp.substr(0, 3) == "v=0";
}
// A device uses a focus when its entry names one in foci.active (what js-sdk chooseFocus() and our adoption
// read; foci.preferred alone is a wish, not a focus the device publishes to).
bool usesFocus(const Participant& p) {
  return std::any_of(p.foci_active.begin(), p.foci_active.end(),
                     [](const proto::FocusInfo& f) { return !f.user_id.empty() && !f.device_id.empty(); });
}
}  // namespace

GroupCall::GroupCall(CallConfig config, const Clock& clock, Rng& rng)
    : config_(std::move(config)), clock_(clock), rng_(rng), seq_(config_.seq) {}

GroupCall::~GroupCall() = default;

PeerContext GroupCall::context(Actions& out) {
  return PeerContext{config_, clock_, active_call_.value_or(""), out, next_request_, feeds_};
}

Actions GroupCall::handle(const Input& input) {
  Actions out;
  std::visit(Overloaded{
                 [&](const in::StateChanged& i) { onStateChanged(i, out); },
                 [&](const in::ToDeviceReceived& i) { onToDevice(i, out); },
                 [&](const in::Tick&) { onTick(out); },
                 [&](const in::Enter& i) { onEnter(i, out); },
                 [&](const in::Leave&) { onLeave(out); },
                 [&](const in::Terminate&) { onTerminate(out); },
                 [&](const in::SetFeeds& i) { onSetFeeds(i, out); },
                 [&](const in::RequestFailed& i) { onRequestFailed(i, out); },
                 [&](const in::LocalDescription& i) {
                   if (auto* leg = findLeg(i.leg)) {
                     auto ctx = context(out);
                     leg->onLocalDescription(ctx, i.description);
                     afterLegEvent(*leg, out);
                   }
                 },
                 [&](const in::LocalCandidate& i) {
                   if (auto* leg = findLeg(i.leg)) {
                     auto ctx = context(out);
                     leg->onLocalCandidate(ctx, i.candidate);
                   }
                 },
                 [&](const in::GatheringComplete& i) {
                   if (auto* leg = findLeg(i.leg)) {
                     auto ctx = context(out);
                     leg->onGatheringComplete(ctx);
                   }
                 },
                 [&](const in::MediaStateChanged& i) {
                   if (auto* leg = findLeg(i.leg)) {
                     auto ctx = context(out);
                     leg->onMediaState(ctx, i.state);
                     afterLegEvent(*leg, out);
                   }
                 },
                 [&](const in::NegotiationNeeded& i) {
                   if (auto* leg = findLeg(i.leg)) {
                     auto ctx = context(out);
                     leg->onNegotiationNeeded(ctx);
                   }
                 },
                 [&](const in::MediaFailed& i) {
                   if (auto* leg = findLeg(i.leg)) {
                     auto ctx = context(out);
                     leg->onMediaFailed(ctx, i.message);
                     afterLegEvent(*leg, out);
                   }
                 },
                 [&](const in::DataChannelOpen& i) {
                   if (auto* leg = findLeg(i.leg)) {
                     auto ctx = context(out);
                     leg->onDataChannelOpen(ctx);
                   }
                 },
                 [&](const in::DataChannelMessage& i) {
                   if (auto* leg = findLeg(i.leg)) {
                     auto ctx = context(out);
                     leg->onDataChannelMessage(ctx, i.text);
                     afterLegEvent(*leg, out);
                   }
                 },
                 [&](const in::DataChannelClosed& i) {
                   if (auto* leg = findLeg(i.leg)) {
                     auto ctx = context(out);
                     leg->onDataChannelClosed(ctx);
                   }
                 },
             },
             input);
  pruneEnded();
  auto next = nextTimeout();
  if (next && next != announced_wakeup_) out.push_back(act::ScheduleWakeup{*next});
  announced_wakeup_ = next;
  return out;
}

// ---------------------------------------------------------------- room state

void GroupCall::onStateChanged(const in::StateChanged& in, Actions& out) {
  bool own_member_from_server = false;
  for (const auto& ev : in.events) {
    if (room_.apply(ev) == RoomState::Applied::Invalid) ++counters_.invalid_state_events;
    if (proto::isCallMemberEventType(ev.type) && ev.state_key == config_.user_id)
      own_member_from_server = true;
  }
  const bool was_entered = entered_;
  recompute(out);
  if (own_member_from_server && was_entered && entered_ && active_call_) {
    // Our device vanished from our member event while we are in the call: our delayed leave fired (we were
    // unreachable for a while) or another device of ours overwrote it. Publish ourselves again, at most once
    // per retry interval.
    const TimeMs now = clock_.nowMs();
    if (!room_.participant(*active_call_, config_.user_id, config_.device_id, now) &&
        (!last_republish_ || now - *last_republish_ >= config_.retry_interval_ms)) {
      last_republish_ = now;
      writeMember(out, true);
    }
  }
}

void GroupCall::recompute(Actions& out) {
  auto selected = room_.activeCall();
  if (selected != active_call_) {
    auto previous = active_call_;
    const bool was_entered = entered_;
    if (entered_) {
      // Our call ended or a newer call took over: hang up the legs of the old call.
      leaveCall(out, selected ? "replaced" : "user_hangup");
    }
    active_call_ = selected;
    participants_.clear();
    out.push_back(act::CallChanged{active_call_, false});
    if (previous && selected && created_call_ == previous && was_entered) {
      // Two calls were created at once and ours lost: end ours so nobody else picks it.
      if (const auto* rec = room_.call(*previous)) {
        auto updated = *rec;
        updated.event = proto::terminatedCopy(rec->event);
        RequestId id = ++next_request_;
        state_requests_[id] = "call";
        out.push_back(act::PutState{id, std::string(proto::kCallEventType), *previous,
                                    proto::serializeCallEvent(updated.event), std::nullopt});
        room_.putCall(*previous, std::move(updated));
      }
    }
    if (!selected) want_enter_ = false;  // the call ended: do not rejoin a later one by itself
    if (want_enter_ && active_call_) enterCall(out);
  }
  updateParticipants(out);
  if (entered_) reconcileLegs(out);
}

void GroupCall::updateParticipants(Actions& out) {
  std::map<DeviceKey, Participant> next;
  std::optional<TimeMs> earliest;
  if (active_call_) {
    for (auto& p : room_.participants(*active_call_, clock_.nowMs(), &earliest)) {
      if (p.user_id == config_.user_id && p.device_id == config_.device_id) continue;  // ourselves
      DeviceKey key{p.user_id, p.device_id};
      next[key] = std::move(p);
    }
  }
  next_expiry_ = earliest;
  if (next != participants_) {
    participants_ = std::move(next);
    out.push_back(act::ParticipantsChanged{participants()});
  }
}

std::vector<Participant> GroupCall::participants() const {
  std::vector<Participant> v;
  v.reserve(participants_.size());
  for (const auto& [k, p] : participants_) v.push_back(p);
  return v;
}

bool GroupCall::wantsMeshLeg(const Participant& p) const {
  return !focus_ || !usesFocus(p);
}

std::size_t GroupCall::meshLegCount() const {
  std::size_t n = 0;
  for (const auto& [id, leg] : legs_) n += (!leg->ended() && !leg->focus()) ? 1 : 0;
  return n;
}

bool GroupCall::wantsOutgoingCall(const std::string& user_id, const std::string& device_id) const {
  // js-sdk: userId >= localUserId && (userId !== localUserId || deviceId > localDeviceId). MXIDs and device
  // ids are ASCII in practice, where byte order equals JavaScript's UTF-16 order.
  if (user_id != config_.user_id) return user_id > config_.user_id;
  return device_id > config_.device_id;
}

// ---------------------------------------------------------------- our membership

void GroupCall::onEnter(const in::Enter& in, Actions& out) {
  want_enter_ = true;
  enter_request_ = in;
  feeds_ = in.feeds;
  if (entered_) return;
  if (active_call_) {
    enterCall(out);
    reconcileLegs(out);
  } else if (in.create_if_missing) {
    createCall(in, out);
  } else {
    out.push_back(act::Warning{"the room has no group call yet; joining when one starts"});
  }
}

std::string GroupCall::newCallId() {
  // Like js-sdk genCallID(): Date.now() followed by 16 random alphanumerics.
  return std::to_string(clock_.nowMs()) + rng_.alnum(16);
}

void GroupCall::createCall(const in::Enter& in, Actions& out) {
  proto::CallEvent ev;
  ev.call_id = newCallId();
  ev.intent = in.intent;
  ev.type = in.type;
  ev.name = in.name;
  RequestId id = ++next_request_;
  state_requests_[id] = "call";
  out.push_back(act::PutState{id, std::string(proto::kCallEventType), ev.call_id,
                              proto::serializeCallEvent(ev), std::nullopt});
  created_call_ = ev.call_id;
  // Local echo; the event from /sync replaces it with the server's timestamp.
  room_.putCall(ev.call_id, RoomState::CallRecord{ev, clock_.nowMs(), config_.user_id});
  recompute(out);
}

std::optional<proto::FocusInfo> GroupCall::chooseFocus() const {
  if (config_.focus) return config_.focus;
  if (!config_.adopt_focus || !active_call_) return std::nullopt;
  // Like js-sdk chooseFocus(): the first focus another member's device is active on.
  for (const auto& p : room_.participants(*active_call_, clock_.nowMs())) {
    if (p.user_id == config_.user_id && p.device_id == config_.device_id) continue;
    for (const auto& f : p.foci_active) {
      if (!f.user_id.empty() && !f.device_id.empty()) return f;
    }
  }
  return std::nullopt;
}

void GroupCall::enterCall(Actions& out) {
  if (!active_call_) return;
  entered_ = true;
  focus_ = chooseFocus();
  if (focus_) {
    CHORUS_LOG(Info, "core", "focus mode: " << focus_->user_id << " / " << focus_->device_id);
  }
  writeMember(out, true);
  retry_at_ = clock_.nowMs() + config_.retry_interval_ms;
  out.push_back(act::CallChanged{active_call_, true});
}

void GroupCall::onLeave(Actions& out) {
  want_enter_ = false;
  if (entered_) leaveCall(out, "user_hangup");
}

void GroupCall::leaveCall(Actions& out, const std::string& reason) {
  auto ctx = context(out);
  for (auto& [id, leg] : legs_) leg->hangup(ctx, reason);
  for (auto& [id, leg] : legs_) afterLegEvent(*leg, out);
  writeMember(out, false);
  entered_ = false;
  focus_.reset();
  refresh_at_.reset();
  retry_at_.reset();
  attempts_.clear();
  held_.clear();  // nothing was started for them; their callers time out or retry with the next call
  out.push_back(act::CallChanged{active_call_, false});
}

void GroupCall::onTerminate(Actions& out) {
  if (!active_call_) return;
  const auto* rec = room_.call(*active_call_);
  if (!rec) return;
  auto updated = *rec;
  updated.event = proto::terminatedCopy(rec->event);
  RequestId id = ++next_request_;
  state_requests_[id] = "call";
  out.push_back(act::PutState{id, std::string(proto::kCallEventType), *active_call_,
                              proto::serializeCallEvent(updated.event), std::nullopt});
  room_.putCall(*active_call_, std::move(updated));  // local echo
  want_enter_ = false;
  recompute(out);
}

void GroupCall::onSetFeeds(const in::SetFeeds& in, Actions& out) {
  auto purposes = [](const std::vector<LocalFeed>& f) {
    std::vector<std::string> p;
    for (const auto& x : f) p.push_back(x.purpose);
    return p;
  };
  const bool purposes_changed = purposes(in.feeds) != purposes(feeds_);
  feeds_ = in.feeds;
  enter_request_.feeds = in.feeds;
  if (!entered_) return;
  auto ctx = context(out);
  for (auto& [id, leg] : legs_) leg->sendMetadataChanged(ctx);
  if (purposes_changed) writeMember(out, true);
}

boost::json::object GroupCall::memberContent(bool include_self, TimeMs now) const {
  proto::CallMemberEvent ev;
  ev.user_id = config_.user_id;
  if (const auto* content = room_.memberContent(config_.user_id)) {
    if (auto parsed = proto::parseCallMemberEvent(config_.user_id, *content)) ev = std::move(*parsed);
  }
  // Our device belongs to at most one call: drop it everywhere, and expired devices from the active call.
  for (auto& call : ev.calls) {
    const bool active = active_call_ && call.call_id == *active_call_;
    std::erase_if(call.devices, [&](const proto::MemberDevice& d) {
      return d.device_id == config_.device_id || (active && d.expires_ts <= now);
    });
  }
  if (include_self && active_call_) {
    proto::MemberCall* call = ev.findCall(*active_call_);
    if (!call) {
      ev.calls.push_back(proto::MemberCall{});
      call = &ev.calls.back();
      call->call_id = *active_call_;
    }
    proto::MemberDevice self;
    self.device_id = config_.device_id;
    self.session_id = config_.session_id;
    self.expires_ts = now + config_.member_validity_ms;
    for (const auto& f : feeds_) self.feeds.push_back(proto::Feed{f.purpose, std::nullopt, std::nullopt, {}});
    // MSC3898: the focus we publish to. We use the focus we prefer, so foci.preferred stays empty (omitted).
    if (focus_) self.foci_active.push_back(*focus_);
    if (self.feeds.empty())
      self.feeds.push_back(proto::Feed{std::string(proto::kPurposeUserMedia), {}, {}, {}});
    call->devices.push_back(std::move(self));
  }
  std::erase_if(ev.calls,
                [](const proto::MemberCall& c) { return c.devices.empty() && c.invalid_devices.empty(); });
  return proto::serializeCallMemberEvent(ev);
}

void GroupCall::writeMember(Actions& out, bool include_self) {
  const TimeMs now = clock_.nowMs();
  auto content = memberContent(include_self, now);
  std::optional<boost::json::object> leave;
  if (include_self) leave = memberContent(false, now);
  RequestId id = ++next_request_;
  state_requests_[id] = "member";
  out.push_back(act::PutState{id, std::string(proto::kCallMemberEventType), config_.user_id, content, leave});
  room_.putMemberContent(config_.user_id, std::move(content));  // local echo for the next read-modify-write
  member_retry_at_.reset();
  if (include_self) {
    refresh_at_ = now + config_.member_refresh_ms;
  } else {
    refresh_at_.reset();
  }
}

void GroupCall::onRequestFailed(const in::RequestFailed& in, Actions& out) {
  auto it = state_requests_.find(in.id);
  if (it == state_requests_.end()) {
    out.push_back(act::Warning{"a to-device send failed: " + in.error.toString()});
    return;
  }
  const std::string what = it->second;
  state_requests_.erase(it);
  if (what == "member") {
    out.push_back(act::Warning{"could not write our call membership (" + in.error.toString() +
                               "); the room's power levels must let members send " +
                               std::string(proto::kCallMemberEventType)});
    if (entered_) member_retry_at_ = clock_.nowMs() + config_.retry_interval_ms;
  } else {
    out.push_back(act::Warning{"could not write the call event (" + in.error.toString() + ")"});
  }
}

// ---------------------------------------------------------------- mesh

PeerCall* GroupCall::findLeg(LegId id) {
  auto it = legs_.find(id);
  return it == legs_.end() ? nullptr : it->second.get();
}

PeerCall* GroupCall::liveLegFor(const std::string& user_id, const std::string& device_id) {
  for (auto& [id, leg] : legs_) {
    if (!leg->ended() && leg->userId() == user_id && leg->deviceId() == device_id) return leg.get();
  }
  return nullptr;
}

const PeerCall* GroupCall::legFor(const std::string& user_id, const std::string& device_id) const {
  return const_cast<GroupCall*>(this)->liveLegFor(user_id, device_id);
}

const PeerCall* GroupCall::focusLeg() const {
  for (const auto& [id, leg] : legs_) {
    if (!leg->ended() && leg->focus()) return leg.get();
  }
  return nullptr;
}

PeerCall* GroupCall::legByCallId(const std::string& call_id) {
  for (auto& [id, leg] : legs_) {
    if (leg->callId() == call_id) return leg.get();
  }
  return nullptr;
}

std::vector<const PeerCall*> GroupCall::legs() const {
  std::vector<const PeerCall*> v;
  for (const auto& [id, leg] : legs_) v.push_back(leg.get());
  return v;
}

void GroupCall::reconcileLegs(Actions& out) {
  auto ctx = context(out);
  for (auto& [id, leg] : legs_) {
    if (leg->ended() || leg->focus()) continue;  // the focus is no participant
    auto p = participants_.find({leg->userId(), leg->deviceId()});
    if (p != participants_.end()) {
      if (!wantsMeshLeg(p->second)) {
        // Mixed call: the device moved to a focus (ours, we assume); from now on we reach it through the
        // focus.
        ++counters_.mesh_legs_to_focus_user;
        leg->hangup(ctx, "replaced");
      } else if (p->second.session_id == leg->sessionId()) {
        if (!leg->confirmed()) {
          leg->setConfirmed(true);
          leg->setMediaEnabled(ctx, true);
        }
      } else if (leg->confirmed() || leg->outgoing()) {
        leg->hangup(ctx, "new_session");  // the device rejoined with a new session (MSC3401)
      }
      // An unconfirmed incoming leg with another session is likely newer than the member state we have.
    } else if (leg->confirmed()) {
      leg->hangup(ctx, "user_hangup");  // the device left or expired
    }
    afterLegEvent(*leg, out);
  }
  placeOutgoingCalls(out, false);
  releaseHeld(out);
}

void GroupCall::placeOutgoingCalls(Actions& out, bool retry) {
  if (!entered_ || !active_call_) return;
  // Focus mode: the leg to the focus, plus mesh legs with the devices that use no focus (mixed calls).
  if (focus_) placeFocusCall(out, retry);
  for (const auto& [key, p] : participants_) {
    if (!wantsMeshLeg(p)) continue;
    if (!wantsOutgoingCall(p.user_id, p.device_id)) continue;
    if (liveLegFor(p.user_id, p.device_id)) continue;
    auto& att = attempts_[key];
    if (att.session_id != p.session_id) att = Attempts{p.session_id, 0};
    const bool go = retry ? att.count <= config_.max_retries : att.count == 0;
    if (!go) continue;
    if (focus_ && meshLegCount() >= config_.max_mesh_peers) {
      // Tried again at every retry tick (without using up attempts), so a freed slot is taken.
      if (!att.over_cap_counted) {
        att.over_cap_counted = true;
        ++counters_.mesh_peers_over_cap;
        out.push_back(act::Warning{"not calling " + p.user_id + "/" + p.device_id +
                                   " (uses no focus): mesh peer limit of " +
                                   std::to_string(config_.max_mesh_peers) + " reached (--max-mesh-peers)"});
      }
      continue;
    }
    ++att.count;
    if (focus_) ++counters_.mesh_peer_legs;
    placeCall(p, out);
  }
}

void GroupCall::placeCall(const Participant& p, Actions& out) {
  if (legs_.size() >= config_.max_legs) {
    ++counters_.too_many_legs;
    return;
  }
  LegId id = ++next_leg_;
  auto leg = std::make_unique<PeerCall>(id, newCallId(), p.user_id, p.device_id, p.session_id, true);
  leg->setConfirmed(true);
  auto ctx = context(out);
  leg->start(ctx, true);
  legs_.emplace(id, std::move(leg));
}

void GroupCall::placeFocusCall(Actions& out, bool retry) {
  const proto::FocusInfo& f = *focus_;
  if (liveLegFor(f.user_id, f.device_id)) return;
  auto& att = attempts_[{f.user_id, f.device_id}];
  if (att.session_id != proto::kFocusSessionId) att = Attempts{std::string(proto::kFocusSessionId), 0};
  const bool go = retry ? att.count <= config_.max_retries : att.count == 0;
  if (!go) return;
  if (legs_.size() >= config_.max_legs) {
    ++counters_.too_many_legs;
    return;
  }
  ++att.count;
  LegId id = ++next_leg_;
  auto leg = std::make_unique<PeerCall>(id, newCallId(), f.user_id, f.device_id,
                                        std::string(proto::kFocusSessionId), true, true);
  leg->setConfirmed(true);
  auto ctx = context(out);
  leg->start(ctx, true);
  legs_.emplace(id, std::move(leg));
}

void GroupCall::afterLegEvent(PeerCall& leg, Actions& /*out*/) {
  if (leg.state() == LegState::Connected) {
    auto it = attempts_.find({leg.userId(), leg.deviceId()});
    if (it != attempts_.end() && it->second.session_id == leg.sessionId()) it->second.count = 1;
  }
}

void GroupCall::tombstone(const std::string& call_id) {
  tombstones_.push_back(call_id);
  if (tombstones_.size() > config_.max_tombstones) tombstones_.erase(tombstones_.begin());
}

void GroupCall::pruneEnded() {
  for (auto it = legs_.begin(); it != legs_.end();) {
    if (it->second->ended()) {
      tombstone(it->second->callId());
      seq_.forget(SeqKey{it->second->userId(), it->second->deviceId(), it->second->callId()});
      it = legs_.erase(it);
    } else {
      ++it;
    }
  }
}

// ---------------------------------------------------------------- to-device

void GroupCall::onToDevice(const in::ToDeviceReceived& in, Actions& out) {
  ++counters_.to_device_received;
  const auto& msg = in.message;
  if (!proto::parseSignalType(msg.type)) {
    ++counters_.not_call_event;
    return;
  }
  auto parsed = proto::parseCallSignal(msg.type, msg.content);
  if (!parsed) {
    ++counters_.malformed;
    CHORUS_LOG(Debug, "core",
               "dropped " << msg.type << " from " << msg.sender << ": " << parsed.error().message);
    return;
  }
  proto::CallSignal& sig = *parsed;
  if (sig.device_id.empty()) {
    ++counters_.malformed;
    return;
  }
  if (msg.sender == config_.user_id && sig.device_id == config_.device_id) {
    ++counters_.own_echo;
    return;
  }
  if (!entered_ || !active_call_) {
    ++counters_.not_entered;
    return;
  }
  if (sig.dest_session_id != config_.session_id) {
    ++counters_.wrong_session;
    return;
  }
  if (sig.conf_id != *active_call_) {
    ++counters_.wrong_conf_id;
    if (sig.type == SignalType::Invite) {
      ++counters_.invites_rejected;
      sendStandalone(msg.sender, sig, SignalType::Reject, "", out);
    }
    return;
  }
  auto res = seq_.push(SeqItem{msg.sender, std::move(sig), approxSize(msg.content)}, clock_.nowMs());
  if (res.dropped) {
    switch (*res.dropped) {
      case SeqDrop::Duplicate:
        ++counters_.seq_duplicate;
        break;
      case SeqDrop::BeyondWindow:
        ++counters_.seq_beyond_window;
        break;
      case SeqDrop::BufferFull:
        ++counters_.seq_buffer_full;
        break;
      case SeqDrop::TooManyKeys:
        ++counters_.seq_too_many_keys;
        break;
    }
  }
  for (auto& item : res.ready) dispatch(item.sender, item.signal, out);
}

void GroupCall::dispatch(const std::string& sender, const proto::CallSignal& sig, Actions& out) {
  if (std::find(tombstones_.begin(), tombstones_.end(), sig.call_id) != tombstones_.end()) {
    ++counters_.ended_call;
    return;
  }
  if (sig.type == SignalType::Invite) {
    onInvite(sender, sig, out);
    return;
  }
  PeerCall* leg = legByCallId(sig.call_id);
  if (!leg || leg->userId() != sender || leg->deviceId() != sig.device_id) {
    if (!leg && holdFollowup(sender, sig, out)) return;
    ++counters_.unknown_call;
    // A hangup/reject for a call we never saw: remember it, so a late invite is not answered.
    if (sig.type == SignalType::Hangup || sig.type == SignalType::Reject) tombstone(sig.call_id);
    return;
  }
  auto ctx = context(out);
  leg->onSignal(ctx, sig);
  afterLegEvent(*leg, out);
}

void GroupCall::onInvite(const std::string& sender, const proto::CallSignal& sig, Actions& out) {
  if (sig.invitee && *sig.invitee != config_.user_id) {
    ++counters_.wrong_invitee;
    return;
  }
  if (!sig.description || sig.description->type != "offer" || sig.sender_session_id.empty()) {
    ++counters_.malformed;
    return;
  }
  if (legByCallId(sig.call_id)) return;  // duplicate invite
  if (!plausibleOfferSdp(sig.description->sdp)) {
    ++counters_.invalid_offer;
    ++counters_.invites_rejected;
    sendStandalone(sender, sig, SignalType::Reject, "invalid_offer", out);
    return;
  }
  // Only a participant (this device, with this session, in the call's member state) gets a leg. Anyone else
  // -- a device whose member event has not reached us yet, or any room member inventing device ids -- is held
  // without a leg or media until its member event arrives (releaseHeld), else rejected (expireHeld).
  if (!isParticipantSession(sender, sig)) {
    holdInvite(sender, sig, out);
    return;
  }
  const bool mixed = focus_.has_value();
  if (mixed) {
    // Focus mode: a device that uses a focus is reached through the focus (a mesh caller that entered before
    // it could see one); a device that uses none gets a mesh leg, up to CallConfig::max_mesh_peers (mixed
    // calls).
    if (!wantsMeshLeg(participants_.at({sender, sig.device_id}))) {
      ++counters_.mesh_invites_in_focus_mode;
      ++counters_.invites_rejected;
      sendStandalone(sender, sig, SignalType::Reject, "", out);
      return;
    }
    if (!liveLegFor(sender, sig.device_id) && meshLegCount() >= config_.max_mesh_peers) {
      ++counters_.mesh_peers_over_cap;
      ++counters_.invites_rejected;
      CHORUS_LOG(Info, "core",
                 "rejected a mesh invite from " << sender << "/" << sig.device_id << ": mesh peer limit of "
                                                << config_.max_mesh_peers << " reached");
      sendStandalone(sender, sig, SignalType::Reject, "mesh_peer_limit", out);
      return;
    }
  }
  auto ctx = context(out);
  if (PeerCall* existing = liveLegFor(sender, sig.device_id)) {
    const bool glare = existing->outgoing() && (existing->state() == LegState::CreatingOffer ||
                                                existing->state() == LegState::InviteSent);
    if (glare) {
      ++counters_.glare_resolved;
      // Both sides invited: the lower call_id wins (spec glare rule, as js-sdk and hydrogen do).
      if (existing->callId() < sig.call_id) {
        sendStandalone(sender, sig, SignalType::Hangup, "replaced", out);
        return;
      }
    }
    existing->hangup(ctx, "replaced");
  }
  if (legs_.size() >= config_.max_legs) {
    ++counters_.too_many_legs;
    sendStandalone(sender, sig, SignalType::Hangup, "user_busy", out);
    return;
  }
  if (legsOfUser(sender) >= config_.max_legs_per_user) {
    ++counters_.too_many_legs_per_user;
    sendStandalone(sender, sig, SignalType::Hangup, "user_busy", out);
    return;
  }
  if (mixed) ++counters_.mesh_peer_legs;
  LegId id = ++next_leg_;
  auto leg = std::make_unique<PeerCall>(id, sig.call_id, sender, sig.device_id, sig.sender_session_id, false);
  leg->setConfirmed(true);
  leg->startFromInvite(ctx, sig, true);
  legs_.emplace(id, std::move(leg));
}

bool GroupCall::isParticipantSession(const std::string& user_id, const proto::CallSignal& sig) const {
  auto p = participants_.find({user_id, sig.device_id});
  return p != participants_.end() && p->second.session_id == sig.sender_session_id;
}

std::size_t GroupCall::legsOfUser(const std::string& user_id) const {
  std::size_t n = 0;
  for (const auto& [id, leg] : legs_) n += (!leg->ended() && leg->userId() == user_id) ? 1 : 0;
  return n;
}

void GroupCall::holdInvite(const std::string& sender, const proto::CallSignal& sig, Actions& /*out*/) {
  const TimeMs now = clock_.nowMs();
  std::size_t of_sender = 0;
  for (auto& h : held_) {
    if (h.invite.call_id == sig.call_id) return;  // a repeated invite, already held
    if (h.sender == sender && h.invite.device_id == sig.device_id) {
      // A newer call from the same device (a retry or a new session) replaces the held one.
      tombstone(h.invite.call_id);
      h.invite = sig;
      h.followups.clear();
      h.until = now + config_.invite_grace_ms;
      return;
    }
    of_sender += h.sender == sender ? 1 : 0;
  }
  // Invites beyond the hold are dropped without an answer: answering each would let any member make us send
  // (and get rate-limited for, delaying our delayed-leave restarts) one request per invite it invents. A
  // genuine caller that is dropped times out and calls again once it sees our member event... or we call it.
  if (config_.invite_grace_ms <= 0 || of_sender >= config_.max_held_invites_per_user) {
    ++counters_.held_invites_overflow;
    tombstone(sig.call_id);
    return;
  }
  if (held_.size() >= config_.max_held_invites) {
    // Full: the user holding the most gives up its oldest, unless that is the sender itself; so invites
    // invented by one member (or a few) cannot keep a genuine newcomer's invite out.
    std::map<std::string, std::size_t> per_user;
    for (const auto& h : held_) ++per_user[h.sender];
    auto top = std::max_element(per_user.begin(), per_user.end(),
                                [](const auto& a, const auto& b) { return a.second < b.second; });
    if (top == per_user.end() || top->second <= of_sender + 1) {
      ++counters_.held_invites_overflow;
      tombstone(sig.call_id);
      return;
    }
    const std::string victim = top->first;
    for (std::size_t i = 0; i < held_.size(); ++i) {
      if (held_[i].sender == victim) {
        ++counters_.held_invites_overflow;
        tombstone(held_[i].invite.call_id);
        held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
  }
  ++counters_.invites_held;
  held_.push_back(HeldInvite{sender, sig, now + config_.invite_grace_ms, {}});
}

bool GroupCall::holdFollowup(const std::string& sender, const proto::CallSignal& sig, Actions& /*out*/) {
  for (std::size_t i = 0; i < held_.size(); ++i) {
    auto& h = held_[i];
    if (h.invite.call_id != sig.call_id || h.sender != sender || h.invite.device_id != sig.device_id)
      continue;
    if (sig.type == SignalType::Hangup || sig.type == SignalType::Reject) {
      ++counters_.held_invites_withdrawn;
      tombstone(sig.call_id);
      held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
      return true;
    }
    if (h.followups.size() >= config_.max_held_followups) {
      ++counters_.held_followups_dropped;
      return true;
    }
    h.followups.push_back(sig);
    return true;
  }
  return false;
}

void GroupCall::releaseHeld(Actions& out) {
  if (held_.empty() || !entered_) return;
  std::vector<HeldInvite> ready;
  for (auto it = held_.begin(); it != held_.end();) {
    if (isParticipantSession(it->sender, it->invite)) {
      ready.push_back(std::move(*it));
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& h : ready) {
    ++counters_.held_invites_released;
    onInvite(h.sender, h.invite, out);
    for (const auto& f : h.followups) dispatch(h.sender, f, out);
  }
}

void GroupCall::rejectHeld(std::size_t index, const std::string& reason, Actions& out) {
  HeldInvite h = std::move(held_[index]);
  held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(index));
  ++counters_.invites_rejected;
  sendStandalone(h.sender, h.invite, SignalType::Reject, reason, out);
}

void GroupCall::expireHeld(Actions& out) {
  const TimeMs now = clock_.nowMs();
  for (std::size_t i = 0; i < held_.size();) {
    if (held_[i].until <= now) {
      ++counters_.held_invites_expired;
      CHORUS_LOG(Info, "core",
                 "rejected an invite from " << held_[i].sender << "/" << held_[i].invite.device_id
                                            << ": that device and session did not join the call within "
                                            << config_.invite_grace_ms << " ms");
      rejectHeld(i, "not_member", out);
    } else {
      ++i;
    }
  }
}

void GroupCall::sendStandalone(const std::string& user_id, const proto::CallSignal& incoming, SignalType type,
                               const std::string& reason, Actions& out) {
  proto::CallSignal s;
  s.type = type;
  s.call_id = incoming.call_id;
  s.party_id = config_.device_id;
  s.version = "1";
  s.conf_id = incoming.conf_id;
  s.device_id = config_.device_id;
  s.sender_session_id = config_.session_id;
  s.dest_session_id = incoming.sender_session_id;
  s.seq = 0;  // the first and only message we send on that call_id
  if (!reason.empty()) {
    // m.call.reject has no reason in MSC2746; like the focus we add one anyway (tells the caller's logs why).
    if (type == SignalType::Reject) {
      s.extra["reason"] = reason;
    } else {
      s.reason = reason;
    }
  }
  out.push_back(act::SendToDevice{++next_request_, std::string(proto::eventTypeFor(type)), user_id,
                                  incoming.device_id, proto::serializeCallSignal(s)});
  tombstone(incoming.call_id);
}

// ---------------------------------------------------------------- time

std::optional<TimeMs> GroupCall::nextTimeout() const {
  std::optional<TimeMs> t;
  auto consider = [&t](std::optional<TimeMs> v) {
    if (v && (!t || *v < *t)) t = v;
  };
  consider(seq_.nextTimeout());
  for (const auto& [id, leg] : legs_) consider(leg->nextTimeout());
  consider(refresh_at_);
  consider(retry_at_);
  consider(member_retry_at_);
  consider(next_expiry_);
  for (const auto& h : held_) consider(h.until);
  return t;
}

void GroupCall::onTick(Actions& out) {
  const TimeMs now = clock_.nowMs();
  for (auto& item : seq_.onTimeout(now)) dispatch(item.sender, item.signal, out);
  expireHeld(out);
  bool leg_ended = false;
  {
    auto ctx = context(out);
    for (auto& [id, leg] : legs_) {
      auto t = leg->nextTimeout();
      if (t && *t <= now) {
        leg->onTimeout(ctx);
        afterLegEvent(*leg, out);
        leg_ended |= leg->ended();
      }
    }
  }
  if (leg_ended && entered_) {
    pruneEnded();
    placeOutgoingCalls(out, true);  // e.g. a leg given up after a disconnect: call that device again now
  }
  if (entered_ && ((refresh_at_ && *refresh_at_ <= now) || (member_retry_at_ && *member_retry_at_ <= now))) {
    writeMember(out, true);
  }
  if (next_expiry_ && *next_expiry_ <= now) {
    updateParticipants(out);
    if (entered_) reconcileLegs(out);
  }
  if (entered_ && retry_at_ && *retry_at_ <= now) {
    retry_at_ = now + config_.retry_interval_ms;
    placeOutgoingCalls(out, true);
  }
}

}  // namespace chorus::core
