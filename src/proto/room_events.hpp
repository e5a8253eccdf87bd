#pragma once
// What a Matrix client receives and sends for calls, as plain values: a room state event as it came down
// /sync, a to-device message received and one to send, and a call participant (a device listed in a valid,
// unexpired m.call.member event of a joined user). The vocabulary the participant's machine (core), the focus
// and the Matrix shell share; proto::RoomState (room_state.hpp) reads the state events.
#include <cstdint>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "base/clock.hpp"
#include "proto/member_event.hpp"

namespace chorus::proto {

struct StateEvent {
  std::string type;
  std::string state_key;
  std::string sender;
  std::string event_id;
  TimeMs origin_server_ts{0};
  boost::json::object content;
};

struct ToDeviceMessage {
  std::string type;
  std::string sender;
  boost::json::object content;
};

// One to-device message to one device. `id` is the sender's request id (core's RequestId), echoed in
// failures.
struct SendToDevice {
  std::uint64_t id{0};
  std::string type;
  std::string user_id;
  std::string device_id;
  boost::json::object content;
};

struct Participant {
  std::string user_id;
  std::string device_id;
  std::string session_id;
  TimeMs expires_ts{0};
  std::vector<std::string> feed_purposes;
  std::vector<FocusInfo> foci_active;
  std::vector<FocusInfo> foci_preferred;
  bool operator==(const Participant&) const = default;
};

}  // namespace chorus::proto
