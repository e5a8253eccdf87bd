#include "media/cc/overuse_detector.hpp"

#include <algorithm>
#include <cmath>

namespace chorus::media::cc {

const char* toString(BandwidthUsage u) noexcept {
  switch (u) {
    case BandwidthUsage::Normal:
      return "normal";
    case BandwidthUsage::Underusing:
      return "underusing";
    case BandwidthUsage::Overusing:
      return "overusing";
  }
  return "?";
}

BandwidthUsage OveruseDetector::detect(double modified_trend, double send_delta_ms, std::size_t num_deltas,
                                       TimeUs now_us) noexcept {
  if (num_deltas < 2) return BandwidthUsage::Normal;
  if (modified_trend > threshold_) {
    if (time_over_using_ < 0) {
      time_over_using_ = send_delta_ms / 2;  // assume overuse started half-way through the group
    } else {
      time_over_using_ += send_delta_ms;
    }
    ++overuse_counter_;
    if (time_over_using_ > config_.overusing_time_ms && overuse_counter_ > 1 &&
        modified_trend >= prev_trend_) {
      time_over_using_ = 0;
      overuse_counter_ = 0;
      state_ = BandwidthUsage::Overusing;
    }
  } else if (modified_trend < -threshold_) {
    time_over_using_ = -1;
    overuse_counter_ = 0;
    state_ = BandwidthUsage::Underusing;
  } else {
    time_over_using_ = -1;
    overuse_counter_ = 0;
    state_ = BandwidthUsage::Normal;
  }
  prev_trend_ = modified_trend;
  updateThreshold(modified_trend, now_us);
  return state_;
}

void OveruseDetector::updateThreshold(double modified_trend, TimeUs now_us) noexcept {
  if (!have_last_update_) {
    have_last_update_ = true;
    last_update_us_ = now_us;
  }
  const double abs_trend = std::fabs(modified_trend);
  if (abs_trend > threshold_ + config_.max_adapt_offset) {
    last_update_us_ = now_us;  // a spike: do not let it drag the threshold
    return;
  }
  const double k = abs_trend < threshold_ ? config_.k_down : config_.k_up;
  const double dt_ms = std::clamp(static_cast<double>(now_us - last_update_us_) / 1000.0, 0.0, 100.0);
  threshold_ += k * (abs_trend - threshold_) * dt_ms;
  threshold_ = std::clamp(threshold_, config_.min_threshold, config_.max_threshold);
  last_update_us_ = now_us;
}

}  // namespace chorus::media::cc
