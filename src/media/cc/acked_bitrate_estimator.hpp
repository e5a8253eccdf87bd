#pragma once
// Throughput of acknowledged packets: bytes received in a sliding window of arrival time (receiver clock),
// the rate the AIMD controller backs off to and caps increases by. Fixed ring of `capacity` packets (older
// ones fall out of the window anyway at any rate this is meant for); no allocation after construction.
// Single-threaded; sans-IO.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "media/cc/cc_types.hpp"

namespace chorus::media::cc {

class AckedBitrateEstimator {
 public:
  explicit AckedBitrateEstimator(TimeUs window_us = 500'000, std::size_t capacity = 4096);

  void onAcked(TimeUs arrival_us, std::size_t size) noexcept;
  // Bits per second over the window ending at the newest arrival; nullopt until the window holds at least
  // 150 ms of arrivals.
  std::optional<std::int64_t> bitrateBps() const noexcept;

 private:
  struct Item {
    TimeUs arrival{0};
    std::size_t size{0};
  };
  TimeUs window_us_;
  std::vector<Item> ring_;  // Owned; fixed size.
  std::size_t head_{0};     // next write
  std::size_t count_{0};
  std::int64_t bytes_{0};  // bytes of the items in the ring
  TimeUs newest_{0};
  TimeUs first_ever_{-1};
};

}  // namespace chorus::media::cc
