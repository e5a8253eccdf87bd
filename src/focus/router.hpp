#pragma once
// The focus's forwarding engine (SFU data plane), sans-IO: decrypted RTP/RTCP from participants in, packets
// for other participants out through a RouterSink. No sockets, no threads, no clock reads (time is passed
// in). Depends on chorus::media and chorus::base only. See docs/media.md, section "Router".
//
// Model: a peer publishes tracks (setPublishedTracks, from its SDP and sdp_stream_metadata) and subscribes to
// other peers' tracks (subscribe). Publisher SSRCs are learnt from the first packets that carry mid/rid (or
// from the SDP ssrc list). Each subscription is one outgoing stream with its own SSRC; video goes through a
// media::SimulcastRewriter (layer switch on a keyframe only), audio through the same offset mapping. A
// subscriber with transport-cc gets a focus::DownlinkController (focus/downlink.hpp: its estimate, the layer
// each of its videos gets, probes, the retransmission budget), which the router drives.
//
// Single-threaded. The sink must not call back into the Router.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "focus/downlink.hpp"
#include "media/bytes.hpp"
#include "media/drop_counters.hpp"
#include "media/rtp/rtp_packet.hpp"
#include "media/rtp/simulcast_rewriter.hpp"
#include "media/rtp/vp8_descriptor.hpp"

namespace chorus::media {
struct RtcpNack;
struct RtcpSenderReport;
namespace cc {
class TransportCcFeedbackGenerator;
}
struct TransportCcFeedback;
}  // namespace chorus::media

namespace chorus::focus {

using ParticipantId = std::uint64_t;  // same as in focus/controller.hpp

// Bytes of room the router leaves after every packet it hands to the sink (for the SRTP/SRTCP trailer).
inline constexpr std::size_t kSinkTrailerRoom = 64;
inline constexpr std::size_t kUpstreamNackMaxMissing = 64;  // per publisher video SSRC
// The same packet is resent to a subscriber at most this often, however short its round trip.
inline constexpr TimeMs kMinRtxResendIntervalMs = 5;

class RouterSink {
 public:
  virtual ~RouterSink() = default;
  // `buffer` holds the packet in its first `length` bytes and has room for at least kSinkTrailerRoom more.
  // The sink may modify the buffer (e.g. protect in place); it is reused after the call returns.
  virtual void sendRtp(ParticipantId to, std::span<std::uint8_t> buffer, std::size_t length) = 0;
  virtual void sendRtcp(ParticipantId to, std::span<std::uint8_t> buffer, std::size_t length) = 0;
};

struct PublishedTrackInfo {
  std::string mid;
  std::string kind;  // "audio" | "video" (anything else is ignored)
  std::string stream_id;
  std::string track_id;
  std::vector<std::string> rids;     // simulcast rids (q/h/f = low/medium/high); empty = no simulcast
  std::vector<std::uint32_t> ssrcs;  // from the SDP (a=ssrc), may be empty
  std::uint32_t clock_rate{0};       // 0 = 90000 for video, 48000 for audio
  int width{0};                      // from sdp_stream_metadata; 0 = unknown
  int height{0};
  // Video codec for keyframe detection: "VP8" (also when empty) or "H264". For any other codec keyframes
  // are not detected, so a layer switch happens on the first packet of the new layer.
  std::string codec;
  // From sdp_stream_metadata (audio_muted / video_muted of its stream): a muted track is not forwarded; when
  // it is unmuted, forwarding resumes at a keyframe (one is requested) without a sequence-number gap.
  bool muted{false};
  // RTX (RFC 4588) the focus accepted on this section (video only): the RTX payload type (its apt is the
  // track's payload type; 0 = no RTX) and the SDP's a=ssrc-group:FID pairs (media SSRC, RTX SSRC). The RTX
  // SSRCs of simulcast layers are learnt from the packets' repaired-rid instead.
  std::uint8_t rtx_payload_type{0};
  std::vector<std::pair<std::uint32_t, std::uint32_t>> rtx_ssrcs;

