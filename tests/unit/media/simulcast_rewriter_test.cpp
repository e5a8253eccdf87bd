#include "media/rtp/simulcast_rewriter.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "packet_builder.hpp"

namespace chorus::media {
namespace {

constexpr std::uint32_t kLow = 0x1111;
constexpr std::uint32_t kHigh = 0x2222;

TEST(SimulcastRewriter, DropsUntilALayerIsSelectedAndStartsOnKeyframe) {
  SimulcastRewriter rw({90000, 0xABC, 1000, 5000});
  RewriteDrop why{};
  EXPECT_FALSE(rw.rewrite(kLow, 1, 100, true, 0, &why));
  EXPECT_EQ(why, RewriteDrop::NoLayerSelected);
  rw.selectLayer(kLow);
  EXPECT_TRUE(rw.switchPending());
  EXPECT_FALSE(rw.rewrite(kLow, 1, 100, false, 0, &why));
  EXPECT_EQ(why, RewriteDrop::WaitingForKeyframe);
  EXPECT_FALSE(rw.rewrite(kHigh, 1, 100, true, 0, &why));
  EXPECT_EQ(why, RewriteDrop::NotSelected);
  auto out = rw.rewrite(kLow, 2, 100, true, 0, &why);
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->switched);
  EXPECT_EQ(out->seq, 1000);
  EXPECT_EQ(out->timestamp, 5000u);
  EXPECT_EQ(rw.currentLayer(), kLow);
  EXPECT_FALSE(rw.switchPending());
  out = rw.rewrite(kLow, 3, 100, false, 1);
  ASSERT_TRUE(out);
  EXPECT_FALSE(out->switched);
  EXPECT_EQ(out->seq, 1001);
  EXPECT_EQ(out->timestamp, 5000u);
  out = rw.rewrite(kLow, 4, 3100, false, 33);
  EXPECT_EQ(out->seq, 1002);
  EXPECT_EQ(out->timestamp, 8000u);
  // Packet older than the keyframe we started on.
  EXPECT_FALSE(rw.rewrite(kLow, 1, 100, false, 34, &why));
  EXPECT_EQ(why, RewriteDrop::BeforeSwitch);
}

TEST(SimulcastRewriter, ContinuousAcrossInputAndOutputWraparound) {
  SimulcastRewriter rw({90000, 0, 65530, 0xFFFFF000u});
  rw.selectLayer(kLow);
  std::uint16_t in_seq = 65500;
  std::uint32_t in_ts = 0xFFFFFFFFu - 3000 * 5;
  std::uint16_t expect_seq = 65530;
  std::uint32_t expect_ts = 0xFFFFF000u;
  for (int i = 0; i < 100; ++i) {
    auto out = rw.rewrite(kLow, in_seq, in_ts, i == 0, i * 33);
    ASSERT_TRUE(out) << i;
    EXPECT_EQ(out->seq, expect_seq) << i;
    EXPECT_EQ(out->timestamp, expect_ts) << i;
    ++in_seq;
    ++expect_seq;
    if (i % 3 == 2) {  // 3 packets per frame
      in_ts += 3000;
      expect_ts += 3000;
    }
  }
  EXPECT_EQ(rw.highestSeq(), 65530 + 99);
}

TEST(SimulcastRewriter, SwitchWaitsForKeyframeAndKeepsSeqContinuous) {
  SimulcastRewriter rw({90000, 0xABC, 65534, 0});
  rw.selectLayer(kLow);
  ASSERT_TRUE(rw.rewrite(kLow, 10, 1000, true, 0));
  ASSERT_TRUE(rw.rewrite(kLow, 11, 1000, false, 0));
  ASSERT_TRUE(rw.rewrite(kLow, 12, 4000, false, 33));  // out seq 0 (wrapped), ts 3000

  rw.selectLayer(kHigh);
  RewriteDrop why{};
  // High layer delta frames are dropped while low keeps flowing.
  EXPECT_FALSE(rw.rewrite(kHigh, 60000, 777777, false, 40, &why));
  EXPECT_EQ(why, RewriteDrop::WaitingForKeyframe);
  auto low = rw.rewrite(kLow, 13, 7000, false, 66);
  ASSERT_TRUE(low);
  EXPECT_EQ(low->seq, 1);
  EXPECT_EQ(low->timestamp, 6000u);

  // Keyframe on high, 34 ms after the last low frame: seq continues at 2, ts advances by 34 ms * 90.
  auto key = rw.rewrite(kHigh, 60001, 888888, true, 100);
  ASSERT_TRUE(key);
  EXPECT_TRUE(key->switched);
  EXPECT_EQ(key->seq, 2);
  EXPECT_EQ(key->timestamp, 6000u + 34 * 90);
  EXPECT_EQ(rw.currentLayer(), kHigh);

  // Late low packets and high packets from before the keyframe are dropped.
  EXPECT_FALSE(rw.rewrite(kLow, 14, 10000, false, 101, &why));
  EXPECT_EQ(why, RewriteDrop::NotSelected);
  EXPECT_FALSE(rw.rewrite(kHigh, 60000, 885888, false, 101, &why));
  EXPECT_EQ(why, RewriteDrop::BeforeSwitch);

  auto next = rw.rewrite(kHigh, 60002, 888888, false, 102);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->seq, 3);
  EXPECT_EQ(next->timestamp, key->timestamp);
  // Reordering inside a layer keeps relative order.
  auto later = rw.rewrite(kHigh, 60004, 891888, false, 130);
  auto earlier = rw.rewrite(kHigh, 60003, 888888, false, 131);
  ASSERT_TRUE(later && earlier);
  EXPECT_EQ(later->seq, 5);
  EXPECT_EQ(earlier->seq, 4);
  EXPECT_EQ(later->timestamp, key->timestamp + 3000);
}

