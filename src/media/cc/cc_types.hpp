#pragma once
// Shared types of the congestion-control components (src/media/cc, docs/congestion-control.md). Time is
// passed in by the caller as microseconds of a monotonic clock (`TimeUs`); nothing here reads a clock.
#include <cstddef>
#include <cstdint>

namespace chorus::media::cc {

using TimeUs = std::int64_t;
inline constexpr TimeUs kUsPerMs = 1000;
inline constexpr TimeUs kUsPerSecond = 1'000'000;

// One sent packet as the feedback told us about it. `arrival_us` is in the receiver's clock (only differences
// between arrivals mean anything, and the feedback's reference time may make them negative).
struct PacketResult {
  std::int64_t seq{0};  // unwrapped transport-wide sequence number
  std::size_t size{0};  // bytes on the wire
  TimeUs send_us{0};
  bool received{false};
  TimeUs arrival_us{0};   // meaningful when received
  int probe_cluster{-1};  // ≥ 0: sent as part of that probe cluster
};

}  // namespace chorus::media::cc
