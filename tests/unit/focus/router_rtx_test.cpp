// RTX (RFC 4588) through the router: NACK-answered retransmissions to a subscriber that accepted RTX go on
// its out track's RTX SSRC with the RTX payload type, the original sequence number (OSN) in front of the
// payload and the RTX stream's own numbering; a publisher's RTX packets are unwrapped into the packet they
// repair (FID SSRC, RTX payload type on the mid, or repaired-rid); padding-only and malformed ones are
// dropped and counted.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "media/rtp/transport_wide_seq.hpp"
#include "router_test_util.hpp"

namespace chorus::focus {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the fixture and builders

constexpr std::uint8_t kVp8Pt = 96;
constexpr std::uint8_t kRtxPt = 97;
constexpr std::uint32_t kRtxSsrc = 777;  // A's RTX SSRC for kQ (a=ssrc-group:FID 100 777)

std::uint16_t seqOf(const Sent& s) {
  return media::RtpPacketView::parse(s.bytes)->sequenceNumber();
}

// A publisher's RTX packet: RTX SSRC/PT/seq, the OSN, then `payload`.
Pkt rtxPacket(std::uint32_t ssrc, std::uint16_t rtx_seq, std::uint16_t osn, std::vector<std::uint8_t> payload,
              std::uint32_t ts) {
  Pkt p;
  p.ssrc = ssrc;
  p.pt = kRtxPt;
  p.seq = rtx_seq;
  p.ts = ts;
  p.payload = {static_cast<std::uint8_t>(osn >> 8), static_cast<std::uint8_t>(osn)};
  p.payload.insert(p.payload.end(), payload.begin(), payload.end());
  return p;
}

class RouterRtxTest : public RouterTest {
 protected:
  // A publishes one VP8 track (RTX negotiated, FID kQ -> kRtxSsrc); B subscribes with VP8 96 / RTX 97.
  std::optional<OutTrack> setUpCall(bool subscriber_rtx) {
    PublishedTrackInfo t = plainVideoTrack();
    t.rtx_payload_type = kRtxPt;
    t.rtx_ssrcs = {{kQ, kRtxSsrc}};
    router_.setPublishedTracks(kA, {t});
    router_.setSubscriberPayloadType(kB, "video", kVp8Pt);
    if (subscriber_rtx) router_.setSubscriberRtxPayloadType(kB, "video", kRtxPt);
    auto out = router_.subscribe(kB, kA, "a-video", 0, 0, kT0);
    if (!out) return std::nullopt;
    return *out;
  }
  void nack(ParticipantId from, std::uint32_t media_ssrc, const std::vector<std::uint16_t>& seqs,
            TimeMs now) {
    std::vector<std::uint8_t> n(512);
    n.resize(*media::buildRtcpNack(n, 0xB0B, media_ssrc, seqs));
    sendRtcp(from, n, now);
  }
};

TEST_F(RouterRtxTest, OutTracksHaveDistinctRtxSsrcsForVideoOnly) {
  router_.setPublishedTracks(kA, {audioTrack(), plainVideoTrack()});
  auto audio = router_.subscribe(kB, kA, "a-audio", 0, 0, kT0);
  auto video = router_.subscribe(kB, kA, "a-video", 0, 0, kT0);
  ASSERT_TRUE(audio && video);
  EXPECT_EQ(audio->rtx_ssrc, 0u);
  EXPECT_NE(video->rtx_ssrc, 0u);
  EXPECT_NE(video->rtx_ssrc, video->ssrc);
  EXPECT_NE(video->rtx_ssrc, audio->ssrc);
  EXPECT_EQ(router_.outTracks(kB)[1].rtx_ssrc, video->rtx_ssrc);
}

TEST_F(RouterRtxTest, RetransmissionsGoOnTheRtxSsrcWithOsnAndTheirOwnNumbering) {
  const auto out = setUpCall(true);
  ASSERT_TRUE(out);
  for (int i = 0; i < 10; ++i) {
    sendVideo(kQ, "", static_cast<std::uint16_t>(1000 + i), i == 0, static_cast<std::uint16_t>(i),
              kT0 + 10 * i);
  }
  const auto original = sink_.rtpTo(kB);
  ASSERT_EQ(original.size(), 10u);
  sink_.clear();

  nack(kB, out->ssrc, {seqOf(original[3]), seqOf(original[5])}, kT0 + 200);
  const auto resent = sink_.rtpTo(kB);
  ASSERT_EQ(resent.size(), 2u);
  std::optional<std::uint16_t> first_rtx_seq;
  for (std::size_t i = 0; i < resent.size(); ++i) {
    const Sent& orig = original[i == 0 ? 3 : 5];
    const auto v = media::RtpPacketView::parse(resent[i].bytes);
    const auto o = media::RtpPacketView::parse(orig.bytes);
    ASSERT_TRUE(v && o);
    EXPECT_EQ(v->ssrc(), out->rtx_ssrc);
    EXPECT_EQ(v->payloadType(), kRtxPt);
    EXPECT_EQ(v->timestamp(), o->timestamp());
    EXPECT_EQ(v->marker(), o->marker());
    EXPECT_EQ(resent[i].bytes.size(), orig.bytes.size() + 2);
    ASSERT_GE(v->payload().size(), 2u);
    EXPECT_EQ(media::load16(v->payload().data()), o->sequenceNumber());  // OSN
    // Round trip: unwrapping (OSN -> seq, apt -> PT, media SSRC) gives back the packet's exact bytes.
    std::vector<std::uint8_t> unwrapped(resent[i].bytes.begin(), resent[i].bytes.begin() + 12);
    unwrapped[1] = static_cast<std::uint8_t>((unwrapped[1] & 0x80) | kVp8Pt);
    media::store16(unwrapped.data() + 2, media::load16(v->payload().data()));
    media::store32(unwrapped.data() + 8, out->ssrc);
    unwrapped.insert(unwrapped.end(), v->payload().begin() + 2, v->payload().end());
    EXPECT_EQ(unwrapped, orig.bytes);
    if (!first_rtx_seq) {
      first_rtx_seq = v->sequenceNumber();
    } else {
      EXPECT_EQ(v->sequenceNumber(), static_cast<std::uint16_t>(*first_rtx_seq + 1));  // its own numbering
    }
  }
  EXPECT_EQ(router_.stats().nacks_answered, 2u);
  EXPECT_EQ(router_.stats().rtx_sent, 2u);
  EXPECT_EQ(statsOf(kB, out->ssrc).rtx_sent, 2u);
  EXPECT_EQ(statsOf(kB, out->ssrc).packets_retransmitted, 2u);

  // The media numbering does not see the retransmissions; the RTX numbering goes on from where it was.
  sink_.clear();
  sendVideo(kQ, "", 1010, false, 10, kT0 + 300);
  ASSERT_EQ(sink_.rtpTo(kB).size(), 1u);
  EXPECT_EQ(seqOf(sink_.rtpTo(kB)[0]), static_cast<std::uint16_t>(seqOf(original[9]) + 1));
  sink_.clear();
  nack(kB, out->ssrc, {seqOf(original[7])}, kT0 + 400);
  ASSERT_EQ(sink_.rtpTo(kB).size(), 1u);
  EXPECT_EQ(seqOf(sink_.rtpTo(kB)[0]), static_cast<std::uint16_t>(*first_rtx_seq + 2));
}

TEST_F(RouterRtxTest, SubscriberWithoutRtxGetsResendsOnTheMediaSsrc) {
  const auto out = setUpCall(false);
  ASSERT_TRUE(out);
  for (int i = 0; i < 5; ++i) {
    sendVideo(kQ, "", static_cast<std::uint16_t>(1 + i), i == 0, static_cast<std::uint16_t>(i), kT0 + 10 * i);
  }
  const auto original = sink_.rtpTo(kB);
  sink_.clear();
  nack(kB, out->ssrc, {seqOf(original[2])}, kT0 + 100);
  ASSERT_EQ(sink_.rtpTo(kB).size(), 1u);
  EXPECT_EQ(sink_.rtpTo(kB)[0].bytes, original[2].bytes);
  // RTX accepted, then refused by a later description: back to the media SSRC.
  router_.setSubscriberRtxPayloadType(kB, "video", kRtxPt);
  router_.setSubscriberRtxPayloadType(kB, "video", 0);
  sink_.clear();
  nack(kB, out->ssrc, {seqOf(original[3])}, kT0 + 200);
  ASSERT_EQ(sink_.rtpTo(kB).size(), 1u);
  EXPECT_EQ(sink_.rtpTo(kB)[0].bytes, original[3].bytes);
  EXPECT_EQ(router_.stats().rtx_sent, 0u);
  EXPECT_EQ(router_.stats().nacks_answered, 2u);
}

TEST_F(RouterRtxTest, RtxPacketsAreStampedWithTransportWideSequenceNumbers) {
  constexpr std::uint8_t kTcc = 5;
  const auto out = setUpCall(true);
  ASSERT_TRUE(out);
  router_.setSubscriberTransportCc(kB, kTcc);
  for (int i = 0; i < 4; ++i) {
    sendVideo(kQ, "", static_cast<std::uint16_t>(1 + i), i == 0, static_cast<std::uint16_t>(i), kT0 + 10 * i);
  }
  const auto original = sink_.rtpTo(kB);
  ASSERT_EQ(original.size(), 4u);
  const auto last = media::readTransportWideSeq(*media::RtpPacketView::parse(original[3].bytes), kTcc);
  ASSERT_TRUE(last);
  sink_.clear();
  const auto osn = media::RtpPacketView::parse(original[1].bytes)->sequenceNumber();
  nack(kB, out->ssrc, {osn}, kT0 + 100);
  const auto resent = sink_.rtpTo(kB);
  ASSERT_EQ(resent.size(), 1u);
  const auto v = media::RtpPacketView::parse(resent[0].bytes);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->ssrc(), out->rtx_ssrc);
  EXPECT_EQ(media::readTransportWideSeq(*v, kTcc), static_cast<std::uint16_t>(*last + 1));
  ASSERT_GE(v->payload().size(), 2u);
  EXPECT_EQ(media::load16(v->payload().data()), osn);
}

