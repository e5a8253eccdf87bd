#include "media/demux.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>

namespace chorus::media {
namespace {

PacketKind kindOf(std::uint8_t b0, std::uint8_t b1 = 0) {
  const std::array<std::uint8_t, 2> d = {b0, b1};
  return classifyPacket(d);
}

TEST(Demux, Rfc7983Ranges) {
  for (int b = 0; b <= 3; ++b) EXPECT_EQ(kindOf(static_cast<std::uint8_t>(b)), PacketKind::Stun) << b;
  for (int b = 4; b <= 19; ++b) EXPECT_EQ(kindOf(static_cast<std::uint8_t>(b)), PacketKind::Unknown) << b;
  for (int b = 20; b <= 63; ++b) EXPECT_EQ(kindOf(static_cast<std::uint8_t>(b)), PacketKind::Dtls) << b;
  for (int b = 64; b <= 127; ++b) EXPECT_EQ(kindOf(static_cast<std::uint8_t>(b)), PacketKind::Unknown) << b;
  for (int b = 128; b <= 191; ++b) EXPECT_EQ(kindOf(static_cast<std::uint8_t>(b), 96), PacketKind::Rtp) << b;
  for (int b = 192; b <= 255; ++b) EXPECT_EQ(kindOf(static_cast<std::uint8_t>(b)), PacketKind::Unknown) << b;
}

TEST(Demux, RtcpByPacketTypeWithRtcpMux) {
  for (int pt = 0; pt <= 255; ++pt) {
    const bool rtcp = pt >= 192 && pt <= 223;
    EXPECT_EQ(kindOf(0x80, static_cast<std::uint8_t>(pt)), rtcp ? PacketKind::Rtcp : PacketKind::Rtp) << pt;
  }
  // Marker bit set with PT 96 is 224: RTP.
  EXPECT_EQ(kindOf(0x80, 0x80 | 96), PacketKind::Rtp);
  // SR (200) and PSFB (206).
  EXPECT_EQ(kindOf(0x81, 200), PacketKind::Rtcp);
  EXPECT_EQ(kindOf(0x81, 206), PacketKind::Rtcp);
}

TEST(Demux, TooShort) {
  EXPECT_EQ(classifyPacket(ByteSpan()), PacketKind::Unknown);
  const std::array<std::uint8_t, 1> one = {0x80};
  EXPECT_EQ(classifyPacket(one), PacketKind::Unknown);
  const std::array<std::uint8_t, 1> stun = {0x00};
  EXPECT_EQ(classifyPacket(stun), PacketKind::Stun);
  static_assert(classifyPacket(ByteSpan()) == PacketKind::Unknown);
  EXPECT_STREQ(toString(PacketKind::Rtcp), "rtcp");
}

}  // namespace
}  // namespace chorus::media
