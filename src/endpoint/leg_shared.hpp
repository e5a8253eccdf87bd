#pragma once
// The part of a leg that GStreamer's threads touch (signal handlers, pad probes), and the webrtcbin signal
// wiring. Internal header.
#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "endpoint/event_queue.hpp"
#include "endpoint/media_event.hpp"
#include "proto/sdp_summary.hpp"

namespace chorus::endpoint {

// Counters of one remote stream id, bumped by the pad probes of its decode chains.
struct StreamCounters {
  std::atomic<std::uint64_t> packets{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> audio_frames{0};
  std::atomic<std::uint64_t> video_frames{0};
  std::atomic<std::uint64_t> audio_silent{0};
  std::atomic<std::uint64_t> video_black{0};
  std::atomic<std::uint64_t> h264_frames{0};  // of video_frames, decoded from H.264
};

// State shared with GStreamer's threads (signal handlers, pad probes). Lives as long as any callback holds
// it.
struct LegShared {
  LegShared() = default;
  ~LegShared();
  LegShared(const LegShared&) = delete;
  LegShared& operator=(const LegShared&) = delete;

  LegId id{0};
  std::shared_ptr<EventQueue> events;
  GstElement* bin{nullptr};  // Borrowed: valid while the webrtcbin's signals can fire.

  std::mutex mu;
  bool closed{false};        // Guarded by mu.
  bool desc_emitted{false};  // Guarded by mu. The current LocalDescription went out; candidates may follow.
  std::vector<MediaEvent> held;  // Guarded by mu. Candidates waiting for their LocalDescription.
  std::optional<proto::SdpSummary> local_sdp;   // Guarded by mu.
  std::optional<proto::SdpSummary> remote_sdp;  // Guarded by mu.
  bool established{false};                      // Guarded by mu. One offer/answer exchange completed.
  bool negotiation_pending{false};  // Guarded by mu. NegotiationNeeded emitted, no createOffer yet.
  // Whether webrtcbin's own on-negotiation-needed counts. Not on focus legs (those with a data channel): the
  // focus makes the offers for what we receive, and webrtcbin 1.22 signals after applying each of them (its
  // recvonly transceivers), which would make us offer back and collide with the focus's next offer. Our own
  // changes (screenshare, an unassociated send transceiver) still renegotiate. Set before the leg starts.
  bool follow_webrtcbin_negotiation_needed{true};
  GstWebRTCPeerConnectionState pc_state{GST_WEBRTC_PEER_CONNECTION_STATE_NEW};  // Guarded by mu.
  GstWebRTCICEConnectionState ice_state{GST_WEBRTC_ICE_CONNECTION_STATE_NEW};   // Guarded by mu.
  ConnectionState state{ConnectionState::New};                                  // Guarded by mu.

  std::atomic<std::uint64_t> audio_frames{0};
  std::atomic<std::uint64_t> video_frames{0};
  std::atomic<std::uint64_t> audio_silent{0};
  std::atomic<std::uint64_t> video_black{0};

  std::map<std::string, std::shared_ptr<StreamCounters>> streams;  // Guarded by mu. Remote stream id ->.
  // The decode chain (depayloader, [parser,] decoder, sink; borrowed from `bin`) of each remote RTP source.
  // releaseEndedDecodeChains() removes the chains whose section the remote description no longer sends on,
  // so a long-lived participant does not keep one per participant that ever came and went. Guarded by mu.
  struct DecodeChain {
    GstPad* webrtc_pad{nullptr};               // webrtcbin's src pad. Owned reference.
    std::string mid;                           // of the section the source arrived on
    std::vector<GstElement*> elements;         // depayloader, [parser,] decoder, sink; or the sink alone.
    std::shared_ptr<StreamCounters> counters;  // of the chain's stream
    std::uint64_t packets_seen{0};             // counters->packets at the last sweep
    std::optional<std::uint32_t> ssrc;         // of the source (from rtpbin's pad name), when known
  };
  std::vector<DecodeChain> decode_chains;
  // The SSRC demuxers of webrtcbin's rtpbin (one per RTP session; one in all when bundled). Owned references.
  // The sweep clears an ended source there, which frees its jitterbuffer (two threads) and payload demuxer.
  // Guarded by mu.
  std::vector<GstElement*> ssrc_demuxers;
  // SSRCs the sweep released (at most kMaxReleasedSsrcs, oldest first): one that comes back is logged, since
  // it means the sweep judged a live source ended. Guarded by mu.
  static constexpr std::size_t kMaxReleasedSsrcs = 256;
  std::deque<std::uint32_t> released_ssrcs;
  std::atomic<std::uint64_t> sources_released{0};
  std::atomic<std::uint64_t> sources_resumed{0};
  // The leg's data channel (ours, or the first the peer opened). Owned reference. Guarded by mu.
  GstWebRTCDataChannel* channel{nullptr};
  bool channel_open{false};  // Guarded by mu.
  std::atomic<std::uint64_t> dc_sent{0};
  std::atomic<std::uint64_t> dc_received{0};

  // Call with mu held.
  void emitLocked(MediaEvent ev) {
    if (!closed) events->push(std::move(ev));
  }
  // Call with mu held. Candidates and gathering-complete must follow their LocalDescription.
  void emitAfterDescriptionLocked(MediaEvent ev) {
    if (closed) return;
    if (desc_emitted) {
      events->push(std::move(ev));
    } else {
      held.push_back(std::move(ev));
    }
  }
  // Emits NegotiationNeeded once the first offer/answer completed, coalesced until the next createOffer.
  void markNegotiationNeeded();
  // Call with mu held. Recomputes `state` from pc_state/ice_state and emits LegState when it changed.
  void updateStateLocked();
};

// Connects webrtcbin's signals (negotiation, candidates, gathering/connection state, pad-added,
// on-data-channel) to `leg`. The handlers hold a weak reference; incoming streams are decoded into the leg's
// bin and counted in `leg`.
void connectLegSignals(GstElement* webrtc, const std::shared_ptr<LegShared>& leg);
// The H.264 decoder element used for incoming H.264 ("avdec_h264" or "openh264dec"), nullptr when neither is
// installed. Call after gst_init.
const char* h264DecoderName();
// Whether incoming H.264 can be depayloaded, parsed and decoded here (then the engine offers H.264 to
// receive).
bool canDecodeH264();
// Stops and removes the decode chains of remote sources that ended (see LegShared::decode_chains). Call on
// the engine's thread (not a streaming thread). Returns how many were released.
std::size_t releaseEndedDecodeChains(LegShared& leg);
// Makes `channel` the leg's data channel (unless it has one) and reports its open/message/close as events.
// Takes a reference.
void adoptDataChannel(GstWebRTCDataChannel* channel, const std::shared_ptr<LegShared>& leg);

}  // namespace chorus::endpoint
