#pragma once
// Event type names on the wire. matrix-js-sdk 28.1.0 sends and reads only the unstable names for the state
// events, so we send those and read both.
#include <string_view>

namespace chorus::proto {

inline constexpr std::string_view kCallEventType = "org.matrix.msc3401.call";
inline constexpr std::string_view kCallEventTypeStable = "m.call";
inline constexpr std::string_view kCallMemberEventType = "org.matrix.msc3401.call.member";
inline constexpr std::string_view kCallMemberEventTypeStable = "m.call.member";

inline constexpr std::string_view kRoomMemberEventType = "m.room.member";
inline constexpr std::string_view kRoomCreateEventType = "m.room.create";
inline constexpr std::string_view kPowerLevelsEventType = "m.room.power_levels";

// sdp_stream_metadata: we send the key matrix-js-sdk 28.1.0 sends on to-device, read both.
inline constexpr std::string_view kSdpStreamMetadataKey = "org.matrix.msc3077.sdp_stream_metadata";
inline constexpr std::string_view kSdpStreamMetadataKeyStable = "sdp_stream_metadata";
inline constexpr std::string_view kMetadataDeltaKey = "org.chorus.metadata_delta";    // focus -> participant
inline constexpr std::string_view kRemovedStreamsKey = "org.chorus.removed_streams";  // with a delta
inline constexpr std::string_view kAudioSlotsType = "org.chorus.audio_slots";         // focus -> participant

// MSC3898 per-device focus keys (send unstable, read both).
inline constexpr std::string_view kFociActiveKey = "org.matrix.msc3898.foci.active";
inline constexpr std::string_view kFociActiveKeyStable = "m.foci.active";
inline constexpr std::string_view kFociPreferredKey = "org.matrix.msc3898.foci.preferred";
inline constexpr std::string_view kFociPreferredKeyStable = "m.foci.preferred";

// The session id a focus (SFU) uses.
inline constexpr std::string_view kFocusSessionId = "sfu";

inline bool isCallEventType(std::string_view t) {
  return t == kCallEventType || t == kCallEventTypeStable;
}
inline bool isCallMemberEventType(std::string_view t) {
  return t == kCallMemberEventType || t == kCallMemberEventTypeStable;
}

}  // namespace chorus::proto
