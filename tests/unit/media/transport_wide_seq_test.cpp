#include "media/rtp/transport_wide_seq.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "packet_builder.hpp"

namespace chorus::media {
namespace {

std::vector<std::uint8_t> withRoom(std::vector<std::uint8_t> v, std::size_t room) {
  v.resize(v.size() + room, 0xEE);
  return v;
}

TEST(TransportWideSeq, AddsAOneByteBlockToAPlainPacket) {
  test::RtpSpec spec;
  spec.csrcs = {7};
  spec.payload = {1, 2, 3, 4, 5};
  const auto plain = test::buildRtp(spec);
  auto buf = withRoom(plain, 16);
  auto n = writeTransportWideSeq(buf, plain.size(), 3, 0xBEEF);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, plain.size() + 8);
  auto v = RtpPacketView::parse(ByteSpan(buf.data(), *n));
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->hasOneByteExtensions());
  EXPECT_EQ(readTransportWideSeq(*v, 3), 0xBEEF);
  EXPECT_EQ(v->csrc(0), 7u);
  EXPECT_EQ(std::vector<std::uint8_t>(v->payload().begin(), v->payload().end()), spec.payload);
  // In place the second time.
  n = writeTransportWideSeq(buf, *n, 3, 0x0102);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, plain.size() + 8);
  EXPECT_EQ(readTransportWideSeq(*RtpPacketView::parse(ByteSpan(buf.data(), *n)), 3), 0x0102);
}

TEST(TransportWideSeq, AddsATwoByteBlockForALargeId) {
  test::RtpSpec spec;
  spec.payload = {9, 9};
  spec.padding = 4;
  const auto plain = test::buildRtp(spec);
  auto buf = withRoom(plain, 8);
  auto n = writeTransportWideSeq(buf, plain.size(), 200, 77);
  ASSERT_TRUE(n);
  auto v = RtpPacketView::parse(ByteSpan(buf.data(), *n));
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->hasTwoByteExtensions());
  EXPECT_EQ(readTransportWideSeq(*v, 200), 77);
  EXPECT_EQ(v->paddingSize(), 4u);
  EXPECT_EQ(v->payload().size(), 2u);
}

TEST(TransportWideSeq, AppendsToExistingBlocks) {
  // One-byte block with a mid (id 1, "ab") = 3 bytes + 1 padding: the new element needs a new word.
  test::RtpSpec spec;
  spec.ext_profile = kRtpOneByteExtensionProfile;
  spec.ext_block = {0x11, 'a', 'b', 0};
  spec.payload = {1, 2, 3};
  const auto pkt = test::buildRtp(spec);
  auto buf = withRoom(pkt, 8);
  auto n = writeTransportWideSeq(buf, pkt.size(), 5, 4242);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, pkt.size() + 4);
  auto v = RtpPacketView::parse(ByteSpan(buf.data(), *n));
  ASSERT_TRUE(v);
  EXPECT_EQ(readTransportWideSeq(*v, 5), 4242);
  EXPECT_EQ(parseSdesExtension(v->findExtension(1)->data), "ab");
  EXPECT_EQ(std::vector<std::uint8_t>(v->payload().begin(), v->payload().end()), spec.payload);

  // Two-byte block.
  spec.ext_profile = kRtpTwoByteExtensionProfile;
  spec.ext_block = {1, 1, 'x', 0};
  const auto pkt2 = test::buildRtp(spec);
  auto buf2 = withRoom(pkt2, 8);
  n = writeTransportWideSeq(buf2, pkt2.size(), 20, 9);
  ASSERT_TRUE(n);
  v = RtpPacketView::parse(ByteSpan(buf2.data(), *n));
  ASSERT_TRUE(v);
  EXPECT_EQ(readTransportWideSeq(*v, 20), 9);
  EXPECT_EQ(parseSdesExtension(v->findExtension(1)->data), "x");
}

TEST(TransportWideSeq, RefusesWhatItCannotDo) {
  test::RtpSpec spec;
  spec.payload = {1};
  const auto plain = test::buildRtp(spec);
  auto tight = plain;  // no room
  EXPECT_FALSE(writeTransportWideSeq(tight, plain.size(), 3, 1));
  auto buf = withRoom(plain, 8);
  EXPECT_FALSE(writeTransportWideSeq(buf, plain.size(), 0, 1));  // id 0
  spec.ext_profile = kRtpOneByteExtensionProfile;
  spec.ext_block = {0x11, 'a', 'b', 0};
  auto one = withRoom(test::buildRtp(spec), 8);
  EXPECT_FALSE(writeTransportWideSeq(one, one.size() - 8, 15, 1));  // > 14 in a one-byte block
  spec.ext_block = {0x30, 7, 0, 0};                                 // id 3 with 1 byte: wrong length
  auto wrong = withRoom(test::buildRtp(spec), 8);
  EXPECT_FALSE(writeTransportWideSeq(wrong, wrong.size() - 8, 3, 1));
  std::vector<std::uint8_t> junk(20, 0);
  EXPECT_FALSE(writeTransportWideSeq(junk, 12, 3, 1));  // version 0
}

}  // namespace
}  // namespace chorus::media
