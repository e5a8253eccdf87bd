#pragma once
// Helpers for the proto tests: JSON literals (jsonc comments and trailing commas allowed, as in the MSC
// text).
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace chorus::proto::test {

inline boost::json::value jsonc(std::string_view text) {
  boost::json::parse_options opts;
  opts.allow_comments = true;
  opts.allow_trailing_commas = true;
  return boost::json::parse(boost::json::string_view(text.data(), text.size()), {}, opts);
}

inline boost::json::object jsoncObject(std::string_view text) {
  return jsonc(text).as_object();
}

// The content of a {"type", "state_key", "content"} event literal.
inline boost::json::object contentOf(std::string_view event_text) {
  return jsonc(event_text).as_object().at("content").as_object();
}

// A plausible SDP offer/answer as Chromium would produce it (shortened to one audio + one video m-line).
inline std::string sampleSdp(std::string_view type) {
  std::string sdp =
      "v=0\r\n"
      "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
      "s=-\r\n"
      "t=0 0\r\n"
      "a=group:BUNDLE 0 1\r\n"
      "a=extmap-allow-mixed\r\n"
      "a=msid-semantic: WMS 3f1c8e2a-5b7d-4c9e-8a1f-2d3e4f5a6b7c\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
      "c=IN IP4 0.0.0.0\r\n"
      "a=rtcp:9 IN IP4 0.0.0.0\r\n"
      "a=ice-ufrag:QBkQ\r\n"
      "a=ice-pwd:Lk2x9vXqZ0aP3sT7uW1yB4cD\r\n"
      "a=ice-options:trickle\r\n"
      "a=fingerprint:sha-256 "
      "7B:8D:2E:93:1A:44:5C:6F:80:91:A2:B3:C4:D5:E6:F7:08:19:2A:3B:4C:5D:6E:7F:80:91:A2:B3:"
      "C4:D5:E6:F7\r\n";
  sdp += type == "offer" ? "a=setup:actpass\r\n" : "a=setup:active\r\n";
  sdp +=
      "a=mid:0\r\n"
      "a=sendrecv\r\n"
      "a=msid:3f1c8e2a-5b7d-4c9e-8a1f-2d3e4f5a6b7c 9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4\r\n"
      "a=rtcp-mux\r\n"
      "a=rtpmap:111 opus/48000/2\r\n"
      "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
      "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"
      "c=IN IP4 0.0.0.0\r\n"
      "a=mid:1\r\n"
      "a=sendrecv\r\n"
      "a=rtpmap:96 VP8/90000\r\n"
      "a=rtpmap:97 rtx/90000\r\n"
      "a=fmtp:97 apt=96\r\n";
  return sdp;
}

// JSON-escaped form of sampleSdp, for splicing into literals.
inline std::string escapedSdp(std::string_view type) {
  return boost::json::serialize(boost::json::value(sampleSdp(type)));
}

inline std::string dump(const boost::json::value& v) {
  return boost::json::serialize(v);
}

}  // namespace chorus::proto::test
