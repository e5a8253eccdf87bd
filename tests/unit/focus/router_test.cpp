#include "focus/router.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "media/rtcp/rtcp_packet.hpp"
#include "media/rtp/rtp_packet.hpp"
#include "media/rtp/vp8_descriptor.hpp"
#include "router_test_util.hpp"

namespace chorus::focus {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the fixture and builders

// ---- audio ----

TEST_F(RouterTest, AudioFansOutWithSubscriberSsrcPtAndContinuousSeqWithoutExtensions) {
  router_.setPublishedTracks(kA, {audioTrack()});
  router_.setSubscriberPayloadType(kB, "audio", 109);
  router_.setSubscriberPayloadType(kC, "audio", 111);
  std::vector<OutTrack> outs;
  for (ParticipantId s : {kB, kC, kD}) {
    auto out = router_.subscribe(s, kA, "a-audio", 0, 0, kT0);
    ASSERT_TRUE(out.has_value()) << out.error().toString();
    EXPECT_EQ(out->kind, "audio");
    EXPECT_EQ(out->stream_id, "stream-a");
    EXPECT_EQ(out->track_id, "a-audio");
    EXPECT_EQ(out->publisher, kA);
    EXPECT_NE(out->ssrc, 0u);
    outs.push_back(*out);
  }
  EXPECT_NE(outs[0].ssrc, outs[1].ssrc);
  EXPECT_NE(outs[1].ssrc, outs[2].ssrc);
  ASSERT_EQ(router_.outTracks(kB).size(), 1u);
  EXPECT_EQ(router_.outTracks(kB)[0].ssrc, outs[0].ssrc);
  EXPECT_TRUE(sink_.sent.empty());  // no PLI for audio

  for (int i = 0; i < 5; ++i) {
    Pkt p;
    p.ssrc = 0xABCD;
    p.seq = static_cast<std::uint16_t>(65533 + i);  // wraps
    p.ts = 1000 + 960 * static_cast<std::uint32_t>(i);
    p.marker = i == 0;
    p.mid = "0";
    p.csrcs = {77};
    p.payload = {static_cast<std::uint8_t>(i), 9, 9};
    send(kA, p, kT0 + 20 * i);
  }
  const std::uint8_t want_pt[] = {109, 111, 111 /* D: publisher's PT */};
  const ParticipantId subs[] = {kB, kC, kD};
  for (std::size_t k = 0; k < 3; ++k) {
    const ParticipantId sub = subs[k];
    auto got = sink_.rtpTo(sub);
    ASSERT_EQ(got.size(), 5u) << "subscriber " << sub;
    std::optional<std::uint16_t> first_seq;
    std::optional<std::uint32_t> first_ts;
    for (std::size_t i = 0; i < got.size(); ++i) {
      auto v = media::RtpPacketView::parse(got[i].bytes);
      ASSERT_TRUE(v);
      EXPECT_FALSE(v->hasExtension());
      EXPECT_EQ(v->headerSize(), 16u);  // 12 + one CSRC
      EXPECT_EQ(v->csrc(0), 77u);
      EXPECT_EQ(v->ssrc(), outs[k].ssrc);
      EXPECT_EQ(v->payloadType(), want_pt[k]);
      EXPECT_EQ(v->marker(), i == 0);
      if (!first_seq) {
        first_seq = v->sequenceNumber();
        first_ts = v->timestamp();
      }
      EXPECT_EQ(v->sequenceNumber(), static_cast<std::uint16_t>(*first_seq + i));
      EXPECT_EQ(v->timestamp(), *first_ts + 960 * i);
      ASSERT_EQ(v->payload().size(), 3u);
      EXPECT_EQ(v->payload()[0], i);
    }
    EXPECT_EQ(statsOf(sub, outs[k].ssrc).packets_forwarded, 5u);
  }
  EXPECT_EQ(router_.stats().forwarded_packets, 15u);
  EXPECT_EQ(router_.stats().rtp_received, 5u);
  EXPECT_EQ(router_.stats().drops.total(), 0u);
}

TEST_F(RouterTest, MutedTrackIsNotForwardedAndResumesAtAKeyframeWithoutASeqGap) {
  auto video = plainVideoTrack();
  router_.setPublishedTracks(kA, {video});
  auto out = router_.subscribe(kB, kA, "a-video", 640, 360, kT0);
  ASSERT_TRUE(out.has_value());
  std::uint16_t seq = 10;
  sendVideo(kF, "", seq++, true, 1, kT0);
  sendVideo(kF, "", seq++, false, 2, kT0 + 33);
  ASSERT_EQ(sink_.rtpTo(kB).size(), 2u);
  const auto last_seq = media::RtpPacketView::parse(sink_.rtpTo(kB).back().bytes)->sequenceNumber();

  video.muted = true;  // the publisher's metadata says video_muted
  router_.setPublishedTracks(kA, {video});
  for (int i = 0; i < 20; ++i)
    sendVideo(kF, "", seq++, i == 5, static_cast<std::uint16_t>(3 + i), kT0 + 100 + 33 * i);
  EXPECT_EQ(sink_.rtpTo(kB).size(), 2u);
  EXPECT_EQ(router_.stats().rtp_muted, 20u);

  video.muted = false;
  router_.setPublishedTracks(kA, {video});
  ASSERT_EQ(router_.outTracks(kB).size(), 1u);  // the subscription survives the mute
  sink_.clear();
  router_.tick(kT0 + 2000);  // asks the publisher for a keyframe
  EXPECT_FALSE(sink_.plisTo(kA).empty());
  sendVideo(kF, "", seq++, false, 30, kT0 + 2010);  // not a keyframe: held back
  EXPECT_TRUE(sink_.rtpTo(kB).empty());
  sendVideo(kF, "", seq++, true, 31, kT0 + 2043);
  sendVideo(kF, "", seq++, false, 32, kT0 + 2076);
  auto got = sink_.rtpTo(kB);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(media::RtpPacketView::parse(got[0].bytes)->sequenceNumber(),
            static_cast<std::uint16_t>(last_seq + 1));
  EXPECT_EQ(media::RtpPacketView::parse(got[1].bytes)->sequenceNumber(),
            static_cast<std::uint16_t>(last_seq + 2));
}

TEST_F(RouterTest, UpstreamGapsAreNackedRetriedAndRecovered) {
  router_.setPublishedTracks(kA, {plainVideoTrack()});
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-video", 640, 360, kT0));
  sendVideo(kF, "", 100, true, 1, kT0);
  sendVideo(kF, "", 101, false, 2, kT0 + 10);
  sink_.clear();
  // 102 and 103 are lost upstream.
  sendVideo(kF, "", 104, false, 3, kT0 + 20);
  auto nacked = [&]() {
    std::vector<std::uint16_t> seqs;
    for (const auto& s : sink_.rtcpTo(kA)) {
      media::RtcpCompoundReader r(s.bytes);
      while (auto p = r.next()) {
        if (auto n = media::RtcpNack::parse(*p)) {
          EXPECT_EQ(n->media_ssrc, kF);
          std::array<std::uint16_t, 64> lost{};
          const std::size_t k = n->lostSequenceNumbers(lost);
          seqs.insert(seqs.end(), lost.begin(), lost.begin() + static_cast<std::ptrdiff_t>(k));
        }
      }
    }
    return seqs;
  };
  EXPECT_EQ(nacked(), (std::vector<std::uint16_t>{102, 103}));  // at once
  sink_.clear();
  router_.tick(kT0 + 60);  // before the retry interval: nothing
  EXPECT_TRUE(nacked().empty());
  sendVideo(kF, "", 102, false, 4, kT0 + 70);  // the retransmission of 102 arrives and is forwarded
  EXPECT_EQ(router_.stats().upstream_recovered, 1u);
  router_.tick(kT0 + 130);  // 103 is asked for again
  EXPECT_EQ(nacked(), (std::vector<std::uint16_t>{103}));
  sink_.clear();
  router_.tick(kT0 + 240);  // third and last try
  EXPECT_EQ(nacked(), (std::vector<std::uint16_t>{103}));
  sink_.clear();
  router_.tick(kT0 + 400);
  EXPECT_TRUE(nacked().empty());
  EXPECT_EQ(router_.stats().upstream_nacks_sent, 4u);
  EXPECT_EQ(router_.stats().upstream_given_up, 1u);
  // The subscriber got 100, 101, 104 and the late 102 (which keeps its place in the subscriber's numbering).
  EXPECT_EQ(statsOf(kB, router_.outTracks(kB)[0].ssrc).packets_forwarded, 4u);
  // A huge gap is not NACKed packet by packet: a keyframe is requested.
  sink_.clear();
  sendVideo(kF, "", 1000, false, 5, kT0 + 2000);
  EXPECT_TRUE(nacked().empty());
  EXPECT_FALSE(sink_.plisTo(kA).empty());
}

// Issue #12: a packet the publisher never resent (every NACK or retransmission lost) left the subscribers
// NACKing it in vain; Chromium asks for a keyframe only after 3 s without a decodable frame (3.3 s freezes).
// When the focus gives up on a packet of a layer it forwards, it asks the publisher for a keyframe at once.
TEST_F(RouterTest, UpstreamPacketGivenUpOnAsksForAKeyframe) {
  router_.setPublishedTracks(kA, {plainVideoTrack()});
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-video", 640, 360, kT0));
  sendVideo(kF, "", 100, true, 1, kT0);
  sendVideo(kF, "", 101, false, 2, kT0 + 33);
  router_.tick(kT0 + 1000);  // past the throttle of the subscription's own keyframe request
  sink_.clear();
  sendVideo(kF, "", 103, false, 3, kT0 + 1033);  // 102 is lost upstream: NACKed at once
  router_.tick(kT0 + 1150);                      // second try
  router_.tick(kT0 + 1300);                      // third and last try
  EXPECT_EQ(router_.stats().upstream_nacks_sent, 3u);
  EXPECT_TRUE(sink_.plisTo(kA).empty());  // still hoping for the retransmission
  router_.tick(kT0 + 1450);               // given up
  EXPECT_EQ(router_.stats().upstream_given_up, 1u);
  ASSERT_EQ(sink_.plisTo(kA).size(), 1u);
  EXPECT_EQ(router_.stats().upstream_lost_keyframe_requests, 1u);
  sendVideo(kF, "", 104, true, 4, kT0 + 1500);  // the keyframe repairs the stream
  EXPECT_EQ(statsOf(kB, router_.outTracks(kB)[0].ssrc).packets_forwarded, 4u);
}

// With the default tries (10, as libwebrtc's NackRequester) a publisher slower than three retries still
// repairs the packet: no give-up, no keyframe request (issue #12: each give-up cost a keyframe under 5 %
// loss).
class RouterNackDefaults : public RouterTest {
 protected:
  RouterNackDefaults()
      : RouterTest([] {
          RouterConfig c = testConfig();
          c.upstream_nack_tries = RouterConfig{}.upstream_nack_tries;
          return c;
        }()) {}
};

TEST_F(RouterNackDefaults, ASlowRepairIsWaitedForAndAskedForTenTimesAtMost) {
  router_.setPublishedTracks(kA, {plainVideoTrack()});
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-video", 640, 360, kT0));
  sendVideo(kF, "", 100, true, 1, kT0);
  router_.tick(kT0 + 1000);  // past the throttle of the subscription's own keyframe request
  sink_.clear();
  sendVideo(kF, "", 102, false, 3, kT0 + 1033);  // 101 is lost upstream: NACKed at once
  for (TimeMs t = kT0 + 1050; t <= kT0 + 1380; t += 50) router_.tick(t);  // retried every 100 ms
  EXPECT_EQ(router_.stats().upstream_nacks_sent, 4u);
  sendVideo(kF, "", 101, false, 2, kT0 + 1390);  // the repair, later than three tries
  EXPECT_EQ(router_.stats().upstream_recovered, 1u);
  EXPECT_EQ(router_.stats().upstream_given_up, 0u);
  EXPECT_TRUE(sink_.plisTo(kA).empty());
  EXPECT_EQ(statsOf(kB, router_.outTracks(kB)[0].ssrc).packets_forwarded, 3u);

  // A packet never repaired is asked for 10 times (within the 1 s age), then given up with a keyframe
  // request.
  sink_.clear();
  sendVideo(kF, "", 104, false, 5, kT0 + 1400);  // 103 is lost
  for (TimeMs t = kT0 + 1450; t <= kT0 + 2600; t += 50) router_.tick(t);
  EXPECT_EQ(router_.stats().upstream_nacks_sent, 4u + 10u);
  EXPECT_EQ(router_.stats().upstream_given_up, 1u);
  EXPECT_EQ(sink_.plisTo(kA).size(), 1u);
}

// A layer nobody is forwarded: nothing to repair, no keyframe asked for.
TEST_F(RouterTest, UpstreamPacketGivenUpOnOfAnUnforwardedLayerAsksForNothing) {
  router_.setPublishedTracks(kA, {plainVideoTrack()});
  sendVideo(kF, "", 100, true, 1, kT0);
  sendVideo(kF, "", 102, false, 2, kT0 + 33);  // 101 is lost upstream
  for (TimeMs t = kT0 + 100; t <= kT0 + 1500; t += 50) router_.tick(t);
  EXPECT_EQ(router_.stats().upstream_given_up, 1u);
  EXPECT_TRUE(sink_.plisTo(kA).empty());
  EXPECT_EQ(router_.stats().upstream_lost_keyframe_requests, 0u);
}

TEST_F(RouterTest, SenderReportsAreTranslatedForEachSubscriber) {
  router_.setPublishedTracks(kA, {plainVideoTrack()});
  auto out = router_.subscribe(kB, kA, "a-video", 640, 360, kT0);
  ASSERT_TRUE(out);
  sendVideo(kF, "", 100, true, 1, kT0);  // ts = 100 * 3000
  sendVideo(kF, "", 101, false, 2, kT0 + 33);
  const auto forwarded = sink_.rtpTo(kB);
  ASSERT_EQ(forwarded.size(), 2u);
  const std::uint32_t out_ts0 = media::RtpPacketView::parse(forwarded[0].bytes)->timestamp();
  sink_.clear();
  std::vector<std::uint8_t> sr;
  put32(sr, 0x80C80006);
  put32(sr, kF);
  put32(sr, 0x12345678);         // NTP seconds
  put32(sr, 0x9ABCDEF0);         // NTP fraction
  put32(sr, 100 * 3000 + 4500);  // RTP timestamp 1.5 frames after the keyframe
  put32(sr, 500);
  put32(sr, 400000);
  sendRtcp(kA, sr, kT0 + 50);
  auto rtcp = sink_.rtcpTo(kB);
  ASSERT_EQ(rtcp.size(), 1u);
  media::RtcpCompoundReader r(rtcp[0].bytes);
  auto pk = r.next();
  ASSERT_TRUE(pk);
  auto got = media::RtcpSenderReport::parse(*pk);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->ssrc, out->ssrc);
  EXPECT_EQ(got->ntp_timestamp, 0x123456789ABCDEF0ull);
  EXPECT_EQ(got->rtp_timestamp, out_ts0 + 4500);  // in the subscriber's timestamp numbering
  EXPECT_EQ(got->packet_count, 2u);
  EXPECT_EQ(router_.stats().sender_reports_forwarded, 1u);
}

