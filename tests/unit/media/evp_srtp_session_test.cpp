// The OpenSSL EVP SrtpSession backend: RFC test vectors, byte-for-byte cross-checks with libsrtp2 as the
// oracle, and failure handling on untrusted input.
#include "media/srtp/evp_srtp_session.hpp"
#include "media/srtp/libsrtp_session.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "media/rtcp/rtcp_packet.hpp"
#include "packet_builder.hpp"

namespace chorus::media {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes hex(std::string_view s) {
  Bytes out;
  int hi = -1;
  for (char c : s) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      continue;  // spaces
    }
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

Bytes keyingMaterial(SrtpProfile p, std::uint8_t seed = 7) {
  Bytes km(srtpKeyingMaterialSize(p));
  std::mt19937 rng(seed);
  for (auto& b : km) b = static_cast<std::uint8_t>(rng());
  return km;
}

// Protects `plain` into an exactly sized buffer (ASan sees any overrun); nullopt on failure.
std::optional<Bytes> protect(SrtpSession& s, const Bytes& plain, bool rtcp) {
  const std::size_t overhead = rtcp ? srtpRtcpOverhead(s.profile()) : srtpRtpOverhead(s.profile());
  Bytes buf(plain);
  buf.resize(plain.size() + overhead);
  auto n = rtcp ? s.protectRtcp(buf, plain.size()) : s.protectRtp(buf, plain.size());
  if (!n) return std::nullopt;
  buf.resize(*n);
  return buf;
}

// Unprotects a copy of `wire`; nullopt on failure.
std::optional<Bytes> unprotect(SrtpSession& s, const Bytes& wire, bool rtcp) {
  Bytes buf(wire);
  auto n = rtcp ? s.unprotectRtcp(buf) : s.unprotectRtp(buf);
  if (!n) return std::nullopt;
  buf.resize(*n);
  return buf;
}

// ---- RFC vectors ----

// RFC 3711 Appendix B.3.
TEST(EvpSrtpKdf, Rfc3711KeyDerivation) {
  const Bytes key = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
  const Bytes salt = hex("0EC675AD498AFEEBB6960B3AABE6");
  Bytes cipher_key(16), auth_key(20), session_salt(14);
  ASSERT_TRUE(srtpDeriveSessionKey(key, salt, 0, cipher_key));
  ASSERT_TRUE(srtpDeriveSessionKey(key, salt, 1, auth_key));
  ASSERT_TRUE(srtpDeriveSessionKey(key, salt, 2, session_salt));
  EXPECT_EQ(cipher_key, hex("C61E7A93744F39EE10734AFE3FF7A087"));
  EXPECT_EQ(auth_key, hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"));
  EXPECT_EQ(session_salt, hex("30CBBC08863D8C85D49DB34A9AE1"));

  SrtpSessionKeys keys;
  ASSERT_TRUE(srtpDeriveSessionKeys(SrtpProfile::AesCm128HmacSha1_80, key, salt, keys));
  EXPECT_EQ(Bytes(keys.rtp_key.begin(), keys.rtp_key.end()), cipher_key);
  EXPECT_EQ(Bytes(keys.rtp_auth.begin(), keys.rtp_auth.end()), auth_key);
  EXPECT_EQ(Bytes(keys.rtp_salt.begin(), keys.rtp_salt.end()), session_salt);

  Bytes too_long(65);
  EXPECT_FALSE(srtpDeriveSessionKey(key, salt, 0, too_long));
  EXPECT_FALSE(srtpDeriveSessionKey(ByteSpan(key).first(15), salt, 0, cipher_key));
  EXPECT_FALSE(srtpDeriveSessionKey(key, ByteSpan(salt).first(13), 0, cipher_key));
}

// RFC 3711 Appendix B.2: the AES-CM keystream for session key/salt below, SSRC 0, index 0. Encrypting zeros
// yields the keystream.
TEST(EvpSrtpVectors, Rfc3711AesCmKeystream) {
  SrtpSessionKeys keys;
  const Bytes k = hex("2B7E151628AED2A6ABF7158809CF4F3C");
  const Bytes s = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD");
  std::copy(k.begin(), k.end(), keys.rtp_key.begin());
  std::copy(s.begin(), s.end(), keys.rtp_salt.begin());
  auto session = createEvpSrtpSessionForTest(SrtpProfile::AesCm128HmacSha1_80, keys, keys);
  ASSERT_TRUE(session);
  Bytes plain(12 + 48, 0);
  plain[0] = 0x80;  // seq 0, SSRC 0
  auto wire = protect(*session, plain, false);
  ASSERT_TRUE(wire);
  EXPECT_EQ(Bytes(wire->begin() + 12, wire->begin() + 60),
            hex("E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB"
                "41E95B3BB0A2E8DD477901E4FCA894C0"));
  auto back = unprotect(*session, *wire, false);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, plain);
}

SrtpSessionKeys rfc7714Keys() {
  SrtpSessionKeys keys;
  const Bytes k = hex("000102030405060708090a0b0c0d0e0f");
  const Bytes s = hex("517569642070726f2071756f");
  std::copy(k.begin(), k.end(), keys.rtp_key.begin());
  std::copy(k.begin(), k.end(), keys.rtcp_key.begin());
  std::copy(s.begin(), s.end(), keys.rtp_salt.begin());
  std::copy(s.begin(), s.end(), keys.rtcp_salt.begin());
  return keys;
}

// RFC 7714 §16.1.1/§16.1.2 (AEAD_AES_128_GCM, SSRC 0x5501a0b2, ROC 0, seq 0xf17b).
TEST(EvpSrtpVectors, Rfc7714GcmRtp) {
  const Bytes plain =
      hex("8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976 69736120 696e2070 61727465"
          "73207472 6573");
  const Bytes expected =
      hex("8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f 42a5f47a 51c7d19b"
          "36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce");
  auto sender = createEvpSrtpSessionForTest(SrtpProfile::AeadAes128Gcm, rfc7714Keys(), SrtpSessionKeys{});
  auto receiver = createEvpSrtpSessionForTest(SrtpProfile::AeadAes128Gcm, SrtpSessionKeys{}, rfc7714Keys());
  ASSERT_TRUE(sender && receiver);
  auto wire = protect(*sender, plain, false);
  ASSERT_TRUE(wire);
  EXPECT_EQ(*wire, expected);
  auto back = unprotect(*receiver, expected, false);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, plain);
}

