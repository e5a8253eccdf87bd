#include "media/cc/send_side_bwe.hpp"

#include <algorithm>

namespace chorus::media::cc {

SendSideBwe::SendSideBwe(Config config)
    : config_(config),
      history_(SentPacketHistory::Config{config.history_capacity, config.history_initial_capacity}),
      aimd_(AimdRateControl::Config{config.start_bps, config.min_bps, config.max_bps, 0.85}),
      loss_(std::clamp(config.start_bps, config.min_bps, config.max_bps),
            LossBasedController::Config{0.02, 0.10, 300'000, config.min_bps}) {
  results_.reserve(128);  // one feedback's statuses (~100 ms of packets); grows if one reports more
}

std::int64_t SendSideBwe::targetBps() const noexcept {
  return std::clamp(std::min(aimd_.estimateBps(), loss_.rateBps()), config_.min_bps, config_.max_bps);
}

void SendSideBwe::onPacketSent(std::uint16_t transport_seq, std::size_t size, TimeUs now_us,
                               int probe_cluster) noexcept {
  history_.onPacketSent(transport_seq, size, now_us, probe_cluster);
  if (!sent_since_feedback_ && !has_feedback_)
    last_feedback_us_ = now_us;  // timeout counts from the first send
  sent_since_feedback_ = true;
  last_sent_us_ = now_us;
}

void SendSideBwe::onRtt(TimeUs rtt_us) noexcept {
  if (rtt_us <= 0) return;
  rtt_us_ = rtt_us;
  rtt_from_rr_ = true;
  aimd_.setRtt(rtt_us_);
}

void SendSideBwe::reportLoss(double loss, TimeUs now_us) noexcept {
  const std::uint64_t before = loss_.decreases();
  loss_.onLossReport(loss, aimd_.estimateBps(), rtt_us_, now_us);
  counters_.loss_decreases += loss_.decreases() - before;
}

void SendSideBwe::onReceiverReportLoss(std::uint8_t fraction_lost, TimeUs now_us) noexcept {
  reportLoss(static_cast<double>(fraction_lost) / 256.0, now_us);
}

void SendSideBwe::onFeedback(const TransportCcFeedback& feedback, TimeUs now_us) {
  if (has_feedback_) {
    const auto gap = static_cast<std::uint8_t>(feedback.feedback_count - last_feedback_count_ - 1);
    if (gap < 128) counters_.feedbacks_lost += gap;  // else a duplicate or reordered feedback
  }
  has_feedback_ = true;
  last_feedback_count_ = feedback.feedback_count;
  last_feedback_us_ = now_us;
  sent_since_feedback_ = false;
  ++counters_.feedbacks;

  history_.onFeedback(feedback, results_);
  if (results_.empty()) return;
  TimeUs newest_send = -1;
  std::int64_t probe_bps = 0;
  if (loss_window_total_ == 0) loss_window_start_us_ = now_us;
  for (const PacketResult& r : results_) {
    ++loss_window_total_;
    if (!r.received) {
      ++loss_window_lost_;
      ++counters_.packets_lost;
      continue;
    }
    ++counters_.packets_acked;
    newest_send = std::max(newest_send, r.send_us);
    if (r.probe_cluster >= 0) {
      if (auto probe = probes_.onAcked(r.probe_cluster, r)) probe_bps = std::max(probe_bps, *probe);
      // Probe packets leave in bursts with send times spread at the probe's rate (the focus has no pacer):
      // their arrival pattern says nothing about queueing, so they stay out of the delay gradient. A probe
      // above the link still shows there, in the delay of the media packets queued behind it.
      continue;
    }
    if (auto d = inter_arrival_.onPacket(r.send_us, r.arrival_us, r.size)) {
      const double send_ms = static_cast<double>(d->send_delta_us) / 1000.0;
      const double arrival_ms = static_cast<double>(d->arrival_delta_us) / 1000.0;
      const double trend = trendline_.update(send_ms, arrival_ms, d->arrival_us);
      const BandwidthUsage before = detector_.state();
      const BandwidthUsage now = detector_.detect(trend, send_ms, trendline_.deltas(), now_us);
      if (now == BandwidthUsage::Overusing && before != BandwidthUsage::Overusing)
        ++counters_.overuse_signals;
    }
  }
  acked_.onFeedback(results_);
  // RTT from feedback when no receiver report gives one: feedback arrival minus the newest acked send time
  // (an overestimate by up to one feedback interval), smoothed.
  if (!rtt_from_rr_ && newest_send >= 0) {
    const TimeUs sample = std::max<TimeUs>(now_us - newest_send, 1000);
    rtt_us_ = (7 * rtt_us_ + sample) / 8;
    aimd_.setRtt(rtt_us_);
  }
  // Delay-based update once per feedback (libwebrtc's DelayBasedBwe does the same).
  const auto acked = acked_.bitrateBps();
  const std::uint64_t decreases_before = aimd_.decreases();
  if (detector_.state() == BandwidthUsage::Overusing) {
    if (acked && aimd_.timeToReduceFurther(now_us, *acked))
      aimd_.update(BandwidthUsage::Overusing, acked, now_us);
  } else {
    aimd_.update(detector_.state(), acked, now_us);
  }
  counters_.delay_decreases += aimd_.decreases() - decreases_before;
  // A probe that got through lifts the estimate (never while overusing, never above max).
  if (probe_bps > aimd_.estimateBps() && detector_.state() != BandwidthUsage::Overusing) {
    aimd_.setEstimate(probe_bps, now_us);
    loss_.setRate(std::max(loss_.rateBps(), std::min(probe_bps, aimd_.estimateBps())));
    ++counters_.probe_raises;
  }
  if (loss_window_total_ >= config_.loss_min_packets &&
      now_us - loss_window_start_us_ >= config_.loss_window_us) {
    reportLoss(static_cast<double>(loss_window_lost_) / static_cast<double>(loss_window_total_), now_us);
    loss_window_lost_ = 0;
    loss_window_total_ = 0;
  } else {
    loss_.capTo(aimd_.estimateBps());
  }
}

void SendSideBwe::onTick(TimeUs now_us) noexcept {
  if (!sent_since_feedback_) return;
  if (now_us - last_feedback_us_ < config_.feedback_timeout_us) return;
  if (now_us - last_timeout_cut_us_ < config_.feedback_timeout_us) return;
  last_timeout_cut_us_ = now_us;
  ++counters_.timeouts;
  const std::int64_t cut = targetBps() * 4 / 5;
  aimd_.setEstimate(cut, now_us);
  loss_.setRate(std::max(cut, config_.min_bps));
}

}  // namespace chorus::media::cc
