// libFuzzer target: SrtpSession (media/srtp), both backends (libsrtp2 and OpenSSL EVP). Byte 0 picks the
// profile (bit 0) and the mode (bit 1):
//  - unprotect the rest as SRTP and as SRTCP, on each backend (arbitrary bytes must be rejected or accepted
//    without overrun);
//  - protect the rest (when it parses as RTP / RTCP; bit 2 picks RTCP) with a fresh client session of each
//    backend: both must succeed or fail alike, and give identical bytes; each backend's fresh server session
//    must unprotect the other backend's output back to the input. Bit 3 then flips one bit of the protected
//    packet (position from the last input byte): both servers must reject it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "media/rtcp/rtcp_packet.hpp"
#include "media/rtp/rtp_packet.hpp"
#include "media/srtp/evp_srtp_session.hpp"
#include "media/srtp/libsrtp_session.hpp"
#include "media/srtp/srtp_session.hpp"

using namespace chorus::media;

namespace {

std::vector<std::uint8_t> keyingMaterial(SrtpProfile p) {
  std::vector<std::uint8_t> km(srtpKeyingMaterialSize(p));
  for (std::size_t i = 0; i < km.size(); ++i) km[i] = static_cast<std::uint8_t>(i * 29 + 3);
  return km;
}

SrtpSession& receiver(SrtpProfile p, bool evp) {
  static SrtpSessionPtr gcm = createLibSrtpSession(SrtpProfile::AeadAes128Gcm, DtlsRole::Server,
                                                   keyingMaterial(SrtpProfile::AeadAes128Gcm));
  static SrtpSessionPtr cm = createLibSrtpSession(SrtpProfile::AesCm128HmacSha1_80, DtlsRole::Server,
                                                  keyingMaterial(SrtpProfile::AesCm128HmacSha1_80));
  static SrtpSessionPtr evp_gcm = createEvpSrtpSession(SrtpProfile::AeadAes128Gcm, DtlsRole::Server,
                                                       keyingMaterial(SrtpProfile::AeadAes128Gcm));
  static SrtpSessionPtr evp_cm = createEvpSrtpSession(SrtpProfile::AesCm128HmacSha1_80, DtlsRole::Server,
                                                      keyingMaterial(SrtpProfile::AesCm128HmacSha1_80));
  if (evp) return p == SrtpProfile::AeadAes128Gcm ? *evp_gcm : *evp_cm;
  return p == SrtpProfile::AeadAes128Gcm ? *gcm : *cm;
}

std::optional<std::size_t> protect(SrtpSession& s, std::vector<std::uint8_t>& buf, std::size_t size,
                                   bool rtcp) {
  return rtcp ? s.protectRtcp(buf, size) : s.protectRtp(buf, size);
}
std::optional<std::size_t> unprotect(SrtpSession& s, std::vector<std::uint8_t>& buf, bool rtcp) {
  return rtcp ? s.unprotectRtcp(buf) : s.unprotectRtp(buf);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 4096) return 0;
  const SrtpProfile profile = (data[0] & 1) ? SrtpProfile::AesCm128HmacSha1_80 : SrtpProfile::AeadAes128Gcm;
  const ByteSpan in(data + 1, size - 1);
  if ((data[0] & 2) == 0) {
    for (bool evp : {false, true}) {
      std::vector<std::uint8_t> buf(in.begin(), in.end());
      if (auto n = receiver(profile, evp).unprotectRtp(buf); n && *n > in.size()) __builtin_trap();
      buf.assign(in.begin(), in.end());
      if (auto n = receiver(profile, evp).unprotectRtcp(buf); n && *n > in.size()) __builtin_trap();
    }
    return 0;
  }
  const bool rtcp = (data[0] & 4) != 0;
  if (rtcp ? !RtcpCompoundReader(in).next() : !RtpPacketView::parse(in)) return 0;
  if (rtcp && in.size() < 8) return 0;
  const auto km = keyingMaterial(profile);
  auto lib_client = createLibSrtpSession(profile, DtlsRole::Client, km);
  auto lib_server = createLibSrtpSession(profile, DtlsRole::Server, km);
  auto evp_client = createEvpSrtpSession(profile, DtlsRole::Client, km);
  auto evp_server = createEvpSrtpSession(profile, DtlsRole::Server, km);
  if (!lib_client || !lib_server || !evp_client || !evp_server) __builtin_trap();
  const std::size_t overhead = rtcp ? srtpRtcpOverhead(profile) : srtpRtpOverhead(profile);
  std::vector<std::uint8_t> lib_buf(in.size() + overhead);
  std::memcpy(lib_buf.data(), in.data(), in.size());
  std::vector<std::uint8_t> evp_buf(lib_buf);
  auto n = protect(*lib_client, lib_buf, in.size(), rtcp);
  auto m = protect(*evp_client, evp_buf, in.size(), rtcp);
  if (n.has_value() != m.has_value()) __builtin_trap();
  if (!n) return 0;  // a header neither backend accepts (e.g. an extension running past the end)
  if (*n != in.size() + overhead || *m != *n || lib_buf != evp_buf) __builtin_trap();
  if ((data[0] & 8) != 0) {
    const std::size_t bit = data[size - 1] % (8 * lib_buf.size());
    lib_buf[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    evp_buf = lib_buf;
    if (unprotect(*lib_server, evp_buf, rtcp) || unprotect(*evp_server, lib_buf, rtcp)) __builtin_trap();
    return 0;
  }
  auto a = unprotect(*evp_server, lib_buf, rtcp);  // libsrtp's output, EVP's receiver
  auto b = unprotect(*lib_server, evp_buf, rtcp);  // EVP's output, libsrtp's receiver
  if (!a || !b || *a != in.size() || *b != in.size()) __builtin_trap();
  if (std::memcmp(lib_buf.data(), in.data(), in.size()) != 0 ||
      std::memcmp(evp_buf.data(), in.data(), in.size()) != 0) {
    __builtin_trap();
  }
  return 0;
}
