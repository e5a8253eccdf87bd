#pragma once
// The media tracks an SDP declares: per m-section its kind, direction and a=msid stream/track ids. Core reads
// its own local descriptions with this to describe our tracks to a focus (sdp_stream_metadata `tracks`).
// The audio and video sections of proto::summarizeSdp (the one SDP scanner core and the endpoint share).
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace chorus::core {

struct SdpTrack {
  std::string kind;       // "audio" | "video" (other m-sections are skipped)
  std::string mid;        // a=mid ("" if absent)
  std::string direction;  // "sendrecv" (default) | "sendonly" | "recvonly" | "inactive"
  std::string stream_id;  // a=msid:<stream> <track>, else a=ssrc:<n> msid:<stream> <track>; "" if none
  std::string track_id;
  bool sends() const { return direction == "sendrecv" || direction == "sendonly"; }
  bool operator==(const SdpTrack&) const = default;
};

inline constexpr std::size_t kMaxSdpTracks = 64;  // further m-sections are ignored

std::vector<SdpTrack> sdpTracks(std::string_view sdp);

}  // namespace chorus::core