// RFC 7714 §17.1/§17.2 (SRTCP, SSRC "Mars", SRTCP index 0x5d4, E = 1).
TEST(EvpSrtpVectors, Rfc7714GcmRtcp) {
  const Bytes plain =
      hex("81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61 deadbeef deadbeef deadbeef"
          "deadbeef deadbeef");
  const Bytes expected =
      hex("81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d c676a5f1 730d6fda 4ce09b46"
          "86303ded 0bb9275b c84aa458 96cf4d2f c5abf872 45d9eade 800005d4");
  auto sender =
      createEvpSrtpSessionForTest(SrtpProfile::AeadAes128Gcm, rfc7714Keys(), SrtpSessionKeys{}, 0x5d4);
  auto receiver = createEvpSrtpSessionForTest(SrtpProfile::AeadAes128Gcm, SrtpSessionKeys{}, rfc7714Keys());
  ASSERT_TRUE(sender && receiver);
  auto wire = protect(*sender, plain, true);
  ASSERT_TRUE(wire);
  EXPECT_EQ(*wire, expected);
  auto back = unprotect(*receiver, expected, true);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, plain);
  // The next one gets index 0x5d5.
  auto next = protect(*sender, plain, true);
  ASSERT_TRUE(next);
  EXPECT_EQ(load32(next->data() + next->size() - 4), 0x800005d5u);
}

