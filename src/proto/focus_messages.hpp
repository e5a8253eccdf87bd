#pragma once
// MSC3898 data-channel messages between a participant and a focus: UTF-8 JSON {"type": ..., "content":
// {...}}.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "proto/signalling.hpp"

namespace chorus::proto {

// The label of the participant's data channel to its focus (js-sdk `matthew/sfu`).
inline constexpr std::string_view kFocusDataChannelLabel = "datachannel";

// AudioSlots is a Chorus extension ("org.chorus.audio_slots"), sent by the focus only.
enum class FocusMessageType {
  TrackSubscription,
  Negotiate,
  SdpStreamMetadataChanged,
  Ping,
  Pong,
  AudioSlots
};

std::string_view toString(FocusMessageType t);  // "m.call.track_subscription", ...

struct TrackRef {
  std::string stream_id;
  std::string track_id;
  std::optional<std::int64_t> width;
  std::optional<std::int64_t> height;
  bool operator==(const TrackRef&) const = default;
};

// Who is on one of the participant's audio slots now (the focus forwards the loudest K of its audio
// subscriptions on K streams of its own, docs/focus.md "Audio slots"): the slot's stream id, and the
// speaker's user, device and stream/track ids as the participant knows them from the metadata; all empty but
// `slot` when nobody is on it.
struct AudioSlotSpeaker {
  std::string slot;
  std::string user_id;
  std::string device_id;
  std::string stream_id;
  std::string track_id;
  bool operator==(const AudioSlotSpeaker&) const = default;
};

struct FocusMessage {
  FocusMessageType type{FocusMessageType::Ping};
  std::vector<TrackRef> subscribe;                // track_subscription
  std::vector<TrackRef> unsubscribe;              // track_subscription
  std::optional<SessionDescription> description;  // negotiate
  std::optional<SdpStreamMetadata> metadata;      // negotiate, sdp_stream_metadata_changed (stable key)
  // sdp_stream_metadata_changed from the focus: `metadata` holds only streams that are new or changed since
  // the last message, to be merged into what the participant knows (matrix-js-sdk merges every update
  // anyway); false: it is everything the participant may receive. "org.chorus.metadata_delta": true on the
  // wire.
  bool metadata_delta{false};
  // With a delta: streams the participant knew that are gone (applied before the delta's streams).
  // "org.chorus.removed_streams" on the wire; at most kMaxStreams.
  std::vector<std::string> removed_streams;
  // org.chorus.audio_slots: every slot of the participant, at most kMaxTrackRefs.
  std::vector<AudioSlotSpeaker> audio_slots;

  bool operator==(const FocusMessage&) const = default;
};

// Name -> type; nullopt for unknown names (m.call.connect_to_focus is not supported).
std::optional<FocusMessageType> parseFocusMessageType(std::string_view s);

// Bounded: texts over kMaxFocusMessageBytes are rejected before parsing.
inline constexpr std::size_t kMaxFocusMessageBytes = 256 * 1024;
// At most this many entries in each of subscribe / unsubscribe.
inline constexpr std::size_t kMaxTrackRefs = 1024;
Result<FocusMessage> parseFocusMessage(std::string_view text);
std::string serializeFocusMessage(const FocusMessage& m);

}  // namespace chorus::proto
