#include "media/rtp/simulcast_rewriter.hpp"

#include <algorithm>

namespace chorus::media {

namespace {

std::optional<SimulcastRewriter::Output> drop(RewriteDrop* why, RewriteDrop reason) noexcept {
  if (why != nullptr) *why = reason;
  return std::nullopt;
}

}  // namespace

const char* toString(RewriteDrop d) noexcept {
  switch (d) {
    case RewriteDrop::NoLayerSelected:
      return "no_layer_selected";
    case RewriteDrop::NotSelected:
      return "not_selected";
    case RewriteDrop::WaitingForKeyframe:
      return "waiting_for_keyframe";
    case RewriteDrop::BeforeSwitch:
      return "before_switch";
    case RewriteDrop::Count:
      break;
  }
  return "unknown";
}

std::optional<SimulcastRewriter::Output> SimulcastRewriter::rewrite(std::uint32_t ssrc, std::uint16_t seq,
                                                                    std::uint32_t timestamp,
                                                                    bool keyframe_start, TimeMs now,
                                                                    RewriteDrop* why) noexcept {
  if (!target_) return drop(why, RewriteDrop::NoLayerSelected);
  bool switched = false;
  if (current_ && ssrc == *current_) {
    // Current layer: keep forwarding (even while a switch is pending), unless the target keyframe arrives
    // on the same SSRC, which needs nothing special.
  } else if (ssrc == *target_) {
    if (!keyframe_start) return drop(why, RewriteDrop::WaitingForKeyframe);
    current_ = ssrc;
    seq_in_.reset();
    ts_in_.reset();
    seq_base_in_ = seq_in_.unwrap(seq);
    ts_base_in_ = ts_in_.unwrap(timestamp);
    if (!started_) {
      seq_base_out_ = config_.initial_seq;
      ts_base_out_ = config_.initial_timestamp;
      highest_seq_out_ = seq_base_out_ - 1;
      highest_ts_out_ = ts_base_out_;
      highest_ts_time_ = now;
      started_ = true;
    } else {
      seq_base_out_ = highest_seq_out_ + 1;
      const std::int64_t elapsed_ms = std::max<std::int64_t>(0, now - highest_ts_time_);
      const std::int64_t delta = std::max<std::int64_t>(1, elapsed_ms * config_.clock_rate / 1000);
      ts_base_out_ = highest_ts_out_ + delta;
    }
    switched = true;
  } else {
    return drop(why, RewriteDrop::NotSelected);
  }

  const std::int64_t s = switched ? seq_base_in_ : seq_in_.unwrap(seq);
  const std::int64_t t = switched ? ts_base_in_ : ts_in_.unwrap(timestamp);
  if (s < seq_base_in_) return drop(why, RewriteDrop::BeforeSwitch);
  const std::int64_t out_seq = seq_base_out_ + (s - seq_base_in_);
  const std::int64_t out_ts = ts_base_out_ + (t - ts_base_in_);
  if (out_seq > highest_seq_out_) highest_seq_out_ = out_seq;
  if (switched || out_ts > highest_ts_out_) {
    highest_ts_out_ = out_ts;
    highest_ts_time_ = now;
  }
  return Output{static_cast<std::uint16_t>(out_seq), static_cast<std::uint32_t>(out_ts), switched};
}

std::optional<SimulcastRewriter::Output> SimulcastRewriter::padding() noexcept {
  if (!started_) return std::nullopt;
  const std::int64_t out_seq = ++highest_seq_out_;
  if (current_ && seq_in_.initialized()) {  // the current layer continues after the padding
    seq_base_in_ = seq_in_.highest() + 1;
    seq_base_out_ = out_seq + 1;
  }
  return Output{static_cast<std::uint16_t>(out_seq), static_cast<std::uint32_t>(highest_ts_out_), false};
}

bool SimulcastRewriter::skipPadding(std::uint32_t ssrc, std::uint16_t seq) noexcept {
  if (!started_ || !current_ || *current_ != ssrc || !seq_in_.initialized()) return false;
  const std::int64_t s = seq_in_.peek(seq);
  if (s != seq_in_.highest() + 1) return false;
  seq_in_.unwrap(seq);
  seq_base_in_ = s + 1;
  seq_base_out_ = highest_seq_out_ + 1;
  return true;
}

std::optional<SimulcastRewriter::Output> SimulcastRewriter::rewrite(MutableRtpPacketView& packet,
                                                                    bool keyframe_start, TimeMs now,
                                                                    RewriteDrop* why) noexcept {
  auto out = rewrite(packet.ssrc(), packet.sequenceNumber(), packet.timestamp(), keyframe_start, now, why);
  if (out) {
    packet.setSsrc(config_.outgoing_ssrc);
    packet.setSequenceNumber(out->seq);
    packet.setTimestamp(out->timestamp);
  }
  return out;
}

}  // namespace chorus::media
