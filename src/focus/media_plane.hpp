#pragma once
// The focus's hub on the media thread, sans-IO: the Controller (who may use the focus, signalling) and the
// Router (forwarding) joined to one transport per participant (docs/focus.md, "Pieces").
//
// It executes the Controller's actions: a participant's offer gets a transport (PeerLink) and an answer; its
// data-channel messages go to the Controller; subscriptions go to the Router under the ids the subscriber
// was told (TrackIds); what each participant publishes (its SDP, its metadata) is kept in step with the
// Router; when what a participant should receive changed, the focus offers it over the data channel (one
// offer outstanding at a time; polite on glare) and, after its answer, sends it the new tracks: until then
// neither their RTP nor their sender reports go out (Router::setLiveOutTracks). Not-connected participants
// are reported once. Counters are data (MediaPlaneStats); printing them is the owner's job.
//
// What it needs from outside comes through two small interfaces, so tests drive it with fakes: PeerLink
// (one participant's transport: io::WebRtcPeer in `chorus focus`) and MediaPlaneHost (creating and retiring
// transports, running a closure later, the Matrix side, the not-connected report). Time comes from the
// injected Clock and from the `now` of packets and ticks. Single-threaded; nothing in it blocks.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "focus/controller.hpp"
#include "focus/router.hpp"

