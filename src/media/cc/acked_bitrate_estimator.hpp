#pragma once
// Throughput of acknowledged packets, the rate the AIMD controller backs off to and caps increases by. Each
// transport-cc feedback is one sample batch: the bytes that arrived after its first-arriving packet, over the
// arrival-time span it covers (receiver clock); a batch whose first arrival follows the previous batch's last
// within kContiguousGapUs spans from that last arrival and counts all its bytes (feedbacks that follow one
// another cover the whole time, idle gaps included). The rate is Σ bytes / Σ spans of the batches that ended
// within `window_us` of the newest arrival, so a lost feedback removes its bytes *and* its time (it does not
// make the link look slower, as a plain bytes-per-window count would). Fixed ring of `capacity` batches; no
// allocation after construction. Single-threaded; sans-IO.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "media/cc/cc_types.hpp"

namespace chorus::media::cc {

class AckedBitrateEstimator {
 public:
  explicit AckedBitrateEstimator(TimeUs window_us = 500'000, std::size_t capacity = 256);

  // The results of one feedback (lost packets are skipped).
  void onFeedback(std::span<const PacketResult> results) noexcept;
  // Bits per second; nullopt while the batches in the window cover less than 100 ms of arrivals (until
  // enough arrived, and on a link so sparse that each feedback holds one packet after a gap).
  std::optional<std::int64_t> bitrateBps() const noexcept;

  // A longer gap between two batches is taken for a lost feedback (its time is left out with its bytes).
  static constexpr TimeUs kContiguousGapUs = 40'000;

 private:
  struct Batch {
    TimeUs first{0};
    TimeUs last{0};
    std::int64_t bytes{0};
  };
  TimeUs window_us_;
  std::vector<Batch> ring_;  // Owned; fixed size.
  std::size_t head_{0};      // next write
  std::size_t count_{0};
  TimeUs newest_{0};
};

}  // namespace chorus::media::cc
