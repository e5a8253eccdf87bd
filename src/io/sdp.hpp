#pragma once
// A small, strictly bounded SDP (RFC 8866) reader for the offers the focus accepts (Chromium, GStreamer
// webrtcbin), and the writer of the focus's descriptions: ICE-lite, passive DTLS, BUNDLE + rtcp-mux, one host
// candidate; the participant's audio/video answered recvonly with the first Opus / VP8 payload type, the SCTP
// data channel, and (after the first exchange) sendonly sections for what the focus forwards to the
// participant. Subsequent offers go both ways: the focus re-offers (buildSdpOffer + applySdpAnswer), and the
// participant re-offers (buildSdpAnswer with the current negotiation). Only what the focus uses is kept;
// every other line is skipped. Depends on the standard library only, so the fuzz target can compile it on its
// own (fuzz/sdp_fuzz.cpp).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chorus::io {

// Bounds. An offer breaking any of them is rejected as a whole.
// A subscriber's description grows with the room (one sendonly section per forwarded track), and a Chromium
// video section lists every codec (~3 KB), so the size and section bounds leave room for large rooms.
inline constexpr std::size_t kSdpMaxSize = 256 * 1024;
inline constexpr std::size_t kSdpMaxLineLength = 4096;
inline constexpr std::size_t kSdpMaxMediaSections = 64;
inline constexpr std::size_t kSdpMaxCodecsPerSection = 64;
inline constexpr std::size_t kSdpMaxExtmapsPerSection = 32;
inline constexpr std::size_t kSdpMaxRidsPerSection = 8;
inline constexpr std::size_t kSdpMaxSsrcsPerSection = 32;
inline constexpr std::size_t kSdpMaxTokenLength = 256;  // ufrag, pwd, codec names, uris, ...
inline constexpr std::size_t kSdpMaxTagLength = 32;     // mid and rid ids (RTP header extensions carry <= 16)
inline constexpr std::size_t kSdpMaxMsidLength = 64;    // msid stream and track ids (RFC 8830 msid-id)

enum class SdpError : std::uint8_t {
  TooLarge,
  LineTooLong,
  BadLine,  // not "<letter>=<value>"
  NoVersion,
  TooManySections,
  TooManyEntries,  // codecs, extmaps, rids, ssrcs or ssrc msids in one section
  BadMediaLine,
  BadAttribute,  // a known attribute whose value does not parse
  TokenTooLong,
  Count
};
const char* toString(SdpError e) noexcept;

enum class SdpDirection : std::uint8_t { SendRecv, SendOnly, RecvOnly, Inactive };

struct SdpCodec {
  std::uint8_t payload_type{0};
  std::string name;  // as written ("opus", "VP8")
  std::uint32_t clock_rate{0};
  std::uint8_t channels{0};          // 0 when absent
  std::string fmtp;                  // the value after "a=fmtp:<pt> ", or empty
  std::vector<std::string> rtcp_fb;  // values after "a=rtcp-fb:<pt> "
  // The payload type of its RTX stream (RFC 4588: an "rtx" entry whose fmtp has apt=<this payload type>);
  // 0: none. Written as "a=rtpmap:<rtx> rtx/<clock rate>" + "a=fmtp:<rtx> apt=<payload_type>".
  std::uint8_t rtx_payload_type{0};
};

struct SdpExtmap {
  std::uint16_t id{0};
  std::string uri;
};

struct SdpRid {
  std::string id;
  bool send{true};  // "send" (from the offerer's view) or "recv"
};

// An ssrc-level "a=ssrc:<ssrc> msid:<stream> <track>" (GStreamer webrtcbin, older Chromium).
struct SdpSsrcMsid {
  std::uint32_t ssrc{0};
  std::string stream_id;
  std::string track_id;  // may be empty (the appdata part is optional)
};

