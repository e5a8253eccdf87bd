#include "media/cc/transport_cc_feedback_generator.hpp"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace chorus::media::cc {
namespace {

struct Decoded {
  TransportCcFeedback fb;
  std::vector<TransportCcPacketStatus> statuses;
  std::vector<TimeUs> arrivals;  // reconstructed, per status (0 when lost)
  std::size_t size{0};
};

class GeneratorTest : public ::testing::Test {
 protected:
  std::vector<Decoded> drain(TransportCcFeedbackGenerator& gen) {
    std::vector<Decoded> out;
    for (int guard = 0; guard < 10000; ++guard) {
      auto n = gen.nextFeedback(buf_);
      if (!n) break;
      buffers_.emplace_back(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(*n));
      RtcpCompoundReader reader(buffers_.back());
      auto p = reader.next();
      EXPECT_TRUE(p);
      auto fb = TransportCcFeedback::parse(*p);
      EXPECT_TRUE(fb);
      if (!fb) break;
      Decoded d{*fb, {}, {}, *n};
      TimeUs t = fb->referenceTimeUs();
      auto it = fb->packets();
      while (auto s = it.next()) {
        d.statuses.push_back(*s);
        if (s->received) t += s->delta_ticks * kTccDeltaTickUs;
        d.arrivals.push_back(s->received ? t : 0);
      }
      out.push_back(std::move(d));
    }
    return out;
  }
  std::vector<std::uint8_t> buf_ = std::vector<std::uint8_t>(1500);
  std::vector<std::vector<std::uint8_t>> buffers_;
};

TEST_F(GeneratorTest, InOrderArrivalsComeBackWithin250us) {
  TransportCcFeedbackGenerator gen({.sender_ssrc = 5, .media_ssrc = 6});
  const TimeUs t0 = 987'654'321;
  for (std::uint16_t s = 0; s < 100; ++s) gen.onPacket(s, t0 + s * 1300 + (s % 3) * 77);
  auto fbs = drain(gen);
  ASSERT_EQ(fbs.size(), 1u);
  const auto& d = fbs[0];
  EXPECT_EQ(d.fb.sender_ssrc, 5u);
  EXPECT_EQ(d.fb.media_ssrc, 6u);
  EXPECT_EQ(d.fb.base_seq, 0);
  ASSERT_EQ(d.statuses.size(), 100u);
  for (std::uint16_t s = 0; s < 100; ++s) {
    EXPECT_TRUE(d.statuses[s].received);
    const TimeUs truth = t0 + s * 1300 + (s % 3) * 77;
    EXPECT_LE(d.arrivals[s], truth);
    EXPECT_GT(d.arrivals[s], truth - 250);
  }
  EXPECT_FALSE(gen.nextFeedback(buf_));  // nothing left
  EXPECT_FALSE(gen.hasPending());
  // The next feedback continues where this one stopped, with the next packet count.
  gen.onPacket(100, t0 + 200'000);
  auto next = drain(gen);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].fb.base_seq, 100);
  EXPECT_EQ(next[0].fb.feedback_count, static_cast<std::uint8_t>(d.fb.feedback_count + 1));
}