TEST(SimulcastRewriter, SwitchBackAndForthNeverRepeatsOrGoesBackwards) {
  // Three layers with independent random-ish seq/ts bases near their wrap points; switch every few frames.
  SimulcastRewriter rw({90000, 0, 65000, 0xFFFF0000u});
  const std::uint32_t ssrcs[3] = {0xA, 0xB, 0xC};
  std::uint16_t seq[3] = {65530, 100, 40000};
  std::uint32_t ts[3] = {0xFFFFFF00u, 12345, 0x7FFFFFF0u};
  std::uint32_t rng = 12345;
  auto rand = [&] {
    rng = rng * 1103515245u + 12345u;
    return (rng >> 16) & 0x7FFF;
  };
  CounterUnwrapper<std::uint16_t> out_seq;
  std::set<std::int64_t> seen;
  std::int64_t highest = -1;
  int switches = 0;
  rw.selectLayer(ssrcs[0]);
  TimeMs now = 0;
  for (int frame = 0; frame < 3000; ++frame) {
    now += 33;
    if (frame % 7 == 0) rw.selectLayer(ssrcs[rand() % 3]);
    const bool key = frame % 5 == 0;
    for (int layer = 0; layer < 3; ++layer) {
      const int packets = 1 + static_cast<int>(rand() % 4);
      for (int k = 0; k < packets; ++k) {
        auto out = rw.rewrite(ssrcs[layer], seq[layer]++, ts[layer], key && k == 0, now);
        if (!out) continue;
        const std::int64_t ext = out_seq.unwrap(out->seq);
        EXPECT_TRUE(seen.insert(ext).second) << "duplicate seq at frame " << frame;
        if (out->switched) {
          ++switches;
          if (highest >= 0) {
            EXPECT_EQ(ext, highest + 1) << frame;
          }
        }
        if (ext > highest) highest = ext;
      }
      ts[layer] += 3000;
    }
  }
  EXPECT_GT(switches, 50);
  // Every forwarded seq is unique and there are no holes: the output is one gap-free stream.
  EXPECT_EQ(static_cast<std::int64_t>(seen.size()), highest - *seen.begin() + 1);
}

TEST(SimulcastRewriter, RewritesPacketInPlace) {
  SimulcastRewriter rw({90000, 0xFEEDF00D, 7, 9});
  rw.selectLayer(kHigh);
  test::RtpSpec s;
  s.ssrc = kHigh;
  s.seq = 500;
  s.timestamp = 123456;
  s.payload = {0x10, 0x00};
  auto bytes = test::buildRtp(s);
  auto m = MutableRtpPacketView::parse(bytes);
  ASSERT_TRUE(m);
  ASSERT_TRUE(rw.rewrite(*m, true, 0));
  auto p = RtpPacketView::parse(bytes);
  EXPECT_EQ(p->ssrc(), 0xFEEDF00Du);
  EXPECT_EQ(p->sequenceNumber(), 7);
  EXPECT_EQ(p->timestamp(), 9u);

  s.ssrc = kLow;
  auto other = test::buildRtp(s);
  auto mo = MutableRtpPacketView::parse(other);
  EXPECT_FALSE(rw.rewrite(*mo, true, 0));
  EXPECT_EQ(RtpPacketView::parse(other)->ssrc(), kLow);  // untouched when dropped
}