// SRTCP with E = 0 (authenticated, not encrypted): not produced by either backend's protect, but accepted on
// unprotect. The expected packets are built here with OpenSSL directly: AES-CM: packet | 0|index |
// HMAC-SHA1-80 over both (RFC 3711 §3.4); GCM: packet | tag | 0|index with the whole packet and the trailer
// as AAD and no plaintext (RFC 7714 §9.3).
TEST(EvpSrtpVectors, UnencryptedSrtcpIsAccepted) {
  SrtpSessionKeys keys = rfc7714Keys();
  for (std::size_t i = 0; i < keys.rtcp_auth.size(); ++i)
    keys.rtcp_auth[i] = static_cast<std::uint8_t>(i + 1);
  const Bytes plain = hex("81c90001 4d617273 01020304");
  const Bytes trailer = hex("00000007");
  {
    auto rx = createEvpSrtpSessionForTest(SrtpProfile::AesCm128HmacSha1_80, SrtpSessionKeys{}, keys);
    ASSERT_TRUE(rx);
    Bytes wire = plain;
    wire.insert(wire.end(), trailer.begin(), trailer.end());
    std::uint8_t mac[20];
    std::size_t mac_len = 0;
    ASSERT_TRUE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA1", nullptr, keys.rtcp_auth.data(),
                          keys.rtcp_auth.size(), wire.data(), wire.size(), mac, sizeof(mac), &mac_len));
    wire.insert(wire.end(), mac, mac + 10);
    Bytes tampered = wire;
    tampered[9] ^= 1;
    EXPECT_FALSE(unprotect(*rx, tampered, true));
    EXPECT_EQ(rx->unprotectFailures().get(SrtpError::AuthFail), 1u);
    auto back = unprotect(*rx, wire, true);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, plain);
    EXPECT_FALSE(unprotect(*rx, wire, true));
    EXPECT_EQ(rx->unprotectFailures().get(SrtpError::Replay), 1u);
  }
  {
    auto rx = createEvpSrtpSessionForTest(SrtpProfile::AeadAes128Gcm, SrtpSessionKeys{}, keys);
    ASSERT_TRUE(rx);
    // IV = salt XOR (0000 | SSRC | 0000 | index)
    Bytes iv(keys.rtcp_salt.begin(), keys.rtcp_salt.begin() + 12);
    for (int i = 0; i < 4; ++i) iv[2 + i] ^= plain[4 + i];
    iv[11] ^= 7;
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    int len = 0;
    std::uint8_t tag[16];
    std::uint8_t scratch[16];
    ASSERT_EQ(EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), nullptr, keys.rtcp_key.data(), iv.data()), 1);
    ASSERT_EQ(EVP_EncryptUpdate(c, nullptr, &len, plain.data(), static_cast<int>(plain.size())), 1);
    ASSERT_EQ(EVP_EncryptUpdate(c, nullptr, &len, trailer.data(), 4), 1);
    ASSERT_EQ(EVP_EncryptFinal_ex(c, scratch, &len), 1);
    ASSERT_EQ(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
    EVP_CIPHER_CTX_free(c);
    Bytes wire = plain;
    wire.insert(wire.end(), tag, tag + 16);
    wire.insert(wire.end(), trailer.begin(), trailer.end());
    Bytes tampered = wire;
    tampered[9] ^= 1;  // the unencrypted body is authenticated
    EXPECT_FALSE(unprotect(*rx, tampered, true));
    EXPECT_EQ(rx->unprotectFailures().get(SrtpError::AuthFail), 1u);
    auto back = unprotect(*rx, wire, true);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, plain);
  }
}

// ---- Cross-checks with libsrtp2 ----

struct Peers {
  SrtpSessionPtr lib_client, lib_server, evp_client, evp_server;
};

Peers makePeers(SrtpProfile p, std::uint8_t seed = 7) {
  const auto km = keyingMaterial(p, seed);
  return {createLibSrtpSession(p, DtlsRole::Client, km), createLibSrtpSession(p, DtlsRole::Server, km),
          createEvpSrtpSession(p, DtlsRole::Client, km), createEvpSrtpSession(p, DtlsRole::Server, km)};
}

struct Shape {
  const char* name;
  std::vector<std::uint32_t> csrcs;
  std::uint16_t ext_profile;
  Bytes ext_block;
};

