#include "focus/audio_slots.hpp"

#include <algorithm>

namespace chorus::focus {

std::vector<AudioSlotMove> assignAudioSlots(std::span<const RankedAudio> ranked,
                                            const std::function<bool(std::uint64_t)>& subscribed,
                                            std::span<const AudioSlotState> slots, TimeMs now,
                                            TimeMs hold_ms) {
  std::vector<AudioSlotMove> moves;
  const std::size_t k = slots.size();
  if (k == 0) return moves;
  // The first k subscribed tracks of the ranking (usually found among its first k + 1 entries).
  std::vector<RankedAudio> wanted;
  wanted.reserve(k);
  for (const RankedAudio& r : ranked) {
    if (r.key == 0 || !subscribed(r.key)) continue;
    wanted.push_back(r);
    if (wanted.size() == k) break;
  }
  std::vector<std::uint64_t> holder(k);
  for (std::size_t i = 0; i < k; ++i) holder[i] = slots[i].holder;
  auto isWanted = [&](std::uint64_t key) {
    return key != 0 && std::any_of(wanted.begin(), wanted.end(), [&](const auto& w) { return w.key == key; });
  };
  for (const RankedAudio& w : wanted) {
    if (std::find(holder.begin(), holder.end(), w.key) != holder.end()) continue;
    std::optional<std::size_t> target;
    for (std::size_t i = 0; i < k && !target; ++i) {
      if (holder[i] == 0) target = i;
    }
    if (!target && w.score > 0) {
      for (std::size_t i = 0; i < k; ++i) {
        if (isWanted(holder[i])) continue;  // taken by a wanted track (this round or before)
        const AudioSlotState& s = slots[i];
        if (now - s.since < hold_ms && s.score > 0) continue;
        if (!target || s.score < slots[*target].score) target = i;
      }
    }
    if (!target) continue;
    holder[*target] = w.key;
    moves.push_back(AudioSlotMove{*target, w.key});
  }
  std::sort(moves.begin(), moves.end(), [](const auto& a, const auto& b) { return a.slot < b.slot; });
  return moves;
}

}  // namespace chorus::focus
