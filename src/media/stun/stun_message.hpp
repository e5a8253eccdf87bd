#pragma once
// STUN (RFC 5389/8489) subset for an ICE-lite agent (RFC 8445 §2.5): parse binding requests, check
// MESSAGE-INTEGRITY (short-term credentials, HMAC-SHA1) and FINGERPRINT (CRC-32 xor 0x5354554e), and build a
// binding success response into a caller buffer. Parsing never allocates and never throws.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "media/bytes.hpp"

namespace chorus::media {

inline constexpr std::uint32_t kStunMagicCookie = 0x2112A442;
inline constexpr std::size_t kStunHeaderSize = 20;
inline constexpr std::size_t kStunTransactionIdSize = 12;

// Message types (method | class bits).
inline constexpr std::uint16_t kStunBindingRequest = 0x0001;
inline constexpr std::uint16_t kStunBindingIndication = 0x0011;
inline constexpr std::uint16_t kStunBindingSuccess = 0x0101;
inline constexpr std::uint16_t kStunBindingError = 0x0111;

// Attribute types.
inline constexpr std::uint16_t kStunAttrMappedAddress = 0x0001;
inline constexpr std::uint16_t kStunAttrUsername = 0x0006;
inline constexpr std::uint16_t kStunAttrMessageIntegrity = 0x0008;
inline constexpr std::uint16_t kStunAttrErrorCode = 0x0009;
inline constexpr std::uint16_t kStunAttrXorMappedAddress = 0x0020;
inline constexpr std::uint16_t kStunAttrPriority = 0x0024;
inline constexpr std::uint16_t kStunAttrUseCandidate = 0x0025;
inline constexpr std::uint16_t kStunAttrSoftware = 0x8022;
inline constexpr std::uint16_t kStunAttrFingerprint = 0x8028;
inline constexpr std::uint16_t kStunAttrIceControlled = 0x8029;
inline constexpr std::uint16_t kStunAttrIceControlling = 0x802A;

enum class StunError : std::uint8_t {
  TooShort,            // < 20 bytes
  NotStun,             // top two bits of the type are not 0
  BadMagicCookie,      // RFC 3489 (classic STUN) is not supported
  BadLength,           // header length not a multiple of 4 or != datagram size - 20
  AttributeOverrun,    // an attribute runs past the end of the message
  BadAttribute,        // a known attribute with the wrong size or content
  DuplicateAttribute,  // USERNAME, MESSAGE-INTEGRITY, PRIORITY ... twice
  AfterFingerprint,    // any attribute after FINGERPRINT
  BadFingerprint,      // FINGERPRINT present but the CRC does not match
  Count
};
const char* toString(StunError e) noexcept;

struct StunAddress {
  enum class Family : std::uint8_t { V4 = 1, V6 = 2 };
  Family family{Family::V4};
  std::uint16_t port{0};
  std::array<std::uint8_t, 16> bytes{};  // network order; only the first 4 are used for V4
  // The transport the address was seen on: false = UDP, true = TCP (an ICE-TCP connection, RFC 6544). Not on
  // the wire (XOR-MAPPED-ADDRESS has no transport); it keeps a TCP peer apart from a UDP one at the same
  // ip:port in the io layer's routing.
  bool tcp{false};
  bool operator==(const StunAddress&) const = default;

  static StunAddress v4(std::array<std::uint8_t, 4> ip, std::uint16_t port) noexcept;
  static StunAddress v6(std::array<std::uint8_t, 16> ip, std::uint16_t port) noexcept;
};

// A parsed STUN message. It refers into the datagram it was parsed from (keep that alive).
struct StunMessage {
  ByteSpan raw;  // the whole message (header + attributes)
  std::uint16_t type{0};
  std::array<std::uint8_t, kStunTransactionIdSize> transaction_id{};

  std::optional<std::string_view> username;
  std::optional<std::string_view> software;
  std::optional<std::uint32_t> priority;
  bool use_candidate{false};
  std::optional<std::uint64_t> ice_controlling;  // tie-breaker
  std::optional<std::uint64_t> ice_controlled;   // tie-breaker
  std::optional<StunAddress> xor_mapped_address;
  std::optional<std::uint16_t> error_code;  // class * 100 + number
  // Offset of the MESSAGE-INTEGRITY / FINGERPRINT attribute headers in `raw` (0 when absent).
  std::size_t integrity_offset{0};
  std::size_t fingerprint_offset{0};
  std::uint16_t unknown_comprehension_required{0};  // count of unknown attributes < 0x8000

  bool hasIntegrity() const noexcept { return integrity_offset != 0; }
  bool hasFingerprint() const noexcept { return fingerprint_offset != 0; }
  bool isBindingRequest() const noexcept { return type == kStunBindingRequest; }
  // Method and class decoded from the type (RFC 5389 §6).
  std::uint16_t method() const noexcept;
  std::uint8_t messageClass() const noexcept;  // 0 request, 1 indication, 2 success, 3 error
};

// Parses a STUN message. Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored (RFC 5389
// §15.4); a present FINGERPRINT is verified here.
std::optional<StunMessage> parseStun(ByteSpan datagram, StunError* error = nullptr) noexcept;

// True when the message carries MESSAGE-INTEGRITY and it matches HMAC-SHA1 keyed with `password` (short-term
// credentials: the key is the password; ICE passwords are ASCII so SASLprep is the identity).
bool verifyStunIntegrity(const StunMessage& message, std::string_view password) noexcept;

// For ICE (RFC 8445 §7.3): USERNAME must be "<local ufrag>:<remote ufrag>". Returns the remote ufrag when the
// local part matches, nullopt otherwise.
std::optional<std::string_view> matchIceUsername(const StunMessage& message,
                                                 std::string_view local_ufrag) noexcept;

struct StunResponseOptions {
  std::string_view software{};   // adds SOFTWARE (first) when non-empty
  std::uint8_t padding_byte{0};  // value of attribute padding bytes (RFC 5769 vectors use 0x20)
};

// Writes a Binding success response (XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY keyed with `password`,
// FINGERPRINT) into `out`. Returns the size written, or nullopt when `out` is too small
// (kStunMaxBindingResponse always suffices without SOFTWARE) or the software string is longer than 763 bytes.
inline constexpr std::size_t kStunMaxBindingResponse = 20 + 24 + 24 + 8;
std::optional<std::size_t> buildStunBindingSuccess(MutableByteSpan out,
                                                   std::span<const std::uint8_t, kStunTransactionIdSize> txid,
                                                   const StunAddress& mapped, std::string_view password,
                                                   const StunResponseOptions& options = {}) noexcept;

// CRC-32 (ISO-HDLC, as zlib's crc32) over `data`; table-driven, no allocation.
std::uint32_t crc32(ByteSpan data) noexcept;

}  // namespace chorus::media
