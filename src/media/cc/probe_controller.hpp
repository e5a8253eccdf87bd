#pragma once
// When to probe, and how hard (the caller's side of ProbeBitrateEstimator): when the layer allocator wants a
// step up that the estimate does not cover (`needed_bps` > target), ask for a short cluster of padding/RTX at
// min(needed × 1.2, 3 × target, max) of at least 10 packets and 15 ms. Probes are spaced by an interval that
// starts at 1 s and doubles (up to 8 s) while they do not lead to an up-switch; onUpSwitch() resets it. So a
// thin link is probed rarely, and a link that got faster is found within a few seconds (GoogCC probes at
// 3×/6× at start and on allocation changes; LiveKit probes before an up-switch). Single-threaded; sans-IO.
#include <cstddef>
#include <cstdint>
#include <optional>

#include "media/cc/cc_types.hpp"

namespace chorus::media::cc {

class ProbeController {
 public:
  struct Config {
    TimeUs min_interval_us{1'000'000};
    TimeUs max_interval_us{8'000'000};
    double overshoot{1.2};
    double max_factor{3.0};  // never probe above this × the current target
    std::size_t min_packets{10};
    TimeUs min_duration_us{15'000};
    std::size_t packet_size{1200};
    std::int64_t max_bps{20'000'000};
  };
  struct Probe {
    int cluster{0};
    std::int64_t rate_bps{0};
    std::size_t packets{0};
  };

  ProbeController() : ProbeController(Config{}) {}
  explicit ProbeController(Config config) : config_(config), interval_(config.min_interval_us) {}

  // `needed_bps`: the total send rate the next step up needs (0 when nothing waits for bandwidth).
  std::optional<Probe> onTick(TimeUs now_us, std::int64_t target_bps, std::int64_t needed_bps) noexcept;
  // An up-switch happened: the next probe may come after the minimum interval again.
  void onUpSwitch(TimeUs now_us) noexcept;
  TimeUs interval() const noexcept { return interval_; }

 private:
  Config config_;
  TimeUs interval_;
  bool has_next_{false};
  TimeUs next_allowed_us_{0};
  int next_cluster_{0};
};

}  // namespace chorus::media::cc
