#pragma once
// One subscriber's downlink congestion control in the focus (docs/congestion-control.md), sans-IO (time is
// passed in): the transport-wide sequence numbers on what the Router sends the subscriber, the send-side
// estimate its transport-cc feedback drives (media::cc::SendSideBwe), the share-out of that estimate among
// its video subscriptions (media::cc::LayerAllocator) with the pause grace, the padding probes before an
// up-switch the estimate does not cover (media::cc::ProbeController), and the retransmission budget.
//
// The Router keeps what it knows of tracks and layers and drives a DownlinkController per subscriber with
// transport-cc:
//   - every RTP packet it sends the subscriber goes through onSend(), every transport-cc feedback from it to
//     onFeedback();
//   - answering a NACK packet: rttMs(), beginRetransmissions(), then admitRetransmission() per packet;
//   - every tick: probeBurst() (the Router sends the padding, onProbeSent() each), then onTick(); when that
//     says an allocation is due: addAudio()/addVideo() per subscription, allocate(), for each choice
//     DownlinkPauseGrace::pause() and onUpSwitch() on a switch to a higher layer, then endAllocation().
// Single-threaded. Depends on chorus::media only.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/clock.hpp"
#include "media/bytes.hpp"
#include "media/cc/layer_allocator.hpp"
#include "media/cc/probe_controller.hpp"
#include "media/cc/send_side_bwe.hpp"
#include "media/rtp/rtp_packet.hpp"

namespace chorus::media {
struct TransportCcFeedback;
}

namespace chorus::focus {

// Room for the transport-wide sequence number a forwarded packet gains (a new one-byte extension block).
inline constexpr std::size_t kTransportSeqRoom = 8;
// What a packet costs on the wire beyond its RTP bytes, for the downlink estimate (SRTP tag, UDP, IPv4).
inline constexpr std::size_t kPacketOverhead = 10 + 8 + 20;
// Probe packets: padding only (RFC 3550 §5.1), as libwebrtc sends them (at most 224 bytes of padding).
inline constexpr std::size_t kProbePadding = 224;
inline constexpr std::size_t kProbePacketSize = media::kRtpHeaderSize + kProbePadding;

// One subscriber's downlink estimate (subscribers with transport-cc only).
struct DownlinkStats {
  std::int64_t target_bps{0};
  std::int64_t delay_based_bps{0};
  std::int64_t loss_based_bps{0};
  std::int64_t acked_bps{0};  // 0 = not known yet
  std::int64_t allocated_bps{0};
  std::int64_t rtt_ms{0};
  std::uint64_t feedbacks{0};
  std::uint64_t packets_lost{0};
  std::uint64_t packets_acked{0};
  std::uint64_t probe_raises{0};     // probes that lifted the estimate
  std::uint64_t delay_decreases{0};  // back-offs on queueing delay
  std::uint64_t loss_decreases{0};   // back-offs on loss
  std::size_t paused{0};
};

struct DownlinkConfig {
  std::int64_t start_bps{1'000'000};
  std::int64_t min_bps{50'000};
  std::int64_t max_bps{10'000'000};
  TimeMs alloc_interval_ms{200};  // between two allocations
  TimeMs tick_interval_ms{50};    // between two ticks: a probe cluster's packets are spread over ticks
};

// The pause grace of one video subscription, kept with it across allocations: it is paused only when even
// its lowest layer has not fitted for a while (kPauseGraceMs in downlink.cpp). The estimate dips for a moment
// after every queue build-up (a keyframe), and a pause costs a keyframe and a visible stall.
struct DownlinkPauseGrace {
  std::optional<TimeMs> unfit_since;  // since when not even the lowest layer fits

  // Feeds one allocation's choice for the subscription (`paused`: whether it is paused now). True: pause it
  // (or keep it paused).
  bool pause(const media::cc::LayerChoice& choice, bool paused, TimeMs now) noexcept;
};

class DownlinkController {
 public:
  // `ext_id`: the transport-wide sequence number extension id the subscriber accepted.
  DownlinkController(const DownlinkConfig& config, std::uint8_t ext_id);

  void setExtensionId(std::uint8_t ext_id) noexcept { ext_id_ = ext_id; }
  std::uint8_t extensionId() const noexcept { return ext_id_; }

  // ---- sending and feedback ----

