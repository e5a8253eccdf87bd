#pragma once
// AIMD rate controller of the delay-based estimator (draft-ietf-rmcat-gcc-02 §5.5, libwebrtc's
// AimdRateControl): a state machine Hold / Increase / Decrease driven by the overuse detector's signal.
// - Normal → Increase: multiplicative 8 %/s while no link capacity is known, additive (about one packet per
//   response time, rtt + 100 ms) once a back-off taught one; the capacity is forgotten when the acked rate
//   goes 3 standard deviations above it (the link got faster). Increases never go above 1.5 × acked
//   throughput + 10 kbps (no running away from what is really sent).
// - Overusing → Decrease to beta (0.85) × acked throughput, at most once per RTT (clamped 10–200 ms) unless
//   throughput collapsed under half the estimate; the link capacity estimate learns the acked rate.
// - Underusing → Hold (queues are draining).
// Estimate clamped to [min_bps, max_bps]. Single-threaded; sans-IO.
#include <cstdint>
#include <optional>

#include "media/cc/cc_types.hpp"
#include "media/cc/overuse_detector.hpp"

namespace chorus::media::cc {

class AimdRateControl {
 public:
  struct Config {
    std::int64_t start_bps{600'000};
    std::int64_t min_bps{30'000};
    std::int64_t max_bps{20'000'000};
    double beta{0.85};
  };
  enum class State : std::uint8_t { Hold, Increase, Decrease };

  AimdRateControl() : AimdRateControl(Config{}) {}
  explicit AimdRateControl(Config config);

  std::int64_t update(BandwidthUsage usage, std::optional<std::int64_t> acked_bps, TimeUs now_us) noexcept;
  // Whether another decrease is allowed now (one per RTT, or at once when throughput < half the estimate).
  bool timeToReduceFurther(TimeUs now_us, std::int64_t acked_bps) const noexcept;
  void setEstimate(std::int64_t bps, TimeUs now_us) noexcept;
  void setRtt(TimeUs rtt_us) noexcept { rtt_us_ = rtt_us; }

  std::int64_t estimateBps() const noexcept { return current_bps_; }
  State state() const noexcept { return state_; }
  std::optional<double> linkCapacityKbps() const noexcept {
    return has_capacity_ ? std::optional<double>(capacity_kbps_) : std::nullopt;
  }
  std::uint64_t decreases() const noexcept { return decreases_; }

 private:
  std::int64_t clamp(std::int64_t bps) const noexcept;
  void updateCapacity(double sample_kbps) noexcept;
  double capacityUpperKbps() const noexcept;
  std::int64_t additiveIncrease(TimeUs dt_us) const noexcept;

  Config config_;
  std::int64_t current_bps_;
  State state_{State::Hold};
  bool has_update_{false};
  TimeUs last_update_us_{0};
  TimeUs last_change_us_{0};
  TimeUs rtt_us_{100'000};
  bool has_capacity_{false};
  double capacity_kbps_{0};
  double capacity_var_{0.4};
  std::uint64_t decreases_{0};
};

}  // namespace chorus::media::cc
