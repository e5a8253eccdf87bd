#include "media/srtp/srtp_session.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "media/rtcp/rtcp_packet.hpp"
#include "media/srtp/evp_srtp_session.hpp"
#include "media/srtp/libsrtp_session.hpp"
#include "packet_builder.hpp"

namespace chorus::media {
namespace {

std::vector<std::uint8_t> keyingMaterial(SrtpProfile p, std::uint8_t seed = 1) {
  std::vector<std::uint8_t> km(srtpKeyingMaterialSize(p));
  for (std::size_t i = 0; i < km.size(); ++i) km[i] = static_cast<std::uint8_t>(seed + i * 13);
  return km;
}

// Every backend runs the same suite: libsrtp2 and OpenSSL EVP.
using SrtpFactory = SrtpSessionPtr (*)(SrtpProfile, DtlsRole, ByteSpan) noexcept;
struct SrtpCase {
  const char* backend;
  SrtpFactory create;
  SrtpProfile profile;
};
// How gtest prints a case (else as raw bytes, pointers included, in every listing of the test).
void PrintTo(const SrtpCase& c, std::ostream* os) {
  *os << (*c.backend != '\0' ? c.backend : "LibSrtp") << '/'
      << (c.profile == SrtpProfile::AeadAes128Gcm ? "AeadAes128Gcm" : "AesCm128HmacSha1_80");
}

class SrtpRoundTrip : public ::testing::TestWithParam<SrtpCase> {
 protected:
  void SetUp() override {
    km_ = keyingMaterial(profile());
    client_ = GetParam().create(profile(), DtlsRole::Client, km_);
    server_ = GetParam().create(profile(), DtlsRole::Server, km_);
    ASSERT_TRUE(client_);
    ASSERT_TRUE(server_);
  }
  std::vector<std::uint8_t> rtp(std::uint16_t seq, std::size_t payload, std::uint32_t ssrc = 0x5EC0DE) {
    test::RtpSpec s;
    s.seq = seq;
    s.timestamp = 90000u * seq;
    s.ssrc = ssrc;
    s.payload.resize(payload);
    for (std::size_t i = 0; i < payload; ++i) s.payload[i] = static_cast<std::uint8_t>(i);
    return test::buildRtp(s);
  }
  SrtpProfile profile() const { return GetParam().profile; }