struct SdpMediaSection {
  std::string kind;  // "audio", "video", "application", or anything else
  std::uint16_t port{0};
  std::string proto;                 // "UDP/TLS/RTP/SAVPF", "UDP/DTLS/SCTP", ...
  std::vector<std::string> formats;  // the m-line's fmt list (payload types, or "webrtc-datachannel")
  std::string mid;
  std::string ice_ufrag;
  std::string ice_pwd;
  std::string fingerprint_algorithm;  // lower case, e.g. "sha-256"
  std::string fingerprint;            // hex with colons, as written
  std::string setup;                  // actpass / active / passive
  SdpDirection direction{SdpDirection::SendRecv};
  bool rtcp_mux{false};
  bool rtcp_rsize{false};
  bool bundle_only{false};
  std::optional<std::uint16_t> sctp_port;
  std::optional<std::uint32_t> max_message_size;
  std::vector<SdpCodec> codecs;  // from a=rtpmap (+ fmtp / rtcp-fb attached by payload type)
  std::vector<SdpExtmap> extmaps;
  std::vector<SdpRid> rids;
  std::string simulcast;             // raw value of a=simulcast
  std::vector<std::uint32_t> ssrcs;  // distinct a=ssrc ids, in order
  std::string msid_stream;           // the first media-level a=msid:<stream> <track> ("-": no stream)
  std::string msid_track;
  std::vector<SdpSsrcMsid> ssrc_msids;  // at most one per ssrc, bounded by kSdpMaxSsrcsPerSection
  // a=ssrc-group:FID <media> <rtx> (RFC 5576 / 4588), as (media, rtx); at most kSdpMaxSsrcsPerSection.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> fid_groups;

  const SdpCodec* findCodec(std::string_view name_case_insensitive) const noexcept;
  // The video codec the focus uses for this section: VP8 when offered, else H.264 with packetization-mode=1
  // (profile-level-id 42e01f preferred). nullptr when neither is offered.
  const SdpCodec* findVideoCodec() const noexcept;
  // The offer's best H.264 entry (packetization-mode=1, 42e01f preferred), or nullptr.
  const SdpCodec* findH264() const noexcept;
  std::uint16_t extmapId(std::string_view uri) const noexcept;  // 0 when absent
};

struct SdpSession {
  std::string ice_ufrag;  // session-level values (media-level ones win)
  std::string ice_pwd;
  std::string fingerprint_algorithm;
  std::string fingerprint;
  std::string setup;
  bool ice_lite{false};
  bool extmap_allow_mixed{false};
  std::vector<std::string> bundle_mids;  // a=group:BUNDLE
  std::vector<SdpMediaSection> media;

  // The effective ICE/DTLS parameters of a section (its own, else the session's).
  std::string_view iceUfragOf(const SdpMediaSection& m) const noexcept;
  std::string_view icePwdOf(const SdpMediaSection& m) const noexcept;
  std::string_view fingerprintAlgorithmOf(const SdpMediaSection& m) const noexcept;
  std::string_view fingerprintOf(const SdpMediaSection& m) const noexcept;
  std::string_view setupOf(const SdpMediaSection& m) const noexcept;
};

// The bounds on one description's size and sections that a caller may raise: a large call's subscriber
// description has one section per track the focus forwards to it (docs/focus.md, "Audio-only").
struct SdpLimits {
  std::size_t max_media_sections{kSdpMaxMediaSections};
  std::size_t max_size{kSdpMaxSize};
  // The size bound that goes with `sections` sections: kSdpMaxSize, or 4 KiB per section when that is more.
  static SdpLimits forSections(std::size_t sections) noexcept {
    return SdpLimits{sections, sections * 4096 > kSdpMaxSize ? sections * 4096 : kSdpMaxSize};
  }
};

// Parses an SDP. Never throws; returns nullopt (and a reason) when a bound is exceeded or a line the focus
// relies on is malformed. Unknown lines and attributes are skipped.
std::optional<SdpSession> parseSdp(std::string_view text, SdpError* error = nullptr) noexcept;
std::optional<SdpSession> parseSdp(std::string_view text, const SdpLimits& limits,
                                   SdpError* error = nullptr) noexcept;

inline constexpr std::string_view kExtMid = "urn:ietf:params:rtp-hdrext:sdes:mid";
inline constexpr std::string_view kExtRid = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
inline constexpr std::string_view kExtRepairedRid = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";
inline constexpr std::string_view kExtTransportCc =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
// RFC 6464 client-to-mixer audio level: kept on the audio sections the participant sends on (the router's
// loudest-speaker selection); never on what the focus sends (forwarded packets carry no header extensions).
inline constexpr std::string_view kExtAudioLevel = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

