#include "media/rtp/rtp_packet.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "packet_builder.hpp"

namespace chorus::media {
namespace {

using test::buildRtp;
using test::RtpSpec;

TEST(RtpPacket, ParsesFixedHeaderAndPayload) {
  RtpSpec s;
  s.payload_type = 111;
  s.marker = true;
  s.seq = 0xBEEF;
  s.timestamp = 0xDEADBEEF;
  s.ssrc = 0xCAFEBABE;
  s.payload = {1, 2, 3, 4, 5};
  auto bytes = buildRtp(s);
  RtpError err{};
  auto p = RtpPacketView::parse(bytes, &err);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->version(), 2);
  EXPECT_TRUE(p->marker());
  EXPECT_FALSE(p->hasPadding());
  EXPECT_FALSE(p->hasExtension());
  EXPECT_EQ(p->payloadType(), 111);
  EXPECT_EQ(p->sequenceNumber(), 0xBEEF);
  EXPECT_EQ(p->timestamp(), 0xDEADBEEFu);
  EXPECT_EQ(p->ssrc(), 0xCAFEBABEu);
  EXPECT_EQ(p->csrcCount(), 0);
  EXPECT_EQ(p->headerSize(), 12u);
  ASSERT_EQ(p->payload().size(), 5u);
  EXPECT_EQ(p->payload()[0], 1);
  EXPECT_FALSE(p->findExtension(1));
}

TEST(RtpPacket, CsrcsAndPadding) {
  RtpSpec s;
  s.csrcs = {1, 2, 3};
  s.payload = {9, 9, 9};
  s.padding = 5;
  auto bytes = buildRtp(s);
  auto p = RtpPacketView::parse(bytes);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->csrcCount(), 3);
  EXPECT_EQ(p->csrc(0), 1u);
  EXPECT_EQ(p->csrc(2), 3u);
  EXPECT_EQ(p->csrc(3), 0u);
  EXPECT_EQ(p->headerSize(), 24u);
  EXPECT_EQ(p->paddingSize(), 5u);
  EXPECT_EQ(p->payload().size(), 3u);
}

TEST(RtpPacket, PaddingOnlyPacketHasEmptyPayload) {
  RtpSpec s;
  s.padding = 200;  // e.g. bandwidth probing
  auto bytes = buildRtp(s);
  auto p = RtpPacketView::parse(bytes);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->payload().empty());
}

TEST(RtpPacket, RejectsMalformed) {
  auto expectError = [](std::vector<std::uint8_t> v, RtpError want) {
    RtpError err = RtpError::Count;
    EXPECT_FALSE(RtpPacketView::parse(v, &err));
    EXPECT_EQ(err, want) << toString(err);
  };
  RtpSpec s;
  s.payload = {1, 2, 3, 4};
  auto good = buildRtp(s);
  expectError({}, RtpError::TooShort);
  expectError(std::vector<std::uint8_t>(good.begin(), good.begin() + 11), RtpError::TooShort);
  auto v = good;
  v[0] = 0x40;
  expectError(v, RtpError::BadVersion);
  v = good;
  v[0] = 0x80 | 3;  // 3 CSRCs need 12 more bytes; only 4 present
  expectError(v, RtpError::CsrcOverrun);
  v = good;
  v[0] = 0x90;  // X set: 4 payload bytes are read as the extension header, claiming 0x0304 words
  expectError(v, RtpError::ExtensionOverrun);
  v = good;
  v[0] = 0xA0;  // P set; last byte 4 => whole payload is padding: fine
  EXPECT_TRUE(RtpPacketView::parse(v));
  v.back() = 5;  // more padding than payload
  expectError(v, RtpError::BadPadding);
  v.back() = 0;  // zero padding count
  expectError(v, RtpError::BadPadding);
  v = good;
  v.resize(65536, 0);
  expectError(v, RtpError::TooLong);
  EXPECT_STREQ(toString(RtpError::TooLong), "too_long");
}

