#pragma once
// One synthetic MSC3898 participant for `chorus bench focus`: a WebRTC client made from our own transport
// stack (no codecs, no GStreamer). It offers, connects to the focus as the ICE controlling side (hand-built
// STUN Binding requests with USE-CANDIDATE), runs DTLS in the client role, keys a libsrtp session, opens the
// data channel "datachannel", and speaks the focus protocol on it: subscribes to every advertised track
// (subscribers), answers the focus's m.call.negotiate offers, answers m.call.ping. A publisher sends
// synthetic Opus-sized audio and VP8-framed video RTP (keyframe on PLI/FIR and every N frames) with a send
// timestamp in every payload; a subscriber unprotects what the focus forwards and measures one-way latency
// and sequence gaps per SSRC.
//
// Single-threaded: every method runs on the thread of the io_context given to the constructor (usrsctp is
// driven from that thread only; see docs/io.md).
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.hpp"
#include "io/dtls_transport.hpp"
#include "io/sctp_association.hpp"
#include "media/rtp/counter_unwrapper.hpp"
#include "media/srtp/srtp_session.hpp"
#include "proto/signalling.hpp"

namespace chorus::focus::bench {

// Bytes at the end of every synthetic payload: magic, publisher index, kind, send time (steady clock, ns).
inline constexpr std::size_t kBenchTrailerSize = 16;
inline constexpr std::uint32_t kBenchTrailerMagic = 0x43484246;  // "CHBF"
inline constexpr std::uint8_t kBenchAudioPt = 111;
inline constexpr std::uint8_t kBenchVideoPt = 96;
inline constexpr std::uint8_t kBenchMidExtId = 4;
// The id our offers give the RFC 6464 audio level (Chrome's); packets carry the id the focus answered.
inline constexpr std::uint8_t kBenchAudioLevelExtId = 1;
// The level (-dBov) a silent participant stamps, and the range a speaker's level moves in.
inline constexpr std::uint8_t kBenchSilentLevel = 127;
inline constexpr std::uint8_t kBenchSpeechLevelLoudest = 20;
inline constexpr std::uint8_t kBenchSpeechLevelQuietest = 45;

// What a publisher sends.
struct SyntheticTraffic {
  int audio_pps{50};
  int video_pps{300};
  int video_fps{30};  // video packets are grouped into frames of video_pps / video_fps packets
  std::size_t audio_payload_bytes{100};
  std::size_t video_payload_bytes{1000};
  int keyframe_interval_frames{60};  // besides the keyframes a PLI/FIR asks for
  // Role::AudioPeer: a silent participant sends one small packet every dtx_interval_ms (Opus DTX) instead of
  // audio_pps packets of audio_payload_bytes.
  bool silent{false};
  int dtx_interval_ms{400};
  std::size_t dtx_payload_bytes{kBenchTrailerSize};  // the trailer only (Opus DTX frames: 1-3 B)
  // Unprotect (and take latency samples from) the RTP of at most this many incoming SSRCs (the first ones
  // seen); the others are counted from their clear header (SRTP leaves SSRC and sequence number in the
  // clear), so one generator thread can take a 500-participant call's packets. 0: every SSRC.
  std::size_t max_unprotected_ssrcs{0};
  // Role::AudioPeer: offer the client-to-mixer audio level extension (RFC 6464) on the audio m-line and, when
  // the focus's answer keeps it, stamp every audio packet with it: a speaker's level moves like speech
  // (kBenchSpeechLevelLoudest..kBenchSpeechLevelQuietest -dBov, voice activity set), a silent participant's
  // is kBenchSilentLevel.
  bool audio_level{false};
};

// The level a speaker stamps on its `packet`-th audio packet: it moves every 100-200 ms (a syllable) within
// kBenchSpeechLevelLoudest..kBenchSpeechLevelQuietest, differently for each `publisher_index`.
std::uint8_t syntheticSpeechLevel(std::uint16_t publisher_index, std::uint64_t packet) noexcept;

// The RFC 6464 element of an audio packet: the negotiated id (1..14, one-byte form) and its byte (the
// voice-activity bit 0x80 and the level in -dBov).
struct AudioLevelElement {
  std::uint8_t id{0};
  std::uint8_t value{0};
};

// Writes one synthetic RTP packet (header with one-byte extensions: the mid and, when given, the audio level;
// payload, trailer) into `out`; returns its size. Video payloads start with an RFC 7741 descriptor (S=1 and
// a VP8 frame tag on the first packet of a frame; the keyframe header with 640x480 when `keyframe`). Shared
// with the floor measurement.
std::size_t writeSyntheticRtp(std::uint8_t* out, std::size_t capacity, bool video, std::uint32_t ssrc,
                              std::uint16_t seq, std::uint32_t timestamp, bool marker, bool frame_start,
                              bool keyframe, std::uint16_t picture_id, std::string_view mid,
                              std::size_t payload_bytes, std::uint16_t publisher_index, std::uint64_t send_ns,
                              std::optional<AudioLevelElement> audio_level = std::nullopt);

// Steady-clock nanoseconds (the clock of the payload timestamps).
std::uint64_t steadyNowNs();

class SyntheticParticipant final : private io::DtlsTransport::Listener,
                                   private io::SctpAssociation::Listener {
 public:
  // Publisher: audio + video, subscribes to nothing. Subscriber: subscribes to every track, publishes
  // nothing. AudioPeer (`--audio-only`): publishes one audio track and subscribes to every other
  // participant's audio, as matrix-js-sdk does in a large call.
  enum class Role { Publisher, Subscriber, AudioPeer };

  struct Counters {
    std::uint64_t rtp_sent{0};
    std::uint64_t rtp_received{0};
    std::uint64_t rtcp_received{0};
    std::uint64_t keyframe_requests{0};  // PLI/FIR from the focus
    std::uint64_t keyframes_sent{0};
    std::uint64_t unprotect_failures{0};
    std::uint64_t send_failures{0};
    std::uint64_t negotiations{0};  // focus offers answered
    std::uint64_t pings{0};
    std::uint64_t dc_messages{0};
    std::uint64_t expected{0};  // per-SSRC seq span over the window (for loss)
    std::uint64_t received_in_window{0};
  };

  // Creates the UDP socket on 127.0.0.1 (construct before the io_context runs, or on its thread).
  SyntheticParticipant(boost::asio::io_context& io, const io::DtlsIdentity& identity, std::uint16_t index,
                       Role role, const SyntheticTraffic& traffic);
  ~SyntheticParticipant() override;
  SyntheticParticipant(const SyntheticParticipant&) = delete;
  SyntheticParticipant& operator=(const SyntheticParticipant&) = delete;

  Role role() const noexcept { return role_; }
  // The initial offer (publisher: audio + video sendonly + data channel; subscriber: data channel only;
  // audio peer: audio sendonly + data channel).
  std::string offerSdp() const;
  // The org.matrix.msc3077.sdp_stream_metadata of the invite (empty for a subscriber; audio only for an
  // audio peer).
  proto::SdpStreamMetadata metadata() const;

  // The focus's m.call.answer: takes its ICE credentials, fingerprint and host candidate (else `fallback`),
  // then starts the connectivity checks.
  Status applyAnswer(std::string_view sdp, const boost::asio::ip::udp::endpoint& fallback);
  // Every few milliseconds: STUN retransmission/consent, DTLS timers, and (publishers) RTP that is due.
  void tick(std::uint64_t now_ns);
  // Measurement window: latency samples and per-SSRC windows are recorded only while measuring.
  void setMeasuring(bool on);

  bool iceConnected() const noexcept { return ice_ok_; }
  bool dtlsConnected() const noexcept { return srtp_ != nullptr; }
  bool dataChannelOpen() const noexcept { return dc_open_; }
  // Subscriber: the number of incoming SSRCs that delivered at least one packet.
  std::size_t activeInboundStreams() const noexcept { return inbound_.size(); }
  // Incoming SSRCs whose last packet arrived within `within_ns` of `now_ns` (steadyNowNs()): what flows now,
  // not streams the focus replaced (a subscriber moved onto audio slots gets new SSRCs).
  std::size_t recentInboundStreams(std::uint64_t now_ns, std::uint64_t within_ns) const noexcept;
  std::size_t subscribedTracks() const noexcept { return subscribed_.size(); }
  // Incoming SSRCs that delivered a packet during the last measurement window.
  std::size_t streamsInWindow() const noexcept { return streams_in_window_; }
  // The audio level extension id the focus's answer kept on our audio section (0: not negotiated).
  std::uint8_t audioLevelExtId() const noexcept { return audio_level_ext_id_; }
  const Counters& counters() const noexcept { return counters_; }
  // Latency samples (microseconds) recorded in the window; moved out.
  std::vector<std::uint32_t> takeLatencySamples();
  std::string lastError() const { return last_error_; }
  media::SrtpProfile srtpProfile() const noexcept;

 private:
  struct Inbound {
    media::CounterUnwrapper<std::uint16_t> seq;
    bool unprotect{true};  // else counted from its clear header (max_unprotected_ssrcs)
    std::uint64_t received{0};
    std::uint64_t last_ns{0};  // steady clock of its last packet
    std::int64_t window_start_highest{0};
    std::uint64_t window_start_received{0};
    bool window_open{false};
  };

  // DtlsTransport::Listener
  void onDtlsSend(io::DtlsTransport& t, media::ByteSpan datagram) override;
  void onDtlsConnected(io::DtlsTransport& t, media::SrtpProfile profile,
                       media::ByteSpan keying_material) override;
  void onDtlsApplicationData(io::DtlsTransport& t, media::ByteSpan data) override;
  void onDtlsFailed(io::DtlsTransport& t, std::string_view reason) override;
  // SctpAssociation::Listener
  void onSctpSend(io::SctpAssociation& a, media::ByteSpan packet) override;
  void onSctpConnected(io::SctpAssociation& a) override;
  void onDataChannelOpen(io::SctpAssociation& a, std::uint16_t sid, std::string_view label,
                         std::string_view protocol) override;
  void onDataChannelMessage(io::SctpAssociation& a, std::uint16_t sid, std::string_view data,
                            bool binary) override;
  void onDataChannelClosed(io::SctpAssociation& a, std::uint16_t sid) override;

  void receiveNext();
  void onDatagram(std::size_t n);
  void onRtp(std::uint8_t* data, std::size_t n);
  void onRtcp(std::uint8_t* data, std::size_t n);
  void sendStunCheck();
  void sendRaw(const std::uint8_t* data, std::size_t n);
  void sendMedia(std::uint64_t now_ns);
  void sendOne(bool video, std::uint64_t now_ns);
  void handleFocusMessage(std::string_view text);
  void sendFocusText(const std::string& text);
  std::string answerFor(std::string_view offer_sdp, std::string* why);

  boost::asio::ip::udp::socket socket_;
  boost::asio::ip::udp::endpoint focus_;
  boost::asio::ip::udp::endpoint from_;
  std::array<std::uint8_t, 64 * 1024> rx_{};
  std::array<std::uint8_t, 2048> tx_{};
  const io::DtlsIdentity& identity_;  // Borrowed (outlives this).
  std::uint16_t index_;
  Role role_;
  SyntheticTraffic traffic_;
  std::string ufrag_;
  std::string pwd_;
  std::string stream_id_;
  std::string audio_track_;
  std::string video_track_;
  std::uint32_t audio_ssrc_;
  std::uint32_t video_ssrc_;
  std::uint64_t sdp_version_{2};
  std::uint8_t audio_level_ext_id_{0};  // from the focus's answer

  std::string focus_ufrag_;
  std::string focus_pwd_;
  bool answered_{false};
  bool ice_ok_{false};
  std::uint64_t next_check_ns_{0};
  std::uint32_t stun_txn_{0};

  std::unique_ptr<io::DtlsTransport> dtls_;    // Owned.
  std::unique_ptr<io::SctpAssociation> sctp_;  // Owned.
  media::SrtpSessionPtr srtp_;                 // Owned.
  std::optional<std::uint16_t> dc_sid_;
  bool dc_open_{false};
  std::set<std::pair<std::string, std::string>> subscribed_;  // (stream, track)

  // Publisher state.
  std::uint64_t media_start_ns_{0};
  std::uint64_t audio_count_{0};
  std::uint64_t video_count_{0};
  std::uint16_t audio_seq_;
  std::uint16_t video_seq_;
  std::uint32_t audio_ts_;
  std::uint32_t video_ts_;
  std::uint16_t picture_id_{0};
  std::uint64_t frames_{0};
  bool keyframe_wanted_{true};
  bool frame_is_key_{false};

  // Subscriber state.
  std::unordered_map<std::uint32_t, Inbound> inbound_;
  std::size_t unprotected_ssrcs_{0};
  bool measuring_{false};
  std::size_t streams_in_window_{0};
  std::vector<std::uint32_t> latency_us_;

  Counters counters_;
  std::string last_error_;
};

}  // namespace chorus::focus::bench
