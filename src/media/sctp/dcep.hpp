#pragma once
// Data Channel Establishment Protocol (RFC 8832) framing and the WebRTC SCTP payload protocol identifiers
// (RFC 8831 §8). SCTP itself is usrsctp's job; these are the bytes carried with PPID 50.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "media/bytes.hpp"

namespace chorus::media {

enum class SctpPpid : std::uint32_t {
  Dcep = 50,
  String = 51,
  BinaryPartial = 52,  // deprecated
  Binary = 53,
  StringPartial = 54,  // deprecated
  StringEmpty = 56,
  BinaryEmpty = 57,
};

enum class DcepMessageType : std::uint8_t { Ack = 0x02, Open = 0x03 };

enum class DcepChannelType : std::uint8_t {
  Reliable = 0x00,
  PartialReliableRexmit = 0x01,
  PartialReliableTimed = 0x02,
  ReliableUnordered = 0x80,
  PartialReliableRexmitUnordered = 0x81,
  PartialReliableTimedUnordered = 0x82,
};

enum class DcepError : std::uint8_t {
  Empty,
  UnknownMessageType,
  TooShort,        // shorter than the fixed 12-byte DATA_CHANNEL_OPEN header
  BadChannelType,  // not one of the six RFC 8832 §5.1 values
  LengthOverrun,   // label/protocol lengths run past the message
  Count
};
const char* toString(DcepError e) noexcept;

// DATA_CHANNEL_OPEN (RFC 8832 §5.1). label/protocol refer into the parsed message.
struct DataChannelOpen {
  DcepChannelType channel_type{DcepChannelType::Reliable};
  std::uint16_t priority{0};
  std::uint32_t reliability{0};  // max retransmits or lifetime in ms; 0 and ignored for reliable channels
  std::string_view label;
  std::string_view protocol;

  bool ordered() const noexcept { return (static_cast<std::uint8_t>(channel_type) & 0x80) == 0; }
  bool reliable() const noexcept { return (static_cast<std::uint8_t>(channel_type) & 0x7F) == 0; }
  std::size_t encodedSize() const noexcept { return 12 + label.size() + protocol.size(); }
};

inline constexpr std::size_t kDcepAckSize = 1;

// The message type of a PPID-50 message, or nullopt when empty or unknown.
std::optional<DcepMessageType> dcepMessageType(ByteSpan message, DcepError* error = nullptr) noexcept;
// Parses DATA_CHANNEL_OPEN. Bytes after label and protocol are ignored (as libwebrtc does).
std::optional<DataChannelOpen> parseDataChannelOpen(ByteSpan message, DcepError* error = nullptr) noexcept;
bool isDataChannelAck(ByteSpan message) noexcept;

// Builders; return the size written or nullopt when `out` is too small or a string exceeds 65535 bytes.
std::optional<std::size_t> buildDataChannelOpen(MutableByteSpan out, const DataChannelOpen& open) noexcept;
std::optional<std::size_t> buildDataChannelAck(MutableByteSpan out) noexcept;

// The PPID for a user message: empty messages use 56/57 and carry one ignored byte (RFC 8831 §6.6).
constexpr SctpPpid ppidForMessage(bool binary, std::size_t size) noexcept {
  if (size == 0) return binary ? SctpPpid::BinaryEmpty : SctpPpid::StringEmpty;
  return binary ? SctpPpid::Binary : SctpPpid::String;
}

}  // namespace chorus::media
