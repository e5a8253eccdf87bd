#include "endpoint/media_event.hpp"

#include <gtest/gtest.h>

namespace chorus::endpoint {
namespace {

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
