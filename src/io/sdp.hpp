#pragma once
// A small, strictly bounded SDP (RFC 8866) reader for the offers the focus accepts (Chromium, GStreamer
// webrtcbin), and the writer of the focus's answer: ICE-lite, passive DTLS, BUNDLE + rtcp-mux, one host
// candidate, audio/video answered recvonly with the first Opus / VP8 payload type, and the SCTP data channel.
// Only what the focus uses is kept; every other line is skipped. Depends on the standard library only, so the
// fuzz target can compile it on its own (fuzz/sdp_fuzz.cpp).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chorus::io {

// Bounds. An offer breaking any of them is rejected as a whole.
inline constexpr std::size_t kSdpMaxSize = 64 * 1024;
inline constexpr std::size_t kSdpMaxLineLength = 4096;
inline constexpr std::size_t kSdpMaxMediaSections = 16;
inline constexpr std::size_t kSdpMaxCodecsPerSection = 64;
inline constexpr std::size_t kSdpMaxExtmapsPerSection = 32;
inline constexpr std::size_t kSdpMaxRidsPerSection = 8;
inline constexpr std::size_t kSdpMaxSsrcsPerSection = 32;
inline constexpr std::size_t kSdpMaxTokenLength = 256;  // ufrag, pwd, codec names, uris, ...
inline constexpr std::size_t kSdpMaxTagLength = 32;     // mid and rid ids (RTP header extensions carry <= 16)

enum class SdpError : std::uint8_t {
  TooLarge,
  LineTooLong,
  BadLine,  // not "<letter>=<value>"
  NoVersion,
  TooManySections,
  TooManyEntries,  // codecs, extmaps, rids or ssrcs in one section
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
};

struct SdpExtmap {
  std::uint16_t id{0};
  std::string uri;
};

struct SdpRid {
  std::string id;
  bool send{true};  // "send" (from the offerer's view) or "recv"
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

  const SdpCodec* findCodec(std::string_view name_case_insensitive) const noexcept;
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

// Parses an SDP. Never throws; returns nullopt (and a reason) when a bound is exceeded or a line the focus
// relies on is malformed. Unknown lines and attributes are skipped.
std::optional<SdpSession> parseSdp(std::string_view text, SdpError* error = nullptr) noexcept;

inline constexpr std::string_view kExtMid = "urn:ietf:params:rtp-hdrext:sdes:mid";
inline constexpr std::string_view kExtRid = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
inline constexpr std::string_view kExtRepairedRid = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";
inline constexpr std::string_view kExtTransportCc =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

struct SdpAnswerParams {
  std::string ice_ufrag;
  std::string ice_pwd;
  std::string fingerprint;   // sha-256, upper-case hex with colons
  std::string candidate_ip;  // IPv4 or IPv6 literal of the UDP server
  std::uint16_t candidate_port{0};
  std::uint16_t sctp_port{5000};
  std::uint32_t max_message_size{256 * 1024};
  std::uint64_t session_id{1};
};

// What the answer accepted for one offered m-line.
struct SdpAnsweredSection {
  std::string mid;
  std::string kind;
  bool accepted{false};
  std::uint8_t payload_type{0};  // audio/video: the chosen Opus / VP8 payload type
  std::uint16_t mid_ext_id{0};   // kept extmap ids (0 = not negotiated)
  std::uint16_t rid_ext_id{0};
  std::uint16_t repaired_rid_ext_id{0};
  std::uint16_t transport_cc_ext_id{0};
  std::uint16_t remote_sctp_port{0};  // application
  std::vector<std::uint32_t> ssrcs;   // the offer's a=ssrc ids of this section
};

struct SdpAnswer {
  std::string sdp;
  std::vector<SdpAnsweredSection> sections;  // one per offered m-line, in order
};

// Builds the focus's answer to `offer`. Returns nullopt when the offer has no usable section, lacks ICE
// credentials or a sha-256 fingerprint, or is not DTLS-SRTP / rtcp-mux.
std::optional<SdpAnswer> buildSdpAnswer(const SdpSession& offer, const SdpAnswerParams& params,
                                        std::string* why = nullptr);

}  // namespace chorus::io
