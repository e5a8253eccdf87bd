#include "media/rtcp/transport_cc_feedback.hpp"

#include <algorithm>

namespace chorus::media {
namespace {

constexpr std::uint8_t kNotReceived = 0;
constexpr std::uint8_t kSmallDelta = 1;
constexpr std::uint8_t kLargeDelta = 2;
constexpr std::size_t kMaxRunLength = 0x1FFF;

std::optional<TransportCcFeedback> bad(RtcpError* error) noexcept {
  if (error != nullptr) *error = RtcpError::BadBody;
  return std::nullopt;
}

// Symbol `index` of a status-vector chunk (bit 15 set).
std::uint8_t vectorSymbol(std::uint16_t chunk, std::size_t index) noexcept {
  if ((chunk & 0x4000) == 0) return static_cast<std::uint8_t>((chunk >> (13 - index)) & 1);
  return static_cast<std::uint8_t>((chunk >> (12 - 2 * index)) & 3);
}
std::size_t vectorCapacity(std::uint16_t chunk) noexcept {
  return (chunk & 0x4000) == 0 ? 14 : 7;
}

std::uint8_t symbolFor(const TransportCcPacketStatus& s) noexcept {
  if (!s.received) return kNotReceived;
  return (s.delta_ticks >= 0 && s.delta_ticks <= 255) ? kSmallDelta : kLargeDelta;
}

}  // namespace

std::optional<TransportCcFeedback> TransportCcFeedback::parse(const RtcpPacketView& p,
                                                              RtcpError* error) noexcept {
  auto head = RtcpTransportCc::parse(p, error);
  if (!head) return std::nullopt;
  if (head->status_count == 0) return bad(error);
  const ByteSpan rest = head->chunks;
  std::size_t pos = 0;
  std::size_t left = head->status_count;
  std::size_t delta_bytes = 0;
  std::size_t received = 0;
  while (left > 0) {
    if (rest.size() - pos < 2) return bad(error);
    const std::uint16_t chunk = load16(rest.data() + pos);
    pos += 2;
    if ((chunk & 0x8000) == 0) {
      const std::uint8_t symbol = static_cast<std::uint8_t>((chunk >> 13) & 3);
      const std::size_t n = std::min<std::size_t>(chunk & kMaxRunLength, left);
      if (n > 0 && symbol == 3) return bad(error);
      if (symbol != kNotReceived) received += n;
      delta_bytes += n * symbol;  // symbol 1 → 1 byte, 2 → 2 bytes
      left -= n;
    } else {
      const std::size_t n = std::min(vectorCapacity(chunk), left);
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t symbol = vectorSymbol(chunk, i);
        if (symbol == 3) return bad(error);
        if (symbol != kNotReceived) ++received;
        delta_bytes += symbol;
      }
      left -= n;
    }
  }
  if (rest.size() - pos < delta_bytes) return bad(error);
  if (rest.size() - pos - delta_bytes > 3) return bad(error);
  TransportCcFeedback f;
  f.sender_ssrc = head->sender_ssrc;
  f.media_ssrc = head->media_ssrc;
  f.base_seq = head->base_seq;
  f.status_count = head->status_count;
  f.reference_time = head->reference_time;
  f.feedback_count = head->feedback_count;
  f.received_count = static_cast<std::uint16_t>(received);
  f.chunks = rest.subspan(0, pos);
  f.deltas = rest.subspan(pos, delta_bytes);
  return f;
}

std::optional<TransportCcPacketStatus> TransportCcStatusIterator::next() noexcept {
  if (left_ == 0) return std::nullopt;
  while (in_chunk_left_ == 0) {
    if (chunks_.size() - chunk_pos_ < 2) {
      left_ = 0;
      return std::nullopt;
    }
    chunk_ = load16(chunks_.data() + chunk_pos_);
    chunk_pos_ += 2;
    in_chunk_index_ = 0;
    in_chunk_left_ = (chunk_ & 0x8000) == 0 ? (chunk_ & kMaxRunLength) : vectorCapacity(chunk_);
  }
  const std::uint8_t symbol = (chunk_ & 0x8000) == 0 ? static_cast<std::uint8_t>((chunk_ >> 13) & 3)
                                                     : vectorSymbol(chunk_, in_chunk_index_);
  ++in_chunk_index_;
  --in_chunk_left_;
  --left_;
  TransportCcPacketStatus s;
  s.seq = seq_++;
  if (symbol == kSmallDelta && delta_pos_ + 1 <= deltas_.size()) {
    s.received = true;
    s.delta_ticks = deltas_[delta_pos_];
    delta_pos_ += 1;
  } else if (symbol == kLargeDelta && delta_pos_ + 2 <= deltas_.size()) {
    s.received = true;
    s.delta_ticks = static_cast<std::int16_t>(load16(deltas_.data() + delta_pos_));
    delta_pos_ += 2;
  }
  return s;
}

