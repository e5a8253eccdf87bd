// libFuzzer target: SrtpSession (media/srtp, libsrtp2 backend). Byte 0 picks the profile and mode:
//  - unprotect the rest as SRTP and as SRTCP (arbitrary bytes must be rejected or accepted without overrun);
//  - protect the rest (when it parses as RTP / RTCP) with a fresh client session and unprotect it with a
//  fresh
//    server session: must round-trip to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "media/rtcp/rtcp_packet.hpp"
#include "media/rtp/rtp_packet.hpp"
#include "media/srtp/srtp_session.hpp"

using namespace chorus::media;

namespace {

std::vector<std::uint8_t> keyingMaterial(SrtpProfile p) {
  std::vector<std::uint8_t> km(srtpKeyingMaterialSize(p));
  for (std::size_t i = 0; i < km.size(); ++i) km[i] = static_cast<std::uint8_t>(i * 29 + 3);
  return km;
}

SrtpSession& receiver(SrtpProfile p) {
  static SrtpSessionPtr gcm = createLibSrtpSession(SrtpProfile::AeadAes128Gcm, DtlsRole::Server,
                                                   keyingMaterial(SrtpProfile::AeadAes128Gcm));
  static SrtpSessionPtr cm = createLibSrtpSession(SrtpProfile::AesCm128HmacSha1_80, DtlsRole::Server,
                                                  keyingMaterial(SrtpProfile::AesCm128HmacSha1_80));
  return p == SrtpProfile::AeadAes128Gcm ? *gcm : *cm;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 4096) return 0;
  const SrtpProfile profile = (data[0] & 1) ? SrtpProfile::AesCm128HmacSha1_80 : SrtpProfile::AeadAes128Gcm;
  const ByteSpan in(data + 1, size - 1);
  if ((data[0] & 2) == 0) {
    std::vector<std::uint8_t> buf(in.begin(), in.end());
    (void)receiver(profile).unprotectRtp(buf);
    buf.assign(in.begin(), in.end());
    (void)receiver(profile).unprotectRtcp(buf);
    return 0;
  }
  const bool rtcp = (data[0] & 4) != 0;
  if (rtcp ? !RtcpCompoundReader(in).next() : !RtpPacketView::parse(in)) return 0;
  if (rtcp && in.size() < 8) return 0;
  const auto km = keyingMaterial(profile);
  auto client = createLibSrtpSession(profile, DtlsRole::Client, km);
  auto server = createLibSrtpSession(profile, DtlsRole::Server, km);
  if (!client || !server) __builtin_trap();
  const std::size_t overhead = rtcp ? srtpRtcpOverhead(profile) : srtpRtpOverhead(profile);
  std::vector<std::uint8_t> buf(in.size() + overhead);
  std::memcpy(buf.data(), in.data(), in.size());
  auto n = rtcp ? client->protectRtcp(buf, in.size()) : client->protectRtp(buf, in.size());
  if (!n) return 0;  // libsrtp may refuse a header it does not like (e.g. extension length); that is fine
  if (*n > buf.size()) __builtin_trap();
  buf.resize(*n);
  auto m = rtcp ? server->unprotectRtcp(buf) : server->unprotectRtp(buf);
  if (!m || *m != in.size() || std::memcmp(buf.data(), in.data(), in.size()) != 0) __builtin_trap();
  return 0;
}