TEST(CounterUnwrapper, HalfRangeRule) {
  CounterUnwrapper<std::uint16_t> u;
  EXPECT_EQ(u.unwrap(65535), 65535);
  EXPECT_EQ(u.unwrap(0), 65536);
  EXPECT_EQ(u.unwrap(65534), 65534);  // reordered: backwards, reference unchanged
  EXPECT_EQ(u.highest(), 65536);
  EXPECT_EQ(u.unwrap(32767), 65536 + 32767);
  EXPECT_EQ(u.peek(0), 65536);
  CounterUnwrapper<std::uint32_t> t;
  EXPECT_EQ(t.unwrap(0xFFFFFFF0u), 0xFFFFFFF0ll);
  EXPECT_EQ(t.unwrap(0x10), 0x100000010ll);
}

// Padding of our own (bandwidth probes) takes the next numbers; the layer continues after them, a packet
// older than the newest forwarded is dropped, and a paused stream resumes after the padding too.
TEST(SimulcastRewriter, PaddingTakesTheNextNumbersAndTheStreamContinuesAfterIt) {
  SimulcastRewriter rw({90000, 0xABC, 1000, 5000});
  EXPECT_FALSE(rw.padding()) << "nothing before the stream started";
  rw.selectLayer(kLow);
  ASSERT_TRUE(rw.rewrite(kLow, 10, 900, true, 0));
  ASSERT_TRUE(rw.rewrite(kLow, 12, 900, false, 0));  // 11 is late
  auto pad = rw.padding();
  ASSERT_TRUE(pad);
  EXPECT_EQ(pad->seq, 1003);
  EXPECT_EQ(pad->timestamp, 5000u) << "the last frame's timestamp";
  pad = rw.padding();
  EXPECT_EQ(pad->seq, 1004);
  RewriteDrop why{};
  EXPECT_FALSE(rw.rewrite(kLow, 11, 900, false, 1, &why)) << "would take a padding number";
  EXPECT_EQ(why, RewriteDrop::BeforeSwitch);
  auto next = rw.rewrite(kLow, 13, 3900, false, 33);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->seq, 1005);
  EXPECT_EQ(next->timestamp, 8000u);
  // Paused (resync), padding meanwhile, then the next keyframe continues after it.
  rw.resync();
  EXPECT_EQ(rw.padding()->seq, 1006);
  auto resumed = rw.rewrite(kLow, 20, 30000, true, 500);
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->seq, 1007);
}

// A publisher's padding-only packets (its bandwidth probes) are taken out of the numbering: the subscriber
// sees consecutive numbers around them. Only one that directly follows the newest packet can be taken out.
TEST(SimulcastRewriter, SkippedPaddingLeavesNoGap) {
  SimulcastRewriter rw({90000, 0xABC, 1000, 5000});
  EXPECT_FALSE(rw.skipPadding(kLow, 9)) << "nothing before the stream started";
  rw.selectLayer(kLow);
  ASSERT_TRUE(rw.rewrite(kLow, 10, 900, true, 0));
  EXPECT_TRUE(rw.skipPadding(kLow, 11));
  EXPECT_TRUE(rw.skipPadding(kLow, 12));
  auto next = rw.rewrite(kLow, 13, 3900, false, 33);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->seq, 1001) << "no gap where 11 and 12 were";
  EXPECT_FALSE(rw.skipPadding(kHigh, 14)) << "not the current layer";
  EXPECT_FALSE(rw.skipPadding(kLow, 15)) << "14 is missing: 15 cannot be taken out";
  ASSERT_TRUE(rw.rewrite(kLow, 15, 3900, false, 34));
  EXPECT_EQ(rw.rewrite(kLow, 14, 3900, false, 35)->seq, 1002) << "the late packet keeps its place";
  // Across a 16-bit wrap, and mixed with our own probes.
  rw.selectLayer(kHigh);
  ASSERT_EQ(rw.rewrite(kHigh, 65535, 100, true, 40)->seq, 1004);
  EXPECT_TRUE(rw.skipPadding(kHigh, 0));
  EXPECT_EQ(rw.padding()->seq, 1005);
  EXPECT_TRUE(rw.skipPadding(kHigh, 1));
  EXPECT_EQ(rw.rewrite(kHigh, 2, 100, false, 41)->seq, 1006);
  RewriteDrop why{};
  EXPECT_FALSE(rw.rewrite(kHigh, 65534, 100, false, 42, &why)) << "older than the switch";
}

}  // namespace
}  // namespace chorus::media