TEST_F(RouterRtxTest, PublisherRtxIsUnwrappedIntoTheMissingPacket) {
  const auto out = setUpCall(false);
  ASSERT_TRUE(out);
  sendVideo(kQ, "", 1, true, 1, kT0);
  sendVideo(kQ, "", 2, false, 2, kT0 + 10);
  sendVideo(kQ, "", 4, false, 4, kT0 + 30);  // 3 is lost: NACKed upstream
  EXPECT_EQ(router_.stats().upstream_nacks_sent, 1u);
  ASSERT_EQ(sink_.rtpTo(kB).size(), 3u);
  const auto before = sink_.rtpTo(kB);
  sink_.clear();

  // The repair, on the FID SSRC (no mid), in the RTX stream's own numbering.
  const Pkt repair = rtxPacket(kRtxSsrc, 5000, 3, vp8(false, 3), 3 * 3000);
  send(kA, repair, kT0 + 60);
  EXPECT_EQ(router_.stats().rtx_received, 1u);
  EXPECT_EQ(router_.stats().rtx_unwrapped, 1u);
  EXPECT_EQ(router_.stats().upstream_recovered, 1u);
  const auto got = sink_.rtpTo(kB);
  ASSERT_EQ(got.size(), 1u);
  const auto v = media::RtpPacketView::parse(got[0].bytes);
  ASSERT_TRUE(v);
  // In B's numbering between 2 and 4, in B's media SSRC and VP8 payload type, the original payload.
  EXPECT_EQ(v->sequenceNumber(), static_cast<std::uint16_t>(seqOf(before[1]) + 1));
  EXPECT_EQ(static_cast<std::uint16_t>(v->sequenceNumber() + 1), seqOf(before[2]));
  EXPECT_EQ(v->ssrc(), out->ssrc);
  EXPECT_EQ(v->payloadType(), kVp8Pt);
  EXPECT_EQ(v->timestamp() - media::RtpPacketView::parse(before[1].bytes)->timestamp(), 3000u);
  const auto payload = vp8(false, 3);
  ASSERT_EQ(v->payload().size(), payload.size());
  // (the VP8 descriptor's picture id is rewritten per subscriber; the frame data is not)
  EXPECT_TRUE(std::equal(payload.begin() + 5, payload.end(), v->payload().begin() + 5));

  // The same repair again (or a probe resending old payload): nobody waits for it.
  sink_.clear();
  send(kA, rtxPacket(kRtxSsrc, 5001, 3, vp8(false, 3), 3 * 3000), kT0 + 70);
  send(kA, rtxPacket(kRtxSsrc, 5002, 1, vp8(true, 1), 3000), kT0 + 71);
  EXPECT_TRUE(sink_.rtpTo(kB).empty());
  EXPECT_EQ(router_.stats().rtx_redundant_dropped, 2u);
  EXPECT_EQ(router_.stats().rtx_unwrapped, 1u);
}

