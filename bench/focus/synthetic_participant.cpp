#include "bench/focus/synthetic_participant.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <sstream>

#include "io/sdp.hpp"
#include "media/bytes.hpp"
#include "media/demux.hpp"
#include "media/rtcp/rtcp_packet.hpp"
#include "media/rtp/rtp_packet.hpp"
#include "media/srtp/evp_srtp_session.hpp"
#include "media/stun/stun_message.hpp"
#include "proto/focus_messages.hpp"

namespace chorus::focus::bench {

namespace asio = boost::asio;
using asio::ip::udp;

namespace {

constexpr std::uint64_t kCheckIntervalNs = 50'000'000;       // until the first success
constexpr std::uint64_t kConsentIntervalNs = 2'500'000'000;  // then consent freshness (the focus: 30 s)
// The focus's offers to a participant of a large call have one section per other participant.
const io::SdpLimits kSdpLimits = io::SdpLimits::forSections(2048);
constexpr int kSocketBuffer = 2 * 1024 * 1024;
constexpr int kMaxBurst = 64;  // packets per stream per tick when catching up

std::uint32_t random32() {
  std::uint32_t v = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) v = 0x1234567u;
  return v;
}

std::string randomToken(std::size_t n) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(n, 'a');
  std::vector<unsigned char> r(n);
  if (RAND_bytes(r.data(), static_cast<int>(n)) != 1) return std::string(n, 'x');
  for (std::size_t i = 0; i < n; ++i) s[i] = kChars[r[i] % (sizeof kChars - 1)];
  return s;
}

void putAttr(std::vector<std::uint8_t>& m, std::uint16_t type, media::ByteSpan value) {
  const std::size_t at = m.size();
  m.resize(at + 4);
  media::store16(m.data() + at, type);
  media::store16(m.data() + at + 2, static_cast<std::uint16_t>(value.size()));
  m.insert(m.end(), value.begin(), value.end());
  while (m.size() % 4 != 0) m.push_back(0);
}

// A Binding request of the ICE controlling side (RFC 8445 §7.1.2): USERNAME "<their ufrag>:<our ufrag>",
// PRIORITY, ICE-CONTROLLING, USE-CANDIDATE, MESSAGE-INTEGRITY (their password), FINGERPRINT.
std::vector<std::uint8_t> bindingRequest(std::string_view username, std::string_view password,
                                         std::uint32_t txn, std::uint64_t tie_breaker) {
  std::vector<std::uint8_t> m(20);
  media::store16(m.data(), media::kStunBindingRequest);
  media::store32(m.data() + 4, media::kStunMagicCookie);
  media::store32(m.data() + 8, 0x43484246u);
  media::store32(m.data() + 12, static_cast<std::uint32_t>(tie_breaker));
  media::store32(m.data() + 16, txn);
  putAttr(m, media::kStunAttrUsername,
          media::ByteSpan(reinterpret_cast<const std::uint8_t*>(username.data()), username.size()));
  std::uint8_t prio[4];
  media::store32(prio, 0x6e7f1eff);
  putAttr(m, media::kStunAttrPriority, prio);
  std::uint8_t tie[8];
  media::store64(tie, tie_breaker);
  putAttr(m, media::kStunAttrIceControlling, tie);
  putAttr(m, media::kStunAttrUseCandidate, {});
  // The length covers MESSAGE-INTEGRITY when it is computed (RFC 5389 §15.4).
  media::store16(m.data() + 2, static_cast<std::uint16_t>(m.size() - 20 + 24));
  unsigned char mac[20];
  unsigned int mac_len = 0;
  HMAC(EVP_sha1(), password.data(), static_cast<int>(password.size()), m.data(), m.size(), mac, &mac_len);
  putAttr(m, media::kStunAttrMessageIntegrity, media::ByteSpan(mac, 20));
  media::store16(m.data() + 2, static_cast<std::uint16_t>(m.size() - 20 + 8));
  std::uint8_t crc[4];
  media::store32(crc, media::crc32(m) ^ 0x5354554eu);
  putAttr(m, media::kStunAttrFingerprint, crc);
  media::store16(m.data() + 2, static_cast<std::uint16_t>(m.size() - 20));
  return m;
}