TEST_F(RouterTest, PaddingIsKeptAndPayloadTypeUpdatesLater) {
  router_.setPublishedTracks(kA, {audioTrack()});
  auto out = router_.subscribe(kB, kA, "a-audio", 0, 0, kT0);
  ASSERT_TRUE(out);
  Pkt p;
  p.ssrc = 5;
  p.seq = 1;
  p.mid = "0";
  p.padding = 4;
  send(kA, p, kT0);
  router_.setSubscriberPayloadType(kB, "audio", 100);
  p.seq = 2;
  send(kA, p, kT0 + 20);
  auto got = sink_.rtpTo(kB);
  ASSERT_EQ(got.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    auto v = media::RtpPacketView::parse(got[i].bytes);
    ASSERT_TRUE(v);
    EXPECT_TRUE(v->hasPadding());
    EXPECT_EQ(v->paddingSize(), 4u);
    EXPECT_EQ(v->payload().size(), 4u);
    EXPECT_EQ(v->payloadType(), i == 0 ? 111 : 100);
  }
}

// A publisher's padding-only video packets (libwebrtc's own bandwidth probes) are not forwarded: each
// subscriber's numbering goes on without a gap, and the layer's measured rate leaves them out.
TEST_F(RouterTest, PublisherPaddingIsNotForwardedAndLeavesNoGap) {
  router_.setPublishedTracks(kA, {plainVideoTrack()});
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-video", 640, 360, kT0));
  std::uint16_t seq = 10;
  sendVideo(kF, "", seq++, true, 1, kT0);
  router_.tick(kT0);  // the layer's rate window starts
  auto pad = [&](TimeMs now) {
    Pkt p;
    p.ssrc = kF;
    p.pt = 96;
    p.seq = seq++;
    p.ts = 3000;
    p.mid = "1";
    p.payload.clear();
    p.padding = 200;
    send(kA, p, now);
  };
  for (int i = 0; i < 50; ++i) pad(kT0 + 1 + i);
  sendVideo(kF, "", seq++, false, 2, kT0 + 60);
  const auto got = sink_.rtpTo(kB);
  ASSERT_EQ(got.size(), 2u) << "the 50 padding packets are not forwarded";
  const auto first = media::RtpPacketView::parse(got[0].bytes)->sequenceNumber();
  EXPECT_EQ(media::RtpPacketView::parse(got[1].bytes)->sequenceNumber(),
            static_cast<std::uint16_t>(first + 1));
  EXPECT_EQ(router_.stats().padding_not_forwarded, 50u);
  // A media packet is lost upstream, the next one arrives, then padding: it is forwarded (something before
  // it is missing), so the retransmission of the lost packet still gets the number the subscriber misses.
  const std::uint16_t lost = seq++;
  sendVideo(kF, "", seq++, false, 4, kT0 + 65);
  pad(kT0 + 70);
  sendVideo(kF, "", lost, false, 3, kT0 + 80);
  const auto after = sink_.rtpTo(kB);
  ASSERT_EQ(after.size(), 5u) << "the media packet, the padding and the late packet";
  auto seqOf = [&](std::size_t i) { return media::RtpPacketView::parse(after[i].bytes)->sequenceNumber(); };
  EXPECT_EQ(seqOf(2), static_cast<std::uint16_t>(first + 3));
  EXPECT_EQ(seqOf(3), static_cast<std::uint16_t>(first + 4));
  EXPECT_EQ(seqOf(4), static_cast<std::uint16_t>(first + 2)) << "the late packet fills the gap";
  EXPECT_EQ(router_.stats().padding_not_forwarded, 50u);
  router_.tick(kT0 + 1000);  // the layer's rate: the few small media packets, not the padding
  const auto layers = router_.publishedVideoLayers(kA);
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_GT(layers[0].bps, 0);
  EXPECT_LT(layers[0].bps, 5000) << "51 x 200 B of padding would be 80 kbit/s";
}

