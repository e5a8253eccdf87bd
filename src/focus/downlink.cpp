#include "focus/downlink.hpp"

#include <algorithm>

#include "media/rtcp/transport_cc_feedback.hpp"
#include "media/rtp/transport_wide_seq.hpp"

namespace chorus::focus {

namespace {

constexpr std::int64_t kAudioFloorBps = 40'000;  // an audio subscription before its rate was measured
constexpr TimeMs kRtxWindowMs = 500;             // retransmission budget window
constexpr TimeMs kPauseGraceMs = 1500;           // see DownlinkPauseGrace
constexpr TimeMs kProbeQuietMs = 3000;           // no probe this soon after the estimate backed off
constexpr std::size_t kMaxProbePerTick = 64;     // with 50 ms ticks: probes up to ≈ 3 Mbit/s
// What one probe packet costs on the wire.
constexpr std::size_t kProbeWireSize = kProbePacketSize + kTransportSeqRoom + kPacketOverhead;

media::cc::TimeUs toUs(TimeMs t) noexcept {
  return t * media::cc::kUsPerMs;
}

}  // namespace

bool DownlinkPauseGrace::pause(const media::cc::LayerChoice& choice, bool paused, TimeMs now) noexcept {
  const bool fits = !choice.paused && choice.layer;
  if (!fits && !paused && !unfit_since) unfit_since = now;
  if (fits) unfit_since.reset();
  return !fits && (paused || now - *unfit_since >= kPauseGraceMs);
}

DownlinkController::DownlinkController(const DownlinkConfig& config, std::uint8_t ext_id)
    : config_(config),
      ext_id_(ext_id),
      bwe_([&] {
        media::cc::SendSideBwe::Config b;
        b.start_bps = config.start_bps;
        b.min_bps = config.min_bps;
        b.max_bps = config.max_bps;
        return b;
      }()),
      allocator_(media::cc::LayerAllocator::Config{0.15, 0.5}),
      probes_([&] {
        media::cc::ProbeController::Config pc;
        pc.max_interval_us = 3 * media::cc::kUsPerSecond;  // a link that got faster is found within seconds
        pc.max_bps = config.max_bps;
        pc.packet_size = kProbeWireSize;
        return pc;
      }()) {}

// ---- sending and feedback ----

std::size_t DownlinkController::onSend(media::MutableByteSpan room, std::size_t length, TimeMs now,
                                       int probe_cluster, std::int64_t send_offset_us) {
  const auto n = media::writeTransportWideSeq(room, length, ext_id_, next_seq_);
  if (!n) return length;
  bwe_.onPacketSent(next_seq_, *n + kPacketOverhead, toUs(now) + send_offset_us, probe_cluster);
  ++next_seq_;
  return *n;
}

void DownlinkController::onFeedback(const media::TransportCcFeedback& feedback, TimeMs now) {
  bwe_.onFeedback(feedback, toUs(now));
}

// ---- retransmissions ----

void DownlinkController::beginRetransmissions(TimeMs now) noexcept {
  if (!rtx_window_start_ || now - *rtx_window_start_ >= kRtxWindowMs) {
    rtx_window_start_ = now;
    rtx_window_bits_ = 0;
  }
}

bool DownlinkController::admitRetransmission(std::size_t rtp_bytes) noexcept {
  const auto bits = static_cast<std::int64_t>(8 * (rtp_bytes + kPacketOverhead));
  if ((rtx_window_bits_ + bits) * 1000 > bwe_.targetBps() / 2 * kRtxWindowMs) return false;
  rtx_window_bits_ += bits;
  return true;
}

// ---- allocation ----

bool DownlinkController::onTick(TimeMs now) {
  if (!hasFeedback()) return false;
  bwe_.onTick(toUs(now));
  if (last_alloc_ && now - *last_alloc_ < config_.alloc_interval_ms) return false;
  last_alloc_ = now;
  target_bps_ = bwe_.targetBps();
  // The allocation's budget is the estimate, but never less than one back-off (AIMD's 0.85) from what the
  // link has acknowledged: on a thin link the estimate dips well below what the link keeps delivering (on
  // 300 kbit/s to ~150 after a keyframe burst, while ~270 arrive), and pausing a layer the link carries
  // helps nobody. The acknowledged rate never exceeds what was sent, so it never justifies a step up alone.
  budget_bps_ = std::max(target_bps_, bwe_.ackedBps().value_or(0) * 85 / 100);
  audio_bps_ = 0;
  needed_bps_ = 0;
  subs_.clear();
  return true;
}

void DownlinkController::addAudio(std::int64_t measured_bps) noexcept {
  audio_bps_ += std::max(measured_bps, kAudioFloorBps);
}

media::cc::VideoSubscription& DownlinkController::addVideo(std::uint64_t id) {
  auto& v = subs_.emplace_back();
  v.id = id;
  return v;
}

// Each subscription is capped (by the caller) at the layer its requested size wants; what the first one the
// budget holds back needs for its next step up is what a probe must show the link can carry.
std::span<const media::cc::LayerChoice> DownlinkController::allocate() {
  const std::int64_t budget = std::max<std::int64_t>(0, budget_bps_ - audio_bps_);
  allocation_ = allocator_.allocate(budget, subs_);
  allocated_bps_ = allocation_.allocated_bps + audio_bps_;
  paused_ = allocation_.paused;
  needed_bps_ = 0;
  for (std::size_t i = 0; i < allocation_.choices.size() && needed_bps_ == 0; ++i) {
    const auto& c = allocation_.choices[i];
    if (!c.capped_by_budget) continue;
    const auto& layers = subs_[i].layers;
    // The next step up: from pause to the lowest layer, else one layer up.
    const std::size_t next = c.layer ? std::min(*c.layer + 1, layers.size() - 1) : 0;
    const std::int64_t extra = layers[next].bitrate_bps - (c.layer ? layers[*c.layer].bitrate_bps : 0);
    // Leaving pause or going up needs the allocator's headroom too.
    if (extra > 0) needed_bps_ = allocated_bps_ + extra + extra * 3 / 20 + 1;
  }
  return allocation_.choices;
}

void DownlinkController::onUpSwitch(TimeMs now) noexcept {
  probes_.onUpSwitch(toUs(now));
}

bool DownlinkController::endAllocation(TimeMs now) {
  // No probe right after a back-off: the link just showed its limit, and a burst above it would only queue
  // and bring on the next back-off.
  const auto& k = bwe_.counters();
  const std::uint64_t decreases = k.delay_decreases + k.loss_decreases + k.timeouts;
  if (decreases != decreases_seen_) {
    decreases_seen_ = decreases;
    last_decrease_ = now;
  }
  const bool settled = !last_decrease_ || now - *last_decrease_ >= kProbeQuietMs;
  if (probe_left_ != 0 || needed_bps_ <= 0 || !settled) return false;
  const auto probe = probes_.onTick(toUs(now), target_bps_, needed_bps_);
  if (!probe) return false;
  constexpr auto kProbePacketBits = static_cast<std::int64_t>(8 * kProbeWireSize);
  const std::int64_t per_tick =
      (probe->rate_bps * config_.tick_interval_ms / 1000 + kProbePacketBits - 1) / kProbePacketBits;
  probe_cluster_ = probe->cluster;
  probe_bps_ = probe->rate_bps;
  probe_per_tick_ = std::clamp<std::size_t>(static_cast<std::size_t>(per_tick), 1, kMaxProbePerTick);
  probe_left_ = std::max(probe->packets, 2 * probe_per_tick_);
  return true;
}

// ---- probing ----

std::optional<DownlinkController::ProbeBurst> DownlinkController::probeBurst() const noexcept {
  if (probe_left_ == 0) return std::nullopt;
  ProbeBurst b;
  b.cluster = probe_cluster_;
  b.packets = std::min(probe_left_, probe_per_tick_);
  b.spacing_us = static_cast<std::int64_t>(8 * kProbeWireSize) * media::cc::kUsPerSecond /
                 std::max<std::int64_t>(probe_bps_, 1);
  return b;
}

void DownlinkController::onProbeSent() noexcept {
  if (probe_left_ > 0) --probe_left_;
}

DownlinkStats DownlinkController::stats() const {
  DownlinkStats st;
  st.target_bps = bwe_.targetBps();
  st.delay_based_bps = bwe_.delayBasedBps();
  st.loss_based_bps = bwe_.lossBasedBps();
  st.acked_bps = bwe_.ackedBps().value_or(0);
  st.allocated_bps = allocated_bps_;
  st.rtt_ms = rttMs();
  st.feedbacks = bwe_.counters().feedbacks;
  st.packets_lost = bwe_.counters().packets_lost;
  st.packets_acked = bwe_.counters().packets_acked;
  st.probe_raises = bwe_.counters().probe_raises;
  st.delay_decreases = bwe_.counters().delay_decreases;
  st.loss_decreases = bwe_.counters().loss_decreases;
  st.paused = paused_;
  return st;
}

}  // namespace chorus::focus
