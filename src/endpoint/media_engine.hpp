#pragma once
// MediaEngine: executes media commands for each peer leg with GStreamer webrtcbin and reports the results as
// events. See docs/endpoint.md for the pipeline and the threading model.
//
// Threading: every command is queued to the engine's own GLib thread and executed there in call order; the
// methods return at once and may be called from any thread. Results come back as MediaEvents in a queue the
// caller drains with poll() (wake up on wakeupFd() or waitForEvents()), so no user code ever runs on a
// GStreamer thread.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "endpoint/media_event.hpp"

namespace chorus::endpoint {

struct MediaConfig {
  // "test" (audiotestsrc, a quiet 440 Hz tone), "device" (autoaudiosrc) or a media file path (decodebin,
  // played once in real time).
  std::string audio_source{"test"};
  // "test" (videotestsrc), "device" (v4l2src, /dev/video0) or a media file path.
  std::string video_source{"test"};
  int width{640};
  int height{360};
  int fps{30};
  int video_bitrate_bps{600'000};
  int audio_bitrate_bps{32'000};
  // Send video as H.264 (openh264enc, constrained baseline 42e01f, packetization-mode=1) instead of VP8; the
  // video sections then offer H.264 only, so a peer that cannot decode H.264 gets no video from us. Incoming
  // H.264 is decoded either way.
  bool send_h264{false};
  // Only gather 127.0.0.1 host candidates (tests, local demos). Run inside `unshare -n` for full isolation:
  // libnice still enumerates interfaces.
  bool loopback_only{false};
  // libnice's ICE-TCP (RFC 6544). Off: webrtcbin 1.22 legs fail at connect on a TCP pair (docs/endpoint.md).
  bool ice_tcp{false};
  std::string stun_server;                // "stun://host:port"; empty = none
  std::vector<std::string> turn_servers;  // "turn(s)://user:pass@host:port"
  bool relay_only{false};                 // ICE transport policy "relay": only TURN candidates
  int jitter_buffer_ms{200};              // webrtcbin "latency"
  // Drawn on the "test" video pattern (textoverlay, top left), e.g. the participant's name; empty = none.
  // Needs the pango plugin (Debian: gstreamer1.0-x); without it the pattern has no text and a warning is
  // logged.
  std::string video_label;
  // The old leg setup, for comparison (`chorus bench call`): the engine thread blocks (up to 3 s per
  // description) until the leg's send pads have caps, and every other leg waits with it; the feeds' tees
  // send their allocation queries into connecting legs (where they wait for DTLS, stalling the feed).
  // Default: a description waits on its own leg only and resumes when the caps arrive; the legs refuse those
  // queries.
  bool legacy_leg_setup{false};
  std::string name{"chorus"};  // names the pipeline and log tag; useful with 2 engines in 1 process
};

struct LegOptions {
  // false: the leg negotiates and receives but sends no media (its send branches drop buffers) — used for
  // callers not yet confirmed as participants. Switch with setMediaEnabled().
  bool media_enabled{true};
  // Send the screenshare feed on this leg while screenshare is on.
  bool with_screenshare{true};
  // Create a data channel with this label (ordered, reliable) before the first offer. Its events are
  // DataChannelOpen/Message/Closed; send with sendDataChannel(). A leg without one adopts the first channel
  // the peer opens.
  std::optional<std::string> data_channel;
};

class MediaEngine {
 public:
  // Initialises GStreamer, checks the needed plugins and builds the local feeds (started with the first leg).
  static Result<std::unique_ptr<MediaEngine>> create(MediaConfig config);
  ~MediaEngine();
  MediaEngine(const MediaEngine&) = delete;
  MediaEngine& operator=(const MediaEngine&) = delete;

  // The MediaStream id in our SDP's a=msid lines: audio and video of the usermedia feed share one id (like a
  // browser MediaStream); the screenshare feed has its own. Key sdp_stream_metadata with it.
  const std::string& localStreamId(StreamPurpose purpose) const;

  // The text drawn on the usermedia video (MediaConfig::video_label), as the overlay element has it; "" when
  // the pipeline has no overlay. A synchronous round trip to the engine thread.
  std::string videoLabel();

  // ---- Commands: asynchronous, executed in call order; failures come back as LegError events. ----
  // New peer connection with send transceivers for usermedia audio+video (and screenshare if on).
  void createLeg(LegId leg, LegOptions options = {});
  // Emits LocalDescription{offer} (set as local description), then LocalCandidate.../GatheringComplete.
  // ice_restart is passed to webrtcbin as the "ice-restart" offer option, which GStreamer 1.22 ignores: the
  // offer keeps its ICE credentials (see docs/endpoint.md).
  void createOffer(LegId leg, bool ice_restart = false);
  // After setRemoteDescription(offer): emits LocalDescription{answer}, then candidates.
  void createAnswer(LegId leg);
  void setRemoteDescription(LegId leg, SdpType type, std::string sdp);
  // Empty candidate = end-of-candidates. May be called before the remote description is set (buffered).
  // Without sdp_mline_index the m-line is looked up by sdp_mid in the remote description (else 0).
  void addRemoteCandidate(LegId leg, std::string candidate, std::optional<std::string> sdp_mid = std::nullopt,
                          std::optional<std::uint32_t> sdp_mline_index = std::nullopt);
  void setMediaEnabled(LegId leg, bool enabled);
  // All legs. Muted audio sends digital silence, muted video sends black frames (the m-lines stay sendrecv).
  void setMuted(bool audio, bool video);
  // Adds (or removes) the screenshare feed on every leg with with_screenshare; established legs then emit
  // NegotiationNeeded.
  void setScreenshare(bool enabled);
  // Tears the leg down and emits LegState{closed}. Unknown ids are ignored.
  void closeLeg(LegId leg);
  // Sends a UTF-8 text message on the leg's data channel (LegError when there is none or it is not open).
  void sendDataChannel(LegId leg, std::string text);

  // ---- Queries (synchronous, answered by the engine thread). ----
  Result<LegStats> stats(LegId leg, std::chrono::milliseconds timeout = std::chrono::seconds(2));
  // Blocks until every command queued before this call has been executed.
  void flush();

  // ---- Events ----
  std::vector<MediaEvent> poll();  // drains the queue; never blocks
  int wakeupFd() const;            // eventfd, readable while events are queued (poll() resets it)
  bool waitForEvents(std::chrono::milliseconds timeout);  // true if events are queued

 private:
  struct Impl;
  explicit MediaEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace chorus::endpoint
