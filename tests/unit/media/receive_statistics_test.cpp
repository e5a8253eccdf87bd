#include "media/rtp/receive_statistics.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace chorus::media {
namespace {

constexpr std::uint32_t kSsrc = 0x1234;
constexpr std::uint32_t kVideoClock = 90000;

// Packets every 20 ms (1800 ticks at 90 kHz), arriving with a constant transit time unless delayed.
struct Stream {
  ReceiveStatistics rx;
  void packet(std::uint16_t seq, std::uint32_t index, TimeMs delay_ms = 0) {
    const TimeMs sent = 1000 + TimeMs{index} * 20;
    rx.onPacket(seq, 5000 + index * 1800, sent + delay_ms, kVideoClock);
  }
};

TEST(ReceiveStatistics, NothingReceived) {
  ReceiveStatistics rx;
  EXPECT_FALSE(rx.started());
  EXPECT_EQ(rx.received(), 0u);
  EXPECT_EQ(rx.jitter(), 0u);
}

TEST(ReceiveStatistics, InOrderWithoutLoss) {
  Stream s;
  for (std::uint16_t i = 0; i < 10; ++i) s.packet(static_cast<std::uint16_t>(100 + i), i);
  EXPECT_TRUE(s.rx.started());
  EXPECT_EQ(s.rx.received(), 10u);
  EXPECT_EQ(s.rx.highestSeq(), 109);
  const RtcpReportBlock b = s.rx.report(kSsrc);
  EXPECT_EQ(b.ssrc, kSsrc);
  EXPECT_EQ(b.fraction_lost, 0);
  EXPECT_EQ(b.cumulative_lost, 0);
  EXPECT_EQ(b.extended_highest_seq, 109u);
  EXPECT_EQ(b.jitter, 0u);  // constant transit
  EXPECT_EQ(b.last_sr, 0u);
  EXPECT_EQ(b.delay_since_last_sr, 0u);
}

TEST(ReceiveStatistics, LossFractionPerIntervalAndCumulativeLoss) {
  Stream s;
  // 0..9 without 3 and 4: 2 of 10 lost.
  for (std::uint16_t i = 0; i < 10; ++i) {
    if (i != 3 && i != 4) s.packet(i, i);
  }
  RtcpReportBlock b = s.rx.report(kSsrc);
  EXPECT_EQ(b.cumulative_lost, 2);
  EXPECT_EQ(b.fraction_lost, 2 * 256 / 10);  // 51
  EXPECT_EQ(b.extended_highest_seq, 9u);

  // Next interval: 10..19 all received. The fraction is per interval, the cumulative count stays.
  for (std::uint16_t i = 10; i < 20; ++i) s.packet(i, i);
  b = s.rx.report(kSsrc);
  EXPECT_EQ(b.fraction_lost, 0);
  EXPECT_EQ(b.cumulative_lost, 2);

  // 20..23 expected, only 23 received: 3 of 4 lost in this interval.
  s.packet(23, 23);
  b = s.rx.report(kSsrc);
  EXPECT_EQ(b.fraction_lost, 3 * 256 / 4);  // 192
  EXPECT_EQ(b.cumulative_lost, 5);
  EXPECT_EQ(b.extended_highest_seq, 23u);
}

TEST(ReceiveStatistics, LatePacketCountsAsReceived) {
  Stream s;
  s.packet(0, 0);
  s.packet(2, 2);
  s.packet(1, 1, 40);  // reordered: arrives after 2
  const RtcpReportBlock b = s.rx.report(kSsrc);
  EXPECT_EQ(b.cumulative_lost, 0);
  EXPECT_EQ(b.fraction_lost, 0);
  EXPECT_EQ(b.extended_highest_seq, 2u);  // the late packet does not lower it
}

TEST(ReceiveStatistics, DuplicatesMakeCumulativeLossNegativeAndFractionZero) {
  Stream s;
  s.packet(0, 0);
  s.packet(1, 1);
  s.packet(1, 1);
  const RtcpReportBlock b = s.rx.report(kSsrc);
  EXPECT_EQ(b.cumulative_lost, -1);
  EXPECT_EQ(b.fraction_lost, 0);
}

TEST(ReceiveStatistics, EarlierFirstPacketMovesTheBase) {
  Stream s;
  s.packet(10, 10);
  s.packet(11, 11);
  s.packet(8, 8);  // older than the first one seen: the stream started at 8 at the latest
  const RtcpReportBlock b = s.rx.report(kSsrc);
  EXPECT_EQ(b.cumulative_lost, 1);  // 8..11 expected, 9 missing
  EXPECT_EQ(b.extended_highest_seq, 11u);
}

TEST(ReceiveStatistics, ExtendedHighestSequenceNumberAcrossTheWrap) {
  Stream s;
  std::uint16_t seq = 65530;
  for (std::uint32_t i = 0; i < 12; ++i) s.packet(seq++, i);  // 65530..65535, 0..5
  EXPECT_EQ(seq, 6);
  EXPECT_EQ(s.rx.highestSeq(), 65536 + 5);
  EXPECT_EQ(s.rx.extend(7), 65536 + 7);
  EXPECT_EQ(s.rx.extend(65534), 65534);
  const RtcpReportBlock b = s.rx.report(kSsrc);
  EXPECT_EQ(b.extended_highest_seq, 0x10005u);  // one cycle, highest 5
  EXPECT_EQ(b.cumulative_lost, 0);
  EXPECT_EQ(b.fraction_lost, 0);
}

TEST(ReceiveStatistics, LossAcrossTheWrap) {
  Stream s;
  s.packet(65534, 0);
  s.packet(1, 3);  // 65535 and 0 lost
  const RtcpReportBlock b = s.rx.report(kSsrc);
  EXPECT_EQ(b.extended_highest_seq, 0x10001u);
  EXPECT_EQ(b.cumulative_lost, 2);
  EXPECT_EQ(b.fraction_lost, 2 * 256 / 4);
}

TEST(ReceiveStatistics, InterarrivalJitter) {
  Stream s;
  s.packet(0, 0);
  s.packet(1, 1);
  EXPECT_EQ(s.rx.jitter(), 0u);
  // 10 ms late: D = 900 ticks; J += (|D| - J) / 16 with J = 0: 900 / 16 = 56.25.
  s.packet(2, 2, 10);
  EXPECT_EQ(s.rx.jitter(), 56u);
  // Back on time: |D| = 900 again; J = 56.25 + (900 - 56.25) / 16 ≈ 109 (in 1/16 steps: (900 + 900 - 56) /
  // 16).
  s.packet(3, 3);
  EXPECT_EQ(s.rx.jitter(), (900 + 900 - 56) / 16u);
  EXPECT_EQ(s.rx.report(kSsrc).jitter, s.rx.jitter());
  // Steady again: it decays (by 1/16 per packet) and never grows.
  std::uint32_t previous = s.rx.jitter();
  for (std::uint16_t i = 4; i < 64; ++i) {
    s.packet(i, i);
    EXPECT_LE(s.rx.jitter(), previous);
    previous = s.rx.jitter();
  }
  EXPECT_LT(s.rx.jitter(), 10u);
}

TEST(ReceiveStatistics, JitterUsesTheClockRate) {
  ReceiveStatistics rx;
  constexpr std::uint32_t kAudioClock = 48000;
  rx.onPacket(0, 0, 1000, kAudioClock);
  rx.onPacket(1, 960, 1020, kAudioClock);   // on time
  rx.onPacket(2, 1920, 1050, kAudioClock);  // 10 ms late: 480 ticks
  EXPECT_EQ(rx.jitter(), 480u / 16);
}

}  // namespace
}  // namespace chorus::media
