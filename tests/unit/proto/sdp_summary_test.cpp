#include "proto/sdp_summary.hpp"

#include <gtest/gtest.h>

namespace chorus::proto {
namespace {

// Shaped like Chromium's offer for a MediaStream with audio + video (abbreviated).
const char* kBrowserOffer =
    "v=0\r\n"
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0 1\r\n"
    "a=ice-ufrag:sess\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:QBkQ\r\n"
    "a=mid:0\r\n"
    "a=sendrecv\r\n"
    "a=msid:{f3c1a2b4-1111} {track-a}\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 100 101\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:1\r\n"
    "a=recvonly\r\n"
    "a=rtpmap:100 VP8/90000\r\n"
    "a=rtpmap:101 rtx/90000\r\n"
    "a=ssrc:1234 msid:{f3c1a2b4-1111} {track-v}\r\n";

TEST(SdpSummary, ReadsMidsStreamIdsAndPayloadTypes) {
  auto info = summarizeSdp(kBrowserOffer);
  ASSERT_TRUE(info) << info.error().message;
  ASSERT_EQ(info->media.size(), 2u);
  const auto& a = info->media[0];
  EXPECT_EQ(a.media, "audio");
  EXPECT_EQ(a.mid, "0");
  EXPECT_EQ(a.stream_id, "{f3c1a2b4-1111}");
  EXPECT_EQ(a.direction, "sendrecv");
  EXPECT_EQ(a.ice_ufrag, "QBkQ");
  EXPECT_EQ(a.payload_types.at("OPUS"), 111);
  EXPECT_EQ(a.payload_types.at("PCMU"), 0);
  const auto& v = info->media[1];
  EXPECT_EQ(v.mid, "1");
  EXPECT_EQ(v.stream_id, "{f3c1a2b4-1111}");  // from a=ssrc ... msid:
  EXPECT_EQ(v.direction, "recvonly");
  EXPECT_EQ(v.ice_ufrag, "sess");  // session-level fallback
  EXPECT_EQ(v.payload_types.at("VP8"), 100);
  EXPECT_EQ(info->mlineIndexOfMid("1"), 1u);
  EXPECT_FALSE(info->mlineIndexOfMid("7"));
  EXPECT_EQ(info->midOfMlineIndex(0), "0");
  EXPECT_FALSE(info->midOfMlineIndex(2));
}

TEST(SdpSummary, TrackWithoutStreamHasNoStreamId) {
  std::string sdp =
      "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\r\na=msid:- trackid\r\na=rtpmap:111 OPUS/48000/2\r\n";
  auto info = summarizeSdp(sdp);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->media[0].stream_id, "");
}

// The focus names each forwarded track's SSRC; the engine maps incoming streams by it (webrtcbin may not).
TEST(SdpSummary, MapsSsrcsToTheirSection) {
  auto info = summarizeSdp(std::string(kBrowserOffer) +
                           "a=ssrc:1234 cname:x\r\n"
                           "a=ssrc:5678 cname:x\r\n"
                           "a=ssrc-group:FID 1234 5678\r\n"
                           "a=ssrc:junk cname:x\r\n"
                           "a=ssrc:99999999999 cname:x\r\n");
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_TRUE(info->media[0].ssrcs.empty());
  EXPECT_EQ(info->media[1].ssrcs,
            (std::vector<std::uint32_t>{1234, 5678}));  // distinct, junk and >32 bits skipped
  EXPECT_EQ(info->mlineIndexOfSsrc(5678), 1u);
  EXPECT_FALSE(info->mlineIndexOfSsrc(42).has_value());
}

TEST(SdpSummary, BoundsSsrcsPerSection) {
  std::string sdp = kBrowserOffer;
  for (int i = 0; i < 100; ++i) sdp += "a=ssrc:" + std::to_string(10000 + i) + " cname:x\r\n";
  auto info = summarizeSdp(sdp);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->media[1].ssrcs.size(), SdpMedia::kMaxSsrcsPerMedia);
}

TEST(SdpSummary, RejectsGarbage) {
  EXPECT_FALSE(summarizeSdp("hello"));
  EXPECT_FALSE(summarizeSdp("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"));
}