namespace chorus::focus {

// One sendonly section of an offer of the focus: a track a subscriber receives.
struct OfferTrack {
  std::string kind;  // "audio" / "video"
  std::uint32_t ssrc{0};
  std::string stream_id;  // the ids the subscriber was told ("": no stream)
  std::string track_id;
  bool h264{false};  // an H.264 publisher: sent in the subscriber's own H.264 entry (else Opus / VP8)
  std::uint32_t rtx_ssrc{0};  // video: the SSRC of its RTX stream (a=ssrc-group:FID), 0 for audio
  bool operator==(const OfferTrack&) const = default;
};

// What a transport counts of its participant, for the stats.
struct LinkStats {
  std::uint64_t rtp_audio_in{0};
  std::uint64_t rtp_video_in{0};
  std::optional<std::string> selected;  // where the focus sends to ("tcp:ip:port" for ICE-TCP), once known
  // Its SCTP association (data channel), once there is one: messages each way, messages dropped, and the
  // association's state as usrsctp sees it (what is in flight and waiting, the peer's window, the timers).
  struct DataChannel {
    std::uint64_t messages_in{0};
    std::uint64_t messages_out{0};
    std::uint64_t drops{0};
    std::int32_t state{0};
    std::uint32_t peer_rwnd{0};
    std::uint32_t unacked{0};
    std::uint32_t pending{0};
    std::uint32_t srtt_ms{0};
    std::uint32_t rto_ms{0};
    // The association's one path: "active", or "inactive" once usrsctp gave up on it (no new DATA until a
    // heartbeat is answered).
    std::string path;
    // SCTP chunks as they crossed the wire (io::SctpAssociation::wireIn/wireOut).
    std::uint64_t data_chunks_in{0};
    std::uint64_t data_chunks_out{0};
    std::uint64_t sacks_in{0};
    std::uint64_t sacks_out{0};
    std::uint32_t last_tsn_in{0};   // the peer's last DATA
    std::uint32_t cum_ack_out{0};   // what we last acknowledged of it
    std::uint32_t rwnd_out{0};      // the window we last advertised
    std::uint32_t last_tsn_out{0};  // our last DATA
    std::uint32_t cum_ack_in{0};    // what the peer last acknowledged of ours
  };
  std::optional<DataChannel> data_channel;
};

// One participant's transport, as the plane uses it (io::WebRtcPeer in the service; see its docs).
class PeerLink {
 public:
  virtual ~PeerLink() = default;
  // The participant's offer (first one or a re-offer) -> our answer.
  virtual Result<std::string> acceptOffer(std::string_view sdp) = 0;
  // An offer of the focus with exactly `tracks` to send; needs no offer pending.
  virtual Result<std::string> createOffer(const std::vector<OfferTrack>& tracks) = 0;
  virtual Status applyAnswer(std::string_view sdp) = 0;
  virtual void rollback() = 0;
  // The payload type the participant receives "audio", "video" or "H264" in (from its first offer); 0: none
  // (for "H264": it did not offer H.264, so it cannot receive an H.264 track).
  virtual std::uint8_t sendPayloadType(std::string_view kind) const = 0;
  // What the participant sends, from its SDP (mid, kind, msid, rids, ssrcs, clock rate, codec); the plane
  // adds sizes and mute from its metadata.
  virtual std::vector<PublishedTrackInfo> publishedTracks() const = 0;
  virtual void sendText(std::uint16_t stream_id, std::string_view text) = 0;
  // As RouterSink: `buffer` has room for the SRTP trailer past `length`.
  virtual void sendRtp(std::span<std::uint8_t> buffer, std::size_t length, TimeMs now) = 0;
  virtual void sendRtcp(std::span<std::uint8_t> buffer, std::size_t length, TimeMs now) = 0;
  virtual LinkStats stats() const = 0;
  // The transport-wide sequence number extension id the participant accepted on what we send it (downlink
  // congestion control), 0 when none.
  virtual std::uint8_t downlinkTransportCcId() const { return 0; }
  // The RTX payload type the participant accepted for what we send it in "video" (VP8) or "H264", 0 when
  // none (retransmissions then go on the media SSRC).
  virtual std::uint8_t sendRtxPayloadType(std::string_view /*kind*/) const { return 0; }
};

// What the plane saw of a participant that has not connected (docs/focus.md, "When a participant does not
// connect"); the host adds what its transport saw.
struct NotConnected {
  std::string who;  // user/device
  TimeMs after_ms{0};
  std::vector<std::string> remote_candidates;  // the ones it signalled (at most 16)
};

class MediaPlaneHost {
 public:
  virtual ~MediaPlaneHost() = default;
  // A transport for a new participant. It joins the port once its acceptOffer() succeeded.
  virtual std::unique_ptr<PeerLink> createLink(ParticipantId peer) = 0;
  // The participant is gone: stop routing to `link` now, destroy it later (we may be inside its callback).
  virtual void retireLink(std::unique_ptr<PeerLink> link) = 0;
  // Runs `f` later on this thread, not re-entrantly.
  virtual void post(std::function<void()> f) = 0;
  // The Matrix side.
  virtual void joinRoom(const std::string& room_id) = 0;
  virtual void sendToDevice(proto::SendToDevice message) = 0;
  virtual void reportNotConnected(ParticipantId peer, const NotConnected& what) = 0;
};

struct ParticipantStats {
  ParticipantId id{0};
  std::string user_id;
  std::string device_id;
  std::string conf_id;
  bool connected{false};
  std::optional<LinkStats> link;          // nullopt: no transport (its offer was refused, or it is closing)
  std::size_t tracks_out{0};              // tracks the last completed negotiation sends it
  std::optional<DownlinkStats> downlink;  // its downlink estimate, when it has transport-cc
  std::vector<PublishedLayerStats> published;  // the rate of each video layer it sends
  std::int64_t send_cap_bps{0};                // the cap the focus tells it (REMB); 0 = none
};

struct MediaPlaneStats {
  std::size_t peers{0};  // transports
  RouterStats router;
  std::uint64_t offers_sent{0};
  std::uint64_t offers_refused{0};           // offers the link could not make (see MediaPlane::Slot::refused)
  std::uint64_t not_negotiated_drops{0};     // RTP of a track the subscriber's description does not have yet
  std::uint64_t not_negotiated_sr_drops{0};  // sender reports of such a track
  std::optional<Counters> controller;        // once logged in
  std::uint64_t ids_rewritten{0};            // stream/track ids given under another id
  std::vector<ParticipantStats> participants;
};

class MediaPlane final : private RouterSink {
 public:
  static constexpr TimeMs kNotConnectedReportMs = 10'000;  // after our answer
  static constexpr std::size_t kMaxQueuedDataChannel =
      64;                                               // messages queued per peer before its channel opens
  static constexpr std::size_t kMaxEarlyInputs = 4096;  // inputs before the login completed
  static constexpr TimeMs kPausedCheckMs = 250;         // how often paused video is looked for

  // `controller` is the template of the Controller's config (user and device come with loggedIn()).
  // `host` and `clock` are borrowed and outlive the plane.
  MediaPlane(MediaPlaneHost& host, const Clock& clock, ControllerConfig controller, RouterConfig router = {});
  ~MediaPlane() override;
  MediaPlane(const MediaPlane&) = delete;
  MediaPlane& operator=(const MediaPlane&) = delete;

  // The Matrix login completed: the Controller starts, with the inputs that came before (bounded).
  void loggedIn(const std::string& user_id, const std::string& device_id);
  void feed(Input input);
  // Periodic (every 50 ms in the service): router, controller timeouts, not-connected reports.
  void tick(TimeMs now);
  // Hangs up on everyone; nothing more is offered afterwards. closeAll() then drops every transport.
  void shutdown();
  void closeAll();

