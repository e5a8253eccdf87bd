#pragma once
// To-device m.call.* signalling (MSC2746 events with the MSC3401 group fields), and sdp_stream_metadata.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "base/result.hpp"

namespace chorus::proto {

enum class SignalType {
  Invite,
  Candidates,
  Answer,
  SelectAnswer,
  Reject,
  Negotiate,
  Hangup,
  SdpStreamMetadataChanged,
};

// "m.call.invite", ...; for SdpStreamMetadataChanged the unstable
// "org.matrix.call.sdp_stream_metadata_changed", which is what matrix-js-sdk 28.1.0 sends.
std::string_view eventTypeFor(SignalType t);
// Accepts both names of sdp_stream_metadata_changed.
std::optional<SignalType> parseSignalType(std::string_view event_type);

struct SessionDescription {
  std::string type;  // "offer" | "answer"
  std::string sdp;
  bool operator==(const SessionDescription&) const = default;
};

// {"type": string, "sdp": string} under `key` of o. Errors name "<key>.sdp" etc.
Result<SessionDescription> parseSessionDescription(const boost::json::object& o, std::string_view key);
boost::json::object serializeSessionDescription(const SessionDescription& d);

struct Candidate {
  std::string candidate;  // "" = end-of-candidates
  std::optional<std::string> sdp_mid;
  std::optional<std::int64_t> sdp_mline_index;
  std::optional<std::string> username_fragment;  // usernameFragment (js-sdk sends it)
  bool operator==(const Candidate&) const = default;
};

struct TrackInfo {
  std::optional<std::string> kind;  // "audio" | "video"
  std::optional<std::int64_t> width;
  std::optional<std::int64_t> height;
  bool operator==(const TrackInfo&) const = default;
};

struct StreamMetadata {
  std::string purpose;  // m.usermedia | m.screenshare
  bool audio_muted{false};
  bool video_muted{false};
  // Focus mode, focus -> participant only: the focus does not send this stream's video to this participant
  // now because its downlink cannot carry even the lowest layer (video_muted is then true as well, so a
  // client that does not know this key hides the frozen video). Written as "org.chorus.video_paused" when
  // true; never read from what a participant sends (a publisher cannot claim it).
  bool video_paused{false};
  std::optional<std::string> user_id;       // focus mode (MSC3898 / js-sdk-sfu)
  std::optional<std::string> device_id;     // focus mode
  std::map<std::string, TrackInfo> tracks;  // focus mode; omitted on the wire when empty
  bool operator==(const StreamMetadata&) const = default;
};

using SdpStreamMetadata = std::map<std::string, StreamMetadata>;  // stream id -> metadata

// At most kMaxStreams streams and kMaxTracksPerStream tracks each. path prefixes error messages.
inline constexpr std::size_t kMaxStreams = 1024;
inline constexpr std::size_t kMaxTracksPerStream = 1024;
inline constexpr std::size_t kMaxCandidates = 1024;
Result<SdpStreamMetadata> parseSdpStreamMetadata(const boost::json::value& v, std::string_view path = {});
boost::json::object serializeSdpStreamMetadata(const SdpStreamMetadata& m);

struct Capabilities {
  bool transferee{false};  // m.call.transferee
  bool dtmf{false};        // m.call.dtmf
  bool operator==(const Capabilities&) const = default;
};

struct CallSignal {
  SignalType type{SignalType::Invite};

  // Common (MSC2746 + MSC3401 group fields). Required on parse: call_id, party_id (except version-0 peers),
  // conf_id, device_id; the session ids are required for group calls.
  std::string call_id;
  std::string party_id;
  std::string version{"1"};  // accepts the number 0/1 or a string on parse; always sent as a string
  std::string conf_id;
  std::string device_id;
  std::string sender_session_id;
  std::string dest_session_id;
  std::optional<std::uint64_t> seq;  // absent from SFU (waterfall) peers

  // Type-specific.
  std::optional<SessionDescription> description;  // invite: offer; answer: answer; negotiate: either
  std::optional<std::int64_t> lifetime;           // invite, negotiate (ms)
  std::optional<std::string> invitee;             // invite
  std::vector<Candidate> candidates;              // candidates
  std::string selected_party_id;                  // select_answer
  std::optional<std::string> reason;              // hangup (open string; absent means user_hangup)
  std::optional<SdpStreamMetadata> metadata;      // invite, answer, negotiate, sdp_stream_metadata_changed
  std::optional<Capabilities> capabilities;       // invite, answer, negotiate

  boost::json::object extra;  // unknown keys (org.matrix.msgid, m.intent, ...), preserved

  bool operator==(const CallSignal&) const = default;
};

// event_type is the to-device event type. Errors name the field ("offer.sdp: expected a string").
Result<CallSignal> parseCallSignal(std::string_view event_type, const boost::json::object& content);
// Content as matrix-js-sdk 28.1.0 sends it (offer/answer/description keys,
// org.matrix.msc3077.sdp_stream_metadata).
boost::json::object serializeCallSignal(const CallSignal& s);

}  // namespace chorus::proto
