#include "proto/sdp_summary.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace chorus::proto {
namespace {

constexpr std::size_t kMaxFieldBytes = 256;  // ids and ufrags longer than this are cut

std::string bounded(std::string_view v) {
  return std::string(v.substr(0, kMaxFieldBytes));
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// "<stream> <track> ..." -> (stream, track)
void splitMsid(std::string_view v, std::string& stream, std::string& track) {
  v = trim(v);
  const auto sp = v.find(' ');
  stream = bounded(v.substr(0, sp));
  track.clear();
  if (sp == std::string_view::npos) return;
  std::string_view rest = trim(v.substr(sp + 1));
  track = bounded(rest.substr(0, rest.find(' ')));
}

template <typename T>
std::optional<T> number(std::string_view v) {
  T n{};
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p == v.data()) return std::nullopt;
  return n;
}

}  // namespace

std::optional<std::uint32_t> SdpSummary::mlineIndexOfMid(const std::string& mid) const {
  for (std::size_t i = 0; i < media.size(); ++i) {
    if (media[i].mid == mid) return static_cast<std::uint32_t>(i);
  }
  return std::nullopt;
}

std::optional<std::string> SdpSummary::midOfMlineIndex(std::uint32_t index) const {
  if (index >= media.size() || media[index].mid.empty()) return std::nullopt;
  return media[index].mid;
}

std::optional<std::uint32_t> SdpSummary::mlineIndexOfSsrc(std::uint32_t ssrc) const {
  for (std::size_t i = 0; i < media.size(); ++i) {
    if (std::find(media[i].ssrcs.begin(), media[i].ssrcs.end(), ssrc) != media[i].ssrcs.end()) {
      return static_cast<std::uint32_t>(i);
    }
  }
  return std::nullopt;
}

Result<SdpSummary> summarizeSdp(std::string_view sdp) {
  SdpSummary out;
  std::string session_ufrag;
  std::vector<std::string> bundled_mids;  // session-level a=group:BUNDLE (at most kMaxMedia)
  bool saw_media = false;
  bool keep = false;  // the current section is within kMaxMedia
  std::string ssrc_stream;
  std::string ssrc_track;
  auto finish = [&] {
    if (keep) {
      SdpMedia& m = out.media.back();
      if (m.stream_id.empty()) {
        m.stream_id = ssrc_stream;
        m.track_id = ssrc_track;
      }
      if (m.stream_id == "-") m.stream_id.clear();  // "a=msid:- <track>": a track without a stream
    }
    ssrc_stream.clear();
    ssrc_track.clear();
  };
  std::size_t pos = 0;
  while (pos < sdp.size()) {
    std::size_t end = sdp.find('\n', pos);
    if (end == std::string_view::npos) end = sdp.size();
    std::string_view line = sdp.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() < 2 || line[1] != '=') continue;
    const std::string_view value = line.substr(2);
    if (line[0] == 'm') {
      finish();
      saw_media = true;
      keep = out.media.size() < SdpSummary::kMaxMedia;
      if (!keep) continue;
      SdpMedia m;
      const auto sp = value.find(' ');
      m.media = bounded(value.substr(0, sp));
      if (sp != std::string_view::npos) {
        std::string_view rest = value.substr(sp + 1);
        rest = rest.substr(0, rest.find(' '));
        rest = rest.substr(0, rest.find('/'));  // "<port>/<count>"
        m.port = number<unsigned>(rest).value_or(0);
      }
      out.media.push_back(std::move(m));
      continue;
    }
    if (line[0] != 'a') continue;
    const auto colon = value.find(':');
    const std::string_view key = value.substr(0, colon);
    const std::string_view val =
        colon == std::string_view::npos ? std::string_view() : value.substr(colon + 1);
    if (!saw_media) {
      if (key == "ice-ufrag") {
        session_ufrag = bounded(trim(val));
      } else if (key == "group") {
        // "BUNDLE <mid> <mid> ..." (other semantics, e.g. LS, are not bundles)
        std::string_view rest = trim(val);
        const auto sp = rest.find(' ');
        if (rest.substr(0, sp) != "BUNDLE" || sp == std::string_view::npos) continue;
        rest = rest.substr(sp + 1);
        while (!rest.empty() && bundled_mids.size() < SdpSummary::kMaxMedia) {
          rest = trim(rest);
          const auto e = rest.find(' ');
          if (!rest.substr(0, e).empty()) bundled_mids.push_back(bounded(rest.substr(0, e)));
          if (e == std::string_view::npos) break;
          rest = rest.substr(e + 1);
        }
      }
      continue;
    }
    if (!keep) continue;
    SdpMedia& m = out.media.back();
    if (key == "mid") {
      m.mid = bounded(trim(val));
    } else if (key == "bundle-only" && colon == std::string_view::npos) {
      m.bundle_only = true;
    } else if (key == "msid") {
      if (m.stream_id.empty()) splitMsid(val, m.stream_id, m.track_id);
    } else if (key == "ssrc") {
      // "<ssrc> <attribute>[:<value>]", e.g. "<ssrc> msid:<stream> <track>"
      const std::string_view num = val.substr(0, val.find(' '));
      if (auto n = number<std::uint32_t>(num);
          n && m.ssrcs.size() < SdpMedia::kMaxSsrcsPerMedia &&
          std::find(m.ssrcs.begin(), m.ssrcs.end(), *n) == m.ssrcs.end()) {
        m.ssrcs.push_back(*n);
      }
      if (const auto p = val.find(" msid:"); p != std::string_view::npos && ssrc_stream.empty()) {
        splitMsid(val.substr(p + 6), ssrc_stream, ssrc_track);
      }
    } else if (colon == std::string_view::npos &&
               (key == "sendrecv" || key == "sendonly" || key == "recvonly" || key == "inactive")) {
      m.direction = std::string(key);
    } else if (key == "ice-ufrag") {
      m.ice_ufrag = bounded(trim(val));
    } else if (key == "rtpmap") {
      // "<pt> <name>/<rate>[/<params>]"
      const auto sp = val.find(' ');
      if (sp == std::string_view::npos) continue;
      const auto pt = number<int>(val.substr(0, sp));
      std::string name = bounded(trim(val.substr(sp + 1)));
      name = name.substr(0, name.find('/'));
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::toupper(c); });
      if (pt && m.payload_types.size() < SdpMedia::kMaxPayloadTypes) {
        m.payload_types.emplace(name, *pt);  // keeps the first (preferred) pt per codec
      }
    }
  }
  finish();
  if (!saw_media) return fail(Code::InvalidArgument, "SDP has no m-lines");
  for (auto& m : out.media) {
    if (m.ice_ufrag.empty()) m.ice_ufrag = session_ufrag;
    m.bundled =
        !m.mid.empty() && std::find(bundled_mids.begin(), bundled_mids.end(), m.mid) != bundled_mids.end();
  }
  return out;
}

}  // namespace chorus::proto
