#pragma once
// One participant's WebRTC transport on the focus: ICE-lite + DTLS (passive) + SRTP + SCTP data channels,
// bundled on one 5-tuple of the shared UDP port. It answers the participant's SDP offer (audio/video
// recvonly, data channel) and, after DTLS, SRTP-unprotects incoming RTP/RTCP in place and counts packets per
// SSRC (with the mid/kind they belong to). Single-threaded: every call comes from the loop thread that owns
// the UdpServer.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
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
#include "media/srtp/srtp_session.hpp"

namespace chorus::io {

inline constexpr std::size_t kPeerMaxSsrcs = 32;
inline constexpr std::size_t kPeerMaxSrtpStreams = 2 * kPeerMaxSsrcs;  // RTP + RTCP sender SSRCs

enum class PeerDrop : std::uint8_t {
  NotValidated,   // DTLS/RTP/RTCP from an address ICE did not validate
  BeforeSrtp,     // RTP/RTCP before DTLS finished
  SrtpUnprotect,  // auth/replay/malformed (details in srtpUnprotectFailures())
  BadRtp,         // does not parse after unprotect
  TooManySsrcs,   // a new SSRC beyond kPeerMaxSrtpStreams: dropped before SRTP (libsrtp would allocate)
  Unknown,
  Count
};
const char* toString(PeerDrop d) noexcept;

struct SsrcStats {
  std::uint32_t ssrc{0};
  std::string mid;   // from the mid header extension or the offer's a=ssrc lines; empty if unknown
  std::string kind;  // "audio" / "video" (from mid, else payload type); empty if unknown
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
  };

  // `identity`, `sender` and `listener` are borrowed and outlive the peer.
  WebRtcPeer(const DtlsIdentity& identity, UdpServer& server, Listener& listener, TimeMs now);
  ~WebRtcPeer() override;

  // Parses the offer and returns the answer SDP. The peer is then ready for the participant's ICE checks; add
  // it to the UdpServer (server.addPeer(peer)).
  Result<std::string> acceptOffer(std::string_view offer_sdp);

  bool sendText(std::uint16_t stream_id, std::string_view text);

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
  const std::vector<SdpAnsweredSection>& sections() const noexcept { return sections_; }
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

  void handleRtp(media::MutableByteSpan packet);
  void handleRtcp(media::MutableByteSpan packet);
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
  std::vector<SdpAnsweredSection> sections_;
  std::vector<SsrcStats> ssrcs_;  // bounded by kPeerMaxSsrcs
  // SSRCs that passed SRTP/SRTCP authentication, i.e. for which libsrtp now holds a stream context. Bounded:
  // packets of further SSRCs are dropped before libsrtp sees them, so a participant cannot make it allocate
  // without limit.
  std::vector<std::uint32_t> srtp_ssrcs_;
  std::uint64_t rtcp_packets_{0};
  std::uint64_t untracked_rtp_packets_{0};
  bool has_data_channel_{false};
  bool failed_{false};
  media::DropCounters<PeerDrop> drops_;
};
using WebRtcPeerPtr = std::unique_ptr<WebRtcPeer>;

}  // namespace chorus::io
