#include "endpoint/sdp_info.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include "endpoint/gst_ptr.hpp"

namespace chorus::endpoint {
namespace {

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

// "<stream> <track>" -> "<stream>"
std::string firstToken(const char* value) {
  std::string v = value != nullptr ? value : "";
  auto end = v.find(' ');
  return end == std::string::npos ? v : v.substr(0, end);
}

}  // namespace

std::optional<std::uint32_t> SdpInfo::mlineIndexOfMid(const std::string& mid) const {
  for (std::size_t i = 0; i < media.size(); ++i) {
    if (media[i].mid == mid) return static_cast<std::uint32_t>(i);
  }
  return std::nullopt;
}

std::optional<std::string> SdpInfo::midOfMlineIndex(std::uint32_t index) const {
  if (index >= media.size() || media[index].mid.empty()) return std::nullopt;
  return media[index].mid;
}

std::optional<std::uint32_t> SdpInfo::mlineIndexOfSsrc(std::uint32_t ssrc) const {
  for (std::size_t i = 0; i < media.size(); ++i) {
    if (std::find(media[i].ssrcs.begin(), media[i].ssrcs.end(), ssrc) != media[i].ssrcs.end()) {
      return static_cast<std::uint32_t>(i);
    }
  }
  return std::nullopt;
}

Result<SdpInfo> parseSdpInfo(const std::string& sdp) {
  GstSDPMessage* raw = nullptr;
  if (gst_sdp_message_new_from_text(sdp.c_str(), &raw) != GST_SDP_OK || raw == nullptr) {
    return fail(Code::InvalidArgument, "unparsable SDP");
  }
  SdpMessagePtr msg(raw);
  if (gst_sdp_message_medias_len(msg.get()) == 0) return fail(Code::InvalidArgument, "SDP has no m-lines");
  const char* session_ufrag = gst_sdp_message_get_attribute_val(msg.get(), "ice-ufrag");

  SdpInfo info;
  for (guint i = 0; i < gst_sdp_message_medias_len(msg.get()); ++i) {
    const GstSDPMedia* m = gst_sdp_message_get_media(msg.get(), i);
    SdpMediaInfo out;
    out.media = gst_sdp_media_get_media(m) != nullptr ? gst_sdp_media_get_media(m) : "";
    out.port = gst_sdp_media_get_port(m);
    out.direction = "sendrecv";
    std::string ssrc_stream;
    for (guint a = 0; a < gst_sdp_media_attributes_len(m); ++a) {
      const GstSDPAttribute* attr = gst_sdp_media_get_attribute(m, a);
      if (attr == nullptr || attr->key == nullptr) continue;
      const std::string key = attr->key;
      const char* value = attr->value;
      if (key == "mid" && value != nullptr) {
        out.mid = value;
      } else if (key == "msid") {
        if (out.stream_id.empty()) out.stream_id = firstToken(value);
      } else if (key == "ssrc" && value != nullptr) {
        // "<ssrc> <attribute>[:<value>]", e.g. "<ssrc> msid:<stream> <track>"
        char* end = nullptr;
        const unsigned long n = std::strtoul(value, &end, 10);
        if (end != value && n <= 0xffffffffUL && out.ssrcs.size() < SdpMediaInfo::kMaxSsrcsPerMedia &&
            std::find(out.ssrcs.begin(), out.ssrcs.end(), n) == out.ssrcs.end()) {
          out.ssrcs.push_back(static_cast<std::uint32_t>(n));
        }
        const char* p = std::strstr(value, " msid:");
        if (p != nullptr && ssrc_stream.empty()) ssrc_stream = firstToken(p + 6);
      } else if (key == "sendrecv" || key == "sendonly" || key == "recvonly" || key == "inactive") {
        out.direction = key;
      } else if (key == "ice-ufrag" && value != nullptr) {
        out.ice_ufrag = value;
      } else if (key == "rtpmap" && value != nullptr) {
        // "<pt> <name>/<rate>[/<params>]"
        std::string v = value;
        auto sp = v.find(' ');
        if (sp == std::string::npos) continue;
        int pt = std::atoi(v.substr(0, sp).c_str());
        std::string name = v.substr(sp + 1);
        name = upper(name.substr(0, name.find('/')));
        out.payload_types.emplace(name, pt);  // keeps the first (preferred) pt per codec
      }
    }
    if (out.stream_id.empty()) out.stream_id = ssrc_stream;
    if (out.stream_id == "-") out.stream_id.clear();  // "a=msid:- <track>": a track without a stream
    if (out.ice_ufrag.empty() && session_ufrag != nullptr) out.ice_ufrag = session_ufrag;
    info.media.push_back(std::move(out));
  }
  return info;
}

}  // namespace chorus::endpoint
