#pragma once
// Loss-based controller of the send-side estimate (draft-ietf-rmcat-gcc-02 §6, libwebrtc's classic
// SendSideBandwidthEstimation): given a loss ratio (from transport-cc feedback, or an RTCP receiver report's
// fraction lost), below 2 % the rate grows by 8 % per second (+1 kbps), between 2 % and 10 % it holds, above
// 10 % it is cut to rate × (1 − loss/2), at most once per 300 ms + RTT. It never grows above the delay-based
// estimate it is given (so the combined estimate is min(delay-based, loss-based)). Single-threaded; sans-IO.
#include <cstdint>

#include "media/cc/cc_types.hpp"

namespace chorus::media::cc {

class LossBasedController {
 public:
  struct Config {
    double low_loss{0.02};
    double high_loss{0.10};
    TimeUs decrease_interval_us{300'000};
    std::int64_t min_bps{30'000};
  };
  explicit LossBasedController(std::int64_t start_bps) : LossBasedController(start_bps, Config{}) {}
  LossBasedController(std::int64_t start_bps, Config config) : config_(config), rate_bps_(start_bps) {}

  // `loss` in [0, 1]; `delay_based_bps` caps the result.
  std::int64_t onLossReport(double loss, std::int64_t delay_based_bps, TimeUs rtt_us, TimeUs now_us) noexcept;
  // The delay-based estimate moved: the loss-based one never sits above it.
  void capTo(std::int64_t delay_based_bps) noexcept;
  void setRate(std::int64_t bps) noexcept { rate_bps_ = bps; }

  std::int64_t rateBps() const noexcept { return rate_bps_; }
  double lastLoss() const noexcept { return last_loss_; }
  std::uint64_t decreases() const noexcept { return decreases_; }

 private:
  Config config_;
  std::int64_t rate_bps_;
  bool has_report_{false};
  TimeUs last_report_us_{0};
  bool has_decrease_{false};
  TimeUs last_decrease_us_{0};
  double last_loss_{0};
  std::uint64_t decreases_{0};
};

}  // namespace chorus::media::cc
