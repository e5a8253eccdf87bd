#include "media/cc/layer_allocator.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace chorus::media::cc {
namespace {

// A camera published as q/h/f simulcast.
std::vector<SimulcastLayer> camera() {
  return {{150'000, 320, 180, true}, {500'000, 640, 360, true}, {1'500'000, 1280, 720, true}};
}

VideoSubscription sub(std::uint64_t id, std::uint32_t w, std::uint32_t h,
                      std::vector<SimulcastLayer> layers = camera()) {
  VideoSubscription s;
  s.id = id;
  s.requested_width = w;
  s.requested_height = h;
  s.layers = std::move(layers);
  return s;
}

// Allocates twice so the subscriptions are no longer new (a new one is held on its lowest layer).
Allocation settle(LayerAllocator& a, std::int64_t budget, const std::vector<VideoSubscription>& subs) {
  a.allocate(budget, subs);
  return a.allocate(budget, subs);
}

TEST(LayerAllocator, NewSubscriptionStartsOnTheLowestLayerThenStepsUp) {
  LayerAllocator a;
  const std::vector<VideoSubscription> subs = {sub(1, 1280, 720)};
  auto first = a.allocate(10'000'000, subs);
  ASSERT_EQ(first.choices.size(), 1u);
  EXPECT_EQ(first.choices[0].layer, 0u);
  EXPECT_TRUE(first.choices[0].changed);
  auto second = a.allocate(10'000'000, subs);
  EXPECT_EQ(second.choices[0].layer, 2u);
  EXPECT_TRUE(second.choices[0].changed);
  auto third = a.allocate(10'000'000, subs);
  EXPECT_EQ(third.choices[0].layer, 2u);
  EXPECT_FALSE(third.choices[0].changed);
  EXPECT_EQ(third.allocated_bps, 1'500'000);
}

TEST(LayerAllocator, RequestedSizeCapsTheLayer) {
  LayerAllocator a;
  auto r = settle(a, 10'000'000, {sub(1, 640, 360), sub(2, 320, 240), sub(3, 100, 100)});
  EXPECT_EQ(r.choices[0].layer, 1u);
  EXPECT_EQ(r.choices[1].layer, 0u);
  EXPECT_EQ(r.choices[2].layer, 0u);  // smaller than every layer: the lowest
  EXPECT_FALSE(r.choices[0].capped_by_budget);
}

TEST(LayerAllocator, BudgetGoesToScreenshareAndLargerTilesFirst) {
  LayerAllocator a;
  std::vector<VideoSubscription> subs = {sub(1, 320, 180), sub(2, 1280, 720), sub(3, 1280, 720)};
  subs[2].screenshare = true;
  // 2.3 Mbps: the lows (450k) for everyone, then the screenshare to the top (+1.35M), then the large tile
  // only to h (+350k), the small one is capped by its request.
  auto r = settle(a, 2'300'000, subs);
  EXPECT_EQ(r.choices[2].layer, 2u);
  EXPECT_EQ(r.choices[1].layer, 1u);
  EXPECT_TRUE(r.choices[1].capped_by_budget);
  EXPECT_EQ(r.choices[0].layer, 0u);
  EXPECT_FALSE(r.choices[0].capped_by_budget);
  EXPECT_LE(r.allocated_bps, 2'300'000);
  // Priority outranks size among non-screenshares.
  subs[0].priority = 1;
  subs[0].requested_width = 1280;
  subs[0].requested_height = 720;
  subs[2].screenshare = false;
  LayerAllocator b;
  r = settle(b, 2'200'000, subs);  // lows 450k; then priority 1 up to f (+1.35M, with the up margin 1.575M)
  EXPECT_EQ(r.choices[0].layer, 2u);
  EXPECT_EQ(r.choices[1].layer, 0u);  // 400k left: h would need 575k - 150k = 425k
  EXPECT_TRUE(r.choices[1].capped_by_budget);
}

TEST(LayerAllocator, PausesWhatDoesNotFitAndSaysSo) {
  LayerAllocator a;
  const std::vector<VideoSubscription> subs = {sub(1, 1280, 720), sub(2, 640, 360)};
  auto r = settle(a, 200'000, subs);  // one low layer (150k) fits, not two
  EXPECT_EQ(r.paused, 1u);
  EXPECT_EQ(r.choices[0].layer, 0u);  // the larger tile keeps video
  EXPECT_TRUE(r.choices[1].paused);
  EXPECT_FALSE(r.choices[1].layer);
  EXPECT_TRUE(r.choices[1].capped_by_budget);
  r = a.allocate(100'000, subs);  // nothing fits
  EXPECT_EQ(r.paused, 2u);
  EXPECT_TRUE(r.choices[0].changed);
  EXPECT_EQ(r.allocated_bps, 0);
  // A subscription with no active layer is paused but not for budget reasons.
  auto dead = camera();
  for (auto& l : dead) l.active = false;
  LayerAllocator c;
  r = settle(c, 10'000'000, {sub(9, 640, 360, dead)});
  EXPECT_TRUE(r.choices[0].paused);
  EXPECT_FALSE(r.choices[0].capped_by_budget);
}

TEST(LayerAllocator, HysteresisKeepsALayerWhenTheEstimateWobbles) {
  LayerAllocator a;  // up_margin 15 %
  const std::vector<VideoSubscription> subs = {sub(1, 1280, 720)};
  settle(a, 600'000, subs);
  EXPECT_EQ(a.allocate(600'000, subs).choices[0].layer, 1u);
  // 1.6 Mbps would fit f (1.5 M) exactly, but an up-switch needs 1.725 M.
  EXPECT_EQ(a.allocate(1'600'000, subs).choices[0].layer, 1u);
  EXPECT_EQ(a.allocate(1'800'000, subs).choices[0].layer, 2u);
  // Once on f, it stays while f fits without margin, and drops as soon as it does not.
  EXPECT_EQ(a.allocate(1'500'000, subs).choices[0].layer, 2u);
  EXPECT_EQ(a.allocate(1'400'000, subs).choices[0].layer, 1u);
  // Leaving pause needs the margin too.
  EXPECT_TRUE(a.allocate(100'000, subs).choices[0].paused);
  EXPECT_TRUE(a.allocate(160'000, subs).choices[0].paused);  // 150k + 15 % = 172.5k
  EXPECT_EQ(a.allocate(180'000, subs).choices[0].layer, 0u);
}

TEST(LayerAllocator, InactiveLayersAreSkippedAndGoneSubscriptionsForgotten) {
  LayerAllocator a;
  auto layers = camera();
  layers[1].active = false;  // h not sent now
  auto r = settle(a, 1'000'000, {sub(1, 640, 360, layers)});
  EXPECT_EQ(r.choices[0].layer, 0u);  // wanted h is off; f is larger than the request
  r = settle(a, 10'000'000, {sub(1, 1280, 720, layers)});
  EXPECT_EQ(r.choices[0].layer, 2u);
  // Drop subscription 1, then it comes back: new again, so it starts low.
  a.allocate(10'000'000, std::vector<VideoSubscription>{sub(2, 640, 360)});
  r = a.allocate(10'000'000, std::vector<VideoSubscription>{sub(1, 1280, 720, layers)});
  EXPECT_EQ(r.choices[0].layer, 0u);
  EXPECT_TRUE(r.choices[0].changed);
}

TEST(LayerAllocator, LowestFitKeepsAVideoWhoseLowestLayerAlmostFits) {
  LayerAllocator strict;
  LayerAllocator lenient(LayerAllocator::Config{0.15, 0.5});
  const std::vector<VideoSubscription> subs = {sub(1, 1280, 720)};
  settle(strict, 1'000'000, subs);
  settle(lenient, 1'000'000, subs);
  // 100 kbit/s: two thirds of the lowest layer (150).
  EXPECT_TRUE(strict.allocate(100'000, subs).choices[0].paused);
  const auto kept = lenient.allocate(100'000, subs);
  EXPECT_FALSE(kept.choices[0].paused);
  EXPECT_EQ(kept.choices[0].layer, 0u);
  // 60 kbit/s: under half of it: paused even so; leaving the pause needs half of it plus the margin.
  EXPECT_TRUE(lenient.allocate(60'000, subs).choices[0].paused);
  EXPECT_TRUE(lenient.allocate(80'000, subs).choices[0].paused);
  EXPECT_FALSE(lenient.allocate(90'000, subs).choices[0].paused);
}

}  // namespace
}  // namespace chorus::media::cc
