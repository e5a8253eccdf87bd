#include "media/stun/stun_message.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

namespace chorus::media {
namespace {

// RFC 5769 §2.1 sample request (short-term credentials).
constexpr std::array<std::uint8_t, 108> kRequest = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf};

// RFC 5769 §2.2 sample IPv4 response.
constexpr std::array<std::uint8_t, 80> kResponseV4 = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96};

// RFC 5769 §2.3 sample IPv6 response.
constexpr std::array<std::uint8_t, 92> kResponseV6 = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14,
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,
    0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c};

constexpr std::string_view kPassword = "VOkJxbRl1RmTxUk/WvJxBt";
constexpr std::array<std::uint8_t, 12> kTxid = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                                0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

const StunAddress kMappedV4 = StunAddress::v4({192, 0, 2, 1}, 32853);
const StunAddress kMappedV6 = StunAddress::v6(
    {0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}, 32853);

TEST(StunCrc32, MatchesKnownValue) {
  const std::string_view s = "123456789";
  EXPECT_EQ(crc32(ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size())), 0xCBF43926u);
}

TEST(StunParse, Rfc5769Request) {
  StunError err{};
  auto m = parseStun(kRequest, &err);
  ASSERT_TRUE(m) << toString(err);
  EXPECT_TRUE(m->isBindingRequest());
  EXPECT_EQ(m->method(), 1);
  EXPECT_EQ(m->messageClass(), 0);
  EXPECT_EQ(m->transaction_id, kTxid);
  ASSERT_TRUE(m->username);
  EXPECT_EQ(*m->username, "evtj:h6vY");
  EXPECT_EQ(m->software, "STUN test client");
  EXPECT_EQ(m->priority, 0x6e0001ffu);
  EXPECT_EQ(m->ice_controlled, 0x932ff9b151263b36ull);
  EXPECT_FALSE(m->ice_controlling);
  EXPECT_FALSE(m->use_candidate);
  EXPECT_TRUE(m->hasIntegrity());
  EXPECT_TRUE(m->hasFingerprint());
  EXPECT_EQ(m->unknown_comprehension_required, 0);
  EXPECT_TRUE(verifyStunIntegrity(*m, kPassword));
  EXPECT_FALSE(verifyStunIntegrity(*m, "VOkJxbRl1RmTxUk/WvJxBT"));
  EXPECT_FALSE(verifyStunIntegrity(*m, ""));
  EXPECT_EQ(matchIceUsername(*m, "evtj"), "h6vY");
  EXPECT_FALSE(matchIceUsername(*m, "evt"));
  EXPECT_FALSE(matchIceUsername(*m, "h6vY"));
}

TEST(StunParse, Rfc5769ResponsesDecodeXorMappedAddress) {
  auto v4 = parseStun(kResponseV4);
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->type, kStunBindingSuccess);
  EXPECT_EQ(v4->messageClass(), 2);
  EXPECT_EQ(v4->software, "test vector");
  ASSERT_TRUE(v4->xor_mapped_address);
  EXPECT_EQ(*v4->xor_mapped_address, kMappedV4);
  EXPECT_TRUE(verifyStunIntegrity(*v4, kPassword));

  auto v6 = parseStun(kResponseV6);
  ASSERT_TRUE(v6);
  ASSERT_TRUE(v6->xor_mapped_address);
  EXPECT_EQ(*v6->xor_mapped_address, kMappedV6);
  EXPECT_TRUE(verifyStunIntegrity(*v6, kPassword));
}

TEST(StunBuild, ReproducesRfc5769ResponsesByteForByte) {
  const StunResponseOptions opts{"test vector", 0x20};
  std::array<std::uint8_t, 128> out{};
  auto n = buildStunBindingSuccess(out, kTxid, kMappedV4, kPassword, opts);
  ASSERT_TRUE(n);
  ASSERT_EQ(*n, kResponseV4.size());
  EXPECT_TRUE(std::equal(kResponseV4.begin(), kResponseV4.end(), out.begin()));

  n = buildStunBindingSuccess(out, kTxid, kMappedV6, kPassword, opts);
  ASSERT_TRUE(n);
  ASSERT_EQ(*n, kResponseV6.size());
  EXPECT_TRUE(std::equal(kResponseV6.begin(), kResponseV6.end(), out.begin()));
}

TEST(StunBuild, MinimalResponseRoundTripsAndFitsMaxSize) {
  std::array<std::uint8_t, kStunMaxBindingResponse> out{};
  auto n = buildStunBindingSuccess(out, kTxid, kMappedV6, "pass-word-of-ice-22chr");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, kStunMaxBindingResponse);
  auto m = parseStun(ByteSpan(out.data(), *n));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->xor_mapped_address, kMappedV6);
  EXPECT_TRUE(verifyStunIntegrity(*m, "pass-word-of-ice-22chr"));
  EXPECT_FALSE(m->software);

  n = buildStunBindingSuccess(out, kTxid, kMappedV4, "pw");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 20u + 12 + 24 + 8);
}

TEST(StunBuild, RefusesSmallBufferOrEmptyPassword) {
  std::array<std::uint8_t, kStunMaxBindingResponse - 1> small{};
  EXPECT_FALSE(buildStunBindingSuccess(small, kTxid, kMappedV6, "pw"));
  std::array<std::uint8_t, kStunMaxBindingResponse> ok{};
  EXPECT_FALSE(buildStunBindingSuccess(ok, kTxid, kMappedV4, ""));
}