TEST_F(RouterTest, SsrcLearntFromSdpListWhenThereIsNoMid) {
  auto track = audioTrack();
  track.ssrcs = {4242};
  router_.setPublishedTracks(kA, {track});
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-audio", 0, 0, kT0));
  Pkt p;
  p.ssrc = 4242;
  p.seq = 7;
  send(kA, p, kT0);
  p.ssrc = 999;  // neither mid nor listed
  send(kA, p, kT0);
  send(kA, p, kT0 + 1);
  EXPECT_EQ(sink_.rtpTo(kB).size(), 1u);
  EXPECT_EQ(router_.stats().drops.get(RouterDrop::UnmappedSsrc), 2u);
}

TEST_F(RouterTest, PacketsOfUnsubscribedTracksAreCountedNotForwarded) {
  router_.setPublishedTracks(kA, {audioTrack()});
  Pkt p;
  p.ssrc = 5;
  p.mid = "0";
  send(kA, p, kT0);
  EXPECT_TRUE(sink_.sent.empty());
  EXPECT_EQ(router_.stats().rtp_not_subscribed, 1u);
  EXPECT_EQ(router_.stats().drops.total(), 0u);
}

// ---- video simulcast ----

TEST_F(RouterTest, SimulcastPicksLowLayerThenSwitchesToHighOnlyAtItsKeyframe) {
  router_.setPublishedTracks(kA, {simulcastTrack()});
  router_.setSubscriberPayloadType(kB, "video", 98);
  // Every layer is seen once before anyone subscribes.
  sendVideo(kQ, "q", 10, true, 500, kT0);
  sendVideo(kH, "h", 20, true, 600, kT0);
  sendVideo(kF, "f", 30, true, 700, kT0);
  EXPECT_TRUE(sink_.sent.empty());

  auto out = router_.subscribe(kB, kA, "a-video", 320, 180, kT0);  // ratio 4 -> low
  ASSERT_TRUE(out);
  EXPECT_EQ(statsOf(kB, out->ssrc).target_rid, "q");
  EXPECT_EQ(sink_.plisTo(kA), std::vector<std::uint32_t>{kQ});

  // Low layer: keyframe then deltas flow; the other layers do not.
  sendVideo(kQ, "", 11, true, 501, kT0 + 10, 5);
  sendVideo(kH, "", 21, false, 601, kT0 + 10);
  sendVideo(kF, "", 31, false, 701, kT0 + 10);
  sendVideo(kQ, "", 12, false, 502, kT0 + 40, 6);
  ASSERT_EQ(sink_.rtpTo(kB).size(), 2u);
  EXPECT_EQ(statsOf(kB, out->ssrc).current_rid, "q");

  // Bigger: high. The low layer keeps flowing until the high keyframe.
  auto again = router_.subscribe(kB, kA, "a-video", 1280, 720, kT0 + 100);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->ssrc, out->ssrc);
  EXPECT_EQ(router_.outTracks(kB).size(), 1u);
  EXPECT_EQ(sink_.plisTo(kA), (std::vector<std::uint32_t>{kQ, kF}));
  EXPECT_EQ(statsOf(kB, out->ssrc).target_rid, "f");
  EXPECT_EQ(statsOf(kB, out->ssrc).current_rid, "q");
  sendVideo(kF, "", 32, false, 702, kT0 + 110);  // not a keyframe: dropped
  sendVideo(kQ, "", 13, false, 503, kT0 + 120, 7);
  EXPECT_EQ(router_.stats().rewrite_drops.get(media::RewriteDrop::WaitingForKeyframe), 1u);
  ASSERT_EQ(sink_.rtpTo(kB).size(), 3u);
  sendVideo(kF, "", 33, true, 703, kT0 + 130, 40);  // keyframe: switch
  sendVideo(kQ, "", 14, false, 504, kT0 + 140);     // old layer: no longer forwarded
  sendVideo(kF, "", 34, false, 704, kT0 + 160, 40);
  EXPECT_EQ(statsOf(kB, out->ssrc).current_rid, "f");

  auto got = sink_.rtpTo(kB);
  ASSERT_EQ(got.size(), 5u);
  std::vector<std::uint16_t> seqs;
  std::vector<std::uint16_t> pids;
  std::vector<std::uint8_t> tl0s;
  for (auto& s : got) {
    auto v = media::RtpPacketView::parse(s.bytes);
    ASSERT_TRUE(v);
    EXPECT_EQ(v->ssrc(), out->ssrc);
    EXPECT_EQ(v->payloadType(), 98);
    EXPECT_FALSE(v->hasExtension());
    seqs.push_back(v->sequenceNumber());
    auto d = media::parseVp8Descriptor(v->payload());
    ASSERT_TRUE(d);
    pids.push_back(*d->picture_id);
    tl0s.push_back(*d->tl0_pic_idx);
  }
  for (std::size_t i = 1; i < seqs.size(); ++i) {
    EXPECT_EQ(seqs[i], static_cast<std::uint16_t>(seqs[0] + i)) << i;  // gap-free across the switch
  }
  // Picture id and TL0PICIDX continue across the switch: 501, 502, 503 | 504, 505; 5, 6, 7 | 8, 8.
  EXPECT_EQ(pids, (std::vector<std::uint16_t>{501, 502, 503, 504, 505}));
  EXPECT_EQ(tl0s, (std::vector<std::uint8_t>{5, 6, 7, 8, 8}));
  // The first packet on the new layer is the keyframe.
  auto first_f = media::RtpPacketView::parse(got[3].bytes);
  EXPECT_TRUE(media::parseVp8Descriptor(first_f->payload())->keyframe);
}

