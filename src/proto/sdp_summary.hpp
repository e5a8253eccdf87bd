#pragma once
// The per-section facts of an SDP that several layers need, read once by one scanner: core (which tracks our
// local description sends, for sdp_stream_metadata) and the endpoint (mids, stream ids, payload types, SSRCs
// and ICE ufrags of webrtcbin's descriptions and of the remote ones). Pure text scanning, bounded; no
// validation beyond what it reads. The focus's transport negotiates with the full model in io/sdp.hpp
// instead.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace chorus::proto {

struct SdpMedia {
  std::string media;                  // "audio" | "video" | "application" | ... (the m= line's first token)
  unsigned port{0};                   // the m= line's port (0: rejected, unless bundled; see rejected())
  std::string mid;                    // a=mid ("" if absent)
  std::string direction{"sendrecv"};  // a=sendrecv (default) | sendonly | recvonly | inactive
  // a=msid:<stream> <track>, else the first a=ssrc:<n> msid:<stream> <track>; "" if none ("-" reads as "").
  std::string stream_id;
  std::string track_id;
  std::string ice_ufrag;                     // media level, else session level
  std::map<std::string, int> payload_types;  // upper-case encoding name -> first pt, from a=rtpmap
  std::vector<std::uint32_t> ssrcs;          // distinct a=ssrc numbers, in order (at most kMaxSsrcsPerMedia)
  static constexpr std::size_t kMaxSsrcsPerMedia = 16;
  static constexpr std::size_t kMaxPayloadTypes = 64;

  bool bundle_only{false};  // a=bundle-only
  bool bundled{false};      // its mid is in the session's a=group:BUNDLE

  bool sends() const { return direction == "sendrecv" || direction == "sendonly"; }
  // Port 0 rejects a section, except a bundled one: max-bundle offers (webrtcbin's, RFC 8843 §7.2) give
  // every section but the first port 0 and a=bundle-only, and a rejected section leaves the BUNDLE group.
  bool rejected() const { return port == 0 && !bundle_only && !bundled; }
};

struct SdpSummary {
  std::vector<SdpMedia> media;  // in m-line order, at most kMaxMedia (further sections are ignored)
  static constexpr std::size_t kMaxMedia = 256;

  std::optional<std::uint32_t> mlineIndexOfMid(const std::string& mid) const;
  std::optional<std::string> midOfMlineIndex(std::uint32_t index) const;
  // The m-line whose a=ssrc lines name `ssrc` (the first, if several do).
  std::optional<std::uint32_t> mlineIndexOfSsrc(std::uint32_t ssrc) const;
};

// Fails only when the text has no m= line.
Result<SdpSummary> summarizeSdp(std::string_view sdp);

}  // namespace chorus::proto
