// The router's transport-cc receive side: publisher packets with a transport-wide sequence number in, RTPFB
// 15 feedback out from tick() at the configured cadence, parsed back with media::TransportCcFeedback.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <vector>

#include "focus/router.hpp"
#include "media/rtcp/rtcp_packet.hpp"
#include "media/rtcp/transport_cc_feedback.hpp"

namespace chorus::focus {
namespace {

constexpr ParticipantId kPub = 1;
constexpr ParticipantId kSub = 2;
constexpr TimeMs kT0 = 5'000'000;
constexpr std::uint32_t kAudioSsrc = 0x1111;
constexpr std::uint32_t kFocusSsrc = 7;

struct Feedback {
  std::uint32_t sender_ssrc{0};
  std::uint32_t media_ssrc{0};
  std::uint16_t base_seq{0};
  std::uint16_t status_count{0};
  std::uint8_t feedback_count{0};
  std::size_t bytes{0};
  // (seq, arrival in µs of the feedback's clock) of the received packets; the lost ones.
  std::vector<std::pair<std::uint16_t, std::int64_t>> received;
  std::vector<std::uint16_t> lost;
};

class Sink : public RouterSink {
 public:
  void sendRtp(ParticipantId, std::span<std::uint8_t>, std::size_t) override { ++rtp; }
  void sendRtcp(ParticipantId to, std::span<std::uint8_t> buffer, std::size_t length) override {
    EXPECT_GE(buffer.size(), length + kSinkTrailerRoom);
    const std::vector<std::uint8_t> bytes(buffer.begin(),
                                          buffer.begin() + static_cast<std::ptrdiff_t>(length));
    std::fill(buffer.begin(), buffer.end(), 0xEE);  // like SRTCP protect in place
    media::RtcpCompoundReader reader(bytes);
    while (auto p = reader.next()) {
      if (p->type != media::kRtcpRtpfb || p->count != 15) {
        ++other_rtcp[to];
        continue;
      }
      const auto fb = media::TransportCcFeedback::parse(*p);
      EXPECT_TRUE(fb.has_value()) << "unparsable feedback";
      if (!fb) continue;
      Feedback f;
      f.sender_ssrc = fb->sender_ssrc;
      f.media_ssrc = fb->media_ssrc;
      f.base_seq = fb->base_seq;
      f.status_count = fb->status_count;
      f.feedback_count = fb->feedback_count;
      f.bytes = length;
      std::int64_t t = fb->referenceTimeUs();
      auto it = fb->packets();
      while (auto s = it.next()) {
        if (s->received) {
          t += std::int64_t{s->delta_ticks} * media::kTccDeltaTickUs;
          f.received.emplace_back(s->seq, t);
        } else {
          f.lost.push_back(s->seq);
        }
      }
      EXPECT_FALSE(reader.error());
      feedback[to].push_back(std::move(f));
    }
  }

  std::map<ParticipantId, std::vector<Feedback>> feedback;
  std::map<ParticipantId, int> other_rtcp;
  int rtp{0};
};

RouterConfig routerConfig() {
  RouterConfig c;
  c.focus_ssrc = kFocusSsrc;
  c.rr_interval_ms = 1'000'000;  // keep receiver reports out of the way
  return c;
}

class RouterTransportCcTest : public ::testing::Test {
 protected:
  explicit RouterTransportCcTest(RouterConfig c = routerConfig()) : router_(sink_, c) {
    PublishedTrackInfo t;
    t.mid = "0";
    t.kind = "audio";
    t.stream_id = "s";
    t.track_id = "a";
    t.ssrcs = {kAudioSsrc};
    router_.setPublishedTracks(kPub, {t});
  }

