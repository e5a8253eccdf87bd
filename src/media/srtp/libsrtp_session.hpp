#pragma once
// The libsrtp2 SrtpSession backend (NSS-backed on Debian). Not in the product: chorus::media_libsrtp is
// linked only by the tests, the srtp fuzz target and media_bench, which check and measure the OpenSSL EVP
// backend against it (docs/media.md).
#include "media/srtp/srtp_session.hpp"

namespace chorus::media {

// libsrtp2 backend. Returns nullptr when the keying material has the wrong size or libsrtp fails to start.
// Replay window 1024; repeated transmission of the same seq is allowed on the sending side (NACK answers).
SrtpSessionPtr createLibSrtpSession(SrtpProfile profile, DtlsRole local_role,
                                    ByteSpan keying_material) noexcept;

}  // namespace chorus::media
