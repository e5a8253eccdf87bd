#include "media/srtp/srtp_session.hpp"

#include <cstring>

namespace chorus::media {

const char* toString(SrtpError e) noexcept {
  switch (e) {
    case SrtpError::BufferTooSmall:
      return "buffer_too_small";
    case SrtpError::Malformed:
      return "malformed";
    case SrtpError::AuthFail:
      return "auth_fail";
    case SrtpError::Replay:
      return "replay";
    case SrtpError::Other:
      return "other";
    case SrtpError::Count:
      break;
  }
  return "unknown";
}

std::size_t srtpKeySize(SrtpProfile) noexcept {
  return 16;
}
std::size_t srtpSaltSize(SrtpProfile p) noexcept {
  return p == SrtpProfile::AeadAes128Gcm ? 12 : 14;
}
std::size_t srtpKeyingMaterialSize(SrtpProfile p) noexcept {
  return 2 * (srtpKeySize(p) + srtpSaltSize(p));
}
std::size_t srtpRtpOverhead(SrtpProfile p) noexcept {
  return p == SrtpProfile::AeadAes128Gcm ? 16 : 10;
}
std::size_t srtpRtcpOverhead(SrtpProfile p) noexcept {
  return srtpRtpOverhead(p) + 4;
}

std::optional<SrtpProfile> srtpProfileFromName(std::string_view name) noexcept {
  if (name == "SRTP_AEAD_AES_128_GCM") return SrtpProfile::AeadAes128Gcm;
  if (name == "SRTP_AES128_CM_SHA1_80") return SrtpProfile::AesCm128HmacSha1_80;
  return std::nullopt;
}

std::string_view srtpProfileName(SrtpProfile p) noexcept {
  return p == SrtpProfile::AeadAes128Gcm ? "SRTP_AEAD_AES_128_GCM" : "SRTP_AES128_CM_SHA1_80";
}

std::optional<std::size_t> SrtpSession::protectRtpTo(ByteSpan plain, MutableByteSpan out) noexcept {
  if (plain.size() > out.size()) {
    protect_failures_.count(SrtpError::BufferTooSmall);
    return std::nullopt;
  }
  if (!plain.empty() && plain.data() != out.data()) std::memmove(out.data(), plain.data(), plain.size());
  return protectRtp(out, plain.size());
}

}  // namespace chorus::media