  // Stamps the RTP packet in room[0, length) with the next transport-wide sequence number (`room` holds
  // kTransportSeqRoom bytes more) and records it as sent at `now` + `send_offset_us` (a probe's packets are
  // spread over the tick), in probe cluster `probe_cluster` (-1: none). Returns the packet's new length;
  // unchanged when the extension could not be written (then the packet is not counted either).
  std::size_t onSend(media::MutableByteSpan room, std::size_t length, TimeMs now, int probe_cluster = -1,
                     std::int64_t send_offset_us = 0);
  void onFeedback(const media::TransportCcFeedback& feedback, TimeMs now);
  // Until the first feedback, the subscriber may not implement transport-cc: the Router keeps its size-only
  // layer choice (the estimate would only decay).
  bool hasFeedback() const noexcept { return bwe_.counters().feedbacks > 0; }

  // ---- retransmissions ----

  // The estimator's round trip (100 ms assumed until measured): no packet is resent twice within it.
  TimeMs rttMs() const noexcept { return bwe_.rttUs() / media::cc::kUsPerMs; }
  // Before answering one NACK packet: a new budget window when the last one is over.
  void beginRetransmissions(TimeMs now) noexcept;
  // A retransmission of `rtp_bytes`: true when it fits the budget, which it then uses. Retransmissions get
  // at most half the estimate: on a congested link they would otherwise crowd out the media they repair.
  bool admitRetransmission(std::size_t rtp_bytes) noexcept;

  // ---- allocation ----

  // Advances the estimate (once feedback came). True when an allocation round is due now: then offer every
  // subscription (addAudio, addVideo), allocate(), apply the choices and endAllocation().
  bool onTick(TimeMs now);
  // An audio subscription: its measured rate (0 = not measured) is set aside from the budget.
  void addAudio(std::int64_t measured_bps) noexcept;
  // A video subscription (`id` unique among them); the caller fills in its layers, lowest first.
  media::cc::VideoSubscription& addVideo(std::uint64_t id);
  // Shares the estimate, less the audio, among the video subscriptions: one choice each, in the order they
  // were added (the layer an index into their layers). Valid until the next round.
  std::span<const media::cc::LayerChoice> allocate();
  // A subscription moved to a higher layer: the next probe may come soon.
  void onUpSwitch(TimeMs now) noexcept;
  // Ends the round: starts a probe cluster when a step up did not fit the estimate (not right after a
  // back-off). True when one started.
  bool endAllocation(TimeMs now);

  // ---- probing ----

  struct ProbeBurst {
    int cluster{-1};
    std::size_t packets{0};      // to send this tick (of kProbePacketSize)
    std::int64_t spacing_us{0};  // between two of them, at the probe's rate
  };
  // The probe packets due this tick; nullopt when no probe runs.
  std::optional<ProbeBurst> probeBurst() const noexcept;
  void onProbeSent() noexcept;
  void cancelProbe() noexcept { probe_left_ = 0; }  // nothing to probe on

  DownlinkStats stats() const;

 private:
  DownlinkConfig config_;
  std::uint8_t ext_id_{0};
  std::uint16_t next_seq_{0};
  media::cc::SendSideBwe bwe_;
  media::cc::LayerAllocator allocator_;
  media::cc::ProbeController probes_;
  std::optional<TimeMs> last_alloc_;
  std::int64_t target_bps_{0};  // of the current round
  std::int64_t budget_bps_{0};  // of the current round: the target, at least 0.85 × the acknowledged rate
  std::int64_t audio_bps_{0};   // of the current round
  std::int64_t needed_bps_{0};  // of the current round: what the next step up needs, 0 = none
  std::int64_t allocated_bps_{0};
  std::size_t paused_{0};
  int probe_cluster_{-1};
  std::size_t probe_left_{0};      // packets of the running probe cluster still to send
  std::size_t probe_per_tick_{0};  // spread over at least two ticks (the estimator needs a send span)
  std::int64_t probe_bps_{0};
  std::uint64_t decreases_seen_{0};  // the estimator's back-offs, as last counted
  std::optional<TimeMs> last_decrease_;
  std::optional<TimeMs> rtx_window_start_;  // retransmissions sent in the current window (kRtxWindowMs)
  std::int64_t rtx_window_bits_{0};
  std::vector<media::cc::VideoSubscription> subs_;  // of the current round
  media::cc::Allocation allocation_;                // of the current round
};

}  // namespace chorus::focus
