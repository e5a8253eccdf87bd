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

bool TrackIds::owns(const PeerState& p, IdKind kind, std::string_view id) {
  const auto& own = p.ids[index(kind)];
  return std::binary_search(own.begin(), own.end(), id, std::less<>{});
}

const std::string* TrackIds::override(const PeerState& subscriber, IdKind kind, ParticipantId publisher,
                                      std::string_view original) {
  const View& view = subscriber.view[index(kind)];
  auto p = view.by_publisher.find(publisher);
  if (p == view.by_publisher.end()) return nullptr;
  auto e = p->second.find(original);
  return e == p->second.end() ? nullptr : &e->second;
}

std::optional<ParticipantId> TrackIds::holder(ParticipantId subscriber_id, const PeerState& subscriber,
                                              IdKind kind, std::string_view id, bool ignore_own) const {
  if (subscriber.conf == nullptr || (!ignore_own && owns(subscriber, kind, id))) return std::nullopt;
  const auto& claims = subscriber.conf->claims[index(kind)];
  auto it = claims.find(id);
  if (it == claims.end()) return std::nullopt;
  for (ParticipantId q : it->second) {
    if (q != subscriber_id && override(subscriber, kind, q, id) == nullptr) return q;
  }
  return std::nullopt;
}

bool TrackIds::taken(ParticipantId subscriber_id, const PeerState& subscriber, IdKind kind,
                     std::string_view id) const {
  return owns(subscriber, kind, id) || subscriber.view[index(kind)].by_public.count(id) != 0 ||
         holder(subscriber_id, subscriber, kind, id).has_value();
}

std::string TrackIds::choose(ParticipantId subscriber_id, const PeerState& subscriber, IdKind kind,
                             std::string_view original) const {
  const std::string base(original);
  if (!taken(subscriber_id, subscriber, kind, base)) return base;
  // Each candidate is taken by at most one id the subscriber sees or owns, so this ends.
  for (std::size_t n = 2;; ++n) {
    const std::string suffix = "~" + std::to_string(n);
    std::string candidate = base.substr(0, kMaxIdLength - suffix.size()) + suffix;
    if (!taken(subscriber_id, subscriber, kind, candidate)) return candidate;
  }
}

void TrackIds::addEntry(PeerState& subscriber, IdKind kind, ParticipantId publisher,
                        const std::string& original, std::string pub) {
  View& view = subscriber.view[index(kind)];
  ++rewritten_;
  view.by_public.emplace(pub, Origin{publisher, original});
  view.by_publisher[publisher][original] = std::move(pub);
}

void TrackIds::claim(ParticipantId peer, PeerState& p, IdKind kind, const std::string& id) {
  for (auto& [sid, sub] : peers_) {
    if (sid == peer || sub.conf != p.conf) continue;
    // Taken in its view (by someone else, or by its own id): the newcomer gets another id there.
    if (taken(sid, sub, kind, id)) addEntry(sub, kind, peer, id, choose(sid, sub, kind, id));
  }
  p.conf->claims[index(kind)][id].push_back(peer);
}

void TrackIds::unclaim(ParticipantId peer, PeerState& p, IdKind kind, const std::string& id) {
  auto& claims = p.conf->claims[index(kind)];
  if (auto it = claims.find(id); it != claims.end()) {
    std::erase(it->second, peer);
    if (it->second.empty()) claims.erase(it);
  }
  for (auto& [sid, sub] : peers_) {
    if (sid == peer || sub.conf != p.conf) continue;
    View& view = sub.view[index(kind)];
    auto bp = view.by_publisher.find(peer);
    if (bp == view.by_publisher.end()) continue;
    if (auto e = bp->second.find(id); e != bp->second.end()) {
      view.by_public.erase(e->second);
      bp->second.erase(e);
    }
    if (bp->second.empty()) view.by_publisher.erase(bp);
  }
}

void TrackIds::leaveConference(ParticipantId peer, PeerState& p) {
  if (p.conf == nullptr) return;
  for (IdKind kind : {IdKind::Stream, IdKind::Track}) {
    for (const auto& id : p.ids[index(kind)]) unclaim(peer, p, kind, id);
  }
  p.view = {};
  if (--p.conf->members == 0) conferences_.erase(*p.conference);
  p.conf = nullptr;
  p.conference.reset();
}

