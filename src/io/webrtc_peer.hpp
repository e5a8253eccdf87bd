#pragma once
// One participant's WebRTC transport on the focus: ICE-lite + DTLS (passive) + SRTP + SCTP data channels,
// bundled on one 5-tuple of the shared UDP port. It answers the participant's SDP offer (audio/video
// recvonly, data channel) and, after DTLS, SRTP-unprotects incoming RTP/RTCP in place, counts packets per
// SSRC (with the mid/rid/kind they belong to) and hands them to its Listener. It protects and sends RTP/RTCP
// towards the participant, and renegotiates: the focus re-offers (createOffer/applyAnswer/rollback) with one
// sendonly section per forwarded track, and answers the participant's re-offers. Single-threaded: every call
// comes from the loop thread that owns the UdpServer.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "io/dtls_transport.hpp"
#include "io/ice_lite_agent.hpp"
#include "io/sctp_association.hpp"
#include "io/sdp.hpp"
#include "io/udp_server.hpp"
#include "media/demux.hpp"
#include "media/drop_counters.hpp"
#include "media/rtp/rtp_packet.hpp"
#include "media/srtp/srtp_session.hpp"

namespace chorus::io {

inline constexpr std::size_t kPeerMaxSsrcs = 32;
inline constexpr std::size_t kPeerMaxSrtpStreams = 2 * kPeerMaxSsrcs;  // RTP + RTCP sender SSRCs
// The most SRTP/SRTCP adds to a packet over every profile we negotiate: the 16-byte GCM tag plus the 4-byte
// SRTCP index (AES-CM adds 10 + 4). A buffer given to sendRtp()/sendRtcp() needs this much room past the
// plain packet.
inline constexpr std::size_t kSrtpMaxTrailer = 16 + 4;

enum class PeerDrop : std::uint8_t {
  NotValidated,   // DTLS/RTP/RTCP from an address ICE did not validate
  BeforeSrtp,     // RTP/RTCP before DTLS finished
  SrtpUnprotect,  // auth/replay/malformed (details in srtpUnprotectFailures())
  BadRtp,         // does not parse after unprotect
  TooManySsrcs,   // a new SSRC beyond kPeerMaxSrtpStreams: dropped before SRTP (it keeps per-SSRC state)
  Unknown,
  Count
};
const char* toString(PeerDrop d) noexcept;

// Why sendRtp()/sendRtcp() did not send.
enum class PeerSendDrop : std::uint8_t {
  NotConnected,    // no SRTP yet, no ICE-selected address, or the peer failed
  BufferTooSmall,  // length > buffer, or no room for the SRTP trailer
  Protect,         // the SRTP session refused (the reason is counted in the SrtpSession)
  Socket,          // the UDP send failed
  Count
};
const char* toString(PeerSendDrop d) noexcept;

// What the peer knows about one decrypted RTP packet beyond its header (the header is read from the packet's
// RtpPacketView, parsed once here and handed on). The views stay valid during the callback only.
struct RtpInfo {
  // From the mid header extension, else from the offer's a=ssrc lines, else learnt earlier for this ssrc.
  std::string_view mid;
  // From the rid header extension, or remembered for this ssrc (Chrome stops sending mid/rid extensions).
  std::string_view rid;
  // From the repaired-rid header extension (an RTX packet of a simulcast layer), or remembered for this ssrc.
  std::string_view repaired_rid;
  std::string_view kind;  // "audio" / "video"; empty when unknown
  // From the transport-wide sequence number extension, where it was negotiated (transport-cc); else nullopt.
  std::optional<std::uint16_t> transport_seq;
  // From the client-to-mixer audio level extension (RFC 6464) on an audio section where it was negotiated:
  // the level in -dBov, 0 (loudest) .. 127 (silence), without the voice-activity bit; else nullopt (also when
  // the element is not one byte long).
  std::optional<std::uint8_t> audio_level;
  // When the datagram arrived, µs on the server's clock: the kernel's receive timestamp where the socket
  // gives one (UdpServer::arrivalUs()), else the time it was dispatched.
  std::int64_t arrival_us{0};
};

// A section the participant sends on (sendrecv/sendonly) that we accepted.
struct PublishedTrack {
  std::string mid;
  std::string kind;
  std::string stream_id;  // a=msid, else the ssrc-level msid; empty when the offer has none
  std::string track_id;
  std::vector<std::string> rids;     // simulcast rids it sends
  std::vector<std::uint32_t> ssrcs;  // its a=ssrc ids (RTX ones included)
  std::uint8_t payload_type{0};      // the negotiated Opus / VP8 / H264 payload type
  std::string codec;                 // its name as offered ("opus", "VP8", "H264")
  std::uint8_t rtx_payload_type{0};  // its RTX payload type (apt = payload_type) we accepted; 0: none
  std::vector<std::pair<std::uint32_t, std::uint32_t>> rtx_ssrcs;  // its a=ssrc-group:FID (media, rtx)
};

struct SsrcStats {
  std::uint32_t ssrc{0};
  std::string mid;           // from the mid header extension or the offer's a=ssrc lines; empty if unknown
  std::string rid;           // from the rid header extension (remembered); empty if none
  std::string repaired_rid;  // from the repaired-rid header extension (remembered); empty if none
  std::string kind;          // "audio" / "video" (from mid, else payload type); empty if unknown
  std::uint8_t payload_type{0};
  std::uint64_t packets{0};
  std::uint64_t bytes{0};  // payload bytes after unprotect
};

class WebRtcPeer final : public UdpServer::Peer,
                         private DtlsTransport::Listener,
                         private SctpAssociation::Listener {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void onPeerConnected(WebRtcPeer& /*peer*/) {}  // DTLS done, SRTP keyed
    virtual void onPeerFailed(WebRtcPeer& peer, std::string_view reason) = 0;
    virtual void onPeerDataChannelOpen(WebRtcPeer& peer, std::uint16_t stream_id, std::string_view label) = 0;
    virtual void onPeerDataChannelMessage(WebRtcPeer& peer, std::uint16_t stream_id, std::string_view text,
                                          bool binary) = 0;
    virtual void onPeerDataChannelClosed(WebRtcPeer& /*peer*/, std::uint16_t /*stream_id*/) {}
    // A decrypted RTP packet, parsed once (a view of the server's receive buffer: copy it, do not keep it).
    virtual void onPeerRtp(WebRtcPeer& /*peer*/, const RtpInfo& /*info*/, const media::RtpPacketView& /*rtp*/,
                           TimeMs /*now*/) {}
    // A decrypted compound RTCP packet (not validated beyond SRTCP).
    virtual void onPeerRtcp(WebRtcPeer& /*peer*/, media::MutableByteSpan /*packet*/, TimeMs /*now*/) {}
  };

