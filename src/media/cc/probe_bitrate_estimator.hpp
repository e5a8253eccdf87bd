#pragma once
// Probe results (libwebrtc's ProbeBitrateEstimator idea): the sender marks packets of a probe cluster (a
// short burst sent faster than the estimate — padding or RTX — before an up-switch); when feedback has
// acknowledged `min_packets` of a cluster, the send rate (bytes over the send span) and the receive rate
// (bytes over the arrival span) give what the link delivered: min(send, receive), or 0.95 × receive when
// receive < 0.9 × send (the probe saturated the link). The estimator can then jump to it instead of climbing
// 8 %/s under the 1.5 × acked cap. Fixed table of `kMaxClusters` clusters (the oldest is replaced).
// Single-threaded; sans-IO.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "media/cc/cc_types.hpp"

namespace chorus::media::cc {

class ProbeBitrateEstimator {
 public:
  static constexpr std::size_t kMaxClusters = 8;
  static constexpr std::size_t kMinPackets = 5;
  static constexpr TimeUs kMaxClusterSpanUs = 1'000'000;  // a longer burst is not a probe

  // One acknowledged packet of cluster `cluster` (≥ 0). Returns the cluster's result when this packet
  // completes it (each cluster yields once).
  std::optional<std::int64_t> onAcked(int cluster, const PacketResult& r) noexcept;
  std::uint64_t results() const noexcept { return results_; }

 private:
  struct Cluster {
    int id{-1};
    std::size_t packets{0};
    bool done{false};
    TimeUs first_send{0};
    TimeUs last_send{0};
    TimeUs first_arrival{0};
    TimeUs last_arrival{0};
    std::int64_t bytes{0};
    std::int64_t last_send_size{0};      // excluded from the send rate (it ends the send span)
    std::int64_t first_arrival_size{0};  // excluded from the receive rate (it starts the arrival span)
    std::uint64_t age{0};
  };
  std::array<Cluster, kMaxClusters> clusters_{};
  std::uint64_t tick_{0};
  std::uint64_t results_{0};
};

}  // namespace chorus::media::cc