// "a=candidate:<f> 1 udp <prio> <ip> <port> typ host" of the answer.
std::optional<udp::endpoint> hostCandidate(std::string_view sdp) {
  std::size_t at = 0;
  while ((at = sdp.find("a=candidate:", at)) != std::string_view::npos) {
    const std::size_t end = sdp.find_first_of("\r\n", at);
    std::istringstream line(
        std::string(sdp.substr(at + 12, end == std::string_view::npos ? end : end - at - 12)));
    std::string foundation, component, transport, priority, ip, port, typ, type;
    line >> foundation >> component >> transport >> priority >> ip >> port >> typ >> type;
    at = end == std::string_view::npos ? sdp.size() : end;
    if (component != "1" || (transport != "udp" && transport != "UDP")) continue;
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(ip, ec);
    if (ec || !addr.is_v4()) continue;
    const long p = std::strtol(port.c_str(), nullptr, 10);
    if (p <= 0 || p > 65535) continue;
    return udp::endpoint(addr, static_cast<std::uint16_t>(p));
  }
  return std::nullopt;
}

std::string directionOf(io::SdpDirection d) {
  switch (d) {
    case io::SdpDirection::SendRecv:
      return "sendrecv";
    case io::SdpDirection::SendOnly:
      return "sendonly";
    case io::SdpDirection::RecvOnly:
      return "recvonly";
    case io::SdpDirection::Inactive:
      break;
  }
  return "inactive";
}

}  // namespace

std::uint64_t steadyNowNs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

std::uint8_t syntheticSpeechLevel(std::uint16_t publisher_index, std::uint64_t packet) noexcept {
  // A new level every 5-10 packets (100-200 ms at 50 pps), from a hash of the publisher and the "syllable".
  const std::uint64_t syllable_len = 5 + publisher_index % 6;
  std::uint64_t x = (packet / syllable_len) * 0x9E3779B97F4A7C15ull + publisher_index * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 29;
  constexpr unsigned kSpan = kBenchSpeechLevelQuietest - kBenchSpeechLevelLoudest + 1;
  return static_cast<std::uint8_t>(kBenchSpeechLevelLoudest + x % kSpan);
}

std::size_t writeSyntheticRtp(std::uint8_t* out, std::size_t capacity, bool video, std::uint32_t ssrc,
                              std::uint16_t seq, std::uint32_t timestamp, bool marker, bool frame_start,
                              bool keyframe, std::uint16_t picture_id, std::string_view mid,
                              std::size_t payload_bytes, std::uint16_t publisher_index, std::uint64_t send_ns,
                              std::optional<AudioLevelElement> audio_level) {
  std::size_t header = 12;
  const bool with_mid = !mid.empty() && mid.size() <= 16;
  const bool with_level = audio_level && audio_level->id >= 1 && audio_level->id <= 14;
  const std::size_t ext_bytes = (with_mid ? 1 + mid.size() : 0) + (with_level ? 2 : 0);
  const std::size_t ext_words = (ext_bytes + 3) / 4;
  if (ext_words != 0) header += 4 + ext_words * 4;
  const std::size_t min_payload = (video ? 4 + 10 : 0) + kBenchTrailerSize;
  const std::size_t payload = std::max(payload_bytes, min_payload);
  if (header + payload > capacity) return 0;
  std::memset(out, 0, header + payload);
  out[0] = static_cast<std::uint8_t>(0x80 | (ext_words != 0 ? 0x10 : 0));
  out[1] = static_cast<std::uint8_t>((marker ? 0x80 : 0) | (video ? kBenchVideoPt : kBenchAudioPt));
  media::store16(out + 2, seq);
  media::store32(out + 4, timestamp);
  media::store32(out + 8, ssrc);
  if (ext_words != 0) {
    media::store16(out + 12, 0xBEDE);
    media::store16(out + 14, static_cast<std::uint16_t>(ext_words));
    std::uint8_t* e = out + 16;
    if (with_mid) {
      *e++ = static_cast<std::uint8_t>((kBenchMidExtId << 4) | (mid.size() - 1));
      std::memcpy(e, mid.data(), mid.size());
      e += mid.size();
    }
    if (with_level) {
      *e++ = static_cast<std::uint8_t>(audio_level->id << 4);  // length 1
      *e++ = audio_level->value;
    }
  }
  std::uint8_t* p = out + header;
  if (video) {
    // RFC 7741: X=1, S at a frame start, PID 0; I=1 with a 15-bit picture id.
    p[0] = static_cast<std::uint8_t>(0x80 | (frame_start ? 0x10 : 0));
    p[1] = 0x80;
    media::store16(p + 2, static_cast<std::uint16_t>(0x8000 | (picture_id & 0x7FFF)));
    if (frame_start) {
      std::uint8_t* vp8 = p + 4;
      vp8[0] = keyframe ? 0x10 : 0x11;  // show_frame; the inverse key-frame bit (0 = keyframe)
      vp8[1] = 0x02;
      vp8[2] = 0x00;
      if (keyframe) {
        vp8[3] = 0x9D;
        vp8[4] = 0x01;
        vp8[5] = 0x2A;
        vp8[6] = 640 & 0xFF;
        vp8[7] = 640 >> 8;
        vp8[8] = 480 & 0xFF;
        vp8[9] = 480 >> 8;
      }
    }
    for (std::size_t i = 14; i + kBenchTrailerSize < payload; ++i) p[i] = static_cast<std::uint8_t>(i * 7);
  } else {
    for (std::size_t i = 0; i + kBenchTrailerSize < payload; ++i) p[i] = static_cast<std::uint8_t>(i * 13);
  }
  std::uint8_t* t = p + payload - kBenchTrailerSize;
  media::store32(t, kBenchTrailerMagic);
  media::store16(t + 4, publisher_index);
  t[6] = video ? 1 : 0;
  t[7] = 0;
  media::store64(t + 8, send_ns);
  return header + payload;
}