TEST_F(RouterTest, MediumLayerForHalfSizeAndFallbackWhenLayerNotSeen) {
  router_.setPublishedTracks(kA, {simulcastTrack()});
  sendVideo(kQ, "q", 10, true, 1, kT0);
  // Only q seen: any size falls back to q.
  auto out = router_.subscribe(kB, kA, "a-video", 640, 360, kT0);
  ASSERT_TRUE(out);
  EXPECT_EQ(statsOf(kB, out->ssrc).target_rid, "q");
  // h appears: the subscription moves to its desired medium layer and a keyframe is requested for it.
  sendVideo(kH, "h", 20, false, 1, kT0 + 700);
  EXPECT_EQ(statsOf(kB, out->ssrc).target_rid, "h");
  EXPECT_EQ(sink_.plisTo(kA), (std::vector<std::uint32_t>{kQ, kH}));
  // Unknown requested size: low.
  auto c = router_.subscribe(kC, kA, "a-video", 0, 0, kT0 + 700);
  ASSERT_TRUE(c);
  EXPECT_EQ(statsOf(kC, c->ssrc).target_rid, "q");
}

struct Remb {
  std::uint64_t bitrate_bps{0};
  std::size_t ssrcs{0};
};
// The REMBs `to` got, in order.
std::vector<Remb> rembsTo(const FakeSink& sink, ParticipantId to) {
  std::vector<Remb> out;
  for (const auto& s : sink.rtcpTo(to)) {
    media::RtcpCompoundReader r(s.bytes);
    while (auto p = r.next()) {
      if (auto remb = media::RtcpRemb::parse(*p)) out.push_back({remb->bitrate_bps, remb->ssrcCount()});
    }
  }
  return out;
}

TEST_F(RouterTest, PublisherIsCappedToTheLayersItsSubscribersAskFor) {
  const auto& c = testConfig();
  router_.setPublishedTracks(kA, {audioTrack("0"), simulcastTrack()});
  sendVideo(kQ, "q", 10, true, 1, kT0);
  sendVideo(kH, "h", 20, true, 1, kT0);
  sendVideo(kF, "f", 30, true, 1, kT0);
  const std::int64_t audio = c.publisher_cap_audio_bps;
  const auto& d = c.layer_default_bps;

  // Nobody receives the video: the lowest layer (and the audio) only.
  router_.tick(kT0 + 50);
  auto rembs = rembsTo(sink_, kA);
  ASSERT_EQ(rembs.size(), 1u);
  EXPECT_NEAR(static_cast<double>(rembs[0].bitrate_bps), static_cast<double>(audio + d[0]), 2000.0);
  EXPECT_EQ(rembs[0].ssrcs, 3u);  // the video SSRCs
  EXPECT_EQ(router_.publisherCap(kA), static_cast<std::int64_t>(rembs[0].bitrate_bps));
  EXPECT_EQ(router_.stats().publisher_caps_sent, 1u);
  // Unchanged: again only after publisher_cap_interval_ms.
  router_.tick(kT0 + 100);
  EXPECT_EQ(rembsTo(sink_, kA).size(), 1u);

  // A half-size tile: low + medium, at once (a raise).
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-video", 640, 360, kT0 + 150));
  router_.tick(kT0 + 150);
  rembs = rembsTo(sink_, kA);
  ASSERT_EQ(rembs.size(), 2u);
  EXPECT_NEAR(static_cast<double>(rembs[1].bitrate_bps), static_cast<double>(audio + d[0] + d[1]), 2000.0);

  // A full-size tile elsewhere: every layer.
  ASSERT_TRUE(router_.subscribe(kC, kA, "a-video", 1280, 720, kT0 + 200));
  router_.tick(kT0 + 200);
  rembs = rembsTo(sink_, kA);
  ASSERT_EQ(rembs.size(), 3u);
  EXPECT_NEAR(static_cast<double>(rembs[2].bitrate_bps), static_cast<double>(audio + d[0] + d[1] + d[2]),
              4000.0);

  // It leaves: the cap falls back to low + medium, told at the next interval (not at once).
  router_.unsubscribe(kC, kA, "a-video");
  router_.tick(kT0 + 250);
  EXPECT_EQ(rembsTo(sink_, kA).size(), 3u);
  router_.tick(kT0 + 200 + c.publisher_cap_interval_ms);
  rembs = rembsTo(sink_, kA);
  ASSERT_EQ(rembs.size(), 4u);
  EXPECT_NEAR(static_cast<double>(rembs[3].bitrate_bps), static_cast<double>(audio + d[0] + d[1]), 2000.0);
}

TEST_F(RouterTest, PublisherCapFollowsMeasuredRatesAboveTheDefaults) {
  const auto& c = testConfig();
  router_.setPublishedTracks(kA, {simulcastTrack()});
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-video", 1280, 720, kT0));
  // The high layer sends ~2.4 Mbit/s (300 packets/s of 1000 bytes) for 2 s; the others are not seen.
  std::uint16_t seq = 100;
  for (TimeMs t = kT0; t < kT0 + 2000; t += 10) {
    for (int i = 0; i < 3; ++i) {
      Pkt p;
      p.ssrc = kF;
      p.pt = 96;
      p.seq = seq++;
      p.ts = static_cast<std::uint32_t>(t) * 90;
      p.mid = "1";
      p.rid = "f";
      p.payload = vp8(false, 1, 0);
      p.payload.resize(1000);
      send(kA, p, t);
    }
    router_.tick(t);
  }
  const std::int64_t cap = router_.publisherCap(kA);
  const auto& d = c.layer_default_bps;
  // Low and medium at their defaults, high at 1.25 x ~2.4 Mbit/s.
  EXPECT_GT(cap, d[0] + d[1] + static_cast<std::int64_t>(1.25 * 2'300'000));
  EXPECT_LT(cap, d[0] + d[1] + static_cast<std::int64_t>(1.25 * 2'700'000));
}

TEST_F(RouterTest, SingleLayerPublisherIsNotCapped) {
  router_.setPublishedTracks(kA, {plainVideoTrack()});
  Pkt p;
  p.ssrc = 77;
  p.pt = 96;
  p.seq = 1;
  p.mid = "1";
  p.payload = vp8(true, 1, 0);
  send(kA, p, kT0);
  router_.tick(kT0 + 50);
  router_.tick(kT0 + 2000);
  EXPECT_TRUE(rembsTo(sink_, kA).empty());
  EXPECT_EQ(router_.publisherCap(kA), 0);
}

TEST_F(RouterTest, KeyframeRequestsAreThrottledPerPublisherSsrcAndSentLater) {
  router_.setPublishedTracks(kA, {simulcastTrack()});
  sendVideo(kQ, "q", 10, true, 1, kT0);
  sendVideo(kF, "f", 30, true, 1, kT0);
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-video", 320, 180, kT0));        // PLI q
  ASSERT_TRUE(router_.subscribe(kC, kA, "a-video", 320, 180, kT0 + 10));   // throttled (q)
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-video", 1280, 720, kT0 + 20));  // PLI f
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-video", 320, 180, kT0 + 30));   // back to q: throttled
  EXPECT_EQ(sink_.plisTo(kA), (std::vector<std::uint32_t>{kQ, kF}));
  EXPECT_EQ(router_.stats().keyframe_requests_throttled, 2u);
  router_.tick(kT0 + 499);
  EXPECT_EQ(sink_.plisTo(kA).size(), 2u);
  router_.tick(kT0 + 500);  // the pending request for q goes out once
  EXPECT_EQ(sink_.plisTo(kA), (std::vector<std::uint32_t>{kQ, kF, kQ}));
  router_.tick(kT0 + 600);
  EXPECT_EQ(sink_.plisTo(kA).size(), 3u);
  EXPECT_EQ(router_.stats().keyframe_requests, 3u);
}

