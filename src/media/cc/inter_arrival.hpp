#pragma once
// Groups acknowledged packets into send-time groups (packets sent within 5 ms of the group's first, or
// arriving in a burst behind it) and yields, for each completed group, the deltas to the previous group:
// send-time delta, arrival-time delta and size delta. The delay-based estimator feeds
// (arrival delta − send delta) into the trendline filter. As in libwebrtc's GoogCC InterArrivalDelta: a
// packet sent before the current group started is ignored (reordered); a group that arrived before the
// previous one is skipped, and three in a row, or an arrival jump of more than 3 s beyond the send delta,
// reset the state. Single-threaded; sans-IO.
#include <cstdint>
#include <optional>

#include "media/cc/cc_types.hpp"

namespace chorus::media::cc {

struct InterArrivalDelta {
  TimeUs send_delta_us{0};
  TimeUs arrival_delta_us{0};
  std::int64_t size_delta{0};
  TimeUs arrival_us{0};  // arrival of the completed group's last packet
};

class InterArrival {
 public:
  static constexpr TimeUs kGroupLengthUs = 5'000;
  static constexpr TimeUs kBurstDeltaUs = 5'000;
  static constexpr TimeUs kMaxBurstDurationUs = 100'000;
  static constexpr TimeUs kArrivalOffsetThresholdUs = 3'000'000;
  static constexpr int kReorderedResetThreshold = 3;

  std::optional<InterArrivalDelta> onPacket(TimeUs send_us, TimeUs arrival_us, std::size_t size) noexcept;
  std::uint64_t reordered() const noexcept { return reordered_; }
  std::uint64_t resets() const noexcept { return resets_; }

 private:
  struct Group {
    bool valid{false};
    TimeUs first_send{0};
    TimeUs last_send{0};
    TimeUs first_arrival{0};
    TimeUs last_arrival{0};
    std::int64_t size{0};
  };
  bool belongsToBurst(TimeUs send_us, TimeUs arrival_us) const noexcept;
  void reset() noexcept;

  Group current_;
  Group previous_;
  int consecutive_reordered_{0};
  std::uint64_t reordered_{0};
  std::uint64_t resets_{0};
};

}  // namespace chorus::media::cc
