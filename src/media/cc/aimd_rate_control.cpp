#include "media/cc/aimd_rate_control.hpp"

#include <algorithm>
#include <cmath>

namespace chorus::media::cc {

AimdRateControl::AimdRateControl(Config config) : config_(config) {
  config_.min_bps = std::max<std::int64_t>(config_.min_bps, 1000);
  config_.max_bps = std::max(config_.max_bps, config_.min_bps);
  current_bps_ = clamp(config_.start_bps);
}

std::int64_t AimdRateControl::clamp(std::int64_t bps) const noexcept {
  return std::clamp(bps, config_.min_bps, config_.max_bps);
}

void AimdRateControl::setEstimate(std::int64_t bps, TimeUs now_us) noexcept {
  current_bps_ = clamp(bps);
  last_change_us_ = now_us;
}

void AimdRateControl::updateCapacity(double sample_kbps) noexcept {
  constexpr double kAlpha = 0.05;
  if (!has_capacity_) {
    capacity_kbps_ = sample_kbps;
    has_capacity_ = true;
  } else {
    capacity_kbps_ = (1 - kAlpha) * capacity_kbps_ + kAlpha * sample_kbps;
  }
  const double norm = std::max(capacity_kbps_, 1.0);
  const double error = capacity_kbps_ - sample_kbps;
  capacity_var_ = (1 - kAlpha) * capacity_var_ + kAlpha * error * error / norm;
  capacity_var_ = std::clamp(capacity_var_, 0.4, 2.5);
}

double AimdRateControl::capacityUpperKbps() const noexcept {
  return capacity_kbps_ + 3 * std::sqrt(capacity_var_ * capacity_kbps_);
}

std::int64_t AimdRateControl::additiveIncrease(TimeUs dt_us) const noexcept {
  // About one average packet per response time, with frames of current/30 split into ≤ 1200-byte packets.
  const double frame_bits = static_cast<double>(current_bps_) / 30.0;
  const double packets_per_frame = std::ceil(frame_bits / (8.0 * 1200.0));
  const double packet_bits = frame_bits / std::max(packets_per_frame, 1.0);
  const double response_s = static_cast<double>(rtt_us_ + 100'000) / 1e6;
  const double rate_bps_per_s = std::max(4000.0, packet_bits / response_s);
  return static_cast<std::int64_t>(rate_bps_per_s * static_cast<double>(dt_us) / 1e6);
}

bool AimdRateControl::timeToReduceFurther(TimeUs now_us, std::int64_t acked_bps) const noexcept {
  const TimeUs interval = std::clamp<TimeUs>(rtt_us_, 10'000, 200'000);
  if (now_us - last_change_us_ >= interval) return true;
  return acked_bps < current_bps_ / 2;
}

std::int64_t AimdRateControl::update(BandwidthUsage usage, std::optional<std::int64_t> acked_bps,
                                     TimeUs now_us) noexcept {
  if (!has_update_) {
    has_update_ = true;
    last_update_us_ = now_us;
    last_change_us_ = now_us;
  }
  const TimeUs dt = std::clamp<TimeUs>(now_us - last_update_us_, 0, kUsPerSecond);
  last_update_us_ = now_us;
  switch (usage) {
    case BandwidthUsage::Normal:
      if (state_ == State::Hold) {
        state_ = State::Increase;
        last_change_us_ = now_us;
      }
      break;
    case BandwidthUsage::Overusing:
      if (state_ != State::Decrease) state_ = State::Decrease;
      break;
    case BandwidthUsage::Underusing:
      state_ = State::Hold;
      break;
  }
  std::int64_t next = current_bps_;
  switch (state_) {
    case State::Hold:
      break;
    case State::Increase: {
      if (acked_bps && has_capacity_ && static_cast<double>(*acked_bps) / 1000.0 > capacityUpperKbps()) {
        has_capacity_ = false;  // the link got faster: forget the old capacity
      }
      const bool near_max = has_capacity_;
      std::int64_t increased = current_bps_;
      if (near_max) {
        increased += additiveIncrease(dt);
      } else {
        const double alpha = std::pow(1.08, static_cast<double>(dt) / 1e6);
        increased += std::max<std::int64_t>(
            static_cast<std::int64_t>(static_cast<double>(current_bps_) * (alpha - 1.0)),
            static_cast<std::int64_t>(1000.0 * static_cast<double>(dt) / 1e6));
      }
      if (acked_bps) {
        const std::int64_t limit = *acked_bps * 3 / 2 + 10'000;
        if (current_bps_ < limit) {
          next = std::min(increased, limit);
        }  // else hold: we are already far above what is acknowledged
      } else {
        next = increased;
      }
      last_change_us_ = now_us;
      break;
    }
    case State::Decrease: {
      if (acked_bps) {
        std::int64_t decreased = static_cast<std::int64_t>(config_.beta * static_cast<double>(*acked_bps));
        if (decreased > current_bps_ && has_capacity_) {
          decreased = static_cast<std::int64_t>(config_.beta * capacity_kbps_ * 1000.0);
        }
        if (decreased < current_bps_) next = decreased;
        updateCapacity(static_cast<double>(*acked_bps) / 1000.0);
      } else {
        next = static_cast<std::int64_t>(config_.beta * static_cast<double>(current_bps_));
      }
      ++decreases_;
      last_change_us_ = now_us;
      state_ = State::Hold;
      break;
    }
  }
  current_bps_ = clamp(next);
  return current_bps_;
}

}  // namespace chorus::media::cc