// One ICE host candidate of the focus (component 1 only: rtcp-mux and BUNDLE).
struct SdpCandidate {
  std::string ip;  // IPv4 or IPv6 literal
  std::uint16_t port{0};
  bool tcp{false};  // a passive TCP candidate (RFC 6544, "tcptype passive"); else UDP
};

// "a=candidate:..." lines for `candidates` (in preference order: priorities decrease along the list, UDP
// before TCP) followed by "a=end-of-candidates".
std::string writeCandidateLines(const std::vector<SdpCandidate>& candidates);

// What the focus writes into each of its descriptions (offers and answers).
struct SdpAnswerParams {
  std::string ice_ufrag;
  std::string ice_pwd;
  std::string fingerprint;  // sha-256, upper-case hex with colons
  // Host candidates in preference order; the first gives the c= / o= address and the m= port.
  std::vector<SdpCandidate> candidates;
  std::uint16_t sctp_port{5000};
  std::uint32_t max_message_size{256 * 1024};
  std::uint64_t session_id{1};
  std::uint64_t session_version{2};   // o= line; the caller increments it for every description it makes
  std::string cname{"chorus-focus"};  // a=ssrc:<ssrc> cname:<cname> of our send sections
  // Re-offers recycle a rejected section (JSEP §5.2.2) only once the description has this many m-lines; below
  // that, new tracks get new sections. GStreamer webrtcbin 1.22 cannot apply a recycled section ("transceiver
  // direction changes are not implemented"), so a participant that rejoins would break every chorus call
  // subscriber's renegotiation; appending works for every client, up to the bound.
  std::size_t recycle_from_sections{kSdpMaxMediaSections};
  // The most m-lines an offer of the focus may have (SdpLimits::max_media_sections of the peer).
  std::size_t max_media_sections{kSdpMaxMediaSections};
  // Keep transport-cc (the transport-wide sequence number extension and a=rtcp-fb:* transport-cc) on the
  // sections the participant sends on, when offered. Off by default: with it, Chromium publishers through the
  // focus ramped worse, not better, in the browser benchmark (docs/congestion-control.md), still to be
  // understood; the router sends the feedback whenever the extension arrives.
  bool transport_cc{false};
  // Offer transport-cc on the sections we send on (downlink congestion control: the focus stamps
  // transport-wide sequence numbers on what it sends and reads the participant's feedback), with the id the
  // participant itself uses for the extension (SdpNegotiation::remote_transport_cc_id; never when it offered
  // none).
  bool downlink_transport_cc{true};
  // RTX (RFC 4588): accept the participant's RTX in answers (its retransmissions are unwrapped upstream) and,
  // from then on, offer RTX on the sections we send on. Off: no RTX either way (NACKs answered on the media
  // SSRC), as with `chorus focus --no-rtx` (ServiceOptions::rtx).
  bool rtx{true};
};

// A track the focus sends to the participant (one sendonly m-section each).
struct SendTrack {
  std::string kind;  // "audio" / "video"
  std::uint32_t ssrc{0};
  std::string stream_id;  // msid stream id (empty: "-", no stream)
  std::string track_id;
  SdpCodec codec;  // the codec of a new section (empty name: buildSdpOffer's audio / video default)
  // Video: the RTX SSRC (a=ssrc-group:FID <ssrc> <rtx_ssrc>), written when the section's codec has an RTX
  // payload type; 0: none.
  std::uint32_t rtx_ssrc{0};
};

// One m-section as negotiated (or as proposed by a pending offer of ours), from the focus's point of view.
struct SdpNegotiatedSection {
  std::string mid;
  std::string kind;
  bool accepted{false};          // false: rejected, port 0
  std::uint8_t payload_type{0};  // audio/video: the one codec's payload type (Opus / VP8)
  std::uint16_t mid_ext_id{0};   // kept extmap ids (0 = not negotiated)
  std::uint16_t rid_ext_id{0};
  std::uint16_t repaired_rid_ext_id{0};
  std::uint16_t transport_cc_ext_id{0};
  std::uint16_t audio_level_ext_id{0};  // audio sections the participant sends on only
  std::uint16_t remote_sctp_port{0};    // application
  std::vector<std::uint32_t> ssrcs;     // the participant's a=ssrc ids of this section
  std::vector<std::pair<std::uint32_t, std::uint32_t>> fid_groups;  // its a=ssrc-group:FID (media, rtx)

