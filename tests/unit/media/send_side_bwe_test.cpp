// The send-side estimator driven by synthetic traces: a sender paced at the estimate, a bottleneck link (rate
// cap, tail-drop queue, propagation delay, jitter, random loss), the receive-side feedback generator every
// 100 ms, and a return path that can lose or delay feedback. Everything runs on a simulated microsecond
// clock.
#include "media/cc/send_side_bwe.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <vector>

#include "link_sim.hpp"
#include "media/cc/transport_cc_feedback_generator.hpp"

namespace chorus::media::cc {
namespace {

using test::LinkSim;

TEST(SendSideBwe, FollowsACapacityStepDownWithinAFewSeconds) {
  LinkSim sim;
  sim.capacity_bps = 2'500'000;
  sim.runUntil(25);
  const double before = sim.estimateMbps();
  EXPECT_GT(before, 2.5 * 0.6);
  EXPECT_LT(before, 2.5 * 1.3);
  sim.capacity_bps = 500'000;
  double at_3s = 0;
  sim.runUntil(28, [&] { at_3s = sim.estimateMbps(); });
  std::printf("step down: %.2f Mbps before, %.2f Mbps 3 s after the step to 0.5 Mbps\n", before, at_3s);
  EXPECT_LT(at_3s, 0.5 * 1.3);
  // And stays near the new capacity, without starving the link.
  double lo = 1e9;
  double hi = 0;
  sim.runUntil(45, [&] {
    lo = std::min(lo, sim.estimateMbps());
    hi = std::max(hi, sim.estimateMbps());
  });
  sim.max_queue_seen_us = 0;
  sim.runUntil(55);
  std::printf("step down: %.2f..%.2f Mbps in the 17 s after; queue max %.0f ms in the 10 s after that\n", lo,
              hi, static_cast<double>(sim.max_queue_seen_us) / 1000.0);
  EXPECT_LT(sim.max_queue_seen_us, 150'000);
  EXPECT_GT(lo, 0.5 * 0.4);
  EXPECT_LT(hi, 0.5 * 1.5);
  EXPECT_GT(sim.bwe.counters().delay_decreases, 0u);
}

TEST(SendSideBwe, RampsUpAfterACapacityStepUp) {
  LinkSim sim;
  sim.capacity_bps = 500'000;
  sim.runUntil(15);
  const double before = sim.estimateMbps();
  EXPECT_LT(before, 0.5 * 1.3);
  sim.capacity_bps = 3'000'000;
  double at_10s = 0;
  sim.runUntil(25, [&] { at_10s = sim.estimateMbps(); });
  double at_20s = 0;
  sim.runUntil(35, [&] { at_20s = sim.estimateMbps(); });
  std::printf("step up: %.2f Mbps before, %.2f Mbps 10 s and %.2f Mbps 20 s after the step to 3 Mbps\n",
              before, at_10s, at_20s);
  EXPECT_GT(at_10s, 2 * before);
  EXPECT_GT(at_20s, 3.0 * 0.6);
  EXPECT_LT(at_20s, 3.0 * 1.3);
}

TEST(SendSideBwe, BacksOffOnLossBurstsAndRecovers) {
  LinkSim sim;
  sim.capacity_bps = 10'000'000;
  SendSideBwe::Config c;
  c.max_bps = 2'000'000;
  sim.bwe = SendSideBwe(c);
  sim.runUntil(25);
  const double before = sim.estimateMbps();
  EXPECT_GT(before, 2.0 * 0.8);
  sim.loss = 0.3;  // a 2 s burst of 30 % loss
  double during = 1e9;
  sim.runUntil(27, [&] { during = std::min(during, sim.estimateMbps()); });
  sim.loss = 0;
  sim.runUntil(45);
  const double after = sim.estimateMbps();
  std::printf("loss burst: %.2f Mbps before, min %.2f during 2 s of 30 %% loss, %.2f 18 s later\n", before,
              during, after);
  EXPECT_LT(during, 0.8 * before);
  EXPECT_GT(sim.bwe.counters().loss_decreases, 0u);
  EXPECT_GT(after, 0.8 * before);
}

TEST(SendSideBwe, LowRandomLossDoesNotBackOff) {
  LinkSim sim;
  sim.capacity_bps = 10'000'000;
  SendSideBwe::Config c;
  c.max_bps = 2'000'000;
  sim.bwe = SendSideBwe(c);
  sim.loss = 0.01;
  sim.runUntil(25);
  double lo = 1e9;
  sim.runUntil(45, [&] { lo = std::min(lo, sim.estimateMbps()); });
  std::printf("1 %% loss: min %.2f Mbps over 20 s (max 2)\n", lo);
  EXPECT_GT(lo, 2.0 * 0.9);
  EXPECT_EQ(sim.bwe.counters().loss_decreases, 0u);
}

TEST(SendSideBwe, JitterWithoutCongestionIsNoReasonToBackOff) {
  LinkSim sim;
  sim.capacity_bps = 20'000'000;
  sim.jitter_us = 20'000;  // 0–20 ms per packet, arrivals kept in order
  SendSideBwe::Config c;
  c.max_bps = 2'000'000;
  sim.bwe = SendSideBwe(c);
  sim.runUntil(25);
  double lo = 1e9;
  sim.runUntil(60, [&] { lo = std::min(lo, sim.estimateMbps()); });
  std::printf("jitter 0-20 ms: min %.2f Mbps over 35 s (max 2), %llu delay-based decreases\n", lo,
              static_cast<unsigned long long>(sim.bwe.counters().delay_decreases));
  EXPECT_GT(lo, 2.0 * 0.8);
  EXPECT_EQ(sim.bwe.counters().delay_decreases, 0u);
}

TEST(SendSideBwe, ReorderingIsNoReasonToBackOff) {
  LinkSim sim;
  sim.capacity_bps = 20'000'000;
  sim.jitter_us = 10'000;
  sim.jitter_reorders = true;  // packets overtake each other
  SendSideBwe::Config c;
  c.max_bps = 2'000'000;
  sim.bwe = SendSideBwe(c);
  sim.runUntil(25);
  double lo = 1e9;
  sim.runUntil(50, [&] { lo = std::min(lo, sim.estimateMbps()); });
  std::printf("reordering (0-10 ms independent jitter): min %.2f Mbps over 25 s (max 2)\n", lo);
  EXPECT_GT(lo, 2.0 * 0.8);
  EXPECT_GT(sim.gen.counters().rereported, 0u);
}

TEST(SendSideBwe, LostFeedbackStillConvergesAndFollowsAStep) {
  LinkSim sim;
  sim.capacity_bps = 1'500'000;
  sim.feedback_loss = 0.3;
  sim.runUntil(25);
  const double before = sim.estimateMbps();
  sim.capacity_bps = 400'000;
  sim.runUntil(30);
  const double after = sim.estimateMbps();
  std::printf("30 %% feedback loss: %.2f Mbps on 1.5 Mbps, %.2f Mbps 5 s after a step to 0.4 Mbps\n", before,
              after);
  EXPECT_GT(before, 1.5 * 0.6);
  EXPECT_LT(before, 1.5 * 1.3);
  EXPECT_LT(after, 0.4 * 1.4);
  EXPECT_GT(sim.bwe.counters().feedbacks_lost, 0u);
  EXPECT_EQ(sim.bwe.counters().timeouts, 0u);
}

TEST(SendSideBwe, NoFeedbackAtAllCutsTheEstimate) {
  LinkSim sim;
  sim.capacity_bps = 10'000'000;
  sim.runUntil(10);
  const double before = sim.estimateMbps();
  sim.feedback_enabled = false;
  sim.runUntil(13.5);
  const double after = sim.estimateMbps();
  std::printf("no feedback: %.2f Mbps → %.2f Mbps after 3.5 s\n", before, after);
  EXPECT_EQ(sim.bwe.counters().timeouts, 3u);  // at 1, 2 and 3 s of silence
  EXPECT_NEAR(after, before * 0.8 * 0.8 * 0.8, before * 0.02);
}

TEST(SendSideBwe, ReceiverReportLossDrivesTheLossController) {
  SendSideBwe bwe;
  const std::int64_t start = bwe.targetBps();
  bwe.onReceiverReportLoss(64, 1'000'000);  // 25 %
  EXPECT_EQ(bwe.targetBps(), static_cast<std::int64_t>(static_cast<double>(start) * (1 - 0.125)));
  bwe.onReceiverReportLoss(64, 1'100'000);  // too soon for another cut (300 ms + rtt)
  EXPECT_EQ(bwe.targetBps(), static_cast<std::int64_t>(static_cast<double>(start) * (1 - 0.125)));
  bwe.onReceiverReportLoss(13, 1'600'000);  // 5 %: hold
  const std::int64_t held = bwe.targetBps();
  EXPECT_EQ(held, static_cast<std::int64_t>(static_cast<double>(start) * (1 - 0.125)));
  bwe.onReceiverReportLoss(0, 2'600'000);  // no loss: grows (8 %/s), never above the delay-based estimate
  EXPECT_GT(bwe.targetBps(), held);
  EXPECT_LE(bwe.targetBps(), bwe.delayBasedBps());
}

}  // namespace
}  // namespace chorus::media::cc