TEST_F(RouterTest, KeyframeIsRequestedAgainWhileASubscriptionStillWaits) {
  router_.setPublishedTracks(kA, {plainVideoTrack()});
  sendVideo(kQ, "", 1, false, 1, kT0);
  auto out = router_.subscribe(kB, kA, "a-video", 0, 0, kT0);
  ASSERT_TRUE(out);
  EXPECT_EQ(sink_.plisTo(kA).size(), 1u);
  sendVideo(kQ, "", 2, false, 2, kT0 + 500);
  router_.tick(kT0 + 500);
  EXPECT_EQ(sink_.plisTo(kA).size(), 1u);
  router_.tick(kT0 + 1000);  // keyframe_retry_ms
  EXPECT_EQ(sink_.plisTo(kA).size(), 2u);
  sendVideo(kQ, "", 3, true, 3, kT0 + 1100);
  router_.tick(kT0 + 3000);
  EXPECT_EQ(sink_.plisTo(kA).size(), 2u);  // started: no more
  EXPECT_EQ(sink_.rtpTo(kB).size(), 1u);
}

// With require_live_out_tracks (as `chorus focus` runs it), as in a call's third join (docs/focus.md "The
// small call"): the subscriber's answer comes ~200 ms after its subscription. A keyframe asked for at
// subscribe time would arrive before that and be dropped, and its request would hold back the one sent when
// the track goes live by pli_throttle_ms: the first frame came ~0.3 s later than it could.
class RouterLiveTest : public RouterTest {
 protected:
  static RouterConfig live() {
    RouterConfig c = testConfig();
    c.require_live_out_tracks = true;
    return c;
  }
  RouterLiveTest() : RouterTest(live()) {}
  void goLive(ParticipantId subscriber, std::uint32_t out_ssrc, TimeMs now) {
    const std::uint32_t ssrcs[] = {out_ssrc};
    router_.setLiveOutTracks(subscriber, ssrcs);
    router_.requestKeyframe(subscriber, out_ssrc, now);  // as MediaPlane does on the answer
  }
};

TEST_F(RouterLiveTest, AKeyframeIsAskedForOnceTheSubscriptionIsLiveNotBefore) {
  router_.setPublishedTracks(kA, {plainVideoTrack()});
  sendVideo(kQ, "", 1, false, 1, kT0);
  const auto out = router_.subscribe(kB, kA, "a-video", 0, 0, kT0);
  ASSERT_TRUE(out);
  EXPECT_TRUE(sink_.plisTo(kA).empty());
  sendVideo(kQ, "", 2, true, 2, kT0 + 70);  // not live: dropped
  router_.tick(kT0 + 100);
  EXPECT_TRUE(sink_.rtpTo(kB).empty());
  goLive(kB, out->ssrc, kT0 + 200);
  EXPECT_EQ(sink_.plisTo(kA), std::vector<std::uint32_t>{kQ});  // at once, not at kT0 + 500
  sendVideo(kQ, "", 3, true, 3, kT0 + 250);
  EXPECT_EQ(sink_.rtpTo(kB).size(), 1u);
  router_.tick(kT0 + 3000);
  EXPECT_EQ(sink_.plisTo(kA).size(), 1u);
  EXPECT_EQ(router_.stats().keyframe_requests_throttled, 0u);
}

TEST_F(RouterLiveTest, NotLiveSubscriptionsAreNotAskedForAgainUntilLive) {
  router_.setPublishedTracks(kA, {plainVideoTrack()});
  sendVideo(kQ, "", 1, false, 1, kT0);
  const auto out = router_.subscribe(kB, kA, "a-video", 0, 0, kT0);
  ASSERT_TRUE(out);
  for (TimeMs t = kT0; t <= kT0 + 3000; t += 50) router_.tick(t);  // no keyframe_retry_ms either
  EXPECT_TRUE(sink_.plisTo(kA).empty());
  goLive(kB, out->ssrc, kT0 + 3000);
  EXPECT_EQ(sink_.plisTo(kA).size(), 1u);
  router_.tick(kT0 + 3999);
  EXPECT_EQ(sink_.plisTo(kA).size(), 1u);
  router_.tick(kT0 + 4000);  // still waiting: keyframe_retry_ms
  EXPECT_EQ(sink_.plisTo(kA).size(), 2u);
}

TEST_F(RouterLiveTest, GoingLiveAfterTheLastRequestWasAnsweredAsksAtOnceOtherwiseThrottled) {
  router_.setPublishedTracks(kA, {plainVideoTrack()});
  sendVideo(kQ, "", 1, false, 1, kT0);
  const auto b = router_.subscribe(kB, kA, "a-video", 0, 0, kT0);
  const auto c = router_.subscribe(kC, kA, "a-video", 0, 0, kT0);
  const auto d = router_.subscribe(kD, kA, "a-video", 0, 0, kT0);
  ASSERT_TRUE(b && c && d);
  goLive(kB, b->ssrc, kT0 + 100);
  EXPECT_EQ(sink_.plisTo(kA).size(), 1u);
  sendVideo(kQ, "", 2, true, 2, kT0 + 150);  // B's keyframe; C and D are not live yet
  EXPECT_EQ(sink_.rtpTo(kB).size(), 1u);
  // C goes live 200 ms after B's request, which was answered: C's goes out at once.
  goLive(kC, c->ssrc, kT0 + 300);
  EXPECT_EQ(sink_.plisTo(kA).size(), 2u);
  // D 20 ms after C's, which is still unanswered: throttled, sent pli_throttle_ms after C's.
  goLive(kD, d->ssrc, kT0 + 320);
  EXPECT_EQ(sink_.plisTo(kA).size(), 2u);
  EXPECT_EQ(router_.stats().keyframe_requests_throttled, 1u);
  // A subscriber's own PLI is throttled as before, answered or not.
  sendVideo(kQ, "", 3, true, 3, kT0 + 350);
  std::vector<std::uint8_t> pli(64);
  pli.resize(*media::buildRtcpPli(pli, 0xB0B, b->ssrc));
  sendRtcp(kB, pli, kT0 + 400);
  EXPECT_EQ(sink_.plisTo(kA).size(), 2u);
  EXPECT_EQ(router_.stats().keyframe_requests_throttled, 2u);
  router_.tick(kT0 + 800);
  EXPECT_EQ(sink_.plisTo(kA).size(), 3u);
}

// A subscriber renegotiating in a loop: each answer makes its track live again, and each request is
// answered at once, yet the publisher is asked at most once per pli_live_min_interval_ms.
TEST_F(RouterLiveTest, GoingLiveInALoopAsksAtMostOncePerMinimumInterval) {
  router_.setPublishedTracks(kA, {plainVideoTrack()});
  sendVideo(kQ, "", 1, false, 1, kT0);
  const auto b = router_.subscribe(kB, kA, "a-video", 0, 0, kT0);
  ASSERT_TRUE(b);
  std::uint16_t seq = 2;
  for (TimeMs t = kT0 + 100; t < kT0 + 1100; t += 20) {
    goLive(kB, b->ssrc, t);
    sendVideo(kQ, "", seq, true, seq, t + 5);  // the publisher answers every request at once
    ++seq;
  }
  // 1 s of going live every 20 ms: a request every 100 ms at most (not 50).
  EXPECT_LE(sink_.plisTo(kA).size(), 10u);
  EXPECT_GE(sink_.plisTo(kA).size(), 5u);
}

TEST_F(RouterTest, StalledLayerIsLeftForAnActiveOne) {
  router_.setPublishedTracks(kA, {simulcastTrack()});
  sendVideo(kQ, "q", 10, true, 1, kT0);
  sendVideo(kH, "h", 20, true, 1, kT0);
  sendVideo(kF, "f", 30, true, 1, kT0);
  auto out = router_.subscribe(kB, kA, "a-video", 1280, 720, kT0);
  ASSERT_TRUE(out);
  sendVideo(kF, "", 31, true, 2, kT0 + 10);
  EXPECT_EQ(statsOf(kB, out->ssrc).current_rid, "f");
  // f goes quiet; h and q keep flowing.
  for (int i = 1; i <= 21; ++i) {
    sendVideo(kH, "", static_cast<std::uint16_t>(20 + i), false, 1, kT0 + 100 * i);
    sendVideo(kQ, "", static_cast<std::uint16_t>(10 + i), false, 1, kT0 + 100 * i);
    router_.tick(kT0 + 100 * i);
    if (i == 20) {
      EXPECT_EQ(statsOf(kB, out->ssrc).target_rid, "f");  // 1990 ms since the last f packet
    }
  }
  EXPECT_EQ(statsOf(kB, out->ssrc).target_rid, "h");
  EXPECT_EQ(statsOf(kB, out->ssrc).current_rid, "f");
  EXPECT_EQ(sink_.plisTo(kA).back(), kH);
  sendVideo(kH, "", 60, true, 1, kT0 + 2200);
  EXPECT_EQ(statsOf(kB, out->ssrc).current_rid, "h");
}