  bool operator==(const PublishedTrackInfo&) const = default;
};

// What the transport already parsed from the packet. The router reads SSRC/PT/seq/timestamp/marker from the
// packet itself; `mid` and `rid` (from the header extensions negotiated in the SDP) are used to learn SSRCs.
// What the transport learnt about an RTP packet beyond its header (which the router reads from the packet).
struct InboundRtp {
  std::string_view mid;
  std::string_view rid;
  // The transport-wide sequence number (transport-cc header extension) when the publisher negotiated it: its
  // arrival time is recorded for the transport-cc feedback, whatever the router does with the packet.
  std::optional<std::uint16_t> transport_seq;
  // Its arrival, µs on the router's clock (the kernel's receive timestamp, io::RtpInfo::arrival_us), for the
  // transport-cc feedback; 0: `now`.
  std::int64_t arrival_us{0};
  // The repaired-rid header extension (an RTX packet of a simulcast layer names the rid it repairs).
  std::string_view repaired_rid;
  // RFC 6464: level in -dBov, 0 (loudest) .. 127 (silence), when negotiated
  std::optional<std::uint8_t> audio_level;
};

struct OutTrack {
  std::uint32_t ssrc{0};  // the SSRC the subscriber receives this track on
  std::string kind;
  std::string stream_id;
  std::string track_id;
  ParticipantId publisher{0};
  std::string codec;  // the publisher's codec name ("opus", "VP8", "H264", or "" when unknown)
  // Video: the SSRC of its RTX stream (RFC 4588), offered with a=ssrc-group:FID; retransmissions go there
  // once the subscriber accepted RTX (Router::setSubscriberRtxPayloadType). 0 for audio.
  std::uint32_t rtx_ssrc{0};
  // One of the subscriber's audio slots (RouterConfig::audio_slots): its stream and track ids are the
  // focus's own (audio_slot_prefix + index), `publisher` is 0, and it carries whichever subscribed track is
  // on the slot now.
  bool audio_slot{false};
};

// What is on one of a subscriber's audio slots now.
struct AudioSlotInfo {
  std::uint32_t out_ssrc{0};
  std::string stream_id;        // the slot's own ids (its track id is the same)
  ParticipantId publisher{0};   // 0: nobody on it
  std::string track_id;         // the publisher's track id on it
  std::string track_stream_id;  // and that track's stream id (the publisher's own ids)
  bool operator==(const AudioSlotInfo&) const = default;
};

struct RouterConfig {
  std::size_t max_tracks_per_publisher{16};  // further tracks in setPublishedTracks are ignored
  std::size_t max_layers_per_track{4};       // further rids are ignored
  std::size_t max_subscriptions_per_subscriber{64};
  std::size_t max_ssrcs_per_publisher{64};           // learnt (mapped) publisher SSRCs
  std::size_t max_unmapped_ssrcs_per_publisher{16};  // remembered SSRCs we could not map
  // Retransmission buffer per video out track: 256 slots hold ~1.7 s of a 1.7 Mbit/s layer (~150 packets/s);
  // the memory is resident once the ring has filled (256 x rtx_max_packet_size bytes per video subscription).
  std::size_t video_rtx_packets{256};
  // Each starts with this many slots and doubles (up to video_rtx_packets) only when a packet younger than
  // its maximum age (below) would be overwritten: a 320 px layer keeps 64 (79 KB), not 256 (315 KB).
  std::size_t video_rtx_initial_packets{64};
  std::size_t audio_rtx_packets{0};   // 0 = audio NACKs are not answered
  std::size_t max_packet_size{1500};  // largest forwarded RTP packet (before SRTP)
  // Largest packet kept for retransmission. Browsers and webrtcbin packetise to ~1200 bytes, and forwarded
  // packets lose their header extensions; a larger one is forwarded but a NACK for it is not answered.
  std::size_t rtx_max_packet_size{1232};
  // A forwarded packet stays retransmittable for max(rtx_max_age_ms, 3 x the subscriber's round trip), as
  // libwebrtc's sender keeps its packet history (RtpPacketHistory: 1 s, or 3 RTTs): a 320 px layer then holds
  // 64 slots (79 KB) instead of 128 at 2 s. A NACK answered later than that would repair a frame the
  // receiver has already given up on.
  TimeMs rtx_max_age_ms{1000};
  // A packet is resent at most once per this, or per the subscriber's round trip when its feedback gives one
  // (at least kMinRtxResendIntervalMs).
  TimeMs rtx_min_resend_interval_ms{50};
  std::size_t max_nack_seqs_per_packet{64};  // bounds the retransmissions one NACK packet can trigger
  // At most one keyframe request per publisher SSRC per this (but see requestKeyframe(subscriber, ...)).
  TimeMs pli_throttle_ms{500};
  // A subscription going live whose layer's last request was answered may ask sooner, but not sooner than
  // this after that request: a subscriber renegotiating in a loop cannot make a publisher send a keyframe
  // per round trip.
  TimeMs pli_live_min_interval_ms{100};
  TimeMs keyframe_retry_ms{1000};  // re-request while a subscription still waits for a keyframe
  TimeMs layer_stall_ms{2000};     // a layer without RTP for this long is not chosen (waterfall: 2 s)
  TimeMs rr_interval_ms{1000};     // receiver reports to publishers
  // Upstream NACKs: a gap in a publisher's video sequence numbers is asked for again (generic NACK) right
  // away and then every upstream_nack_retry_ms, at most upstream_nack_tries times (10, as libwebrtc's
  // NackRequester: a loaded publisher can take 150 ms to repair, longer than three tries a round trip
  // apart, and each give-up costs a keyframe), until upstream_nack_max_age_ms. When the publisher's round
  // trip is known (it also receives from us with transport-cc), the retry comes one RTT + 10 ms after the
  // last NACK instead (at least 20 ms, at most upstream_nack_retry_ms), as a browser's NACK module retries
  // per RTT: a lost NACK or retransmission then costs a round trip, not 100 ms, and the frame is not late at
  // the receiver. A gap larger than kUpstreamNackMaxMissing is not NACKed (a keyframe is requested instead).
  // A packet given up on (tries or age used up) of a layer being forwarded also gets a keyframe requested:
  // the subscribers cannot decode past it, and browsers would only ask after ~3 s without a decodable frame.
  bool upstream_nack{true};
  TimeMs upstream_nack_retry_ms{100};
  int upstream_nack_tries{10};
  TimeMs upstream_nack_max_age_ms{1000};
  // transport-cc (draft-holmer-rmcat-transport-wide-cc-extensions-01): for a publisher whose packets carry
  // transport-wide sequence numbers, feedback (RTPFB 15) every transport_cc_interval_ms from tick(), at most
  // transport_cc_max_feedback_bytes each and transport_cc_max_feedbacks_per_tick per publisher and tick
  // (more statuses wait for the next tick). Arrival times live in a fixed ring of transport_cc_history
  // slots per publisher (allocated with its first such packet), so nothing a peer sends grows memory.
  bool transport_cc{true};
  TimeMs transport_cc_interval_ms{50};
  std::size_t transport_cc_history{1024};
  std::size_t transport_cc_max_feedback_bytes{1200};
  std::size_t transport_cc_max_feedbacks_per_tick{4};
  // Out tracks are forwarded (RTP and translated sender reports) only once setLiveOutTracks() named them: the
  // subscriber's current description has them (docs/focus.md, "Renegotiation"). Off: forwarded at once.
  bool require_live_out_tracks{false};
  // Downlink congestion control (docs/congestion-control.md): for a subscriber given a transport-wide
  // sequence number extension id (setSubscriberTransportCc), every RTP packet sent to it is stamped, its
  // transport-cc feedback drives a send-side estimate, and every downlink.alloc_interval_ms the estimate is
  // shared among its video subscriptions (simulcast layer per subscription, or paused), probing before an
  // up-switch the estimate does not cover. `downlink.tick_interval_ms` is transport_cc_interval_ms (the
  // router's tick), whatever is set here.
  DownlinkConfig downlink;
  // What a layer is assumed to need before its rate was measured (bits/s; low, medium, high).
  std::array<std::int64_t, 3> layer_default_bps{150'000, 400'000, 1'200'000};
  // Publisher send caps (REMB, draft-alvestrand-rmcat-remb-03, which browsers apply as an upper bound on
  // their send-side estimate even with transport-cc): each publisher of simulcast video is told the most it
  // needs to send: per video track, the layers up to the highest any subscriber's size asks for (only the
  // lowest while nobody receives it), each at max(publisher_cap_headroom x its measured rate,
  // layer_default_bps), plus publisher_cap_audio_bps per audio track. Its encoder then leaves out layers
  // nobody watches, and the padding towards them. Sent every publisher_cap_interval_ms, and within a tick
  // when the cap rises by more than a tenth. Publishers with a single-layer video track are not capped. 0 =
  // off.
  TimeMs publisher_cap_interval_ms{1000};
  double publisher_cap_headroom{1.25};
  std::int64_t publisher_cap_audio_bps{64'000};
  // The bounded audio forwarding set (focus/audio_slots.hpp, docs/focus.md "Audio slots"): a subscriber that
  // subscribes to more than audio_slots audio tracks gets audio_slots outgoing audio streams instead of one
  // per track, and every audio_slot_interval_ms the loudest of its subscribed tracks are put on them (a slot
  // keeps its track for audio_slot_hold_ms unless that one went silent). It keeps them until it leaves; at
  // most max_audio_candidates subscribed tracks. 0 = off (one stream per subscribed track, whatever the
  // number).
  std::size_t audio_slots{0};
  TimeMs audio_slot_interval_ms{200};
  TimeMs audio_slot_hold_ms{1000};
  std::size_t max_audio_candidates{4096};
  std::uint32_t focus_ssrc{1};                // sender SSRC of focus-originated RTCP
  std::string cname{"chorus-focus"};          // SDES CNAME in the receiver-report compound
  std::uint64_t seed{0x636f7275735f7366ULL};  // out SSRCs, initial seqs and timestamps
};

enum class RouterDrop : std::uint8_t {
  MalformedRtp,      // RtpPacketView::parse failed
  UnknownPeer,       // RTP/RTCP from a peer that published nothing / is unknown
  UnmappedSsrc,      // SSRC that matches no published track (mid/rid/ssrc)
  TooManySsrcs,      // SSRC beyond max_ssrcs_per_publisher / max_unmapped_ssrcs_per_publisher
  TooLarge,          // forwarded packet would exceed max_packet_size
  MalformedRtcp,     // compound or typed RTCP parse failed
  UnknownMediaSsrc,  // feedback (NACK/PLI/FIR) for an SSRC the peer does not receive from us
  Count
};
const char* toString(RouterDrop d) noexcept;

struct RouterStats {
  std::uint64_t rtp_received{0};
  std::uint64_t rtp_bytes_received{0};
  std::uint64_t rtp_not_subscribed{0};  // valid packets of tracks (or layers) nobody receives
  std::uint64_t rtp_muted{0};           // packets of muted tracks, not forwarded
  // A publisher's padding-only video packets taken out of a subscriber's numbering instead of forwarded
  // (once per subscriber).
  std::uint64_t padding_not_forwarded{0};
  std::uint64_t forwarded_packets{0};  // packets handed to the sink (one per subscriber)
  std::uint64_t forwarded_bytes{0};
  std::uint64_t rtcp_received{0};
  std::uint64_t sender_reports_received{0};
  std::uint64_t sender_reports_forwarded{0};  // translated to subscribers (one per subscriber and SR)
  std::uint64_t receiver_reports_sent{0};     // RR compounds to publishers
  std::uint64_t byes_sent{0};  // RR+BYE to a subscriber whose forwarded track ended (frees its jitterbuffer)
  std::uint64_t keyframe_requests{0};            // PLIs to publishers
  std::uint64_t transport_cc_packets{0};         // publisher packets with a transport-wide sequence number
  std::uint64_t transport_cc_feedbacks_sent{0};  // RTPFB 15 packets to publishers
  std::uint64_t transport_cc_too_late{0};        // arrivals too old to report (reordered past the history)
  std::uint64_t keyframe_requests_throttled{0};
  std::uint64_t publisher_caps_sent{0};  // REMB packets to publishers (publisher_cap_interval_ms)
  std::uint64_t upstream_nacks_sent{0};  // sequence numbers NACKed to publishers (each try counts)
  std::uint64_t upstream_recovered{0};   // of those, packets that arrived afterwards
  std::uint64_t upstream_given_up{0};    // missing packets dropped from the list (too old / too many tries)
  // keyframe requests for a layer being forwarded after such a give-up (before throttling)
  std::uint64_t upstream_lost_keyframe_requests{0};
  std::uint64_t keyframe_requests_received{0};  // PLI/FIR from subscribers
  std::uint64_t nack_packets_received{0};       // NACK packets from subscribers
  std::uint64_t nacks_answered{0};              // sequence numbers resent from the retransmission buffer
  std::uint64_t nacks_missed{0};         // sequence numbers not (or no longer) in the buffer, or over the cap
  std::uint64_t nacks_over_budget{0};    // not answered: retransmissions over the downlink budget
  std::uint64_t nacks_before_switch{0};  // not answered: the old layer's packets, after a layer switch
  // RTX (RFC 4588). To subscribers: answered NACKs sent on the out track's RTX SSRC (the others of
  // nacks_answered went out on the media SSRC: the subscriber did not accept RTX).
  std::uint64_t rtx_sent{0};
  // From publishers: RTX packets received, of those unwrapped into their original packet, padding-only ones
  // (the publisher's bandwidth probes; dropped), and malformed ones (payload shorter than the 2-byte OSN).
  // RTX packets whose media stream is not known yet are counted in drops (unmapped_ssrc / too_many_ssrcs).
  std::uint64_t rtx_received{0};
  std::uint64_t rtx_unwrapped{0};
  std::uint64_t rtx_padding_dropped{0};
  std::uint64_t rtx_malformed{0};
  // Unwrapped, but older than the newest packet and not missing (libwebrtc probes with resent payloads):
  // nobody downstream waits for it (subscribers' NACKs are answered from the focus's buffer).
  std::uint64_t rtx_redundant_dropped{0};
  std::uint64_t not_live_drops{0};     // RTP of out tracks the subscriber's description does not have yet
  std::uint64_t not_live_sr_drops{0};  // sender reports of such tracks
  // Downlink congestion control (subscribers with transport-cc).
  std::uint64_t downlink_feedbacks{0};      // transport-cc feedback packets from subscribers
  std::uint64_t downlink_paused_drops{0};   // video packets not sent: the subscription is paused (no budget)
  std::uint64_t downlink_shed_drops{0};     // packets of a layer that no longer fits, before the switch down
  std::uint64_t downlink_layer_changes{0};  // allocations that moved a subscription to another layer
  std::uint64_t downlink_pauses{0};         // subscriptions paused by the allocator
  std::uint64_t probe_clusters{0};
  std::uint64_t probe_packets{0};
  // Audio slots: subscribers that switched to them, and tracks put on a slot (each time).
  std::uint64_t audio_slot_subscribers{0};
  std::uint64_t audio_slot_switches{0};
  media::DropCounters<RouterDrop> drops;
  media::DropCounters<media::RewriteDrop> rewrite_drops;  // per subscriber and packet
};

struct SubscriptionStats {
  ParticipantId publisher{0};
  std::string track_id;
  std::string kind;
  std::uint32_t out_ssrc{0};
  std::string current_rid;  // rid of the layer being forwarded ("" = none yet, or no simulcast)
  std::string target_rid;   // rid of the chosen layer (differs from current_rid while a switch is pending)
  std::uint64_t packets_forwarded{0};
  std::uint64_t bytes_forwarded{0};
  std::uint64_t packets_retransmitted{0};
  std::uint64_t rtx_sent{0};  // of those, sent on the RTX SSRC
  bool paused{false};         // no downlink budget for even its lowest layer
};

// What a publisher sends on one layer of one video track, as the downlink allocation sees it.
struct PublishedLayerStats {
  std::string mid;
  std::string rid;   // "" without simulcast
  std::int64_t bps;  // received rate with packet overhead, smoothed; 0 = nothing measured yet
};

class Router {
 public:
  explicit Router(RouterSink& sink, RouterConfig config = {});
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Replaces what `publisher` publishes. Tracks are matched by track_id; vanished tracks (or ones whose kind
  // changed) end their subscriptions. Returns the subscribers whose out tracks changed (for renegotiation).
  std::vector<ParticipantId> setPublishedTracks(ParticipantId publisher,
                                                std::vector<PublishedTrackInfo> tracks);
  // The payload type `subscriber` negotiated for `kind` ("audio"/"video"). Unset: the publisher's PT is kept.
  // `kind` is "audio" (Opus), "video" (VP8, and any video codec without its own entry) or "H264". A
  // subscriber without an "H264" payload type cannot subscribe to an H.264 track (no transcoding).
  void setSubscriberPayloadType(ParticipantId subscriber, std::string_view kind, std::uint8_t pt);
  // The RTX payload type `subscriber` accepted for `kind` ("video" or "H264": the apt is the payload type of
  // setSubscriberPayloadType for that kind); 0: no RTX, retransmissions are resent on the media SSRC.
  void setSubscriberRtxPayloadType(ParticipantId subscriber, std::string_view kind, std::uint8_t pt);

  // The out SSRCs the subscriber's current description has (with require_live_out_tracks). Returns those that
  // were not live before, sorted.
  std::vector<std::uint32_t> setLiveOutTracks(ParticipantId subscriber,
                                              std::span<const std::uint32_t> out_ssrcs);
  // The transport-wide sequence number extension id the subscriber accepted on what we send it (1..255); 0
  // turns downlink congestion control off for it.
  void setSubscriberTransportCc(ParticipantId subscriber, std::uint8_t ext_id);

  // Subscribes `subscriber` to (publisher, track_id). Errors: InvalidArgument (self-subscription), NotFound
  // (unknown publisher or track), ResourceExhausted (max_subscriptions_per_subscriber). Re-subscribing the
  // same track only updates width/height (the simulcast layer choice) and returns the same OutTrack. An audio
  // track beyond RouterConfig::audio_slots goes to the subscriber's audio slots (the returned OutTrack then
  // has audio_slot set and ssrc 0: outTracks() lists the slots).
  Result<OutTrack> subscribe(ParticipantId subscriber, ParticipantId publisher, std::string_view track_id,
                             int width, int height, TimeMs now);
  void unsubscribe(ParticipantId subscriber, ParticipantId publisher, std::string_view track_id);
  // What `subscriber` should receive (for SDP offers), in subscription order, then its audio slots.
  std::vector<OutTrack> outTracks(ParticipantId subscriber) const;
  // The subscriber's audio slots and what is on each now (empty: it has none).
  std::vector<AudioSlotInfo> audioSlots(ParticipantId subscriber) const;
  // The subscribers whose slots changed (a slot got another track, or none) since the last call; each once.
  std::vector<ParticipantId> takeAudioSlotChanges();
  // Removes `peer` as publisher and as subscriber. Returns the other subscribers whose out tracks changed.
  std::vector<ParticipantId> removePeer(ParticipantId peer);

  // Asks the publisher of the subscriber's out track `out_ssrc` for a keyframe; e.g. once the subscriber's
  // description has the track and it can use one. Throttled like the others (pli_throttle_ms), unless a
  // keyframe of that layer began after the last request: that request was answered (for subscribers that
  // could use it then), and this subscription still needs one (it was not live yet, docs/focus.md "The small
  // call"). With require_live_out_tracks, subscriptions ask for keyframes only once they are live.
  void requestKeyframe(ParticipantId subscriber, std::uint32_t out_ssrc, TimeMs now);

  // A decrypted RTP packet from `from`, as the transport parsed it (once); the packet is not modified.
  void onRtp(ParticipantId from, const InboundRtp& info, const media::RtpPacketView& rtp, TimeMs now);
  // The same for bytes nobody has parsed yet (tests, benchmarks): parsed here, malformed ones dropped and
  // counted.
  void onRtp(ParticipantId from, const InboundRtp& info, media::ByteSpan packet, TimeMs now);
  // A decrypted RTCP compound packet from `from`: SR (for our RR's LSR/DLSR), and, for the SSRCs `from`
  // receives from us, NACK (answered from the retransmission buffer) and PLI/FIR (relayed as PLI).
  void onRtcp(ParticipantId from, media::ByteSpan compound, TimeMs now);
  // Periodic work: receiver reports to publishers, throttled and retried keyframe requests, layer stalls.
  void tick(TimeMs now);

  const RouterStats& stats() const noexcept { return stats_; }
  std::vector<SubscriptionStats> subscriptionStats(ParticipantId subscriber) const;
  // (publisher, its stream id) of the subscriber's video subscriptions paused for its downlink.
  std::set<std::pair<ParticipantId, std::string>> pausedVideo(ParticipantId subscriber) const;
  std::optional<DownlinkStats> downlinkStats(
      ParticipantId subscriber) const;  // DownlinkStats: focus/downlink.hpp
  std::vector<PublishedLayerStats> publishedVideoLayers(ParticipantId publisher) const;
  // The send cap last told to `publisher` (bits/s; 0 = none, see publisher_cap_interval_ms).
  std::int64_t publisherCap(ParticipantId publisher) const;

 private:
  struct Layer;
  struct Track;
  struct InStream;
  struct Subscription;
  struct Participant;

  Participant* findParticipant(ParticipantId id) const;
  Participant& peerFor(ParticipantId id);
  InStream* learnSsrc(Participant& p, std::uint32_t ssrc, std::uint8_t pt, const InboundRtp& info,
                      TimeMs now);
  void rememberUnmapped(Participant& p, std::uint32_t ssrc);
  void onMediaRtp(Participant& p, InStream& in, const media::RtpPacketView& rtp, TimeMs now,
                  std::optional<std::uint8_t> audio_level = std::nullopt);
  // The publisher's video track whose RTX stream `ssrc` (with payload type `pt`) is, or nullptr.
  Track* rtxTrackOf(Participant& p, std::uint32_t ssrc, std::uint8_t pt, const InboundRtp& info) const;
  void onPublisherRtx(Participant& p, Track* track, const media::RtpPacketView& view, const InboundRtp& info,
                      TimeMs now);
  void forget(Participant& p, Track& t);
  void dropSubscription(Subscription& s, std::vector<ParticipantId>* affected);
  std::optional<std::size_t> chooseLayer(const Track& t, int width, int height, TimeMs now) const;
  // The lowest-quality layer that sent within layer_stall_ms (else any known one).
  std::optional<std::size_t> lowestLayer(const Track& t, TimeMs now) const;
  void applyLayer(Subscription& s, TimeMs now);
  // unless_answered: not throttled when a keyframe began on `stream` after the last request.
  void requestKeyframe(Participant& publisher, InStream& stream, TimeMs now, bool unless_answered = false);
  bool isLive(const Subscription& s) const;  // forwarded: live, or require_live_out_tracks off
  void trackLoss(Participant& publisher, InStream& in, TimeMs now, std::uint16_t seq);
  void forwardSenderReport(const Track& track, const media::RtcpSenderReport& sr);
  void sendBye(const Subscription& s);
  void sendUpstreamNacks(Participant& publisher, InStream& in, TimeMs now);
  void requestKeyframeFor(Subscription& s, TimeMs now, bool unless_answered = false);
  bool forwardedAsCurrentLayer(const InStream& in) const;
  bool forward(Subscription& s, const media::RtpPacketView& packet, const media::Vp8Descriptor* vp8,
               bool keyframe, TimeMs now);
  Subscription* findByOutSsrc(Participant& subscriber, std::uint32_t ssrc) const;
  void answerNack(Participant& subscriber, const media::RtcpNack& nack, TimeMs now);
  std::size_t wrapRtx(const media::RtpPacketView& original, Subscription& s, std::uint8_t rtx_pt);
  void sendReceiverReport(Participant& p, TimeMs now);
  void recordTransportSeq(Participant& p, std::uint32_t ssrc, std::uint16_t seq, TimeMs now,
                          std::int64_t arrival_us);
  void sendTransportFeedback(Participant& p, TimeMs now);
  // Sends rtp_scratch_[0, length) to `to`, stamped with a transport-wide sequence number when `to` has
  // downlink congestion control.
  // A probe packet's send time is spread over the tick at the probe's rate (`send_offset_us`): the packets go
  // out in one burst, as a paced sender's would over the tick.
  void sendToSubscriber(Participant& to, std::size_t length, TimeMs now, int probe_cluster = -1,
                        std::int64_t send_offset_us = 0);
  void onDownlinkFeedback(Participant& subscriber, const media::TransportCcFeedback& feedback, TimeMs now);
  void allocateDownlink(Participant& subscriber, TimeMs now);
  void sendProbePackets(Participant& subscriber, TimeMs now);
  void measureLayers(Participant& publisher, TimeMs now);
  // What a layer is assumed to need before its rate was measured (RouterConfig::layer_default_bps).
  std::int64_t defaultLayerBps(const Layer& l) const;
  // The publisher's send cap from its subscribers' sizes (0: not capped), and the REMB that carries it.
  std::int64_t publisherCapBps(const Participant& publisher) const;
  void sendPublisherCap(Participant& publisher, TimeMs now);
  std::uint32_t newOutSsrc(const Participant& subscriber);
  media::SimulcastRewriter newRewriter(std::uint32_t clock_rate, std::uint32_t out_ssrc);
  static std::uint64_t loudness(const Track* t);  // its speech activity; 0 for none or a muted one
  // Audio slots (focus/audio_slots.hpp).
  Result<OutTrack> subscribeToSlots(Participant& sub, Track& t, TimeMs now);
  void enterSlotMode(Participant& sub, TimeMs now);
  void putOnSlot(Subscription& slot, Track* track, TimeMs now);
  void forgetCandidate(Track& t);  // the track ends: off every subscriber's candidates and slots
  void rankAudio(TimeMs now);
  std::uint64_t nextRandom() noexcept;

  RouterSink& sink_;  // Borrowed (outlives this).
  RouterConfig config_;
  std::unordered_map<ParticipantId, std::unique_ptr<Participant>> peers_;  // Owned.
  std::vector<std::uint8_t> rtp_scratch_;     // max_packet_size + kSinkTrailerRoom
  std::vector<std::uint8_t> rtcp_scratch_;    // room for the largest RR compound and transport-cc feedback
  std::vector<std::uint8_t> unwrap_scratch_;  // a publisher's RTX packet, unwrapped (max_packet_size)
  std::array<std::uint16_t, 17 * 64> nack_seqs_{};  // lost seqs of one NACK packet
  // Scratch of allocateDownlink: per video subscription offered, the subscription and its track's layers
  // (indices) in the order the allocator sees them.
  std::vector<Subscription*> alloc_owners_;
  std::vector<std::vector<std::size_t>> alloc_layers_;
  std::uint64_t rng_state_;
  TimeMs next_audio_rank_{0};
  RouterStats stats_;
};

}  // namespace chorus::focus
