#include "core/focus_subscriptions.hpp"

#include <algorithm>
#include <tuple>
#include <vector>

#include "proto/member_event.hpp"

namespace chorus::core {

std::optional<proto::FocusMessage> FocusSubscriptions::update(const proto::SdpStreamMetadata& available,
                                                              const SubscriptionPolicy& policy) {
  struct Candidate {
    std::tuple<int, std::string, std::string, std::string, std::string> order;
    proto::TrackRef ref;
  };
  std::map<Key, proto::TrackRef> desired;
  std::vector<Candidate> kept_video;
  std::vector<Candidate> new_video;
  for (const auto& [stream_id, md] : available) {
    const bool own =
        policy.own_stream_ids.count(stream_id) != 0 ||
        (md.user_id && md.device_id && *md.user_id == policy.user_id && *md.device_id == policy.device_id);
    if (own) continue;
    for (const auto& [track_id, info] : md.tracks) {
      proto::TrackRef ref{stream_id, track_id, std::nullopt, std::nullopt};
      Key key{stream_id, track_id};
      if (info.kind && *info.kind == "audio") {
        desired.emplace(key, std::move(ref));
        continue;
      }
      ref.width = policy.width;
      ref.height = policy.height;
      Candidate c{{md.purpose == proto::kPurposeUserMedia ? 0 : 1, md.user_id.value_or(""),
                   md.device_id.value_or(""), stream_id, track_id},
                  std::move(ref)};
      (subscribed_.count(key) != 0 ? kept_video : new_video).push_back(std::move(c));
    }
  }
  auto by_order = [](const Candidate& a, const Candidate& b) { return a.order < b.order; };
  std::sort(kept_video.begin(), kept_video.end(), by_order);
  std::sort(new_video.begin(), new_video.end(), by_order);
  std::size_t tiles = 0;
  for (auto* list : {&kept_video, &new_video}) {
    for (auto& c : *list) {
      if (tiles >= policy.max_video_tracks) break;
      ++tiles;
      desired.emplace(Key{c.ref.stream_id, c.ref.track_id}, std::move(c.ref));
    }
  }

  proto::FocusMessage m;
  m.type = proto::FocusMessageType::TrackSubscription;
  for (const auto& [key, ref] : desired) {
    auto it = subscribed_.find(key);
    if (it == subscribed_.end() || it->second != ref) m.subscribe.push_back(ref);
  }
  for (const auto& [key, ref] : subscribed_) {
    if (desired.count(key) != 0) continue;
    auto s = available.find(key.first);
    if (s != available.end() && s->second.tracks.count(key.second) != 0) {
      m.unsubscribe.push_back(proto::TrackRef{key.first, key.second, std::nullopt, std::nullopt});
    }
  }
  subscribed_ = std::move(desired);
  if (m.subscribe.empty() && m.unsubscribe.empty()) return std::nullopt;
  ++messages_;
  return m;
}

}  // namespace chorus::core