TEST_F(RouterTest, SubscriberPliAndFirAreRelayedToThePublisherThrottled) {
  router_.setPublishedTracks(kA, {plainVideoTrack()});
  sendVideo(kQ, "", 1, true, 1, kT0);
  auto out = router_.subscribe(kB, kA, "a-video", 0, 0, kT0);
  ASSERT_TRUE(out);
  sendVideo(kQ, "", 2, true, 2, kT0 + 1);
  sink_.clear();

  std::vector<std::uint8_t> buf(64);
  auto n = media::buildRtcpPli(buf, 0xB0B, out->ssrc);
  buf.resize(*n);
  sendRtcp(kB, buf, kT0 + 1000);
  EXPECT_EQ(sink_.plisTo(kA), std::vector<std::uint32_t>{kQ});
  sendRtcp(kB, buf, kT0 + 1100);  // throttled
  EXPECT_EQ(sink_.plisTo(kA).size(), 1u);
  std::vector<std::uint8_t> fir(64);
  const media::RtcpFirEntry entries[] = {{out->ssrc, 1}};
  fir.resize(*media::buildRtcpFir(fir, 0xB0B, entries));
  sendRtcp(kB, fir, kT0 + 1600);
  EXPECT_EQ(sink_.plisTo(kA), (std::vector<std::uint32_t>{kQ, kQ}));
  EXPECT_EQ(router_.stats().keyframe_requests_received, 3u);
  // A PLI for an SSRC B does not receive from us: counted.
  buf.resize(64);
  buf.resize(*media::buildRtcpPli(buf, 0xB0B, 12345));
  sendRtcp(kB, buf, kT0 + 3000);
  EXPECT_EQ(router_.stats().drops.get(RouterDrop::UnknownMediaSsrc), 1u);
  EXPECT_EQ(sink_.plisTo(kA).size(), 2u);
}

TEST_F(RouterTest, H264KeyframesAreDetected) {
  auto t = plainVideoTrack();
  t.codec = "H264";
  router_.setPublishedTracks(kA, {t});
  // No transcoding: a subscriber that did not offer H.264 cannot have the track.
  EXPECT_FALSE(router_.subscribe(kB, kA, "a-video", 0, 0, kT0).has_value());
  router_.setSubscriberPayloadType(kB, "video", 96);
  router_.setSubscriberPayloadType(kB, "H264", 108);
  auto out = router_.subscribe(kB, kA, "a-video", 0, 0, kT0);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->codec, "H264");
  Pkt p;
  p.ssrc = 77;
  p.pt = 102;
  p.mid = "1";
  p.seq = 1;
  p.payload = {0x41, 1, 2, 3};  // non-IDR slice
  send(kA, p, kT0);
  p.seq = 2;
  p.payload = {0x7C, 0x85, 1, 2};  // FU-A start of an IDR
  send(kA, p, kT0 + 1);
  p.seq = 3;
  p.payload = {0x7C, 0x05, 1, 2};  // FU-A continuation
  send(kA, p, kT0 + 2);
  ASSERT_EQ(sink_.rtpTo(kB).size(), 2u);
  for (const auto& sent : sink_.rtpTo(kB)) {  // in the subscriber's H.264 payload type, not its VP8 one
    EXPECT_EQ(media::RtpPacketView::parse(sent.bytes)->payloadType(), 108);
  }
}

// ---- NACK ----

TEST_F(RouterTest, NackIsAnsweredFromTheBufferWithIdenticalBytes) {
  router_.setPublishedTracks(kA, {plainVideoTrack()});
  auto out = router_.subscribe(kB, kA, "a-video", 0, 0, kT0);
  ASSERT_TRUE(out);
  for (int i = 0; i < 10; ++i) {
    sendVideo(kQ, "", static_cast<std::uint16_t>(1000 + i), i == 0, static_cast<std::uint16_t>(i),
              kT0 + 10 * i);
  }
  const auto original = sink_.rtpTo(kB);
  ASSERT_EQ(original.size(), 10u);
  auto seqOf = [](const Sent& s) { return media::RtpPacketView::parse(s.bytes)->sequenceNumber(); };
  sink_.clear();

  const std::uint16_t lost[] = {seqOf(original[3]), seqOf(original[5]),
                                static_cast<std::uint16_t>(seqOf(original[9]) + 100)};
  std::vector<std::uint8_t> nack(256);
  nack.resize(*media::buildRtcpNack(nack, 0xB0B, out->ssrc, lost));
  sendRtcp(kB, nack, kT0 + 200);
  auto resent = sink_.rtpTo(kB);
  ASSERT_EQ(resent.size(), 2u);
  EXPECT_EQ(resent[0].bytes, original[3].bytes);
  EXPECT_EQ(resent[1].bytes, original[5].bytes);
  EXPECT_EQ(router_.stats().nack_packets_received, 1u);
  EXPECT_EQ(router_.stats().nacks_answered, 2u);
  EXPECT_EQ(router_.stats().nacks_missed, 1u);
  EXPECT_EQ(statsOf(kB, out->ssrc).packets_retransmitted, 2u);

  // Too old (rtx_max_age_ms): missed.
  sendRtcp(kB, nack, kT0 + 5000);
  EXPECT_EQ(router_.stats().nacks_missed, 4u);
  // A NACK for an SSRC B does not receive: dropped and counted.
  nack.resize(256);
  nack.resize(*media::buildRtcpNack(nack, 0xB0B, 4711, lost));
  sendRtcp(kB, nack, kT0 + 300);
  EXPECT_EQ(router_.stats().drops.get(RouterDrop::UnknownMediaSsrc), 1u);
}

TEST_F(RouterTest, NackAnswersPerPacketAreBounded) {
  router_.setPublishedTracks(kA, {plainVideoTrack()});
  auto out = router_.subscribe(kB, kA, "a-video", 0, 0, kT0);
  ASSERT_TRUE(out);
  for (int i = 0; i < 64; ++i) {
    sendVideo(kQ, "", static_cast<std::uint16_t>(i), i == 0, 1, kT0 + i);
  }
  const auto first = media::RtpPacketView::parse(sink_.rtpTo(kB)[0].bytes)->sequenceNumber();
  sink_.clear();
  std::vector<std::uint16_t> lost;
  for (int r = 0; r < 10; ++r) {  // the same 64 seqs, 10 times
    for (int i = 0; i < 64; ++i) lost.push_back(static_cast<std::uint16_t>(first + i));
  }
  std::vector<std::uint8_t> nack(8192);
  nack.resize(*media::buildRtcpNack(nack, 0xB0B, out->ssrc, lost));
  sendRtcp(kB, nack, kT0 + 100);
  EXPECT_EQ(sink_.rtpTo(kB).size(), 64u);  // max_nack_seqs_per_packet
}

// ---- receiver reports ----

