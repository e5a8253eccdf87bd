#pragma once
// m.call.member state event (org.matrix.msc3401.call.member), state_key = the sender's user id.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "base/result.hpp"

namespace chorus::proto {

inline constexpr std::string_view kPurposeUserMedia = "m.usermedia";
inline constexpr std::string_view kPurposeScreenshare = "m.screenshare";

struct FocusInfo {
  std::string user_id;
  std::string device_id;
  bool operator==(const FocusInfo&) const = default;
};

struct Feed {
  std::string purpose;                       // m.usermedia | m.screenshare (others kept but ignored by core)
  std::optional<std::string> id;             // MediaStream id (optional)
  std::optional<boost::json::array> tracks;  // as given (optional, illustrative in the MSC)
  boost::json::object extra;
  bool operator==(const Feed&) const = default;
};

struct MemberDevice {
  std::string device_id;
  std::string session_id;
  std::int64_t expires_ts{0};
  std::vector<Feed> feeds;
  std::vector<FocusInfo> foci_active;  // MSC3898 (read both prefixes, write unstable)
  std::vector<FocusInfo> foci_preferred;
  boost::json::object extra;
  bool operator==(const MemberDevice&) const = default;
};

struct MemberCall {
  std::string call_id;                // m.call_id
  std::vector<MemberDevice> devices;  // only the valid entries
  // Device entries that failed validation (non-string device_id, missing expires_ts, ...), kept verbatim so a
  // rewrite by another device does not silently destroy them, plus why each was rejected.
  std::vector<boost::json::value> invalid_devices;
  std::vector<std::string> invalid_reasons;
  boost::json::object extra;
  bool operator==(const MemberCall&) const = default;
};

struct CallMemberEvent {
  std::string user_id;  // state_key
  std::vector<MemberCall> calls;
  // m.calls items that are not objects or lack a string m.call_id, kept verbatim.
  std::vector<boost::json::value> invalid_calls;
  boost::json::object extra;  // other top-level keys (e.g. legacy m.expires_ts)

  const MemberCall* findCall(std::string_view call_id) const;
  MemberCall* findCall(std::string_view call_id);
  bool operator==(const CallMemberEvent&) const = default;
};

// Lenient like js-sdk: a non-array m.calls is treated as empty; invalid device entries go to invalid_devices.
// Fails only when the content is unusable as a whole (never for a single bad device).
Result<CallMemberEvent> parseCallMemberEvent(std::string_view state_key, const boost::json::object& content);
boost::json::object serializeCallMemberEvent(const CallMemberEvent& ev);

// Validation of one device entry (the js-sdk rule: string device_id and session_id, numeric expires_ts, array
// feeds). Exposed for tests.
Result<MemberDevice> parseMemberDevice(const boost::json::value& v);
boost::json::object serializeMemberDevice(const MemberDevice& d);

}  // namespace chorus::proto
