#pragma once
// Shares one subscriber's downlink estimate among its video subscriptions (the focus's answer to "which
// simulcast layer does each tile get"). Each call to allocate() takes the budget (the estimate minus what
// audio and overhead need, the caller's business) and every video subscription with its available layers, and
// picks one layer per subscription, or pauses it:
//   1. Order: screenshare first, then higher priority, then larger requested area, then id (deterministic).
//   2. The wanted layer is the highest active layer no larger than the requested size (the lowest active one
//      when every layer is larger).
//   3. Everyone first gets its lowest active layer, in order, while the budget lasts (Config::lowest_fit of
//      it, for a link the estimate undershoots); who does not fit is
//      paused (reported, so the client can be told; audio is not the allocator's business and keeps flowing).
//   4. Then, in order, each subscription steps up towards its wanted layer while the extra bitrate fits.
//   5. Hysteresis: going above the layer a subscription had (or leaving pause) needs `up_margin` of headroom
//      on top of the layer's bitrate; staying or going down needs none. So an estimate that wobbles around a
//      layer's bitrate does not flip it.
//   6. A subscription seen for the first time is held on its lowest layer for that allocation (fast first
//      frame); later allocations step it up as soon as the budget allows.
// State: the last allocation per subscription id, only for ids passed in the latest call (bounded by the
// caller's subscriptions). Single-threaded; sans-IO.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace chorus::media::cc {

struct SimulcastLayer {
  std::int64_t bitrate_bps{0};  // what the publisher sends on it (measured or announced)
  std::uint32_t width{0};       // 0 = unknown (never excluded by size)
  std::uint32_t height{0};
  bool active{true};  // false: the publisher does not send it now
};

struct VideoSubscription {
  std::uint64_t id{0};
  std::uint32_t requested_width{0};  // 0 = no limit
  std::uint32_t requested_height{0};
  int priority{0};  // higher first
  bool screenshare{false};
  std::vector<SimulcastLayer> layers;  // lowest first
};

struct LayerChoice {
  std::uint64_t id{0};
  std::optional<std::size_t> layer;  // index into layers; nullopt = paused
  bool paused{false};                // no layer fits (or none is active)
  bool changed{false};               // layer or pause differs from the previous allocation
  bool capped_by_budget{false};      // a higher layer was wanted but did not fit
};

struct Allocation {
  std::vector<LayerChoice> choices;  // same order as the input
  std::int64_t allocated_bps{0};
  std::size_t paused{0};
};

class LayerAllocator {
 public:
  struct Config {
    double up_margin{0.15};  // headroom needed above a layer's bitrate to switch up to it
    // The share of its lowest layer's bitrate (with up_margin when leaving pause) the budget must still hold
    // for a subscription to keep that layer rather than pause: 1 = all of it. Below 1, a video whose lowest
    // layer does not quite fit keeps flowing (an estimate that undershoots a thin link would otherwise stop
    // it, and a paused stream teaches the estimator nothing), and only a budget far below it pauses.
    double lowest_fit{1.0};
  };
  LayerAllocator() : LayerAllocator(Config{}) {}
  explicit LayerAllocator(Config config) : config_(config) {}

  Allocation allocate(std::int64_t budget_bps, std::span<const VideoSubscription> subscriptions);

 private:
  struct Previous {
    std::optional<std::size_t> layer;
  };
  Config config_;
  std::unordered_map<std::uint64_t, Previous> previous_;
};

}  // namespace chorus::media::cc