TEST_F(RouterTest, ReceiverReportCarriesHighestSeqLossJitterAndLsr) {
  router_.setPublishedTracks(kA, {audioTrack()});
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-audio", 0, 0, kT0));
  auto sendSeq = [&](int i) {
    Pkt p;
    p.ssrc = 0x5151;
    p.seq = static_cast<std::uint16_t>(65530 + i);  // crosses the wrap
    p.ts = 960 * static_cast<std::uint32_t>(i);
    p.mid = "0";
    send(kA, p, kT0 + 20 * i);  // arrival matches the timestamps: no jitter
  };
  for (int i = 0; i < 10; ++i) sendSeq(i);
  for (int i = 15; i < 20; ++i) sendSeq(i);  // 5 lost
  router_.tick(kT0 + 999);
  EXPECT_TRUE(sink_.rtcpTo(kA).empty());
  router_.tick(kT0 + 1000);
  auto rtcp = sink_.rtcpTo(kA);
  ASSERT_EQ(rtcp.size(), 1u);
  EXPECT_TRUE(sink_.rtcpTo(kB).empty());  // subscribers get no reports
  EXPECT_TRUE(media::validateRtcpCompound(rtcp[0].bytes, false).has_value());

  auto readRr = [](const std::vector<std::uint8_t>& compound, bool* has_cname) {
    media::RtcpCompoundReader r(compound);
    std::optional<media::RtcpReportBlock> block;
    while (auto p = r.next()) {
      if (auto rr = media::RtcpReceiverReport::parse(*p)) {
        EXPECT_EQ(rr->ssrc, 1u);
        EXPECT_EQ(rr->reportCount(), 1u);
        block = rr->reportBlock(0);
      }
      if (p->type == media::kRtcpSdes) {
        media::RtcpSdesIterator it(*p);
        while (auto item = it.next()) {
          if (item->type == 1 && item->value == "chorus-focus") *has_cname = true;
        }
      }
    }
    EXPECT_FALSE(r.error());
    return block;
  };
  bool cname = false;
  auto b = readRr(rtcp[0].bytes, &cname);
  ASSERT_TRUE(b);
  EXPECT_TRUE(cname);
  EXPECT_EQ(b->ssrc, 0x5151u);
  EXPECT_EQ(b->extended_highest_seq, (1u << 16) | 13u);  // 65530 + 19 = one cycle + 13
  EXPECT_EQ(b->cumulative_lost, 5);
  EXPECT_EQ(b->fraction_lost, 5 * 256 / 20);
  EXPECT_EQ(b->jitter, 0u);
  EXPECT_EQ(b->last_sr, 0u);
  EXPECT_EQ(b->delay_since_last_sr, 0u);

  // A sender report from A; the next RR names it.
  std::vector<std::uint8_t> sr;
  put32(sr, 0x80C80006);  // V=2, SC=0, PT=200, length 6
  put32(sr, 0x5151);
  put32(sr, 0x0000AAAA);  // NTP seconds
  put32(sr, 0xBBBB0000);  // NTP fraction
  put32(sr, 12345);
  put32(sr, 20);
  put32(sr, 2000);
  sendRtcp(kA, sr, kT0 + 1100);
  EXPECT_EQ(router_.stats().sender_reports_received, 1u);
  sendSeq(20);  // one more packet, none lost
  router_.tick(kT0 + 2000);
  rtcp = sink_.rtcpTo(kA);
  ASSERT_EQ(rtcp.size(), 2u);
  b = readRr(rtcp[1].bytes, &cname);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->cumulative_lost, 5);
  EXPECT_EQ(b->fraction_lost, 0);
  EXPECT_EQ(b->extended_highest_seq, (1u << 16) | 14u);
  EXPECT_EQ(b->last_sr, 0xAAAABBBBu);
  EXPECT_EQ(b->delay_since_last_sr, 900u * 65536u / 1000u);
  EXPECT_EQ(router_.stats().receiver_reports_sent, 2u);
}

TEST_F(RouterTest, JitterGrowsWithIrregularArrival) {
  router_.setPublishedTracks(kA, {audioTrack()});
  for (int i = 0; i < 50; ++i) {
    Pkt p;
    p.ssrc = 9;
    p.seq = static_cast<std::uint16_t>(i);
    p.ts = 960 * static_cast<std::uint32_t>(i);
    p.mid = "0";
    send(kA, p, kT0 + 20 * i + (i % 2 == 0 ? 0 : 10));  // alternately 10 ms late: |D| = 480
  }
  router_.tick(kT0 + 1000);
  auto rtcp = sink_.rtcpTo(kA);
  ASSERT_EQ(rtcp.size(), 1u);
  media::RtcpCompoundReader r(rtcp[0].bytes);
  auto rr = media::RtcpReceiverReport::parse(*r.next());
  ASSERT_TRUE(rr);
  EXPECT_GT(rr->reportBlock(0).jitter, 400u);
  EXPECT_LE(rr->reportBlock(0).jitter, 480u);
}

// ---- lifecycle ----

TEST_F(RouterTest, UnsubscribeAndRemovePeerStopForwarding) {
  router_.setPublishedTracks(kA, {audioTrack()});
  router_.setPublishedTracks(kB, {audioTrack("0", "b-audio")});
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-audio", 0, 0, kT0));
  ASSERT_TRUE(router_.subscribe(kC, kA, "a-audio", 0, 0, kT0));
  ASSERT_TRUE(router_.subscribe(kC, kB, "b-audio", 0, 0, kT0));
  ASSERT_TRUE(router_.subscribe(kA, kB, "b-audio", 0, 0, kT0));
  Pkt a;
  a.ssrc = 10;
  a.mid = "0";
  Pkt b;
  b.ssrc = 20;
  b.mid = "0";
  send(kA, a, kT0);
  send(kB, b, kT0);
  EXPECT_EQ(sink_.rtpTo(kB).size(), 1u);
  EXPECT_EQ(sink_.rtpTo(kC).size(), 2u);

  router_.unsubscribe(kC, kA, "a-audio");
  EXPECT_EQ(router_.outTracks(kC).size(), 1u);
  a.seq = 1;
  send(kA, a, kT0 + 20);
  EXPECT_EQ(sink_.rtpTo(kB).size(), 2u);
  EXPECT_EQ(sink_.rtpTo(kC).size(), 2u);

  // B leaves: its subscription to A and C's and A's subscriptions to B end.
  auto affected = router_.removePeer(kB);
  std::sort(affected.begin(), affected.end());
  EXPECT_EQ(affected, (std::vector<ParticipantId>{kA, kC}));
  EXPECT_TRUE(router_.outTracks(kC).empty());
  EXPECT_TRUE(router_.outTracks(kA).empty());
  EXPECT_TRUE(router_.outTracks(kB).empty());
  a.seq = 2;
  send(kA, a, kT0 + 40);
  b.seq = 1;
  send(kB, b, kT0 + 40);
  EXPECT_EQ(sink_.rtpTo(kB).size(), 2u);
  EXPECT_EQ(sink_.rtpTo(kC).size(), 2u);
  EXPECT_EQ(router_.stats().drops.get(RouterDrop::UnknownPeer), 1u);
  router_.tick(kT0 + 5000);  // nothing dangling
  EXPECT_TRUE(sink_.rtcpTo(kB).empty());
  // C received from A (then unsubscribed) and from B (then B left), A from B: each ended out track that
  // carried packets gets RR + BYE, so the subscriber frees the source at once.
  std::vector<std::uint32_t> byes;
  for (const auto& sent : sink_.rtcpTo(kC)) {
    media::RtcpCompoundReader r(sent.bytes);
    auto first = r.next();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->type, media::kRtcpRr) << "a compound starts with a report";
    while (auto p = r.next()) {
      if (p->type != media::kRtcpBye) continue;
      auto bye = media::RtcpBye::parse(*p);
      ASSERT_TRUE(bye);
      for (std::size_t i = 0; i < bye->ssrcCount(); ++i) byes.push_back(bye->ssrc(i));
    }
  }
  EXPECT_EQ(byes.size(), 2u);
  EXPECT_NE(byes[0], byes[1]);
  std::size_t byes_to_a = 0;
  for (const auto& sent : sink_.rtcpTo(kA)) {
    media::RtcpCompoundReader r(sent.bytes);
    while (auto p = r.next()) byes_to_a += p->type == media::kRtcpBye ? 1 : 0;
  }
  EXPECT_EQ(byes_to_a, 1u);
  EXPECT_EQ(router_.stats().byes_sent, 3u);
}

TEST_F(RouterTest, NoByeForAnOutTrackThatNeverCarriedPackets) {
  router_.setPublishedTracks(kA, {audioTrack()});
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-audio", 0, 0, kT0));
  router_.unsubscribe(kB, kA, "a-audio");
  router_.removePeer(kA);
  EXPECT_TRUE(sink_.rtcpTo(kB).empty());
  EXPECT_EQ(router_.stats().byes_sent, 0u);
}

