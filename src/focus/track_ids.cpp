#include "focus/track_ids.hpp"

#include <algorithm>

#include "focus/audio_slots.hpp"

namespace chorus::focus {
namespace {

std::size_t index(IdKind k) noexcept {
  return static_cast<std::size_t>(k);
}
std::size_t index(IdSource s) noexcept {
  return static_cast<std::size_t>(s);
}
std::size_t capOf(IdKind k) noexcept {
  return k == IdKind::Stream ? TrackIds::kMaxStreamsPerPeer : TrackIds::kMaxTracksPerPeer;
}

}  // namespace

bool TrackIds::isUsableId(std::string_view id) noexcept {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  if (id.starts_with(kAudioSlotIdPrefix)) return false;  // the focus's own (audio slots)
  return std::all_of(id.begin(), id.end(), [](char c) { return c >= 0x21 && c <= 0x7E; });
}

void TrackIds::setConference(ParticipantId peer, std::string_view conference) {
  PeerState& p = peers_[peer];
  if (p.conference && *p.conference == conference) return;
  if (p.conference) {
    for (auto& [id, other] : peers_) {
      if (id != peer && other.conference == p.conference) dropPublisher(other, peer);
    }
    p.view = {};
  }
  p.conference = std::string(conference);
  for (auto& [id, other] : peers_) {
    if (id == peer || other.conference != p.conference) continue;
    sync(other, peer, p);  // our ids in its view
    sync(p, id, other);    // its ids in ours
  }
}

bool TrackIds::setIds(ParticipantId peer, IdSource source, IdKind kind, const std::vector<std::string>& ids) {
  PeerState& p = peers_[peer];
  std::vector<std::string> given;
  for (const auto& id : ids) {
    if (isUsableId(id)) given.push_back(id);
  }
  std::sort(given.begin(), given.end());
  given.erase(std::unique(given.begin(), given.end()), given.end());
  auto& slot = p.given[index(source)][index(kind)];
  if (given == slot) return false;
  slot = std::move(given);

  const auto& a = p.given[0][index(kind)];
  const auto& b = p.given[1][index(kind)];
  std::vector<std::string> all;
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(all));
  if (all.size() > capOf(kind)) all.resize(capOf(kind));
  if (all == p.ids[index(kind)]) return false;
  p.ids[index(kind)] = std::move(all);
  // What it sees under an id it now publishes itself moves to another id.
  bool moved = false;
  View& own_view = p.view[index(kind)];
  for (const auto& id : p.ids[index(kind)]) {
    auto e = own_view.by_public.find(id);
    if (e == own_view.by_public.end()) continue;
    const Origin origin = e->second;
    own_view.by_public.erase(e);
    std::string pub = choose(p, kind, origin.original);
    ++rewritten_;
    own_view.by_public.emplace(pub, origin);
    own_view.by_publisher[origin.publisher][origin.original] = std::move(pub);
    moved = true;
  }
  if (!p.conference) return moved;
  for (auto& [id, other] : peers_) {
    if (id != peer && other.conference == p.conference) sync(other, peer, p);
  }
  return moved;
}

void TrackIds::removePeer(ParticipantId peer) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  if (it->second.conference) {
    for (auto& [id, other] : peers_) {
      if (id != peer && other.conference == it->second.conference) dropPublisher(other, peer);
    }
  }
  peers_.erase(it);
}

void TrackIds::dropPublisher(PeerState& subscriber, ParticipantId publisher) {
  for (auto& view : subscriber.view) {
    auto it = view.by_publisher.find(publisher);
    if (it == view.by_publisher.end()) continue;
    for (const auto& [original, pub] : it->second) view.by_public.erase(pub);
    view.by_publisher.erase(it);
  }
}

void TrackIds::sync(PeerState& subscriber, ParticipantId publisher_id, const PeerState& publisher) {
  for (IdKind kind : {IdKind::Stream, IdKind::Track}) {
    View& view = subscriber.view[index(kind)];
    const auto& ids = publisher.ids[index(kind)];
    auto& mine = view.by_publisher[publisher_id];
    // Ids it no longer announces free their public ids first, so they can be given again below.
    for (auto it = mine.begin(); it != mine.end();) {
      if (std::binary_search(ids.begin(), ids.end(), it->first)) {
        ++it;
      } else {
        view.by_public.erase(it->second);
        it = mine.erase(it);
      }
    }
    for (const auto& original : ids) {
      if (mine.count(original)) continue;
      std::string pub = choose(subscriber, kind, original);
      if (pub != original) ++rewritten_;
      view.by_public.emplace(pub, Origin{publisher_id, original});
      mine.emplace(original, std::move(pub));
    }
    if (mine.empty()) view.by_publisher.erase(publisher_id);
  }
}

std::string TrackIds::choose(const PeerState& subscriber, IdKind kind, std::string_view original) const {
  const View& view = subscriber.view[index(kind)];
  const auto& own = subscriber.ids[index(kind)];
  auto taken = [&](const std::string& id) {
    return view.by_public.count(id) != 0 || std::binary_search(own.begin(), own.end(), id);
  };
  const std::string base(original);
  if (!taken(base)) return base;
  // At most view.size() + own.size() candidates can be taken, so this ends within that many + 1 tries.
  for (std::size_t n = 2;; ++n) {
    const std::string suffix = "~" + std::to_string(n);
    std::string candidate = base.substr(0, kMaxIdLength - suffix.size()) + suffix;
    if (!taken(candidate)) return candidate;
  }
}

const std::string* TrackIds::publicId(ParticipantId subscriber, IdKind kind, ParticipantId publisher,
                                      std::string_view original) const {
  auto s = peers_.find(subscriber);
  if (s == peers_.end()) return nullptr;
  const View& view = s->second.view[index(kind)];
  auto p = view.by_publisher.find(publisher);
  if (p == view.by_publisher.end()) return nullptr;
  auto e = p->second.find(original);
  return e == p->second.end() ? nullptr : &e->second;
}

std::optional<TrackIds::Origin> TrackIds::resolve(ParticipantId subscriber, IdKind kind,
                                                  std::string_view id) const {
  auto s = peers_.find(subscriber);
  if (s == peers_.end()) return std::nullopt;
  const View& view = s->second.view[index(kind)];
  auto e = view.by_public.find(id);
  if (e == view.by_public.end()) return std::nullopt;
  return e->second;
}

std::vector<std::string> TrackIds::idsOf(ParticipantId peer, IdKind kind) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? std::vector<std::string>{} : it->second.ids[index(kind)];
}

std::size_t TrackIds::viewSize(ParticipantId subscriber) const {
  auto it = peers_.find(subscriber);
  if (it == peers_.end()) return 0;
  return it->second.view[0].by_public.size() + it->second.view[1].by_public.size();
}

std::size_t TrackIds::totalEntries() const {
  std::size_t n = 0;
  for (const auto& [id, p] : peers_) n += p.view[0].by_public.size() + p.view[1].by_public.size();
  return n;
}

}  // namespace chorus::focus
