#include "media/cc/trendline_estimator.hpp"

#include <algorithm>

namespace chorus::media::cc {

TrendlineEstimator::TrendlineEstimator(Config config) : config_(config) {
  config_.window = std::max<std::size_t>(config_.window, 2);
  xs_.resize(config_.window);
  ys_.resize(config_.window);
}

double TrendlineEstimator::update(double send_delta_ms, double arrival_delta_ms, TimeUs arrival_us) noexcept {
  const double delta = arrival_delta_ms - send_delta_ms;
  ++num_deltas_;
  if (!have_first_) {
    have_first_ = true;
    first_arrival_ = arrival_us;
  }
  accumulated_ += delta;
  smoothed_ = config_.smoothing * smoothed_ + (1 - config_.smoothing) * accumulated_;
  xs_[head_] = static_cast<double>(arrival_us - first_arrival_) / 1000.0;
  ys_[head_] = smoothed_;
  head_ = (head_ + 1) % config_.window;
  filled_ = std::min(filled_ + 1, config_.window);
  if (filled_ < config_.window) return 0;
  double mean_x = 0;
  double mean_y = 0;
  for (std::size_t i = 0; i < filled_; ++i) {
    mean_x += xs_[i];
    mean_y += ys_[i];
  }
  mean_x /= static_cast<double>(filled_);
  mean_y /= static_cast<double>(filled_);
  double num = 0;
  double den = 0;
  for (std::size_t i = 0; i < filled_; ++i) {
    num += (xs_[i] - mean_x) * (ys_[i] - mean_y);
    den += (xs_[i] - mean_x) * (xs_[i] - mean_x);
  }
  if (den != 0) trend_ = num / den;  // else keep the previous slope
  return static_cast<double>(std::min<std::size_t>(num_deltas_, 60)) * trend_ * config_.threshold_gain;
}

}  // namespace chorus::media::cc
