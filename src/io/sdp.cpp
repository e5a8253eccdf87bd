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

// RFC 8830 msid-id / msid-appdata: 1..64 token characters. Accepted here: visible ASCII, which is what the
// writer needs to stay one line (Chromium and Firefox ids are UUIDs, with or without braces).
bool isMsidToken(std::string_view s) noexcept {
  if (s.empty() || s.size() > kSdpMaxMsidLength) return false;
  for (char c : s) {
    if (c < 0x21 || c > 0x7E) return false;
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
  Parser(SdpError* error, const SdpLimits& limits) : error_(error), limits_(limits) {}

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
    if (text.size() > limits_.max_size) return fail(SdpError::TooLarge);
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
    if (s.media.size() >= limits_.max_media_sections) return fail(SdpError::TooManySections);
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
        if (s.bundle_mids.size() >= limits_.max_media_sections) return fail(SdpError::TooManyEntries);
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
    if (name == "msid") {
      // a=msid:<stream> [<track>]; the first one counts. An id that is not a token is ignored (the msid is
      // informational; it never makes an offer unusable).
      std::string_view rest = value;
      const std::string_view stream = nextToken(rest);
      const std::string_view track = nextToken(rest);
      if (!m->msid_stream.empty() || !isMsidToken(stream) || (!track.empty() && !isMsidToken(track))) {
        return true;
      }
      m->msid_stream.assign(stream);
      m->msid_track.assign(track);
      return true;
    }
    if (name == "ssrc-group") {
      std::string_view rest = value;
      if (nextToken(rest) != "FID") return true;  // FEC-FR, SIM: not used
      std::uint32_t media = 0, rtx = 0;
      if (!parseNumber(nextToken(rest), media) || !parseNumber(nextToken(rest), rtx)) {
        return fail(SdpError::BadAttribute);
      }
      if (m->fid_groups.size() >= kSdpMaxSsrcsPerSection) return fail(SdpError::TooManyEntries);
      m->fid_groups.emplace_back(media, rtx);
      return true;
    }
    if (name == "ssrc") {
      std::string_view rest = value;
      std::uint32_t ssrc = 0;
      if (!parseNumber(nextToken(rest), ssrc)) return fail(SdpError::BadAttribute);
      if (std::find(m->ssrcs.begin(), m->ssrcs.end(), ssrc) == m->ssrcs.end()) {
        if (m->ssrcs.size() >= kSdpMaxSsrcsPerSection) return fail(SdpError::TooManyEntries);
        m->ssrcs.push_back(ssrc);
      }
      // a=ssrc:<ssrc> msid:<stream> [<track>] (one per ssrc, so bounded by the ssrc list).
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      if (rest.substr(0, 5) != "msid:") return true;
      rest.remove_prefix(5);
      const std::string_view stream = nextToken(rest);
      const std::string_view track = nextToken(rest);
      if (!isMsidToken(stream) || (!track.empty() && !isMsidToken(track))) return true;
      for (const auto& e : m->ssrc_msids) {
        if (e.ssrc == ssrc) return true;
      }
      SdpSsrcMsid e;
      e.ssrc = ssrc;
      e.stream_id.assign(stream);
      e.track_id.assign(track);
      m->ssrc_msids.push_back(std::move(e));
      return true;
    }
    return true;
  }

  SdpError* error_;
  SdpLimits limits_;
};

}  // namespace

const SdpCodec* SdpMediaSection::findCodec(std::string_view name_ci) const noexcept {
  for (const auto& c : codecs) {
    if (iequals(c.name, name_ci)) return &c;
  }
  return nullptr;
}

const SdpCodec* SdpMediaSection::findH264() const noexcept {
  const SdpCodec* best = nullptr;
  int best_score = 0;
  for (const auto& c : codecs) {
    if (!iequals(c.name, "H264")) continue;
    // packetization-mode=1 (non-interleaved: what browsers send and what we can forward unchanged) first,
    // then constrained baseline 42e01f, the profile every WebRTC endpoint decodes.
    const int score = 1 + (c.fmtp.find("packetization-mode=1") != std::string::npos ? 4 : 0) +
                      (c.fmtp.find("profile-level-id=42e01f") != std::string::npos ? 2 : 0);
    if (score > best_score) {
      best = &c;
      best_score = score;
    }
  }
  return best_score >= 5 ? best : nullptr;
}

