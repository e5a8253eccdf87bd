#pragma once
// The call-related state of one room: m.room.member memberships, m.call events and m.call.member contents,
// with the rules that pick the room's call (msc3401.md §1.3) and its participants (§2.2). Shared by the
// participant machine (GroupCall) and the focus, which authorises only devices this says are in the call.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "base/clock.hpp"
#include "proto/call_event.hpp"
#include "proto/room_events.hpp"

namespace chorus::proto {

class RoomState {
 public:
  struct CallRecord {
    CallEvent event;
    TimeMs ts{0};
    std::string sender;
  };
  enum class Applied { Ignored, Updated, Invalid };

  // Applies one state event in order. Invalid call events remove that call; an m.call.member whose state_key
  // is not its sender is refused.
  Applied apply(const StateEvent& ev);

  // The newest non-terminated call; ties broken by the lower call id, so every client picks the same one.
  std::optional<std::string> activeCall() const;
  const CallRecord* call(const std::string& call_id) const;
  void putCall(const std::string& call_id, CallRecord record);  // local echo of our own write

  bool isJoined(const std::string& user_id) const;
  const boost::json::object* memberContent(const std::string& user_id) const;
  void putMemberContent(const std::string& user_id, boost::json::object content);  // local echo

  // The valid, unexpired device entries of joined users in `call_id`. `earliest_expiry` (if given) receives
  // the earliest expires_ts among them.
  std::vector<Participant> participants(const std::string& call_id, TimeMs now,
                                        std::optional<TimeMs>* earliest_expiry = nullptr) const;
  std::optional<Participant> participant(const std::string& call_id, const std::string& user_id,
                                         const std::string& device_id, TimeMs now) const;

 private:
  std::map<std::string, CallRecord> calls_;             // m.call state_key -> valid event
  std::map<std::string, std::string> membership_;       // user -> m.room.member membership
  std::map<std::string, boost::json::object> members_;  // user -> m.call.member content
};

}  // namespace chorus::proto
