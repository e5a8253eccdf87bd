#include "media/cc/loss_based_controller.hpp"

#include <algorithm>
#include <cmath>

namespace chorus::media::cc {

void LossBasedController::capTo(std::int64_t delay_based_bps) noexcept {
  rate_bps_ = std::min(rate_bps_, delay_based_bps);
}

std::int64_t LossBasedController::onLossReport(double loss, std::int64_t delay_based_bps, TimeUs rtt_us,
                                               TimeUs now_us) noexcept {
  loss = std::clamp(loss, 0.0, 1.0);
  last_loss_ = loss;
  const TimeUs dt = has_report_ ? std::clamp<TimeUs>(now_us - last_report_us_, 0, kUsPerSecond) : 0;
  has_report_ = true;
  last_report_us_ = now_us;
  if (loss <= config_.low_loss) {
    const double factor = std::pow(1.08, static_cast<double>(dt) / 1e6);
    rate_bps_ = static_cast<std::int64_t>(static_cast<double>(rate_bps_) * factor) +
                static_cast<std::int64_t>(1000.0 * static_cast<double>(dt) / 1e6);
  } else if (loss > config_.high_loss) {
    if (!has_decrease_ || now_us - last_decrease_us_ >= config_.decrease_interval_us + rtt_us) {
      rate_bps_ = static_cast<std::int64_t>(static_cast<double>(std::min(rate_bps_, delay_based_bps)) *
                                            (1.0 - 0.5 * loss));
      has_decrease_ = true;
      last_decrease_us_ = now_us;
      ++decreases_;
    }
  }
  rate_bps_ = std::max(std::min(rate_bps_, delay_based_bps), config_.min_bps);
  return rate_bps_;
}

}  // namespace chorus::media::cc