std::vector<Shape> shapes() {
  return {
      {"plain", {}, 0, {}},
      {"csrcs", {0x01020304, 0xA0B0C0D0}, 0, {}},
      {"one_byte_ext", {}, 0xBEDE, {0x10, '0', 0x51, 0x00, 0x01, 0x32, 0x01, 0x02, 0x03}},
      {"two_byte_ext", {}, 0x1000, {0x01, 0x02, 0xAA, 0xBB, 0x07, 0x00}},
      {"empty_ext", {}, 0xBEDE, {}},
      {"csrcs_and_ext", {1, 2, 3}, 0xBEDE, {0x22, 1, 2, 3}},
      {"max_csrcs", {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 0x1000, {0x05, 0x01, 0x09}},
  };
}

Bytes makeRtp(const Shape& shape, std::uint16_t seq, std::size_t payload, std::uint32_t ssrc = 0x5EC0DE) {
  test::RtpSpec s;
  s.seq = seq;
  s.timestamp = 3000u * seq;
  s.ssrc = ssrc;
  s.marker = (seq & 1) != 0;
  s.csrcs = shape.csrcs;
  s.ext_profile = shape.ext_profile;
  s.ext_block = shape.ext_block;
  s.payload.resize(payload);
  for (std::size_t i = 0; i < payload; ++i) s.payload[i] = static_cast<std::uint8_t>(i * 7 + seq);
  return test::buildRtp(s);
}

class EvpVsLibSrtp : public ::testing::TestWithParam<SrtpProfile> {
 protected:
  void SetUp() override {
    peers_ = makePeers(GetParam());
    ASSERT_TRUE(peers_.lib_client && peers_.lib_server && peers_.evp_client && peers_.evp_server);
  }

  // Both clients protect `plain` (from `from`'s side); the outputs must be identical; each backend's receiver
  // unprotects the other backend's output back to `plain`.
  void roundTrip(const Bytes& plain, bool rtcp, bool client_sends, const std::string& what) {
    SrtpSession& lib_tx = client_sends ? *peers_.lib_client : *peers_.lib_server;
    SrtpSession& evp_tx = client_sends ? *peers_.evp_client : *peers_.evp_server;
    SrtpSession& lib_rx = client_sends ? *peers_.lib_server : *peers_.lib_client;
    SrtpSession& evp_rx = client_sends ? *peers_.evp_server : *peers_.evp_client;
    auto lib_wire = protect(lib_tx, plain, rtcp);
    auto evp_wire = protect(evp_tx, plain, rtcp);
    ASSERT_TRUE(lib_wire) << what;
    ASSERT_TRUE(evp_wire) << what;
    ASSERT_EQ(*lib_wire, *evp_wire) << what;
    auto by_evp = unprotect(evp_rx, *lib_wire, rtcp);
    auto by_lib = unprotect(lib_rx, *evp_wire, rtcp);
    ASSERT_TRUE(by_evp) << what;
    ASSERT_TRUE(by_lib) << what;
    EXPECT_EQ(*by_evp, plain) << what;
    EXPECT_EQ(*by_lib, plain) << what;
    ++checked_;
  }

  Peers peers_;
  int checked_{0};
};

TEST_P(EvpVsLibSrtp, RtpShapesAndSizesAcrossTheSeqWrap) {
  std::uint32_t ssrc = 0x1000;
  for (const auto& shape : shapes()) {
    for (std::size_t payload : {0u, 1u, 15u, 16u, 17u, 160u, 1100u}) {
      ++ssrc;
      for (bool client_sends : {true, false}) {
        std::uint16_t seq = 65530;  // first seq above 2^15, then the wrap: ROC 0 -> 1
        for (int i = 0; i < 12; ++i, ++seq) {
          roundTrip(makeRtp(shape, seq, payload, ssrc), false, client_sends,
                    std::string(shape.name) + " payload " + std::to_string(payload) + " seq " +
                        std::to_string(seq));
        }
      }
    }
  }
  EXPECT_EQ(checked_, 7 * 7 * 2 * 12);
}

TEST_P(EvpVsLibSrtp, RocAdvancesOverManyWraps) {
  const Shape plain_shape{"plain", {}, 0, {}};
  std::uint16_t seq = 100;
  for (int i = 0; i < 400; ++i, seq = static_cast<std::uint16_t>(seq + 1000)) {  // ~6 wraps, ROC 6
    roundTrip(makeRtp(plain_shape, seq, 40, 0xABCD), false, true, "seq " + std::to_string(seq));
  }
}

// protectRtpTo (the focus protects into its send queue): the plain packet is left as it is and the output
// is what protectRtp gives in place, from EVP (out of place) and from the interface's default (libsrtp:
// copy, then in place); the same packet numbers then continue in place.
TEST_P(EvpVsLibSrtp, ProtectIntoAnotherBufferMatchesInPlace) {
  std::uint32_t ssrc = 0x3000;
  for (const auto& shape : shapes()) {
    for (std::size_t payload : {0u, 17u, 1100u}) {
      ++ssrc;
      for (std::uint16_t seq = 65533; seq != 3; ++seq) {
        const Bytes plain = makeRtp(shape, seq, payload, ssrc);
        const Bytes kept = plain;
        Bytes evp_out(plain.size() + srtpRtpOverhead(GetParam()) + 5, 0xEE);
        Bytes lib_out = evp_out;
        const auto evp_n = peers_.evp_client->protectRtpTo(plain, evp_out);
        const auto lib_n = peers_.lib_client->protectRtpTo(plain, lib_out);
        ASSERT_TRUE(evp_n && lib_n) << shape.name;
        EXPECT_EQ(plain, kept) << shape.name;
        evp_out.resize(*evp_n);
        lib_out.resize(*lib_n);
        EXPECT_EQ(evp_out, lib_out) << shape.name << " seq " << seq;
        const auto back = unprotect(*peers_.evp_server, evp_out, false);
        const auto back_lib = unprotect(*peers_.lib_server, lib_out, false);
        ASSERT_TRUE(back && back_lib) << shape.name;
        EXPECT_EQ(*back, plain);
        EXPECT_EQ(*back_lib, plain);
      }
      // In place afterwards: the same stream state (the next index) on both backends.
      roundTrip(makeRtp(shape, 3, payload, ssrc), false, true, std::string(shape.name) + " after");
    }
  }
  // Too small an output is refused and counted, as in place.
  const Bytes plain = makeRtp(shapes()[0], 9, 100, 0x4444);
  Bytes small(plain.size() + srtpRtpOverhead(GetParam()) - 1);
  EXPECT_FALSE(peers_.evp_client->protectRtpTo(plain, small));
  EXPECT_FALSE(peers_.lib_client->protectRtpTo(plain, small));
  EXPECT_EQ(peers_.evp_client->protectFailures().get(SrtpError::BufferTooSmall), 1u);
  Bytes tiny(plain.size() - 1);
  EXPECT_FALSE(peers_.evp_client->protectRtpTo(plain, tiny));
  EXPECT_FALSE(peers_.lib_client->protectRtpTo(plain, tiny));
  EXPECT_EQ(peers_.evp_client->protectFailures().get(SrtpError::BufferTooSmall), 2u);
  EXPECT_EQ(peers_.lib_client->protectFailures().get(SrtpError::BufferTooSmall), 2u);
}

TEST_P(EvpVsLibSrtp, ReorderingAndResendAgree) {
  const Shape shape{"ext", {}, 0xBEDE, {0x10, 'a'}};
  const std::uint32_t ssrc = 0x77;
  std::vector<Bytes> wires;
  std::vector<Bytes> plains;
  for (std::uint16_t seq = 65520; seq != 20; ++seq) {
    plains.push_back(makeRtp(shape, seq, 100, ssrc));
    auto lib = protect(*peers_.lib_client, plains.back(), false);
    auto evp = protect(*peers_.evp_client, plains.back(), false);
    ASSERT_TRUE(lib && evp);
    ASSERT_EQ(*lib, *evp);
    wires.push_back(*lib);
  }
  // NACK answer: the same seq protected again gives the same bytes on both backends.
  for (std::size_t i : {3u, 15u, 20u}) {
    auto lib = protect(*peers_.lib_client, plains[i], false);
    auto evp = protect(*peers_.evp_client, plains[i], false);
    ASSERT_TRUE(lib && evp);
    EXPECT_EQ(*lib, wires[i]);
    EXPECT_EQ(*evp, wires[i]);
  }
  // Deliver the first, then the rest shuffled (within the window, across the wrap), with duplicates: both
  // receivers accept and reject the same.
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < wires.size(); ++i) order.push_back(i);
  std::mt19937 rng(3);
  std::shuffle(order.begin() + 1, order.end(), rng);
  order.insert(order.begin() + 10, order[2]);
  order.push_back(order[0]);
  int accepted = 0;
  for (std::size_t i : order) {
    auto lib = unprotect(*peers_.lib_server, wires[i], false);
    auto evp = unprotect(*peers_.evp_server, wires[i], false);
    ASSERT_EQ(lib.has_value(), evp.has_value()) << i;
    if (lib) {
      EXPECT_EQ(*lib, plains[i]);
      EXPECT_EQ(*evp, plains[i]);
      ++accepted;
    }
  }
  EXPECT_EQ(accepted, static_cast<int>(wires.size()));
  EXPECT_EQ(peers_.evp_server->unprotectFailures().get(SrtpError::Replay), 2u);
  EXPECT_EQ(peers_.lib_server->unprotectFailures().get(SrtpError::Replay), 2u);
}

