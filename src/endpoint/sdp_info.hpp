#pragma once
// The few SDP facts the engine needs (mids, msid stream ids, payload types, ICE ufrag), read with GstSDP.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace chorus::endpoint {

struct SdpMediaInfo {
  std::string media;      // "audio" | "video" | "application" | ...
  std::string mid;        // a=mid ("" if absent)
  std::string stream_id;  // a=msid:<stream> <track>, else a=ssrc:<n> msid:<stream> <track> ("" if none)
  std::string direction;  // "sendrecv" (default) | "sendonly" | "recvonly" | "inactive"
  std::string ice_ufrag;  // media level, else session level
  unsigned port{0};
  std::map<std::string, int> payload_types;  // upper-case encoding name -> first pt, from a=rtpmap
  std::vector<std::uint32_t> ssrcs;          // distinct a=ssrc numbers, in order (at most kMaxSsrcsPerMedia)
  static constexpr std::size_t kMaxSsrcsPerMedia = 16;
};

struct SdpInfo {
  std::vector<SdpMediaInfo> media;
  std::optional<std::uint32_t> mlineIndexOfMid(const std::string& mid) const;
  std::optional<std::string> midOfMlineIndex(std::uint32_t index) const;
  // The m-line whose a=ssrc lines name `ssrc` (the first, if several do).
  std::optional<std::uint32_t> mlineIndexOfSsrc(std::uint32_t ssrc) const;
};

Result<SdpInfo> parseSdpInfo(const std::string& sdp);

}  // namespace chorus::endpoint