TEST(StunParse, RejectsMalformedWithReason) {
  auto expectError = [](std::vector<std::uint8_t> bytes, StunError want) {
    StunError err = StunError::Count;
    EXPECT_FALSE(parseStun(bytes, &err));
    EXPECT_EQ(err, want) << toString(err) << " want " << toString(want);
  };
  std::vector<std::uint8_t> req(kRequest.begin(), kRequest.end());

  expectError({}, StunError::TooShort);
  expectError(std::vector<std::uint8_t>(req.begin(), req.begin() + 19), StunError::TooShort);
  auto v = req;
  v[0] = 0x80;
  expectError(v, StunError::NotStun);
  v = req;
  v[4] = 0;
  expectError(v, StunError::BadMagicCookie);
  v = req;
  v[3] = 0x59;
  expectError(v, StunError::BadLength);
  v = req;
  v.push_back(0);
  expectError(v, StunError::BadLength);
  // Flip a byte of the software text: fingerprint no longer matches.
  v = req;
  v[30] ^= 1;
  expectError(v, StunError::BadFingerprint);
  // PRIORITY with length 5 (and padding) runs its padded value over the next attribute header: still in
  // bounds, but a wrong size for PRIORITY.
  v = req;
  v[43] = 5;
  expectError(v, StunError::BadAttribute);
  // USERNAME length claims 200 bytes.
  v = req;
  v[63] = 200;
  expectError(v, StunError::AttributeOverrun);
  // Attribute after FINGERPRINT (with the fingerprint recomputed for the longer length).
  v = req;
  v.insert(v.end(), {0x00, 0x25, 0x00, 0x00});
  v[3] = static_cast<std::uint8_t>(v.size() - 20);
  const std::size_t fp = req.size() - 8;
  const std::uint32_t crc = crc32(ByteSpan(v.data(), fp)) ^ 0x5354554eu;
  v[fp + 4] = static_cast<std::uint8_t>(crc >> 24);
  v[fp + 5] = static_cast<std::uint8_t>(crc >> 16);
  v[fp + 6] = static_cast<std::uint8_t>(crc >> 8);
  v[fp + 7] = static_cast<std::uint8_t>(crc);
  expectError(v, StunError::AfterFingerprint);
}

TEST(StunParse, IgnoresAttributesAfterIntegrityAndCountsUnknown) {
  // Header + unknown comprehension-required 0x0077 + MESSAGE-INTEGRITY (zeros) + USE-CANDIDATE (ignored).
  std::vector<std::uint8_t> v = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1,  2,
                                 3,    4,    5,    6,    7,    8,    9,    10,   11, 12};
  v.insert(v.end(), {0x00, 0x77, 0x00, 0x01, 0xAA, 0, 0, 0});
  v.insert(v.end(), {0x00, 0x08, 0x00, 0x14});
  v.insert(v.end(), 20, 0);
  v.insert(v.end(), {0x00, 0x25, 0x00, 0x00});
  v[3] = static_cast<std::uint8_t>(v.size() - 20);
  auto m = parseStun(v);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->unknown_comprehension_required, 1);
  EXPECT_FALSE(m->use_candidate);
  EXPECT_TRUE(m->hasIntegrity());
  EXPECT_FALSE(m->hasFingerprint());
  EXPECT_FALSE(verifyStunIntegrity(*m, kPassword));
}

TEST(StunParse, IceAttributesOfAControllingRequest) {
  // Build a request by hand: USERNAME, PRIORITY, ICE-CONTROLLING, USE-CANDIDATE; no integrity.
  std::vector<std::uint8_t> v = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1,  2,
                                 3,    4,    5,    6,    7,    8,    9,    10,   11, 12};
  v.insert(v.end(), {0x00, 0x06, 0x00, 0x03, 'a', ':', 'b', 0});
  v.insert(v.end(), {0x00, 0x24, 0x00, 0x04, 0x7e, 0x00, 0x1e, 0xff});
  v.insert(v.end(), {0x80, 0x2a, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8});
  v.insert(v.end(), {0x00, 0x25, 0x00, 0x00});
  v[3] = static_cast<std::uint8_t>(v.size() - 20);
  auto m = parseStun(v);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->username, "a:b");
  EXPECT_EQ(m->priority, 0x7e001effu);
  EXPECT_EQ(m->ice_controlling, 0x0102030405060708ull);
  EXPECT_TRUE(m->use_candidate);
  EXPECT_FALSE(m->hasIntegrity());
  EXPECT_FALSE(verifyStunIntegrity(*m, kPassword));
  EXPECT_EQ(matchIceUsername(*m, "a"), "b");

  auto dup = v;
  dup.insert(dup.end(), {0x00, 0x24, 0x00, 0x04, 0, 0, 0, 1});
  dup[3] = static_cast<std::uint8_t>(dup.size() - 20);
  StunError err{};
  EXPECT_FALSE(parseStun(dup, &err));
  EXPECT_EQ(err, StunError::DuplicateAttribute);
}

}  // namespace
}  // namespace chorus::media
