#pragma once
// SRTP/SRTCP (RFC 3711, RFC 7714) behind an interface. The product's backend is OpenSSL EVP
// (media/srtp/evp_srtp_session.hpp); libsrtp2 (media/srtp/libsrtp_session.hpp) is kept out of the product
// libraries as the oracle the tests, the fuzz target and the benchmark compare it with (docs/media.md). Keys
// come from the DTLS-SRTP exporter (RFC 5764 §4.2):
//   client_write_key | server_write_key | client_write_salt | server_write_salt
// A session holds both directions: it protects with the local role's key and unprotects with the peer's.
// Protect/unprotect work in place in the caller's buffer and never allocate per packet (libsrtp allocates
// one stream context per new SSRC).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "media/bytes.hpp"
#include "media/drop_counters.hpp"

namespace chorus::media {

enum class SrtpProfile : std::uint8_t {
  AeadAes128Gcm,        // SRTP_AEAD_AES_128_GCM (RFC 7714): 16-byte key, 12-byte salt, 16-byte tag
  AesCm128HmacSha1_80,  // SRTP_AES128_CM_SHA1_80 (RFC 5764): 16-byte key, 14-byte salt, 10-byte tag
};

enum class DtlsRole : std::uint8_t { Client, Server };

enum class SrtpError : std::uint8_t {
  BufferTooSmall,  // no room for the tag (protect) or the packet is shorter than a header + tag (unprotect)
  Malformed,       // libsrtp rejected the header (bad_param / parse_err)
  AuthFail,        // tag mismatch
  Replay,          // replay_fail / replay_old
  Other,
  Count
};
const char* toString(SrtpError e) noexcept;

std::size_t srtpKeySize(SrtpProfile p) noexcept;
std::size_t srtpSaltSize(SrtpProfile p) noexcept;
// 2 * (key + salt): 56 for GCM-128, 60 for AES-CM-128.
std::size_t srtpKeyingMaterialSize(SrtpProfile p) noexcept;
// OpenSSL's SRTP profile names (SSL_get_selected_srtp_profile()->name).
std::optional<SrtpProfile> srtpProfileFromName(std::string_view name) noexcept;
std::string_view srtpProfileName(SrtpProfile p) noexcept;
// Bytes added by protect: the tag (RTP), plus the 4-byte E|SRTCP index (RTCP).
std::size_t srtpRtpOverhead(SrtpProfile p) noexcept;
std::size_t srtpRtcpOverhead(SrtpProfile p) noexcept;

class SrtpSession {
 public:
  virtual ~SrtpSession() = default;

  // `buffer` holds a plain packet of `size` bytes at its start; it must have room for the overhead.
  // Returns the protected size.
  virtual std::optional<std::size_t> protectRtp(MutableByteSpan buffer, std::size_t size) noexcept = 0;
  virtual std::optional<std::size_t> protectRtcp(MutableByteSpan buffer, std::size_t size) noexcept = 0;
  // The same as protectRtp, but the plain packet stays where it is and the protected one is written to the
  // start of `out` (which must not overlap `plain` unless it starts at the same byte, and needs room for
  // plain.size() + the overhead). This default copies and protects in place; a backend may write the
  // ciphertext straight to `out` (the focus then protects into its send queue: one copy less per packet).
  virtual std::optional<std::size_t> protectRtpTo(ByteSpan plain, MutableByteSpan out) noexcept;
  // `packet` is exactly one protected packet; returns the plain size (a prefix of `packet`).
  virtual std::optional<std::size_t> unprotectRtp(MutableByteSpan packet) noexcept = 0;
  virtual std::optional<std::size_t> unprotectRtcp(MutableByteSpan packet) noexcept = 0;

  SrtpProfile profile() const noexcept { return profile_; }
  const DropCounters<SrtpError>& protectFailures() const noexcept { return protect_failures_; }
  const DropCounters<SrtpError>& unprotectFailures() const noexcept { return unprotect_failures_; }

 protected:
  explicit SrtpSession(SrtpProfile p) noexcept : profile_(p) {}
  SrtpProfile profile_;
  DropCounters<SrtpError> protect_failures_;
  DropCounters<SrtpError> unprotect_failures_;
};
using SrtpSessionPtr = std::unique_ptr<SrtpSession>;

}  // namespace chorus::media
