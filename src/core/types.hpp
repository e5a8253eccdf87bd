#pragma once
// Inputs to and actions from the sans-IO group-call machine. The owner (the Matrix shell, or a test) feeds
// Inputs in, executes the returned Actions, and calls back with their results as Inputs.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <boost/json.hpp>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "proto/call_event.hpp"
#include "proto/member_event.hpp"
#include "proto/room_events.hpp"
#include "proto/signalling.hpp"

namespace chorus::core {

using LegId = std::uint64_t;
using RequestId = std::uint64_t;

// The Matrix vocabulary lives in proto (shared with the focus and the shell); core uses it under these names.
using StateEvent = proto::StateEvent;
using ToDeviceMessage = proto::ToDeviceMessage;
using Participant = proto::Participant;

// One local media feed (a MediaStream): its id as it appears in our SDP msid, and its purpose.
struct LocalFeed {
  std::string stream_id;
  std::string purpose{proto::kPurposeUserMedia};
  bool audio_muted{false};
  bool video_muted{false};
  // Size of the video we send for this feed. Focus mode only: it goes into the stream's
  // sdp_stream_metadata `tracks` (the focus uses it for simulcast decisions).
  std::optional<std::int64_t> width;
  std::optional<std::int64_t> height;
};

enum class MediaState { Connecting, Connected, Disconnected, Failed, Closed };

// ---- Inputs ----
namespace in {
struct StateChanged {  // room state changes, in order (from the sync timeline/state)
  std::vector<StateEvent> events;
};
struct ToDeviceReceived {
  ToDeviceMessage message;
};
struct Tick {};  // time passed; process whatever is due at clock.nowMs()
struct Enter {
  std::vector<LocalFeed> feeds;
  bool create_if_missing{false};
  proto::CallIntent intent{proto::CallIntent::Prompt};
  proto::CallType type{proto::CallType::Video};
  std::optional<std::string> name;
};
struct Leave {};
struct Terminate {};
struct SetFeeds {  // mute/unmute, screenshare on/off
  std::vector<LocalFeed> feeds;
};
struct RequestFailed {
  RequestId id{0};
  Error error;
};
// Media results (from the endpoint).
struct LocalDescription {
  LegId leg{0};
  proto::SessionDescription description;
};
struct LocalCandidate {
  LegId leg{0};
  proto::Candidate candidate;
};
struct GatheringComplete {
  LegId leg{0};
};
struct MediaStateChanged {
  LegId leg{0};
  MediaState state{MediaState::Connecting};
};
struct NegotiationNeeded {
  LegId leg{0};
};
struct MediaFailed {  // the endpoint could not do what was asked (e.g. bad SDP)
  LegId leg{0};
  std::string message;
};
// The leg's data channel (CreateLeg::data_channel) opened / closed, or a text message arrived on it.
struct DataChannelOpen {
  LegId leg{0};
};
struct DataChannelMessage {
  LegId leg{0};
  std::string text;
};
struct DataChannelClosed {
  LegId leg{0};
};
}  // namespace in

using Input =
    std::variant<in::StateChanged, in::ToDeviceReceived, in::Tick, in::Enter, in::Leave, in::Terminate,
                 in::SetFeeds, in::RequestFailed, in::LocalDescription, in::LocalCandidate,
                 in::GatheringComplete, in::MediaStateChanged, in::NegotiationNeeded, in::MediaFailed,
                 in::DataChannelOpen, in::DataChannelMessage, in::DataChannelClosed>;

enum class LegState { CreatingOffer, InviteSent, CreatingAnswer, Connecting, Connected, Ended };
std::string_view toString(LegState s);

// ---- Actions ----
namespace act {
struct PutState {
  RequestId id{0};
  std::string type;
  std::string state_key;
  boost::json::object content;
  // For our own member event: the content to publish if we vanish (the same event without our device). The
  // shell schedules it as an MSC4140 delayed event where the homeserver supports that.
  std::optional<boost::json::object> leave_content;
};
using SendToDevice = proto::SendToDevice;
struct ScheduleWakeup {  // deliver in::Tick at (or after) this time; replaces any earlier request
  TimeMs at{0};
};
struct CreateLeg {
  LegId leg{0};
  std::string user_id;
  std::string device_id;
  std::string session_id;
  bool outgoing{false};
  bool media_enabled{true};
  // Create a data channel with this label before the first offer (ordered, reliable). Set for the leg to a
  // focus (MSC3898: "datachannel"); the mesh legs have none.
  std::optional<std::string> data_channel;
  bool focus{false};  // the leg to an MSC3898 focus (SFU)
};
struct CreateOffer {
  LegId leg{0};
  bool ice_restart{false};
};
struct CreateAnswer {
  LegId leg{0};
};
struct SetRemoteDescription {
  LegId leg{0};
  proto::SessionDescription description;
};
struct AddRemoteCandidates {
  LegId leg{0};
  std::vector<proto::Candidate> candidates;
};
struct SetLegMediaEnabled {
  LegId leg{0};
  bool enabled{true};
};
struct CloseLeg {
  LegId leg{0};
};
// Send a UTF-8 text message on the leg's data channel (only emitted once it is open).
struct SendDataChannel {
  LegId leg{0};
  std::string text;
};
// Notifications for the UI / the shell; nothing to execute.
struct ParticipantsChanged {
  std::vector<Participant> participants;  // remote devices only
};
struct LegChanged {
  LegId leg{0};
  std::string user_id;
  std::string device_id;
  std::string call_id;
  LegState state{LegState::CreatingOffer};
  std::string reason;  // for Ended: hangup reason
  bool focus{false};   // the leg to the focus (user_id/device_id are the focus's)
};
// The streams the peer offers us. On a mesh leg: the peer's own feeds. On the focus leg (`focus`): every
// stream the focus forwards, each with the user_id/device_id of the participant it belongs to and its
// tracks (stream/track ids as in the focus's SDP msid).
struct RemoteFeedsChanged {
  LegId leg{0};
  proto::SdpStreamMetadata metadata;
  bool focus{false};
};
struct CallChanged {
  std::optional<std::string> call_id;  // the room's current call, if any
  bool entered{false};
};
struct Warning {
  std::string message;
};
}  // namespace act

using Action =
    std::variant<act::PutState, act::SendToDevice, act::ScheduleWakeup, act::CreateLeg, act::CreateOffer,
                 act::CreateAnswer, act::SetRemoteDescription, act::AddRemoteCandidates,
                 act::SetLegMediaEnabled, act::CloseLeg, act::SendDataChannel, act::ParticipantsChanged,
                 act::LegChanged, act::RemoteFeedsChanged, act::CallChanged, act::Warning>;
using Actions = std::vector<Action>;

// Actions the media backend executes (the rest are for the shell or the UI).
inline bool isMediaAction(const Action& a) {
  return std::holds_alternative<act::CreateLeg>(a) || std::holds_alternative<act::CreateOffer>(a) ||
         std::holds_alternative<act::CreateAnswer>(a) ||
         std::holds_alternative<act::SetRemoteDescription>(a) ||
         std::holds_alternative<act::AddRemoteCandidates>(a) ||
         std::holds_alternative<act::SetLegMediaEnabled>(a) || std::holds_alternative<act::CloseLeg>(a) ||
         std::holds_alternative<act::SendDataChannel>(a);
}

}  // namespace chorus::core
