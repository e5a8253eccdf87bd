// libFuzzer target: proto::summarizeSdp, the SDP scanner core and the endpoint share (a peer's description is
// untrusted). Every bound must hold; the lookups must agree with the sections; core's audio/video view must
// never hold more than its bound nor a section the summary does not have.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/sdp_tracks.hpp"
#include "proto/sdp_summary.hpp"

using namespace chorus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto summary = proto::summarizeSdp(text);
  const auto tracks = core::sdpTracks(text);
  if (tracks.size() > core::kMaxSdpTracks) __builtin_trap();
  if (!summary) {
    if (!tracks.empty()) __builtin_trap();
    return 0;
  }
  if (summary->media.empty() || summary->media.size() > proto::SdpSummary::kMaxMedia) __builtin_trap();
  std::size_t audio_video = 0;
  for (std::size_t i = 0; i < summary->media.size(); ++i) {
    const auto& m = summary->media[i];
    if (m.ssrcs.size() > proto::SdpMedia::kMaxSsrcsPerMedia) __builtin_trap();
    if (m.payload_types.size() > proto::SdpMedia::kMaxPayloadTypes) __builtin_trap();
    for (const auto* s : {&m.mid, &m.stream_id, &m.track_id, &m.ice_ufrag}) {
      if (s->size() > 256) __builtin_trap();
    }
    if (m.stream_id == "-") __builtin_trap();
    if (m.direction != "sendrecv" && m.direction != "sendonly" && m.direction != "recvonly" &&
        m.direction != "inactive") {
      __builtin_trap();
    }
    // The lookups find this section or an earlier one with the same key.
    if (!m.mid.empty()) {
      const auto idx = summary->mlineIndexOfMid(m.mid);
      if (!idx || *idx > i || summary->media[*idx].mid != m.mid) __builtin_trap();
    }
    for (std::uint32_t ssrc : m.ssrcs) {
      const auto idx = summary->mlineIndexOfSsrc(ssrc);
      if (!idx || *idx > i) __builtin_trap();
    }
    if (m.media == "audio" || m.media == "video") ++audio_video;
  }
  if (tracks.size() != std::min(audio_video, core::kMaxSdpTracks)) __builtin_trap();
  return 0;
}
