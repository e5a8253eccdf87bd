#include "io/sdp.hpp"

#include <algorithm>
#include <charconv>
#include <new>

namespace chorus::io {

const char* toString(SdpError e) noexcept {
  switch (e) {
    case SdpError::TooLarge:
      return "too_large";
    case SdpError::LineTooLong:
      return "line_too_long";
    case SdpError::BadLine:
      return "bad_line";
    case SdpError::NoVersion:
      return "no_version";
    case SdpError::TooManySections:
      return "too_many_sections";
    case SdpError::TooManyEntries:
      return "too_many_entries";
    case SdpError::BadMediaLine:
      return "bad_media_line";
    case SdpError::BadAttribute:
      return "bad_attribute";
    case SdpError::TokenTooLong:
      return "token_too_long";
    case SdpError::Count:
      break;
  }
  return "unknown";
}

namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Splits off the next space-separated token.
std::string_view nextToken(std::string_view& s) noexcept {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  const auto sp = s.find(' ');
  std::string_view tok = s.substr(0, sp);
  s = sp == std::string_view::npos ? std::string_view{} : s.substr(sp + 1);
  return tok;
}

// RFC 5888 identification-tag / RFC 8851 rid-id: a token (visible ASCII, no spaces), here also without
// ';'/',' (which separate rids in a=simulcast).
bool isTagToken(std::string_view s) noexcept {
  if (s.empty() || s.size() > kSdpMaxTagLength) return false;
  for (char c : s) {
    if (c < 0x21 || c > 0x7E || c == ';' || c == ',') return false;
  }
  return true;
}

template <typename T>
bool parseNumber(std::string_view s, T& out) noexcept {
  if (s.empty() || s.size() > 20) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

class Parser {
 public:
  explicit Parser(SdpError* error) : error_(error) {}

  bool fail(SdpError e) {
    if (error_ != nullptr) *error_ = e;
    return false;
  }

  bool token(std::string_view v, std::string& out) {
    if (v.size() > kSdpMaxTokenLength) return fail(SdpError::TokenTooLong);
    out.assign(v);
    return true;
  }

  bool run(std::string_view text, SdpSession& s) {
    if (text.size() > kSdpMaxSize) return fail(SdpError::TooLarge);
    bool first = true;
    while (!text.empty()) {
      auto nl = text.find('\n');
      std::string_view line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) continue;
      if (line.size() > kSdpMaxLineLength) return fail(SdpError::LineTooLong);
      if (line.size() < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z') return fail(SdpError::BadLine);
      if (first) {
        if (line != "v=0") return fail(SdpError::NoVersion);
        first = false;
        continue;
      }
      const char type = line[0];
      std::string_view value = line.substr(2);
      if (type == 'm') {
        if (!media(value, s)) return false;
      } else if (type == 'a') {
        if (!attribute(value, s)) return false;
      }
    }
    if (first) return fail(SdpError::NoVersion);
    return true;
  }

 private:
  bool media(std::string_view v, SdpSession& s) {
    if (s.media.size() >= kSdpMaxMediaSections) return fail(SdpError::TooManySections);
    SdpMediaSection m;
    std::string_view kind = nextToken(v);
    std::string_view port = nextToken(v);
    std::string_view proto = nextToken(v);
    if (kind.empty() || proto.empty()) return fail(SdpError::BadMediaLine);
    // "port/count" is allowed by the grammar; only the port is kept.
    port = port.substr(0, port.find('/'));
    if (!parseNumber(port, m.port)) return fail(SdpError::BadMediaLine);
    if (!token(kind, m.kind) || !token(proto, m.proto)) return false;
    while (!v.empty()) {
      std::string_view f = nextToken(v);
      if (f.empty()) continue;
      if (m.formats.size() >= kSdpMaxCodecsPerSection) return fail(SdpError::TooManyEntries);
      std::string tok;
      if (!token(f, tok)) return false;
      m.formats.push_back(std::move(tok));
    }
    s.media.push_back(std::move(m));
    return true;
  }

  SdpCodec* codecFor(SdpMediaSection& m, std::uint8_t pt) {
    for (auto& c : m.codecs) {
      if (c.payload_type == pt) return &c;
    }
    return nullptr;
  }

  bool attribute(std::string_view v, SdpSession& s) {
    const auto colon = v.find(':');
    const std::string_view name = v.substr(0, colon);
    const std::string_view value = colon == std::string_view::npos ? std::string_view{} : v.substr(colon + 1);
    SdpMediaSection* m = s.media.empty() ? nullptr : &s.media.back();

    if (name == "ice-ufrag") return token(value, m ? m->ice_ufrag : s.ice_ufrag);
    if (name == "ice-pwd") return token(value, m ? m->ice_pwd : s.ice_pwd);
    if (name == "setup") return token(value, m ? m->setup : s.setup);
    if (name == "ice-lite") {
      s.ice_lite = true;
      return true;
    }
    if (name == "extmap-allow-mixed") {
      if (!m) s.extmap_allow_mixed = true;
      return true;
    }
    if (name == "fingerprint") {
      std::string_view rest = value;
      std::string_view algo = nextToken(rest);
      std::string_view fp = nextToken(rest);
      if (algo.empty() || fp.empty()) return fail(SdpError::BadAttribute);
      std::string a;
      if (!token(algo, a)) return false;
      for (auto& c : a) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      }
      if (m) {
        m->fingerprint_algorithm = std::move(a);
        return token(fp, m->fingerprint);
      }
      s.fingerprint_algorithm = std::move(a);
      return token(fp, s.fingerprint);
    }
    if (name == "group") {
      std::string_view rest = value;
      if (nextToken(rest) != "BUNDLE" || !s.bundle_mids.empty()) return true;  // only the first BUNDLE group
      while (!rest.empty()) {
        std::string_view mid = nextToken(rest);
        if (mid.empty()) continue;
        if (!isTagToken(mid)) return fail(SdpError::BadAttribute);
        if (s.bundle_mids.size() >= kSdpMaxMediaSections) return fail(SdpError::TooManyEntries);
        std::string tok;
        if (!token(mid, tok)) return false;
        s.bundle_mids.push_back(std::move(tok));
      }
      return true;
    }
    if (!m) return true;  // the remaining attributes are media-level only

    if (name == "mid") {
      if (!isTagToken(value)) return fail(SdpError::BadAttribute);
      return token(value, m->mid);
    }
    if (name == "sendrecv") m->direction = SdpDirection::SendRecv;
    if (name == "sendonly") m->direction = SdpDirection::SendOnly;
    if (name == "recvonly") m->direction = SdpDirection::RecvOnly;
    if (name == "inactive") m->direction = SdpDirection::Inactive;
    if (name == "rtcp-mux") m->rtcp_mux = true;
    if (name == "rtcp-rsize") m->rtcp_rsize = true;
    if (name == "bundle-only") m->bundle_only = true;
    if (name == "sctp-port") {
      std::uint16_t p = 0;
      if (!parseNumber(value, p)) return fail(SdpError::BadAttribute);
      m->sctp_port = p;
      return true;
    }
    if (name == "max-message-size") {
      std::uint32_t p = 0;
      if (!parseNumber(value, p)) return fail(SdpError::BadAttribute);
      m->max_message_size = p;
      return true;
    }
    if (name == "simulcast") return token(value, m->simulcast);
    if (name == "rtpmap") {
      std::string_view rest = value;
      std::string_view pt_s = nextToken(rest);
      std::string_view enc = nextToken(rest);
      std::uint8_t pt = 0;
      if (!parseNumber(pt_s, pt) || pt > 127 || enc.empty()) return fail(SdpError::BadAttribute);
      if (codecFor(*m, pt) != nullptr) return true;  // the first rtpmap of a payload type wins
      if (m->codecs.size() >= kSdpMaxCodecsPerSection) return fail(SdpError::TooManyEntries);
      SdpCodec c;
      c.payload_type = pt;
      std::string_view enc_name = enc.substr(0, enc.find('/'));
      if (!token(enc_name, c.name)) return false;
      std::string_view params = enc.find('/') == std::string_view::npos ? "" : enc.substr(enc.find('/') + 1);
      std::string_view rate = params.substr(0, params.find('/'));
      if (!rate.empty() && !parseNumber(rate, c.clock_rate)) return fail(SdpError::BadAttribute);
      if (params.find('/') != std::string_view::npos) {
        if (!parseNumber(params.substr(params.find('/') + 1), c.channels))
          return fail(SdpError::BadAttribute);
      }
      m->codecs.push_back(std::move(c));
      return true;
    }
    if (name == "fmtp" || name == "rtcp-fb") {
      std::string_view rest = value;
      std::string_view pt_s = nextToken(rest);
      std::uint8_t pt = 0;
      if (pt_s == "*") return true;  // wildcard feedback is not used by the answer
      if (!parseNumber(pt_s, pt) || pt > 127) return fail(SdpError::BadAttribute);
      SdpCodec* c = codecFor(*m, pt);
      if (c == nullptr) return true;  // fmtp before rtpmap, or for a codec without rtpmap: ignored
      if (rest.size() > kSdpMaxLineLength) return fail(SdpError::LineTooLong);
      if (name == "fmtp") {
        c->fmtp.assign(rest);
      } else {
        if (c->rtcp_fb.size() >= 16) return fail(SdpError::TooManyEntries);
        std::string tok;
        if (!token(rest, tok)) return false;
        c->rtcp_fb.push_back(std::move(tok));
      }
      return true;
    }
    if (name == "extmap") {
      std::string_view rest = value;
      std::string_view id_s = nextToken(rest);
      id_s = id_s.substr(0, id_s.find('/'));  // "id/direction"
      std::string_view uri = nextToken(rest);
      SdpExtmap e;
      if (!parseNumber(id_s, e.id) || e.id == 0 || e.id > 255 || uri.empty()) {
        return fail(SdpError::BadAttribute);
      }
      if (m->extmaps.size() >= kSdpMaxExtmapsPerSection) return fail(SdpError::TooManyEntries);
      if (!token(uri, e.uri)) return false;
      m->extmaps.push_back(std::move(e));
      return true;
    }
    if (name == "rid") {
      std::string_view rest = value;
      std::string_view id = nextToken(rest);
      std::string_view dir = nextToken(rest);
      if (!isTagToken(id) || (dir != "send" && dir != "recv")) return fail(SdpError::BadAttribute);
      if (m->rids.size() >= kSdpMaxRidsPerSection) return fail(SdpError::TooManyEntries);
      SdpRid r;
      if (!token(id, r.id)) return false;
      r.send = dir == "send";
      m->rids.push_back(std::move(r));
      return true;
    }
    if (name == "ssrc") {
      std::string_view rest = value;
      std::uint32_t ssrc = 0;
      if (!parseNumber(nextToken(rest), ssrc)) return fail(SdpError::BadAttribute);
      if (std::find(m->ssrcs.begin(), m->ssrcs.end(), ssrc) != m->ssrcs.end()) return true;
      if (m->ssrcs.size() >= kSdpMaxSsrcsPerSection) return fail(SdpError::TooManyEntries);
      m->ssrcs.push_back(ssrc);
      return true;
    }
    return true;
  }

  SdpError* error_;
};

}  // namespace