TEST(SdpSummary, ReadsPortsTrackIdsAndSessionUfragWithoutCarriageReturns) {
  auto info = summarizeSdp(
      "v=0\na=ice-ufrag:S\nm=audio 0 RTP/AVP 0\na=msid:st tr\nm=application 9/2 DTLS/SCTP 5000\n"
      "a=mid:d\na=ice-ufrag:  M  \n");
  ASSERT_TRUE(info) << info.error().message;
  ASSERT_EQ(info->media.size(), 2u);
  EXPECT_EQ(info->media[0].port, 0u);
  EXPECT_EQ(info->media[0].stream_id, "st");
  EXPECT_EQ(info->media[0].track_id, "tr");
  EXPECT_EQ(info->media[0].ice_ufrag, "S");
  EXPECT_TRUE(info->media[0].sends());
  EXPECT_EQ(info->media[1].media, "application");
  EXPECT_EQ(info->media[1].port, 9u);
  EXPECT_EQ(info->media[1].ice_ufrag, "M");
}

// webrtcbin's max-bundle offer gives every section but the first port 0 with a=bundle-only; those are live.
// A rejected section has port 0 and has left the BUNDLE group (the focus's answer when a publisher leaves).
TEST(SdpSummary, APortZeroSectionIsRejectedOnlyOutsideTheBundle) {
  auto info = summarizeSdp(
      "v=0\r\na=group:BUNDLE  audio0 video1   video2\r\na=group:LS video3\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:audio0\r\n"
      "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=bundle-only\r\na=mid:video1\r\n"
      "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:video2\r\na=recvonly\r\n"
      "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:video3\r\n"
      "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:video4\r\na=bundle-only\r\n");
  ASSERT_TRUE(info) << info.error().message;
  ASSERT_EQ(info->media.size(), 5u);
  EXPECT_FALSE(info->media[0].rejected());
  EXPECT_TRUE(info->media[0].bundled);
  EXPECT_TRUE(info->media[1].bundle_only);
  EXPECT_FALSE(info->media[1].rejected());
  EXPECT_TRUE(info->media[2].bundled);
  EXPECT_FALSE(info->media[2].rejected());  // bundled; recvonly is a matter of direction, not rejection
  EXPECT_FALSE(info->media[3].bundled);     // an LS group is not a bundle
  EXPECT_TRUE(info->media[3].rejected());
  EXPECT_FALSE(info->media[4].rejected());
  // Without any group, port 0 rejects.
  auto plain = summarizeSdp("v=0\r\nm=audio 0 RTP/AVP 0\r\na=mid:a\r\n");
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->media[0].rejected());
}

// Hostile descriptions (a peer's offer): bounded sections, payload types and field lengths; no crash on
// truncated lines.
TEST(SdpSummary, BoundsWhatAPeerCanMakeItKeep) {
  std::string sdp = "v=0\r\n";
  for (std::size_t i = 0; i < SdpSummary::kMaxMedia + 50; ++i) {
    sdp += "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:" + std::to_string(i) + "\r\n";
  }
  for (int pt = 0; pt < 200; ++pt)
    sdp += "a=rtpmap:" + std::to_string(pt) + " X" + std::to_string(pt) + "/90000\r\n";
  sdp += "a=msid:" + std::string(100000, 's') + " t\r\n";
  auto info = summarizeSdp(sdp);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->media.size(), SdpSummary::kMaxMedia);
  for (const char* junk :
       {"m=", "a=", "a=rtpmap:", "a=rtpmap:96", "a=ssrc:", "a=msid:", "m=audio", "m=audio x"}) {
    auto r = summarizeSdp(std::string("v=0\r\nm=audio 9 RTP/AVP 0\r\n") + junk);
    EXPECT_TRUE(r) << junk;
  }
  auto last = summarizeSdp("v=0\r\nm=video 9 X 96\r\n" + [] {
    std::string s;
    for (int pt = 0; pt < 200; ++pt)
      s += "a=rtpmap:" + std::to_string(pt) + " X" + std::to_string(pt) + "/1\r\n";
    return s + "a=msid:" + std::string(100000, 's') + " t\r\n";
  }());
  ASSERT_TRUE(last);
  EXPECT_EQ(last->media[0].payload_types.size(), SdpMedia::kMaxPayloadTypes);
  EXPECT_LE(last->media[0].stream_id.size(), 256u);
}

}  // namespace
}  // namespace chorus::proto