// RFC 8285 §4.2 one-byte header: mid (id 1), abs-send-time (id 3), transport-cc (id 5), padding in between.
TEST(RtpPacket, OneByteExtensions) {
  RtpSpec s;
  s.ext_profile = kRtpOneByteExtensionProfile;
  s.ext_block = {0x10, '0', 0x00, 0x32, 0x12, 0x34, 0x56, 0x51, 0xAB, 0xCD, 0x00, 0x00};
  s.payload = {7};
  auto bytes = buildRtp(s);
  auto p = RtpPacketView::parse(bytes);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->hasOneByteExtensions());
  EXPECT_EQ(p->extensionBlock().size(), 12u);
  auto mid = p->findExtension(1);
  ASSERT_TRUE(mid);
  EXPECT_EQ(parseSdesExtension(mid->data), "0");
  auto ast = p->findExtension(3);
  ASSERT_TRUE(ast);
  EXPECT_EQ(parseAbsSendTime(ast->data), 0x123456u);
  auto tcc = p->findExtension(5);
  ASSERT_TRUE(tcc);
  EXPECT_EQ(parseTransportCcSeq(tcc->data), 0xABCD);
  EXPECT_FALSE(p->findExtension(2));
  EXPECT_FALSE(p->findExtension(0));
  EXPECT_EQ(p->payload().size(), 1u);

  int n = 0;
  auto it = p->extensions();
  while (it.next()) ++n;
  EXPECT_EQ(n, 3);
  EXPECT_FALSE(it.malformed());
}

TEST(RtpPacket, OneByteIdFifteenStopsParsing) {
  RtpSpec s;
  s.ext_profile = kRtpOneByteExtensionProfile;
  s.ext_block = {0xF0, 0x10, 'x', 0x00};
  auto bytes = buildRtp(s);
  auto p = RtpPacketView::parse(bytes);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->findExtension(1));
}

TEST(RtpPacket, TwoByteExtensionsWithRid) {
  RtpSpec s;
  s.ext_profile = 0x1000;
  // id 10 "h" (rid), id 0 padding, id 200 with 0 bytes, id 3 abs-send-time.
  s.ext_block = {10, 1, 'h', 0, 200, 0, 3, 3, 0x01, 0x02, 0x03};
  auto bytes = buildRtp(s);
  auto p = RtpPacketView::parse(bytes);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->hasTwoByteExtensions());
  auto rid = p->findExtension(10);
  ASSERT_TRUE(rid);
  EXPECT_EQ(parseSdesExtension(rid->data), "h");
  auto empty = p->findExtension(200);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->data.empty());
  EXPECT_EQ(parseAbsSendTime(p->findExtension(3)->data), 0x010203u);
}

TEST(RtpPacket, MalformedExtensionElementIsNotFound) {
  RtpSpec s;
  s.ext_profile = kRtpOneByteExtensionProfile;
  s.ext_block = {0x10, 'a', 0x2F, 0x00};  // id 2 claims 16 bytes in a 4-byte block
  auto bytes = buildRtp(s);
  auto p = RtpPacketView::parse(bytes);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->findExtension(1));
  EXPECT_FALSE(p->findExtension(2));
  auto it = p->extensions();
  while (it.next()) {
  }
  EXPECT_TRUE(it.malformed());
}

TEST(RtpPacket, UnknownProfileYieldsNoElements) {
  RtpSpec s;
  s.ext_profile = 0x1234;
  s.ext_block = {0x10, 'a', 0, 0};
  auto bytes = buildRtp(s);
  auto p = RtpPacketView::parse(bytes);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->extensionProfile(), 0x1234);
  EXPECT_FALSE(p->findExtension(1));
}

TEST(RtpPacket, ExtensionValueDecodersRejectBadSizes) {
  const std::uint8_t two[2] = {1, 2};
  const std::uint8_t three[3] = {1, 2, 3};
  const std::uint8_t space[2] = {'a', ' '};
  EXPECT_FALSE(parseAbsSendTime(ByteSpan(two)));
  EXPECT_FALSE(parseTransportCcSeq(ByteSpan(three)));
  EXPECT_FALSE(parseSdesExtension(ByteSpan()));
  EXPECT_FALSE(parseSdesExtension(ByteSpan(space)));
}