  std::vector<std::uint8_t> km_;
  SrtpSessionPtr client_;
  SrtpSessionPtr server_;
};

TEST_P(SrtpRoundTrip, RtpBothDirections) {
  const std::size_t overhead = srtpRtpOverhead(profile());
  std::uint16_t seq = 65500;  // crosses the 16-bit wrap (ROC increments)
  for (std::size_t payload : {0u, 160u, 1100u}) {
    for (int i = 0; i < 20; ++i, ++seq) {
      const auto plain = rtp(seq, payload);
      std::vector<std::uint8_t> buf(plain);
      buf.resize(plain.size() + overhead);  // exactly enough room: ASan catches any overrun
      auto n = client_->protectRtp(buf, plain.size());
      ASSERT_TRUE(n);
      EXPECT_EQ(*n, plain.size() + overhead);
      if (payload >= 16) {
        EXPECT_FALSE(std::equal(plain.begin() + 12, plain.begin() + 28, buf.begin() + 12));  // encrypted
      }
      std::vector<std::uint8_t> wire(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
      auto m = server_->unprotectRtp(wire);
      ASSERT_TRUE(m) << seq;
      ASSERT_EQ(*m, plain.size());
      EXPECT_TRUE(std::equal(plain.begin(), plain.end(), wire.begin()));
    }
  }
  // Server -> client as well (another SSRC, so the server's own inbound replay state is not involved).
  const auto plain = rtp(1, 50, 0xBEEF);
  std::vector<std::uint8_t> buf(plain);
  buf.resize(plain.size() + overhead);
  auto n = server_->protectRtp(buf, plain.size());
  ASSERT_TRUE(n);
  std::vector<std::uint8_t> wire(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
  ASSERT_TRUE(client_->unprotectRtp(wire));
  // A session does not accept its own packets (different keys per direction).
  std::vector<std::uint8_t> again(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
  EXPECT_FALSE(server_->unprotectRtp(again));
  EXPECT_EQ(server_->unprotectFailures().get(SrtpError::AuthFail), 1u);
}

TEST_P(SrtpRoundTrip, RtcpRoundTrip) {
  std::vector<std::uint8_t> buf(64);
  auto n = buildRtcpPli(buf, 1, 2);
  ASSERT_TRUE(n);
  const std::vector<std::uint8_t> plain(buf.begin(), buf.begin() + 12);
  buf.resize(12 + srtpRtcpOverhead(profile()));
  auto p = client_->protectRtcp(buf, 12);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, buf.size());
  auto m = server_->unprotectRtcp(buf);
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, 12u);
  EXPECT_TRUE(std::equal(plain.begin(), plain.end(), buf.begin()));
}

TEST_P(SrtpRoundTrip, FailuresAreCounted) {
  const std::size_t overhead = srtpRtpOverhead(profile());
  const auto plain = rtp(100, 160);
  std::vector<std::uint8_t> buf(plain);
  // No room for the tag.
  EXPECT_FALSE(client_->protectRtp(buf, plain.size()));
  EXPECT_EQ(client_->protectFailures().get(SrtpError::BufferTooSmall), 1u);
  buf.resize(plain.size() + overhead);
  auto n = client_->protectRtp(buf, plain.size());
  ASSERT_TRUE(n);
  // Retransmitting the same packet is allowed on the sending side (NACK answers).
  std::vector<std::uint8_t> buf2(plain);
  buf2.resize(plain.size() + overhead);
  EXPECT_TRUE(client_->protectRtp(buf2, plain.size()));

  auto tampered = buf;
  tampered[20] ^= 0x01;
  EXPECT_FALSE(server_->unprotectRtp(tampered));
  EXPECT_EQ(server_->unprotectFailures().get(SrtpError::AuthFail), 1u);

  auto ok = buf;
  EXPECT_TRUE(server_->unprotectRtp(ok));
  auto replay = buf;
  EXPECT_FALSE(server_->unprotectRtp(replay));
  EXPECT_EQ(server_->unprotectFailures().get(SrtpError::Replay), 1u);

  std::vector<std::uint8_t> tiny = {0x80, 0x60, 0x00};
  EXPECT_FALSE(server_->unprotectRtp(tiny));
  EXPECT_FALSE(server_->unprotectRtcp(tiny));
  EXPECT_EQ(server_->unprotectFailures().get(SrtpError::BufferTooSmall), 2u);
  EXPECT_EQ(server_->unprotectFailures().total(), 4u);
}

TEST_P(SrtpRoundTrip, OtherKeysOrProfileFail) {
  const auto other_km = keyingMaterial(profile(), 99);
  auto stranger = GetParam().create(profile(), DtlsRole::Server, other_km);
  ASSERT_TRUE(stranger);
  const auto plain = rtp(7, 100);
  std::vector<std::uint8_t> buf(plain);
  buf.resize(plain.size() + srtpRtpOverhead(profile()));
  ASSERT_TRUE(client_->protectRtp(buf, plain.size()));
  EXPECT_FALSE(stranger->unprotectRtp(buf));
  EXPECT_EQ(stranger->unprotectFailures().get(SrtpError::AuthFail), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Profiles, SrtpRoundTrip,
    ::testing::Values(SrtpCase{"", &createLibSrtpSession, SrtpProfile::AeadAes128Gcm},
                      SrtpCase{"", &createLibSrtpSession, SrtpProfile::AesCm128HmacSha1_80},
                      SrtpCase{"Evp", &createEvpSrtpSession, SrtpProfile::AeadAes128Gcm},
                      SrtpCase{"Evp", &createEvpSrtpSession, SrtpProfile::AesCm128HmacSha1_80}),
    [](const auto& param_info) {
      // libsrtp keeps the names it had (Gcm, AesCm); the EVP backend's are EvpGcm, EvpAesCm.
      return std::string(param_info.param.backend) +
             (param_info.param.profile == SrtpProfile::AeadAes128Gcm ? "Gcm" : "AesCm");
    });

TEST(SrtpSession, KeyingMaterialLayoutAndNames) {
  EXPECT_EQ(srtpKeyingMaterialSize(SrtpProfile::AeadAes128Gcm), 56u);
  EXPECT_EQ(srtpKeyingMaterialSize(SrtpProfile::AesCm128HmacSha1_80), 60u);
  EXPECT_EQ(srtpProfileFromName("SRTP_AEAD_AES_128_GCM"), SrtpProfile::AeadAes128Gcm);
  EXPECT_EQ(srtpProfileFromName("SRTP_AES128_CM_SHA1_80"), SrtpProfile::AesCm128HmacSha1_80);
  EXPECT_FALSE(srtpProfileFromName("SRTP_AES128_CM_SHA1_32"));
  EXPECT_EQ(srtpProfileName(SrtpProfile::AeadAes128Gcm), "SRTP_AEAD_AES_128_GCM");
  auto km = keyingMaterial(SrtpProfile::AesCm128HmacSha1_80);
  EXPECT_FALSE(createLibSrtpSession(SrtpProfile::AeadAes128Gcm, DtlsRole::Client, km));
  km.pop_back();
  EXPECT_FALSE(createLibSrtpSession(SrtpProfile::AesCm128HmacSha1_80, DtlsRole::Client, km));
}

// The exporter layout is client_key | server_key | client_salt | server_salt: a client session built from
// material whose halves are swapped must not interoperate.
TEST(SrtpSession, RoleSelectsKeyHalves) {
  const auto p = SrtpProfile::AeadAes128Gcm;
  auto km = keyingMaterial(p);
  auto client = createLibSrtpSession(p, DtlsRole::Client, km);
  auto client2 = createLibSrtpSession(p, DtlsRole::Client, km);
  test::RtpSpec s;
  s.payload = {1, 2, 3};
  auto plain = test::buildRtp(s);
  std::vector<std::uint8_t> buf(plain);
  buf.resize(plain.size() + srtpRtpOverhead(p));
  ASSERT_TRUE(client->protectRtp(buf, plain.size()));
  EXPECT_FALSE(client2->unprotectRtp(buf));
}

}  // namespace
}  // namespace chorus::media
