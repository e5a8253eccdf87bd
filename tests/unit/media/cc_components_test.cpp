// Unit tests of the parts of the send-side estimator (src/media/cc) on hand-made inputs.
#include <gtest/gtest.h>

#include <vector>

#include "media/cc/acked_bitrate_estimator.hpp"
#include "media/cc/aimd_rate_control.hpp"
#include "media/cc/inter_arrival.hpp"
#include "media/cc/loss_based_controller.hpp"
#include "media/cc/overuse_detector.hpp"
#include "media/cc/probe_bitrate_estimator.hpp"
#include "media/cc/probe_controller.hpp"
#include "media/cc/sent_packet_history.hpp"
#include "media/cc/trendline_estimator.hpp"
#include "media/rtcp/transport_cc_feedback.hpp"

namespace chorus::media::cc {
namespace {

TEST(InterArrival, GroupsBy5msOfSendTime) {
  InterArrival ia;
  std::vector<InterArrivalDelta> out;
  // A packet every ms; arrivals 2 ms apart from 12 ms on (a queue building).
  for (int i = 0; i < 40; ++i) {
    const TimeUs send = i * 1000;
    const TimeUs arrival = 50'000 + i * (i >= 12 ? 2000 : 1000);
    if (auto d = ia.onPacket(send, arrival, 100)) out.push_back(*d);
  }
  ASSERT_GE(out.size(), 4u);
  EXPECT_EQ(out[0].send_delta_us, 6000);  // groups of 6 packets: the 7th is > 5 ms after the first
  EXPECT_EQ(out[0].arrival_delta_us, 6000);
  EXPECT_EQ(out.back().send_delta_us, 6000);
  EXPECT_EQ(out.back().arrival_delta_us, 12000);
  EXPECT_EQ(out[0].size_delta, 0);
}

TEST(InterArrival, IgnoresPacketsSentBeforeTheCurrentGroup) {
  InterArrival ia;
  EXPECT_FALSE(ia.onPacket(10'000, 100'000, 100));
  EXPECT_FALSE(ia.onPacket(5'000, 100'500, 100));  // sent earlier: reordered
  EXPECT_EQ(ia.reordered(), 1u);
}

TEST(TrendlineEstimator, SlopeOfAGrowingQueueIsPositiveAndOfAStableOneZero) {
  TrendlineEstimator growing;
  TrendlineEstimator stable;
  double g = 0;
  double s = 0;
  for (int i = 0; i < 40; ++i) {
    g = growing.update(5.0, 6.0, i * 6000);  // each group arrives 1 ms later than it was sent
    s = stable.update(5.0, 5.0, i * 5000);
  }
  EXPECT_GT(g, 12.5);  // above the detector's initial threshold
  EXPECT_NEAR(s, 0.0, 1e-9);
  EXPECT_GT(growing.trend(), 0.1);
}

TEST(OveruseDetector, NeedsTimeAndTwoSignalsThenAdaptsItsThreshold) {
  OveruseDetector d;
  TimeUs t = 0;
  EXPECT_EQ(d.detect(20, 5, 10, t), BandwidthUsage::Normal);  // first signal: 2.5 ms of overuse, count 1
  t += 5000;
  EXPECT_EQ(d.detect(21, 5, 10, t), BandwidthUsage::Normal);  // 7.5 ms
  t += 5000;
  EXPECT_EQ(d.detect(22, 5, 10, t), BandwidthUsage::Overusing);  // 12.5 ms > 10 ms, count 3
  EXPECT_EQ(d.detect(-30, 5, 10, t + 5000), BandwidthUsage::Underusing);
  EXPECT_EQ(d.detect(0, 5, 10, t + 10000), BandwidthUsage::Normal);
  // A steady trend of 20 for a while lifts the threshold above it (jitter is not congestion).
  OveruseDetector adaptive;
  for (int i = 0; i < 200; ++i) adaptive.detect(i % 2 == 0 ? 20 : -20, 5, 60, i * 20'000);
  EXPECT_GT(adaptive.threshold(), 19.0);
  // Outliers far above the threshold do not move it.
  OveruseDetector spikes;
  spikes.detect(0, 5, 60, 0);
  const double before = spikes.threshold();
  spikes.detect(500, 5, 60, 100'000);
  EXPECT_EQ(spikes.threshold(), before);
}

TEST(AimdRateControl, DecreasesToBetaTimesAckedAndCapsIncreases) {
  AimdRateControl aimd({.start_bps = 1'000'000, .min_bps = 30'000, .max_bps = 10'000'000, .beta = 0.85});
  aimd.update(BandwidthUsage::Normal, 800'000, 0);
  aimd.update(BandwidthUsage::Overusing, 800'000, 100'000);
  EXPECT_EQ(aimd.estimateBps(), 680'000);
  EXPECT_EQ(aimd.state(), AimdRateControl::State::Hold);
  EXPECT_EQ(aimd.decreases(), 1u);
  EXPECT_FALSE(aimd.timeToReduceFurther(105'000, 600'000));  // within one rtt (100 ms)
  EXPECT_TRUE(aimd.timeToReduceFurther(105'000, 300'000));   // throughput collapsed below half
  EXPECT_TRUE(aimd.timeToReduceFurther(200'000, 600'000));
  // Increases never go above 1.5 × acked + 10 kbps: above it the estimate holds...
  TimeUs t = 100'000;
  for (int i = 0; i < 100; ++i) aimd.update(BandwidthUsage::Normal, 400'000, t += 100'000);
  EXPECT_EQ(aimd.estimateBps(), 680'000);
  // ...and from below it grows up to it, not past it.
  AimdRateControl low({.start_bps = 300'000});
  for (int i = 0; i < 100; ++i) low.update(BandwidthUsage::Normal, 400'000, i * 100'000);
  EXPECT_EQ(low.estimateBps(), 610'000);
  // Underusing holds.
  low.update(BandwidthUsage::Underusing, 100'000, 100 * 100'000);
  EXPECT_EQ(low.estimateBps(), 610'000);
}

TEST(AimdRateControl, MultiplicativeFarFromCapacityAdditiveNearIt) {
  AimdRateControl far({.start_bps = 1'000'000});
  far.update(BandwidthUsage::Normal, std::nullopt, 0);
  far.update(BandwidthUsage::Normal, std::nullopt, 1'000'000);
  EXPECT_NEAR(static_cast<double>(far.estimateBps()), 1'080'000.0, 1000.0);  // 8 % in one second

  AimdRateControl near({.start_bps = 1'000'000});
  near.update(BandwidthUsage::Overusing, 1'000'000, 0);  // capacity learnt at 1 Mbps, down to 850 kbps
  ASSERT_TRUE(near.linkCapacityKbps());
  near.update(BandwidthUsage::Normal, 1'000'000, 100'000);
  const auto before = near.estimateBps();
  near.update(BandwidthUsage::Normal, 1'000'000, 1'100'000);
  const auto step = near.estimateBps() - before;
  EXPECT_GT(step, 0);
  EXPECT_LT(step, 60'000);  // about one packet per response time, under the 8 % (68 kbps) far from it
}

TEST(LossBasedController, HoldsBetweenTwoAndTenPercent) {
  LossBasedController loss(1'000'000);
  EXPECT_EQ(loss.onLossReport(0.05, 2'000'000, 100'000, 0), 1'000'000);
  EXPECT_EQ(loss.onLossReport(0.20, 2'000'000, 100'000, 1'000'000), 900'000);
  EXPECT_GT(loss.onLossReport(0.0, 2'000'000, 100'000, 2'000'000), 900'000);
  EXPECT_EQ(loss.onLossReport(0.0, 500'000, 100'000, 3'000'000), 500'000);  // capped by delay-based
}

TEST(AckedBitrateEstimator, LostFeedbackRemovesItsTimeToo) {
  AckedBitrateEstimator acked;
  // 1 Mbps: a 1250-byte packet every 10 ms, one feedback per 100 ms; every third feedback lost.
  std::int64_t seq = 0;
  for (int fb = 0; fb < 30; ++fb) {
    std::vector<PacketResult> batch;
    for (int k = 0; k < 10; ++k, ++seq)
      batch.push_back({seq, 1250, seq * 10'000, true, seq * 10'000 + 30'000});
    if (fb % 3 != 2) acked.onFeedback(batch);
  }
  ASSERT_TRUE(acked.bitrateBps());
  EXPECT_NEAR(static_cast<double>(*acked.bitrateBps()), 1e6, 1e4);
}

TEST(SentPacketHistory, GrowsOnlyWhileRecentPacketsWouldBeOverwrittenUpToTheBound) {
  SentPacketHistory h(SentPacketHistory::Config{.capacity = 1024, .initial_capacity = 64});
  EXPECT_EQ(h.capacity(), 64u);
  // 50 packets/s for 10 s: 2 s hold 100 packets, so the ring doubles once to 128 and stays there.
  std::uint16_t seq = 0;
  TimeUs now = 0;
  for (int i = 0; i < 500; ++i, now += 20'000) h.onPacketSent(seq++, 1000, now);
  EXPECT_EQ(h.capacity(), 128u);
  // The packets still held after growing map feedback to their send times: the newest 100 (2 s) at least.
  std::vector<TransportCcPacketStatus> st(100, TransportCcPacketStatus{0, true, 0});
  std::vector<std::uint8_t> buf(512);
  auto n = buildTransportCcFeedback(buf, {1, 2, static_cast<std::uint16_t>(seq - 100), 1000, 0}, st);
  ASSERT_TRUE(n);
  auto fb = TransportCcFeedback::parse(*RtcpCompoundReader(ByteSpan(buf.data(), *n)).next());
  ASSERT_TRUE(fb);
  std::vector<PacketResult> out;
  h.onFeedback(*fb, out);
  ASSERT_EQ(out.size(), 100u);
  EXPECT_EQ(out.front().send_us, (500 - 100) * 20'000);
  EXPECT_EQ(out.back().send_us, 499 * 20'000);
  EXPECT_EQ(h.counters().unknown, 0u);
  // 2000 packets/s: grows to the bound and no further; older feedback is then unknown, not wrong.
  for (int i = 0; i < 5000; ++i, now += 500) h.onPacketSent(seq++, 1000, now);
  EXPECT_EQ(h.capacity(), 1024u);
  n = buildTransportCcFeedback(
      buf, {1, 2, static_cast<std::uint16_t>(seq - 1200), 2000, 1},
      std::vector<TransportCcPacketStatus>(100, TransportCcPacketStatus{0, true, 0}));
  ASSERT_TRUE(n);
  fb = TransportCcFeedback::parse(*RtcpCompoundReader(ByteSpan(buf.data(), *n)).next());
  ASSERT_TRUE(fb);
  h.onFeedback(*fb, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(h.counters().unknown, 100u);
}

TEST(SentPacketHistory, MapsFeedbackToSendTimesOnceAcrossWrapAndReference) {
  SentPacketHistory h(SentPacketHistory::Config{.capacity = 64});
  for (int i = 0; i < 10; ++i) h.onPacketSent(static_cast<std::uint16_t>(65530 + i), 1000 + i, 1000 * i);
  EXPECT_EQ(h.inFlightBytes(), 10u * 1000 + 45);
  std::vector<TransportCcPacketStatus> st = {{0, true, 4}, {0, false, 0}, {0, true, 8}};
  std::vector<std::uint8_t> buf(64);
  auto n = buildTransportCcFeedback(buf, {1, 2, 65534, (1 << 23) - 1, 0}, st);  // the largest reference time
  ASSERT_TRUE(n);
  auto fb = TransportCcFeedback::parse(*RtcpCompoundReader(ByteSpan(buf.data(), *n)).next());
  ASSERT_TRUE(fb);
  std::vector<PacketResult> out;
  h.onFeedback(*fb, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].send_us, 4000);
  EXPECT_EQ(out[0].size, 1004u);
  EXPECT_FALSE(out[1].received);
  EXPECT_EQ(out[2].send_us, 6000);
  EXPECT_EQ(out[2].arrival_us - out[0].arrival_us, 8 * kTccDeltaTickUs);
  // The next feedback's reference time wrapped from 2^23-1 to -2^23: one 64 ms step, not 2^24 back.
  std::vector<TransportCcPacketStatus> st2 = {{0, true, 0}, {0, true, 1}};
  n = buildTransportCcFeedback(buf, {1, 2, 65535, -(1 << 23), 1}, st2);
  ASSERT_TRUE(n);
  auto fb2 = TransportCcFeedback::parse(*RtcpCompoundReader(ByteSpan(buf.data(), *n)).next());
  ASSERT_TRUE(fb2);
  const TimeUs first_arrival = out[0].arrival_us;
  h.onFeedback(*fb2, out);
  ASSERT_EQ(out.size(), 1u);  // 65535 was reported lost, now received; 0 (65536) was acknowledged already
  EXPECT_EQ(out[0].seq, 65535);
  EXPECT_TRUE(out[0].received);
  EXPECT_GT(out[0].arrival_us, first_arrival);
  EXPECT_LT(out[0].arrival_us - first_arrival, 2 * kTccReferenceTickUs);
  // Reported again: nothing new.
  h.onFeedback(*fb2, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(h.counters().duplicates, 3u);
  // 65530..65533 and 65537..65539 were never reported: still in flight.
  EXPECT_EQ(h.inFlightBytes(), 7u * 1000 + (0 + 1 + 2 + 3) + (7 + 8 + 9));
}

}  // namespace
}  // namespace chorus::media::cc

namespace chorus::media::cc {
namespace {

TEST(ProbeBitrateEstimator, DeliveredRateOfACluster) {
  ProbeBitrateEstimator p;
  std::optional<std::int64_t> result;
  // 10 packets of 1200 B every 13 ms (738 kbps); the link delivers them at the same pace.
  for (int i = 0; i < 10; ++i) {
    auto r = p.onAcked(3, PacketResult{i, 1200, i * 13'000, true, 40'000 + i * 13'000, 3});
    if (r) {
      EXPECT_FALSE(result);  // once per cluster
      result = r;
    }
  }
  ASSERT_TRUE(result);
  EXPECT_NEAR(static_cast<double>(*result), 1200 * 8 / 0.013, 1000.0);
  // Saturated: arrivals twice as slow as sends → 0.95 × the receive rate.
  ProbeBitrateEstimator q;
  result.reset();
  for (int i = 0; i < 5; ++i) {
    if (auto r = q.onAcked(0, PacketResult{i, 1000, i * 4'000, true, i * 8'000, 0})) result = r;
  }
  ASSERT_TRUE(result);
  EXPECT_NEAR(static_cast<double>(*result), 0.95 * 4000 * 8 / 0.032, 1000.0);
  // Not a probe packet, or lost: ignored.
  EXPECT_FALSE(q.onAcked(-1, PacketResult{9, 1000, 0, true, 0, -1}));
  EXPECT_FALSE(q.onAcked(1, PacketResult{9, 1000, 0, false, 0, 1}));
}

TEST(ProbeController, ProbesWhenAStepUpWaitsAndBacksOff) {
  ProbeController pc;
  EXPECT_FALSE(pc.onTick(0, 600'000, 0));        // nothing waits
  EXPECT_FALSE(pc.onTick(0, 600'000, 500'000));  // covered already
  auto p = pc.onTick(0, 600'000, 1'000'000);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->rate_bps, 1'200'000);
  EXPECT_GE(p->packets, 10u);
  EXPECT_FALSE(pc.onTick(500'000, 600'000, 1'000'000));  // within 1 s
  auto p2 = pc.onTick(1'000'000, 300'000, 5'000'000);
  ASSERT_TRUE(p2);
  EXPECT_EQ(p2->rate_bps, 900'000);  // 3 × target at most
  EXPECT_NE(p2->cluster, p->cluster);
  EXPECT_FALSE(pc.onTick(2'500'000, 300'000, 5'000'000));  // the interval doubled to 2 s
  EXPECT_TRUE(pc.onTick(3'000'000, 300'000, 5'000'000));
  pc.onUpSwitch(3'100'000);
  EXPECT_EQ(pc.interval(), 1'000'000);
}

TEST(AckedBitrateEstimator, BurstsInFeedbacksThatFollowOnAreNotMistakenForSpeed) {
  AckedBitrateEstimator acked;
  // 960 kbit/s as one frame of three 1200-byte packets every 30 ms (arriving within 1 ms), one feedback per
  // frame.
  std::int64_t seq = 0;
  for (int fb = 0; fb < 40; ++fb) {
    std::vector<PacketResult> batch;
    for (int k = 0; k < 3; ++k, ++seq)
      batch.push_back({seq, 1200, fb * 30'000, true, fb * 30'000 + 10'000 + k * 500});
    acked.onFeedback(batch);
  }
  ASSERT_TRUE(acked.bitrateBps());
  // Counting only the 1 ms inside each frame would say 19 Mbit/s; the gaps between feedbacks (< 40 ms)
  // count too.
  EXPECT_NEAR(static_cast<double>(*acked.bitrateBps()), 960'000.0, 50'000.0);
}

// A link that turns so thin that each feedback holds one packet after a gap: the fast past ages out of the
// window instead of being reported for seconds (what the downlink allocation's budget floor relies on).
TEST(AckedBitrateEstimator, SparsePacketsAgeOutAFasterPast) {
  AckedBitrateEstimator acked;
  std::int64_t seq = 0;
  for (int fb = 0; fb < 20; ++fb) {  // 1 Mbit/s for 2 s
    std::vector<PacketResult> batch;
    for (int k = 0; k < 10; ++k, ++seq)
      batch.push_back({seq, 1250, seq * 10'000, true, seq * 10'000 + 30'000});
    acked.onFeedback(batch);
  }
  ASSERT_TRUE(acked.bitrateBps());
  EXPECT_NEAR(static_cast<double>(*acked.bitrateBps()), 1e6, 1e4);
  const TimeUs t0 = seq * 10'000;
  for (int k = 0; k < 6; ++k, ++seq) {  // then one packet every 160 ms, each alone in its feedback
    const TimeUs t = t0 + k * 160'000;
    acked.onFeedback(std::vector<PacketResult>{{seq, 1200, t, true, t + 30'000}});
  }
  EXPECT_FALSE(acked.bitrateBps()) << "no longer the 1 Mbit/s of a second ago";
}

}  // namespace
}  // namespace chorus::media::cc
