#include "media/cc/inter_arrival.hpp"

#include <algorithm>

namespace chorus::media::cc {

bool InterArrival::belongsToBurst(TimeUs send_us, TimeUs arrival_us) const noexcept {
  const TimeUs arrival_delta = arrival_us - current_.last_arrival;
  const TimeUs send_delta = send_us - current_.last_send;
  if (send_delta == 0) return true;
  const TimeUs propagation_delta = arrival_delta - send_delta;
  return propagation_delta < 0 && arrival_delta <= kBurstDeltaUs &&
         arrival_us - current_.first_arrival < kMaxBurstDurationUs;
}

void InterArrival::reset() noexcept {
  current_ = Group{};
  previous_ = Group{};
  consecutive_reordered_ = 0;
  ++resets_;
}

std::optional<InterArrivalDelta> InterArrival::onPacket(TimeUs send_us, TimeUs arrival_us,
                                                        std::size_t size) noexcept {
  const auto bytes = static_cast<std::int64_t>(size);
  if (!current_.valid) {
    current_ = Group{true, send_us, send_us, arrival_us, arrival_us, bytes};
    return std::nullopt;
  }
  if (send_us < current_.first_send) {
    ++reordered_;
    return std::nullopt;
  }
  const bool new_group =
      send_us - current_.first_send > kGroupLengthUs && !belongsToBurst(send_us, arrival_us);
  if (!new_group) {
    current_.last_send = std::max(current_.last_send, send_us);
    current_.last_arrival = std::max(current_.last_arrival, arrival_us);
    current_.size += bytes;
    return std::nullopt;
  }
  std::optional<InterArrivalDelta> result;
  if (previous_.valid) {
    const TimeUs send_delta = current_.last_send - previous_.last_send;
    const TimeUs arrival_delta = current_.last_arrival - previous_.last_arrival;
    if (arrival_delta - send_delta >= kArrivalOffsetThresholdUs) {
      reset();
      current_ = Group{true, send_us, send_us, arrival_us, arrival_us, bytes};
      return std::nullopt;
    }
    if (arrival_delta < 0) {
      ++reordered_;
      if (++consecutive_reordered_ >= kReorderedResetThreshold) {
        reset();
        current_ = Group{true, send_us, send_us, arrival_us, arrival_us, bytes};
        return std::nullopt;
      }
    } else {
      consecutive_reordered_ = 0;
      result =
          InterArrivalDelta{send_delta, arrival_delta, current_.size - previous_.size, current_.last_arrival};
    }
  }
  previous_ = current_;
  current_ = Group{true, send_us, send_us, arrival_us, arrival_us, bytes};
  return result;
}

}  // namespace chorus::media::cc
