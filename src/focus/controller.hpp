#pragma once
// The focus's control plane, sans-IO like core::GroupCall: room state and to-device messages in; to-device
// replies, transport commands and data-channel messages out. It decides who may use this focus (MSC3898 §4.2,
// msc3401.md §4): in rooms it has joined, only devices joined to the room that list that device and session
// in a non-expired member event of that conf_id and name this focus in foci.active or foci.preferred. For a
// conf_id of no room it has joined (clients that name the focus but never invite it, like js-sdk's
// matthew/sfu), the UnjoinedRooms policy decides by the sender's homeserver, within per-user and per-server
// limits (docs/focus.md "Rooms the focus has not joined"). Everyone else is rejected.
// The media plane (ICE-lite/DTLS/SRTP/SCTP, forwarding) executes the peer actions.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/clock.hpp"
#include "base/rng.hpp"
#include "focus/track_ids.hpp"
#include "proto/focus_messages.hpp"
#include "proto/room_events.hpp"
#include "proto/room_state.hpp"
#include "proto/signalling.hpp"

namespace chorus::focus {

using ParticipantId = std::uint64_t;

// Who may use the focus for a conference (conf_id) of a room it has not joined. The focus cannot see such a
// room's state, so it only knows the sender's user id, authenticated by the sender's homeserver.
enum class UnjoinedRooms {
  Off,        // rejected, like any unknown conf_id
  OwnServer,  // senders of the focus's own homeserver (the server name of ControllerConfig::user_id)
  AllowList,  // senders of the servers in ControllerConfig::unjoined_allowed_servers
};
std::optional<UnjoinedRooms> parseUnjoinedRooms(std::string_view s);  // "off", "own-server", "allow-list"
std::string_view toString(UnjoinedRooms p);
// The server name of a user id ("@alice:example.org:8448" -> "example.org:8448"); "" when malformed.
std::string serverOfUser(std::string_view user_id);

struct ControllerConfig {
  std::string user_id;                       // the focus's Matrix user
  std::string device_id;                     // and device (foci are identified by the pair)
  std::vector<std::string> allowed_servers;  // invites accepted from rooms on these servers (empty: any)
  std::vector<std::string> allowed_rooms;    // or exactly these rooms (empty: any)
  std::size_t max_rooms{256};
  std::size_t max_conferences{64};
  std::size_t max_participants_per_conference{100};
  std::size_t max_data_channel_message{proto::kMaxFocusMessageBytes};
  TimeMs ping_interval_ms{30'000};  // MSC3898: at most 30 s
  TimeMs pong_timeout_ms{30'000};
  TimeMs connect_timeout_ms{30'000};  // an accepted peer must connect within this
  // An invite whose sender is not (yet) in the member state waits this long for the room state to catch up
  // (state and to-device come on different streams) before it is rejected. 0: reject at once.
  TimeMs invite_grace_ms{5'000};
  // Conferences of rooms the focus has not joined (see UnjoinedRooms); their participants are keyed by
  // conf_id alone and only keepalive, ICE consent and hangup end them.
  UnjoinedRooms unjoined_rooms{UnjoinedRooms::OwnServer};
  std::vector<std::string> unjoined_allowed_servers;  // with UnjoinedRooms::AllowList
  std::size_t max_unjoined_per_user{4};               // concurrent such participants (devices) of one user
  std::size_t max_unjoined_per_server{256};           // and of all users of one homeserver
  // What a participant may receive (its metadata, m.call.sdp_stream_metadata_changed over the data channel)
  // is sent only when it changed since it was last told, and at most once per metadata_interval_ms +
  // metadata_interval_per_participant_ms × (the conference's size): a change after a quiet spell goes out at
  // once, changes within the interval are coalesced into one message at its end (the latest wins). A message
  // carries everything (MSC3898 metadata is not a delta for every client), so it grows with the conference;
  // the interval growing with it too bounds the bytes per second each participant is sent. 0 and 0: every
  // change at once.
  TimeMs metadata_interval_ms{200};
  TimeMs metadata_interval_per_participant_ms{10};
  // Metadata deltas (docs/focus.md, "Signalling flow" 2.) in conferences of at least this many participants;
  // smaller ones get whole messages, as before (a client that replaces what it knew with each message, as
  // chorus's own did, keeps working there; matrix-js-sdk merges either).
  std::size_t metadata_deltas_from{32};
  // The largest to-device content the focus sends. Its m.call.answer carries the metadata of every other
  // participant's streams (like waterfall's) only while that fits; past it the metadata is left out (the
  // participant is told over the data channel once connected), and an answer too large even then is not sent
  // (the participant is hung up on with "answer_too_large"). Homeservers refuse events over 64 KiB.
  std::size_t max_to_device_bytes{60 * 1024};
};
// "" when the UnjoinedRooms settings of `c` go together, else what is wrong (for the command line and
// config).
std::string checkUnjoinedRooms(const ControllerConfig& c);

namespace in {
struct RoomInvite {  // we were invited to a room
  std::string room_id;
  std::string inviter;
};
struct RoomJoined {  // our join succeeded
  std::string room_id;
};
struct RoomStateChanged {
  std::string room_id;
  std::vector<proto::StateEvent> events;
};
struct ToDevice {
  proto::ToDeviceMessage message;
};
struct PeerAnswerReady {  // the media plane answered the peer's offer
  ParticipantId peer{0};
  std::string sdp;
};
struct PeerCandidate {  // a local candidate of the peer's transport ("" = end of candidates)
  ParticipantId peer{0};
  proto::Candidate candidate;
};
struct PeerConnected {
  ParticipantId peer{0};
};
struct PeerFailed {  // ICE consent lost, DTLS failure, …
  ParticipantId peer{0};
  std::string reason;
};
struct DataChannelMessage {
  ParticipantId peer{0};
  std::string text;
};
// The publishers' streams whose video the media plane cannot send this peer now (its downlink does not
// carry even the lowest layer), by (publisher, the publisher's own stream id); the whole set each time. The
// peer is told in its metadata (video_muted + video_paused) when the set changed.
struct DownlinkPaused {
  ParticipantId peer{0};
  std::set<std::pair<ParticipantId, std::string>> streams;
};
// Who the media plane has on a participant's audio slots now (Router::audioSlots), by the publishers' own
// ids (publisher 0: nobody); the participant is told (org.chorus.audio_slots) when that changed.
struct AudioSlotSpeakers {
  struct Slot {
    std::string slot;  // the slot's stream id
    ParticipantId publisher{0};
    std::string stream_id;
    std::string track_id;
  };
  ParticipantId peer{0};
  std::vector<Slot> slots;
};
struct Tick {};
struct Shutdown {};  // the focus is stopping: hang up on everyone
}  // namespace in

using Input =
    std::variant<in::RoomInvite, in::RoomJoined, in::RoomStateChanged, in::ToDevice, in::PeerAnswerReady,
                 in::PeerCandidate, in::PeerConnected, in::PeerFailed, in::DataChannelMessage,
                 in::DownlinkPaused, in::AudioSlotSpeakers, in::Tick, in::Shutdown>;

namespace act {
struct JoinRoom {
  std::string room_id;
};
struct CreatePeer {  // set up a transport for this participant and answer its offer (-> in::PeerAnswerReady)
  ParticipantId peer{0};
  std::string room_id;
  std::string conf_id;
  std::string user_id;
  std::string device_id;
  std::string offer_sdp;
};
struct AddRemoteCandidate {
  ParticipantId peer{0};
  proto::Candidate candidate;
};
struct ClosePeer {
  ParticipantId peer{0};
};
struct SendDataChannel {
  ParticipantId peer{0};
  std::string text;
};
// Subscription changes for the router (MSC3898 m.call.track_subscription).
struct UpdateSubscriptions {
  ParticipantId peer{0};
  std::vector<proto::TrackRef> subscribe;
  std::vector<proto::TrackRef> unsubscribe;
};
// A description from the peer over the data channel (renegotiation).
struct ApplyDescription {
  ParticipantId peer{0};
  proto::SessionDescription description;
};
struct Warning {
  std::string message;
  bool warn{false};  // logged at warn (a participant removed, not just a policy's note); else at info
};
}  // namespace act

using Action =
    std::variant<act::JoinRoom, proto::SendToDevice, act::CreatePeer, act::AddRemoteCandidate, act::ClosePeer,
                 act::SendDataChannel, act::UpdateSubscriptions, act::ApplyDescription, act::Warning>;
using Actions = std::vector<Action>;

struct Counters {
  std::uint64_t invites_accepted{0};
  std::uint64_t rejected_not_member{0};     // no valid member entry for that device and session
  std::uint64_t rejected_not_our_focus{0};  // the member does not name this focus
  std::uint64_t rejected_unknown_conf{0};   // no room we are in has that call
  std::uint64_t rejected_full{0};           // conference or focus limits
  std::uint64_t dropped_to_device{0};       // malformed, not for "sfu", unknown call
  std::uint64_t dropped_data_channel{0};    // malformed or oversized
  std::uint64_t room_invites_refused{0};
  std::uint64_t removed_membership{0};  // their member entry went away or expired
  std::uint64_t removed_keepalive{0};   // no pong in time
  // Conferences of rooms the focus has not joined:
  std::uint64_t invites_accepted_unjoined{0};  // served by the UnjoinedRooms policy (in invites_accepted too)
  std::uint64_t rejected_unjoined_limit{0};    // max_unjoined_per_user / max_unjoined_per_server reached
  std::uint64_t promoted_unjoined{0};   // the call turned up in a joined room and the peer passed the checks
  std::uint64_t removed_unverified{0};  // ... and it did not pass them within invite_grace_ms
  // Metadata sent over data channels (m.call.sdp_stream_metadata_changed; not the copies in offers/answers).
  std::uint64_t metadata_messages{0};
  std::uint64_t audio_slot_messages{0};  // org.chorus.audio_slots sent
  std::uint64_t metadata_bytes{0};
  std::uint64_t answers_without_metadata{0};  // over max_to_device_bytes with it
  std::uint64_t answers_too_large{0};         // ... and without it
};

// One participant connected to the focus.
struct Participant {
  ParticipantId id{0};
  std::string room_id;
  std::string conf_id;
  std::string user_id;
  std::string device_id;
  std::string session_id;
  std::string call_id;
  std::uint64_t tx_seq{0};
  bool connected{false};
  TimeMs created_at{0};
  TimeMs expires_ts{0};  // of its member entry; re-checked then
  // Admitted by the UnjoinedRooms policy: room_id is "" (the conference is keyed by conf_id alone), there is
  // no member entry (expires_ts unused). When the conf_id turns up in a joined room, it has until verify_by
  // to pass the full checks (then it becomes a normal participant of that room) or it is removed.
  bool unjoined{false};
  std::optional<TimeMs> verify_by;
  std::optional<TimeMs> ping_sent_at;
  TimeMs next_ping_at{0};
  std::uint64_t dc_messages{0};  // data-channel messages from it, and when the last came (for diagnostics)
  TimeMs last_dc_at{0};
  proto::SdpStreamMetadata published;  // what this participant sends (from its invite / updates)
  // (publisher, its stream id) whose video the focus does not send this participant now (in::DownlinkPaused);
  // bounded by the media plane's subscriptions of this participant.
  std::set<std::pair<ParticipantId, std::string>> paused_video;
  // The stream ids of its audio slots (Router::audioSlots; empty: none): described in what it is told as the
  // focus's own audio streams.
  std::vector<std::string> audio_slots;
  // Who the media plane has on its slots (the last in::AudioSlotSpeakers; bounded by its audio slots), and
  // what it was last told of it (org.chorus.audio_slots). It is told again when it connects and after each
  // metadata message, so a speaker whose ids it did not know yet is named once it does.
  std::vector<in::AudioSlotSpeakers::Slot> audio_slot_input;
  std::vector<proto::AudioSlotSpeaker> audio_slot_speakers;
  // What it was last told of the others (hash of that metadata message, 0: nothing yet), when, and whether it
  // may have changed since (ControllerConfig::metadata_interval_ms).
  std::uint64_t metadata_told{0};
  std::optional<TimeMs> metadata_sent_at;
  bool metadata_dirty{false};
  // Deltas (docs/focus.md, "Metadata deltas"): the Controller's metadata version when what this participant
  // publishes last changed; the version when it was last told the others'; and whether the next message to it
  // must be whole (the first one, or after something it knew went away or changed only for it).
  std::uint64_t metadata_version{0};
  std::uint64_t metadata_told_version{0};
  bool metadata_whole{true};
  // Streams it knew that went away since it was last told (the ids it saw them under), for the next delta; at
  // most Controller::kMaxRemovedPending (past that, the next message is whole).
  std::vector<std::string> metadata_removed;
};

class Controller {
 public:
  static constexpr std::size_t kMaxRemovedPending = 256;  // Participant::metadata_removed
  Controller(ControllerConfig config, const Clock& clock);

  Actions handle(const Input& input);
  std::optional<TimeMs> nextTimeout() const;

  const Counters& counters() const { return counters_; }
  const Participant* participant(ParticipantId id) const;
  std::vector<const Participant*> participants() const;
  // The metadata a peer is told about: every other participant's published streams, tagged with their ids,
  // under the stream and track ids this peer sees them by (trackIds()).
  // `newer_than` > 0: only the participants whose metadata_version is newer (a delta; without the audio
  // slots).
  proto::SdpStreamMetadata availableTo(const Participant& peer, std::uint64_t newer_than = 0) const;
  // The msid stream and track ids a peer's SDP announces (the media plane tells us after each negotiation);
  // with its metadata they make the ids it publishes. True when the peer must be told its metadata again
  // (something it sees moved to another id, because it now publishes that id itself).
  bool setTransportIds(ParticipantId peer, const std::vector<std::string>& stream_ids,
                       const std::vector<std::string>& track_ids);
  // The ids each subscriber sees (docs/focus.md, "Stream and track ids").
  const TrackIds& trackIds() const { return ids_; }
  // What `peer` may receive may have changed (outside the Controller's own inputs): it is told (whole
  // metadata), coalesced as for ControllerConfig::metadata_interval_ms, by a later handle() (nextTimeout()
  // says when).
  void metadataChanged(ParticipantId peer);
  // The metadata `peer` is told now in another message (an offer or answer of the media plane): recorded as
  // told, so it is not sent again on its own unless it changes. Empty for an unknown peer.
  proto::SdpStreamMetadata tellMetadata(ParticipantId peer);
  // As tellMetadata(), for `metadata` (from availableTo()) that was sent.
  void toldMetadata(ParticipantId peer, const proto::SdpStreamMetadata& metadata);
  // The stream ids of `peer`'s audio slots (the media plane's, from the Router). A change is told as for
  // metadataChanged().
  void setAudioSlots(ParticipantId peer, std::vector<std::string> stream_ids);

 private:
  void onInvite(const std::string& sender, const proto::CallSignal& sig, Actions& out,
                std::optional<TimeMs> held_until = std::nullopt);
  // Keeps an invite that failed the membership checks until `until` (default now + invite_grace_ms); false
  // when it may not wait (grace over, or too many held).
  bool hold(const std::string& sender, const proto::CallSignal& sig, std::optional<TimeMs> until);
  void retryHeld(Actions& out);
  void onToDevice(const proto::ToDeviceMessage& m, Actions& out);
  void onDataChannel(Participant& p, const std::string& text, Actions& out);
  void recheckMembership(const std::string& room_id, Actions& out);
  // Whether the UnjoinedRooms policy serves this sender's homeserver.
  bool unjoinedAllowed(const std::string& sender) const;
  // Unjoined peers whose conf_id is now a call of a joined room: promoted when they pass, else removed once
  // their verify_by has passed.
  void verifyUnjoined(Actions& out);
  void remove(Participant& p, const std::string& reason, bool tell_peer, Actions& out);
  // Stores what `p` publishes and updates the ids it announces; true as for setTransportIds.
  bool setPublished(Participant& p, proto::SdpStreamMetadata metadata);
  // Every connected peer of the conference (but `except`, whose change it is) is to be told what it can
  // receive (flushMetadata).
  // `whole`: something they knew went away or moved, so the next message is whole, not a delta.
  void tellAudioSlots(Participant& p, Actions& out);
  void broadcastMetadata(const std::string& room_id, const std::string& conf_id, Actions& out,
                         ParticipantId except = 0, bool whole = false);
  // `publisher`'s streams `stream_ids` go away: each other participant of its conference is told in its next
  // delta, under the id it saw them by (call before the ids are dropped).
  void tellRemoved(const Participant& publisher, const std::vector<std::string>& stream_ids);
  // Sends the metadata to each peer that is due (ControllerConfig::metadata_interval_ms) and whose metadata
  // changed.
  void flushMetadata(Actions& out);
  // Conference key -> participants (for the metadata interval).
  std::map<std::string, std::size_t> conferenceSizes() const;
  TimeMs metadataInterval(std::size_t conference_size) const;
  void sendSignal(Participant& p, proto::CallSignal sig, Actions& out);
  proto::CallSignal base(const Participant& p, proto::SignalType type) const;
  // m.call.reject with `reason` (a short code) in its content; `why` goes to the log.
  void reject(const std::string& sender, const proto::CallSignal& sig, std::string_view reason,
              const std::string& why, Actions& out);
  bool roomAllowed(const std::string& room_id) const;
  std::optional<std::string> roomOfConf(const std::string& conf_id) const;
  Participant* findParticipant(const std::string& user, const std::string& device,
                               const std::string& call_id);
  std::size_t conferenceSize(const std::string& room_id, const std::string& conf_id) const;

  ControllerConfig config_;
  const Clock& clock_;                             // Borrowed (outlives this).
  std::map<std::string, proto::RoomState> rooms_;  // joined rooms
  std::set<std::string> pending_joins_;
  std::map<ParticipantId, Participant> peers_;
  ParticipantId next_peer_{0};
  struct HeldInvite {
    std::string sender;
    proto::CallSignal sig;
    TimeMs until{0};
  };
  static constexpr std::size_t kMaxHeldInvites = 64;
  std::vector<HeldInvite> held_;  // bounded by kMaxHeldInvites
  TrackIds ids_;
  Counters counters_;
  std::uint64_t metadata_version_{0};  // bumped whenever a participant's published metadata changes
};

}  // namespace chorus::focus
