#pragma once
// SrtpSession on OpenSSL 3 EVP (no libsrtp): RFC 3711 (AES_CM_128_HMAC_SHA1_80, key derivation with the
// AES-CM PRF and kdr 0, ROC estimation, replay window) and RFC 7714 (AEAD_AES_128_GCM). Same contract as
// createLibSrtpSession() (libsrtp_session.hpp), same bytes on the wire:
// tests/unit/media/evp_srtp_session_test.cpp checks it against libsrtp2 in both directions.
//
// State per SSRC and direction is kept in bounded tables (kEvpSrtpMaxSsrcs for SRTP, the same for SRTCP). A
// receiver state is created only after a packet of that SSRC authenticated, so forged packets cannot fill the
// table; once it is full, packets of new SSRCs are refused and counted as SrtpError::Other.
//
// Crypto objects (EVP_CIPHER_CTX per direction and RTP/RTCP, EVP_MAC_CTX for HMAC-SHA1) are created once; a
// packet only re-sets the IV (or re-inits the MAC with its stored key). This code does not allocate per
// packet (OpenSSL 3.0's HMAC re-init itself mallocs and frees a digest context; see docs/media.md).
#include <array>
#include <cstddef>
#include <cstdint>

#include "media/srtp/srtp_session.hpp"

namespace chorus::media {

// Bound on the SSRCs one session keeps state for, per direction, separately for SRTP and SRTCP.
inline constexpr std::size_t kEvpSrtpMaxSsrcs = 256;

// OpenSSL EVP backend. Returns nullptr when the keying material has the wrong size or OpenSSL fails to set
// up. Replay window 1024 (SRTP and SRTCP); repeated transmission of the same seq is allowed when protecting.
SrtpSessionPtr createEvpSrtpSession(SrtpProfile profile, DtlsRole local_role,
                                    ByteSpan keying_material) noexcept;

// RFC 3711 §4.3.1/§4.3.3 key derivation with the AES-CM PRF and key_derivation_rate 0: `out` is the keystream
// of AES-128-CM under `master_key` (16 B) with IV = (master_salt XOR label at octet 7) * 2^16. `master_salt`
// is 14 B (AES-CM), or 12 B (GCM, RFC 7714 §11: zero-padded to 14, as libsrtp does). Labels: 0/1/2 SRTP
// encryption/auth/salt, 3/4/5 the same for SRTCP. Returns false on bad sizes or an OpenSSL failure.
bool srtpDeriveSessionKey(ByteSpan master_key, ByteSpan master_salt, std::uint8_t label,
                          MutableByteSpan out) noexcept;

// Session keys of one direction (what srtpDeriveSessionKey produces from a master key and salt).
struct SrtpSessionKeys {
  std::array<std::uint8_t, 16> rtp_key{};
  std::array<std::uint8_t, 14> rtp_salt{};  // first 12 bytes used for GCM
  std::array<std::uint8_t, 20> rtp_auth{};  // AES-CM only
  std::array<std::uint8_t, 16> rtcp_key{};
  std::array<std::uint8_t, 14> rtcp_salt{};
  std::array<std::uint8_t, 20> rtcp_auth{};
};
// Derives both SRTP and SRTCP session keys of one direction.
bool srtpDeriveSessionKeys(SrtpProfile profile, ByteSpan master_key, ByteSpan master_salt,
                           SrtpSessionKeys& out) noexcept;

// Test hook: a session from session keys given directly (the RFC 7714 vectors list session keys, not master
// keys). `next_srtcp_index` is the index the first protected SRTCP packet of every SSRC gets (1 in
// production).
SrtpSessionPtr createEvpSrtpSessionForTest(SrtpProfile profile, const SrtpSessionKeys& local,
                                           const SrtpSessionKeys& remote,
                                           std::uint32_t next_srtcp_index = 1) noexcept;

}  // namespace chorus::media
