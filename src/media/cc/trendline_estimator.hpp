#pragma once
// Delay-gradient filter of the delay-based estimator (GCC, draft-ietf-rmcat-gcc-02 §5.3 as libwebrtc's
// TrendlineEstimator does it): accumulates the one-way delay variation of each group (arrival delta − send
// delta), smooths it exponentially, and fits a least-squares line through the last `window` points of
// (arrival time, smoothed delay). The slope, scaled by the number of deltas seen (capped at 60) and a gain,
// is the "modified trend" the overuse detector compares with its threshold. Fixed-size window; no allocation
// after construction. Single-threaded; sans-IO.
#include <cstddef>
#include <vector>

#include "media/cc/cc_types.hpp"

namespace chorus::media::cc {

class TrendlineEstimator {
 public:
  struct Config {
    std::size_t window{20};
    double smoothing{0.9};
    double threshold_gain{4.0};
  };
  TrendlineEstimator() : TrendlineEstimator(Config{}) {}
  explicit TrendlineEstimator(Config config);

  // Feeds one group delta; returns the modified trend (0 until the window is full).
  double update(double send_delta_ms, double arrival_delta_ms, TimeUs arrival_us) noexcept;
  double trend() const noexcept { return trend_; }
  std::size_t deltas() const noexcept { return num_deltas_; }

 private:
  Config config_;
  std::vector<double> xs_;  // ring of arrival times (ms since the first)
  std::vector<double> ys_;  // ring of smoothed accumulated delay (ms)
  std::size_t head_{0};
  std::size_t filled_{0};
  std::size_t num_deltas_{0};
  bool have_first_{false};
  TimeUs first_arrival_{0};
  double accumulated_{0};
  double smoothed_{0};
  double trend_{0};
};

}  // namespace chorus::media::cc
