#include "focus/controller.hpp"

#include "base/overloaded.hpp"

#include <algorithm>
#include <functional>
#include <limits>

#include "base/log.hpp"
#include "proto/event_types.hpp"

namespace chorus::focus {

using proto::SignalType;

namespace {

bool namesFocus(const proto::Participant& p, const std::string& user, const std::string& device) {
  auto match = [&](const proto::FocusInfo& f) { return f.user_id == user && f.device_id == device; };
  return std::any_of(p.foci_active.begin(), p.foci_active.end(), match) ||
         std::any_of(p.foci_preferred.begin(), p.foci_preferred.end(), match);
}

// Who sees whom (TrackIds): the participants of one conference (room_id "" for rooms the focus has not
// joined).
std::string conferenceKey(const std::string& room_id, const std::string& conf_id) {
  return room_id + '\n' + conf_id;
}
}  // namespace

std::optional<UnjoinedRooms> parseUnjoinedRooms(std::string_view s) {
  if (s == "off") return UnjoinedRooms::Off;
  if (s == "own-server") return UnjoinedRooms::OwnServer;
  if (s == "allow-list") return UnjoinedRooms::AllowList;
  return std::nullopt;
}

std::string_view toString(UnjoinedRooms p) {
  switch (p) {
    case UnjoinedRooms::Off:
      return "off";
    case UnjoinedRooms::OwnServer:
      return "own-server";
    case UnjoinedRooms::AllowList:
      return "allow-list";
  }
  return "off";
}

std::string checkUnjoinedRooms(const ControllerConfig& c) {
  if (c.unjoined_rooms == UnjoinedRooms::AllowList && c.unjoined_allowed_servers.empty())
    return "the unjoined-rooms policy allow-list needs at least one server (--unjoined-allow-server)";
  if (c.unjoined_rooms != UnjoinedRooms::AllowList && !c.unjoined_allowed_servers.empty())
    return "servers for rooms the focus has not joined (--unjoined-allow-server) need the policy allow-list "
           "(--unjoined-rooms allow-list)";
  return {};
}

std::string serverOfUser(std::string_view user_id) {
  if (user_id.size() < 3 || user_id[0] != '@') return {};
  const auto colon = user_id.find(':');
  if (colon == std::string_view::npos || colon == 1 || colon + 1 == user_id.size()) return {};
  return std::string(user_id.substr(colon + 1));
}

Controller::Controller(ControllerConfig config, const Clock& clock)
    : config_(std::move(config)), clock_(clock) {}

const Participant* Controller::participant(ParticipantId id) const {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : &it->second;
}

std::vector<const Participant*> Controller::participants() const {
  std::vector<const Participant*> v;
  for (const auto& [id, p] : peers_) v.push_back(&p);
  return v;
}

Actions Controller::handle(const Input& input) {
  Actions out;
  std::visit(
      Overloaded{
          [&](const in::RoomInvite& i) {
            if (i.room_id.empty() || !roomAllowed(i.room_id) ||
                rooms_.size() + pending_joins_.size() >= config_.max_rooms) {
              ++counters_.room_invites_refused;
              out.push_back(act::Warning{"refused the invite to " + i.room_id + " from " + i.inviter});
              return;
            }
            if (!rooms_.count(i.room_id) && pending_joins_.insert(i.room_id).second) {
              out.push_back(act::JoinRoom{i.room_id});
            }
          },
          [&](const in::RoomJoined& i) {
            pending_joins_.erase(i.room_id);
            rooms_.try_emplace(i.room_id);
          },
          [&](const in::RoomStateChanged& i) {
            auto it = rooms_.find(i.room_id);
            if (it == rooms_.end()) return;
            for (const auto& ev : i.events) it->second.apply(ev);
            recheckMembership(i.room_id, out);
            verifyUnjoined(out);
            retryHeld(out);
          },
          [&](const in::ToDevice& i) { onToDevice(i.message, out); },
          [&](const in::PeerAnswerReady& i) {
            auto it = peers_.find(i.peer);
            if (it == peers_.end()) return;
            Participant& p = it->second;
            auto sig = base(p, SignalType::Answer);
            sig.description = proto::SessionDescription{"answer", i.sdp};
            sig.metadata = availableTo(p);
            sig.seq = p.tx_seq;
            std::size_t size = boost::json::serialize(proto::serializeCallSignal(sig)).size();
            if (size > config_.max_to_device_bytes) {
              // ~150 bytes per stream: a call of ~400 participants. It learns them over the data channel.
              const std::size_t streams = sig.metadata->size();
              sig.metadata.reset();
              size = boost::json::serialize(proto::serializeCallSignal(sig)).size();
              if (size > config_.max_to_device_bytes) {
                ++counters_.answers_too_large;
                out.push_back(act::Warning{"the answer to " + p.user_id + "/" + p.device_id + " would be " +
                                           std::to_string(size) + " bytes, over max_to_device_bytes " +
                                           std::to_string(config_.max_to_device_bytes) + "; hanging up"});
                remove(p, "answer_too_large", true, out);
                return;
              }
              ++counters_.answers_without_metadata;
              if (counters_.answers_without_metadata == 1) {
                out.push_back(act::Warning{
                    "the metadata of " + std::to_string(streams) +
                    " streams does not fit in an m.call.answer (max_to_device_bytes " +
                    std::to_string(config_.max_to_device_bytes) +
                    "): answers go without it, participants are told over the data channel (said once)"});
              }
            }
            sendSignal(p, std::move(sig), out);
          },
          [&](const in::PeerCandidate& i) {
            auto it = peers_.find(i.peer);
            if (it == peers_.end()) return;
            auto sig = base(it->second, SignalType::Candidates);
            sig.candidates = {i.candidate};  // one per message, as waterfall did
            sendSignal(it->second, std::move(sig), out);
          },
          [&](const in::PeerConnected& i) {
            auto it = peers_.find(i.peer);
            if (it == peers_.end() || it->second.connected) return;
            it->second.connected = true;
            it->second.next_ping_at = clock_.nowMs() + config_.ping_interval_ms;
            it->second.metadata_version = ++metadata_version_;
            broadcastMetadata(it->second.room_id, it->second.conf_id, out);
            tellAudioSlots(it->second, out);
          },
          [&](const in::PeerFailed& i) {
            auto it = peers_.find(i.peer);
            if (it != peers_.end()) remove(it->second, "ice_failed", true, out);
          },
          [&](const in::DataChannelMessage& i) {
            auto it = peers_.find(i.peer);
            if (it != peers_.end()) onDataChannel(it->second, i.text, out);
          },
          [&](const in::Shutdown&) {
            for (auto it = peers_.begin(); it != peers_.end();) {
              Participant& p = (it++)->second;
              auto sig = base(p, SignalType::Hangup);
              sig.reason = "user_hangup";
              sendSignal(p, std::move(sig), out);
              out.push_back(act::ClosePeer{p.id});
            }
            peers_.clear();
          },
          [&](const in::DownlinkPaused& i) {
            auto it = peers_.find(i.peer);
            if (it == peers_.end() || it->second.paused_video == i.streams) return;
            Participant& p = it->second;
            p.paused_video = i.streams;
            p.metadata_dirty = p.connected;  // if not, it is told with everything else when it connects
            p.metadata_whole = true;         // a delta would only add pauses
          },
          [&](const in::AudioSlotSpeakers& i) {
            auto it = peers_.find(i.peer);
            if (it == peers_.end()) return;
            it->second.audio_slot_input = i.slots;
            tellAudioSlots(it->second, out);
          },
          [&](const in::Tick&) {
            const TimeMs now = clock_.nowMs();
            for (auto it = peers_.begin(); it != peers_.end();) {
              Participant& p = (it++)->second;
              if (!p.connected && now - p.created_at >= config_.connect_timeout_ms) {
                remove(p, "ice_failed", true, out);
              } else if (p.connected && p.ping_sent_at && now - *p.ping_sent_at >= config_.pong_timeout_ms) {
                ++counters_.removed_keepalive;
                out.push_back(act::Warning{
                    "removing " + p.user_id + "/" + p.device_id + ": no pong within " +
                        std::to_string(config_.pong_timeout_ms / 1000) + " s of the ping; " +
                        std::to_string(p.dc_messages) + " data-channel messages from it, " +
                        (p.dc_messages == 0
                             ? std::string("none")
                             : "the last " + std::to_string((now - p.last_dc_at) / 1000) + " s ago"),
                    true});
                remove(p, "keep_alive_timeout", true, out);
              } else if (p.connected && !p.ping_sent_at && now >= p.next_ping_at) {
                proto::FocusMessage ping;
                ping.type = proto::FocusMessageType::Ping;
                out.push_back(act::SendDataChannel{p.id, proto::serializeFocusMessage(ping)});
                p.ping_sent_at = now;
                p.next_ping_at = now + config_.ping_interval_ms;
              }
            }
            std::set<std::string> rooms;
            bool verify = false;
            for (const auto& [id, p] : peers_) {
              if (!p.unjoined && p.expires_ts <= now) rooms.insert(p.room_id);
              verify |= p.verify_by && *p.verify_by <= now;
            }
            for (const auto& r : rooms) recheckMembership(r, out);
            if (verify) verifyUnjoined(out);
            if (std::any_of(held_.begin(), held_.end(),
                            [now](const HeldInvite& h) { return h.until <= now; })) {
              retryHeld(out);
            }
          },
      },
      input);
  flushMetadata(out);
  return out;
}

std::optional<TimeMs> Controller::nextTimeout() const {
  std::optional<TimeMs> t;
  auto consider = [&t](TimeMs v) {
    if (!t || v < *t) t = v;
  };
  for (const auto& [id, p] : peers_) {
    if (!p.connected) {
      consider(p.created_at + config_.connect_timeout_ms);
    } else if (p.ping_sent_at) {
      consider(*p.ping_sent_at + config_.pong_timeout_ms);
    } else {
      consider(p.next_ping_at);
    }
    if (p.unjoined) {
      if (p.verify_by) consider(*p.verify_by);
    } else {
      consider(p.expires_ts);
    }
  }
  for (const auto& h : held_) consider(h.until);
  std::optional<std::map<std::string, std::size_t>> sizes;  // only when someone waits for its metadata
  for (const auto& [id, p] : peers_) {
    if (!p.connected || !p.metadata_dirty) continue;
    if (!p.metadata_sent_at) {
      consider(clock_.nowMs());
      continue;
    }
    if (!sizes) sizes = conferenceSizes();
    consider(*p.metadata_sent_at + metadataInterval((*sizes)[conferenceKey(p.room_id, p.conf_id)]));
  }
  return t;
}

bool Controller::roomAllowed(const std::string& room_id) const {
  if (!config_.allowed_rooms.empty()) {
    return std::find(config_.allowed_rooms.begin(), config_.allowed_rooms.end(), room_id) !=
           config_.allowed_rooms.end();
  }
  if (!config_.allowed_servers.empty()) {
    auto colon = room_id.find(':');
    if (colon == std::string::npos) return false;
    const std::string server = room_id.substr(colon + 1);
    return std::find(config_.allowed_servers.begin(), config_.allowed_servers.end(), server) !=
           config_.allowed_servers.end();
  }
  return true;
}

std::optional<std::string> Controller::roomOfConf(const std::string& conf_id) const {
  for (const auto& [room_id, state] : rooms_) {
    const auto* rec = state.call(conf_id);
    if (rec && !rec->event.terminated) return room_id;
  }
  return std::nullopt;
}

Participant* Controller::findParticipant(const std::string& user, const std::string& device,
                                         const std::string& call_id) {
  for (auto& [id, p] : peers_) {
    if (p.user_id == user && p.device_id == device && p.call_id == call_id) return &p;
  }
  return nullptr;
}

std::size_t Controller::conferenceSize(const std::string& room_id, const std::string& conf_id) const {
  std::size_t n = 0;
  for (const auto& [id, p] : peers_) n += (p.room_id == room_id && p.conf_id == conf_id) ? 1 : 0;
  return n;
}

proto::CallSignal Controller::base(const Participant& p, SignalType type) const {
  proto::CallSignal s;
  s.type = type;
  s.call_id = p.call_id;
  s.party_id = config_.device_id;
  s.version = "1";
  s.conf_id = p.conf_id;
  s.device_id = config_.device_id;
  s.sender_session_id = std::string(proto::kFocusSessionId);
  s.dest_session_id = p.session_id;
  return s;
}

void Controller::sendSignal(Participant& p, proto::CallSignal sig, Actions& out) {
  sig.seq = p.tx_seq++;
  out.push_back(proto::SendToDevice{0, std::string(proto::eventTypeFor(sig.type)), p.user_id, p.device_id,
                                    proto::serializeCallSignal(sig)});
}

void Controller::reject(const std::string& sender, const proto::CallSignal& sig, std::string_view reason,
                        const std::string& why, Actions& out) {
  proto::CallSignal r;
  r.type = SignalType::Reject;
  r.call_id = sig.call_id;
  r.party_id = config_.device_id;
  r.version = "1";
  r.conf_id = sig.conf_id;
  r.device_id = config_.device_id;
  r.sender_session_id = std::string(proto::kFocusSessionId);
  r.dest_session_id = sig.sender_session_id;
  r.seq = 0;
  r.extra["reason"] = reason;  // not in MSC2746's m.call.reject; tells the participant (and its logs) why
  out.push_back(proto::SendToDevice{0, std::string(proto::eventTypeFor(SignalType::Reject)), sender,
                                    sig.device_id, proto::serializeCallSignal(r)});
  out.push_back(act::Warning{"rejected " + sender + "/" + sig.device_id + " for " + sig.conf_id + ": " + why +
                             " (" + std::string(reason) + ")"});
}

void Controller::onToDevice(const proto::ToDeviceMessage& m, Actions& out) {
  if (!proto::parseSignalType(m.type)) {
    ++counters_.dropped_to_device;
    return;
  }
  auto parsed = proto::parseCallSignal(m.type, m.content);
  if (!parsed || parsed->dest_session_id != proto::kFocusSessionId) {
    ++counters_.dropped_to_device;
    return;
  }
  const proto::CallSignal& sig = *parsed;
  if (sig.type == SignalType::Invite) {
    onInvite(m.sender, sig, out);
    return;
  }
  Participant* p = findParticipant(m.sender, sig.device_id, sig.call_id);
  if (!p) {
    ++counters_.dropped_to_device;
    return;
  }
  switch (sig.type) {
    case SignalType::Candidates:
      for (const auto& c : sig.candidates) out.push_back(act::AddRemoteCandidate{p->id, c});
      break;
    case SignalType::SelectAnswer:
      if (sig.selected_party_id != config_.device_id) remove(*p, "answered_elsewhere", false, out);
      break;
    case SignalType::Hangup:
    case SignalType::Reject:
      remove(*p, sig.reason.value_or("user_hangup"), false, out);
      break;
    case SignalType::Negotiate:
      if (sig.description) out.push_back(act::ApplyDescription{p->id, *sig.description});
      if (sig.metadata) {
        const bool moved = setPublished(*p, *sig.metadata);
        broadcastMetadata(p->room_id, p->conf_id, out, moved ? 0 : p->id, moved);
      }
      break;
    case SignalType::SdpStreamMetadataChanged:
      if (sig.metadata) {
        const bool moved = setPublished(*p, *sig.metadata);
        broadcastMetadata(p->room_id, p->conf_id, out, moved ? 0 : p->id, moved);
      }
      break;
    default:
      ++counters_.dropped_to_device;
  }
}

bool Controller::hold(const std::string& sender, const proto::CallSignal& sig, std::optional<TimeMs> until) {
  const TimeMs now = clock_.nowMs();
  const TimeMs deadline = until.value_or(now + config_.invite_grace_ms);
  if (now >= deadline) return false;
  for (auto& h : held_) {
    if (h.sender == sender && h.sig.device_id == sig.device_id) {  // a newer invite from that device wins
      h.sig = sig;
      h.until = deadline;
      return true;
    }
  }
  if (held_.size() >= kMaxHeldInvites) return false;
  held_.push_back(HeldInvite{sender, sig, deadline});
  return true;
}

void Controller::retryHeld(Actions& out) {
  auto held = std::move(held_);
  held_.clear();
  for (auto& h : held) onInvite(h.sender, h.sig, out, h.until);
}

void Controller::onInvite(const std::string& sender, const proto::CallSignal& sig, Actions& out,
                          std::optional<TimeMs> held_until) {
  if (!sig.description || sig.description->type != "offer") {
    ++counters_.dropped_to_device;
    return;
  }
  // Room state and to-device messages reach the focus on different streams, so an invite may arrive before
  // the member event that allows it: such invites wait (invite_grace_ms) for the state before they are
  // rejected.
  // A conf_id of no room the focus has joined is served only under the UnjoinedRooms policy, at once (no
  // hold): if the call later turns up in a joined room, verifyUnjoined() applies the full checks.
  auto room_id = roomOfConf(sig.conf_id);
  const TimeMs now = clock_.nowMs();
  std::optional<proto::Participant> participant;
  if (!room_id) {
    if (!unjoinedAllowed(sender)) {
      if (hold(sender, sig, held_until)) return;
      ++counters_.rejected_unknown_conf;
      reject(sender, sig, "unknown_conf",
             config_.unjoined_rooms == UnjoinedRooms::Off
                 ? "no room of this focus has that call"
                 : "no room of this focus has that call, and rooms it has not joined are not served for "
                   "users of " +
                       serverOfUser(sender),
             out);
      return;
    }
  } else {
    participant = rooms_.at(*room_id).participant(sig.conf_id, sender, sig.device_id, now);
    if (!participant || participant->session_id != sig.sender_session_id) {
      if (hold(sender, sig, held_until)) return;
      ++counters_.rejected_not_member;
      reject(sender, sig, "not_member", "that device and session are not in the call's member state", out);
      return;
    }
    if (!namesFocus(*participant, config_.user_id, config_.device_id)) {
      if (hold(sender, sig, held_until)) return;
      ++counters_.rejected_not_our_focus;
      reject(sender, sig, "not_our_focus", "the member event does not name this focus", out);
      return;
    }
  }
  const std::string conf_room = room_id.value_or("");  // unjoined conferences: keyed by conf_id alone
  if (Participant* dup = findParticipant(sender, sig.device_id, sig.call_id)) {
    (void)dup;  // a repeated invite for the same call: already being served
    return;
  }
  // A new call from the same device replaces the old one (a new session or a retry).
  for (auto it = peers_.begin(); it != peers_.end();) {
    Participant& old = (it++)->second;
    if (old.user_id == sender && old.device_id == sig.device_id) {
      remove(old, old.session_id == sig.sender_session_id ? "replaced" : "new_session", true, out);
    }
  }
  std::set<std::pair<std::string, std::string>> conferences;
  for (const auto& [id, p] : peers_) conferences.insert({p.room_id, p.conf_id});
  const bool new_conference = !conferences.count({conf_room, sig.conf_id});
  if ((new_conference && conferences.size() >= config_.max_conferences) ||
      conferenceSize(conf_room, sig.conf_id) >= config_.max_participants_per_conference) {
    ++counters_.rejected_full;
    reject(sender, sig, "focus_full", "the focus is full", out);
    return;
  }
  if (!room_id) {
    const std::string server = serverOfUser(sender);
    std::size_t of_user = 0, of_server = 0;
    for (const auto& [id, p] : peers_) {
      if (!p.unjoined) continue;
      of_user += p.user_id == sender ? 1 : 0;
      of_server += serverOfUser(p.user_id) == server ? 1 : 0;
    }
    if (of_user >= config_.max_unjoined_per_user) {
      ++counters_.rejected_unjoined_limit;
      reject(sender, sig, "unjoined_user_limit",
             "this user already has " + std::to_string(of_user) +
                 " sessions in conferences of rooms the focus has not joined",
             out);
      return;
    }
    if (of_server >= config_.max_unjoined_per_server) {
      ++counters_.rejected_unjoined_limit;
      reject(sender, sig, "unjoined_server_limit",
             "users of " + server + " already have " + std::to_string(of_server) +
                 " sessions in conferences of rooms the focus has not joined",
             out);
      return;
    }
  }
  Participant p;
  p.id = ++next_peer_;
  p.room_id = conf_room;
  p.conf_id = sig.conf_id;
  p.user_id = sender;
  p.device_id = sig.device_id;
  p.session_id = sig.sender_session_id;
  p.call_id = sig.call_id;
  p.created_at = now;
  if (participant) {
    p.expires_ts = participant->expires_ts;
  } else {
    p.unjoined = true;
    p.expires_ts = std::numeric_limits<TimeMs>::max();
    ++counters_.invites_accepted_unjoined;
    out.push_back(act::Warning{"serving " + sender + "/" + sig.device_id + " in " + sig.conf_id +
                               ", a call of no room this focus has joined (unjoined-rooms policy " +
                               std::string(toString(config_.unjoined_rooms)) + ")"});
  }
  ++counters_.invites_accepted;
  out.push_back(act::CreatePeer{p.id, p.room_id, p.conf_id, p.user_id, p.device_id, sig.description->sdp});
  Participant& added = peers_.emplace(p.id, std::move(p)).first->second;
  if (sig.metadata) setPublished(added, *sig.metadata);  // its own ids first: its view avoids them
  ids_.setConference(added.id, conferenceKey(added.room_id, added.conf_id));
}

void Controller::onDataChannel(Participant& p, const std::string& text, Actions& out) {
  ++p.dc_messages;
  p.last_dc_at = clock_.nowMs();
  if (text.size() > config_.max_data_channel_message) {
    ++counters_.dropped_data_channel;
    return;
  }
  auto msg = proto::parseFocusMessage(text);
  if (!msg) {
    ++counters_.dropped_data_channel;
    return;
  }
  switch (msg->type) {
    case proto::FocusMessageType::Pong:
      p.ping_sent_at.reset();
      break;
    case proto::FocusMessageType::Ping: {
      proto::FocusMessage pong;
      pong.type = proto::FocusMessageType::Pong;
      out.push_back(act::SendDataChannel{p.id, proto::serializeFocusMessage(pong)});
      break;
    }
    case proto::FocusMessageType::TrackSubscription:
      out.push_back(act::UpdateSubscriptions{p.id, msg->subscribe, msg->unsubscribe});
      break;
    case proto::FocusMessageType::Negotiate:
      if (msg->description) out.push_back(act::ApplyDescription{p.id, *msg->description});
      if (msg->metadata) {
        const bool moved = setPublished(p, *msg->metadata);
        broadcastMetadata(p.room_id, p.conf_id, out, moved ? 0 : p.id, moved);
      }
      break;
    case proto::FocusMessageType::SdpStreamMetadataChanged:
      if (msg->metadata) {
        const bool moved = setPublished(p, *msg->metadata);
        broadcastMetadata(p.room_id, p.conf_id, out, moved ? 0 : p.id, moved);
      }
      break;
    case proto::FocusMessageType::AudioSlots:  // the focus's own message: not from a participant
      ++counters_.dropped_data_channel;
      break;
  }
}

void Controller::recheckMembership(const std::string& room_id, Actions& out) {
  auto room = rooms_.find(room_id);
  if (room == rooms_.end()) return;
  const TimeMs now = clock_.nowMs();
  for (auto it = peers_.begin(); it != peers_.end();) {
    Participant& p = (it++)->second;
    if (p.unjoined || p.room_id != room_id) continue;
    auto part = room->second.participant(p.conf_id, p.user_id, p.device_id, now);
    const auto* call = room->second.call(p.conf_id);
    if (!part || part->session_id != p.session_id || !call || call->event.terminated ||
        !namesFocus(*part, config_.user_id, config_.device_id)) {
      ++counters_.removed_membership;
      remove(p, "user_hangup", true, out);
    } else {
      p.expires_ts = part->expires_ts;
    }
  }
}

bool Controller::unjoinedAllowed(const std::string& sender) const {
  const std::string server = serverOfUser(sender);
  if (server.empty()) return false;
  switch (config_.unjoined_rooms) {
    case UnjoinedRooms::Off:
      return false;
    case UnjoinedRooms::OwnServer:
      return server == serverOfUser(config_.user_id);
    case UnjoinedRooms::AllowList:
      return std::find(config_.unjoined_allowed_servers.begin(), config_.unjoined_allowed_servers.end(),
                       server) != config_.unjoined_allowed_servers.end();
  }
  return false;
}

void Controller::verifyUnjoined(Actions& out) {
  const TimeMs now = clock_.nowMs();
  std::set<std::pair<std::string, std::string>> changed;  // conferences whose set of participants changed
  for (auto it = peers_.begin(); it != peers_.end();) {
    Participant& p = (it++)->second;
    if (!p.unjoined) continue;
    auto room_id = roomOfConf(p.conf_id);
    if (!room_id) {
      p.verify_by.reset();
      continue;
    }
    auto part = rooms_.at(*room_id).participant(p.conf_id, p.user_id, p.device_id, now);
    if (part && part->session_id == p.session_id && namesFocus(*part, config_.user_id, config_.device_id)) {
      changed.insert({p.room_id, p.conf_id});
      changed.insert({*room_id, p.conf_id});
      p.room_id = *room_id;
      ids_.setConference(p.id, conferenceKey(p.room_id, p.conf_id));
      p.unjoined = false;
      p.verify_by.reset();
      p.expires_ts = part->expires_ts;
      ++counters_.promoted_unjoined;
      out.push_back(act::Warning{p.user_id + "/" + p.device_id + " in " + p.conf_id + ": the call is in " +
                                 *room_id + ", which this focus has joined, and its member entry passes"});
      continue;
    }
    if (!p.verify_by) p.verify_by = now + config_.invite_grace_ms;
    if (now >= *p.verify_by) {
      ++counters_.removed_unverified;
      out.push_back(act::Warning{p.user_id + "/" + p.device_id + " in " + p.conf_id + ": the call is in " +
                                 *room_id +
                                 ", which this focus has joined, and its member entry does not pass"});
      remove(p, "user_hangup", true, out);
    }
  }
  for (const auto& [room, conf] : changed) broadcastMetadata(room, conf, out, 0, true);
}

void Controller::remove(Participant& p, const std::string& reason, bool tell_peer, Actions& out) {
  if (tell_peer) {
    auto sig = base(p, SignalType::Hangup);
    sig.reason = reason;
    sendSignal(p, std::move(sig), out);
  }
  out.push_back(act::ClosePeer{p.id});
  const std::string room = p.room_id, conf = p.conf_id;
  std::vector<std::string> streams;
  for (const auto& [stream_id, m] : p.published) streams.push_back(stream_id);
  tellRemoved(p, streams);
  ids_.removePeer(p.id);
  peers_.erase(p.id);
  broadcastMetadata(room, conf, out);
}

bool Controller::setPublished(Participant& p, proto::SdpStreamMetadata metadata) {
  // Streams it no longer publishes: the others' next delta says so.
  std::vector<std::string> dropped;
  for (const auto& [stream_id, m] : p.published) {
    if (metadata.count(stream_id) == 0) dropped.push_back(stream_id);
  }
  tellRemoved(p, dropped);
  p.metadata_version = ++metadata_version_;
  p.published = std::move(metadata);
  std::vector<std::string> streams, tracks;
  for (const auto& [stream_id, m] : p.published) {
    streams.push_back(stream_id);
    for (const auto& [track_id, t] : m.tracks) tracks.push_back(track_id);
  }
  const bool moved = ids_.setIds(p.id, IdSource::Metadata, IdKind::Stream, streams);
  return ids_.setIds(p.id, IdSource::Metadata, IdKind::Track, tracks) || moved;
}

bool Controller::setTransportIds(ParticipantId peer, const std::vector<std::string>& stream_ids,
                                 const std::vector<std::string>& track_ids) {
  if (!peers_.count(peer)) return false;
  const bool moved = ids_.setIds(peer, IdSource::Transport, IdKind::Stream, stream_ids);
  return ids_.setIds(peer, IdSource::Transport, IdKind::Track, track_ids) || moved;
}

proto::SdpStreamMetadata Controller::availableTo(const Participant& peer, std::uint64_t newer_than) const {
  proto::SdpStreamMetadata md;
  for (const auto& [id, other] : peers_) {
    if (other.id == peer.id || other.room_id != peer.room_id || other.conf_id != peer.conf_id) continue;
    if (newer_than > 0 && other.metadata_version <= newer_than) continue;
    // Under the ids this peer sees them by: unique among everything it is told, so nothing is dropped or
    // merged; ids that cannot be named (empty, over 64 characters, not visible ASCII) are left out.
    std::set<std::string_view> tracks_told;  // a track listed under two streams of one publisher: once
    for (const auto& [stream_id, m] : other.published) {
      const std::string* sid = ids_.publicId(peer.id, IdKind::Stream, other.id, stream_id);
      if (sid == nullptr) continue;
      proto::StreamMetadata tagged = m;
      tagged.user_id = other.user_id;
      tagged.device_id = other.device_id;
      tagged.video_paused = peer.paused_video.count({other.id, stream_id}) != 0;
      if (tagged.video_paused) tagged.video_muted = true;
      tagged.tracks.clear();
      for (const auto& [track_id, t] : m.tracks) {
        const std::string* tid = ids_.publicId(peer.id, IdKind::Track, other.id, track_id);
        if (tid != nullptr && tracks_told.insert(*tid).second) tagged.tracks.emplace(*tid, t);
      }
      md.emplace(*sid, std::move(tagged));
    }
  }
  // Its audio slots: audio of whichever participants are loudest, sent by the focus (docs/focus.md, "Audio
  // slots"); no publisher's id can be one of these (TrackIds::isUsableId).
  for (const auto& id : newer_than > 0 ? std::vector<std::string>{} : peer.audio_slots) {
    proto::StreamMetadata slot;
    slot.purpose = "m.usermedia";
    slot.video_muted = true;
    slot.user_id = config_.user_id;
    slot.device_id = config_.device_id;
    slot.tracks.emplace(id, proto::TrackInfo{"audio", std::nullopt, std::nullopt});
    md.emplace(id, std::move(slot));
  }
  return md;
}

void Controller::tellRemoved(const Participant& publisher, const std::vector<std::string>& stream_ids) {
  if (stream_ids.empty()) return;
  for (auto& [id, other] : peers_) {
    if (id == publisher.id || other.room_id != publisher.room_id || other.conf_id != publisher.conf_id)
      continue;
    if (other.metadata_whole) continue;  // its next message replaces everything anyway
    for (const auto& stream_id : stream_ids) {
      const std::string* pub = ids_.publicId(id, IdKind::Stream, publisher.id, stream_id);
      if (pub == nullptr) continue;
      if (other.metadata_removed.size() >= kMaxRemovedPending) {
        other.metadata_whole = true;
        other.metadata_removed.clear();
        break;
      }
      other.metadata_removed.push_back(*pub);
    }
  }
}

void Controller::setAudioSlots(ParticipantId peer, std::vector<std::string> stream_ids) {
  auto it = peers_.find(peer);
  if (it == peers_.end() || it->second.audio_slots == stream_ids) return;
  it->second.audio_slots = std::move(stream_ids);
  it->second.metadata_whole = true;
  metadataChanged(peer);
}

// Each slot's speaker under the ids this participant knows from its metadata; a speaker it cannot name (ids
// not told to it) is left out, as in the metadata.
void Controller::tellAudioSlots(Participant& p, Actions& out) {
  if (!p.connected || (p.audio_slot_input.empty() && p.audio_slot_speakers.empty())) return;
  proto::FocusMessage m;
  m.type = proto::FocusMessageType::AudioSlots;
  for (const auto& s : p.audio_slot_input) {
    if (m.audio_slots.size() >= proto::kMaxTrackRefs) break;
    proto::AudioSlotSpeaker a;
    a.slot = s.slot;
    auto pub = peers_.find(s.publisher);
    if (pub != peers_.end() && pub->first != p.id) {
      const std::string* sid = ids_.publicId(p.id, IdKind::Stream, s.publisher, s.stream_id);
      const std::string* tid = ids_.publicId(p.id, IdKind::Track, s.publisher, s.track_id);
      if (sid != nullptr && tid != nullptr) {
        a.user_id = pub->second.user_id;
        a.device_id = pub->second.device_id;
        a.stream_id = *sid;
        a.track_id = *tid;
      }
    }
    m.audio_slots.push_back(std::move(a));
  }
  if (m.audio_slots == p.audio_slot_speakers) return;
  p.audio_slot_speakers = m.audio_slots;
  ++counters_.audio_slot_messages;
  out.push_back(act::SendDataChannel{p.id, proto::serializeFocusMessage(m)});
}

void Controller::broadcastMetadata(const std::string& room_id, const std::string& conf_id, Actions& out,
                                   ParticipantId except, bool whole) {
  (void)out;  // sent by flushMetadata(), coalesced
  for (auto& [id, p] : peers_) {
    if (p.room_id != room_id || p.conf_id != conf_id || id == except) continue;
    if (whole) p.metadata_whole = true;
    if (p.connected) p.metadata_dirty = true;
  }
}

std::map<std::string, std::size_t> Controller::conferenceSizes() const {
  std::map<std::string, std::size_t> sizes;
  for (const auto& [id, p] : peers_) ++sizes[conferenceKey(p.room_id, p.conf_id)];
  return sizes;
}

TimeMs Controller::metadataInterval(std::size_t conference_size) const {
  return config_.metadata_interval_ms +
         config_.metadata_interval_per_participant_ms * static_cast<TimeMs>(conference_size);
}

namespace {
std::uint64_t metadataHash(const std::string& text) {
  const std::uint64_t h = std::hash<std::string>{}(text);
  return h == 0 ? 1 : h;  // 0: nothing told yet
}
}  // namespace

void Controller::flushMetadata(Actions& out) {
  const TimeMs now = clock_.nowMs();
  std::optional<std::map<std::string, std::size_t>> sizes;  // only when someone waits for its metadata
  for (auto& [id, p] : peers_) {
    if (!p.connected || !p.metadata_dirty) continue;
    if (p.metadata_sent_at) {
      if (!sizes) sizes = conferenceSizes();
      if (now < *p.metadata_sent_at + metadataInterval((*sizes)[conferenceKey(p.room_id, p.conf_id)]))
        continue;
    }
    p.metadata_dirty = false;
    // What changed since it was last told, unless something it knew went away (then all of it): in a large
    // call a join then costs each participant one stream's metadata, not everyone's (docs/focus.md).
    if (!sizes) sizes = conferenceSizes();
    const bool whole =
        p.metadata_whole || (*sizes)[conferenceKey(p.room_id, p.conf_id)] < config_.metadata_deltas_from;
    proto::FocusMessage m;
    m.type = proto::FocusMessageType::SdpStreamMetadataChanged;
    m.metadata = whole ? availableTo(p) : availableTo(p, p.metadata_told_version);
    m.metadata_delta = !whole;
    if (!whole) m.removed_streams = p.metadata_removed;
    p.metadata_removed.clear();
    // Nothing new for it (the interval does not restart).
    if (!whole && m.metadata->empty() && m.removed_streams.empty()) continue;
    std::string text = proto::serializeFocusMessage(m);
    const std::uint64_t h = whole ? metadataHash(text) : 0;  // 0: its state is a merge, compared with nothing
    if (whole && h == p.metadata_told) continue;
    p.metadata_told = h;
    p.metadata_told_version = metadata_version_;
    p.metadata_whole = false;
    p.metadata_sent_at = now;
    ++counters_.metadata_messages;
    counters_.metadata_bytes += text.size();
    out.push_back(act::SendDataChannel{p.id, std::move(text)});
    tellAudioSlots(p, out);  // after the metadata that names the speakers
  }
}

void Controller::metadataChanged(ParticipantId peer) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  it->second.metadata_whole = true;  // what changed is its own view (ids, slots): no delta says that
  if (it->second.connected) it->second.metadata_dirty = true;
}

proto::SdpStreamMetadata Controller::tellMetadata(ParticipantId peer) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return {};
  auto md = availableTo(it->second);
  toldMetadata(peer, md);
  return md;
}

void Controller::toldMetadata(ParticipantId peer, const proto::SdpStreamMetadata& metadata) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  Participant& p = it->second;
  proto::FocusMessage m;
  m.type = proto::FocusMessageType::SdpStreamMetadataChanged;
  m.metadata = metadata;
  p.metadata_told = metadataHash(proto::serializeFocusMessage(m));
  p.metadata_told_version = metadata_version_;
  p.metadata_whole = false;
  p.metadata_removed.clear();
  p.metadata_sent_at = clock_.nowMs();
  p.metadata_dirty = false;
}

}  // namespace chorus::focus