SyntheticParticipant::SyntheticParticipant(asio::io_context& io, const io::DtlsIdentity& identity,
                                           std::uint16_t index, Role role, const SyntheticTraffic& traffic)
    : socket_(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
      identity_(identity),
      index_(index),
      role_(role),
      traffic_(traffic),
      ufrag_(randomToken(8)),
      pwd_(randomToken(24)),
      stream_id_("bench-stream-" + std::to_string(index)),
      audio_track_("bench-audio-" + std::to_string(index)),
      video_track_("bench-video-" + std::to_string(index)),
      audio_ssrc_(random32() | 1u),
      video_ssrc_(random32() | 2u),
      audio_seq_(static_cast<std::uint16_t>(random32())),
      video_seq_(static_cast<std::uint16_t>(random32())),
      audio_ts_(random32()),
      video_ts_(random32()) {
  if (video_ssrc_ == audio_ssrc_) video_ssrc_ ^= 0x10000u;
  socket_.non_blocking(true);
  boost::system::error_code ec;
  socket_.set_option(asio::socket_base::receive_buffer_size(kSocketBuffer), ec);
  socket_.set_option(asio::socket_base::send_buffer_size(kSocketBuffer), ec);
  dtls_ = std::make_unique<io::DtlsTransport>(identity_, media::DtlsRole::Client,
                                              static_cast<io::DtlsTransport::Listener&>(*this));
  receiveNext();
}

SyntheticParticipant::~SyntheticParticipant() {
  boost::system::error_code ec;
  socket_.close(ec);
  sctp_.reset();
  dtls_.reset();
}

std::string SyntheticParticipant::offerSdp() const {
  std::ostringstream o;
  const std::string transport = "a=ice-ufrag:" + ufrag_ + "\r\na=ice-pwd:" + pwd_ +
                                "\r\na=ice-options:trickle\r\na=fingerprint:sha-256 " +
                                identity_.fingerprint() + "\r\na=setup:actpass\r\n";
  o << "v=0\r\no=- " << (1000 + index_) << " 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
  const std::string dc_mid = role_ == Role::Publisher ? "2" : role_ == Role::AudioPeer ? "1" : "0";
  o << "a=group:BUNDLE "
    << (role_ == Role::Publisher   ? "0 1 2"
        : role_ == Role::AudioPeer ? "0 1"
                                   : "0")
    << "\r\n";
  o << "a=msid-semantic: WMS " << stream_id_ << "\r\n";
  const std::string cname = "bench" + std::to_string(index_);
  if (role_ != Role::Subscriber) {
    o << "m=audio 9 UDP/TLS/RTP/SAVPF " << int{kBenchAudioPt} << "\r\nc=IN IP4 0.0.0.0\r\n"
      << transport << "a=mid:0\r\na=extmap:" << int{kBenchMidExtId} << " " << io::kExtMid << "\r\n";
    if (role_ == Role::AudioPeer && traffic_.audio_level)
      o << "a=extmap:" << int{kBenchAudioLevelExtId} << " " << io::kExtAudioLevel << "\r\n";
    o << "a=sendonly\r\na=msid:" << stream_id_ << " " << audio_track_ << "\r\na=rtcp-mux\r\n"
      << "a=rtpmap:" << int{kBenchAudioPt} << " opus/48000/2\r\na=fmtp:" << int{kBenchAudioPt}
      << " minptime=10;useinbandfec=1\r\n"
      << "a=ssrc:" << audio_ssrc_ << " cname:" << cname << "\r\na=ssrc:" << audio_ssrc_
      << " msid:" << stream_id_ << " " << audio_track_ << "\r\n";
  }
  if (role_ == Role::Publisher) {
    o << "m=video 9 UDP/TLS/RTP/SAVPF " << int{kBenchVideoPt} << "\r\nc=IN IP4 0.0.0.0\r\n"
      << transport << "a=mid:1\r\na=extmap:" << int{kBenchMidExtId} << " " << io::kExtMid
      << "\r\na=sendonly\r\na=msid:" << stream_id_ << " " << video_track_
      << "\r\na=rtcp-mux\r\na=rtcp-rsize\r\n"
      << "a=rtpmap:" << int{kBenchVideoPt} << " VP8/90000\r\n"
      << "a=rtcp-fb:" << int{kBenchVideoPt} << " nack\r\na=rtcp-fb:" << int{kBenchVideoPt}
      << " nack pli\r\na=rtcp-fb:" << int{kBenchVideoPt} << " ccm fir\r\n"
      << "a=ssrc:" << video_ssrc_ << " cname:" << cname << "\r\na=ssrc:" << video_ssrc_
      << " msid:" << stream_id_ << " " << video_track_ << "\r\n";
  }
  o << "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
    << transport << "a=mid:" << dc_mid << "\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n";
  return o.str();
}

proto::SdpStreamMetadata SyntheticParticipant::metadata() const {
  proto::SdpStreamMetadata m;
  if (role_ == Role::Subscriber) return m;
  proto::StreamMetadata s;
  s.purpose = "m.usermedia";
  s.tracks[audio_track_] = proto::TrackInfo{"audio", std::nullopt, std::nullopt};
  if (role_ == Role::Publisher) s.tracks[video_track_] = proto::TrackInfo{"video", 640, 480};
  m[stream_id_] = std::move(s);
  return m;
}

Status SyntheticParticipant::applyAnswer(std::string_view sdp, const udp::endpoint& fallback) {
  if (answered_) return {};
  io::SdpError err{};
  auto answer = io::parseSdp(sdp, kSdpLimits, &err);
  if (!answer || answer->media.empty()) {
    return fail(Code::InvalidArgument, std::string("bad answer SDP: ") + io::toString(err));
  }
  const auto& first = answer->media.front();
  focus_ufrag_ = std::string(answer->iceUfragOf(first));
  focus_pwd_ = std::string(answer->icePwdOf(first));
  if (focus_ufrag_.empty() || focus_pwd_.empty())
    return fail(Code::InvalidArgument, "answer without ICE credentials");
  if (answer->fingerprintAlgorithmOf(first) != "sha-256" ||
      !dtls_->setRemoteFingerprint("sha-256", answer->fingerprintOf(first))) {
    return fail(Code::InvalidArgument, "answer without a sha-256 fingerprint");
  }
  focus_ = hostCandidate(sdp).value_or(fallback);
  // The audio level only with the id the focus kept on our audio section (one-byte form: 1..14).
  audio_level_ext_id_ = 0;
  if (role_ == Role::AudioPeer && traffic_.audio_level) {
    for (const auto& m : answer->media) {
      const auto id = m.kind == "audio" && m.mid == "0" && m.port != 0 ? m.extmapId(io::kExtAudioLevel) : 0;
      if (id >= 1 && id <= 14) audio_level_ext_id_ = static_cast<std::uint8_t>(id);
    }
  }
  answered_ = true;
  next_check_ns_ = 0;
  return {};
}

void SyntheticParticipant::setMeasuring(bool on) {
  if (on == measuring_) return;
  measuring_ = on;
  if (!on) streams_in_window_ = 0;
  for (auto& [ssrc, in] : inbound_) {
    if (on) {
      in.window_start_highest = in.seq.highest();
      in.window_start_received = in.received;
      in.window_open = true;
    } else if (in.window_open) {
      counters_.expected +=
          static_cast<std::uint64_t>(std::max<std::int64_t>(0, in.seq.highest() - in.window_start_highest));
      counters_.received_in_window += in.received - in.window_start_received;
      if (in.received > in.window_start_received) ++streams_in_window_;
      in.window_open = false;
    }
  }
}

std::size_t SyntheticParticipant::recentInboundStreams(std::uint64_t now_ns,
                                                       std::uint64_t within_ns) const noexcept {
  std::size_t n = 0;
  for (const auto& [ssrc, in] : inbound_) n += in.last_ns + within_ns >= now_ns;
  return n;
}

std::vector<std::uint32_t> SyntheticParticipant::takeLatencySamples() {
  return std::move(latency_us_);
}

media::SrtpProfile SyntheticParticipant::srtpProfile() const noexcept {
  return srtp_ ? srtp_->profile() : media::SrtpProfile::AeadAes128Gcm;
}

void SyntheticParticipant::tick(std::uint64_t now_ns) {
  if (!answered_) return;
  if (now_ns >= next_check_ns_) {
    sendStunCheck();
    next_check_ns_ = now_ns + (ice_ok_ ? kConsentIntervalNs : kCheckIntervalNs);
  }
  if (dtls_ && !srtp_ && ice_ok_) dtls_->onTimer();
  if (srtp_ && role_ != Role::Subscriber) sendMedia(now_ns);
}

// ---- UDP ----

void SyntheticParticipant::receiveNext() {
  socket_.async_receive_from(asio::buffer(rx_), from_, [this](boost::system::error_code ec, std::size_t n) {
    if (ec) return;  // closed
    onDatagram(n);
    // Drain what is queued without going back through the reactor for every datagram.
    for (int i = 0; i < 256; ++i) {
      boost::system::error_code rec;
      const std::size_t m = socket_.receive_from(asio::buffer(rx_), from_, 0, rec);
      if (rec) break;
      onDatagram(m);
    }
    receiveNext();
  });
}

void SyntheticParticipant::sendRaw(const std::uint8_t* data, std::size_t n) {
  boost::system::error_code ec;
  socket_.send_to(asio::buffer(data, n), focus_, 0, ec);
  if (ec) ++counters_.send_failures;
}

void SyntheticParticipant::onDatagram(std::size_t n) {
  if (from_ != focus_) return;
  const media::ByteSpan d(rx_.data(), n);
  switch (media::classifyPacket(d)) {
    case media::PacketKind::Stun: {
      auto m = media::parseStun(d);
      if (m && m->type == media::kStunBindingSuccess && media::verifyStunIntegrity(*m, focus_pwd_) &&
          !ice_ok_) {
        ice_ok_ = true;
        next_check_ns_ = steadyNowNs() + kConsentIntervalNs;
        if (!dtls_->start()) last_error_ = "DTLS start failed";
      }
      break;
    }
    case media::PacketKind::Dtls:
      dtls_->receive(d);
      break;
    case media::PacketKind::Rtp:
      onRtp(rx_.data(), n);
      break;
    case media::PacketKind::Rtcp:
      onRtcp(rx_.data(), n);
      break;
    default:
      break;
  }
}

void SyntheticParticipant::sendStunCheck() {
  const auto req =
      bindingRequest(focus_ufrag_ + ":" + ufrag_, focus_pwd_, ++stun_txn_, 0x0102030405060708ull + index_);
  sendRaw(req.data(), req.size());
}

// ---- media ----

void SyntheticParticipant::onRtp(std::uint8_t* data, std::size_t n) {
  if (!srtp_ || n < 12) return;
  // SSRC and sequence number are in the clear: an SSRC beyond max_unprotected_ssrcs is counted unread.
  const std::uint32_t ssrc = media::load32(data + 8);
  auto found = inbound_.find(ssrc);
  const bool unprotect = found != inbound_.end() ? found->second.unprotect
                                                 : traffic_.max_unprotected_ssrcs == 0 ||
                                                       unprotected_ssrcs_ < traffic_.max_unprotected_ssrcs;
  std::optional<media::RtpPacketView> rtp;
  if (unprotect) {
    auto plain = srtp_->unprotectRtp(media::MutableByteSpan(data, n));
    if (!plain) {
      ++counters_.unprotect_failures;
      return;
    }
    rtp = media::RtpPacketView::parse(media::ByteSpan(data, *plain));
  } else {
    rtp = media::RtpPacketView::parse(media::ByteSpan(data, n));
  }
  if (!rtp) return;
  ++counters_.rtp_received;
  const std::uint64_t now = steadyNowNs();
  auto [it, fresh] = found != inbound_.end() ? std::pair{found, false} : inbound_.try_emplace(ssrc);
  Inbound& in = it->second;
  if (fresh) {
    in.unprotect = unprotect;
    if (unprotect) ++unprotected_ssrcs_;
  }
  const std::int64_t ext = in.seq.unwrap(rtp->sequenceNumber());
  if (fresh && measuring_) {
    in.window_start_highest = ext - 1;
    in.window_start_received = 0;
    in.window_open = true;
  }
  ++in.received;
  in.last_ns = now;
  if (!measuring_ || !unprotect) return;
  const auto payload = rtp->payload();
  if (payload.size() < kBenchTrailerSize) return;
  const std::uint8_t* t = payload.data() + payload.size() - kBenchTrailerSize;
  if (media::load32(t) != kBenchTrailerMagic) return;
  const std::uint64_t sent = media::load64(t + 8);
  if (sent <= now && latency_us_.size() < 4'000'000) {
    latency_us_.push_back(
        static_cast<std::uint32_t>(std::min<std::uint64_t>((now - sent) / 1000, UINT32_MAX)));
  }
}

void SyntheticParticipant::onRtcp(std::uint8_t* data, std::size_t n) {
  if (!srtp_) return;
  auto plain = srtp_->unprotectRtcp(media::MutableByteSpan(data, n));
  if (!plain) {
    ++counters_.unprotect_failures;
    return;
  }
  ++counters_.rtcp_received;
  media::RtcpCompoundReader reader(media::ByteSpan(data, *plain));
  while (auto p = reader.next()) {
    if (p->type == media::kRtcpPsfb && (p->count == media::kPsfbPli || p->count == media::kPsfbFir)) {
      ++counters_.keyframe_requests;
      keyframe_wanted_ = true;
    }
  }
}

void SyntheticParticipant::sendMedia(std::uint64_t now_ns) {
  if (media_start_ns_ == 0) media_start_ns_ = now_ns;
  const double elapsed = static_cast<double>(now_ns - media_start_ns_) / 1e9;
  const auto due = [&](int pps) { return static_cast<std::uint64_t>(elapsed * pps) + 1; };
  // A silent audio peer sends a DTX packet every dtx_interval_ms.
  const std::uint64_t audio_due =
      traffic_.silent ? static_cast<std::uint64_t>(elapsed * 1000 / std::max(1, traffic_.dtx_interval_ms)) + 1
      : traffic_.audio_pps > 0 ? due(traffic_.audio_pps)
                               : 0;
  const std::uint64_t video_due = traffic_.video_pps > 0 ? due(traffic_.video_pps) : 0;
  for (int i = 0; i < kMaxBurst && audio_count_ < audio_due; ++i) sendOne(false, now_ns);
  for (int i = 0; i < kMaxBurst && video_count_ < video_due; ++i) sendOne(true, now_ns);
}

void SyntheticParticipant::sendOne(bool video, std::uint64_t now_ns) {
  (void)now_ns;
  std::size_t n = 0;
  if (video) {
    const int per_frame = std::max(1, traffic_.video_pps / std::max(1, traffic_.video_fps));
    const auto in_frame = static_cast<int>(video_count_ % static_cast<std::uint64_t>(per_frame));
    const bool frame_start = in_frame == 0;
    if (frame_start) {
      if (video_count_ != 0) video_ts_ += static_cast<std::uint32_t>(90000 / std::max(1, traffic_.video_fps));
      ++picture_id_;
      frame_is_key_ =
          keyframe_wanted_ || (traffic_.keyframe_interval_frames > 0 &&
                               frames_ % static_cast<std::uint64_t>(traffic_.keyframe_interval_frames) == 0);
      keyframe_wanted_ = false;
      if (frame_is_key_) ++counters_.keyframes_sent;
      ++frames_;
    }
    n = writeSyntheticRtp(tx_.data(), tx_.size() - 64, true, video_ssrc_, video_seq_++, video_ts_,
                          in_frame == per_frame - 1, frame_start, frame_is_key_, picture_id_, "1",
                          traffic_.video_payload_bytes, index_, steadyNowNs());
    ++video_count_;
  } else {
    if (audio_count_ != 0) {
      audio_ts_ += traffic_.silent ? static_cast<std::uint32_t>(48 * std::max(1, traffic_.dtx_interval_ms))
                                   : static_cast<std::uint32_t>(48000 / std::max(1, traffic_.audio_pps));
    }
    std::optional<AudioLevelElement> level;
    if (audio_level_ext_id_ != 0) {
      level = AudioLevelElement{
          audio_level_ext_id_,
          traffic_.silent ? kBenchSilentLevel
                          : static_cast<std::uint8_t>(0x80 | syntheticSpeechLevel(index_, audio_count_))};
    }
    n = writeSyntheticRtp(tx_.data(), tx_.size() - 64, false, audio_ssrc_, audio_seq_++, audio_ts_, false,
                          false, false, 0, "0",
                          traffic_.silent ? traffic_.dtx_payload_bytes : traffic_.audio_payload_bytes, index_,
                          steadyNowNs(), level);
    ++audio_count_;
  }
  if (n == 0) return;
  auto out = srtp_->protectRtp(media::MutableByteSpan(tx_.data(), tx_.size()), n);
  if (!out) {
    ++counters_.send_failures;
    return;
  }
  sendRaw(tx_.data(), *out);
  ++counters_.rtp_sent;
}

// ---- DTLS / SCTP ----

void SyntheticParticipant::onDtlsSend(io::DtlsTransport&, media::ByteSpan datagram) {
  sendRaw(datagram.data(), datagram.size());
}

void SyntheticParticipant::onDtlsConnected(io::DtlsTransport&, media::SrtpProfile profile,
                                           media::ByteSpan keying_material) {
  srtp_ = media::createEvpSrtpSession(profile, media::DtlsRole::Client, keying_material);
  if (!srtp_) {
    last_error_ = "libsrtp session failed";
    return;
  }
  sctp_ = std::make_unique<io::SctpAssociation>(static_cast<io::SctpAssociation::Listener&>(*this),
                                                media::DtlsRole::Client);
  if (!sctp_->start()) last_error_ = "SCTP start failed";
}

void SyntheticParticipant::onDtlsApplicationData(io::DtlsTransport&, media::ByteSpan data) {
  if (sctp_) sctp_->receive(data);
}

void SyntheticParticipant::onDtlsFailed(io::DtlsTransport&, std::string_view reason) {
  last_error_ = "DTLS failed: " + std::string(reason);
}

void SyntheticParticipant::onSctpSend(io::SctpAssociation&, media::ByteSpan packet) {
  dtls_->send(packet);
}

void SyntheticParticipant::onSctpConnected(io::SctpAssociation&) {
  if (dc_sid_) return;
  dc_sid_ = sctp_->openChannel(proto::kFocusDataChannelLabel);
  // Messages sent before the ACK are delivered after the OPEN (RFC 8832 §6).
  dc_open_ = dc_sid_.has_value();
  if (!dc_open_) last_error_ = "cannot open the data channel";
}

void SyntheticParticipant::onDataChannelOpen(io::SctpAssociation&, std::uint16_t, std::string_view,
                                             std::string_view) {}

void SyntheticParticipant::onDataChannelMessage(io::SctpAssociation&, std::uint16_t, std::string_view data,
                                                bool binary) {
  if (binary) return;
  ++counters_.dc_messages;
  handleFocusMessage(data);
}

void SyntheticParticipant::onDataChannelClosed(io::SctpAssociation&, std::uint16_t sid) {
  if (dc_sid_ && *dc_sid_ == sid) {
    dc_open_ = false;
    last_error_ = "the focus closed the data channel";
  }
}

void SyntheticParticipant::sendFocusText(const std::string& text) {
  if (sctp_ && dc_sid_) sctp_->sendText(*dc_sid_, text);
}

void SyntheticParticipant::handleFocusMessage(std::string_view text) {
  auto msg = proto::parseFocusMessage(text);
  if (!msg) return;
  switch (msg->type) {
    case proto::FocusMessageType::Ping: {
      ++counters_.pings;
      proto::FocusMessage pong;
      pong.type = proto::FocusMessageType::Pong;
      sendFocusText(proto::serializeFocusMessage(pong));
      return;
    }
    case proto::FocusMessageType::Negotiate:
      if (msg->description && msg->description->type == "offer") {
        std::string why;
        std::string answer = answerFor(msg->description->sdp, &why);
        if (answer.empty()) {
          last_error_ = "cannot answer the focus's offer: " + why;
        } else {
          proto::FocusMessage m;
          m.type = proto::FocusMessageType::Negotiate;
          m.description = proto::SessionDescription{"answer", std::move(answer)};
          sendFocusText(proto::serializeFocusMessage(m));
          ++counters_.negotiations;
        }
      }
      break;
    case proto::FocusMessageType::SdpStreamMetadataChanged:
    case proto::FocusMessageType::TrackSubscription:
    case proto::FocusMessageType::Pong:
    case proto::FocusMessageType::AudioSlots:
      break;
  }
  // Subscribers take every track the focus advertises (audio always, video at 640x480, as the js-sdk does for
  // a visible tile).
  // An audio peer takes every other participant's audio.
  if (role_ == Role::Publisher || !msg->metadata) return;
  proto::FocusMessage sub;
  sub.type = proto::FocusMessageType::TrackSubscription;
  for (const auto& [stream_id, stream] : *msg->metadata) {
    if (role_ == Role::AudioPeer && stream_id == stream_id_) continue;
    for (const auto& [track_id, track] : stream.tracks) {
      if (role_ == Role::AudioPeer && track.kind.value_or("video") != "audio") continue;
      if (!subscribed_.insert({stream_id, track_id}).second) continue;
      proto::TrackRef ref{stream_id, track_id, std::nullopt, std::nullopt};
      if (track.kind.value_or("video") == "video") {
        ref.width = track.width.value_or(640);
        ref.height = track.height.value_or(480);
      }
      sub.subscribe.push_back(std::move(ref));
    }
  }
  if (!sub.subscribe.empty()) sendFocusText(proto::serializeFocusMessage(sub));
}

// The answer to a focus offer: every m-section answered with its mid; what the focus sends is received, our
// own publications stay sendonly (with their msid/ssrc), the data channel is kept; our ICE/DTLS parameters,
// and a=setup:active (we stay the DTLS client).
std::string SyntheticParticipant::answerFor(std::string_view offer_sdp, std::string* why) {
  io::SdpError err{};
  auto offer = io::parseSdp(offer_sdp, kSdpLimits, &err);
  if (!offer) {
    *why = std::string("unparsable offer: ") + io::toString(err);
    return {};
  }
  std::ostringstream o;
  o << "v=0\r\no=- " << (1000 + index_) << " " << ++sdp_version_ << " IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
  std::string bundle;
  for (const auto& m : offer->media) {
    if (m.port != 0 && !m.mid.empty()) bundle += " " + m.mid;
  }
  if (!bundle.empty()) o << "a=group:BUNDLE" << bundle << "\r\n";
  if (offer->extmap_allow_mixed) o << "a=extmap-allow-mixed\r\n";
  o << "a=msid-semantic: WMS " << stream_id_ << "\r\n";
  const std::string transport = "a=ice-ufrag:" + ufrag_ + "\r\na=ice-pwd:" + pwd_ +
                                "\r\na=fingerprint:sha-256 " + identity_.fingerprint() +
                                "\r\na=setup:active\r\n";
  const std::string cname = "bench" + std::to_string(index_);
  for (const auto& m : offer->media) {
    std::string fmts;
    for (const auto& f : m.formats) fmts += " " + f;
    if (m.port == 0) {
      o << "m=" << m.kind << " 0 " << m.proto << fmts << "\r\nc=IN IP4 0.0.0.0\r\n";
      if (!m.mid.empty()) o << "a=mid:" << m.mid << "\r\n";
      o << "a=inactive\r\n";
      continue;
    }
    if (m.kind == "application") {
      o << "m=application 9 " << m.proto << fmts << "\r\nc=IN IP4 0.0.0.0\r\n"
        << transport << "a=mid:" << m.mid << "\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n";
      continue;
    }
    if ((m.kind != "audio" && m.kind != "video") || m.codecs.empty()) {
      o << "m=" << m.kind << " 0 " << m.proto << fmts << "\r\nc=IN IP4 0.0.0.0\r\n";
      if (!m.mid.empty()) o << "a=mid:" << m.mid << "\r\n";
      o << "a=inactive\r\n";
      continue;
    }
    const io::SdpCodec& c = m.codecs.front();
    const bool ours = (role_ == Role::Publisher &&
                       ((m.kind == "audio" && m.mid == "0") || (m.kind == "video" && m.mid == "1"))) ||
                      (role_ == Role::AudioPeer && m.kind == "audio" && m.mid == "0");
    const bool focus_sends =
        m.direction == io::SdpDirection::SendOnly || m.direction == io::SdpDirection::SendRecv;
    const bool focus_receives =
        m.direction == io::SdpDirection::RecvOnly || m.direction == io::SdpDirection::SendRecv;
    io::SdpDirection dir = io::SdpDirection::Inactive;
    const bool we_send = ours && focus_receives;
    if (we_send && focus_sends) {
      dir = io::SdpDirection::SendRecv;
    } else if (we_send) {
      dir = io::SdpDirection::SendOnly;
    } else if (focus_sends) {
      dir = io::SdpDirection::RecvOnly;
    }
    o << "m=" << m.kind << " 9 " << m.proto << " " << int{c.payload_type} << "\r\nc=IN IP4 0.0.0.0\r\n"
      << transport << "a=mid:" << m.mid << "\r\n";
    for (const auto& e : m.extmaps) o << "a=extmap:" << e.id << " " << e.uri << "\r\n";
    o << "a=" << directionOf(dir) << "\r\n";
    if (we_send) {
      o << "a=msid:" << stream_id_ << " " << (m.kind == "audio" ? audio_track_ : video_track_) << "\r\n";
    }
    o << "a=rtcp-mux\r\n";
    if (m.rtcp_rsize) o << "a=rtcp-rsize\r\n";
    o << "a=rtpmap:" << int{c.payload_type} << " " << c.name << "/" << c.clock_rate;
    if (c.channels != 0) o << "/" << int{c.channels};
    o << "\r\n";
    if (!c.fmtp.empty()) o << "a=fmtp:" << int{c.payload_type} << " " << c.fmtp << "\r\n";
    for (const auto& fb : c.rtcp_fb) o << "a=rtcp-fb:" << int{c.payload_type} << " " << fb << "\r\n";
    if (we_send) {
      const std::uint32_t ssrc = m.kind == "audio" ? audio_ssrc_ : video_ssrc_;
      o << "a=ssrc:" << ssrc << " cname:" << cname << "\r\na=ssrc:" << ssrc << " msid:" << stream_id_ << " "
        << (m.kind == "audio" ? audio_track_ : video_track_) << "\r\n";
    }
  }
  return o.str();
}

}  // namespace chorus::focus::bench
