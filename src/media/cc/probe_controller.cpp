#include "media/cc/probe_controller.hpp"

#include <algorithm>
#include <cmath>

namespace chorus::media::cc {

std::optional<ProbeController::Probe> ProbeController::onTick(TimeUs now_us, std::int64_t target_bps,
                                                              std::int64_t needed_bps) noexcept {
  if (needed_bps <= target_bps || target_bps <= 0) return std::nullopt;
  if (has_next_ && now_us < next_allowed_us_) return std::nullopt;
  const double wanted = static_cast<double>(needed_bps) * config_.overshoot;
  const double cap =
      std::min(static_cast<double>(target_bps) * config_.max_factor, static_cast<double>(config_.max_bps));
  const auto rate = static_cast<std::int64_t>(std::min(wanted, cap));
  if (rate <= target_bps) return std::nullopt;
  const double bits_per_packet = 8.0 * static_cast<double>(std::max<std::size_t>(config_.packet_size, 1));
  const auto for_duration = static_cast<std::size_t>(std::ceil(
      static_cast<double>(rate) * static_cast<double>(config_.min_duration_us) / 1e6 / bits_per_packet));
  has_next_ = true;
  next_allowed_us_ = now_us + interval_;
  interval_ = std::min(interval_ * 2, config_.max_interval_us);
  return Probe{next_cluster_++ & 0x7FFFFFFF, rate, std::max(config_.min_packets, for_duration)};
}

void ProbeController::onUpSwitch(TimeUs now_us) noexcept {
  interval_ = config_.min_interval_us;
  has_next_ = true;
  next_allowed_us_ = now_us + interval_;
}

}  // namespace chorus::media::cc
