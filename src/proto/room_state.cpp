#include "proto/room_state.hpp"

#include "proto/event_types.hpp"
#include "proto/member_event.hpp"

namespace chorus::proto {

RoomState::Applied RoomState::apply(const StateEvent& ev) {
  if (ev.type == proto::kRoomMemberEventType) {
    const auto* m = ev.content.if_contains("membership");
    membership_[ev.state_key] = (m && m->is_string()) ? std::string(m->as_string()) : "leave";
    return Applied::Updated;
  }
  if (proto::isCallEventType(ev.type)) {
    auto parsed = proto::parseCallEvent(ev.state_key, ev.content);
    if (!parsed) {
      // An invalid or redacted (empty) call event removes that call (js-sdk ignores invalid ones).
      calls_.erase(ev.state_key);
      return Applied::Invalid;
    }
    calls_[ev.state_key] = CallRecord{std::move(*parsed), ev.origin_server_ts, ev.sender};
    return Applied::Updated;
  }
  if (proto::isCallMemberEventType(ev.type)) {
    // state_key must be the sender (the server's auth rule); don't trust a server that forgot.
    if (ev.state_key != ev.sender && !ev.sender.empty()) return Applied::Invalid;
    members_[ev.state_key] = ev.content;
    return Applied::Updated;
  }
  return Applied::Ignored;
}

std::optional<std::string> RoomState::activeCall() const {
  const std::pair<const std::string, CallRecord>* best = nullptr;
  for (const auto& entry : calls_) {
    if (entry.second.event.terminated) continue;
    if (!best || entry.second.ts > best->second.ts ||
        (entry.second.ts == best->second.ts && entry.first < best->first)) {
      best = &entry;
    }
  }
  if (!best) return std::nullopt;
  return best->first;
}

const RoomState::CallRecord* RoomState::call(const std::string& call_id) const {
  auto it = calls_.find(call_id);
  return it == calls_.end() ? nullptr : &it->second;
}

void RoomState::putCall(const std::string& call_id, CallRecord record) {
  calls_[call_id] = std::move(record);
}

bool RoomState::isJoined(const std::string& user_id) const {
  auto it = membership_.find(user_id);
  return it != membership_.end() && it->second == "join";
}

const boost::json::object* RoomState::memberContent(const std::string& user_id) const {
  auto it = members_.find(user_id);
  return it == members_.end() ? nullptr : &it->second;
}

void RoomState::putMemberContent(const std::string& user_id, boost::json::object content) {
  members_[user_id] = std::move(content);
}

std::vector<Participant> RoomState::participants(const std::string& call_id, TimeMs now,
                                                 std::optional<TimeMs>* earliest_expiry) const {
  std::vector<Participant> out;
  std::optional<TimeMs> earliest;
  for (const auto& [user, content] : members_) {
    if (!isJoined(user)) continue;
    auto parsed = proto::parseCallMemberEvent(user, content);
    if (!parsed) continue;
    const auto* call = parsed->findCall(call_id);
    if (!call) continue;
    for (const auto& d : call->devices) {
      if (d.expires_ts <= now) continue;
      if (!earliest || d.expires_ts < *earliest) earliest = d.expires_ts;
      Participant p;
      p.user_id = user;
      p.device_id = d.device_id;
      p.session_id = d.session_id;
      p.expires_ts = d.expires_ts;
      for (const auto& f : d.feeds) p.feed_purposes.push_back(f.purpose);
      p.foci_active = d.foci_active;
      p.foci_preferred = d.foci_preferred;
      out.push_back(std::move(p));
    }
  }
  if (earliest_expiry) *earliest_expiry = earliest;
  return out;
}

std::optional<Participant> RoomState::participant(const std::string& call_id, const std::string& user_id,
                                                  const std::string& device_id, TimeMs now) const {
  for (auto& p : participants(call_id, now)) {
    if (p.user_id == user_id && p.device_id == device_id) return p;
  }
  return std::nullopt;
}

}  // namespace chorus::proto
