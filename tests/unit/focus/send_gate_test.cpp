#include "focus/send_gate.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "media/rtcp/rtcp_packet.hpp"

namespace chorus::focus {
namespace {

std::vector<std::uint8_t> rtp(std::uint32_t ssrc) {
  std::vector<std::uint8_t> p(20, 0);
  p[0] = 0x80;
  p[1] = 96;
  p[8] = static_cast<std::uint8_t>(ssrc >> 24);
  p[9] = static_cast<std::uint8_t>(ssrc >> 16);
  p[10] = static_cast<std::uint8_t>(ssrc >> 8);
  p[11] = static_cast<std::uint8_t>(ssrc);
  return p;
}

std::vector<std::uint8_t> senderReport(std::uint32_t ssrc) {
  std::vector<std::uint8_t> p(28);
  const auto n = media::buildRtcpSenderReport(p, ssrc, 1, 2, 3, 4);
  EXPECT_EQ(n, 28u);
  return p;
}

TEST(SendGate, NothingIsLiveBeforeTheFirstAnswer) {
  SendGate g;
  EXPECT_FALSE(g.admitRtp(rtp(1111)));
  EXPECT_FALSE(g.admitRtcp(senderReport(1111)));
}

TEST(SendGate, RtpAndSenderReportsOfAgreedTracksOnly) {
  SendGate g;
  EXPECT_EQ(g.setLive({30, 10, 20, 10}), (std::vector<std::uint32_t>{10, 20, 30}));
  EXPECT_TRUE(g.admitRtp(rtp(20)));
  EXPECT_TRUE(g.admitRtcp(senderReport(20)));
  // A track the next offer adds: held back until its answer.
  EXPECT_FALSE(g.admitRtp(rtp(40)));
  EXPECT_FALSE(g.admitRtcp(senderReport(40)));
  EXPECT_EQ(g.setLive({20, 40}), (std::vector<std::uint32_t>{40}));  // only the new one
  EXPECT_TRUE(g.admitRtcp(senderReport(40)));
  EXPECT_FALSE(g.admitRtp(rtp(10)));  // removed by that negotiation
}

TEST(SendGate, OtherRtcpAlwaysPasses) {
  SendGate g;
  std::array<std::uint8_t, 64> buf{};
  const auto pli = media::buildRtcpPli(buf, 1, 999);
  ASSERT_TRUE(pli);
  EXPECT_TRUE(g.admitRtcp(std::span<const std::uint8_t>(buf.data(), *pli)));
  const std::array<std::uint32_t, 1> gone{777};
  const auto bye = media::buildRtcpBye(buf, gone);
  ASSERT_TRUE(bye);
  EXPECT_TRUE(g.admitRtcp(std::span<const std::uint8_t>(buf.data(), *bye)));
}

TEST(SendGate, SenderReportLaterInACompoundIsSeen) {
  SendGate g;
  g.setLive({5});
  std::vector<std::uint8_t> compound(64);
  const auto rr = media::buildRtcpReceiverReport(compound, 1, {});
  ASSERT_TRUE(rr);
  const auto sr = media::buildRtcpSenderReport(std::span<std::uint8_t>(compound).subspan(*rr), 6, 1, 2, 3, 4);
  ASSERT_TRUE(sr);
  compound.resize(*rr + *sr);
  EXPECT_FALSE(g.admitRtcp(compound));
  g.setLive({5, 6});
  EXPECT_TRUE(g.admitRtcp(compound));
}

TEST(SendGate, ShortOrTruncatedPacketsDoNotReadPastTheEnd) {
  SendGate g;
  EXPECT_TRUE(g.admitRtp(std::vector<std::uint8_t>(5)));
  auto sr = senderReport(9);
  sr[2] = 0xff;  // claims a huge length
  EXPECT_FALSE(g.admitRtcp(sr));
  EXPECT_TRUE(g.admitRtcp(std::vector<std::uint8_t>(7, 0)));
}

}  // namespace
}  // namespace chorus::focus