// Issue #12: a loaded publisher answered the focus's NACK ~150 ms late, 4 ms after the focus had used up its
// three tries; the repair was dropped as a resent payload nobody needed while the subscriber NACKed that
// packet for 3 s. A repair of a packet given up on is still forwarded (and counted as recovered).
TEST_F(RouterRtxTest, PublisherRtxAfterTheFocusGaveUpIsStillForwarded) {
  const auto out = setUpCall(false);
  ASSERT_TRUE(out);
  sendVideo(kQ, "", 1, true, 1, kT0);
  sendVideo(kQ, "", 2, false, 2, kT0 + 10);
  sendVideo(kQ, "", 4, false, 4, kT0 + 30);  // 3 is lost: NACKed upstream
  for (TimeMs t = kT0 + 50; t <= kT0 + 400; t += 50) router_.tick(t);
  EXPECT_EQ(router_.stats().upstream_nacks_sent, 3u);
  EXPECT_EQ(router_.stats().upstream_given_up, 1u);
  sink_.clear();

  send(kA, rtxPacket(kRtxSsrc, 5000, 3, vp8(false, 3), 3 * 3000), kT0 + 410);  // the late repair
  EXPECT_EQ(router_.stats().rtx_redundant_dropped, 0u);
  EXPECT_EQ(router_.stats().rtx_unwrapped, 1u);
  EXPECT_EQ(router_.stats().upstream_recovered, 1u);
  const auto got = sink_.rtpTo(kB);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(media::RtpPacketView::parse(got[0].bytes)->ssrc(), out->ssrc);

  // A second copy of it is not needed any more.
  sink_.clear();
  send(kA, rtxPacket(kRtxSsrc, 5001, 3, vp8(false, 3), 3 * 3000), kT0 + 420);
  EXPECT_TRUE(sink_.rtpTo(kB).empty());
  EXPECT_EQ(router_.stats().rtx_redundant_dropped, 1u);
}

