#pragma once
// Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1), RTPFB
// PT 205 FMT 15: full decode and encode of the packet status chunks (run length; status vector with 1- or
// 2-bit symbols) and the receive deltas (1 byte unsigned or 2 bytes signed, 250 µs units), with the 24-bit
// signed reference time (64 ms units) and the 8-bit feedback packet count.
//
// `TransportCcFeedback::parse` validates the whole packet in one pass (every chunk, every delta, the status
// count against what the chunks hold) and keeps a view; `packets()` then walks the statuses again without
// allocating. `buildTransportCcFeedback` encodes consecutive statuses into a caller buffer. Sans-IO,
// single-threaded, noexcept; views point into the caller's buffer.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "media/bytes.hpp"
#include "media/rtcp/rtcp_packet.hpp"

namespace chorus::media {

inline constexpr std::int64_t kTccDeltaTickUs = 250;        // receive delta unit
inline constexpr std::int64_t kTccReferenceTickUs = 64000;  // reference time unit
inline constexpr std::size_t kTccFixedSize = 20;            // RTCP header + SSRCs + base/count/ref/fb count

// One packet of a feedback, in sequence order from the base sequence number.
struct TransportCcPacketStatus {
  std::uint16_t seq{0};
  bool received{false};
  std::int32_t delta_ticks{0};  // receive delta in 250 µs ticks (0 when not received)
  bool operator==(const TransportCcPacketStatus&) const = default;
};

class TransportCcStatusIterator {
 public:
  TransportCcStatusIterator() = default;
  TransportCcStatusIterator(ByteSpan chunks, ByteSpan deltas, std::uint16_t base_seq,
                            std::uint16_t count) noexcept
      : chunks_(chunks), deltas_(deltas), seq_(base_seq), left_(count) {}
  // The next status; nullopt after `status_count` of them. Input was validated by parse().
  std::optional<TransportCcPacketStatus> next() noexcept;

 private:
  ByteSpan chunks_;
  ByteSpan deltas_;
  std::size_t chunk_pos_{0};
  std::size_t delta_pos_{0};
  std::uint16_t seq_{0};
  std::size_t left_{0};
  std::uint16_t chunk_{0};
  std::size_t in_chunk_left_{0};  // symbols left in the current chunk
  std::size_t in_chunk_index_{0};
};

struct TransportCcFeedback {
  std::uint32_t sender_ssrc{0};
  std::uint32_t media_ssrc{0};
  std::uint16_t base_seq{0};
  std::uint16_t status_count{0};   // ≥ 1
  std::int32_t reference_time{0};  // 24-bit signed, 64 ms units
  std::uint8_t feedback_count{0};
  std::uint16_t received_count{0};
  ByteSpan chunks;  // packet status chunks (2 bytes each)
  ByteSpan deltas;  // receive deltas, exactly as many bytes as the received symbols need

  std::int64_t referenceTimeUs() const noexcept { return std::int64_t{reference_time} * kTccReferenceTickUs; }
  TransportCcStatusIterator packets() const noexcept {
    return TransportCcStatusIterator(chunks, deltas, base_seq, status_count);
  }

  // Rejects (BadBody): not RTPFB/15, FCI < 8 bytes, status count 0, a reserved symbol (binary 11), chunks or
  // deltas past the end, or more than 3 bytes after the last delta.
  static std::optional<TransportCcFeedback> parse(const RtcpPacketView& p,
                                                  RtcpError* error = nullptr) noexcept;
};

struct TransportCcFeedbackHeader {
  std::uint32_t sender_ssrc{0};
  std::uint32_t media_ssrc{0};
  std::uint16_t base_seq{0};
  std::int32_t reference_time{0};  // must fit 24 bits signed
  std::uint8_t feedback_count{0};
};

// Upper bound of the packet size for `status_count` statuses of which `received` carry a delta (every delta
// counted as 2 bytes, every chunk as 7 statuses), padding included.
constexpr std::size_t transportCcSizeBound(std::size_t status_count, std::size_t received) noexcept {
  return kTccFixedSize + 2 * ((status_count + 6) / 7) + 2 * received + 3;
}

// Encodes `statuses` (consecutive from header.base_seq; their `seq` fields are ignored) as one RTCP packet at
// the start of `out`, padded to 32 bits with the P bit. Nullopt when `statuses` is empty or longer than
// 65535, a delta does not fit 16 bits signed, the reference time does not fit 24 bits, or `out` is too small.
std::optional<std::size_t> buildTransportCcFeedback(
    MutableByteSpan out, const TransportCcFeedbackHeader& header,
    std::span<const TransportCcPacketStatus> statuses) noexcept;

}  // namespace chorus::media
