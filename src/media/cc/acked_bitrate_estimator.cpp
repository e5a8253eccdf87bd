#include "media/cc/acked_bitrate_estimator.hpp"

#include <algorithm>

namespace chorus::media::cc {

AckedBitrateEstimator::AckedBitrateEstimator(TimeUs window_us, std::size_t capacity)
    : window_us_(std::max<TimeUs>(window_us, 10'000)), ring_(std::max<std::size_t>(capacity, 16)) {}

void AckedBitrateEstimator::onAcked(TimeUs arrival_us, std::size_t size) noexcept {
  if (first_ever_ < 0) first_ever_ = arrival_us;
  newest_ = std::max(newest_, arrival_us);
  if (count_ == ring_.size()) {  // full: drop the oldest
    const std::size_t tail = (head_ + ring_.size() - count_) % ring_.size();
    bytes_ -= static_cast<std::int64_t>(ring_[tail].size);
    --count_;
  }
  ring_[head_] = Item{arrival_us, size};
  head_ = (head_ + 1) % ring_.size();
  ++count_;
  bytes_ += static_cast<std::int64_t>(size);
  // Drop items that left the window.
  while (count_ > 0) {
    const std::size_t tail = (head_ + ring_.size() - count_) % ring_.size();
    if (ring_[tail].arrival > newest_ - window_us_) break;
    bytes_ -= static_cast<std::int64_t>(ring_[tail].size);
    --count_;
  }
}

std::optional<std::int64_t> AckedBitrateEstimator::bitrateBps() const noexcept {
  if (first_ever_ < 0 || newest_ - first_ever_ < 150'000) return std::nullopt;
  const TimeUs span = std::min(window_us_, newest_ - first_ever_);
  return bytes_ * 8 * kUsPerSecond / std::max<TimeUs>(span, 1);
}

}  // namespace chorus::media::cc
