#include "focus/router_state.hpp"

namespace chorus::focus {

// ---- audio slots (focus/audio_slots.hpp) ----

namespace {
// A track's key in the ranking (focus/audio_slots.hpp) is its address: unique while it lives, and the ranking
// is used within the tick that made it.
std::uint64_t keyOf(const void* track) {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(track));
}
template <typename T>
T* fromKey(std::uint64_t key) {
  return reinterpret_cast<T*>(static_cast<std::uintptr_t>(key));
}
}  // namespace

std::uint64_t Router::loudness(const Track* t) {
  return t == nullptr || t->info.muted ? 0 : t->activity.score();
}

Result<OutTrack> Router::subscribeToSlots(Participant& sub, Track& t, TimeMs now) {
  if (sub.slots.empty()) enterSlotMode(sub, now);
  auto& c = sub.audio_candidates;
  const auto at = std::lower_bound(c.begin(), c.end(), &t);
  if (at == c.end() || *at != &t) {
    if (c.size() >= config_.max_audio_candidates)
      return fail(Code::ResourceExhausted, "too many subscriptions");
    c.insert(at, &t);
    // An empty slot takes it at once; otherwise the next ranking decides.
    for (auto& slot : sub.slots) {
      if (slot->track == nullptr) {
        putOnSlot(*slot, &t, now);
        break;
      }
    }
  }
  OutTrack o;
  o.kind = "audio";
  o.stream_id = t.info.stream_id;
  o.track_id = t.info.track_id;
  o.publisher = t.publisher;
  o.codec = t.info.codec;
  o.audio_slot = true;
  return o;
}

// The subscriber's audio subscriptions become candidates on audio_slots new out tracks (renegotiated: their
// out tracks change), the first of them on the slots at once.
void Router::enterSlotMode(Participant& sub, TimeMs now) {
  std::vector<Subscription*> audio;
  for (auto& s : sub.subscriptions) {
    if (!s->track->video) audio.push_back(s.get());
  }
  std::vector<Track*> tracks;
  for (Subscription* s : audio) {
    tracks.push_back(s->track);
    dropSubscription(*s, nullptr);
  }
  for (std::size_t i = 0; i < config_.audio_slots; ++i) {
    auto s = std::make_unique<Subscription>();
    s->subscriber = sub.id;
    s->owner = &sub;
    s->slot = i;
    const std::string id = std::string(kAudioSlotIdPrefix) + std::to_string(i);
    s->out = OutTrack{newOutSsrc(sub), "audio", id, id, 0, "opus"};
    s->out.audio_slot = true;
    s->pt = sub.audio_pt;
    s->rewriter = newRewriter(48000, s->out.ssrc);
    sub.slots.push_back(std::move(s));
  }
  for (std::size_t i = 0; i < tracks.size() && i < sub.slots.size(); ++i)
    putOnSlot(*sub.slots[i], tracks[i], now);  // in the order it subscribed
  std::sort(tracks.begin(), tracks.end());
  sub.audio_candidates = std::move(tracks);
  ++stats_.audio_slot_subscribers;
}

// The slot's out stream continues across the change (the rewriter switches on the new track's first packet:
// the next sequence number, the timestamp advanced by the time in between).
void Router::putOnSlot(Subscription& slot, Track* track, TimeMs now) {
  if (slot.track == track) return;
  if (slot.track != nullptr) eraseValue(slot.track->subscribers, &slot);
  slot.track = track;
  slot.slot_since = now;
  slot.owner->slots_changed = true;
  if (track == nullptr) return;
  track->subscribers.push_back(&slot);
  ++stats_.audio_slot_switches;
  applyLayer(slot, now);
}

void Router::forgetCandidate(Track& t) {
  if (t.video || config_.audio_slots == 0) return;
  for (auto& [id, peer] : peers_) {
    auto& c = peer->audio_candidates;
    const auto at = std::lower_bound(c.begin(), c.end(), &t);
    if (at != c.end() && *at == &t) c.erase(at);
    for (auto& slot : peer->slots) {
      if (slot->track == &t) putOnSlot(*slot, nullptr, slot->slot_since);
    }
  }
}

// Every audio track's activity over the interval ranks the call's audio; each subscriber with slots gets the
// loudest of what it subscribed to on them.
void Router::rankAudio(TimeMs now) {
  std::vector<RankedAudio> ranked;
  bool any_slots = false;
  for (auto& [id, peer] : peers_) {
    any_slots |= !peer->slots.empty();
    for (auto& t : peer->tracks) {
      if (t->video) continue;
      t->activity.roll();
      ranked.push_back(RankedAudio{keyOf(t.get()), loudness(t.get())});
    }
  }
  if (!any_slots) return;
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.score > b.score; });
  std::vector<AudioSlotState> states;
  for (auto& [id, peer] : peers_) {
    Participant& sub = *peer;
    if (sub.slots.empty()) continue;
    states.clear();
    for (const auto& s : sub.slots) {
      states.push_back(AudioSlotState{keyOf(s->track), s->slot_since, loudness(s->track)});
    }
    const auto& c = sub.audio_candidates;
    const auto moves = assignAudioSlots(
        ranked,
        [&](std::uint64_t key) { return std::binary_search(c.begin(), c.end(), fromKey<Track>(key)); },
        states, now, config_.audio_slot_hold_ms);
    for (const auto& m : moves) {
      putOnSlot(*sub.slots[m.slot], fromKey<Track>(m.key), now);
    }
  }
}

}  // namespace chorus::focus
