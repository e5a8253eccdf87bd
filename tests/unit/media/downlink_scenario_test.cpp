// The congestion-control pieces together on a simulated downlink, as the focus will run them for one
// subscriber: SendSideBwe fed by the subscriber's transport-cc feedback, LayerAllocator every 100 ms on
// (estimate − audio), ProbeController + probe clusters before an up-switch. The sender is
// application-limited: it sends the chosen layer's bitrate plus audio, and more only while probing. The issue
// #12 targets at this level: a 300 kbit/s cap → a layer that fits within 5 s and no paused video after that;
// cap lifted → back on the full layer within 15 s.
#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "link_sim.hpp"
#include "media/cc/layer_allocator.hpp"
#include "media/cc/probe_controller.hpp"

namespace chorus::media::cc {
namespace {

struct Downlink {
  static constexpr std::int64_t kAudioBps = 40'000;
  test::LinkSim sim;
  LayerAllocator allocator;
  ProbeController prober;
  std::vector<VideoSubscription> subs;
  std::optional<std::size_t> layer;
  bool capped{false};
  int up_switches{0};
  int down_switches{0};
  TimeUs paused_since{-1};
  TimeUs longest_pause_us{0};
  TimeUs pause_window_start{0};  // pauses before this do not count
  int probes{0};

  Downlink() {
    VideoSubscription s;
    s.id = 1;
    s.requested_width = 1280;
    s.requested_height = 720;
    s.layers = {{150'000, 320, 180, true}, {500'000, 640, 360, true}, {1'500'000, 1280, 720, true}};
    subs.push_back(s);
    sim.send_rate = [this] { return kAudioBps + (layer ? subs[0].layers[*layer].bitrate_bps : 0); };
  }

  void everyMs() {
    if (sim.now % 100'000 != 0) return;
    const std::int64_t target = sim.bwe.targetBps();
    const auto a = allocator.allocate(target - kAudioBps, subs);
    const auto& c = a.choices[0];
    if (c.changed && layer && c.layer) {
      if (*c.layer > *layer) {
        ++up_switches;
        prober.onUpSwitch(sim.now);
      } else if (*c.layer < *layer) {
        ++down_switches;
      }
    }
    layer = c.layer;
    capped = c.capped_by_budget;
    if (!layer && paused_since < 0) paused_since = std::max(sim.now, pause_window_start);
    if (layer && paused_since >= 0) {
      longest_pause_us = std::max(longest_pause_us, sim.now - paused_since);
      paused_since = -1;
    }
    // What the next step up needs (with the allocator's 15 % margin), plus audio.
    std::int64_t needed = 0;
    if (capped) {
      const std::size_t next = layer ? *layer + 1 : 0;
      if (next < subs[0].layers.size()) {
        needed = static_cast<std::int64_t>(static_cast<double>(subs[0].layers[next].bitrate_bps) * 1.15) +
                 kAudioBps;
      }
    }
    if (auto p = prober.onTick(sim.now, target, needed)) {
      sim.startProbe(p->cluster, p->rate_bps, p->packets);
      ++probes;
    }
  }
  void runUntil(double s) {
    sim.runUntil(s, [this] { everyMs(); });
  }
  std::int64_t layerBps() const { return layer ? subs[0].layers[*layer].bitrate_bps : 0; }
};

TEST(DownlinkScenario, ThinLinkGetsAFittingLayerAndTheFullOneWhenTheCapIsLifted) {
  Downlink d;
  d.sim.capacity_bps = 5'000'000;
  d.runUntil(10);
  std::printf("5 Mbps: layer %zu after 10 s (%d probes, %llu probe raises)\n", d.layer.value_or(99), d.probes,
              static_cast<unsigned long long>(d.sim.bwe.counters().probe_raises));
  EXPECT_EQ(d.layer, 2u);  // starts low, probes up to the full layer

  d.sim.capacity_bps = 300'000;
  double converged_at = -1;
  d.sim.runUntil(15, [&] {
    d.everyMs();
    if (converged_at < 0 && d.layer && d.layerBps() + Downlink::kAudioBps <= 300'000) {
      converged_at = static_cast<double>(d.sim.now) / 1e6 - 10;
    }
  });
  const TimeUs transition_pause =
      std::max(d.longest_pause_us, d.paused_since >= 0 ? d.sim.now - d.paused_since : TimeUs{0});
  std::printf(
      "300 kbit/s: a fitting layer after %.1f s; estimate %.0f kbps; longest pause in these 5 s %.1f s\n",
      converged_at, static_cast<double>(d.sim.bwe.targetBps()) / 1e3,
      static_cast<double>(transition_pause) / 1e6);
  ASSERT_GE(converged_at, 0);
  EXPECT_LE(converged_at, 5.0);
  // From then on: video keeps flowing (no pause longer than 1 s) and the layer fits.
  d.pause_window_start = d.sim.now;
  d.longest_pause_us = 0;
  d.paused_since = d.layer ? -1 : d.sim.now;
  const int downs_before = d.down_switches;
  const int ups_before = d.up_switches;
  bool always_fits = true;
  d.sim.runUntil(40, [&] {
    d.everyMs();
    if (d.sim.now % 100'000 == 0 && d.layerBps() + Downlink::kAudioBps > 300'000) always_fits = false;
  });
  if (d.paused_since >= 0) d.longest_pause_us = std::max(d.longest_pause_us, d.sim.now - d.paused_since);
  std::printf("300 kbit/s for 25 s more: longest pause %.1f s, %d up / %d down switches, %d probes in all\n",
              static_cast<double>(d.longest_pause_us) / 1e6, d.up_switches - ups_before,
              d.down_switches - downs_before, d.probes);
  EXPECT_LE(d.longest_pause_us, 1'000'000);
  EXPECT_TRUE(always_fits);
  EXPECT_LE(d.up_switches - ups_before, 1);  // hysteresis: no flapping

  d.sim.capacity_bps = 5'000'000;
  double full_at = -1;
  d.sim.runUntil(60, [&] {
    d.everyMs();
    if (full_at < 0 && d.layer == 2u) full_at = static_cast<double>(d.sim.now) / 1e6 - 40;
  });
  std::printf("cap lifted: full layer after %.1f s\n", full_at);
  ASSERT_GE(full_at, 0);
  EXPECT_LE(full_at, 15.0);
}

}  // namespace
}  // namespace chorus::media::cc
