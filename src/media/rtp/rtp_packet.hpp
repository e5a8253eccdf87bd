#pragma once
// RTP (RFC 3550 §5.1) header view with RFC 8285 header extensions (one-byte 0xBEDE and two-byte 0x100X), and
// in-place rewriting of the fields an SFU changes. Views never allocate and never throw; they refer into the
// caller's buffer, which must outlive them.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "media/bytes.hpp"

namespace chorus::media {

inline constexpr std::size_t kRtpHeaderSize = 12;
inline constexpr std::uint16_t kRtpOneByteExtensionProfile = 0xBEDE;
inline constexpr std::uint16_t kRtpTwoByteExtensionProfile = 0x1000;  // low 4 bits: appbits

enum class RtpError : std::uint8_t {
  TooShort,          // < 12 bytes
  BadVersion,        // version != 2
  CsrcOverrun,       // CSRC list past the end
  ExtensionOverrun,  // header extension past the end
  BadPadding,        // P set with a padding count of 0 or larger than the payload
  TooLong,           // > 65535 bytes (no UDP datagram is)
  Count
};
const char* toString(RtpError e) noexcept;

// One header-extension element.
struct RtpExtension {
  std::uint8_t id{0};
  ByteSpan data;
  std::size_t offset{0};  // offset of `data` in the packet
};

// Walks the elements of a one-byte or two-byte extension block. Stops at the end, at a one-byte ID 15, or at
// the first element that would overrun (malformed() then tells).
class RtpExtensionIterator {
 public:
  RtpExtensionIterator() = default;
  RtpExtensionIterator(ByteSpan block, std::size_t block_offset, bool two_byte) noexcept
      : block_(block), block_offset_(block_offset), two_byte_(two_byte) {}
  std::optional<RtpExtension> next() noexcept;
  bool malformed() const noexcept { return malformed_; }

 private:
  ByteSpan block_;
  std::size_t block_offset_{0};
  std::size_t pos_{0};
  bool two_byte_{false};
  bool malformed_{false};
};

class RtpPacketView {
 public:
  static std::optional<RtpPacketView> parse(ByteSpan packet, RtpError* error = nullptr) noexcept;

  std::uint8_t version() const noexcept { return data_[0] >> 6; }
  bool hasPadding() const noexcept { return (data_[0] & 0x20) != 0; }
  bool hasExtension() const noexcept { return (data_[0] & 0x10) != 0; }
  std::uint8_t csrcCount() const noexcept { return data_[0] & 0x0F; }
  bool marker() const noexcept { return (data_[1] & 0x80) != 0; }
  std::uint8_t payloadType() const noexcept { return data_[1] & 0x7F; }
  std::uint16_t sequenceNumber() const noexcept { return load16(data_.data() + 2); }
  std::uint32_t timestamp() const noexcept { return load32(data_.data() + 4); }
  std::uint32_t ssrc() const noexcept { return load32(data_.data() + 8); }
  std::uint32_t csrc(std::size_t i) const noexcept {  // i < csrcCount()
    return i < csrcCount() ? load32(data_.data() + kRtpHeaderSize + 4 * i) : 0;
  }

  // Header extension block (after the 4-byte profile/length word); empty when X is not set.
  std::uint16_t extensionProfile() const noexcept { return extension_profile_; }
  ByteSpan extensionBlock() const noexcept { return data_.subspan(extension_offset_, extension_size_); }
  bool hasOneByteExtensions() const noexcept { return extension_profile_ == kRtpOneByteExtensionProfile; }
  bool hasTwoByteExtensions() const noexcept {
    return (extension_profile_ & 0xFFF0) == kRtpTwoByteExtensionProfile;
  }
  RtpExtensionIterator extensions() const noexcept;
  // Finds the RFC 8285 element with this id (1..14 one-byte, 1..255 two-byte).
  std::optional<RtpExtension> findExtension(std::uint8_t id) const noexcept;

  std::size_t headerSize() const noexcept { return header_size_; }
  std::size_t paddingSize() const noexcept { return padding_size_; }
  ByteSpan payload() const noexcept { return data_.subspan(header_size_, payload_size_); }
  ByteSpan data() const noexcept { return data_; }
  std::size_t size() const noexcept { return data_.size(); }

 protected:
  ByteSpan data_;
  std::uint16_t header_size_{0};
  std::uint16_t extension_offset_{0};
  std::uint16_t extension_size_{0};
  std::uint16_t extension_profile_{0};
  std::size_t payload_size_{0};
  std::uint8_t padding_size_{0};
};

// The same view over a writable buffer, with setters that rewrite the header in place.
class MutableRtpPacketView : public RtpPacketView {
 public:
  static std::optional<MutableRtpPacketView> parse(MutableByteSpan packet,
                                                   RtpError* error = nullptr) noexcept;

  void setMarker(bool m) noexcept {
    bytes_[1] = static_cast<std::uint8_t>((bytes_[1] & 0x7F) | (m ? 0x80 : 0));
  }
  void setPayloadType(std::uint8_t pt) noexcept {
    bytes_[1] = static_cast<std::uint8_t>((bytes_[1] & 0x80) | (pt & 0x7F));
  }
  void setSequenceNumber(std::uint16_t seq) noexcept { store16(bytes_ + 2, seq); }
  void setTimestamp(std::uint32_t ts) noexcept { store32(bytes_ + 4, ts); }
  void setSsrc(std::uint32_t ssrc) noexcept { store32(bytes_ + 8, ssrc); }
  // Writable bytes of an extension element (e.g. to rewrite transport-cc or abs-send-time in place).
  std::optional<MutableByteSpan> mutableExtension(std::uint8_t id) noexcept;
  MutableByteSpan mutablePayload() noexcept { return MutableByteSpan(bytes_ + header_size_, payload_size_); }

 private:
  std::uint8_t* bytes_{nullptr};
};

// Value decoders for the extensions the focus uses.
// urn:ietf:params:rtp-hdrext:sdes:mid and :sdes:rtp-stream-id / repaired-rtp-stream-id (RFC 8843 / 8852):
// 1..255 bytes of alphanumerics, '-' or '_' (mid also allows other token characters; we accept printable
// ASCII without spaces).
std::optional<std::string_view> parseSdesExtension(ByteSpan value) noexcept;
// http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time: 24-bit 6.18 fixed-point seconds.
std::optional<std::uint32_t> parseAbsSendTime(ByteSpan value) noexcept;
// http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01: 16-bit transport-wide seq.
std::optional<std::uint16_t> parseTransportCcSeq(ByteSpan value) noexcept;
// urn:ietf:params:rtp-hdrext:ssrc-audio-level (RFC 6464, client-to-mixer): one byte, the voice-activity flag
// (0x80) and the level in -dBov (0x7F: 0 is the loudest, 127 silence). nullopt unless exactly one byte.
struct AudioLevel {
  std::uint8_t level{127};
  bool voice{false};
};
std::optional<AudioLevel> parseAudioLevel(ByteSpan value) noexcept;

}  // namespace chorus::media
