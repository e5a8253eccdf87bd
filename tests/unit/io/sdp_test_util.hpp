#pragma once
// SDP helpers for the io tests: the participant's answer to one of the focus's offers, written the way
// Chromium writes it (same mids, a=setup:active, the direction mirrored).
#include <map>
#include <string>

#include "io/sdp.hpp"

namespace chorus::io::test {

struct AnswerOptions {
  std::string ufrag{"brws"};
  std::string pwd{"browserpassword0123456789"};
  std::string fingerprint{"AA:CC"};
  std::string setup{"active"};
  // Per mid: "reject" (port 0) or the direction to write instead of the mirrored one.
  std::map<std::string, std::string> override;
};

inline std::string answerTo(const std::string& offer_sdp, const AnswerOptions& o = {}) {
  auto offer = parseSdp(offer_sdp);
  if (!offer) return {};
  std::string s = "v=0\r\no=- 5 3 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
  for (const auto& m : offer->media) {
    const auto it = o.override.find(m.mid);
    const bool reject = m.port == 0 || (it != o.override.end() && it->second == "reject");
    s += "m=" + m.kind + (reject ? " 0 " : " 9 ") + m.proto + " " + m.formats.front() + "\r\n";
    s += "c=IN IP4 0.0.0.0\r\na=mid:" + m.mid + "\r\n";
    s += "a=ice-ufrag:" + o.ufrag + "\r\na=ice-pwd:" + o.pwd + "\r\n";
    s += "a=fingerprint:sha-256 " + o.fingerprint + "\r\na=setup:" + o.setup + "\r\n";
    std::string dir = m.direction == SdpDirection::SendOnly   ? "recvonly"
                      : m.direction == SdpDirection::RecvOnly ? "sendonly"
                      : m.direction == SdpDirection::SendRecv ? "sendrecv"
                                                              : "inactive";
    if (it != o.override.end() && it->second != "reject") dir = it->second;
    if (m.kind != "application") s += "a=" + dir + "\r\na=rtcp-mux\r\n";
    for (const auto& e : m.extmaps) s += "a=extmap:" + std::to_string(e.id) + " " + e.uri + "\r\n";
    for (const auto& c : m.codecs) {
      s += "a=rtpmap:" + std::to_string(c.payload_type) + " " + c.name + "/" + std::to_string(c.clock_rate) +
           "\r\n";
    }
    if (m.sctp_port) s += "a=sctp-port:" + std::to_string(*m.sctp_port) + "\r\n";
  }
  return s;
}

}  // namespace chorus::io::test
