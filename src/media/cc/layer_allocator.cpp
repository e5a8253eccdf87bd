#include "media/cc/layer_allocator.hpp"

#include <algorithm>
#include <numeric>

namespace chorus::media::cc {
namespace {

std::optional<std::size_t> lowestActive(const VideoSubscription& s) {
  for (std::size_t i = 0; i < s.layers.size(); ++i) {
    if (s.layers[i].active) return i;
  }
  return std::nullopt;
}

bool fitsRequest(const SimulcastLayer& l, const VideoSubscription& s) {
  if (s.requested_width != 0 && l.width != 0 && l.width > s.requested_width) return false;
  if (s.requested_height != 0 && l.height != 0 && l.height > s.requested_height) return false;
  return true;
}

std::optional<std::size_t> wantedLayer(const VideoSubscription& s) {
  std::optional<std::size_t> wanted;
  for (std::size_t i = 0; i < s.layers.size(); ++i) {
    if (s.layers[i].active && fitsRequest(s.layers[i], s)) wanted = i;
  }
  return wanted ? wanted : lowestActive(s);
}

std::uint64_t area(const VideoSubscription& s) {
  return std::uint64_t{s.requested_width} * s.requested_height;
}

}  // namespace

Allocation LayerAllocator::allocate(std::int64_t budget_bps, std::span<const VideoSubscription> subs) {
  const std::size_t n = subs.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto& x = subs[a];
    const auto& y = subs[b];
    if (x.screenshare != y.screenshare) return x.screenshare;
    if (x.priority != y.priority) return x.priority > y.priority;
    if (area(x) != area(y)) return area(x) > area(y);
    return x.id < y.id;
  });

  std::vector<std::optional<std::size_t>> prev(n);
  std::vector<bool> is_new(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    auto it = previous_.find(subs[i].id);
    if (it == previous_.end()) {
      is_new[i] = true;
    } else {
      prev[i] = it->second.layer;
    }
  }
  // A layer's bitrate (a negative figure counts as 0), and the cost of moving to it, with the headroom an
  // up-switch needs.
  const auto rate = [&](std::size_t i, std::size_t l) {
    return std::max<std::int64_t>(subs[i].layers[l].bitrate_bps, 0);
  };
  const auto cost = [&](std::size_t i, std::size_t l) {
    const std::int64_t bitrate = rate(i, l);
    const bool up = !prev[i] || l > *prev[i];
    return up && !is_new[i]
               ? static_cast<std::int64_t>(static_cast<double>(bitrate) * (1.0 + config_.up_margin))
               : bitrate;
  };

  std::vector<std::optional<std::size_t>> chosen(n);
  std::int64_t left = std::max<std::int64_t>(budget_bps, 0);
  // 3. Lowest layer for everyone, in order.
  for (std::size_t i : order) {
    auto low = lowestActive(subs[i]);
    if (!low) continue;
    if (static_cast<double>(cost(i, *low)) * config_.lowest_fit <= static_cast<double>(left)) {
      chosen[i] = low;
      left = std::max<std::int64_t>(0, left - rate(i, *low));
    }
  }
  // 4. Step up, in order.
  std::vector<bool> capped(n, false);
  for (std::size_t i : order) {
    if (!chosen[i] || is_new[i]) continue;
    const auto wanted = wantedLayer(subs[i]);
    if (!wanted) continue;
    for (std::size_t l = *chosen[i] + 1; l <= *wanted; ++l) {
      if (!subs[i].layers[l].active) continue;
      const std::int64_t current = rate(i, *chosen[i]);
      const std::int64_t extra = cost(i, l) - current;
      if (extra > left) {
        capped[i] = true;
        break;
      }
      left -= rate(i, l) - current;
      chosen[i] = l;
    }
  }

  Allocation out;
  out.choices.resize(n);
  std::unordered_map<std::uint64_t, Previous> next;
  next.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    LayerChoice& c = out.choices[i];
    c.id = subs[i].id;
    c.layer = chosen[i];
    c.paused = !chosen[i];
    c.changed = is_new[i] || prev[i] != chosen[i];
    c.capped_by_budget = capped[i] || (c.paused && lowestActive(subs[i]).has_value());
    if (chosen[i]) out.allocated_bps += rate(i, *chosen[i]);
    if (c.paused) ++out.paused;
    next[subs[i].id] = Previous{chosen[i]};
  }
  previous_ = std::move(next);
  return out;
}

}  // namespace chorus::media::cc