void TrackIds::setConference(ParticipantId peer, std::string_view conference) {
  PeerState& p = peers_[peer];
  if (p.conference && *p.conference == conference) return;
  leaveConference(peer, p);
  auto c = conferences_.find(conference);
  if (c == conferences_.end()) c = conferences_.emplace(std::string(conference), Conference{}).first;
  p.conference = std::string(conference);
  p.conf = &c->second;
  ++p.conf->members;
  // Its view of what is announced already: per id, the first announcer keeps it (unless this peer announces
  // it too), the others get entries; ids in sorted order, announcers in the order they announced.
  for (IdKind kind : {IdKind::Stream, IdKind::Track}) {
    for (const auto& [id, announcers] : p.conf->claims[index(kind)]) {
      bool first = !owns(p, kind, id) && p.view[index(kind)].by_public.count(id) == 0;
      for (ParticipantId q : announcers) {
        if (!first) addEntry(p, kind, q, id, choose(peer, p, kind, id));
        first = false;
      }
    }
  }
  // Its own ids, in everyone else's view.
  for (IdKind kind : {IdKind::Stream, IdKind::Track}) {
    for (const auto& id : p.ids[index(kind)]) claim(peer, p, kind, id);
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
  const std::vector<std::string> before = std::move(p.ids[index(kind)]);
  p.ids[index(kind)] = std::move(all);
  const auto& now = p.ids[index(kind)];
  if (p.conf == nullptr) return false;
  std::vector<std::string> gone, added;
  std::set_difference(before.begin(), before.end(), now.begin(), now.end(), std::back_inserter(gone));
  std::set_difference(now.begin(), now.end(), before.begin(), before.end(), std::back_inserter(added));
  for (const auto& id : gone) unclaim(peer, p, kind, id);
  // What it sees under an id it now publishes itself moves to another id.
  bool moved = false;
  for (const auto& id : added) {
    View& view = p.view[index(kind)];
    std::optional<Origin> origin;
    if (auto e = view.by_public.find(id); e != view.by_public.end()) {
      origin = e->second;
      view.by_public.erase(e);
      view.by_publisher[origin->publisher].erase(origin->original);
    } else if (auto q = holder(peer, p, kind, id, true)) {
      origin = Origin{*q, id};
    }
    if (!origin) continue;
    addEntry(p, kind, origin->publisher, origin->original, choose(peer, p, kind, origin->original));
    moved = true;
  }
  for (const auto& id : added) claim(peer, p, kind, id);
  return moved;
}

void TrackIds::removePeer(ParticipantId peer) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  leaveConference(peer, it->second);
  peers_.erase(it);
}

const std::string* TrackIds::publicId(ParticipantId subscriber, IdKind kind, ParticipantId publisher,
                                      std::string_view original) const {
  auto s = peers_.find(subscriber);
  if (s == peers_.end() || s->second.conf == nullptr || subscriber == publisher) return nullptr;
  const PeerState& sub = s->second;
  if (const std::string* o = override(sub, kind, publisher, original)) return o;
  if (holder(subscriber, sub, kind, original) != publisher) return nullptr;
  return &sub.conf->claims[index(kind)].find(original)->first;
}

std::optional<TrackIds::Origin> TrackIds::resolve(ParticipantId subscriber, IdKind kind,
                                                  std::string_view id) const {
  auto s = peers_.find(subscriber);
  if (s == peers_.end()) return std::nullopt;
  const View& view = s->second.view[index(kind)];
  if (auto e = view.by_public.find(id); e != view.by_public.end()) return e->second;
  if (auto q = holder(subscriber, s->second, kind, id)) return Origin{*q, std::string(id)};
  return std::nullopt;
}

std::vector<std::string> TrackIds::idsOf(ParticipantId peer, IdKind kind) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? std::vector<std::string>{} : it->second.ids[index(kind)];
}

std::size_t TrackIds::viewSize(ParticipantId subscriber) const {
  auto it = peers_.find(subscriber);
  if (it == peers_.end() || it->second.conf == nullptr) return 0;
  std::size_t n = 0;
  for (const auto& claims : it->second.conf->claims) {
    for (const auto& [id, announcers] : claims) {
      n += announcers.size() -
           static_cast<std::size_t>(std::count(announcers.begin(), announcers.end(), subscriber));
    }
  }
  return n;
}

std::size_t TrackIds::totalEntries() const {
  std::size_t n = 0;
  for (const auto& [id, p] : peers_) n += viewSize(id);
  return n;
}

}  // namespace chorus::focus
