#pragma once
// Helpers for the io tests: a STUN Binding request builder with short-term credentials (what a full ICE agent
// such as Chromium sends to our ICE-lite side).
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "media/bytes.hpp"
#include "media/stun/stun_message.hpp"

namespace chorus::io::test {

struct BindingRequestOptions {
  bool use_candidate{false};
  bool integrity{true};
  bool fingerprint{true};
  std::uint32_t priority{0x6e7f1eff};
  std::array<std::uint8_t, 12> txid{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
};

inline void putAttr(std::vector<std::uint8_t>& m, std::uint16_t type, media::ByteSpan value) {
  const std::size_t at = m.size();
  m.resize(at + 4);
  media::store16(m.data() + at, type);
  media::store16(m.data() + at + 2, static_cast<std::uint16_t>(value.size()));
  m.insert(m.end(), value.begin(), value.end());
  while (m.size() % 4 != 0) m.push_back(0);
}

inline void setLength(std::vector<std::uint8_t>& m, std::size_t body) {
  media::store16(m.data() + 2, static_cast<std::uint16_t>(body));
}

// USERNAME "<their>:<our>" from the sender's view is "<receiver ufrag>:<sender ufrag>".
inline std::vector<std::uint8_t> buildBindingRequest(std::string_view username, std::string_view password,
                                                     const BindingRequestOptions& o = {}) {
  std::vector<std::uint8_t> m(20);
  media::store16(m.data(), media::kStunBindingRequest);
  media::store32(m.data() + 4, media::kStunMagicCookie);
  std::copy(o.txid.begin(), o.txid.end(), m.begin() + 8);
  putAttr(m, media::kStunAttrUsername,
          media::ByteSpan(reinterpret_cast<const std::uint8_t*>(username.data()), username.size()));
  std::uint8_t prio[4];
  media::store32(prio, o.priority);
  putAttr(m, media::kStunAttrPriority, prio);
  std::uint8_t tie[8];
  media::store64(tie, 0x0102030405060708ull);
  putAttr(m, media::kStunAttrIceControlling, tie);
  if (o.use_candidate) putAttr(m, media::kStunAttrUseCandidate, {});
  if (o.integrity) {
    setLength(m, m.size() - 20 + 24);  // length includes MESSAGE-INTEGRITY
    unsigned char mac[20];
    unsigned int mac_len = 0;
    HMAC(EVP_sha1(), password.data(), static_cast<int>(password.size()), m.data(), m.size(), mac, &mac_len);
    putAttr(m, media::kStunAttrMessageIntegrity, media::ByteSpan(mac, 20));
  }
  if (o.fingerprint) {
    setLength(m, m.size() - 20 + 8);
    std::uint8_t crc[4];
    media::store32(crc, media::crc32(m) ^ 0x5354554eu);
    putAttr(m, media::kStunAttrFingerprint, crc);
  }
  setLength(m, m.size() - 20);
  return m;
}

}  // namespace chorus::io::test