  using SendTrack = io::SendTrack;
  using PublishedTrack = io::PublishedTrack;

  // `identity`, `sender` and `listener` are borrowed and outlive the peer.
  WebRtcPeer(const DtlsIdentity& identity, UdpServer& server, Listener& listener, TimeMs now);
  ~WebRtcPeer() override;

  // Uplink transport-cc (docs/congestion-control.md): the answer keeps the transport-wide sequence number
  // extension and `a=rtcp-fb:PT transport-cc` on the sections the participant sends on, so its send-side
  // estimator runs on our feedback. Set before the first acceptOffer(). Off by default.
  void setUplinkTransportCc(bool on) noexcept { uplink_transport_cc_ = on; }
  // RTX with this participant (SdpAnswerParams::rtx); set before its first offer is answered.
  void setRtx(bool on) noexcept { rtx_ = on; }
  // The bounds on the descriptions it parses (the participant's offers and answers) and on the m-lines of its
  // own offers (one per forwarded track). Default: SdpLimits{} (64 m-lines, 256 KiB).
  void setSdpLimits(const SdpLimits& limits) noexcept { sdp_limits_ = limits; }

  // Parses the offer and returns the answer SDP. The first time, the peer is then ready for the participant's
  // ICE checks; add it to the UdpServer (server.addPeer(peer)). Later calls answer the participant's
  // re-offers (same ICE credentials and fingerprint; an ICE restart is refused): every section is answered,
  // our send sections stay sendonly with their ssrc/msid, new sections of the participant are received.
  // Fails while an offer of ours is pending (rollback() first).
  Result<std::string> acceptOffer(std::string_view offer_sdp);