TEST_F(RouterRtxTest, PaddingOnlyAndMalformedRtxAreDroppedAndCounted) {
  const auto out = setUpCall(false);
  ASSERT_TRUE(out);
  sendVideo(kQ, "", 1, true, 1, kT0);
  sink_.clear();
  Pkt probe;  // libwebrtc's RTX padding: no payload (not even an OSN), padding only
  probe.ssrc = kRtxSsrc;
  probe.pt = kRtxPt;
  probe.seq = 10;
  probe.payload = {};
  probe.padding = 200;
  send(kA, probe, kT0 + 5);
  Pkt short_rtx = probe;  // one byte: no room for the OSN
  short_rtx.seq = 11;
  short_rtx.padding = 0;
  short_rtx.payload = {0x01};
  send(kA, short_rtx, kT0 + 6);
  Pkt covered = probe;  // the padding covers half of the OSN
  covered.seq = 12;
  covered.payload = {0x00};
  covered.padding = 3;
  send(kA, covered, kT0 + 7);
  // Padding-only RTX before the media stream was ever seen (a probe at the start): counted too.
  Pkt early = probe;
  early.ssrc = 999;
  early.mid = "1";
  send(kA, early, kT0 + 8);

  EXPECT_TRUE(sink_.rtpTo(kB).empty());
  EXPECT_EQ(router_.stats().rtx_padding_dropped, 2u);
  EXPECT_EQ(router_.stats().rtx_unwrapped, 0u);
  EXPECT_EQ(router_.stats().rtx_malformed, 2u);
  EXPECT_EQ(router_.stats().rtx_received, 4u);
  // The media stream is unaffected.
  sendVideo(kQ, "", 2, false, 2, kT0 + 20);
  EXPECT_EQ(sink_.rtpTo(kB).size(), 1u);
}