const SdpCodec* SdpMediaSection::findVideoCodec() const noexcept {
  if (const SdpCodec* vp8 = findCodec("VP8")) return vp8;
  return findH264();
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

namespace {

// The "apt=<pt>" of an rtx entry's fmtp ("apt=96" or "apt=96;rtx-time=3000"), or nullopt.
std::optional<std::uint8_t> aptOf(std::string_view fmtp) noexcept {
  while (!fmtp.empty()) {
    const auto semi = fmtp.find(';');
    std::string_view param = fmtp.substr(0, semi);
    fmtp = semi == std::string_view::npos ? std::string_view{} : fmtp.substr(semi + 1);
    while (!param.empty() && param.front() == ' ') param.remove_prefix(1);
    if (param.substr(0, 4) != "apt=") continue;
    std::uint8_t pt = 0;
    if (parseNumber(param.substr(4), pt) && pt <= 127) return pt;
    return std::nullopt;
  }
  return std::nullopt;
}

// Each codec's RTX payload type (the first rtx entry naming it), whatever order the lines came in.
void linkRtx(SdpMediaSection& m) {
  for (const auto& c : m.codecs) {
    if (!iequals(c.name, "rtx")) continue;
    const auto apt = aptOf(c.fmtp);
    if (!apt || *apt == c.payload_type) continue;
    for (auto& target : m.codecs) {
      if (target.payload_type == *apt && !iequals(target.name, "rtx") && target.rtx_payload_type == 0) {
        target.rtx_payload_type = c.payload_type;
      }
    }
  }
}

}  // namespace

std::optional<SdpSession> parseSdp(std::string_view text, SdpError* error) noexcept {
  return parseSdp(text, SdpLimits{}, error);
}

std::optional<SdpSession> parseSdp(std::string_view text, const SdpLimits& limits, SdpError* error) noexcept {
  try {
    SdpSession s;
    Parser p(error, limits);
    if (!p.run(text, s)) return std::nullopt;
    for (auto& m : s.media) linkRtx(m);
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

// transport-cc (draft-holmer-rmcat-transport-wide-cc-extensions-01) only where the participant sends and also
// offered the transport-wide sequence number extension: the focus's router then sends transport-wide feedback
// for every packet it receives (a sender that negotiated it without getting any would hold its estimate near
// the minimum). Our own send sections do not carry the extension yet, so they do not ask for feedback.
bool keptFeedback(std::string_view fb, bool transport_cc) noexcept {
  if (fb == "transport-cc") return transport_cc;
  return fb == "nack" || fb == "nack pli" || fb == "ccm fir" || fb == "goog-remb";
}

bool isMediaKind(std::string_view kind) noexcept {
  return kind == "audio" || kind == "video";
}

// A decimal mid ("0", "17") bumps the counter the focus takes new mids from, so it never creates one the
// participant already used.
void noteMid(std::string_view mid, std::uint32_t& next_mid) noexcept {
  std::uint32_t n = 0;
  if (mid.size() > 9 || !parseNumber(mid, n)) return;
  if (n >= next_mid) next_mid = n + 1;
}

std::string newMid(SdpNegotiation& n) {
  for (;;) {
    std::string mid = std::to_string(n.next_mid++);
    bool used = false;
    for (const auto& s : n.sections) used = used || s.mid == mid;
    if (!used) return mid;
  }
}

// Port 0 from now on; what the section carried is gone, but the codec stays so the m-line keeps an rtpmap.
void rejectSection(SdpNegotiatedSection& s) {
  s.accepted = false;
  s.recv = false;
  s.send = false;
  s.send_track = SendTrack{};
  s.mid_ext_id = s.rid_ext_id = s.repaired_rid_ext_id = s.transport_cc_ext_id = s.audio_level_ext_id = 0;
  s.extmaps.clear();
  s.recv_rids.clear();
  s.simulcast = false;
  s.ssrcs.clear();
  s.fid_groups.clear();
  s.remote_stream_id.clear();
  s.remote_track_id.clear();
  if (isMediaKind(s.kind) && s.payload_type != 0) s.format = std::to_string(s.payload_type);
  if (s.format.empty()) s.format = s.kind == "application" ? "webrtc-datachannel" : "0";
}

void noteExtmapIds(SdpNegotiatedSection& sec) {
  sec.mid_ext_id = sec.rid_ext_id = sec.repaired_rid_ext_id = sec.transport_cc_ext_id = 0;
  sec.audio_level_ext_id = 0;
  for (const auto& e : sec.extmaps) {
    if (e.uri == kExtMid)
      sec.mid_ext_id = e.id;
    else if (e.uri == kExtRid)
      sec.rid_ext_id = e.id;
    else if (e.uri == kExtRepairedRid)
      sec.repaired_rid_ext_id = e.id;
    else if (e.uri == kExtTransportCc)
      sec.transport_cc_ext_id = e.id;
    else if (e.uri == kExtAudioLevel)
      sec.audio_level_ext_id = e.id;
  }
}

// `transport_cc`: see keptFeedback(). `audio_level`: an audio section the participant sends on (the router
// reads the level of what it receives; what the focus forwards carries no header extensions).
bool keptExtension(std::string_view uri, bool transport_cc, bool audio_level) noexcept {
  if (uri == kExtTransportCc) return transport_cc;
  if (uri == kExtAudioLevel) return audio_level;
  return uri == kExtMid || uri == kExtRid || uri == kExtRepairedRid;
}

void writeRtpmap(std::string& s, const SdpCodec& c) {
  s += "a=rtpmap:" + std::to_string(c.payload_type) + " " + c.name + "/" + std::to_string(c.clock_rate);
  if (c.channels != 0) s += "/" + std::to_string(c.channels);
  s += "\r\n";
}

const char* directionOf(const SdpNegotiatedSection& s) noexcept {
  if (s.send && s.recv) return "sendrecv";
  if (s.send) return "sendonly";
  if (s.recv) return "recvonly";
  return "inactive";
}

}  // namespace

std::string writeCandidateLines(const std::vector<SdpCandidate>& candidates) {
  // RFC 8445 §5.1.2.1: priority = 2^24 * type preference + 2^8 * local preference + (256 - component).
  // Host type preference 126 (as libwebrtc); local preference falls along the list; TCP (RFC 6544 §4.2)
  // below every UDP candidate, so a client that can use UDP does.
  std::string out;
  std::size_t udp_index = 0, tcp_index = 0;
  for (const auto& c : candidates) {
    const std::uint32_t local_pref =
        c.tcp ? 0x7FFFu - static_cast<std::uint32_t>(std::min<std::size_t>(tcp_index, 0x7FFF))
              : 0xFFFFu - static_cast<std::uint32_t>(std::min<std::size_t>(udp_index, 0x7FFF));
    const std::uint32_t priority = (126u << 24) | (local_pref << 8) | 255u;
    // Foundation: one per (address, transport), RFC 8445 §5.1.1.3.
    const std::string foundation = std::to_string(c.tcp ? 1000 + ++tcp_index : ++udp_index);
    out += "a=candidate:" + foundation + " 1 " + (c.tcp ? "tcp " : "udp ") + std::to_string(priority) + " " +
           c.ip + " " + std::to_string(c.port) + " typ host" + (c.tcp ? " tcptype passive" : "") + "\r\n";
  }
  out += "a=end-of-candidates\r\n";
  return out;
}

std::string writeSdp(const SdpNegotiation& n, const SdpAnswerParams& p, bool offer) {
  const std::string first_ip = p.candidates.empty() ? std::string("0.0.0.0") : p.candidates.front().ip;
  const std::uint16_t first_port = p.candidates.empty() ? 9 : p.candidates.front().port;
  const bool v6 = first_ip.find(':') != std::string::npos;
  const std::string addr_type = v6 ? "IP6" : "IP4";
  const std::string port = std::to_string(first_port);
  const std::string connection = "c=IN " + addr_type + " " + first_ip + "\r\n";
  const std::string transport = "a=ice-ufrag:" + p.ice_ufrag + "\r\n" + "a=ice-pwd:" + p.ice_pwd + "\r\n" +
                                "a=fingerprint:sha-256 " + p.fingerprint + "\r\n" +
                                (offer ? "a=setup:actpass\r\n" : "a=setup:passive\r\n") +
                                writeCandidateLines(p.candidates);
  std::string body;
  std::string bundle;
  for (const auto& sec : n.sections) {
    if (!sec.accepted) {
      const std::string fmt = sec.format.empty() ? std::string("0") : sec.format;
      body += "m=" + sec.kind + " 0 " + sec.proto + " " + fmt + "\r\n" + connection;
      if (!sec.mid.empty()) body += "a=mid:" + sec.mid + "\r\n";
      // GStreamer webrtcbin validates ICE credentials, fingerprint and setup on rejected m-lines too.
      body += "a=ice-ufrag:" + p.ice_ufrag + "\r\na=ice-pwd:" + p.ice_pwd + "\r\n" +
              "a=fingerprint:sha-256 " + p.fingerprint + "\r\n" +
              (offer ? "a=setup:actpass\r\n" : "a=setup:passive\r\n");
      body += "a=inactive\r\n";
      if (isMediaKind(sec.kind) && !sec.codec.name.empty() && fmt == std::to_string(sec.codec.payload_type)) {
        writeRtpmap(body, sec.codec);
      }
      continue;
    }
    bundle += " " + sec.mid;
    const std::string common = connection + "a=mid:" + sec.mid + "\r\n" + transport;
    if (!isMediaKind(sec.kind)) {
      body += "m=application " + port + " " + sec.proto + " " +
              (sec.format.empty() ? std::string("webrtc-datachannel") : sec.format) + "\r\n";
      body += common;
      body += "a=sctp-port:" + std::to_string(p.sctp_port) + "\r\n";
      body += "a=max-message-size:" + std::to_string(p.max_message_size) + "\r\n";
      continue;
    }
    const std::string pt = std::to_string(sec.codec.payload_type);
    const bool rtx = sec.kind == "video" && sec.codec.rtx_payload_type != 0 &&
                     sec.codec.rtx_payload_type != sec.codec.payload_type;
    const std::string rtx_pt = std::to_string(sec.codec.rtx_payload_type);
    const std::string msid =
        (sec.send_track.stream_id.empty() ? std::string("-") : sec.send_track.stream_id) + " " +
        sec.send_track.track_id;
    body += "m=" + sec.kind + " " + port + " " + sec.proto + " " + pt + (rtx ? " " + rtx_pt : "") + "\r\n";
    body += common;
    body += std::string("a=") + directionOf(sec) + "\r\n";
    if (sec.send) body += "a=msid:" + msid + "\r\n";
    body += "a=rtcp-mux\r\n";
    if (sec.rtcp_rsize) body += "a=rtcp-rsize\r\n";
    for (const auto& e : sec.extmaps) body += "a=extmap:" + std::to_string(e.id) + " " + e.uri + "\r\n";
    writeRtpmap(body, sec.codec);
    if (!sec.codec.fmtp.empty()) body += "a=fmtp:" + pt + " " + sec.codec.fmtp + "\r\n";
    for (const auto& fb : sec.codec.rtcp_fb) body += "a=rtcp-fb:" + pt + " " + fb + "\r\n";
    if (rtx) {  // RFC 4588 §8.6
      body += "a=rtpmap:" + rtx_pt + " rtx/" + std::to_string(sec.codec.clock_rate) + "\r\n";
      body += "a=fmtp:" + rtx_pt + " apt=" + pt + "\r\n";
    }
    // Simulcast (RFC 8853): what the participant sends, we receive.
    std::string rid_list;
    for (const auto& r : sec.recv_rids) {
      body += "a=rid:" + r + " recv\r\n";
      rid_list += (rid_list.empty() ? "" : ";") + r;
    }
    if (sec.simulcast && !rid_list.empty()) body += "a=simulcast:recv " + rid_list + "\r\n";
    if (sec.send) {
      const bool rtx_ssrc =
          rtx && sec.send_track.rtx_ssrc != 0 && sec.send_track.rtx_ssrc != sec.send_track.ssrc;
      if (rtx_ssrc) {
        body += "a=ssrc-group:FID " + std::to_string(sec.send_track.ssrc) + " " +
                std::to_string(sec.send_track.rtx_ssrc) + "\r\n";
      }
      const std::string ssrc = "a=ssrc:" + std::to_string(sec.send_track.ssrc);
      body += ssrc + " cname:" + p.cname + "\r\n";
      body += ssrc + " msid:" + msid + "\r\n";
      if (rtx_ssrc) {
        const std::string r = "a=ssrc:" + std::to_string(sec.send_track.rtx_ssrc);
        body += r + " cname:" + p.cname + "\r\n";
        body += r + " msid:" + msid + "\r\n";
      }
    }
  }
  std::string head = "v=0\r\no=- " + std::to_string(p.session_id) + " " + std::to_string(p.session_version) +
                     " IN " + addr_type + " " + first_ip + "\r\ns=-\r\nt=0 0\r\na=ice-lite\r\n";
  // Also at session level: GStreamer webrtcbin wants a fingerprint for every m-line, rejected ones included.
  head += "a=fingerprint:sha-256 " + p.fingerprint + "\r\n";
  if (!bundle.empty()) head += "a=group:BUNDLE" + bundle + "\r\n";
  if (n.extmap_allow_mixed) head += "a=extmap-allow-mixed\r\n";
  head += "a=msid-semantic: WMS\r\n";
  return head + body;
}

std::optional<SdpAnswer> buildSdpAnswer(const SdpSession& offer, const SdpAnswerParams& p, std::string* why) {
  return buildSdpAnswer(offer, p, nullptr, why);
}

std::optional<SdpAnswer> buildSdpAnswer(const SdpSession& offer, const SdpAnswerParams& p,
                                        const SdpNegotiation* current, std::string* why) {
  auto reject = [why](std::string reason) -> std::optional<SdpAnswer> {
    if (why != nullptr) *why = std::move(reason);
    return std::nullopt;
  };
  if (offer.media.empty()) return reject("no m-lines");
  if (current != nullptr && offer.media.size() < current->sections.size()) {
    return reject("the subsequent offer has fewer m-lines than the session");
  }
  SdpAnswer answer;
  answer.extmap_allow_mixed = offer.extmap_allow_mixed;
  answer.next_mid = current != nullptr ? current->next_mid : 0;
  answer.remote_transport_cc_id = current != nullptr ? current->remote_transport_cc_id : 0;
  for (const auto& m : offer.media) {
    if (const auto id = m.extmapId(kExtTransportCc); id != 0 && m.port != 0) {
      answer.remote_transport_cc_id = id;
      break;
    }
  }
  std::vector<std::string_view> accepted_mids;
  bool any = false;
  for (std::size_t i = 0; i < offer.media.size(); ++i) {
    const SdpMediaSection& m = offer.media[i];
    const SdpNegotiatedSection* prev =
        current != nullptr && i < current->sections.size() && current->sections[i].accepted
            ? &current->sections[i]
            : nullptr;
    // Port 0 rejects a section, except a bundle-only one (RFC 8843 §7.3.3: webrtcbin's max-bundle offers).
    const bool stopped = m.port == 0 && !m.bundle_only;
    if (prev != nullptr && !stopped && (prev->mid != m.mid || prev->kind != m.kind)) {
      return reject("m-line " + std::to_string(i) + " changed its mid or kind");
    }
    noteMid(m.mid, answer.next_mid);
    SdpNegotiatedSection sec;
    sec.mid = m.mid;
    sec.kind = m.kind;
    sec.proto = m.proto;
    sec.ssrcs = m.ssrcs;
    const bool rtp = isRtpProfile(m.proto) && isMediaKind(m.kind);
    const bool sctp = isSctpProfile(m.proto) && m.kind == "application";
    const SdpCodec* codec = nullptr;
    if (rtp && prev != nullptr) {  // keep the payload type we already use on this section
      for (const auto& c : m.codecs) {
        if (c.payload_type == prev->codec.payload_type && iequals(c.name, prev->codec.name)) codec = &c;
      }
    }
    if (rtp && codec == nullptr) codec = m.kind == "audio" ? m.findCodec("opus") : m.findVideoCodec();
    const bool duplicate_mid =
        std::find(accepted_mids.begin(), accepted_mids.end(), m.mid) != accepted_mids.end();
    const bool usable = !stopped && !m.mid.empty() && !duplicate_mid && !offer.iceUfragOf(m).empty() &&
                        !offer.icePwdOf(m).empty() && offer.fingerprintAlgorithmOf(m) == "sha-256" &&
                        ((rtp && codec && m.rtcp_mux) || sctp);
    if (!usable) {
      sec.format = m.formats.empty() ? std::string("0") : m.formats.front();
      answer.sections.push_back(std::move(sec));
      continue;
    }
    any = true;
    sec.accepted = true;
    accepted_mids.push_back(m.mid);
    if (sctp) {
      sec.format = m.formats.empty() ? std::string("webrtc-datachannel") : m.formats.front();
      sec.remote_sctp_port = m.sctp_port.value_or(5000);
      answer.sections.push_back(std::move(sec));
      continue;
    }
    sec.payload_type = codec->payload_type;
    sec.codec.payload_type = codec->payload_type;
    sec.codec.name = codec->name;
    sec.codec.clock_rate = codec->clock_rate;
    sec.codec.channels = codec->channels;
    sec.codec.fmtp = codec->fmtp;
    if (m.kind == "video" && p.rtx)
      sec.codec.rtx_payload_type = codec->rtx_payload_type;  // RTX, when offered
    sec.fid_groups = m.fid_groups;
    sec.rtcp_rsize = m.rtcp_rsize;
    sec.recv = m.direction == SdpDirection::SendOnly || m.direction == SdpDirection::SendRecv;
    const bool peer_receives = m.direction == SdpDirection::RecvOnly || m.direction == SdpDirection::SendRecv;
    if (prev != nullptr && prev->send && peer_receives) {
      sec.send = true;
      sec.send_track = prev->send_track;
    }
    const std::uint16_t tcc_id = m.extmapId(kExtTransportCc);
    // A pure send section carries only the transport-wide sequence number (downlink congestion control).
    const bool downlink_cc = p.downlink_transport_cc && sec.send && !sec.recv && tcc_id != 0;
    const bool transport_cc = ((p.transport_cc && sec.recv) || downlink_cc) && tcc_id != 0;
    for (const auto& fb : codec->rtcp_fb) {
      if (keptFeedback(fb, transport_cc)) sec.codec.rtcp_fb.push_back(fb);
    }
    if (sec.recv || !sec.send) {
      for (const auto& e : m.extmaps) {
        if (keptExtension(e.uri, p.transport_cc && sec.recv, sec.recv && m.kind == "audio"))
          sec.extmaps.push_back(e);
      }
    } else if (downlink_cc) {
      sec.extmaps.push_back(SdpExtmap{tcc_id, std::string(kExtTransportCc)});
    }
    noteExtmapIds(sec);
    for (const auto& r : m.rids) {
      if (r.send) sec.recv_rids.push_back(r.id);
    }
    sec.simulcast = !sec.recv_rids.empty() && !m.simulcast.empty();
    if (!m.msid_stream.empty()) {
      sec.remote_stream_id = m.msid_stream;
      sec.remote_track_id = m.msid_track;
    } else if (!m.ssrc_msids.empty()) {
      sec.remote_stream_id = m.ssrc_msids.front().stream_id;
      sec.remote_track_id = m.ssrc_msids.front().track_id;
    }
    answer.sections.push_back(std::move(sec));
  }
  if (!any) {
    return reject(
        "no usable m-line (need mid, ICE credentials, sha-256 fingerprint, rtcp-mux, "
        "Opus/VP8 or webrtc-datachannel)");
  }
  answer.sdp = writeSdp(answer, p, false);
  return answer;
}

std::optional<SdpOffer> buildSdpOffer(const SdpNegotiation& current, const std::vector<SendTrack>& tracks,
                                      const SdpCodec& audio, const SdpCodec& video, const SdpAnswerParams& p,
                                      std::string* why) {
  auto reject = [why](std::string reason) -> std::optional<SdpOffer> {
    if (why != nullptr) *why = std::move(reason);
    return std::nullopt;
  };
  for (std::size_t i = 0; i < tracks.size(); ++i) {
    const SendTrack& t = tracks[i];
    if (!isMediaKind(t.kind)) return reject("send track kind must be audio or video");
    if (t.ssrc == 0) return reject("send track ssrc 0");
    if (!isMsidToken(t.track_id) || (!t.stream_id.empty() && !isMsidToken(t.stream_id))) {
      return reject("send track ids must be 1-64 visible ASCII characters");
    }
    if (t.rtx_ssrc != 0 && t.rtx_ssrc == t.ssrc) return reject("send track rtx ssrc equals its ssrc");
    for (std::size_t j = 0; j < i; ++j) {
      const auto& o = tracks[j];
      const bool clash = o.ssrc == t.ssrc ||
                         (t.rtx_ssrc != 0 && (o.ssrc == t.rtx_ssrc || o.rtx_ssrc == t.rtx_ssrc)) ||
                         (o.rtx_ssrc != 0 && o.rtx_ssrc == t.ssrc);
      if (clash) return reject("duplicate send track ssrc " + std::to_string(t.ssrc));
    }
  }
  SdpOffer offer;
  static_cast<SdpNegotiation&>(offer) = current;
  std::vector<bool> placed(tracks.size(), false);
  for (auto& sec : offer.sections) {
    if (!sec.accepted || !sec.send) continue;
    bool kept = false;
    for (std::size_t j = 0; j < tracks.size() && !kept; ++j) {
      if (!placed[j] && tracks[j].ssrc == sec.send_track.ssrc && tracks[j].kind == sec.kind) {
        placed[j] = true;
        sec.send_track = tracks[j];  // the msid may change
        kept = true;
      }
    }
    if (kept) continue;
    if (sec.recv) {  // the participant still sends here: only our direction goes
      sec.send = false;
      sec.send_track = SendTrack{};
    } else {
      rejectSection(sec);
    }
  }
  for (std::size_t j = 0; j < tracks.size(); ++j) {
    if (placed[j]) continue;
    const SendTrack& t = tracks[j];
    SdpNegotiatedSection sec;
    sec.kind = t.kind;
    sec.accepted = true;
    sec.proto = "UDP/TLS/RTP/SAVPF";
    sec.codec = !t.codec.name.empty() ? t.codec : t.kind == "audio" ? audio : video;
    sec.payload_type = sec.codec.payload_type;
    if (p.downlink_transport_cc && offer.remote_transport_cc_id != 0) {
      sec.extmaps.push_back(SdpExtmap{offer.remote_transport_cc_id, std::string(kExtTransportCc)});
      noteExtmapIds(sec);
      if (std::find(sec.codec.rtcp_fb.begin(), sec.codec.rtcp_fb.end(), "transport-cc") ==
          sec.codec.rtcp_fb.end())
        sec.codec.rtcp_fb.push_back("transport-cc");
    }
    sec.rtcp_rsize = true;
    sec.send = true;
    sec.send_track = t;
    sec.mid = newMid(offer);
    // Recycle (JSEP §5.2.2) a section that is rejected in the current session, keeping its index — only once
    // the description is long (SdpAnswerParams::recycle_from_sections).
    std::size_t slot = offer.sections.size();
    for (std::size_t k = 0; k < current.sections.size() && offer.sections.size() >= p.recycle_from_sections;
         ++k) {
      const auto& c = current.sections[k];
      if (!c.accepted && c.kind == t.kind && !offer.sections[k].accepted) {
        slot = k;
        break;
      }
    }
    if (slot < offer.sections.size()) {
      offer.sections[slot] = std::move(sec);
    } else {
      if (offer.sections.size() >= p.max_media_sections) {
        return reject("more than " + std::to_string(p.max_media_sections) + " m-lines");
      }
      offer.sections.push_back(std::move(sec));
    }
  }
  offer.sdp = writeSdp(offer, p, true);
  return offer;
}

bool applySdpAnswer(SdpNegotiation& pending, const SdpSession& answer, std::string* why) {
  auto reject = [why](std::string reason) {
    if (why != nullptr) *why = std::move(reason);
    return false;
  };
  if (answer.media.size() != pending.sections.size()) {
    return reject("the answer has " + std::to_string(answer.media.size()) + " m-lines, the offer " +
                  std::to_string(pending.sections.size()));
  }
  // Check everything before changing anything.
  for (std::size_t i = 0; i < answer.media.size(); ++i) {
    const auto& sec = pending.sections[i];
    const auto& m = answer.media[i];
    if (!sec.accepted || m.port == 0) continue;
    if (m.mid != sec.mid || m.kind != sec.kind)
      return reject("m-line " + std::to_string(i) + ": mid or kind differs");
    if (isMediaKind(sec.kind)) {
      bool has_pt = false;
      for (const auto& c : m.codecs) has_pt = has_pt || c.payload_type == sec.codec.payload_type;
      if (!has_pt) return reject("m-line " + std::to_string(i) + ": the answer dropped our payload type");
    }
  }
  for (std::size_t i = 0; i < answer.media.size(); ++i) {
    auto& sec = pending.sections[i];
    const auto& m = answer.media[i];
    noteMid(m.mid, pending.next_mid);
    if (!sec.accepted) continue;
    if (m.port == 0) {
      rejectSection(sec);
      continue;
    }
    if (!isMediaKind(sec.kind)) {
      if (m.sctp_port) sec.remote_sctp_port = *m.sctp_port;
      continue;
    }
    const bool peer_sends = m.direction == SdpDirection::SendOnly || m.direction == SdpDirection::SendRecv;
    const bool peer_receives = m.direction == SdpDirection::RecvOnly || m.direction == SdpDirection::SendRecv;
    if (sec.send && !peer_receives) {
      sec.send = false;
      sec.send_track = SendTrack{};
    }
    if (sec.recv && !peer_sends) sec.recv = false;
    // Header extensions the answer did not accept (with the same id) are gone. One exception: GStreamer
    // 1.22's webrtcbin answers the sections it receives on (transceivers it creates for our offer) with
    // `a=rtcp-fb:<pt> transport-cc` but without the extmap line, although its rtpbin reads the id from our
    // offer and sends the feedback; with BUNDLE the id is the one the participant uses itself
    // (remote_transport_cc_id). So on a section we send on, transport-cc feedback accepted for our payload
    // type keeps the extension.
    const bool answer_has_twcc_feedback = [&] {
      for (const auto& c : m.codecs) {
        if (c.payload_type != sec.codec.payload_type) continue;
        for (const auto& fb : c.rtcp_fb) {
          if (fb == "transport-cc") return true;
        }
      }
      return false;
    }();
    std::vector<SdpExtmap> kept;
    for (const auto& e : sec.extmaps) {
      const bool twcc_by_feedback =
          e.uri == kExtTransportCc && sec.send && m.extmapId(e.uri) == 0 && answer_has_twcc_feedback;
      // The audio level only while the participant sends here (we never send it).
      if (e.uri == kExtAudioLevel && !sec.recv) continue;
      if (m.extmapId(e.uri) == e.id || twcc_by_feedback) kept.push_back(e);
    }
    sec.extmaps = std::move(kept);
    noteExtmapIds(sec);
    if (sec.recv && !m.ssrcs.empty()) {
      sec.ssrcs = m.ssrcs;
      sec.fid_groups = m.fid_groups;
    }
    // RTX stays only when the answer has our RTX payload type as rtx (for our payload type).
    if (sec.codec.rtx_payload_type != 0) {
      bool kept_rtx = false;
      for (const auto& c : m.codecs) {
        kept_rtx = kept_rtx || (c.payload_type == sec.codec.rtx_payload_type && iequals(c.name, "rtx") &&
                                aptOf(c.fmtp) == sec.codec.payload_type);
      }
      if (!kept_rtx) sec.codec.rtx_payload_type = 0;
    }
    if (sec.recv && !m.msid_stream.empty()) {
      sec.remote_stream_id = m.msid_stream;
      sec.remote_track_id = m.msid_track;
    }
  }
  return true;
}

}  // namespace chorus::io