TEST_F(GeneratorTest, GapsAreLossesAndTrailingLossesWait) {
  TransportCcFeedbackGenerator gen;
  for (std::uint16_t s = 0; s < 10; ++s) gen.onPacket(s, 1000 * s);
  for (std::uint16_t s = 15; s < 20; ++s) gen.onPacket(s, 1000 * s);
  auto fbs = drain(gen);
  ASSERT_EQ(fbs.size(), 1u);
  ASSERT_EQ(fbs[0].statuses.size(), 20u);
  for (std::uint16_t s = 0; s < 20; ++s) EXPECT_EQ(fbs[0].statuses[s].received, s < 10 || s >= 15) << s;
  // 20..24 lost at the end are not reported until something after them arrives.
  gen.onPacket(25, 25'000);
  fbs = drain(gen);
  ASSERT_EQ(fbs.size(), 1u);
  EXPECT_EQ(fbs[0].fb.base_seq, 20);
  ASSERT_EQ(fbs[0].statuses.size(), 6u);
  EXPECT_FALSE(fbs[0].statuses[0].received);
  EXPECT_TRUE(fbs[0].statuses[5].received);
}

TEST_F(GeneratorTest, LateArrivalIsReportedAgainAsReceived) {
  TransportCcFeedbackGenerator gen;
  for (std::uint16_t s = 0; s < 10; ++s) {
    if (s != 5) gen.onPacket(s, 1000 * s);
  }
  auto fbs = drain(gen);
  ASSERT_EQ(fbs.size(), 1u);
  EXPECT_FALSE(fbs[0].statuses[5].received);
  gen.onPacket(5, 12'000);  // arrives after its feedback went out
  gen.onPacket(10, 13'000);
  fbs = drain(gen);
  ASSERT_EQ(fbs.size(), 1u);
  EXPECT_EQ(fbs[0].fb.base_seq, 5);
  ASSERT_EQ(fbs[0].statuses.size(), 6u);
  for (const auto& s : fbs[0].statuses) EXPECT_TRUE(s.received);
  // Arrival order differs from sequence order: seq 5 arrived after 9, so the delta to 6 is negative.
  EXPECT_LT(fbs[0].arrivals[1], fbs[0].arrivals[0]);
  EXPECT_EQ(gen.counters().rereported, 1u);
  // A duplicate is ignored; one far behind the start is too late.
  gen.onPacket(10, 14'000);
  EXPECT_EQ(gen.counters().duplicates, 1u);
  for (std::uint16_t s = 11; s < 1000; ++s) {
    if (s != 300) gen.onPacket(s, 1000 * s);
  }
  drain(gen);
  gen.onPacket(300, 2'000'000);  // 700 behind the start (max_reorder 512)
  EXPECT_EQ(gen.counters().too_late, 1u);
  EXPECT_FALSE(gen.hasPending());
}

TEST_F(GeneratorTest, WrapsAroundSeamlessly) {
  TransportCcFeedbackGenerator gen;
  std::uint16_t s = 65530;
  for (int i = 0; i < 17; ++i, ++s) gen.onPacket(s, 500 * i);
  auto fbs = drain(gen);
  ASSERT_EQ(fbs.size(), 1u);
  EXPECT_EQ(fbs[0].fb.base_seq, 65530);
  ASSERT_EQ(fbs[0].statuses.size(), 17u);
  EXPECT_EQ(fbs[0].statuses.back().seq, 10);
  for (const auto& st : fbs[0].statuses) EXPECT_TRUE(st.received);
}

TEST_F(GeneratorTest, SizeAndCountBoundsSplitFeedbackWithoutLosingAnything) {
  TransportCcFeedbackGenerator gen({.max_feedback_bytes = 200, .max_status_count = 100});
  std::map<std::uint16_t, int> seen;
  TimeUs t = 0;
  for (std::uint16_t s = 0; s < 2000; ++s) {
    t += (s % 2 == 0) ? 100'000 : 10;  // alternate large and tiny gaps: many 2-byte deltas
    if (s % 7 != 3) gen.onPacket(s, t);
  }
  auto fbs = drain(gen);
  ASSERT_GT(fbs.size(), 10u);
  std::uint16_t expect_base = 0;
  for (const auto& d : fbs) {
    EXPECT_LE(d.size, 200u);
    EXPECT_LE(d.statuses.size(), 100u);
    EXPECT_EQ(d.fb.base_seq, expect_base);  // contiguous, in order
    expect_base = static_cast<std::uint16_t>(d.fb.base_seq + d.statuses.size());
    for (const auto& st : d.statuses) ++seen[st.seq];
    EXPECT_TRUE(d.statuses.back().received);
  }
  EXPECT_EQ(seen.size(), 2000u);
  for (const auto& [seq, n] : seen) EXPECT_EQ(n, 1) << seq;
}

TEST_F(GeneratorTest, LongGapIsSkippedNotReportedAsLoss) {
  TransportCcFeedbackGenerator gen({.max_status_count = 256, .max_tracked = 1024});
  gen.onPacket(0, 0);
  drain(gen);
  gen.onPacket(5000, 10'000);  // a jump (sender restart)
  auto fbs = drain(gen);
  ASSERT_EQ(fbs.size(), 1u);
  EXPECT_EQ(fbs[0].fb.base_seq, 5000);
  EXPECT_EQ(fbs[0].statuses.size(), 1u);
  EXPECT_EQ(gen.counters().gap_skipped, 4999u);
}

TEST_F(GeneratorTest, ArrivalGapsBeyondADeltaStartANewFeedback) {
  TransportCcFeedbackGenerator gen;
  gen.onPacket(0, 0);
  gen.onPacket(1, 10'000'000);  // 10 s later: more than a 16-bit delta of 250 µs
  auto fbs = drain(gen);
  ASSERT_EQ(fbs.size(), 2u);
  EXPECT_EQ(fbs[1].fb.base_seq, 1);
  EXPECT_LE(fbs[1].arrivals[0], 10'000'000);
  EXPECT_GT(fbs[1].arrivals[0], 10'000'000 - 250);
}

}  // namespace
}  // namespace chorus::media::cc
