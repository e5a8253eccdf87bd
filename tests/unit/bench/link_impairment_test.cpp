#include "bench/net/link_impairment.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace chorus::bench {
namespace {

constexpr TimeUs kMs = 1000;
constexpr TimeUs kS = 1'000'000;

TEST(LinkImpairment, UnimpairedDeliversAtOnce) {
  LinkImpairment link;
  for (TimeUs t = 0; t < 100 * kMs; t += kMs) EXPECT_EQ(link.offer(1200, t), t);
  EXPECT_EQ(link.counters().offered, 100u);
  EXPECT_EQ(link.counters().delivered, 100u);
  EXPECT_EQ(link.counters().bytes_delivered, 120'000u);
}

TEST(LinkImpairment, DelayAddsToEveryDatagram) {
  ImpairmentParams p;
  p.delay_us = 75 * kMs;
  LinkImpairment link(p);
  EXPECT_EQ(link.offer(100, 5 * kMs), 80 * kMs);
  EXPECT_EQ(link.offer(100, 6 * kMs), 81 * kMs);
}

TEST(LinkImpairment, RateCapServesAtTheRateAndQueues) {
  ImpairmentParams p;
  p.rate_bps = 1'000'000;
  p.max_queue_us = 10 * kS;  // no drops here
  LinkImpairment link(p);
  // (972 + 28) bytes at 1 Mbit/s take 8 ms on the bottleneck; back to back they queue.
  EXPECT_EQ(link.offer(972, 0), 8 * kMs);
  EXPECT_EQ(link.offer(972, 0), 16 * kMs);
  EXPECT_EQ(link.offer(972, 1 * kMs), 24 * kMs);
  // An idle link serves the next one at once.
  EXPECT_EQ(link.offer(972, 100 * kMs), 108 * kMs);
  EXPECT_EQ(link.counters().max_queue_delay_us, 15 * kMs);
}

TEST(LinkImpairment, OverloadTailDropsAtTheQueueBoundAndDeliversTheRate) {
  ImpairmentParams p;
  p.rate_bps = 300'000;
  p.max_queue_us = 200 * kMs;
  LinkImpairment link(p);
  // 1 Mbit/s offered for 10 s into 300 kbit/s.
  TimeUs last = 0;
  std::size_t bytes_delivered_by_10s = 0;
  for (TimeUs t = 0; t < 10 * kS; t += 9 * kMs) {  // 1097 B every 9 ms ~ 1 Mbit/s
    if (auto at = link.offer(1097, t)) {
      EXPECT_LE(*at - t, 200 * kMs + 30 * kMs);  // queueing bound + its own serialisation
      EXPECT_GE(*at, last);
      last = *at;
      if (*at <= 10 * kS) bytes_delivered_by_10s += 1097 + 28;
    }
  }
  EXPECT_GT(link.counters().queue_drops, 0u);
  EXPECT_LE(link.counters().max_queue_delay_us, 200 * kMs);
  const double rate = static_cast<double>(bytes_delivered_by_10s) * 8 / 10.0;
  EXPECT_NEAR(rate, 300'000, 6'000);
}

TEST(LinkImpairment, RandomLossAtTheGivenRate) {
  ImpairmentParams p;
  p.loss = 0.05;
  LinkImpairment link(p, 42);
  for (int i = 0; i < 20'000; ++i) (void)link.offer(100, i * kMs);
  const double lost = static_cast<double>(link.counters().lost) / 20'000.0;
  EXPECT_GT(lost, 0.04);
  EXPECT_LT(lost, 0.06);
  EXPECT_EQ(link.counters().lost + link.counters().delivered, 20'000u);
}

TEST(LinkImpairment, JitterWithoutReorderKeepsOrder) {
  ImpairmentParams p;
  p.delay_us = 20 * kMs;
  p.jitter_us = 30 * kMs;
  LinkImpairment link(p, 7);
  TimeUs last = 0;
  TimeUs min_extra = 1 * kS;
  TimeUs max_extra = 0;
  for (TimeUs t = 0; t < 2 * kS; t += 2 * kMs) {
    auto at = link.offer(500, t);
    ASSERT_TRUE(at);
    EXPECT_GE(*at, last);
    EXPECT_GE(*at - t, 20 * kMs);
    EXPECT_LE(*at - t, 50 * kMs);
    min_extra = std::min(min_extra, *at - t - 20 * kMs);
    max_extra = std::max(max_extra, *at - t - 20 * kMs);
    last = *at;
  }
  EXPECT_GT(max_extra - min_extra, 15 * kMs);  // the jitter is used
}

TEST(LinkImpairment, JitterWithReorderReordersWithinItsBounds) {
  ImpairmentParams p;
  p.delay_us = 20 * kMs;
  p.jitter_us = 30 * kMs;
  p.reorder = true;
  LinkImpairment link(p, 7);
  std::vector<TimeUs> arrivals;
  for (TimeUs t = 0; t < 2 * kS; t += 2 * kMs) {
    auto at = link.offer(500, t);
    ASSERT_TRUE(at);
    EXPECT_GE(*at - t, 20 * kMs);
    EXPECT_LE(*at - t, 50 * kMs);
    arrivals.push_back(*at);
  }
  EXPECT_FALSE(std::is_sorted(arrivals.begin(), arrivals.end()));
}

TEST(LinkImpairment, LiftingTheCapDrainsTheQueueThenDeliversAtOnce) {
  ImpairmentParams p;
  p.rate_bps = 100'000;
  p.max_queue_us = 60 * kS;  // no tail drop here: everything offered queues
  LinkImpairment link(p);
  TimeUs t = 0;
  for (; t < 1 * kS; t += 10 * kMs) ASSERT_TRUE(link.offer(1000, t));
  const auto last = link.offer(1000, t);
  ASSERT_TRUE(last);
  const TimeUs queued_until = *last;
  EXPECT_GT(queued_until - t, 100 * kMs);  // queued behind the cap
  p.rate_bps = 0;
  link.setParams(p);
  // One path: what comes next does not overtake the queue, but waits no longer than it ...
  EXPECT_EQ(link.offer(1000, t + 1), queued_until);
  // ... and once it has drained, nothing waits.
  EXPECT_EQ(link.offer(1000, queued_until + 5), queued_until + 5);
}

TEST(ImpairmentParams, UpdateReadsTheGivenFieldsOnly) {
  ImpairmentParams p;
  p.delay_us = 5 * kMs;
  ASSERT_TRUE(
      p.update(boost::json::parse(R"({"rate_kbps": 300, "loss": 0.05, "jitter_ms": 10.5})").as_object()));
  EXPECT_EQ(p.rate_bps, 300'000);
  EXPECT_DOUBLE_EQ(p.loss, 0.05);
  EXPECT_EQ(p.jitter_us, 10'500);
  EXPECT_EQ(p.delay_us, 5 * kMs);
  const auto j = p.toJson();
  EXPECT_EQ(j.at("rate_kbps").as_double(), 300.0);
  EXPECT_EQ(j.at("delay_ms").as_double(), 5.0);
}

TEST(ImpairmentParams, UpdateRejectsBadInputAndChangesNothing) {
  ImpairmentParams p;
  p.loss = 0.01;
  for (const char* bad : {R"({"loss": 1.5})", R"({"loss": "a"})", R"({"rate_kbps": -1})",
                          R"({"delay_ms": 1e99})", R"({"reorder": 1})", R"({"loss": 0.2, "bogus": 1})"}) {
    auto s = p.update(boost::json::parse(bad).as_object());
    EXPECT_FALSE(s) << bad;
    EXPECT_DOUBLE_EQ(p.loss, 0.01) << bad;
  }
}

}  // namespace
}  // namespace chorus::bench
