#pragma once
// m.call state event (org.matrix.msc3401.call), state_key = the group call id.
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "base/result.hpp"

namespace chorus::proto {

enum class CallIntent { Ring, Prompt, Room };
enum class CallType { Voice, Video };

std::string_view toString(CallIntent intent);  // "m.ring" ...
std::string_view toString(CallType type);      // "m.voice" / "m.video"
std::optional<CallIntent> parseCallIntent(std::string_view s);
std::optional<CallType> parseCallType(std::string_view s);

struct CallEvent {
  std::string call_id;  // state_key
  CallIntent intent{CallIntent::Prompt};
  CallType type{CallType::Video};
  std::optional<std::string> name;  // m.name
  // m.terminated: present and not null/false/"" means terminated. js-sdk writes "call_ended", hydrogen true.
  bool terminated{false};
  std::optional<boost::json::value> terminated_value;  // the raw value as read, re-emitted on serialise
  // Every other key (io.element.ptt, dataChannelsEnabled, ...), preserved on rewrite.
  boost::json::object extra;

  bool operator==(const CallEvent&) const = default;
};

// Errors name the field, e.g. "m.intent: unknown value \"m.conference\"".
Result<CallEvent> parseCallEvent(std::string_view state_key, const boost::json::object& content);
boost::json::object serializeCallEvent(const CallEvent& ev);
// JS truthiness of an m.terminated value: false for null, false, "", 0.
bool isTerminatedValue(const boost::json::value& v);
// A copy marked terminated with reason "call_ended" (other keys kept).
CallEvent terminatedCopy(const CallEvent& ev);

}  // namespace chorus::proto
