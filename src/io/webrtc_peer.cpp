#include "io/webrtc_peer.hpp"

#include <array>

#include "base/log.hpp"
#include "media/rtcp/rtcp_packet.hpp"
#include "media/rtp/rtp_packet.hpp"

namespace chorus::io {

namespace {
constexpr const char* kTag = "peer";
}

const char* toString(PeerDrop d) noexcept {
  switch (d) {
    case PeerDrop::NotValidated:
      return "not_validated";
    case PeerDrop::BeforeSrtp:
      return "before_srtp";
    case PeerDrop::SrtpUnprotect:
      return "srtp_unprotect";
    case PeerDrop::BadRtp:
      return "bad_rtp";
    case PeerDrop::TooManySsrcs:
      return "too_many_ssrcs";
    case PeerDrop::Unknown:
      return "unknown";
    case PeerDrop::Count:
      break;
  }
  return "unknown";
}

WebRtcPeer::WebRtcPeer(const DtlsIdentity& identity, UdpServer& server, Listener& listener, TimeMs now)
    : identity_(identity),
      server_(server),
      listener_(listener),
      ice_(IceLiteAgent::randomIceString(8), IceLiteAgent::randomIceString(24), now) {}

WebRtcPeer::~WebRtcPeer() {
  server_.removePeer(*this);
  // SCTP before DTLS: closing the association may still emit packets through onSctpSend.
  sctp_.reset();
  dtls_.reset();
}

Result<std::string> WebRtcPeer::acceptOffer(std::string_view offer_sdp) {
  if (dtls_)
    return chorus::fail(Code::FailedPrecondition, "offer already accepted (renegotiation is not supported)");
  SdpError perr{};
  const auto offer = parseSdp(offer_sdp, &perr);
  if (!offer) return chorus::fail(Code::InvalidArgument, std::string("bad SDP offer: ") + toString(perr));
  const auto local = server_.localEndpoint();
  SdpAnswerParams params;
  params.ice_ufrag = ice_.localUfrag();
  params.ice_pwd = ice_.localPwd();
  params.fingerprint = identity_.fingerprint();
  params.candidate_ip = local.address().to_string();
  params.candidate_port = local.port();
  params.max_message_size = kSctpMaxMessageSize;
  std::string why;
  auto answer = buildSdpAnswer(*offer, params, &why);
  if (!answer) return chorus::fail(Code::InvalidArgument, "cannot answer the offer: " + why);

  // ICE/DTLS parameters come from the first accepted (bundled) section.
  const SdpMediaSection* first = nullptr;
  for (std::size_t i = 0; i < offer->media.size(); ++i) {
    if (answer->sections[i].accepted) {
      first = &offer->media[i];
      break;
    }
  }
  if (first == nullptr) return chorus::fail(Code::InvalidArgument, "no accepted section");
  const std::string_view setup = offer->setupOf(*first);
  if (setup == "passive")
    return chorus::fail(Code::InvalidArgument, "offerer wants to be DTLS server; focus is passive");
  ice_.setRemoteUfrag(std::string(offer->iceUfragOf(*first)));
  DtlsTransport::Listener& dtls_listener = *this;
  dtls_ = std::make_unique<DtlsTransport>(identity_, media::DtlsRole::Server, dtls_listener);
  if (!dtls_->setRemoteFingerprint(offer->fingerprintAlgorithmOf(*first), offer->fingerprintOf(*first))) {
    dtls_.reset();
    return chorus::fail(Code::InvalidArgument, "bad remote fingerprint");
  }
  std::uint16_t remote_sctp_port = 0;
  for (const auto& s : answer->sections) {
    if (s.accepted && s.kind == "application") {
      has_data_channel_ = true;
      remote_sctp_port = s.remote_sctp_port;
    }
  }
  if (has_data_channel_) {
    SctpAssociation::Listener& sctp_listener = *this;
    sctp_ = std::make_unique<SctpAssociation>(sctp_listener, media::DtlsRole::Server, kSctpDefaultPort,
                                              remote_sctp_port);
  }
  sections_ = std::move(answer->sections);
  if (!dtls_->start()) return chorus::fail(Code::Internal, "DTLS start failed");
  return std::move(answer->sdp);
}

bool WebRtcPeer::sendText(std::uint16_t stream_id, std::string_view text) {
  return sctp_ && sctp_->sendText(stream_id, text);
}

std::optional<media::SrtpProfile> WebRtcPeer::srtpProfile() const noexcept {
  if (!srtp_) return std::nullopt;
  return srtp_->profile();
}

std::uint64_t WebRtcPeer::rtpPackets(std::string_view kind) const noexcept {
  std::uint64_t n = 0;
  for (const auto& s : ssrcs_) {
    if (s.kind == kind) n += s.packets;
  }
  return n;
}

bool WebRtcPeer::onStun(const media::StunMessage& message, const TransportAddress& from, TimeMs now) {
  if (!dtls_ || failed_) return false;  // no offer yet
  std::array<std::uint8_t, media::kStunMaxBindingResponse> response{};
  const auto outcome = ice_.handleStun(message, from, now, response);
  if (!outcome.validated) return false;
  server_.send(media::ByteSpan(response.data(), outcome.response_size), from);
  return true;
}

void WebRtcPeer::onDatagram(media::PacketKind kind, media::MutableByteSpan datagram,
                            const TransportAddress& from, TimeMs /*now*/) {
  // The server only routes validated addresses here; re-check (an address can fall out of the bounded list).
  if (!ice_.isValidated(from) || failed_) {
    drops_.count(PeerDrop::NotValidated);
    return;
  }
  switch (kind) {
    case media::PacketKind::Dtls:
      if (dtls_) dtls_->receive(datagram);
      return;
    case media::PacketKind::Rtp:
      handleRtp(datagram);
      return;
    case media::PacketKind::Rtcp:
      handleRtcp(datagram);
      return;
    default:
      drops_.count(PeerDrop::Unknown);
      return;
  }
}

bool WebRtcPeer::onTick(TimeMs now) {
  if (failed_) return false;
  if (ice_.timedOut(now)) {
    fail("ICE consent expired");
    return false;
  }
  if (dtls_) dtls_->onTimer();
  return !failed_;
}

void WebRtcPeer::handleRtp(media::MutableByteSpan packet) {
  if (!srtp_) {
    drops_.count(PeerDrop::BeforeSrtp);
    return;
  }
  const std::uint32_t header_ssrc = packet.size() >= 12 ? media::load32(packet.data() + 8) : 0;
  if (!srtpStreamAllowed(header_ssrc)) {
    drops_.count(PeerDrop::TooManySsrcs);
    return;
  }
  const auto plain = srtp_->unprotectRtp(packet);
  if (!plain) {
    drops_.count(PeerDrop::SrtpUnprotect);
    return;
  }
  noteSrtpStream(header_ssrc);
  const auto rtp = media::RtpPacketView::parse(packet.first(*plain));
  if (!rtp) {
    drops_.count(PeerDrop::BadRtp);
    return;
  }
  SsrcStats* s = statsFor(rtp->ssrc());
  if (s == nullptr) {  // decrypted, but beyond the stats table
    ++untracked_rtp_packets_;
    return;
  }
  ++s->packets;
  s->bytes += rtp->payload().size();
  s->payload_type = rtp->payloadType();
  if (!s->mid.empty() && !s->kind.empty()) return;
  // Learn the mid from the header extension (or the offer's a=ssrc lines), the kind from mid or payload type.
  for (const auto& sec : sections_) {
    if (!sec.accepted) continue;
    if (s->mid.empty() && sec.mid_ext_id != 0 && rtp->hasExtension()) {
      if (auto ext = rtp->findExtension(static_cast<std::uint8_t>(sec.mid_ext_id))) {
        if (auto mid = media::parseSdesExtension(ext->data)) s->mid.assign(*mid);
      }
    }
    if (s->mid.empty()) {
      for (auto ssrc : sec.ssrcs) {
        if (ssrc == s->ssrc) s->mid = sec.mid;
      }
    }
  }
  for (const auto& sec : sections_) {
    if (!sec.accepted || sec.kind == "application") continue;
    if (!s->mid.empty() ? sec.mid == s->mid : sec.payload_type == s->payload_type) {
      s->kind = sec.kind;
      break;
    }
  }
}

void WebRtcPeer::handleRtcp(media::MutableByteSpan packet) {
  if (!srtp_) {
    drops_.count(PeerDrop::BeforeSrtp);
    return;
  }
  const std::uint32_t sender_ssrc = packet.size() >= 8 ? media::load32(packet.data() + 4) : 0;
  if (!srtpStreamAllowed(sender_ssrc)) {
    drops_.count(PeerDrop::TooManySsrcs);
    return;
  }
  const auto plain = srtp_->unprotectRtcp(packet);
  if (!plain) {
    drops_.count(PeerDrop::SrtpUnprotect);
    return;
  }
  noteSrtpStream(sender_ssrc);
  ++rtcp_packets_;
}

bool WebRtcPeer::srtpStreamAllowed(std::uint32_t ssrc) const noexcept {
  if (srtp_ssrcs_.size() < kPeerMaxSrtpStreams) return true;
  for (auto s : srtp_ssrcs_) {
    if (s == ssrc) return true;
  }
  return false;
}

void WebRtcPeer::noteSrtpStream(std::uint32_t ssrc) {
  for (auto s : srtp_ssrcs_) {
    if (s == ssrc) return;
  }
  if (srtp_ssrcs_.size() < kPeerMaxSrtpStreams) srtp_ssrcs_.push_back(ssrc);
}

SsrcStats* WebRtcPeer::statsFor(std::uint32_t ssrc) {
  for (auto& s : ssrcs_) {
    if (s.ssrc == ssrc) return &s;
  }
  if (ssrcs_.size() >= kPeerMaxSsrcs) return nullptr;
  ssrcs_.push_back(SsrcStats{ssrc});
  return &ssrcs_.back();
}

void WebRtcPeer::fail(std::string_view reason) {
  if (failed_) return;
  failed_ = true;
  CHORUS_LOG(Info, kTag, ice_.localUfrag() << ": " << reason);
  listener_.onPeerFailed(*this, reason);
}

// --- DTLS ------------------------------------------------------------------------------------------------

void WebRtcPeer::onDtlsSend(DtlsTransport& /*t*/, media::ByteSpan datagram) {
  if (auto to = ice_.sendAddress()) server_.send(datagram, *to);
}

void WebRtcPeer::onDtlsConnected(DtlsTransport& /*t*/, media::SrtpProfile profile, media::ByteSpan material) {
  srtp_ = media::createLibSrtpSession(profile, media::DtlsRole::Server, material);
  if (!srtp_) {
    fail("SRTP session setup failed");
    return;
  }
  CHORUS_LOG(Debug, kTag, ice_.localUfrag() << ": DTLS connected, " << media::srtpProfileName(profile));
  if (sctp_ && !sctp_->start()) {
    fail("SCTP start failed");
    return;
  }
  listener_.onPeerConnected(*this);
}

void WebRtcPeer::onDtlsApplicationData(DtlsTransport& /*t*/, media::ByteSpan data) {
  if (sctp_) sctp_->receive(data);
}

void WebRtcPeer::onDtlsFailed(DtlsTransport& /*t*/, std::string_view reason) {
  fail(reason);
}

void WebRtcPeer::onDtlsClosed(DtlsTransport& /*t*/) {
  fail("DTLS closed by the peer");
}

// --- SCTP ------------------------------------------------------------------------------------------------

void WebRtcPeer::onSctpSend(SctpAssociation& /*a*/, media::ByteSpan packet) {
  if (dtls_) dtls_->send(packet);
}

void WebRtcPeer::onDataChannelOpen(SctpAssociation& /*a*/, std::uint16_t sid, std::string_view label,
                                   std::string_view /*protocol*/) {
  listener_.onPeerDataChannelOpen(*this, sid, label);
}

void WebRtcPeer::onDataChannelMessage(SctpAssociation& /*a*/, std::uint16_t sid, std::string_view data,
                                      bool binary) {
  listener_.onPeerDataChannelMessage(*this, sid, data, binary);
}

void WebRtcPeer::onDataChannelClosed(SctpAssociation& /*a*/, std::uint16_t sid) {
  listener_.onPeerDataChannelClosed(*this, sid);
}

}  // namespace chorus::io
