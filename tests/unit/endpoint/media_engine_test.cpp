// MediaEngine tests that open no connection (safe outside a network namespace).
#include "endpoint/media_engine.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include "endpoint/event_queue.hpp"

namespace chorus::endpoint {
namespace {

TEST(EventQueue, WakeupFdFollowsContents) {
  EventQueue q;
  pollfd pfd{q.fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 0), 0);
  q.push(GatheringComplete{1});
  q.push(NegotiationNeeded{2});
  EXPECT_EQ(::poll(&pfd, 1, 0), 1);
  EXPECT_TRUE(q.wait(std::chrono::milliseconds(0)));
  auto events = q.drain();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<GatheringComplete>(events[0]));
  EXPECT_EQ(legOf(events[1]), 2u);
  EXPECT_EQ(::poll(&pfd, 1, 0), 0);
  EXPECT_FALSE(q.wait(std::chrono::milliseconds(1)));
}

TEST(MediaEngine, StreamIdsAreStableAndDistinct) {
  auto engine = MediaEngine::create(MediaConfig{});
  ASSERT_TRUE(engine) << engine.error().message;
  const std::string um = (*engine)->localStreamId(StreamPurpose::UserMedia);
  const std::string ss = (*engine)->localStreamId(StreamPurpose::ScreenShare);
  EXPECT_EQ(um.size(), 36u);
  EXPECT_NE(um, ss);
  EXPECT_EQ(um, (*engine)->localStreamId(StreamPurpose::UserMedia));
  auto other = MediaEngine::create(MediaConfig{});
  ASSERT_TRUE(other);
  EXPECT_NE(um, (*other)->localStreamId(StreamPurpose::UserMedia));
}

TEST(MediaEngine, CommandsOnUnknownLegsReportErrors) {
  auto created = MediaEngine::create(MediaConfig{});
  ASSERT_TRUE(created);
  auto& engine = **created;
  engine.createOffer(42);
  engine.addRemoteCandidate(42, "");
  engine.closeLeg(42);  // ignored
  engine.flush();
  auto events = engine.poll();
  ASSERT_EQ(events.size(), 2u);
  for (const auto& ev : events) {
    ASSERT_TRUE(std::holds_alternative<LegError>(ev)) << describe(ev);
    EXPECT_EQ(legOf(ev), 42u);
  }
  auto stats = engine.stats(42);
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error().code, Code::NotFound);
}

TEST(MediaEngine, RejectsMissingSourceFile) {
  MediaConfig config;
  config.video_source = "/nonexistent/clip.webm";
  // The file is only opened once the pipeline starts; creation itself succeeds and builds a decodebin chain.
  auto engine = MediaEngine::create(config);
  ASSERT_TRUE(engine) << engine.error().message;
  MediaConfig bad;
  bad.width = 0;
  auto rejected = MediaEngine::create(bad);
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.error().code, Code::InvalidArgument);
}

TEST(MediaEngine, VideoLabelIsDrawnOnTheTestPatternOnly) {
  MediaConfig config;
  config.video_label = "@alice:localhost";
  auto labelled = MediaEngine::create(config);
  ASSERT_TRUE(labelled) << labelled.error().message;
  // The textoverlay is in the usermedia video chain, with the text.
  EXPECT_EQ((*labelled)->videoLabel(), "@alice:localhost");

  auto plain = MediaEngine::create(MediaConfig{});
  ASSERT_TRUE(plain);
  EXPECT_EQ((*plain)->videoLabel(), "");

  config.video_source = "/nonexistent/clip.webm";  // a file is shown as it is
  auto file = MediaEngine::create(config);
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ((*file)->videoLabel(), "");
}

}  // namespace
}  // namespace chorus::endpoint
