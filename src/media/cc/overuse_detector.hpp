#pragma once
// Overuse detector with an adaptive threshold (draft-ietf-rmcat-gcc-02 §5.4–5.5, libwebrtc's
// OveruseDetector): compares the trendline's modified trend with ±threshold. Overusing needs the trend above
// the threshold for more than 10 ms and for at least two groups, with a trend not falling; below −threshold
// is Underusing; else Normal. The threshold follows |trend| (k_up 0.0087 when above it, k_down 0.039 when
// below, per ms, at most 100 ms of adaptation per update), clamped to [6, 600], and ignores outliers more
// than 15 above it — so steady jitter raises the threshold instead of triggering a back-off. Single-threaded;
// sans-IO.
#include <cstdint>

#include "media/cc/cc_types.hpp"

namespace chorus::media::cc {

enum class BandwidthUsage : std::uint8_t { Normal, Underusing, Overusing };
const char* toString(BandwidthUsage u) noexcept;

class OveruseDetector {
 public:
  struct Config {
    double initial_threshold{12.5};
    double k_up{0.0087};
    double k_down{0.039};
    double overusing_time_ms{10};
    double min_threshold{6};
    double max_threshold{600};
    double max_adapt_offset{15};
  };
  OveruseDetector() : OveruseDetector(Config{}) {}
  explicit OveruseDetector(Config config) : config_(config), threshold_(config.initial_threshold) {}

  BandwidthUsage detect(double modified_trend, double send_delta_ms, std::size_t num_deltas,
                        TimeUs now_us) noexcept;
  BandwidthUsage state() const noexcept { return state_; }
  double threshold() const noexcept { return threshold_; }

 private:
  void updateThreshold(double modified_trend, TimeUs now_us) noexcept;

  Config config_;
  double threshold_;
  double time_over_using_{-1};
  int overuse_counter_{0};
  double prev_trend_{0};
  bool have_last_update_{false};
  TimeUs last_update_us_{0};
  BandwidthUsage state_{BandwidthUsage::Normal};
};

}  // namespace chorus::media::cc
