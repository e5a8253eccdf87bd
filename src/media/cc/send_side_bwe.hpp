#pragma once
// Send-side bandwidth estimate for one subscriber's downlink (GCC-style, as libwebrtc's GoogCC and
// mediasoup's TransportCongestionControlClient run it): the focus stamps transport-wide sequence numbers on
// what it sends, tells this estimator about every sent packet, and hands it the subscriber's parsed
// transport-cc feedback (and, optionally, receiver-report loss and RTT). Composition, each part in its own
// file:
//   SentPacketHistory  → PacketResults (send time, size, arrival or lost)
//   InterArrival       → group deltas → TrendlineEstimator → OveruseDetector (adaptive threshold)
//   AckedBitrateEstimator + AimdRateControl → delay-based estimate
//   ProbeBitrateEstimator (probe clusters the caller marks) → raises both when a probe got through (probe
//   packets are kept out of the delay gradient: they may be bursts with nominal, evenly spread send times)
//   LossBasedController (loss from feedback, or RR fraction lost) → loss-based estimate
//   target = min(delay-based, loss-based), within [min_bps, max_bps]
// When packets are in flight and no feedback came for `feedback_timeout_us`, the estimate is cut to 0.8× once
// per timeout (the subscriber's feedback path is gone or the link is black). Every store is bounded (history
// ring, acked-rate ring, trendline window). Single-threaded; sans-IO: every call takes the caller's monotonic
// time.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "media/cc/acked_bitrate_estimator.hpp"
#include "media/cc/aimd_rate_control.hpp"
#include "media/cc/cc_types.hpp"
#include "media/cc/inter_arrival.hpp"
#include "media/cc/loss_based_controller.hpp"
#include "media/cc/overuse_detector.hpp"
#include "media/cc/probe_bitrate_estimator.hpp"
#include "media/cc/sent_packet_history.hpp"
#include "media/cc/trendline_estimator.hpp"
#include "media/rtcp/transport_cc_feedback.hpp"

namespace chorus::media::cc {

class SendSideBwe {
 public:
  struct Config {
    std::int64_t start_bps{600'000};  // mediasoup's initialAvailableOutgoingBitrate default
    std::int64_t min_bps{30'000};
    std::int64_t max_bps{20'000'000};
    std::size_t history_capacity{8192};
    std::size_t history_initial_capacity{256};  // grows while packets younger than 2 s would be overwritten
    TimeUs feedback_timeout_us{1'000'000};
    std::size_t loss_min_packets{20};  // feedback statuses per loss report, and
    TimeUs loss_window_us{500'000};    // at least this long (20 packets alone are too noisy at 1 % loss)
  };
  struct Counters {
    std::uint64_t feedbacks{0};
    std::uint64_t feedbacks_lost{0};  // gaps in the feedback packet count
    std::uint64_t packets_acked{0};
    std::uint64_t packets_lost{0};
    std::uint64_t overuse_signals{0};
    std::uint64_t delay_decreases{0};
    std::uint64_t loss_decreases{0};
    std::uint64_t timeouts{0};
    std::uint64_t probe_raises{0};  // probe results that raised the estimate
  };

  SendSideBwe() : SendSideBwe(Config{}) {}
  explicit SendSideBwe(Config config);

  // `probe_cluster` ≥ 0: the packet is part of that probe cluster (a burst above the estimate before an
  // up-switch); when feedback acknowledges enough of it, the estimate may jump to what the link delivered.
  void onPacketSent(std::uint16_t transport_seq, std::size_t size, TimeUs now_us,
                    int probe_cluster = -1) noexcept;
  void onFeedback(const TransportCcFeedback& feedback, TimeUs now_us);
  // RTCP receiver report of the subscriber: fraction lost (x/256) since its previous report.
  void onReceiverReportLoss(std::uint8_t fraction_lost, TimeUs now_us) noexcept;
  void onRtt(TimeUs rtt_us) noexcept;
  void onTick(TimeUs now_us) noexcept;

  std::int64_t targetBps() const noexcept;
  std::int64_t delayBasedBps() const noexcept { return aimd_.estimateBps(); }
  std::int64_t lossBasedBps() const noexcept { return loss_.rateBps(); }
  std::optional<std::int64_t> ackedBps() const noexcept { return acked_.bitrateBps(); }
  BandwidthUsage usage() const noexcept { return detector_.state(); }
  TimeUs rttUs() const noexcept { return rtt_us_; }
  const Counters& counters() const noexcept { return counters_; }
  const SentPacketHistory& history() const noexcept { return history_; }
  std::uint64_t probeResults() const noexcept { return probes_.results(); }

 private:
  void reportLoss(double loss, TimeUs now_us) noexcept;

  Config config_;
  SentPacketHistory history_;
  InterArrival inter_arrival_;
  TrendlineEstimator trendline_;
  OveruseDetector detector_;
  AckedBitrateEstimator acked_;
  AimdRateControl aimd_;
  LossBasedController loss_;
  ProbeBitrateEstimator probes_;
  std::vector<PacketResult> results_;  // scratch, reused
  TimeUs rtt_us_{100'000};
  bool rtt_from_rr_{false};
  bool has_feedback_{false};
  std::uint8_t last_feedback_count_{0};
  TimeUs last_feedback_us_{0};
  TimeUs last_sent_us_{0};
  TimeUs last_timeout_cut_us_{0};
  bool sent_since_feedback_{false};
  TimeUs loss_window_start_us_{0};
  std::size_t loss_window_lost_{0};
  std::size_t loss_window_total_{0};
  Counters counters_;
};

}  // namespace chorus::media::cc
