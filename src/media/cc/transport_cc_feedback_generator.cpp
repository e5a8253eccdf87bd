#include "media/cc/transport_cc_feedback_generator.hpp"

#include <algorithm>

namespace chorus::media::cc {
namespace {

std::size_t roundUpPow2(std::size_t n) {
  std::size_t p = 16;
  while (p < n && p < (std::size_t{1} << 20)) p <<= 1;
  return p;
}

std::int64_t floorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

TransportCcFeedbackGenerator::TransportCcFeedbackGenerator(Config config) : config_(config) {
  config_.max_status_count = std::clamp<std::size_t>(config_.max_status_count, 1, 0xFFFF);
  config_.max_tracked = roundUpPow2(std::max(config_.max_tracked, config_.max_status_count));
  config_.max_feedback_bytes = std::max<std::size_t>(config_.max_feedback_bytes, transportCcSizeBound(1, 1));
  mask_ = config_.max_tracked - 1;
  ring_.resize(config_.max_tracked);
  statuses_.resize(config_.max_status_count);
}

const TransportCcFeedbackGenerator::Slot* TransportCcFeedbackGenerator::slotFor(
    std::int64_t s) const noexcept {
  const Slot& slot = ring_[static_cast<std::size_t>(s) & mask_];
  return slot.seq == s ? &slot : nullptr;
}

std::int64_t TransportCcFeedbackGenerator::oldestKept() const noexcept {
  return unwrapper_.highest() - static_cast<std::int64_t>(config_.max_tracked) + 1;
}

void TransportCcFeedbackGenerator::onPacket(std::uint16_t seq, TimeUs arrival_us) noexcept {
  ++counters_.packets;
  const bool first = !unwrapper_.initialized();
  const std::int64_t s = unwrapper_.unwrap(seq);
  if (first) start_ = s;
  if (s < oldestKept()) {
    ++counters_.too_late;
    return;
  }
  Slot& slot = ring_[static_cast<std::size_t>(s) & mask_];
  if (slot.seq == s) {
    ++counters_.duplicates;
    return;
  }
  if (s < start_) {
    if (start_ - s > static_cast<std::int64_t>(config_.max_reorder)) {
      ++counters_.too_late;
      return;
    }
    start_ = s;
    ++counters_.rereported;
  }
  slot.seq = s;
  slot.arrival = arrival_us;
}

bool TransportCcFeedbackGenerator::hasPending() const noexcept {
  if (!unwrapper_.initialized()) return false;
  for (std::int64_t s = std::max(start_, oldestKept()); s <= unwrapper_.highest(); ++s) {
    if (slotFor(s) != nullptr) return true;
  }
  return false;
}

std::optional<std::size_t> TransportCcFeedbackGenerator::nextFeedback(MutableByteSpan out) noexcept {
  if (!unwrapper_.initialized()) return std::nullopt;
  const std::int64_t highest = unwrapper_.highest();
  if (start_ < oldestKept()) {
    counters_.gap_skipped += static_cast<std::uint64_t>(oldestKept() - start_);
    start_ = oldestKept();
  }
  std::int64_t first_received = start_;
  while (first_received <= highest && slotFor(first_received) == nullptr) ++first_received;
  if (first_received > highest) return std::nullopt;
  if (first_received - start_ >= static_cast<std::int64_t>(config_.max_status_count)) {
    counters_.gap_skipped += static_cast<std::uint64_t>(first_received - start_);
    start_ = first_received;
  }
  const std::size_t limit = std::min(out.size(), config_.max_feedback_bytes);
  if (limit < transportCcSizeBound(first_received - start_ + 1, 1)) return std::nullopt;

  const TimeUs first_arrival = slotFor(first_received)->arrival;
  const std::int64_t ref = floorDiv(first_arrival, kTccReferenceTickUs);
  TimeUs last = ref * kTccReferenceTickUs;  // the time the deltas so far add up to
  std::size_t count = 0;
  std::size_t included = 0;  // statuses up to and including the last received one
  std::size_t received = 0;
  for (std::int64_t s = start_; s <= highest && count < config_.max_status_count; ++s) {
    const Slot* slot = slotFor(s);
    TransportCcPacketStatus st;
    st.seq = static_cast<std::uint16_t>(s);
    if (slot != nullptr) {
      const std::int64_t ticks = floorDiv(slot->arrival - last, kTccDeltaTickUs);
      if (ticks < -32768 || ticks > 32767) break;  // report the rest against a new reference
      if (transportCcSizeBound(count + 1, received + 1) > limit) break;
      st.received = true;
      st.delta_ticks = static_cast<std::int32_t>(ticks);
      last += ticks * kTccDeltaTickUs;
      ++received;
      statuses_[count++] = st;
      included = count;
    } else {
      if (transportCcSizeBound(count + 1, received) > limit) break;
      statuses_[count++] = st;
    }
  }
  if (included == 0) return std::nullopt;
  // 24-bit signed wrap of the reference time (the sender unwraps it).
  std::int32_t ref24 = static_cast<std::int32_t>(static_cast<std::uint32_t>(ref) & 0xFFFFFF);
  if (ref24 >= (1 << 23)) ref24 -= (1 << 24);
  TransportCcFeedbackHeader header{config_.sender_ssrc, config_.media_ssrc,
                                   static_cast<std::uint16_t>(start_), ref24, feedback_count_};
  auto n = buildTransportCcFeedback(out.first(limit), header,
                                    std::span<const TransportCcPacketStatus>(statuses_.data(), included));
  if (!n) return std::nullopt;
  ++feedback_count_;
  ++counters_.feedbacks;
  start_ += static_cast<std::int64_t>(included);
  return n;
}

}  // namespace chorus::media::cc