const SdpCodec* SdpMediaSection::findCodec(std::string_view name_ci) const noexcept {
  for (const auto& c : codecs) {
    if (iequals(c.name, name_ci)) return &c;
  }
  return nullptr;
}

std::uint16_t SdpMediaSection::extmapId(std::string_view uri) const noexcept {
  for (const auto& e : extmaps) {
    if (e.uri == uri) return e.id;
  }
  return 0;
}

std::string_view SdpSession::iceUfragOf(const SdpMediaSection& m) const noexcept {
  return m.ice_ufrag.empty() ? std::string_view(ice_ufrag) : std::string_view(m.ice_ufrag);
}
std::string_view SdpSession::icePwdOf(const SdpMediaSection& m) const noexcept {
  return m.ice_pwd.empty() ? std::string_view(ice_pwd) : std::string_view(m.ice_pwd);
}
std::string_view SdpSession::fingerprintAlgorithmOf(const SdpMediaSection& m) const noexcept {
  return m.fingerprint.empty() ? std::string_view(fingerprint_algorithm)
                               : std::string_view(m.fingerprint_algorithm);
}
std::string_view SdpSession::fingerprintOf(const SdpMediaSection& m) const noexcept {
  return m.fingerprint.empty() ? std::string_view(fingerprint) : std::string_view(m.fingerprint);
}
std::string_view SdpSession::setupOf(const SdpMediaSection& m) const noexcept {
  return m.setup.empty() ? std::string_view(setup) : std::string_view(m.setup);
}