TEST_P(EvpVsLibSrtp, ProtectOlderThanTheWindowIsRefusedLikeLibSrtp) {
  const Shape shape{"plain", {}, 0, {}};
  for (std::uint16_t seq : {1000, 2100, 1077, 1076, 1075, 2000}) {
    auto plain = makeRtp(shape, seq, 10, 9);
    auto lib = protect(*peers_.lib_client, plain, false);
    auto evp = protect(*peers_.evp_client, plain, false);
    ASSERT_EQ(lib.has_value(), evp.has_value()) << seq;
    if (lib) {
      EXPECT_EQ(*lib, *evp) << seq;
    }
  }
  EXPECT_EQ(peers_.evp_client->protectFailures().get(SrtpError::Replay), 2u);  // 1076 and 1075
  EXPECT_EQ(peers_.lib_client->protectFailures().get(SrtpError::Replay), 2u);
}

TEST_P(EvpVsLibSrtp, Srtcp) {
  std::array<std::uint8_t, 256> buf{};
  for (int i = 0; i < 40; ++i) {
    for (bool client_sends : {true, false}) {
      const std::uint32_t ssrc = 0xF00 + static_cast<std::uint32_t>(i % 3);
      std::size_t n;
      if (i % 2 == 0) {
        n = *buildRtcpPli(buf, ssrc, 0x1234);
      } else {
        std::vector<std::uint16_t> lost = {static_cast<std::uint16_t>(i), static_cast<std::uint16_t>(i + 5)};
        n = *buildRtcpNack(buf, ssrc, 0x5678, lost);
      }
      roundTrip(Bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n)), true, client_sends,
                "rtcp " + std::to_string(i));
    }
  }
  // A minimal 8-byte packet (header only) and a long one.
  Bytes eight = {0x80, 0xC9, 0x00, 0x01, 0xDE, 0xAD, 0xBE, 0xEF};
  roundTrip(eight, true, true, "8 bytes");
  Bytes big(1200, 0x5A);
  big[0] = 0x80;
  big[1] = 0xCC;
  roundTrip(big, true, true, "1200 bytes");
}

