// focus::DownlinkController on its own: transport-wide numbering, the gate before the first feedback and the
// allocation interval, the share-out of the estimate, the pause grace, the retransmission budget and probes.
// The Router's use of it (with a simulated link) is in router_downlink_test.cpp.
#include "focus/downlink.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "media/rtcp/rtcp_packet.hpp"
#include "media/rtcp/transport_cc_feedback.hpp"
#include "media/rtp/transport_wide_seq.hpp"

namespace chorus::focus {
namespace {

constexpr std::uint8_t kExt = 5;

DownlinkConfig config() {
  DownlinkConfig c;
  c.start_bps = 1'000'000;
  c.min_bps = 50'000;
  c.max_bps = 10'000'000;
  c.alloc_interval_ms = 200;
  c.tick_interval_ms = 50;
  return c;
}

// A 12-byte RTP header + `payload` bytes, with room for the extension after it.
std::vector<std::uint8_t> rtpPacket(std::size_t payload, std::uint16_t seq = 1) {
  std::vector<std::uint8_t> p(12 + payload + kTransportSeqRoom, 0);
  p[0] = 0x80;
  p[1] = 96;
  p[2] = static_cast<std::uint8_t>(seq >> 8);
  p[3] = static_cast<std::uint8_t>(seq);
  p[11] = 7;  // SSRC
  return p;
}

// Sends `count` packets of `payload` bytes at `now`; returns their transport-wide numbers.
std::vector<std::uint16_t> sendPackets(DownlinkController& d, std::size_t count, std::size_t payload,
                                       TimeMs now) {
  std::vector<std::uint16_t> seqs;
  for (std::size_t i = 0; i < count; ++i) {
    auto p = rtpPacket(payload, static_cast<std::uint16_t>(i));
    const std::size_t n = d.onSend(p, 12 + payload, now);
    const auto v = media::RtpPacketView::parse(media::ByteSpan(p.data(), n));
    EXPECT_TRUE(v);
    if (!v) continue;
    const auto seq = media::readTransportWideSeq(*v, kExt);
    EXPECT_TRUE(seq);
    if (seq) seqs.push_back(*seq);
  }
  return seqs;
}

// Feedback saying every one of `seqs` (consecutive) arrived, 1 ms apart.
void ackAll(DownlinkController& d, const std::vector<std::uint16_t>& seqs, std::uint8_t count, TimeMs now) {
  ASSERT_FALSE(seqs.empty());
  std::vector<media::TransportCcPacketStatus> st;
  for (std::uint16_t s : seqs) st.push_back({s, true, 4});
  media::TransportCcFeedbackHeader h;
  h.sender_ssrc = 9;
  h.base_seq = seqs.front();
  h.reference_time = static_cast<std::int32_t>(now * 1000 / media::kTccReferenceTickUs);
  h.feedback_count = count;
  std::array<std::uint8_t, 1200> buf{};
  const auto n = media::buildTransportCcFeedback(buf, h, st);
  ASSERT_TRUE(n);
  media::RtcpCompoundReader r(media::ByteSpan(buf.data(), *n));
  const auto pk = r.next();
  ASSERT_TRUE(pk);
  const auto fb = media::TransportCcFeedback::parse(*pk);
  ASSERT_TRUE(fb);
  d.onFeedback(*fb, now);
}

media::cc::SimulcastLayer layer(std::int64_t bps) {
  media::cc::SimulcastLayer l;
  l.bitrate_bps = bps;
  return l;
}

TEST(DownlinkController, StampsConsecutiveTransportWideNumbers) {
  DownlinkController d(config(), kExt);
  EXPECT_EQ(d.extensionId(), kExt);
  auto p = rtpPacket(100);
  const std::size_t n = d.onSend(p, 112, 0);
  EXPECT_GT(n, 112u);
  EXPECT_LE(n, 112u + kTransportSeqRoom);
  const auto v = media::RtpPacketView::parse(media::ByteSpan(p.data(), n));
  ASSERT_TRUE(v);
  EXPECT_EQ(media::readTransportWideSeq(*v, kExt), 0);
  EXPECT_EQ(v->payload().size(), 100u);
  EXPECT_EQ(sendPackets(d, 3, 50, 10), (std::vector<std::uint16_t>{1, 2, 3}));
  // Another id from now on (a renegotiation), the numbering goes on.
  d.setExtensionId(7);
  auto q = rtpPacket(10);
  const std::size_t m = d.onSend(q, 22, 20);
  const auto w = media::RtpPacketView::parse(media::ByteSpan(q.data(), m));
  ASSERT_TRUE(w);
  EXPECT_EQ(media::readTransportWideSeq(*w, 7), 4);
}

TEST(DownlinkController, NoRoomMeansNoNumberAndNoCount) {
  DownlinkController d(config(), kExt);
  auto p = rtpPacket(20);
  const std::size_t n = d.onSend(media::MutableByteSpan(p.data(), 32), 32, 0);  // exactly the packet
  EXPECT_EQ(n, 32u);
  EXPECT_EQ(sendPackets(d, 1, 20, 0), (std::vector<std::uint16_t>{0}));  // 0 was not used
}

TEST(DownlinkController, NoAllocationBeforeTheFirstFeedbackThenEveryInterval) {
  DownlinkController d(config(), kExt);
  EXPECT_FALSE(d.hasFeedback());
  EXPECT_FALSE(d.onTick(0));
  EXPECT_FALSE(d.onTick(1000));
  const auto seqs = sendPackets(d, 20, 1000, 1000);
  ackAll(d, seqs, 0, 1050);
  EXPECT_TRUE(d.hasFeedback());
  EXPECT_EQ(d.stats().feedbacks, 1u);
  EXPECT_TRUE(d.onTick(1050));
  EXPECT_FALSE(d.onTick(1100));
  EXPECT_FALSE(d.onTick(1249));
  EXPECT_TRUE(d.onTick(1250));
}

TEST(DownlinkController, SharesTheEstimateLessAudio) {
  DownlinkController d(config(), kExt);
  ackAll(d, sendPackets(d, 20, 1000, 0), 0, 50);
  ASSERT_TRUE(d.onTick(50));
  const std::int64_t target = d.stats().target_bps;
  ASSERT_GT(target, 500'000);
  d.addAudio(0);       // not measured yet: 40 kbit/s set aside
  d.addAudio(60'000);  // measured
  auto& v = d.addVideo(42);
  v.layers = {layer(150'000), layer(300'000)};
  const auto choices = d.allocate();
  ASSERT_EQ(choices.size(), 1u);
  EXPECT_EQ(choices[0].id, 42u);
  ASSERT_TRUE(choices[0].layer);
  EXPECT_FALSE(choices[0].paused);
  const std::int64_t video = v.layers[*choices[0].layer].bitrate_bps;
  EXPECT_EQ(d.stats().allocated_bps, video + 40'000 + 60'000);
  EXPECT_EQ(d.stats().paused, 0u);
  EXPECT_FALSE(d.endAllocation(50));  // nothing waits for bandwidth
  EXPECT_FALSE(d.probeBurst());
}

TEST(DownlinkController, AudioLeavesNoRoomForVideo) {
  DownlinkController d(config(), kExt);
  ackAll(d, sendPackets(d, 20, 1000, 0), 0, 50);
  ASSERT_TRUE(d.onTick(50));
  d.addAudio(d.stats().target_bps);  // all of it
  d.addVideo(1).layers = {layer(200'000)};
  const auto choices = d.allocate();
  ASSERT_EQ(choices.size(), 1u);
  EXPECT_TRUE(choices[0].paused);
  EXPECT_FALSE(choices[0].layer);
  EXPECT_EQ(d.stats().paused, 1u);
}

TEST(DownlinkController, ProbesWhenAStepUpDoesNotFit) {
  DownlinkController d(config(), kExt);
  ackAll(d, sendPackets(d, 20, 1000, 0), 0, 50);
  TimeMs now = 50;
  std::optional<DownlinkController::ProbeBurst> burst;
  // Its next layer is far above the estimate: a probe starts (the allocator may hold a new subscription on
  // its lowest layer for its first round, hence a few rounds).
  for (int round = 0; round < 3 && !burst; ++round, now += 200) {
    ASSERT_TRUE(d.onTick(now));
    d.addVideo(1).layers = {layer(300'000), layer(5'000'000)};
    (void)d.allocate();
    if (d.endAllocation(now)) burst = d.probeBurst();
  }
  ASSERT_TRUE(burst);
  EXPECT_GE(burst->cluster, 0);
  EXPECT_GE(burst->packets, 1u);
  EXPECT_GT(burst->spacing_us, 0);
  // The cluster goes out over at least two ticks.
  std::size_t sent = 0;
  while (const auto b = d.probeBurst()) {
    EXPECT_EQ(b->cluster, burst->cluster);
    for (std::size_t i = 0; i < b->packets; ++i) d.onProbeSent();
    sent += b->packets;
    ASSERT_LT(sent, 10'000u);
  }
  EXPECT_GE(sent, 2 * burst->packets);
  // Later rounds start another cluster (the step up still does not fit); cancelling it stops it.
  for (int round = 0; round < 100 && !d.probeBurst(); ++round, now += 200) {
    ASSERT_TRUE(d.onTick(now));
    d.addVideo(1).layers = {layer(300'000), layer(5'000'000)};
    (void)d.allocate();
    (void)d.endAllocation(now);
  }
  ASSERT_TRUE(d.probeBurst());
  EXPECT_NE(d.probeBurst()->cluster, burst->cluster);
  d.cancelProbe();
  EXPECT_FALSE(d.probeBurst());
}

TEST(DownlinkController, RetransmissionBudgetIsHalfTheEstimatePerWindow) {
  DownlinkController d(config(), kExt);
  const std::int64_t target = d.stats().target_bps;
  ASSERT_GT(target, 0);
  // 500 ms windows: target / 2 × 0.5 s of bits; a 1000-byte packet costs (1000 + 38) × 8 bits on the wire.
  const std::int64_t per_packet = (1000 + static_cast<std::int64_t>(kPacketOverhead)) * 8;
  const std::int64_t fits = target / 2 * 500 / 1000 / per_packet;
  d.beginRetransmissions(0);
  std::int64_t admitted = 0;
  while (admitted < 10'000 && d.admitRetransmission(1000)) ++admitted;
  EXPECT_EQ(admitted, fits);
  EXPECT_FALSE(d.admitRetransmission(1000));
  d.beginRetransmissions(499);  // same window
  EXPECT_FALSE(d.admitRetransmission(1000));
  d.beginRetransmissions(500);  // a new one
  EXPECT_TRUE(d.admitRetransmission(1000));
}

TEST(DownlinkController, RoundTripIsAssumedUntilMeasured) {
  DownlinkController d(config(), kExt);
  EXPECT_EQ(d.rttMs(), 100);
  EXPECT_EQ(d.stats().rtt_ms, 100);
}

TEST(DownlinkPauseGrace, PausesOnlyAfterTheGrace) {
  media::cc::LayerChoice fits;
  fits.layer = 0;
  media::cc::LayerChoice unfit;
  unfit.paused = true;
  DownlinkPauseGrace g;
  EXPECT_FALSE(g.pause(fits, false, 0));
  EXPECT_FALSE(g.unfit_since);
  EXPECT_FALSE(g.pause(unfit, false, 1000));
  EXPECT_EQ(g.unfit_since, 1000);
  EXPECT_FALSE(g.pause(unfit, false, 2499));
  EXPECT_TRUE(g.pause(unfit, false, 2500));  // 1.5 s without even the lowest layer
  EXPECT_TRUE(g.pause(unfit, true, 2700));   // stays paused
  EXPECT_FALSE(g.pause(fits, true, 2900));   // resumes at once when it fits
  EXPECT_FALSE(g.unfit_since);
  // A dip shorter than the grace does not pause; the grace starts again after a fit.
  EXPECT_FALSE(g.pause(unfit, false, 3000));
  EXPECT_FALSE(g.pause(fits, false, 4000));
  EXPECT_FALSE(g.pause(unfit, false, 4100));
  EXPECT_FALSE(g.pause(unfit, false, 5000));
  EXPECT_TRUE(g.pause(unfit, false, 5600));
  // No layer at all (none active) counts as not fitting too.
  DownlinkPauseGrace h;
  const media::cc::LayerChoice none;
  EXPECT_FALSE(h.pause(none, false, 0));
  EXPECT_TRUE(h.pause(none, false, 1500));
}

}  // namespace
}  // namespace chorus::focus
