#include "core/sdp_tracks.hpp"

namespace chorus::core {
namespace {

// "<stream> <track>" -> (stream, track)
void splitMsid(std::string_view v, std::string& stream, std::string& track) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  auto sp = v.find(' ');
  stream = std::string(v.substr(0, sp));
  track = sp == std::string_view::npos ? std::string() : std::string(v.substr(sp + 1));
  while (!track.empty() && (track.back() == ' ' || track.back() == '\r')) track.pop_back();
  if (auto end = track.find(' '); end != std::string::npos) track.resize(end);
}

}  // namespace

std::vector<SdpTrack> sdpTracks(std::string_view sdp) {
  std::vector<SdpTrack> out;
  bool in_media = false;
  bool keep = false;
  std::string ssrc_stream;
  std::string ssrc_track;
  auto finish = [&] {
    if (in_media && keep) {
      SdpTrack& t = out.back();
      if (t.stream_id.empty()) {
        t.stream_id = ssrc_stream;
        t.track_id = ssrc_track;
      }
      if (t.stream_id == "-") t.stream_id.clear();
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
    if (line[0] == 'm') {
      finish();
      in_media = true;
      std::string_view rest = line.substr(2);
      std::string kind(rest.substr(0, rest.find(' ')));
      keep = (kind == "audio" || kind == "video") && out.size() < kMaxSdpTracks;
      if (keep) out.push_back(SdpTrack{kind, "", "sendrecv", "", ""});
      continue;
    }
    if (!in_media || !keep || line[0] != 'a') continue;
    std::string_view attr = line.substr(2);
    SdpTrack& t = out.back();
    if (attr.substr(0, 4) == "mid:") {
      t.mid = std::string(attr.substr(4));
    } else if (attr.substr(0, 5) == "msid:") {
      if (t.stream_id.empty()) splitMsid(attr.substr(5), t.stream_id, t.track_id);
    } else if (attr.substr(0, 5) == "ssrc:") {
      auto m = attr.find(" msid:");
      if (m != std::string_view::npos && ssrc_stream.empty()) {
        splitMsid(attr.substr(m + 6), ssrc_stream, ssrc_track);
      }
    } else if (attr == "sendrecv" || attr == "sendonly" || attr == "recvonly" || attr == "inactive") {
      t.direction = std::string(attr);
    }
  }
  finish();
  return out;
}

}  // namespace chorus::core
