#pragma once
// Sequence-number / timestamp rewriting for one outgoing video stream fed from several simulcast layers
// (SSRCs). The subscriber sees one continuous stream: a layer switch happens only on a keyframe of the target
// layer, the first packet after a switch gets the next sequence number after the highest one sent, and its
// timestamp advances by the wall-clock time since the last forwarded frame. Packets of the old layer that
// arrive after the switch, and packets of the new layer older than its switch keyframe, are dropped, so no
// sequence number is ever reused and none goes backwards across a switch. Time is injected (no clock reads).
#include <cstdint>
#include <optional>

#include "base/clock.hpp"
#include "media/rtp/counter_unwrapper.hpp"
#include "media/rtp/rtp_packet.hpp"

namespace chorus::media {

struct SimulcastRewriterConfig {
  std::uint32_t clock_rate{90000};
  std::uint32_t outgoing_ssrc{0};
  std::uint16_t initial_seq{0};        // first outgoing seq (use a random value in production)
  std::uint32_t initial_timestamp{0};  // first outgoing timestamp (likewise)
};

enum class RewriteDrop : std::uint8_t {
  NoLayerSelected,     // selectLayer() was never called
  NotSelected,         // a packet from a layer that is neither current nor target
  WaitingForKeyframe,  // target layer packet before its first keyframe start
  BeforeSwitch,        // a packet of the current layer older than the packet we switched on
  Count
};
const char* toString(RewriteDrop d) noexcept;

class SimulcastRewriter {
 public:
  explicit SimulcastRewriter(SimulcastRewriterConfig config = {}) noexcept : config_(config) {}

  struct Output {
    std::uint16_t seq{0};
    std::uint32_t timestamp{0};
    bool switched{false};  // this packet completed a layer switch (or started the stream)
  };

  // Selects the layer to forward. The current layer keeps flowing until a keyframe of `ssrc` arrives.
  void selectLayer(std::uint32_t ssrc) noexcept { target_ = ssrc; }
  std::optional<std::uint32_t> currentLayer() const noexcept { return current_; }
  std::optional<std::uint32_t> targetLayer() const noexcept { return target_; }
  bool switchPending() const noexcept { return target_ && target_ != current_; }
  // Forwarding paused (e.g. the track was muted): the next packet forwarded must be a keyframe of the target
  // layer, and it continues the outgoing sequence numbers and timestamps without a gap, like a layer switch.
  void resync() noexcept { current_.reset(); }
  // The outgoing timestamp an incoming `timestamp` of the current layer `ssrc` maps to (for translating the
  // publisher's sender reports); nullopt when `ssrc` is not the layer being forwarded.
  std::optional<std::uint32_t> mapTimestamp(std::uint32_t ssrc, std::uint32_t timestamp) const noexcept {
    if (!current_ || *current_ != ssrc || !started_) return std::nullopt;
    return static_cast<std::uint32_t>(ts_base_out_ + (ts_in_.peek(timestamp) - ts_base_in_));
  }

  // Maps one incoming packet; nullopt means drop (reason in *why).
  // `keyframe_start`: the first packet of a keyframe (for VP8: parseVp8Descriptor(...)->keyframe).
  std::optional<Output> rewrite(std::uint32_t ssrc, std::uint16_t seq, std::uint32_t timestamp,
                                bool keyframe_start, TimeMs now, RewriteDrop* why = nullptr) noexcept;

  // Same, and writes SSRC (config.outgoing_ssrc), seq and timestamp into the packet in place.
  std::optional<Output> rewrite(MutableRtpPacketView& packet, bool keyframe_start, TimeMs now,
                                RewriteDrop* why = nullptr) noexcept;

  // The next sequence number for a padding-only packet of our own (a bandwidth probe), with the timestamp of
  // the last frame sent; nullopt before the stream started. Packets of the current layer continue after it;
  // one older than the newest forwarded (reordered) is then dropped (BeforeSwitch), so no number is reused.
  // Send it between frames (after a marker packet) or while forwarding is paused.
  std::optional<Output> padding() noexcept;

  // Takes a padding-only packet of the current layer (a publisher's own bandwidth probe, never worth
  // forwarding) out of the outgoing numbering, so the subscriber sees no gap where it was dropped. Only a
  // packet that directly follows the newest one of the current layer (the usual case) can be taken out: one
  // of its packets older than it that arrives later is then dropped (BeforeSwitch), as after padding().
  // Returns false when the packet cannot be taken out (the caller forwards it as it is).
  bool skipPadding(std::uint32_t ssrc, std::uint16_t seq) noexcept;

  // Highest extended outgoing seq/timestamp sent so far (valid once started).
  std::int64_t highestSeq() const noexcept { return highest_seq_out_; }
  std::int64_t highestTimestamp() const noexcept { return highest_ts_out_; }

 private:
  SimulcastRewriterConfig config_;
  std::optional<std::uint32_t> current_;
  std::optional<std::uint32_t> target_;
  bool started_{false};
  CounterUnwrapper<std::uint16_t> seq_in_;
  CounterUnwrapper<std::uint32_t> ts_in_;
  std::int64_t seq_base_in_{0};
  std::int64_t ts_base_in_{0};
  std::int64_t seq_base_out_{0};
  std::int64_t ts_base_out_{0};
  std::int64_t highest_seq_out_{0};
  std::int64_t highest_ts_out_{0};
  TimeMs highest_ts_time_{0};
};

}  // namespace chorus::media
