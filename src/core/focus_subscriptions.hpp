#pragma once
// Which tracks a participant asks its focus for (m.call.track_subscription, MSC3898): every audio track, and
// video tracks up to a tile limit with the size we want. Changes are sent as differences against what was
// already asked for. Never our own streams.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "proto/focus_messages.hpp"

namespace chorus::core {

struct SubscriptionPolicy {
  std::string user_id;  // ours: streams of this user and device are never subscribed
  std::string device_id;
  std::set<std::string> own_stream_ids;
  std::size_t max_video_tracks{9};
  std::int64_t width{640};
  std::int64_t height{360};
};

class FocusSubscriptions {
 public:
  using Key = std::pair<std::string, std::string>;  // (stream_id, track_id)

  // The subscription change for the streams now available, or nullopt when there is nothing to send. Video
  // tracks already subscribed keep their tile; free tiles go to the others in (purpose: usermedia first,
  // user, device, stream, track) order. Unsubscribes are sent only for tracks that are still available
  // (the focus has already dropped the others).
  std::optional<proto::FocusMessage> update(const proto::SdpStreamMetadata& available,
                                            const SubscriptionPolicy& policy);

  const std::map<Key, proto::TrackRef>& subscribed() const { return subscribed_; }
  std::uint64_t messagesSent() const { return messages_; }

 private:
  std::map<Key, proto::TrackRef> subscribed_;
  std::uint64_t messages_{0};
};

}  // namespace chorus::core
