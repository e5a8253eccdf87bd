#include "io/sdp.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace chorus::io {
namespace {

std::string readCorpus(const char* name) {
  std::ifstream f(std::string(CHORUS_SDP_CORPUS) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

SdpAnswerParams params() {
  SdpAnswerParams p;
  p.ice_ufrag = "ufrg";
  p.ice_pwd = "0123456789abcdefghijkl";
  p.fingerprint = "AA:BB";
  p.candidate_ip = "127.0.0.1";
  p.candidate_port = 40000;
  return p;
}

bool has(const std::string& sdp, const std::string& line) {
  return sdp.find(line + "\r\n") != std::string::npos;
}

TEST(Sdp, ParsesChromiumOffer) {
  const std::string text = readCorpus("chromium_offer_av_dc.sdp");
  ASSERT_FALSE(text.empty());
  SdpError err{};
  auto s = parseSdp(text, &err);
  ASSERT_TRUE(s) << toString(err);
  ASSERT_EQ(s->media.size(), 3u);
  EXPECT_EQ(s->bundle_mids, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_TRUE(s->extmap_allow_mixed);
  const auto& audio = s->media[0];
  EXPECT_EQ(audio.kind, "audio");
  EXPECT_EQ(audio.mid, "0");
  EXPECT_EQ(audio.direction, SdpDirection::SendOnly);
  EXPECT_TRUE(audio.rtcp_mux);
  EXPECT_EQ(s->fingerprintAlgorithmOf(audio), "sha-256");
  EXPECT_EQ(s->setupOf(audio), "actpass");
  EXPECT_FALSE(s->iceUfragOf(audio).empty());
  const SdpCodec* opus = audio.findCodec("opus");
  ASSERT_NE(opus, nullptr);
  EXPECT_EQ(opus->payload_type, 111);
  EXPECT_EQ(opus->clock_rate, 48000u);
  EXPECT_EQ(opus->channels, 2);
  EXPECT_EQ(opus->fmtp, "minptime=10;useinbandfec=1");
  EXPECT_EQ(audio.extmapId(kExtMid), 4);
  EXPECT_EQ(audio.ssrcs.size(), 1u);
  const auto& video = s->media[1];
  ASSERT_NE(video.findCodec("vp8"), nullptr);
  EXPECT_EQ(video.findCodec("VP8")->payload_type, 96);
  EXPECT_EQ(video.findCodec("VP8")->rtcp_fb.size(), 5u);
  EXPECT_EQ(video.extmapId(kExtRid), 10);
  const auto& app = s->media[2];
  EXPECT_EQ(app.kind, "application");
  EXPECT_EQ(app.proto, "UDP/DTLS/SCTP");
  EXPECT_EQ(app.sctp_port, 5000);
  EXPECT_EQ(app.max_message_size, 262144u);
}

TEST(Sdp, AnswersChromiumOffer) {
  auto s = parseSdp(readCorpus("chromium_offer_av_dc.sdp"));
  ASSERT_TRUE(s);
  std::string why;
  auto a = buildSdpAnswer(*s, params(), &why);
  ASSERT_TRUE(a) << why;
  const std::string& sdp = a->sdp;
  EXPECT_TRUE(has(sdp, "a=ice-lite"));
  EXPECT_TRUE(has(sdp, "a=group:BUNDLE 0 1 2"));
  EXPECT_TRUE(has(sdp, "m=audio 40000 UDP/TLS/RTP/SAVPF 111"));
  EXPECT_TRUE(has(sdp, "m=video 40000 UDP/TLS/RTP/SAVPF 96"));
  EXPECT_TRUE(has(sdp, "m=application 40000 UDP/DTLS/SCTP webrtc-datachannel"));
  EXPECT_TRUE(has(sdp, "a=setup:passive"));
  EXPECT_TRUE(has(sdp, "a=fingerprint:sha-256 AA:BB"));
  EXPECT_TRUE(has(sdp, "a=ice-ufrag:ufrg"));
  EXPECT_TRUE(has(sdp, "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host"));
  EXPECT_TRUE(has(sdp, "a=recvonly"));
  EXPECT_TRUE(has(sdp, "a=rtcp-mux"));
  EXPECT_TRUE(has(sdp, "a=sctp-port:5000"));
  EXPECT_TRUE(has(sdp, "a=max-message-size:262144"));
  EXPECT_TRUE(has(sdp, "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid"));
  EXPECT_TRUE(
      has(sdp, "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"));
  EXPECT_FALSE(has(sdp, "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"));
  EXPECT_TRUE(has(sdp, "a=rtpmap:111 opus/48000/2"));
  EXPECT_TRUE(has(sdp, "a=fmtp:111 minptime=10;useinbandfec=1"));
  EXPECT_TRUE(has(sdp, "a=rtpmap:96 VP8/90000"));
  EXPECT_EQ(sdp.find("H264"), std::string::npos);
  ASSERT_EQ(a->sections.size(), 3u);
  EXPECT_TRUE(a->sections[0].accepted && a->sections[1].accepted && a->sections[2].accepted);
  EXPECT_EQ(a->sections[0].payload_type, 111);
  EXPECT_EQ(a->sections[1].mid_ext_id, 4);
  EXPECT_EQ(a->sections[2].remote_sctp_port, 5000);
  // The answer is itself valid input for our parser.
  auto back = parseSdp(sdp);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->ice_lite);
  EXPECT_EQ(back->media.size(), 3u);
}

TEST(Sdp, AnswersWebrtcbinOfferWithSsrcsAndBundleOnly) {
  auto s = parseSdp(readCorpus("webrtcbin_offer_av.sdp"));
  ASSERT_TRUE(s);
  ASSERT_EQ(s->media.size(), 2u);
  EXPECT_TRUE(s->media[1].bundle_only);
  EXPECT_EQ(s->media[1].port, 0);
  EXPECT_EQ(s->media[0].findCodec("opus")->name, "OPUS");
  auto a = buildSdpAnswer(*s, params());
  ASSERT_TRUE(a);
  EXPECT_TRUE(has(a->sdp, "a=group:BUNDLE audio0 video1"));
  EXPECT_TRUE(has(a->sdp, "m=video 40000 UDP/TLS/RTP/SAVPF 97"));
  EXPECT_EQ(a->sections[0].ssrcs.size(), 1u);
  EXPECT_EQ(a->sections[1].ssrcs.size(), 1u);
  EXPECT_EQ(a->sections[0].mid_ext_id, 0);
}

TEST(Sdp, RejectsUnusableSectionsButKeepsTheRest) {
  const std::string offer =
      "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
      "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n"
      "a=fingerprint:sha-256 AA:BB\r\na=setup:actpass\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:a\r\na=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\n"  // no Opus
      "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v\r\na=rtpmap:96 VP8/90000\r\n"              // no rtcp-mux
      "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v2\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n"
      "m=text 9 RTP/AVP 0\r\na=mid:t\r\n";
  auto s = parseSdp(offer);
  ASSERT_TRUE(s);
  auto a = buildSdpAnswer(*s, params());
  ASSERT_TRUE(a);
  EXPECT_TRUE(has(a->sdp, "a=group:BUNDLE v2"));
  EXPECT_TRUE(has(a->sdp, "m=audio 0 UDP/TLS/RTP/SAVPF 0"));
  EXPECT_TRUE(has(a->sdp, "m=video 0 UDP/TLS/RTP/SAVPF 96"));
  EXPECT_TRUE(has(a->sdp, "m=text 0 RTP/AVP 0"));
  EXPECT_FALSE(a->sections[0].accepted);
  EXPECT_FALSE(a->sections[1].accepted);
  EXPECT_TRUE(a->sections[2].accepted);
  // Session-level ICE/DTLS values apply to every section.
  EXPECT_EQ(s->iceUfragOf(s->media[2]), "abcd");
}

TEST(Sdp, NothingUsableOrNoFingerprintIsRefused) {
  const std::string no_fp =
      "v=0\r\ns=-\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\n"
      "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n";
  auto s = parseSdp(no_fp);
  ASSERT_TRUE(s);
  std::string why;
  EXPECT_FALSE(buildSdpAnswer(*s, params(), &why));
  EXPECT_FALSE(why.empty());
  auto empty = parseSdp("v=0\r\n");
  ASSERT_TRUE(empty);
  EXPECT_FALSE(buildSdpAnswer(*empty, params()));
}

TEST(Sdp, BoundsAndMalformedInput) {
  SdpError err{};
  EXPECT_FALSE(parseSdp("", &err));
  EXPECT_EQ(err, SdpError::NoVersion);
  EXPECT_FALSE(parseSdp("v=1\r\n", &err));
  EXPECT_EQ(err, SdpError::NoVersion);
  EXPECT_FALSE(parseSdp("v=0\r\nnonsense\r\n", &err));
  EXPECT_EQ(err, SdpError::BadLine);
  EXPECT_FALSE(parseSdp(std::string(kSdpMaxSize + 1, 'a'), &err));
  EXPECT_EQ(err, SdpError::TooLarge);
  EXPECT_FALSE(parseSdp("v=0\r\na=" + std::string(kSdpMaxLineLength, 'x') + "\r\n", &err));
  EXPECT_EQ(err, SdpError::LineTooLong);
  EXPECT_FALSE(parseSdp("v=0\r\na=ice-ufrag:" + std::string(kSdpMaxTokenLength + 1, 'u') + "\r\n", &err));
  EXPECT_EQ(err, SdpError::TokenTooLong);
  std::string many = "v=0\r\n";
  for (std::size_t i = 0; i <= kSdpMaxMediaSections; ++i) many += "m=audio 9 RTP/AVP 0\r\n";
  EXPECT_FALSE(parseSdp(many, &err));
  EXPECT_EQ(err, SdpError::TooManySections);
  EXPECT_FALSE(parseSdp("v=0\r\nm=audio x RTP/AVP 0\r\n", &err));
  EXPECT_EQ(err, SdpError::BadMediaLine);
  EXPECT_FALSE(parseSdp("v=0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:300 opus/48000\r\n", &err));
  EXPECT_EQ(err, SdpError::BadAttribute);
  EXPECT_FALSE(parseSdp("v=0\r\nm=audio 9 RTP/AVP 0\r\na=extmap:0 urn:x\r\n", &err));
  EXPECT_EQ(err, SdpError::BadAttribute);
  EXPECT_FALSE(parseSdp("v=0\r\nm=application 9 UDP/DTLS/SCTP x\r\na=sctp-port:99999\r\n", &err));
  EXPECT_EQ(err, SdpError::BadAttribute);
  std::string ssrcs = "v=0\r\nm=video 9 RTP/AVP 96\r\n";
  for (std::size_t i = 0; i <= kSdpMaxSsrcsPerSection; ++i)
    ssrcs += "a=ssrc:" + std::to_string(i + 1) + " cname:x\r\n";
  EXPECT_FALSE(parseSdp(ssrcs, &err));
  EXPECT_EQ(err, SdpError::TooManyEntries);
  // LF-only line endings and unknown lines are fine.
  auto ok = parseSdp("v=0\nz=whatever\nm=audio 9 RTP/AVP 0\na=unknown-attr:1\n");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->media.size(), 1u);
}

TEST(Sdp, SimulcastRidsAreAnsweredRecv) {
  const std::string offer =
      "v=0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\na=fingerprint:sha-256 AA:BB\r\n"
      "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=rtcp-mux\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n"
      "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
      "a=rid:q send\r\na=rid:h send\r\na=rid:f send\r\na=simulcast:send q;h;f\r\n";
  auto s = parseSdp(offer);
  ASSERT_TRUE(s);
  auto a = buildSdpAnswer(*s, params());
  ASSERT_TRUE(a);
  EXPECT_TRUE(has(a->sdp, "a=rid:q recv"));
  EXPECT_TRUE(has(a->sdp, "a=rid:f recv"));
  EXPECT_TRUE(has(a->sdp, "a=simulcast:recv q;h;f"));
  EXPECT_EQ(a->sections[0].rid_ext_id, 10);
}

}  // namespace
}  // namespace chorus::io
