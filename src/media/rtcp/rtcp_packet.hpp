#pragma once
// RTCP (RFC 3550 §6, RFC 4585 §6, RFC 5104 §4.3.1) compound-packet iteration, typed views and builders.
// Views refer into the caller's buffer; nothing allocates or throws. Builders write into a caller buffer and
// return the size written, or nullopt when it does not fit.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "media/bytes.hpp"

namespace chorus::media {

inline constexpr std::uint8_t kRtcpSr = 200;
inline constexpr std::uint8_t kRtcpRr = 201;
inline constexpr std::uint8_t kRtcpSdes = 202;
inline constexpr std::uint8_t kRtcpBye = 203;
inline constexpr std::uint8_t kRtcpApp = 204;
inline constexpr std::uint8_t kRtcpRtpfb = 205;
inline constexpr std::uint8_t kRtcpPsfb = 206;
inline constexpr std::uint8_t kRtcpXr = 207;

// Feedback message types (FMT).
inline constexpr std::uint8_t kRtpfbNack = 1;
inline constexpr std::uint8_t kRtpfbTransportCc = 15;
inline constexpr std::uint8_t kPsfbPli = 1;
inline constexpr std::uint8_t kPsfbFir = 4;
inline constexpr std::uint8_t kPsfbAfb = 15;  // application layer feedback (REMB)

enum class RtcpError : std::uint8_t {
  TooShort,       // fewer than 4 bytes where a header is expected
  BadVersion,     // version != 2
  LengthOverrun,  // the length field runs past the compound packet
  BadPadding,     // padding count of 0 or larger than the body
  BadBody,        // a typed view's body is too short or inconsistent with its count
  Count
};
const char* toString(RtcpError e) noexcept;

// One packet of a compound packet.
struct RtcpPacketView {
  bool padding{false};
  std::uint8_t count{0};  // RC, SC or FMT (5 bits)
  std::uint8_t type{0};   // PT
  ByteSpan packet;        // the whole packet, header included
  ByteSpan body;          // after the 4-byte header, padding removed
};

class RtcpCompoundReader {
 public:
  explicit RtcpCompoundReader(ByteSpan compound) noexcept : data_(compound) {}
  // The next packet, or nullopt at the end or on the first malformed header (then error() is set).
  std::optional<RtcpPacketView> next() noexcept;
  std::optional<RtcpError> error() const noexcept { return error_; }

 private:
  ByteSpan data_;
  std::size_t pos_{0};
  std::optional<RtcpError> error_;
};

// Number of packets in `compound` when every header is well formed and the first is SR or RR (RFC 3550
// §6.1; reduced-size RTCP per RFC 5506 is accepted when `allow_reduced_size`).
std::optional<std::size_t> validateRtcpCompound(ByteSpan compound, bool allow_reduced_size = true,
                                                RtcpError* error = nullptr) noexcept;

struct RtcpReportBlock {
  std::uint32_t ssrc{0};
  std::uint8_t fraction_lost{0};
  std::int32_t cumulative_lost{0};  // 24-bit signed
  std::uint32_t extended_highest_seq{0};
  std::uint32_t jitter{0};
  std::uint32_t last_sr{0};
  std::uint32_t delay_since_last_sr{0};
  bool operator==(const RtcpReportBlock&) const = default;
};
inline constexpr std::size_t kRtcpReportBlockSize = 24;

struct RtcpSenderReport {
  std::uint32_t ssrc{0};
  std::uint64_t ntp_timestamp{0};
  std::uint32_t rtp_timestamp{0};
  std::uint32_t packet_count{0};
  std::uint32_t octet_count{0};
  ByteSpan blocks;  // count * 24 bytes
  std::size_t reportCount() const noexcept { return blocks.size() / kRtcpReportBlockSize; }
  RtcpReportBlock reportBlock(std::size_t i) const noexcept;

  static std::optional<RtcpSenderReport> parse(const RtcpPacketView& p, RtcpError* error = nullptr) noexcept;
};

struct RtcpReceiverReport {
  std::uint32_t ssrc{0};
  ByteSpan blocks;
  std::size_t reportCount() const noexcept { return blocks.size() / kRtcpReportBlockSize; }
  RtcpReportBlock reportBlock(std::size_t i) const noexcept;

  static std::optional<RtcpReceiverReport> parse(const RtcpPacketView& p,
                                                 RtcpError* error = nullptr) noexcept;
};

struct RtcpSdesItem {
  std::uint32_t ssrc{0};
  std::uint8_t type{0};  // 1 CNAME, 2 NAME, ... 8 PRIV
  std::string_view value;
};

// Walks the items of every chunk of an SDES packet (RFC 3550 §6.5).
class RtcpSdesIterator {
 public:
  explicit RtcpSdesIterator(const RtcpPacketView& p) noexcept : body_(p.body), chunks_left_(p.count) {}
  std::optional<RtcpSdesItem> next() noexcept;
  bool malformed() const noexcept { return malformed_; }

 private:
  ByteSpan body_;
  std::size_t pos_{0};
  std::size_t chunks_left_{0};
  bool in_chunk_{false};
  std::uint32_t ssrc_{0};
  bool malformed_{false};
};

struct RtcpBye {
  ByteSpan ssrcs;  // count * 4 bytes
  std::optional<std::string_view> reason;
  std::size_t ssrcCount() const noexcept { return ssrcs.size() / 4; }
  std::uint32_t ssrc(std::size_t i) const noexcept {
    return i < ssrcCount() ? load32(ssrcs.data() + 4 * i) : 0;
  }