  void packet(std::uint16_t tseq, TimeMs at, std::uint32_t ssrc = kAudioSsrc, ParticipantId from = kPub,
              bool with_seq = true) {
    std::vector<std::uint8_t> p{0x80,
                                111,
                                static_cast<std::uint8_t>(rtp_seq_ >> 8),
                                static_cast<std::uint8_t>(rtp_seq_),
                                0,
                                0,
                                0,
                                0,
                                static_cast<std::uint8_t>(ssrc >> 24),
                                static_cast<std::uint8_t>(ssrc >> 16),
                                static_cast<std::uint8_t>(ssrc >> 8),
                                static_cast<std::uint8_t>(ssrc),
                                1,
                                2,
                                3};
    ++rtp_seq_;
    InboundRtp info{.mid = "0"};
    if (with_seq) info.transport_seq = tseq;
    router_.onRtp(from, info, p, at);
  }
  std::vector<Feedback>& fb(ParticipantId to = kPub) { return sink_.feedback[to]; }

  Sink sink_;
  Router router_;
  std::uint16_t rtp_seq_{100};
};

TEST_F(RouterTransportCcTest, FeedbackAtTheCadenceWithBaseCountAndArrivalDeltas) {
  // Ten packets 3 ms apart (the first at kT0 + 7 ms, not on a 64 ms reference boundary).
  for (std::uint16_t i = 0; i < 10; ++i) packet(1000 + i, kT0 + 7 + 3 * i);
  router_.tick(kT0 + 7 + 49);  // the interval (50 ms) starts with the first packet
  EXPECT_TRUE(fb().empty());
  router_.tick(kT0 + 7 + 50);
  ASSERT_EQ(fb().size(), 1u);
  const Feedback& f = fb()[0];
  EXPECT_EQ(f.sender_ssrc, kFocusSsrc);
  EXPECT_EQ(f.media_ssrc, kAudioSsrc);
  EXPECT_EQ(f.base_seq, 1000);
  EXPECT_EQ(f.status_count, 10);
  EXPECT_EQ(f.feedback_count, 0);
  EXPECT_TRUE(f.lost.empty());
  ASSERT_EQ(f.received.size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(f.received[i].first, 1000 + i);
    // Arrival times come back exactly (1 ms steps are whole 250 µs ticks), relative to the first.
    EXPECT_EQ(f.received[i].second - f.received[0].second, 3000 * static_cast<std::int64_t>(i));
  }
  EXPECT_EQ(f.received[0].second, (kT0 + 7) * 1000);  // the reference time + first delta is the arrival
  EXPECT_EQ(router_.stats().transport_cc_packets, 10u);
  EXPECT_EQ(router_.stats().transport_cc_feedbacks_sent, 1u);
  // Nothing new: no feedback. New packets: the next one continues where the last ended, count + 1.
  router_.tick(kT0 + 7 + 100);
  EXPECT_EQ(fb().size(), 1u);
  packet(1010, kT0 + 120);
  router_.tick(kT0 + 130);  // only 23 ms since the last feedback
  EXPECT_EQ(fb().size(), 1u);
  router_.tick(kT0 + 157);
  ASSERT_EQ(fb().size(), 2u);
  EXPECT_EQ(fb()[1].base_seq, 1010);
  EXPECT_EQ(fb()[1].status_count, 1);
  EXPECT_EQ(fb()[1].feedback_count, 1);
  EXPECT_TRUE(sink_.feedback[kSub].empty());
}

TEST_F(RouterTransportCcTest, SteadyStreamEveryPacketReportedOnceEvery50Ms) {
  // 100 packets/s for 2 s, ticks every 10 ms (the service ticks every 50 ms; the cadence is the router's).
  std::uint16_t seq = 65'500;  // wraps during the run
  TimeMs last_tick = 0;
  for (TimeMs t = kT0; t < kT0 + 2000; ++t) {
    if ((t - kT0) % 10 == 0) packet(seq++, t);
    if ((t - kT0) % 10 == 5) {
      router_.tick(t);
      last_tick = t;
    }
  }
  router_.tick(last_tick + 50);
  const auto& all = fb();
  ASSERT_GE(all.size(), 39u);
  ASSERT_LE(all.size(), 41u);
  std::uint16_t expect = 65'500;
  std::uint8_t count = 0;
  for (const auto& f : all) {
    EXPECT_EQ(f.base_seq, expect);
    EXPECT_EQ(f.feedback_count, count++);
    EXPECT_TRUE(f.lost.empty());
    EXPECT_LE(f.status_count, 6);  // 50 ms of 100 packets/s, never a backlog
    for (const auto& [s, at] : f.received) EXPECT_EQ(s, expect++);
  }
  EXPECT_EQ(expect, seq);
}

TEST_F(RouterTransportCcTest, ReorderingGapsAndLateArrivals) {
  // 0 1 2 4 3: reordered within the interval, reported as all received in sequence order.
  packet(0, kT0);
  packet(1, kT0 + 1);
  packet(2, kT0 + 2);
  packet(4, kT0 + 3);
  packet(3, kT0 + 4);
  router_.tick(kT0 + 50);
  ASSERT_EQ(fb().size(), 1u);
  EXPECT_EQ(fb()[0].base_seq, 0);
  EXPECT_EQ(fb()[0].status_count, 5);
  EXPECT_TRUE(fb()[0].lost.empty());
  EXPECT_EQ(fb()[0].received[3].first, 3);
  EXPECT_EQ(fb()[0].received[3].second - fb()[0].received[0].second, 4000);
  EXPECT_EQ(fb()[0].received[4].second - fb()[0].received[0].second, 3000);  // 4 arrived before 3
  // 5, 8: 6 and 7 are reported lost; the feedback ends on the last received packet.
  packet(5, kT0 + 60);
  packet(8, kT0 + 70);
  router_.tick(kT0 + 100);
  ASSERT_EQ(fb().size(), 2u);
  EXPECT_EQ(fb()[1].base_seq, 5);
  EXPECT_EQ(fb()[1].status_count, 4);
  EXPECT_EQ(fb()[1].lost, (std::vector<std::uint16_t>{6, 7}));
  // 7 turns up after it was reported lost: reported again, now received (libwebrtc's receiver does the same).
  packet(7, kT0 + 110);
  packet(9, kT0 + 120);
  router_.tick(kT0 + 150);
  ASSERT_EQ(fb().size(), 3u);
  EXPECT_EQ(fb()[2].base_seq, 7);
  ASSERT_EQ(fb()[2].received.size(), 3u);  // 7, 8 (again) and 9
  EXPECT_EQ(fb()[2].received[0].first, 7);
  EXPECT_EQ(fb()[2].received[2].first, 9);
  EXPECT_TRUE(fb()[2].lost.empty());
}

TEST_F(RouterTransportCcTest, BurstIsSplitIntoBoundedFeedbacksCoveringEverySeqOnce) {
  // 600 packets in one interval with irregular spacing (some deltas need 2 bytes): several feedbacks, each
  // within the size bound, together covering every sequence number once, in order.
  RouterConfig c = routerConfig();
  c.transport_cc_max_feedback_bytes = 300;
  c.transport_cc_max_feedbacks_per_tick = 64;
  Sink sink;
  Router router(sink, c);
  PublishedTrackInfo t;
  t.mid = "0";
  t.kind = "audio";
  t.track_id = "a";
  router.setPublishedTracks(kPub, {t});
  TimeMs at = kT0;
  for (std::uint16_t i = 0; i < 600; ++i) {
    at += (i % 50 == 49) ? 70 : (i % 3);  // a 70 ms pause needs a 2-byte delta
    std::vector<std::uint8_t> p{0x80, 111, 0, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x11, 9};
    InboundRtp info{.mid = "0"};
    info.transport_seq = static_cast<std::uint16_t>(40'000 + i);
    router.onRtp(kPub, info, p, at);
  }
  router.tick(at + 50);
  const auto& all = sink.feedback[kPub];
  ASSERT_GT(all.size(), 3u);
  std::uint16_t expect = 40'000;
  for (const auto& f : all) {
    EXPECT_LE(f.bytes, 300u);
    EXPECT_EQ(f.base_seq, expect);
    EXPECT_TRUE(f.lost.empty());
    for (const auto& [s, arrival] : f.received) EXPECT_EQ(s, expect++);
  }
  EXPECT_EQ(expect, 40'600);
}

TEST_F(RouterTransportCcTest, EveryPacketCountsEvenUnforwardedOnesAndOnlyWithTheExtension) {
  // A padding probe on an SSRC the router cannot map still counts for the sender's estimate.
  packet(10, kT0, 0xDEAD);
  packet(11, kT0 + 1);
  packet(0, kT0 + 2, kAudioSsrc, kPub, /*with_seq=*/false);  // transport-cc not negotiated on this packet
  router_.tick(kT0 + 60);
  ASSERT_EQ(fb().size(), 1u);
  EXPECT_EQ(fb()[0].base_seq, 10);
  EXPECT_EQ(fb()[0].status_count, 2);
  EXPECT_EQ(router_.stats().transport_cc_packets, 2u);
  // A peer that never sends the extension gets no feedback (and no generator).
  PublishedTrackInfo t;
  t.mid = "0";
  t.kind = "audio";
  t.track_id = "b";
  router_.setPublishedTracks(kSub, {t});
  for (int i = 0; i < 20; ++i) packet(0, kT0 + 100 + i, 0x2222, kSub, false);
  router_.tick(kT0 + 200);
  EXPECT_TRUE(sink_.feedback[kSub].empty());
}

TEST_F(RouterTransportCcTest, DisabledSendsNothing) {
  RouterConfig c = routerConfig();
  c.transport_cc = false;
  Sink sink;
  Router router(sink, c);
  PublishedTrackInfo t;
  t.mid = "0";
  t.kind = "audio";
  t.track_id = "a";
  router.setPublishedTracks(kPub, {t});
  std::vector<std::uint8_t> p{0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0x11, 0x11, 9};
  InboundRtp info{.mid = "0"};
  info.transport_seq = 5;
  router.onRtp(kPub, info, p, kT0);
  router.tick(kT0 + 100);
  EXPECT_TRUE(sink.feedback[kPub].empty());
  EXPECT_EQ(router.stats().transport_cc_packets, 0u);
}

TEST_F(RouterTransportCcTest, GarbageSequenceNumbersStayBounded) {
  // A hostile publisher sends random transport-wide sequence numbers, 2000 per 50 ms, for 5 s. Memory is the
  // fixed ring (nothing grows per packet); output per tick stays within max_feedbacks_per_tick x max bytes.
  std::mt19937 rng(7);
  std::uint16_t last_garbage = 0;
  TimeMs at = kT0;
  const RouterConfig c = routerConfig();
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 2000; ++i) {
      last_garbage = static_cast<std::uint16_t>(rng());
      packet(last_garbage, at + i / 40);
    }
    at += 50;
    const std::size_t before = fb().size();
    router_.tick(at);
    const std::size_t sent = fb().size() - before;
    EXPECT_LE(sent, c.transport_cc_max_feedbacks_per_tick);
    for (std::size_t k = before; k < fb().size(); ++k)
      EXPECT_LE(fb()[k].bytes, c.transport_cc_max_feedback_bytes);
  }
  EXPECT_EQ(router_.stats().transport_cc_packets, 200'000u);
  EXPECT_GT(router_.stats().transport_cc_too_late, 0u);
  // A sequence continuing from its last value is reported again at the latest once it passes the highest
  // number seen (at most half the 16-bit range ahead), with the backlog skipped, not reported.
  std::uint16_t seq = static_cast<std::uint16_t>(last_garbage + 1);
  for (int round = 0; round < 700; ++round) {
    for (int i = 0; i < 50; ++i) packet(seq++, at + i);
    at += 50;
    router_.tick(at);
    for (std::size_t k = fb().size() > 4 ? fb().size() - 4 : 0; k < fb().size(); ++k) {
      EXPECT_LE(fb()[k].bytes, c.transport_cc_max_feedback_bytes);
    }
  }
  ASSERT_FALSE(fb().empty());
  const Feedback& last = fb().back();
  ASSERT_FALSE(last.received.empty());
  EXPECT_EQ(last.received.back().first, static_cast<std::uint16_t>(seq - 1));
}

}  // namespace
}  // namespace chorus::focus