TEST_P(EvpVsLibSrtp, ManySsrcsAndInterleavedStreams) {
  const Shape shape{"plain", {}, 0, {}};
  for (int round = 0; round < 3; ++round) {
    for (std::uint32_t k = 0; k < 50; ++k) {
      roundTrip(makeRtp(shape, static_cast<std::uint16_t>(k * 997 + round), 30, 0x10000 + k), false, true,
                "ssrc " + std::to_string(k));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Profiles, EvpVsLibSrtp,
                         ::testing::Values(SrtpProfile::AeadAes128Gcm, SrtpProfile::AesCm128HmacSha1_80),
                         [](const auto& param_info) {
                           return param_info.param == SrtpProfile::AeadAes128Gcm ? std::string("Gcm")
                                                                                 : std::string("AesCm");
                         });

// ---- Failures on untrusted input ----

class EvpSrtpFailures : public ::testing::TestWithParam<SrtpProfile> {
 protected:
  void SetUp() override {
    km_ = keyingMaterial(GetParam(), 11);
    client_ = createEvpSrtpSession(GetParam(), DtlsRole::Client, km_);
    server_ = createEvpSrtpSession(GetParam(), DtlsRole::Server, km_);
    ASSERT_TRUE(client_ && server_);
  }
  std::size_t tag() const { return srtpRtpOverhead(GetParam()); }

  Bytes km_;
  SrtpSessionPtr client_;
  SrtpSessionPtr server_;
};

TEST_P(EvpSrtpFailures, TamperReplayAndSizes) {
  const Shape shape{"ext", {0x42}, 0xBEDE, {0x10, 'x', 0x20, 1, 2}};
  const Bytes plain = makeRtp(shape, 500, 160);
  auto wire = protect(*client_, plain, false);
  ASSERT_TRUE(wire);
  // Flip one bit anywhere (header, CSRC, extension, payload, tag): AuthFail, or Malformed for a flip of the
  // CSRC count or extension length that makes the header run into the tag. Never success.
  std::uint64_t fails = 0;
  for (std::size_t i = 0; i < wire->size(); ++i) {
    Bytes t = *wire;
    t[i] ^= 0x04;
    EXPECT_FALSE(unprotect(*server_, t, false)) << i;
    ++fails;
  }
  EXPECT_EQ(server_->unprotectFailures().total(), fails);
  EXPECT_EQ(server_->unprotectFailures().get(SrtpError::AuthFail) +
                server_->unprotectFailures().get(SrtpError::Malformed),
            fails);
  EXPECT_GE(server_->unprotectFailures().get(SrtpError::AuthFail), fails - 2);
  auto back = unprotect(*server_, *wire, false);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, plain);
  EXPECT_FALSE(unprotect(*server_, *wire, false));
  EXPECT_EQ(server_->unprotectFailures().get(SrtpError::Replay), 1u);

  // Too short: less than a header + tag.
  const auto before = server_->unprotectFailures().get(SrtpError::BufferTooSmall);
  for (std::size_t n = 0; n < 12 + tag(); ++n) {
    Bytes shorter(wire->begin(), wire->begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(unprotect(*server_, shorter, false));
    EXPECT_FALSE(unprotect(*server_, shorter, true));
  }
  // The minimum is 12 + tag for SRTP and 8 + 4 + tag for SRTCP: the same.
  EXPECT_EQ(server_->unprotectFailures().get(SrtpError::BufferTooSmall) - before, 2 * (12 + tag()));

  // Protect: no room for the tag / trailer, or not even an RTP header.
  Bytes b(plain);
  EXPECT_FALSE(client_->protectRtp(b, plain.size()));
  EXPECT_FALSE(client_->protectRtp(b, plain.size() + 1));
  EXPECT_EQ(client_->protectFailures().get(SrtpError::BufferTooSmall), 2u);
  Bytes hdr11(11 + 32, 0x80);
  EXPECT_FALSE(client_->protectRtp(hdr11, 11));
  Bytes rtcp7(7 + 32, 0x80);
  EXPECT_FALSE(client_->protectRtcp(rtcp7, 7));
  EXPECT_EQ(client_->protectFailures().get(SrtpError::Malformed), 2u);
}

TEST_P(EvpSrtpFailures, HeaderThatRunsIntoTheTagIsMalformed) {
  // CC = 15 claims 60 header bytes; extension length claims more than there is.
  Bytes cc15(12 + 20 + tag(), 0);
  cc15[0] = 0x8F;
  EXPECT_FALSE(unprotect(*server_, cc15, false));
  Bytes ext(12 + 4 + 8 + tag(), 0);
  ext[0] = 0x90;
  ext[12] = 0xBE;
  ext[13] = 0xDE;
  ext[15] = 3;  // 12 bytes of extension, 8 there
  EXPECT_FALSE(unprotect(*server_, ext, false));
  Bytes ext_hdr_cut(12 + 2 + tag(), 0);  // X set but not even the 4-byte extension header before the tag
  ext_hdr_cut[0] = 0x90;
  EXPECT_FALSE(unprotect(*server_, ext_hdr_cut, false));
  EXPECT_EQ(server_->unprotectFailures().get(SrtpError::Malformed), 3u);
  // The same headers on protect.
  for (Bytes* p : {&cc15, &ext, &ext_hdr_cut}) {
    Bytes b(*p);
    const std::size_t n = b.size() - tag();
    b.resize(b.size() + 64);
    EXPECT_FALSE(client_->protectRtp(b, n));
  }
  EXPECT_EQ(client_->protectFailures().get(SrtpError::Malformed), 3u);
}

TEST_P(EvpSrtpFailures, EveryPrefixAndGarbageIsRejectedWithoutOverrun) {
  const Shape shape{"csrcs_and_ext", {1, 2}, 0xBEDE, {0x22, 1, 2, 3}};
  const Bytes plain = makeRtp(shape, 9, 100);
  auto wire = protect(*client_, plain, false);
  ASSERT_TRUE(wire);
  for (std::size_t n = 0; n < wire->size(); ++n) {
    Bytes prefix(wire->begin(), wire->begin() + static_cast<std::ptrdiff_t>(n));  // own, exact allocation
    EXPECT_FALSE(unprotect(*server_, prefix, false)) << n;
    EXPECT_FALSE(unprotect(*server_, prefix, true)) << n;
  }
  std::mt19937 rng(99);
  for (int i = 0; i < 3000; ++i) {
    Bytes g(rng() % 200);
    for (auto& x : g) x = static_cast<std::uint8_t>(rng());
    if (!g.empty() && (i & 1)) g[0] = static_cast<std::uint8_t>(0x80 | (g[0] & 0x3F));
    EXPECT_FALSE(unprotect(*server_, g, false));
    EXPECT_FALSE(unprotect(*server_, g, true));
  }
  // Garbage did not create receiver state: the genuine packet still unprotects.
  auto back = unprotect(*server_, *wire, false);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, plain);
}

TEST_P(EvpSrtpFailures, SrtcpTamperReplayAndIndex) {
  std::array<std::uint8_t, 64> buf{};
  const std::size_t n = *buildRtcpPli(buf, 0xAA, 0xBB);
  const Bytes plain(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  auto wire = protect(*client_, plain, true);
  ASSERT_TRUE(wire);
  for (std::size_t i = 0; i < wire->size(); ++i) {
    Bytes t = *wire;
    t[i] ^= 0x10;
    EXPECT_FALSE(unprotect(*server_, t, true)) << i;
  }
  EXPECT_EQ(server_->unprotectFailures().get(SrtpError::AuthFail), wire->size());
  ASSERT_TRUE(unprotect(*server_, *wire, true));
  EXPECT_FALSE(unprotect(*server_, *wire, true));
  EXPECT_EQ(server_->unprotectFailures().get(SrtpError::Replay), 1u);
  // Indexes grow per packet: 1, 2, 3.
  auto second = protect(*client_, plain, true);
  ASSERT_TRUE(second);
  const std::size_t trailer_at =
      GetParam() == SrtpProfile::AeadAes128Gcm ? second->size() - 4 : second->size() - 10 - 4;
  EXPECT_EQ(load32(second->data() + trailer_at), 0x80000002u);
  EXPECT_TRUE(unprotect(*server_, *second, true));
}

TEST_P(EvpSrtpFailures, SsrcTablesAreBounded) {
  const Shape shape{"plain", {}, 0, {}};
  // Forged packets of many SSRCs do not take table space.
  std::mt19937 rng(5);
  for (std::uint32_t k = 0; k < 2 * kEvpSrtpMaxSsrcs; ++k) {
    Bytes g = makeRtp(shape, 1, 20, 0x900000 + k);
    g.resize(g.size() + tag());
    for (std::size_t i = 12; i < g.size(); ++i) g[i] = static_cast<std::uint8_t>(rng());
    EXPECT_FALSE(unprotect(*server_, g, false));
  }
  EXPECT_EQ(server_->unprotectFailures().get(SrtpError::AuthFail), 2 * kEvpSrtpMaxSsrcs);
  std::vector<Bytes> wires;
  for (std::uint32_t k = 0; k < kEvpSrtpMaxSsrcs + 1; ++k) {
    auto w = protect(*client_, makeRtp(shape, 1, 20, 0x100 + k), false);
    if (k < kEvpSrtpMaxSsrcs) {
      ASSERT_TRUE(w) << k;
      wires.push_back(*w);
    } else {
      EXPECT_FALSE(w);
    }
  }
  EXPECT_EQ(client_->protectFailures().get(SrtpError::Other), 1u);
  for (const auto& w : wires) EXPECT_TRUE(unprotect(*server_, w, false));
  // The receiver is full now: a genuine packet of a new SSRC (from another sender with the same keys) is
  // refused.
  auto other_client = createEvpSrtpSession(GetParam(), DtlsRole::Client, km_);
  auto w = protect(*other_client, makeRtp(shape, 1, 20, 0xFFFF), false);
  ASSERT_TRUE(w);
  EXPECT_FALSE(unprotect(*server_, *w, false));
  EXPECT_EQ(server_->unprotectFailures().get(SrtpError::Other), 1u);
  // Known SSRCs still work.
  auto again = protect(*client_, makeRtp(shape, 2, 20, 0x100), false);
  ASSERT_TRUE(again);
  EXPECT_TRUE(unprotect(*server_, *again, false));
}

TEST_P(EvpSrtpFailures, KeyingMaterialLayout) {
  auto km = km_;
  km.pop_back();
  EXPECT_FALSE(createEvpSrtpSession(GetParam(), DtlsRole::Client, km));
  // Both sessions of one role use the same key for sending: a client cannot read a client's packets.
  auto client2 = createEvpSrtpSession(GetParam(), DtlsRole::Client, km_);
  auto w = protect(*client_, makeRtp(Shape{"plain", {}, 0, {}}, 1, 20), false);
  ASSERT_TRUE(w);
  EXPECT_FALSE(unprotect(*client2, *w, false));
  EXPECT_EQ(client2->unprotectFailures().get(SrtpError::AuthFail), 1u);
}

INSTANTIATE_TEST_SUITE_P(Profiles, EvpSrtpFailures,
                         ::testing::Values(SrtpProfile::AeadAes128Gcm, SrtpProfile::AesCm128HmacSha1_80),
                         [](const auto& param_info) {
                           return param_info.param == SrtpProfile::AeadAes128Gcm ? std::string("Gcm")
                                                                                 : std::string("AesCm");
                         });

}  // namespace
}  // namespace chorus::media
