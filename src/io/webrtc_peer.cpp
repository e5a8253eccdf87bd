#include "io/webrtc_peer.hpp"

#include <algorithm>
#include <array>

#include "base/log.hpp"
#include "media/rtcp/rtcp_packet.hpp"
#include "media/rtp/rtp_packet.hpp"
#include "media/srtp/evp_srtp_session.hpp"

namespace chorus::io {

namespace {
constexpr const char* kPeerTag = "peer";

// Defaults for our send sections when the participant's offer has no Opus / VP8 to copy.
SdpCodec defaultCodec(std::string_view kind) {
  SdpCodec c;
  if (kind == "audio") {
    c.payload_type = 111;
    c.name = "opus";
    c.clock_rate = 48000;
    c.channels = 2;
    c.fmtp = "minptime=10;useinbandfec=1";
  } else {
    c.payload_type = 96;
    c.name = "VP8";
    c.clock_rate = 90000;
    c.rtcp_fb = {"nack", "nack pli", "ccm fir"};
  }
  return c;
}

void addExtId(std::vector<std::uint8_t>& ids, std::uint16_t id) {
  if (id == 0 || id > 255) return;
  const auto v = static_cast<std::uint8_t>(id);
  if (std::find(ids.begin(), ids.end(), v) == ids.end()) ids.push_back(v);
}

}  // namespace

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

const char* toString(PeerSendDrop d) noexcept {
  switch (d) {
    case PeerSendDrop::NotConnected:
      return "not_connected";
    case PeerSendDrop::BufferTooSmall:
      return "buffer_too_small";
    case PeerSendDrop::Protect:
      return "protect";
    case PeerSendDrop::Socket:
      return "socket";
    case PeerSendDrop::Count:
      break;
  }
  return "unknown";
}

WebRtcPeer::WebRtcPeer(const DtlsIdentity& identity, UdpServer& server, Listener& listener, TimeMs now)
    : identity_(identity),
      server_(server),
      listener_(listener),
      ice_(IceLiteAgent::randomIceString(8), IceLiteAgent::randomIceString(24), now),
      send_audio_codec_(defaultCodec("audio")),
      send_video_codec_(defaultCodec("video")) {
  // o= session id: any stable number; derived from the random ufrag (ice-chars) so no extra RNG is needed.
  for (char c : ice_.localUfrag()) session_id_ = session_id_ * 131 + static_cast<unsigned char>(c);
  session_id_ &= 0x7FFFFFFFFFFFFFFFull;
}

WebRtcPeer::~WebRtcPeer() {
  server_.removePeer(*this);
  // SCTP before DTLS: closing the association may still emit packets through onSctpSend.
  sctp_.reset();
  dtls_.reset();
}

SdpAnswerParams WebRtcPeer::localParams() {
  const auto local = server_.localEndpoint();
  SdpAnswerParams params;
  params.ice_ufrag = ice_.localUfrag();
  params.ice_pwd = ice_.localPwd();
  params.fingerprint = identity_.fingerprint();
  const auto addresses = server_.advertisedAddresses();
  for (const auto& ip : addresses) params.candidates.push_back({ip, local.port(), false});
  // ICE-TCP: a passive TCP candidate for each address, below all UDP ones (sdp.hpp writeCandidateLines).
  if (const auto tcp_port = server_.tcpPort(); tcp_port != 0) {
    for (const auto& ip : addresses) params.candidates.push_back({ip, tcp_port, true});
  }
  params.max_message_size = kSctpMaxMessageSize;
  params.max_media_sections = sdp_limits_.max_media_sections;
  params.session_id = session_id_;
  params.session_version = ++sdp_version_;
  params.cname = "chorus-" + ice_.localUfrag();
  params.transport_cc = uplink_transport_cc_;
  params.rtx = rtx_;
  return params;
}

Result<std::string> WebRtcPeer::acceptOffer(std::string_view offer_sdp) {
  if (failed_) return chorus::fail(Code::FailedPrecondition, "peer failed");
  if (pending_) return chorus::fail(Code::FailedPrecondition, "our offer is pending (rollback() first)");
  SdpError perr{};
  const auto offer = parseSdp(offer_sdp, sdp_limits_, &perr);
  if (!offer) return chorus::fail(Code::InvalidArgument, std::string("bad SDP offer: ") + toString(perr));
  const bool subsequent = dtls_ != nullptr;
  std::string why;
  auto answer = buildSdpAnswer(*offer, localParams(), subsequent ? &current_ : nullptr, &why);
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
  if (subsequent) {
    if (offer->iceUfragOf(*first) != remote_ufrag_ || offer->icePwdOf(*first) != remote_pwd_)
      return chorus::fail(Code::Unimplemented, "ICE restart is not supported");
    if (offer->fingerprintOf(*first) != remote_fingerprint_)
      return chorus::fail(Code::InvalidArgument, "the DTLS fingerprint changed");
    // A data channel added by a re-offer: start SCTP now (at once if DTLS is already up).
    for (const auto& s : answer->sections) {
      if (s.accepted && s.kind == "application" && !sctp_) {
        has_data_channel_ = true;
        SctpAssociation::Listener& sctp_listener = *this;
        sctp_ = std::make_unique<SctpAssociation>(sctp_listener, media::DtlsRole::Server, kSctpDefaultPort,
                                                  s.remote_sctp_port);
        if (srtp_ && !sctp_->start()) return chorus::fail(Code::Internal, "SCTP start failed");
      }
    }
    current_ = std::move(static_cast<SdpNegotiation&>(*answer));
    negotiated();
    return std::move(answer->sdp);
  }

  ice_.setRemoteUfrag(std::string(offer->iceUfragOf(*first)));
  remote_ufrag_ = offer->iceUfragOf(*first);
  remote_pwd_ = offer->icePwdOf(*first);
  remote_fingerprint_ = offer->fingerprintOf(*first);
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
  // Our send sections use the participant's own Opus / VP8 payload types (and its Opus fmtp).
  bool have_audio = false;
  bool have_video = false;
  for (const auto& m : offer->media) {
    const SdpCodec* c = m.kind == "audio"   ? m.findCodec("opus")
                        : m.kind == "video" ? m.findCodec("VP8")
                                            : nullptr;
    if (c == nullptr) continue;
    if (m.kind == "audio" && !have_audio) {
      have_audio = true;
      send_audio_codec_.payload_type = c->payload_type;
      send_audio_codec_.fmtp = c->fmtp;
      if (c->channels != 0) send_audio_codec_.channels = c->channels;
    } else if (m.kind == "video" && !have_video) {
      have_video = true;
      send_video_codec_.payload_type = c->payload_type;
      send_video_codec_.rtx_payload_type =
          rtx_ ? c->rtx_payload_type : 0;  // offered in our sections (RFC 4588)
    }
  }
  for (const auto& m : offer->media) {
    const SdpCodec* h = m.kind == "video" ? m.findH264() : nullptr;
    if (h == nullptr) continue;
    SdpCodec c = *h;
    c.rtcp_fb = {"nack", "nack pli", "ccm fir"};
    send_h264_codec_ = std::move(c);
    break;
  }
  current_ = std::move(static_cast<SdpNegotiation&>(*answer));
  negotiated();
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
                            const TransportAddress& from, TimeMs now) {
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
      handleRtp(datagram, now);
      return;
    case media::PacketKind::Rtcp: {
      const auto before = rtcp_packets_;
      handleRtcp(datagram, now);
      if (rtcp_packets_ != before) ice_.refreshConsent(from, now);
      return;
    }
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

void WebRtcPeer::handleRtp(media::MutableByteSpan packet, TimeMs now) {
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
  const media::MutableByteSpan decrypted = packet.first(*plain);
  const auto rtp = media::RtpPacketView::parse(decrypted);
  if (!rtp) {
    drops_.count(PeerDrop::BadRtp);
    return;
  }
  RtpInfo info;
  info.arrival_us = server_.arrivalUs();
  const std::uint32_t ssrc = rtp->ssrc();
  const std::uint8_t payload_type = rtp->payloadType();
  std::string_view ext_mid;
  std::string_view ext_rid;
  std::string_view ext_rrid;
  if (rtp->hasExtension())
    findExtensions(*rtp, ext_mid, ext_rid, ext_rrid, info.transport_seq, info.audio_level);
  SsrcStats* s = statsFor(ssrc);
  if (s != nullptr) {
    ++s->packets;
    s->bytes += rtp->payload().size();
    s->payload_type = payload_type;
    // Learnt once per SSRC (the strings are short: no allocation per packet).
    if (!ext_mid.empty() && ext_mid != s->mid) {
      s->mid.assign(ext_mid);
      s->kind.clear();
    }
    if (!ext_rid.empty() && ext_rid != s->rid) s->rid.assign(ext_rid);
    if (!ext_rrid.empty() && ext_rrid != s->repaired_rid) s->repaired_rid.assign(ext_rrid);
    if (s->mid.empty()) {
      const std::string_view m = midOfSsrc(ssrc);
      if (!m.empty()) {
        s->mid.assign(m);
        s->kind.clear();
      }
    }
    if (s->kind.empty()) s->kind.assign(kindOf(s->mid, payload_type));
    info.mid = s->mid;
    info.rid = s->rid;
    info.repaired_rid = s->repaired_rid;
    info.kind = s->kind;
  } else {  // decrypted, but beyond the stats table: only what this packet and the SDP say
    ++untracked_rtp_packets_;
    info.mid = !ext_mid.empty() ? ext_mid : midOfSsrc(ssrc);
    info.rid = ext_rid;
    info.repaired_rid = ext_rrid;
    info.kind = kindOf(info.mid, payload_type);
  }
  if (info.kind != "audio") info.audio_level.reset();  // the id of an audio section on another packet
  listener_.onPeerRtp(*this, info, *rtp, now);
}

void WebRtcPeer::findExtensions(const media::RtpPacketView& rtp, std::string_view& mid, std::string_view& rid,
                                std::string_view& repaired_rid, std::optional<std::uint16_t>& transport_seq,
                                std::optional<std::uint8_t>& audio_level) const {
  // One walk over the extension block for all of them (no allocation).
  auto listed = [](const std::vector<std::uint8_t>& ids, std::uint8_t id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
  };
  auto it = rtp.extensions();
  while (auto ext = it.next()) {
    if (mid.empty() && listed(mid_ext_ids_, ext->id)) {
      if (auto v = media::parseSdesExtension(ext->data)) mid = *v;
    } else if (rid.empty() && listed(rid_ext_ids_, ext->id)) {
      if (auto v = media::parseSdesExtension(ext->data)) rid = *v;
    } else if (repaired_rid.empty() && listed(repaired_rid_ext_ids_, ext->id)) {
      if (auto v = media::parseSdesExtension(ext->data)) repaired_rid = *v;
    } else if (!transport_seq && listed(transport_cc_ext_ids_, ext->id)) {
      transport_seq = media::parseTransportCcSeq(ext->data);
    } else if (!audio_level && listed(audio_level_ext_ids_, ext->id)) {
      if (auto v = media::parseAudioLevel(ext->data)) audio_level = v->level;
    }
  }
}

std::string_view WebRtcPeer::midOfSsrc(std::uint32_t ssrc) const noexcept {
  for (const auto& sec : current_.sections) {
    if (!sec.accepted) continue;
    for (auto s : sec.ssrcs) {
      if (s == ssrc) return sec.mid;
    }
  }
  return {};
}

std::string_view WebRtcPeer::kindOf(std::string_view mid, std::uint8_t payload_type) const noexcept {
  for (const auto& sec : current_.sections) {
    if (!sec.accepted || (sec.kind != "audio" && sec.kind != "video")) continue;
    if (!mid.empty() ? sec.mid == mid : (sec.recv && sec.payload_type == payload_type)) {
      return sec.kind == "audio" ? std::string_view("audio") : std::string_view("video");
    }
  }
  return {};
}

void WebRtcPeer::handleRtcp(media::MutableByteSpan packet, TimeMs now) {
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
  listener_.onPeerRtcp(*this, packet.first(*plain), now);
}

// --- Sending ---------------------------------------------------------------------------------------------

bool WebRtcPeer::sendRtp(std::span<std::uint8_t> buffer, std::size_t length, TimeMs /*now*/) {
  return sendProtected(buffer, length, false);
}

bool WebRtcPeer::sendRtcp(std::span<std::uint8_t> buffer, std::size_t length, TimeMs /*now*/) {
  return sendProtected(buffer, length, true);
}

bool WebRtcPeer::sendProtected(std::span<std::uint8_t> buffer, std::size_t length, bool rtcp) {
  const auto to = ice_.sendAddress();
  if (failed_ || !srtp_ || !to) {
    send_drops_.count(PeerSendDrop::NotConnected);
    return false;
  }
  const std::size_t overhead =
      rtcp ? media::srtpRtcpOverhead(srtp_->profile()) : media::srtpRtpOverhead(srtp_->profile());
  if (length > buffer.size() || buffer.size() - length < overhead) {
    send_drops_.count(PeerSendDrop::BufferTooSmall);
    return false;
  }
  if (!rtcp) {
    // In a batch: protect straight into the server's send queue (the plain packet stays in `buffer`).
    if (const auto slot = server_.queueSlot(*to); slot.size() >= length + overhead) {
      const auto size = srtp_->protectRtpTo(media::ByteSpan(buffer.data(), length), slot);
      if (!size) {
        send_drops_.count(PeerSendDrop::Protect);
        return false;
      }
      server_.commitQueued(*size, *to);
      ++rtp_sent_;
      return true;
    }
  }
  const auto size = rtcp ? srtp_->protectRtcp(buffer, length) : srtp_->protectRtp(buffer, length);
  if (!size) {
    send_drops_.count(PeerSendDrop::Protect);
    return false;
  }
  if (!server_.send(media::ByteSpan(buffer.data(), *size), *to)) {
    send_drops_.count(PeerSendDrop::Socket);
    return false;
  }
  ++(rtcp ? rtcp_sent_ : rtp_sent_);
  return true;
}

// --- Renegotiation -------------------------------------------------------------------------------------

Result<std::string> WebRtcPeer::createOffer(const std::vector<SendTrack>& tracks) {
  if (failed_) return chorus::fail(Code::FailedPrecondition, "peer failed");
  if (!dtls_) return chorus::fail(Code::FailedPrecondition, "no negotiated session yet");
  if (pending_) return chorus::fail(Code::FailedPrecondition, "an offer is already pending");
  std::string why;
  auto offer = buildSdpOffer(current_, tracks, send_audio_codec_, send_video_codec_, localParams(), &why);
  if (!offer) return chorus::fail(Code::InvalidArgument, "cannot create the offer: " + why);
  pending_ = std::move(static_cast<SdpNegotiation&>(*offer));
  return std::move(offer->sdp);
}

Result<void> WebRtcPeer::applyAnswer(std::string_view answer_sdp) {
  if (!pending_) return chorus::fail(Code::FailedPrecondition, "no pending offer");
  SdpError perr{};
  const auto answer = parseSdp(answer_sdp, sdp_limits_, &perr);
  if (!answer) return chorus::fail(Code::InvalidArgument, std::string("bad SDP answer: ") + toString(perr));
  const SdpMediaSection* first = nullptr;
  for (std::size_t i = 0; i < answer->media.size() && i < pending_->sections.size(); ++i) {
    if (pending_->sections[i].accepted && answer->media[i].port != 0) {
      first = &answer->media[i];
      break;
    }
  }
  if (first == nullptr) return chorus::fail(Code::InvalidArgument, "the answer accepts no section");
  if (answer->iceUfragOf(*first) != remote_ufrag_ || answer->icePwdOf(*first) != remote_pwd_)
    return chorus::fail(Code::Unimplemented, "ICE restart is not supported");
  if (answer->fingerprintOf(*first) != remote_fingerprint_)
    return chorus::fail(Code::InvalidArgument, "the DTLS fingerprint changed");
  // We offered actpass but are the DTLS server of the running association: it must stay that way.
  if (answer->setupOf(*first) != "active")
    return chorus::fail(Code::InvalidArgument, "the answer changes the DTLS role (a=setup:" +
                                                   std::string(answer->setupOf(*first)) + ")");
  SdpNegotiation next = *pending_;
  std::string why;
  if (!applySdpAnswer(next, *answer, &why))
    return chorus::fail(Code::InvalidArgument, "answer does not fit the offer: " + why);
  current_ = std::move(next);
  pending_.reset();
  negotiated();
  return {};
}

std::uint8_t WebRtcPeer::sendPayloadType(std::string_view kind) const noexcept {
  if (kind == "audio") return send_audio_codec_.payload_type;
  if (kind == "video") return send_video_codec_.payload_type;
  return 0;
}

std::uint8_t WebRtcPeer::sendRtxPayloadType(std::string_view kind) const noexcept {
  const std::uint8_t pt = kind == "video"  ? send_video_codec_.payload_type
                          : kind == "H264" ? (send_h264_codec_ ? send_h264_codec_->payload_type : 0)
                                           : 0;
  if (pt == 0) return 0;
  for (const auto& sec : current_.sections) {
    if (sec.accepted && sec.send && sec.kind == "video" && sec.codec.payload_type == pt)
      return sec.codec.rtx_payload_type;
  }
  return 0;
}

std::uint8_t WebRtcPeer::downlinkTransportCcId() const noexcept {
  for (const auto& sec : current_.sections) {
    if (sec.accepted && sec.send && !sec.recv && sec.transport_cc_ext_id != 0 &&
        sec.transport_cc_ext_id < 256)
      return static_cast<std::uint8_t>(sec.transport_cc_ext_id);
  }
  return 0;
}

void WebRtcPeer::negotiated() {
  published_.clear();
  mid_ext_ids_.clear();
  rid_ext_ids_.clear();
  repaired_rid_ext_ids_.clear();
  transport_cc_ext_ids_.clear();
  audio_level_ext_ids_.clear();
  for (const auto& sec : current_.sections) {
    if (!sec.accepted) continue;
    addExtId(mid_ext_ids_, sec.mid_ext_id);
    addExtId(rid_ext_ids_, sec.rid_ext_id);
    addExtId(repaired_rid_ext_ids_, sec.repaired_rid_ext_id);
    if (sec.recv) addExtId(transport_cc_ext_ids_, sec.transport_cc_ext_id);
    if (sec.recv && sec.kind == "audio") addExtId(audio_level_ext_ids_, sec.audio_level_ext_id);
    if (!sec.recv || (sec.kind != "audio" && sec.kind != "video")) continue;
    PublishedTrack t;
    t.mid = sec.mid;
    t.kind = sec.kind;
    t.stream_id = sec.remote_stream_id;
    t.track_id = sec.remote_track_id;
    t.rids = sec.recv_rids;
    t.ssrcs = sec.ssrcs;
    t.payload_type = sec.payload_type;
    t.codec = sec.codec.name;
    if (sec.kind == "video") {
      t.rtx_payload_type = sec.codec.rtx_payload_type;
      t.rtx_ssrcs = sec.fid_groups;
    }
    published_.push_back(std::move(t));
  }
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
  CHORUS_LOG(Info, kPeerTag, ice_.localUfrag() << ": " << reason);
  listener_.onPeerFailed(*this, reason);
}

// --- DTLS ------------------------------------------------------------------------------------------------

void WebRtcPeer::onDtlsSend(DtlsTransport& /*t*/, media::ByteSpan datagram) {
  if (auto to = ice_.sendAddress()) server_.send(datagram, *to);
}

void WebRtcPeer::onDtlsConnected(DtlsTransport& /*t*/, media::SrtpProfile profile, media::ByteSpan material) {
  srtp_ = media::createEvpSrtpSession(profile, media::DtlsRole::Server, material);
  if (!srtp_) {
    fail("SRTP session setup failed");
    return;
  }
  CHORUS_LOG(Debug, kPeerTag, ice_.localUfrag() << ": DTLS connected, " << media::srtpProfileName(profile));
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
