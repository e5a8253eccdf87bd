#pragma once
// Values that cross the endpoint's API: events out of the MediaEngine, per-leg statistics and small enums.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace chorus::endpoint {

// One peer connection ("leg"); the caller picks the id and must not reuse it while the leg is open.
using LegId = std::uint64_t;

enum class MediaKind : std::uint8_t { Audio, Video };
// sdp_stream_metadata purposes (MSC3077).
enum class StreamPurpose : std::uint8_t { UserMedia, ScreenShare };
enum class SdpType : std::uint8_t { Offer, Answer };
// RTCPeerConnectionState, derived from webrtcbin's connection-state and ice-connection-state.
enum class ConnectionState : std::uint8_t { New, Connecting, Connected, Disconnected, Failed, Closed };

std::string_view toString(MediaKind kind);
std::string_view toString(StreamPurpose purpose);  // "m.usermedia" | "m.screenshare"
std::string_view toString(SdpType type);           // "offer" | "answer"
std::string_view toString(ConnectionState state);  // "new" | "connecting" | ...
std::optional<SdpType> parseSdpType(std::string_view type);

// Set as local description; send it to the peer (m.call.invite / answer / negotiate).
struct LocalDescription {
  LegId leg{0};
  SdpType type{SdpType::Offer};
  std::string sdp;
};
// A trickled local candidate ("candidate:..." without the "a=" prefix). Always emitted after the
// LocalDescription it belongs to.
struct LocalCandidate {
  LegId leg{0};
  std::string candidate;
  std::optional<std::string> sdp_mid;
  std::optional<std::uint32_t> sdp_mline_index;
};
// Local ICE gathering finished: send the end-of-candidates marker ({"candidate":""}).
struct GatheringComplete {
  LegId leg{0};
};
struct LegState {
  LegId leg{0};
  ConnectionState state{ConnectionState::New};
};
// Something changed after the first offer/answer (screenshare added or removed): the leg wants a new offer.
// Coalesced: emitted once until the next createOffer() on that leg.
struct NegotiationNeeded {
  LegId leg{0};
};
// Media from the peer started arriving and is being decoded. stream_id is the peer's MediaStream id
// (a=msid), i.e. the key of its sdp_stream_metadata.
struct RemoteStream {
  LegId leg{0};
  std::string stream_id;
  MediaKind kind{MediaKind::Audio};
  std::string mid;
};
// A failed command or a pipeline error on a leg (leg 0: the engine itself).
struct LegError {
  LegId leg{0};
  std::string message;
};
// The leg's data channel (LegOptions::data_channel, or the first one the peer opened) is open: text can be
// sent with sendDataChannel().
struct DataChannelOpen {
  LegId leg{0};
  std::string label;
};
// A text message arrived on the leg's data channel.
struct DataChannelMessage {
  LegId leg{0};
  std::string text;
};
struct DataChannelClosed {
  LegId leg{0};
};

using MediaEvent =
    std::variant<LocalDescription, LocalCandidate, GatheringComplete, LegState, NegotiationNeeded,
                 RemoteStream, LegError, DataChannelOpen, DataChannelMessage, DataChannelClosed>;

LegId legOf(const MediaEvent& event);
// One line for logs and test failure messages (SDP bodies are abbreviated).
std::string describe(const MediaEvent& event);

// What arrived on one remote MediaStream (the peer's a=msid stream id; through a focus: one participant's
// stream). Packets and bytes are counted as RTP packets entering the depayloaders (after SRTP).
struct RemoteStreamStats {
  std::uint64_t packets_received{0};
  std::uint64_t bytes_received{0};
  std::uint64_t audio_frames_decoded{0};
  std::uint64_t video_frames_decoded{0};
  std::uint64_t audio_frames_silent{0};
  std::uint64_t video_frames_black{0};
  std::uint64_t h264_frames_decoded{0};  // of video_frames_decoded, decoded from H.264 (the rest: VP8)
};

struct LegStats {
  ConnectionState state{ConnectionState::New};
  // From webrtcbin's get-stats (RTCOutboundRtpStreamStats / RTCInboundRtpStreamStats), summed over streams.
  std::uint64_t packets_sent{0};
  std::uint64_t bytes_sent{0};
  std::uint64_t packets_received{0};
  std::uint64_t bytes_received{0};
  // Our decoder counters: decoded audio buffers (opus frames) and decoded video frames.
  std::uint64_t audio_frames_decoded{0};
  std::uint64_t video_frames_decoded{0};
  // Of those, the ones that were digital silence (peak < 1 %) / black (mean luma < 40).
  std::uint64_t audio_frames_silent{0};
  std::uint64_t video_frames_black{0};
  // RTCRemoteInboundRtpStreamStats.roundTripTime (max over streams), when RTCP reports arrived.
  std::optional<double> rtt_ms;
  // RTCInboundRtpStreamStats.jitter (max over streams), in milliseconds.
  std::optional<double> jitter_ms;
  // From the transport-cc feedback the peer sends for our packets (rtpbin's "gst-twcc-stats", over its last
  // feedback window), when the transport-cc extension was negotiated and feedback arrived: the bitrate we
  // sent and the bitrate the peer reports receiving (bits/s), and the share of those packets it did not
  // receive.
  std::optional<double> twcc_bitrate_sent_bps;
  std::optional<double> twcc_bitrate_recv_bps;
  std::optional<double> twcc_loss_pct;
  // Per remote stream id ("" for incoming streams without an msid).
  std::map<std::string, RemoteStreamStats> remote_streams;
  // Remote sources the sweep released as ended (decode chain and rtpbin's source freed), and such sources
  // that came back afterwards (they get a new decode chain).
  std::uint64_t sources_released{0};
  std::uint64_t sources_resumed{0};
  // Data channel messages sent / received on this leg.
  std::uint64_t dc_messages_sent{0};
  std::uint64_t dc_messages_received{0};
  // webrtcbin's own states ("new", "checking", "connected", ... / "new", "connecting", ...), for diagnostics.
  std::string ice_state;
  std::string connection_state;
  // ICE candidate stats webrtcbin reports ("local host udp 198.18.0.1:5000", "pair ... state", ...).
  std::vector<std::string> ice_candidates;
};

}  // namespace chorus::endpoint