  // From participant `peer`'s transport.
  void onConnected(ParticipantId peer);
  void onFailed(ParticipantId peer, std::string_view reason);
  void onDataChannelOpen(ParticipantId peer, std::uint16_t stream_id);
  void onDataChannelMessage(ParticipantId peer, std::string_view text, bool binary);
  void onRtp(ParticipantId peer, const InboundRtp& info, const media::RtpPacketView& rtp, TimeMs now);
  void onRtcp(ParticipantId peer, media::MutableByteSpan packet, TimeMs now);
  void onDead(ParticipantId peer);  // ICE consent lost

  MediaPlaneStats stats() const;
  const Controller* controller() const noexcept { return controller_.get(); }
  const Router& router() const noexcept { return router_; }
  bool hasLink(ParticipantId peer) const { return slots_.count(peer) != 0; }

 private:
  struct Slot {
    ParticipantId id{0};
    std::unique_ptr<PeerLink> link;
    std::optional<std::uint16_t> dc_stream;
    std::vector<std::string> dc_queue;  // before the channel opens (kMaxQueuedDataChannel)
    // Negotiation: what the last completed one sends, our outstanding offer, and the SSRCs of `agreed` (what
    // may go out).
    std::vector<OfferTrack> agreed;
    std::vector<OfferTrack> pending;
    bool offer_pending{false};
    // The tracks of the last offer the link could not make (too many m-lines): not tried again until what it
    // should receive changes. Said at Warn once per participant, until an offer succeeds again.
    std::optional<std::vector<OfferTrack>> refused;
    bool refusal_told{false};
    bool subscription_refusal_told{false};  // the router refused a subscription (its bound): once, at Warn
    std::vector<PublishedTrackInfo> published;  // as last given to the router
    std::string who;                            // user/device
    TimeMs created_ms{0};
    bool connected{false};
    bool reported{false};
    std::vector<std::string> remote_candidates;  // for the not-connected report only (bounded)
  };

  // While a packet or a tick is handled, what the router sends goes out at its `now` (no clock read per
  // forwarded packet); outside them, at the clock's.
  struct NowScope {
    NowScope(MediaPlane& plane, TimeMs now) : plane_(plane), outer_(plane.handling_now_) {
      plane.handling_now_ = now;
    }
    ~NowScope() { plane_.handling_now_ = outer_; }
    NowScope(const NowScope&) = delete;
    NowScope& operator=(const NowScope&) = delete;
    MediaPlane& plane_;
    std::optional<TimeMs> outer_;
  };
  TimeMs sendNow() const { return handling_now_ ? *handling_now_ : clock_.nowMs(); }

  // RouterSink
  void sendRtp(ParticipantId to, std::span<std::uint8_t> buffer, std::size_t length) override;
  void sendRtcp(ParticipantId to, std::span<std::uint8_t> buffer, std::size_t length) override;

  Slot* slot(ParticipantId id);
  void execute(Actions actions);
  void createPeer(const act::CreatePeer& c);
  void closePeer(ParticipantId id);
  void addRemoteCandidate(const act::AddRemoteCandidate& c);
  void sendDc(ParticipantId id, const std::string& text);
  void report(Slot& s);
  // Tells the Controller, per participant, which streams' video the router paused for its downlink (so the
  // participant's metadata says so) when that changed.
  void tellAudioSlotSpeakers();
  void tellPausedVideo();
  std::string publicStream(ParticipantId sub, ParticipantId publisher, const std::string& stream_id) const;
  std::optional<TrackIds::Origin> publisherOf(ParticipantId sub, const std::string& stream_id,
                                              const std::string& track_id) const;
  void updateSubscriptions(const act::UpdateSubscriptions& u);
  void syncPublished();
  std::vector<OfferTrack> wanted(ParticipantId id) const;
  void syncRtx(ParticipantId id, const PeerLink& link);
  void renegotiate(ParticipantId id);
  void applyDescription(ParticipantId id, const proto::SessionDescription& d);

  MediaPlaneHost& host_;  // Borrowed.
  const Clock& clock_;    // Borrowed.
  ControllerConfig config_;
  Router router_;
  std::unique_ptr<Controller> controller_;  // from loggedIn()
  std::vector<Input> early_;                // inputs before it (kMaxEarlyInputs)
  std::map<ParticipantId, Slot> slots_;
  std::uint64_t offers_sent_{0};
  std::uint64_t offers_refused_{0};
  TimeMs next_paused_check_{0};
  std::optional<TimeMs> handling_now_;  // see NowScope
  bool stopping_{false};
};

}  // namespace chorus::focus
