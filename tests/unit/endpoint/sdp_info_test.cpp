#include "endpoint/sdp_info.hpp"

#include <gtest/gtest.h>

#include "endpoint/media_event.hpp"

namespace chorus::endpoint {
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

TEST(SdpInfo, ReadsMidsStreamIdsAndPayloadTypes) {
  auto info = parseSdpInfo(kBrowserOffer);
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

TEST(SdpInfo, TrackWithoutStreamHasNoStreamId) {
  std::string sdp =
      "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\r\na=msid:- trackid\r\na=rtpmap:111 OPUS/48000/2\r\n";
  auto info = parseSdpInfo(sdp);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->media[0].stream_id, "");
}

// The focus names each forwarded track's SSRC; the engine maps incoming streams by it (webrtcbin may not).
TEST(SdpInfo, MapsSsrcsToTheirSection) {
  auto info = parseSdpInfo(std::string(kBrowserOffer) +
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

TEST(SdpInfo, BoundsSsrcsPerSection) {
  std::string sdp = kBrowserOffer;
  for (int i = 0; i < 100; ++i) sdp += "a=ssrc:" + std::to_string(10000 + i) + " cname:x\r\n";
  auto info = parseSdpInfo(sdp);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->media[1].ssrcs.size(), SdpMediaInfo::kMaxSsrcsPerMedia);
}

TEST(SdpInfo, RejectsGarbage) {
  EXPECT_FALSE(parseSdpInfo("hello"));
  EXPECT_FALSE(parseSdpInfo("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"));
}

TEST(MediaEvent, NamesAndDescribe) {
  EXPECT_EQ(parseSdpType("offer"), SdpType::Offer);
  EXPECT_EQ(parseSdpType("answer"), SdpType::Answer);
  EXPECT_FALSE(parseSdpType("pranswer"));
  EXPECT_EQ(toString(StreamPurpose::ScreenShare), "m.screenshare");
  EXPECT_EQ(toString(ConnectionState::Disconnected), "disconnected");
  MediaEvent ev = RemoteStream{7, "s", MediaKind::Video, "1"};
  EXPECT_EQ(legOf(ev), 7u);
  EXPECT_EQ(describe(ev), "leg 7: RemoteStream video stream=s mid=1");
  EXPECT_EQ(describe(LocalCandidate{3, "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "0", 0}),
            "leg 3: LocalCandidate mid=0 idx=0 candidate:1 1 udp 1 127.0.0.1 5000 typ host");
}

}  // namespace
}  // namespace chorus::endpoint