  std::string proto;   // as offered ("UDP/TLS/RTP/SAVPF", "UDP/DTLS/SCTP", ...)
  std::string format;  // the m-line format of a data-channel or rejected section
  // audio/video: the codec written (rtcp-fb already filtered). Video: its rtx_payload_type is the RTX both
  // sides have on this section (kept from the offer; cleared when the answer leaves it out).
  SdpCodec codec;
  std::vector<SdpExtmap> extmaps;  // the kept header extensions (never in a pure send section)
  bool rtcp_rsize{false};
  bool recv{false};                    // the participant sends on this section (we receive)
  std::vector<std::string> recv_rids;  // simulcast rids we receive
  bool simulcast{false};
  std::string remote_stream_id;  // the participant's msid for what it sends here
  std::string remote_track_id;
  bool send{false};  // we send `send_track` on this section
  SendTrack send_track;
};
using SdpAnsweredSection = SdpNegotiatedSection;

// The negotiated session (every m-section, in order).
struct SdpNegotiation {
  std::vector<SdpNegotiatedSection> sections;
  bool extmap_allow_mixed{false};
  std::uint32_t next_mid{0};  // mids the focus creates are decimal numbers from here (never reused)
  // The id the participant's offers give the transport-wide sequence number extension (0: none). BUNDLE
  // wants one id per extension across sections, so our send sections use it too.
  std::uint16_t remote_transport_cc_id{0};
};

struct SdpAnswer : SdpNegotiation {
  std::string sdp;
};
struct SdpOffer : SdpNegotiation {
  std::string sdp;
};

// Builds the focus's answer to the participant's initial `offer`. Returns nullopt when the offer has no
// usable section, lacks ICE credentials or a sha-256 fingerprint, or is not DTLS-SRTP / rtcp-mux.
std::optional<SdpAnswer> buildSdpAnswer(const SdpSession& offer, const SdpAnswerParams& params,
                                        std::string* why = nullptr);
// The answer to a subsequent offer of the participant, given the `current` negotiation: every existing
// section must keep its index and mid (unless it was rejected, then it may be recycled with a new mid); our
// send sections stay sendonly (sendrecv when the participant now sends on them too) with their ssrc/msid.
std::optional<SdpAnswer> buildSdpAnswer(const SdpSession& offer, const SdpAnswerParams& params,
                                        const SdpNegotiation* current, std::string* why);

// A subsequent offer of the focus: `tracks` is the complete list of what the participant should receive.
// Existing sections keep their order and mids; a send section whose track is gone is rejected (port 0, or
// recvonly when the participant also sends on it); a new track takes a section that was rejected in `current`
// (same kind, new mid), else a new section at the end. `audio` / `video` are the codecs of new send sections.
// Returns nullopt (and why) for an invalid track list (kind, ssrc 0 or duplicate, ids that are not msid
// tokens) or when the section bound would be exceeded.
std::optional<SdpOffer> buildSdpOffer(const SdpNegotiation& current, const std::vector<SendTrack>& tracks,
                                      const SdpCodec& audio, const SdpCodec& video,
                                      const SdpAnswerParams& params, std::string* why = nullptr);

// Applies the participant's answer to our pending offer `pending` (section count and mids must match; a
// section the answer rejects, or whose direction refuses what we offered, is updated accordingly).
// ICE/DTLS parameters are the caller's to check. Returns false (and why) when the answer does not fit.
bool applySdpAnswer(SdpNegotiation& pending, const SdpSession& answer, std::string* why = nullptr);

// Writes a description of `negotiation`: an offer (a=setup:actpass) or an answer (a=setup:passive).
std::string writeSdp(const SdpNegotiation& negotiation, const SdpAnswerParams& params, bool offer);

}  // namespace chorus::io