  static std::optional<RtcpBye> parse(const RtcpPacketView& p, RtcpError* error = nullptr) noexcept;
};

// Common feedback header (RFC 4585 §6.1): PT 205 (RTPFB) or 206 (PSFB).
struct RtcpFeedback {
  std::uint8_t fmt{0};
  std::uint32_t sender_ssrc{0};
  std::uint32_t media_ssrc{0};
  ByteSpan fci;

  static std::optional<RtcpFeedback> parse(const RtcpPacketView& p, RtcpError* error = nullptr) noexcept;
};

// Generic NACK (RFC 4585 §6.2.1): RTPFB FMT 1.
struct RtcpNack {
  std::uint32_t sender_ssrc{0};
  std::uint32_t media_ssrc{0};
  ByteSpan items;  // count * 4 bytes of (PID, BLP)
  std::size_t itemCount() const noexcept { return items.size() / 4; }
  std::uint16_t pid(std::size_t i) const noexcept { return load16(items.data() + 4 * i); }
  std::uint16_t blp(std::size_t i) const noexcept { return load16(items.data() + 4 * i + 2); }
  // Writes the lost sequence numbers into `out` (up to out.size()); returns how many the packet names
  // (at most 17 per item; duplicates are not removed).
  std::size_t lostSequenceNumbers(std::span<std::uint16_t> out) const noexcept;

  static std::optional<RtcpNack> parse(const RtcpPacketView& p, RtcpError* error = nullptr) noexcept;
};

// Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1):
// RTPFB FMT 15. Only the fixed header is decoded.
struct RtcpTransportCc {
  std::uint32_t sender_ssrc{0};
  std::uint32_t media_ssrc{0};
  std::uint16_t base_seq{0};
  std::uint16_t status_count{0};
  std::int32_t reference_time{0};  // 24-bit signed, multiples of 64 ms
  std::uint8_t feedback_count{0};
  ByteSpan chunks;  // packet status chunks + receive deltas, undecoded

  static std::optional<RtcpTransportCc> parse(const RtcpPacketView& p, RtcpError* error = nullptr) noexcept;
};

// Picture Loss Indication (RFC 4585 §6.3.1): PSFB FMT 1, no FCI.
struct RtcpPli {
  std::uint32_t sender_ssrc{0};
  std::uint32_t media_ssrc{0};
  static std::optional<RtcpPli> parse(const RtcpPacketView& p, RtcpError* error = nullptr) noexcept;
};

struct RtcpFirEntry {
  std::uint32_t ssrc{0};
  std::uint8_t seq{0};
  bool operator==(const RtcpFirEntry&) const = default;
};

// Full Intra Request (RFC 5104 §4.3.1): PSFB FMT 4, FCI entries of (SSRC, seq nr, 3 reserved bytes).
struct RtcpFir {
  std::uint32_t sender_ssrc{0};
  ByteSpan entries;  // count * 8 bytes
  std::size_t entryCount() const noexcept { return entries.size() / 8; }
  RtcpFirEntry entry(std::size_t i) const noexcept {
    return {load32(entries.data() + 8 * i), entries[8 * i + 4]};
  }
  static std::optional<RtcpFir> parse(const RtcpPacketView& p, RtcpError* error = nullptr) noexcept;
};

// Receiver Estimated Max Bitrate (draft-alvestrand-rmcat-remb-03): PSFB FMT 15 with FCI "REMB".
struct RtcpRemb {
  std::uint32_t sender_ssrc{0};
  std::uint64_t bitrate_bps{0};  // mantissa << exp, saturated at UINT64_MAX
  ByteSpan ssrcs;
  std::size_t ssrcCount() const noexcept { return ssrcs.size() / 4; }
  std::uint32_t ssrc(std::size_t i) const noexcept {
    return i < ssrcCount() ? load32(ssrcs.data() + 4 * i) : 0;
  }
  static std::optional<RtcpRemb> parse(const RtcpPacketView& p, RtcpError* error = nullptr) noexcept;
};

// Builders. Each writes one RTCP packet (header included) at the start of `out`.
std::optional<std::size_t> buildRtcpReceiverReport(MutableByteSpan out, std::uint32_t sender_ssrc,
                                                   std::span<const RtcpReportBlock> blocks) noexcept;
// Packs `lost` into (PID, BLP) items. Sorted input (mod 2^16) gives the fewest items; any order is correct.
std::optional<std::size_t> buildRtcpNack(MutableByteSpan out, std::uint32_t sender_ssrc,
                                         std::uint32_t media_ssrc,
                                         std::span<const std::uint16_t> lost) noexcept;
// A sender report without report blocks (28 bytes).
std::optional<std::size_t> buildRtcpSenderReport(MutableByteSpan out, std::uint32_t ssrc,
                                                 std::uint64_t ntp_timestamp, std::uint32_t rtp_timestamp,
                                                 std::uint32_t packet_count,
                                                 std::uint32_t octet_count) noexcept;
std::optional<std::size_t> buildRtcpPli(MutableByteSpan out, std::uint32_t sender_ssrc,
                                        std::uint32_t media_ssrc) noexcept;
std::optional<std::size_t> buildRtcpFir(MutableByteSpan out, std::uint32_t sender_ssrc,
                                        std::span<const RtcpFirEntry> entries) noexcept;
// A BYE (RFC 3550 §6.6) for up to 31 SSRCs, without a reason. Receivers free the sources' state.
std::optional<std::size_t> buildRtcpBye(MutableByteSpan out, std::span<const std::uint32_t> ssrcs) noexcept;
std::optional<std::size_t> buildRtcpRemb(MutableByteSpan out, std::uint32_t sender_ssrc,
                                         std::uint64_t bitrate_bps,
                                         std::span<const std::uint32_t> ssrcs) noexcept;

}  // namespace chorus::media