TEST_F(RouterRtxTest, SimulcastRtxIsMappedByRepairedRidAndRemembered) {
  PublishedTrackInfo t = simulcastTrack();
  t.rtx_payload_type = kRtxPt;
  router_.setPublishedTracks(kA, {t});
  auto out = router_.subscribe(kB, kA, "a-video", 320, 180, kT0);  // the low layer
  ASSERT_TRUE(out);
  sendVideo(kQ, "q", 1, true, 1, kT0);
  sendVideo(kH, "h", 1, true, 1, kT0);
  sendVideo(kQ, "q", 3, false, 3, kT0 + 20);  // q's 2 is lost
  ASSERT_EQ(sink_.rtpTo(kB).size(), 2u);
  sink_.clear();

  Pkt h_repair = rtxPacket(9002, 1, 7, vp8(false, 7), 0);  // a repair of h's: B does not receive h
  h_repair.mid = "1";
  auto bytes = rtp(h_repair);
  InboundRtp hi{.mid = "1", .rid = ""};
  hi.repaired_rid = "h";
  router_.onRtp(kA, hi, bytes, kT0 + 30);
  EXPECT_TRUE(sink_.rtpTo(kB).empty());

  Pkt q_repair = rtxPacket(9001, 1, 2, vp8(false, 2), 2 * 3000);
  q_repair.mid = "1";
  bytes = rtp(q_repair);
  InboundRtp qi{.mid = "1", .rid = ""};
  qi.repaired_rid = "q";
  router_.onRtp(kA, qi, bytes, kT0 + 31);
  ASSERT_EQ(sink_.rtpTo(kB).size(), 1u);
  EXPECT_EQ(router_.stats().upstream_recovered, 1u);

  // Later RTX packets of 9001 carry no mid/rid (libwebrtc stops sending them): the pair is remembered.
  sendVideo(kQ, "", 5, false, 5, kT0 + 40);  // q's 4 is lost
  sink_.clear();
  Pkt later = rtxPacket(9001, 2, 4, vp8(false, 4), 4 * 3000);
  send(kA, later, kT0 + 50);
  ASSERT_EQ(sink_.rtpTo(kB).size(), 1u);
  EXPECT_EQ(media::RtpPacketView::parse(sink_.rtpTo(kB)[0].bytes)->ssrc(), out->ssrc);
  EXPECT_EQ(router_.stats().rtx_unwrapped, 3u);
}

TEST_F(RouterRtxTest, UnknownRtxSsrcsAreBounded) {
  // Without a FID pair and with the media stream known, each RTX SSRC on the mid is learnt, up to
  // max_ssrcs_per_publisher (64 in the test config).
  PublishedTrackInfo t = plainVideoTrack();
  t.rtx_payload_type = kRtxPt;
  router_.setPublishedTracks(kA, {t});
  ASSERT_TRUE(router_.subscribe(kB, kA, "a-video", 0, 0, kT0));
  sendVideo(kQ, "", 1, true, 1, kT0);
  for (std::uint32_t i = 0; i < 100; ++i) {
    Pkt p = rtxPacket(5000 + i, 1, 1, vp8(false, 1), 0);
    p.mid = "1";
    send(kA, p, kT0 + 1);
  }
  EXPECT_EQ(router_.stats().rtx_received, 100u);
  EXPECT_EQ(router_.stats().rtx_redundant_dropped, 64u);  // mapped, then found redundant
  EXPECT_EQ(router_.stats().drops.get(RouterDrop::TooManySsrcs), 36u);
}

}  // namespace
}  // namespace chorus::focus