std::optional<SdpSession> parseSdp(std::string_view text, SdpError* error) noexcept {
  try {
    SdpSession s;
    Parser p(error);
    if (!p.run(text, s)) return std::nullopt;
    return s;
  } catch (const std::bad_alloc&) {
    if (error != nullptr) *error = SdpError::TooLarge;
    return std::nullopt;
  }
}

namespace {

bool isRtpProfile(std::string_view proto) noexcept {
  return proto == "UDP/TLS/RTP/SAVPF" || proto == "UDP/TLS/RTP/SAVP" || proto == "RTP/SAVPF";
}

bool isSctpProfile(std::string_view proto) noexcept {
  return proto == "UDP/DTLS/SCTP" || proto == "DTLS/SCTP";
}

bool keptFeedback(std::string_view fb) noexcept {
  return fb == "transport-cc" || fb == "nack" || fb == "nack pli" || fb == "ccm fir" || fb == "goog-remb";
}

}  // namespace

std::optional<SdpAnswer> buildSdpAnswer(const SdpSession& offer, const SdpAnswerParams& p, std::string* why) {
  auto reject = [why](const char* reason) -> std::optional<SdpAnswer> {
    if (why != nullptr) *why = reason;
    return std::nullopt;
  };
  if (offer.media.empty()) return reject("no m-lines");
  const bool v6 = p.candidate_ip.find(':') != std::string::npos;
  const std::string addr_type = v6 ? "IP6" : "IP4";
  const std::string port = std::to_string(p.candidate_port);
  // Same foundation/priority as a libwebrtc host candidate; component 1 only (rtcp-mux).
  const std::string candidate =
      "a=candidate:1 1 udp 2130706431 " + p.candidate_ip + " " + port + " typ host\r\n";

  SdpAnswer answer;
  std::string body;
  std::vector<std::string> bundle;
  for (const auto& m : offer.media) {
    SdpAnsweredSection sec;
    sec.mid = m.mid;
    sec.kind = m.kind;
    sec.ssrcs = m.ssrcs;
    const bool rtp = isRtpProfile(m.proto) && (m.kind == "audio" || m.kind == "video");
    const bool sctp = isSctpProfile(m.proto) && m.kind == "application";
    const SdpCodec* codec = nullptr;
    if (rtp) codec = m.findCodec(m.kind == "audio" ? "opus" : "VP8");
    const bool duplicate_mid = std::find(bundle.begin(), bundle.end(), m.mid) != bundle.end();
    const bool usable = !m.mid.empty() && !duplicate_mid && !offer.iceUfragOf(m).empty() &&
                        !offer.icePwdOf(m).empty() && offer.fingerprintAlgorithmOf(m) == "sha-256" &&
                        ((rtp && codec && m.rtcp_mux) || sctp);
    std::string s;
    if (!usable) {
      const std::string fmt = m.formats.empty() ? std::string("0") : m.formats.front();
      s += "m=" + m.kind + " 0 " + m.proto + " " + fmt + "\r\n";
      s += "c=IN " + addr_type + " " + p.candidate_ip + "\r\n";
      if (!m.mid.empty()) s += "a=mid:" + m.mid + "\r\n";
      s += "a=inactive\r\n";
      body += s;
      answer.sections.push_back(std::move(sec));
      continue;
    }
    sec.accepted = true;
    bundle.push_back(m.mid);
    const std::string common = "c=IN " + addr_type + " " + p.candidate_ip + "\r\n" + "a=mid:" + m.mid +
                               "\r\n" + "a=ice-ufrag:" + p.ice_ufrag + "\r\n" + "a=ice-pwd:" + p.ice_pwd +
                               "\r\n" + "a=fingerprint:sha-256 " + p.fingerprint + "\r\n" +
                               "a=setup:passive\r\n" + candidate + "a=end-of-candidates\r\n";
    if (sctp) {
      s += "m=application " + port + " " + m.proto + " " +
           (m.formats.empty() ? std::string("webrtc-datachannel") : m.formats.front()) + "\r\n";
      s += common;
      s += "a=sctp-port:" + std::to_string(p.sctp_port) + "\r\n";
      s += "a=max-message-size:" + std::to_string(p.max_message_size) + "\r\n";
      sec.remote_sctp_port = m.sctp_port.value_or(5000);
    } else {
      sec.payload_type = codec->payload_type;
      s += "m=" + m.kind + " " + port + " " + m.proto + " " + std::to_string(codec->payload_type) + "\r\n";
      s += common;
      const bool peer_sends = m.direction == SdpDirection::SendOnly || m.direction == SdpDirection::SendRecv;
      s += peer_sends ? "a=recvonly\r\n" : "a=inactive\r\n";
      s += "a=rtcp-mux\r\n";
      if (m.rtcp_rsize) s += "a=rtcp-rsize\r\n";
      for (const auto& e : m.extmaps) {
        if (e.uri == kExtMid)
          sec.mid_ext_id = e.id;
        else if (e.uri == kExtRid)
          sec.rid_ext_id = e.id;
        else if (e.uri == kExtRepairedRid)
          sec.repaired_rid_ext_id = e.id;
        else if (e.uri == kExtTransportCc)
          sec.transport_cc_ext_id = e.id;
        else
          continue;
        s += "a=extmap:" + std::to_string(e.id) + " " + e.uri + "\r\n";
      }
      s += "a=rtpmap:" + std::to_string(codec->payload_type) + " " + codec->name + "/" +
           std::to_string(codec->clock_rate);
      if (codec->channels != 0) s += "/" + std::to_string(codec->channels);
      s += "\r\n";
      if (!codec->fmtp.empty())
        s += "a=fmtp:" + std::to_string(codec->payload_type) + " " + codec->fmtp + "\r\n";
      for (const auto& fb : codec->rtcp_fb) {
        if (keptFeedback(fb)) s += "a=rtcp-fb:" + std::to_string(codec->payload_type) + " " + fb + "\r\n";
      }
      // Simulcast (RFC 8853): what the offerer sends, we receive.
      bool any_rid = false;
      std::string rid_list;
      for (const auto& r : m.rids) {
        if (!r.send) continue;
        s += "a=rid:" + r.id + " recv\r\n";
        rid_list += (any_rid ? ";" : "") + r.id;
        any_rid = true;
      }
      if (any_rid && !m.simulcast.empty()) s += "a=simulcast:recv " + rid_list + "\r\n";
    }
    body += s;
    answer.sections.push_back(std::move(sec));
  }
  if (bundle.empty())
    return reject(
        "no usable m-line (need mid, ICE credentials, sha-256 fingerprint, rtcp-mux, "
        "Opus/VP8 or webrtc-datachannel)");

  std::string head = "v=0\r\no=- " + std::to_string(p.session_id) + " 2 IN " + addr_type + " " +
                     p.candidate_ip + "\r\ns=-\r\nt=0 0\r\na=ice-lite\r\na=group:BUNDLE";
  for (const auto& mid : bundle) head += " " + mid;
  head += "\r\n";
  if (offer.extmap_allow_mixed) head += "a=extmap-allow-mixed\r\n";
  head += "a=msid-semantic: WMS\r\n";
  answer.sdp = head + body;
  return answer;
}

}  // namespace chorus::io