// RFC 6464 client-to-mixer audio level, in both RFC 8285 forms: one byte, V (0x80) + level in -dBov.
TEST(RtpPacket, AudioLevelInOneAndTwoByteForms) {
  RtpSpec one;
  one.ext_profile = kRtpOneByteExtensionProfile;
  one.ext_block = {0x10, 0x80 | 33, 0x40, '0', 0x30, 0x7F, 0x00, 0x00};  // id 1 (V, 33), id 4 mid, id 3 (127)
  auto bytes = buildRtp(one);
  auto p = RtpPacketView::parse(bytes);
  ASSERT_TRUE(p);
  auto loud = parseAudioLevel(p->findExtension(1)->data);
  ASSERT_TRUE(loud);
  EXPECT_EQ(loud->level, 33);
  EXPECT_TRUE(loud->voice);
  auto silent = parseAudioLevel(p->findExtension(3)->data);
  ASSERT_TRUE(silent);
  EXPECT_EQ(silent->level, 127);
  EXPECT_FALSE(silent->voice);

  RtpSpec two;
  two.ext_profile = 0x1000;
  two.ext_block = {1, 1, 0x05, 0, 20, 1, 0x80, 0};  // id 1 (level 5), padding, id 20 (V, level 0)
  bytes = buildRtp(two);
  p = RtpPacketView::parse(bytes);
  ASSERT_TRUE(p);
  ASSERT_TRUE(p->hasTwoByteExtensions());
  auto five = parseAudioLevel(p->findExtension(1)->data);
  ASSERT_TRUE(five);
  EXPECT_EQ(five->level, 5);
  EXPECT_FALSE(five->voice);
  auto loudest = parseAudioLevel(p->findExtension(20)->data);
  ASSERT_TRUE(loudest);
  EXPECT_EQ(loudest->level, 0);
  EXPECT_TRUE(loudest->voice);
}

TEST(RtpPacket, AudioLevelOfAnotherLengthIsNoLevel) {
  const std::uint8_t two[2] = {0x80, 0x10};
  EXPECT_FALSE(parseAudioLevel(ByteSpan()));
  EXPECT_FALSE(parseAudioLevel(ByteSpan(two)));
  // A two-byte-form element of length 0 (legal there) is no level either.
  RtpSpec s;
  s.ext_profile = 0x1000;
  s.ext_block = {1, 0, 0, 0};
  auto bytes = buildRtp(s);
  auto p = RtpPacketView::parse(bytes);
  ASSERT_TRUE(p);
  auto e = p->findExtension(1);
  ASSERT_TRUE(e);
  EXPECT_FALSE(parseAudioLevel(e->data));
}

TEST(RtpPacket, InPlaceRewrite) {
  RtpSpec s;
  s.payload_type = 96;
  s.marker = true;
  s.seq = 1;
  s.timestamp = 2;
  s.ssrc = 3;
  s.ext_profile = kRtpOneByteExtensionProfile;
  s.ext_block = {0x51, 0x00, 0x07};
  s.payload = {0xAA, 0xBB};
  auto bytes = buildRtp(s);
  auto m = MutableRtpPacketView::parse(bytes);
  ASSERT_TRUE(m);
  m->setSsrc(0x01020304);
  m->setSequenceNumber(65535);
  m->setTimestamp(0xFFFFFFFF);
  m->setPayloadType(100);
  auto tcc = m->mutableExtension(5);
  ASSERT_TRUE(tcc);
  (*tcc)[0] = 0x12;
  (*tcc)[1] = 0x34;
  m->mutablePayload()[1] = 0xCC;

  auto p = RtpPacketView::parse(bytes);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->ssrc(), 0x01020304u);
  EXPECT_EQ(p->sequenceNumber(), 65535);
  EXPECT_EQ(p->timestamp(), 0xFFFFFFFFu);
  EXPECT_EQ(p->payloadType(), 100);
  EXPECT_TRUE(p->marker());  // payload type rewrite keeps the marker
  EXPECT_EQ(parseTransportCcSeq(p->findExtension(5)->data), 0x1234);
  EXPECT_EQ(p->payload()[1], 0xCC);
  m->setMarker(false);
  EXPECT_FALSE(RtpPacketView::parse(bytes)->marker());
  EXPECT_EQ(RtpPacketView::parse(bytes)->payloadType(), 100);
}

}  // namespace
}  // namespace chorus::media
