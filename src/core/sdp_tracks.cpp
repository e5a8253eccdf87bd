#include "core/sdp_tracks.hpp"

#include "proto/sdp_summary.hpp"

namespace chorus::core {

std::vector<SdpTrack> sdpTracks(std::string_view sdp) {
  std::vector<SdpTrack> out;
  auto summary = proto::summarizeSdp(sdp);
  if (!summary) return out;
  for (auto& m : summary->media) {
    if (m.media != "audio" && m.media != "video") continue;
    if (out.size() >= kMaxSdpTracks) break;
    out.push_back(SdpTrack{std::move(m.media), std::move(m.mid), std::move(m.direction),
                           std::move(m.stream_id), std::move(m.track_id)});
  }
  return out;
}

}  // namespace chorus::core