std::optional<std::size_t> buildTransportCcFeedback(
    MutableByteSpan out, const TransportCcFeedbackHeader& header,
    std::span<const TransportCcPacketStatus> statuses) noexcept {
  const std::size_t n = statuses.size();
  if (n == 0 || n > 0xFFFF) return std::nullopt;
  if (header.reference_time < -(1 << 23) || header.reference_time >= (1 << 23)) return std::nullopt;
  std::size_t delta_bytes = 0;
  for (const auto& s : statuses) {
    if (!s.received) continue;
    if (s.delta_ticks < -32768 || s.delta_ticks > 32767) return std::nullopt;
    delta_bytes += symbolFor(s);
  }
  // Chunks: greedy. A run of equal symbols that covers the rest, or ≥ 14 of them, is a run-length chunk; else
  // 14 one-bit symbols when the next 14 (or the rest) are all 0/1; else a run of ≥ 7 as run length; else 7
  // two-bit symbols. Symbols past the end of a vector are 0 (not received) and ignored by the status count.
  std::size_t pos = kTccFixedSize;
  std::size_t i = 0;
  while (i < n) {
    const std::uint8_t first = symbolFor(statuses[i]);
    std::size_t run = 1;
    while (i + run < n && run < kMaxRunLength && symbolFor(statuses[i + run]) == first) ++run;
    const std::size_t window = std::min<std::size_t>(14, n - i);
    bool one_bit = true;
    for (std::size_t k = 0; k < window; ++k) one_bit = one_bit && symbolFor(statuses[i + k]) <= kSmallDelta;
    std::uint16_t chunk = 0;
    if (run == n - i || run >= 14) {
      chunk = static_cast<std::uint16_t>((first << 13) | run);
      i += run;
    } else if (one_bit) {
      chunk = 0x8000;
      for (std::size_t k = 0; k < window; ++k)
        chunk |= static_cast<std::uint16_t>(symbolFor(statuses[i + k]) << (13 - k));
      i += window;
    } else if (run >= 7) {
      chunk = static_cast<std::uint16_t>((first << 13) | run);
      i += run;
    } else {
      chunk = 0xC000;
      const std::size_t w = std::min<std::size_t>(7, n - i);
      for (std::size_t k = 0; k < w; ++k)
        chunk |= static_cast<std::uint16_t>(symbolFor(statuses[i + k]) << (12 - 2 * k));
      i += w;
    }
    if (out.size() < pos + 2) return std::nullopt;
    store16(out.data() + pos, chunk);
    pos += 2;
  }
  if (out.size() < pos + delta_bytes) return std::nullopt;
  for (const auto& s : statuses) {
    const std::uint8_t symbol = symbolFor(s);
    if (symbol == kSmallDelta) {
      out[pos++] = static_cast<std::uint8_t>(s.delta_ticks);
    } else if (symbol == kLargeDelta) {
      store16(out.data() + pos, static_cast<std::uint16_t>(static_cast<std::int16_t>(s.delta_ticks)));
      pos += 2;
    }
  }
  const std::size_t padding = (4 - pos % 4) % 4;
  if (out.size() < pos + padding) return std::nullopt;
  for (std::size_t k = 0; k < padding; ++k) out[pos + k] = 0;
  if (padding > 0) out[pos + padding - 1] = static_cast<std::uint8_t>(padding);
  pos += padding;
  const std::size_t words = pos / 4 - 1;
  if (words > 0xFFFF) return std::nullopt;
  out[0] = static_cast<std::uint8_t>(0x80 | (padding > 0 ? 0x20 : 0) | kRtpfbTransportCc);
  out[1] = kRtcpRtpfb;
  store16(out.data() + 2, static_cast<std::uint16_t>(words));
  store32(out.data() + 4, header.sender_ssrc);
  store32(out.data() + 8, header.media_ssrc);
  store16(out.data() + 12, header.base_seq);
  store16(out.data() + 14, static_cast<std::uint16_t>(n));
  store24(out.data() + 16, static_cast<std::uint32_t>(header.reference_time) & 0xFFFFFF);
  out[19] = header.feedback_count;
  return pos;
}

}  // namespace chorus::media