TEST_F(RouterTest, VanishedTrackEndsItsSubscriptions) {
  router_.setPublishedTracks(kA, {audioTrack(), simulcastTrack()});
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-audio", 0, 0, kT0));
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-video", 0, 0, kT0));
  ASSERT_TRUE(router_.subscribe(kC, kA, "a-video", 0, 0, kT0));
  auto affected = router_.setPublishedTracks(kA, {audioTrack()});
  std::sort(affected.begin(), affected.end());
  EXPECT_EQ(affected, (std::vector<ParticipantId>{kB, kC}));
  ASSERT_EQ(router_.outTracks(kB).size(), 1u);
  EXPECT_EQ(router_.outTracks(kB)[0].track_id, "a-audio");
  EXPECT_TRUE(router_.outTracks(kC).empty());
  // Kept tracks keep their subscriptions.
  EXPECT_TRUE(router_.setPublishedTracks(kA, {audioTrack()}).empty());
  EXPECT_EQ(router_.outTracks(kB).size(), 1u);
  sendVideo(kQ, "q", 1, true, 1, kT0);
  EXPECT_EQ(router_.stats().drops.get(RouterDrop::UnmappedSsrc), 1u);
}

TEST_F(RouterTest, SubscribeErrors) {
  router_.setPublishedTracks(kA, {audioTrack()});
  auto self = router_.subscribe(kA, kA, "a-audio", 0, 0, kT0);
  ASSERT_FALSE(self);
  EXPECT_EQ(self.error().code, Code::InvalidArgument);
  auto nobody = router_.subscribe(kB, kC, "a-audio", 0, 0, kT0);
  ASSERT_FALSE(nobody);
  EXPECT_EQ(nobody.error().code, Code::NotFound);
  auto notrack = router_.subscribe(kB, kA, "nope", 0, 0, kT0);
  ASSERT_FALSE(notrack);
  EXPECT_EQ(notrack.error().code, Code::NotFound);
}

TEST_F(RouterTest, RepairStreamOnTheSameMidDoesNotReplaceTheMediaSsrc) {
  router_.setPublishedTracks(kA, {plainVideoTrack()});
  auto out = router_.subscribe(kB, kA, "a-video", 0, 0, kT0);
  ASSERT_TRUE(out);
  sendVideo(kQ, "", 1, true, 1, kT0);
  Pkt rtx;
  rtx.ssrc = 555;
  rtx.pt = 97;  // another PT (RTX) on the same mid
  rtx.mid = "1";
  rtx.payload = {0, 1, 2, 3, 4};
  send(kA, rtx, kT0 + 1);
  sendVideo(kQ, "", 2, false, 2, kT0 + 2);
  EXPECT_EQ(sink_.rtpTo(kB).size(), 2u);
  EXPECT_EQ(router_.stats().drops.get(RouterDrop::UnmappedSsrc), 1u);
  // A restarted sender (same PT, new SSRC) takes over after its keyframe.
  Pkt restart;
  restart.ssrc = 556;
  restart.pt = 96;
  restart.mid = "1";
  restart.seq = 9000;
  restart.payload = vp8(true, 50);
  send(kA, restart, kT0 + 3);
  auto got = sink_.rtpTo(kB);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(media::RtpPacketView::parse(got[2].bytes)->sequenceNumber(),
            static_cast<std::uint16_t>(media::RtpPacketView::parse(got[1].bytes)->sequenceNumber() + 1));
}

// ---- limits and bad input ----

class RouterLimitsTest : public RouterTest {
 protected:
  static RouterConfig limited() {
    RouterConfig c = testConfig();
    c.max_tracks_per_publisher = 2;
    c.max_subscriptions_per_subscriber = 2;
    c.max_ssrcs_per_publisher = 2;
    c.max_unmapped_ssrcs_per_publisher = 2;
    c.max_packet_size = 100;
    return c;
  }
  RouterLimitsTest() : RouterTest(limited()) {}
};

TEST_F(RouterLimitsTest, TracksSubscriptionsAndSsrcsAreBounded) {
  router_.setPublishedTracks(kA, {audioTrack("0", "t0"), audioTrack("1", "t1"), audioTrack("2", "t2")});
  router_.setPublishedTracks(kC, {audioTrack("0", "c0")});
  EXPECT_TRUE(router_.subscribe(kB, kA, "t0", 0, 0, kT0));
  EXPECT_TRUE(router_.subscribe(kB, kA, "t1", 0, 0, kT0));
  auto t2 = router_.subscribe(kB, kA, "t2", 0, 0, kT0);  // dropped by max_tracks_per_publisher
  ASSERT_FALSE(t2);
  EXPECT_EQ(t2.error().code, Code::NotFound);
  auto c0 = router_.subscribe(kB, kC, "c0", 0, 0, kT0);
  ASSERT_FALSE(c0);
  EXPECT_EQ(c0.error().code, Code::ResourceExhausted);
  EXPECT_TRUE(router_.subscribe(kB, kA, "t1", 0, 0, kT0));  // re-subscribe is not a new one

  Pkt p;
  p.mid = "0";
  p.ssrc = 1;
  send(kA, p, kT0);
  p.mid = "1";
  p.ssrc = 2;
  send(kA, p, kT0);
  p.ssrc = 3;
  p.mid = "7";  // unknown mid: unmapped, remembered (1)
  send(kA, p, kT0);
  p.ssrc = 4;  // remembered (2)
  send(kA, p, kT0);
  p.ssrc = 5;  // beyond the unmapped bound
  send(kA, p, kT0);
  p.ssrc = 3;
  p.mid = "";  // remembered: dropped fast
  send(kA, p, kT0);
  EXPECT_EQ(router_.stats().drops.get(RouterDrop::UnmappedSsrc), 3u);
  EXPECT_EQ(router_.stats().drops.get(RouterDrop::TooManySsrcs), 1u);
  EXPECT_EQ(sink_.rtpTo(kB).size(), 2u);

  // Packet size: 12 + payload must fit max_packet_size (100).
  p.ssrc = 1;
  p.mid = "0";
  p.seq = 1;
  p.payload.assign(88, 7);  // 100 bytes out: fits
  send(kA, p, kT0 + 20);
  p.seq = 2;
  p.payload.assign(89, 7);
  send(kA, p, kT0 + 40);
  EXPECT_EQ(sink_.rtpTo(kB).size(), 3u);
  EXPECT_EQ(router_.stats().drops.get(RouterDrop::TooLarge), 1u);
}

TEST_F(RouterLimitsTest, LearntSsrcsAreBounded) {
  auto v = simulcastTrack();
  router_.setPublishedTracks(kA, {v});
  sendVideo(kQ, "q", 1, true, 1, kT0);
  sendVideo(kH, "h", 1, true, 1, kT0);
  sendVideo(kF, "f", 1, true, 1, kT0);  // third SSRC: over max_ssrcs_per_publisher
  EXPECT_EQ(router_.stats().drops.get(RouterDrop::TooManySsrcs), 1u);
}

TEST_F(RouterTest, MalformedInputIsDroppedAndCounted) {
  router_.setPublishedTracks(kA, {audioTrack()});
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-audio", 0, 0, kT0));
  std::vector<std::uint8_t> shortp{0x80, 0x60, 0, 1};
  router_.onRtp(kA, InboundRtp{}, shortp, kT0);
  std::vector<std::uint8_t> v1(20, 0);
  v1[0] = 0x40;  // version 1
  router_.onRtp(kA, InboundRtp{}, v1, kT0);
  std::vector<std::uint8_t> empty;
  router_.onRtp(kA, InboundRtp{}, empty, kT0);
  EXPECT_EQ(router_.stats().drops.get(RouterDrop::MalformedRtp), 3u);

  std::vector<std::uint8_t> bad_rtcp{0x81, 0xC9, 0x00, 0x10, 1, 2, 3, 4};  // length overruns
  sendRtcp(kB, bad_rtcp, kT0);
  std::vector<std::uint8_t> bad_nack{0x81, 0xCD, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2};  // NACK without FCI
  sendRtcp(kB, bad_nack, kT0);
  sendRtcp(kB, {}, kT0);
  EXPECT_EQ(router_.stats().drops.get(RouterDrop::MalformedRtcp), 2u);
  sendRtcp(99, bad_nack, kT0);
  EXPECT_EQ(router_.stats().drops.get(RouterDrop::UnknownPeer), 1u);
  EXPECT_TRUE(sink_.sent.empty());
  EXPECT_STREQ(toString(RouterDrop::MalformedRtcp), "malformed_rtcp");
}

}  // namespace
}  // namespace chorus::focus