  // A subsequent offer of the focus. `tracks` is the COMPLETE list of what the participant should receive
  // from us now (see buildSdpOffer). Needs a completed first exchange and no pending offer.
  Result<std::string> createOffer(const std::vector<SendTrack>& tracks);
  // Completes the pending offer. The answer must keep our ICE-lite transport: the same ICE credentials and
  // fingerprint as before and a=setup:active (the participant stays the DTLS client). On failure the offer
  // stays pending (the caller may rollback()).
  Result<void> applyAnswer(std::string_view answer_sdp);
  // Drops a pending offer (glare: the focus is the polite side).
  void rollback() noexcept { pending_.reset(); }
  bool hasPendingOffer() const noexcept { return pending_.has_value(); }
  // The payload type our send sections use for "audio" (Opus) or "video" (VP8): the participant's own one
  // from its first offer (111 / 96 when it offered none). 0 for another kind.
  std::uint8_t sendPayloadType(std::string_view kind) const noexcept;
  // The participant's own H.264 entry (packetization-mode=1) from its first offer, for send sections that
  // forward an H.264 publisher; nullopt when it did not offer H.264 (it then cannot receive such a track).
  const std::optional<SdpCodec>& sendH264Codec() const noexcept { return send_h264_codec_; }
  // Sections the participant sends on that we accepted, from the current negotiation.
  const std::vector<PublishedTrack>& publishedTracks() const noexcept { return published_; }
  // The transport-wide sequence number extension id of the sections we send on, where the participant
  // accepted it (downlink congestion control); 0 when none did.
  std::uint8_t downlinkTransportCcId() const noexcept;
  // The RTX payload type the participant accepted on the sections we send "video" (VP8) or "H264" on; 0 when
  // it did not (or no such section is negotiated yet): retransmissions then go on the media SSRC.
  std::uint8_t sendRtxPayloadType(std::string_view kind) const noexcept;

  bool sendText(std::uint16_t stream_id, std::string_view text);

  // Protect `length` plain bytes at the start of `buffer` and send them to the ICE-selected address: RTP sent
  // while the server batches is protected straight into its send queue (`buffer` is left as it was),
  // anything else in place in `buffer`. `buffer` must have room for length + the SRTP trailer
  // (kSrtpMaxTrailer is always enough). Returns false, counting a sendDrops() reason, when not connected or
  // the packet cannot be protected. No allocation.
  bool sendRtp(std::span<std::uint8_t> buffer, std::size_t length, TimeMs now);
  bool sendRtcp(std::span<std::uint8_t> buffer, std::size_t length, TimeMs now);

  // UdpServer::Peer
  std::string_view iceUfrag() const override { return ice_.localUfrag(); }
  bool onStun(const media::StunMessage& message, const TransportAddress& from, TimeMs now) override;
  bool ownsAddress(const TransportAddress& address) const override { return ice_.isValidated(address); }
  void onDatagram(media::PacketKind kind, media::MutableByteSpan datagram, const TransportAddress& from,
                  TimeMs now) override;
  bool onTick(TimeMs now) override;

  const IceLiteAgent& ice() const noexcept { return ice_; }
  DtlsState dtlsState() const noexcept { return dtls_ ? dtls_->state() : DtlsState::New; }
  std::optional<media::SrtpProfile> srtpProfile() const noexcept;
  const std::vector<SsrcStats>& ssrcStats() const noexcept { return ssrcs_; }
  std::uint64_t rtpPackets(std::string_view kind) const noexcept;
  std::uint64_t rtcpPackets() const noexcept { return rtcp_packets_; }
  const media::DropCounters<PeerDrop>& drops() const noexcept { return drops_; }
  const SctpAssociation* sctp() const noexcept { return sctp_.get(); }
  const std::vector<SdpNegotiatedSection>& sections() const noexcept { return current_.sections; }
  const media::DropCounters<PeerSendDrop>& sendDrops() const noexcept { return send_drops_; }
  std::uint64_t rtpPacketsSent() const noexcept { return rtp_sent_; }
  std::uint64_t rtcpPacketsSent() const noexcept { return rtcp_sent_; }
  bool failed() const noexcept { return failed_; }

 private:
  // DtlsTransport::Listener
  void onDtlsSend(DtlsTransport& t, media::ByteSpan datagram) override;
  void onDtlsConnected(DtlsTransport& t, media::SrtpProfile profile,
                       media::ByteSpan keying_material) override;
  void onDtlsApplicationData(DtlsTransport& t, media::ByteSpan data) override;
  void onDtlsFailed(DtlsTransport& t, std::string_view reason) override;
  void onDtlsClosed(DtlsTransport& t) override;
  // SctpAssociation::Listener
  void onSctpSend(SctpAssociation& a, media::ByteSpan packet) override;
  void onDataChannelOpen(SctpAssociation& a, std::uint16_t sid, std::string_view label,
                         std::string_view protocol) override;
  void onDataChannelMessage(SctpAssociation& a, std::uint16_t sid, std::string_view data,
                            bool binary) override;
  void onDataChannelClosed(SctpAssociation& a, std::uint16_t sid) override;

  void handleRtp(media::MutableByteSpan packet, TimeMs now);
  void handleRtcp(media::MutableByteSpan packet, TimeMs now);
  bool sendProtected(std::span<std::uint8_t> buffer, std::size_t length, bool rtcp);
  SdpAnswerParams localParams();
  // After every completed negotiation: published tracks and the header-extension ids to look for.
  void negotiated();
  // The mid/rid header extensions of a packet (views into it; empty when absent), its transport-wide
  // sequence number and its audio level (nullopt when absent or malformed), in one walk over the extension
  // block.
  void findExtensions(const media::RtpPacketView& rtp, std::string_view& mid, std::string_view& rid,
                      std::string_view& repaired_rid, std::optional<std::uint16_t>& transport_seq,
                      std::optional<std::uint8_t>& audio_level) const;
  std::string_view midOfSsrc(std::uint32_t ssrc) const noexcept;
  std::string_view kindOf(std::string_view mid, std::uint8_t payload_type) const noexcept;
  void fail(std::string_view reason);
  SsrcStats* statsFor(std::uint32_t ssrc);
  // False when `ssrc` is new and the SRTP stream budget is used up.
  bool srtpStreamAllowed(std::uint32_t ssrc) const noexcept;
  void noteSrtpStream(std::uint32_t ssrc);

  const DtlsIdentity& identity_;  // Borrowed.
  UdpServer& server_;             // Borrowed.
  Listener& listener_;            // Borrowed.
  IceLiteAgent ice_;
  DtlsTransportPtr dtls_;       // Owned.
  media::SrtpSessionPtr srtp_;  // Owned.
  SctpAssociationPtr sctp_;     // Owned.
  SdpLimits sdp_limits_;
  SdpNegotiation current_;                 // the negotiated session
  std::optional<SdpNegotiation> pending_;  // our offer, until its answer (or rollback)
  std::vector<PublishedTrack> published_;
  std::vector<std::uint8_t> mid_ext_ids_;  // distinct negotiated ids of the mid / rid extensions
  std::vector<std::uint8_t> rid_ext_ids_;
  std::vector<std::uint8_t> repaired_rid_ext_ids_;
  std::vector<std::uint8_t> transport_cc_ext_ids_;  // of the sections the participant sends on
  std::vector<std::uint8_t> audio_level_ext_ids_;   // of the audio sections the participant sends on
  SdpCodec send_audio_codec_;  // the codecs of our send sections (from the participant's first offer)
  SdpCodec send_video_codec_;
  std::optional<SdpCodec> send_h264_codec_;
  std::string remote_ufrag_;  // from the first offer: re-offers and answers must keep them
  std::string remote_pwd_;
  std::string remote_fingerprint_;
  std::uint64_t session_id_{0};
  std::uint64_t sdp_version_{1};  // o= version of our last description
  std::vector<SsrcStats> ssrcs_;  // bounded by kPeerMaxSsrcs
  // SSRCs that passed SRTP/SRTCP authentication, i.e. for which the SRTP session now holds state. Bounded:
  // packets of further SSRCs are dropped before SRTP sees them, so a participant cannot make it allocate
  // without limit.
  std::vector<std::uint32_t> srtp_ssrcs_;
  std::uint64_t rtcp_packets_{0};
  std::uint64_t untracked_rtp_packets_{0};
  std::uint64_t rtp_sent_{0};
  std::uint64_t rtcp_sent_{0};
  bool has_data_channel_{false};
  bool uplink_transport_cc_{false};
  bool rtx_{true};
  bool failed_{false};
  media::DropCounters<PeerDrop> drops_;
  media::DropCounters<PeerSendDrop> send_drops_;
};
using WebRtcPeerPtr = std::unique_ptr<WebRtcPeer>;

}  // namespace chorus::io
