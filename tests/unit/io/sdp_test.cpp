#include "io/sdp.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "sdp_test_util.hpp"

namespace chorus::io {
namespace {

std::string readCorpus(const char* name) {
  std::string path = CHORUS_SDP_CORPUS;  // appended, not operator+: GCC 12's -Warray-bounds false positive
  path += "/";
  path += name;
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

SdpAnswerParams params() {
  SdpAnswerParams p;
  p.ice_ufrag = "ufrg";
  p.ice_pwd = "0123456789abcdefghijkl";
  p.fingerprint = "AA:BB";
  p.candidates = {{"127.0.0.1", 40000, false}};
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
  EXPECT_TRUE(has(sdp, "m=video 40000 UDP/TLS/RTP/SAVPF 96 97"));  // VP8 and its RTX (RFC 4588)
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
  // transport-cc is off by default (SdpAnswerParams::transport_cc).
  EXPECT_FALSE(has(sdp, "a=extmap:3 " + std::string(kExtTransportCc)));
  EXPECT_FALSE(has(sdp, "a=rtcp-fb:111 transport-cc"));
  EXPECT_FALSE(has(sdp, "a=rtcp-fb:96 transport-cc"));
  {
    // With it: the extension and the feedback on what the participant sends (the router sends the feedback).
    SdpAnswerParams with = params();
    with.transport_cc = true;
    auto t = buildSdpAnswer(*s, with);
    ASSERT_TRUE(t);
    EXPECT_TRUE(has(t->sdp, "a=extmap:3 " + std::string(kExtTransportCc)));
    EXPECT_TRUE(has(t->sdp, "a=rtcp-fb:111 transport-cc"));
    EXPECT_TRUE(has(t->sdp, "a=rtcp-fb:96 transport-cc"));
    EXPECT_EQ(t->sections[0].transport_cc_ext_id, 3);
    EXPECT_EQ(t->sections[1].transport_cc_ext_id, 3);
  }
  EXPECT_FALSE(has(sdp, "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"));
  EXPECT_TRUE(has(sdp, "a=rtpmap:111 opus/48000/2"));
  EXPECT_TRUE(has(sdp, "a=fmtp:111 minptime=10;useinbandfec=1"));
  EXPECT_TRUE(has(sdp, "a=rtpmap:96 VP8/90000"));
  EXPECT_EQ(sdp.find("H264"), std::string::npos);
  ASSERT_EQ(a->sections.size(), 3u);
  EXPECT_TRUE(a->sections[0].accepted && a->sections[1].accepted && a->sections[2].accepted);
  EXPECT_EQ(a->sections[0].payload_type, 111);
  EXPECT_EQ(a->sections[1].mid_ext_id, 4);
  // The audio level of what the participant sends (the router's loudest-speaker selection).
  EXPECT_TRUE(has(sdp, "a=extmap:1 " + std::string(kExtAudioLevel)));
  EXPECT_EQ(a->sections[0].audio_level_ext_id, 1);
  EXPECT_EQ(a->sections[1].audio_level_ext_id, 0);
  EXPECT_EQ(a->sections[0].transport_cc_ext_id, 0);
  EXPECT_EQ(a->sections[1].transport_cc_ext_id, 0);
  EXPECT_EQ(a->sections[2].remote_sctp_port, 5000);
  // The answer is itself valid input for our parser.
  auto back = parseSdp(sdp);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->ice_lite);
  EXPECT_EQ(back->media.size(), 3u);
}

// transport-cc is kept only on sections the participant sends on, and only with the extension offered there:
// a receive-only section (the focus does not stamp transport-wide sequence numbers yet) and a section that
// offers the feedback without the extension get neither.
TEST(Sdp, TransportCcOnlyWhereTheParticipantSendsWithTheExtension) {
  auto section = [](const std::string& mid, const std::string& dir, bool ext) {
    return "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:" + mid + "\r\na=" + dir +
           "\r\na=rtcp-mux\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n" +
           (ext ? "a=extmap:3 " + std::string(kExtTransportCc) + "\r\n" : std::string()) +
           "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 transport-cc\r\n" +
           "a=rtcp-fb:96 goog-remb\r\n";
  };
  const std::string offer =
      "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE s r n\r\n"
      "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n"
      "a=fingerprint:sha-256 AA:BB\r\na=setup:actpass\r\n" +
      section("s", "sendonly", true) + section("r", "recvonly", true) + section("n", "sendonly", false);
  auto s = parseSdp(offer);
  ASSERT_TRUE(s);
  SdpAnswerParams with = params();
  with.transport_cc = true;
  auto a = buildSdpAnswer(*s, with);
  ASSERT_TRUE(a);
  ASSERT_EQ(a->sections.size(), 3u);
  const auto fb = [](const SdpNegotiatedSection& sec) {
    return std::find(sec.codec.rtcp_fb.begin(), sec.codec.rtcp_fb.end(), "transport-cc") !=
           sec.codec.rtcp_fb.end();
  };
  EXPECT_EQ(a->sections[0].transport_cc_ext_id, 3);
  EXPECT_TRUE(fb(a->sections[0]));
  EXPECT_EQ(a->sections[1].transport_cc_ext_id, 0);
  EXPECT_FALSE(fb(a->sections[1]));
  EXPECT_EQ(a->sections[2].transport_cc_ext_id, 0);
  EXPECT_FALSE(fb(a->sections[2]));
  // The other feedback stays; the written answer has the lines for the sending section only.
  EXPECT_EQ(a->sections[1].codec.rtcp_fb, (std::vector<std::string>{"nack", "goog-remb"}));
  auto back = parseSdp(a->sdp);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->media[0].extmapId(kExtTransportCc), 3);
  EXPECT_EQ(back->media[1].extmapId(kExtTransportCc), 0);
  EXPECT_EQ(back->media[2].extmapId(kExtTransportCc), 0);
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

TEST(Sdp, ParsesMsidBothForms) {
  auto chromium = parseSdp(readCorpus("chromium_offer_av_dc.sdp"));
  ASSERT_TRUE(chromium);
  const auto& audio = chromium->media[0];
  EXPECT_EQ(audio.msid_stream, "8d477d3d-b3cd-4b21-a490-f03970216706");
  EXPECT_EQ(audio.msid_track, "1117d39b-b208-4f43-a0d7-e8da31018f73");
  const auto& video = chromium->media[1];
  EXPECT_EQ(video.msid_track, "8e299bd3-9e32-4d9e-a94c-7573b1702dba");
  ASSERT_EQ(video.ssrc_msids.size(), 2u);  // the video ssrc and its RTX ssrc
  EXPECT_EQ(video.ssrc_msids[1].ssrc, 588804388u);
  EXPECT_EQ(video.ssrc_msids[1].track_id, "8e299bd3-9e32-4d9e-a94c-7573b1702dba");
  EXPECT_TRUE(chromium->media[2].msid_stream.empty());

  // webrtcbin only has the ssrc-level form; the answer's published identity comes from it.
  auto gst = parseSdp(readCorpus("webrtcbin_offer_av.sdp"));
  ASSERT_TRUE(gst);
  EXPECT_TRUE(gst->media[0].msid_stream.empty());
  ASSERT_EQ(gst->media[0].ssrc_msids.size(), 1u);
  EXPECT_EQ(gst->media[0].ssrc_msids[0].ssrc, 1349992482u);
  EXPECT_EQ(gst->media[0].ssrc_msids[0].stream_id, "user992261002@host-89762aaa");
  EXPECT_EQ(gst->media[0].ssrc_msids[0].track_id, "webrtctransceiver0");
  auto a = buildSdpAnswer(*gst, params());
  ASSERT_TRUE(a);
  EXPECT_EQ(a->sections[1].remote_stream_id, "user992261002@host-89762aaa");
  EXPECT_EQ(a->sections[1].remote_track_id, "webrtctransceiver1");
  EXPECT_TRUE(a->sections[1].recv);

  // Only the first a=msid counts; an msid without a track id is fine; ids that are too long are ignored
  // without failing the offer; one ssrc-level msid per ssrc.
  const std::string text =
      "v=0\r\nm=audio 9 RTP/AVP 0\r\na=msid:" + std::string(kSdpMaxMsidLength + 1, 's') +
      " t\r\na=msid:s1\r\na=msid:s2 t2\r\n"
      "a=ssrc:5 msid:x y\r\na=ssrc:5 msid:other z\r\na=ssrc:6 cname:c\r\na=ssrc:7   msid:st\r\n";
  auto m = parseSdp(text);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->media[0].msid_stream, "s1");
  EXPECT_EQ(m->media[0].msid_track, "");
  ASSERT_EQ(m->media[0].ssrc_msids.size(), 2u);
  EXPECT_EQ(m->media[0].ssrc_msids[0].stream_id, "x");
  EXPECT_EQ(m->media[0].ssrc_msids[0].track_id, "y");
  EXPECT_EQ(m->media[0].ssrc_msids[1].ssrc, 7u);
  EXPECT_EQ(m->media[0].ssrc_msids[1].stream_id, "st");
  EXPECT_EQ(m->media[0].ssrcs, (std::vector<std::uint32_t>{5, 6, 7}));
}

// --- Renegotiation ------------------------------------------------------------------------------------

SdpCodec opusCodec() {
  SdpCodec c;
  c.payload_type = 111;
  c.name = "opus";
  c.clock_rate = 48000;
  c.channels = 2;
  c.fmtp = "minptime=10;useinbandfec=1";
  return c;
}

SdpCodec vp8Codec() {
  SdpCodec c;
  c.payload_type = 96;
  c.name = "VP8";
  c.clock_rate = 90000;
  c.rtcp_fb = {"nack", "nack pli", "ccm fir"};
  return c;
}

std::string answerTo(const std::string& offer_sdp, const std::map<std::string, std::string>& override = {}) {
  test::AnswerOptions o;
  o.override = override;
  return test::answerTo(offer_sdp, o);
}

std::vector<std::string> midsOf(const std::string& sdp) {
  std::vector<std::string> mids;
  auto s = parseSdp(sdp);
  if (s) {
    for (const auto& m : s->media) mids.push_back(m.mid);
  }
  return mids;
}

// The initial exchange with the Chromium corpus offer: 0 audio, 1 video (both received), 2 data channel.
SdpNegotiation chromiumSession() {
  auto offer = parseSdp(readCorpus("chromium_offer_av_dc.sdp"));
  auto a = offer ? buildSdpAnswer(*offer, params()) : std::nullopt;
  return a ? static_cast<SdpNegotiation>(*a) : SdpNegotiation{};
}

// The RFC 6464 audio level is kept where the participant sends audio (sendonly, sendrecv) and offered the
// extension; not on video, not where it only receives, and never on the sections the focus sends on.
TEST(Sdp, AudioLevelOnlyOnAudioTheParticipantSends) {
  auto section = [](const std::string& kind, const std::string& mid, const std::string& dir, bool ext) {
    const bool audio = kind == "audio";
    return "m=" + kind + " 9 UDP/TLS/RTP/SAVPF " + (audio ? "111" : "96") + "\r\na=mid:" + mid +
           "\r\na=" + dir + "\r\na=rtcp-mux\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n" +
           (ext ? "a=extmap:1 " + std::string(kExtAudioLevel) + "\r\n" : std::string()) +
           (audio ? "a=rtpmap:111 opus/48000/2\r\n" : "a=rtpmap:96 VP8/90000\r\n");
  };
  const std::string offer =
      "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE s b r v n\r\n"
      "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n"
      "a=fingerprint:sha-256 AA:BB\r\na=setup:actpass\r\n" +
      section("audio", "s", "sendonly", true) + section("audio", "b", "sendrecv", true) +
      section("audio", "r", "recvonly", true) + section("video", "v", "sendonly", true) +
      section("audio", "n", "sendonly", false);
  auto s = parseSdp(offer);
  ASSERT_TRUE(s);
  std::string why;
  auto a = buildSdpAnswer(*s, params(), &why);
  ASSERT_TRUE(a) << why;
  ASSERT_EQ(a->sections.size(), 5u);
  const std::vector<std::uint16_t> expected{1, 1, 0, 0, 0};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(a->sections[i].accepted) << i;
    EXPECT_EQ(a->sections[i].audio_level_ext_id, expected[i]) << i;
    EXPECT_EQ(a->sections[i].mid_ext_id, 4) << i;  // the other extensions are untouched
  }
  auto back = parseSdp(a->sdp);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->media.size(), 5u);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(back->media[i].extmapId(kExtAudioLevel), expected[i]) << i;
  }

  // The focus's offers: the participant's audio section keeps it, the audio and video we send get none.
  auto o = buildSdpOffer(*a, {{"audio", 1001, "alice", "alice-mic"}, {"video", 1002, "alice", "alice-cam"}},
                         opusCodec(), vp8Codec(), params(), &why);
  ASSERT_TRUE(o) << why;
  ASSERT_EQ(o->sections.size(), 7u);
  EXPECT_EQ(o->sections[0].audio_level_ext_id, 1);
  EXPECT_EQ(o->sections[5].audio_level_ext_id, 0);
  EXPECT_EQ(o->sections[6].audio_level_ext_id, 0);
  auto offered = parseSdp(o->sdp);
  ASSERT_TRUE(offered);
  EXPECT_EQ(offered->media[0].extmapId(kExtAudioLevel), 1);
  EXPECT_EQ(offered->media[5].kind, "audio");
  EXPECT_EQ(offered->media[5].extmapId(kExtAudioLevel), 0);
  EXPECT_EQ(offered->media[6].extmapId(kExtAudioLevel), 0);
  std::size_t lines = 0;
  for (auto at = o->sdp.find(kExtAudioLevel); at != std::string::npos;
       at = o->sdp.find(kExtAudioLevel, at + 1))
    ++lines;
  EXPECT_EQ(lines, 2u);  // sections "s" and "b"

  // The participant's answer (mirrored extmaps) keeps it on the sections it sends on; when it stops sending
  // on one (answers recvonly), the level goes with it.
  SdpNegotiation applied = *o;
  auto answer = parseSdp(test::answerTo(o->sdp));
  ASSERT_TRUE(answer);
  ASSERT_TRUE(applySdpAnswer(applied, *answer, &why)) << why;
  EXPECT_EQ(applied.sections[0].audio_level_ext_id, 1);
  EXPECT_EQ(applied.sections[1].audio_level_ext_id, 1);
  EXPECT_EQ(applied.sections[5].audio_level_ext_id, 0);
  SdpNegotiation stopped = *o;
  test::AnswerOptions opts;
  opts.override["b"] = "recvonly";
  auto stop_answer = parseSdp(test::answerTo(o->sdp, opts));
  ASSERT_TRUE(stop_answer);
  ASSERT_TRUE(applySdpAnswer(stopped, *stop_answer, &why)) << why;
  EXPECT_FALSE(stopped.sections[1].recv);
  EXPECT_EQ(stopped.sections[1].audio_level_ext_id, 0);
  EXPECT_EQ(stopped.sections[0].audio_level_ext_id, 1);
}

TEST(Sdp, ReofferAddsSendonlySectionsAndKeepsTheSession) {
  const SdpNegotiation current = chromiumSession();
  ASSERT_EQ(current.sections.size(), 3u);
  EXPECT_EQ(current.next_mid, 3u);
  SdpAnswerParams p = params();
  p.session_version = 3;
  p.cname = "focuscname";
  std::string why;
  auto offer =
      buildSdpOffer(current, {{"audio", 1001, "alice", "alice-mic"}, {"video", 1002, "alice", "alice-cam"}},
                    opusCodec(), vp8Codec(), p, &why);
  ASSERT_TRUE(offer) << why;
  const std::string& sdp = offer->sdp;
  EXPECT_TRUE(has(sdp, "o=- 1 3 IN IP4 127.0.0.1"));
  EXPECT_TRUE(has(sdp, "a=ice-lite"));
  EXPECT_TRUE(has(sdp, "a=group:BUNDLE 0 1 2 3 4"));
  EXPECT_EQ(sdp.find("a=setup:passive"), std::string::npos);
  EXPECT_TRUE(has(sdp, "a=setup:actpass"));
  EXPECT_TRUE(has(sdp, "a=msid:alice alice-mic"));
  EXPECT_TRUE(has(sdp, "a=ssrc:1001 cname:focuscname"));
  EXPECT_TRUE(has(sdp, "a=ssrc:1001 msid:alice alice-mic"));
  EXPECT_TRUE(has(sdp, "a=ssrc:1002 msid:alice alice-cam"));
  EXPECT_TRUE(has(sdp, "a=fmtp:111 minptime=10;useinbandfec=1"));
  EXPECT_TRUE(has(sdp, "a=rtcp-fb:96 nack pli"));
  EXPECT_TRUE(has(sdp, "a=rtcp-fb:96 ccm fir"));
  EXPECT_EQ(midsOf(sdp), (std::vector<std::string>{"0", "1", "2", "3", "4"}));

  auto back = parseSdp(sdp);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->media.size(), 5u);
  for (const auto& m : back->media) {
    EXPECT_EQ(m.port, 40000);
    EXPECT_EQ(back->iceUfragOf(m), "ufrg");
    EXPECT_EQ(back->fingerprintOf(m), "AA:BB");
    EXPECT_EQ(m.setup, "actpass");
  }
  // The participant's sections stay recvonly with their header extensions; ours are sendonly with only the
  // transport-wide sequence number, under the participant's own id (downlink congestion control).
  EXPECT_EQ(back->media[0].direction, SdpDirection::RecvOnly);
  EXPECT_EQ(back->media[0].extmapId(kExtMid), 4);
  EXPECT_EQ(back->media[1].direction, SdpDirection::RecvOnly);
  EXPECT_EQ(back->media[2].kind, "application");
  EXPECT_EQ(back->media[2].sctp_port, 5000);
  const auto& audio = back->media[3];
  EXPECT_EQ(audio.kind, "audio");
  EXPECT_EQ(audio.direction, SdpDirection::SendOnly);
  ASSERT_EQ(audio.extmaps.size(), 1u);
  EXPECT_EQ(audio.extmapId(kExtTransportCc), 3);
  EXPECT_TRUE(audio.rtcp_mux);
  EXPECT_TRUE(audio.rtcp_rsize);
  EXPECT_EQ(audio.formats, (std::vector<std::string>{"111"}));
  EXPECT_EQ(audio.ssrcs, (std::vector<std::uint32_t>{1001}));
  ASSERT_EQ(audio.ssrc_msids.size(), 1u);
  EXPECT_EQ(audio.ssrc_msids[0].track_id, "alice-mic");
  const auto& video = back->media[4];
  EXPECT_EQ(video.direction, SdpDirection::SendOnly);
  ASSERT_NE(video.findCodec("VP8"), nullptr);
  EXPECT_EQ(video.findCodec("VP8")->rtcp_fb,
            (std::vector<std::string>{"nack", "nack pli", "ccm fir", "transport-cc"}));
  ASSERT_EQ(video.extmaps.size(), 1u);
  EXPECT_EQ(video.extmapId(kExtTransportCc), 3);
  EXPECT_EQ(offer->sections[4].transport_cc_ext_id, 3);
  // The pending negotiation records what we send.
  ASSERT_EQ(offer->sections.size(), 5u);
  EXPECT_TRUE(offer->sections[3].send && !offer->sections[3].recv);
  EXPECT_EQ(offer->sections[4].send_track.ssrc, 1002u);
  EXPECT_EQ(offer->next_mid, 5u);
}

// Recycling on (from the first m-line), as for a long description.
SdpAnswerParams recyclingParams() {
  SdpAnswerParams p = params();
  p.recycle_from_sections = 0;
  return p;
}

TEST(Sdp, ReofferAppendsNewTracksWhileTheDescriptionIsShort) {
  SdpNegotiation current = chromiumSession();
  std::string why;
  auto first = buildSdpOffer(current, {{"audio", 1001, "a", "a1"}}, opusCodec(), vp8Codec(), params(), &why);
  ASSERT_TRUE(first) << why;
  SdpNegotiation pending = *first;
  auto answer = parseSdp(answerTo(first->sdp));
  ASSERT_TRUE(answer);
  ASSERT_TRUE(applySdpAnswer(pending, *answer, &why)) << why;
  current = pending;
  auto second = buildSdpOffer(current, {}, opusCodec(), vp8Codec(), params(), &why);  // a1 goes away
  ASSERT_TRUE(second) << why;
  pending = *second;
  answer = parseSdp(answerTo(second->sdp));
  ASSERT_TRUE(answer);
  ASSERT_TRUE(applySdpAnswer(pending, *answer, &why)) << why;
  current = pending;
  // The same publisher again (a new session): a new section, the rejected one stays rejected (webrtcbin 1.22
  // cannot take a recycled one).
  auto third = buildSdpOffer(current, {{"audio", 2001, "b", "b1"}}, opusCodec(), vp8Codec(), params(), &why);
  ASSERT_TRUE(third) << why;
  EXPECT_EQ(midsOf(third->sdp), (std::vector<std::string>{"0", "1", "2", "3", "4"}));
  EXPECT_FALSE(third->sections[3].accepted);
  EXPECT_TRUE(third->sections[4].send);
  EXPECT_EQ(third->sections[4].send_track.ssrc, 2001u);
  // At the bound it recycles.
  SdpAnswerParams at_bound = params();
  at_bound.recycle_from_sections = current.sections.size();
  auto fourth = buildSdpOffer(current, {{"audio", 2001, "b", "b1"}}, opusCodec(), vp8Codec(), at_bound, &why);
  ASSERT_TRUE(fourth) << why;
  EXPECT_EQ(midsOf(fourth->sdp), (std::vector<std::string>{"0", "1", "2", "4"}));
  EXPECT_TRUE(fourth->sections[3].send);
}

TEST(Sdp, ReofferRejectsRemovedTracksAndRecyclesTheirSections) {
  SdpNegotiation current = chromiumSession();
  std::string why;
  auto first = buildSdpOffer(current, {{"audio", 1001, "a", "a1"}, {"video", 1002, "a", "v1"}}, opusCodec(),
                             vp8Codec(), recyclingParams(), &why);
  ASSERT_TRUE(first) << why;
  SdpNegotiation pending = *first;
  auto answer = parseSdp(answerTo(first->sdp));
  ASSERT_TRUE(answer);
  ASSERT_TRUE(applySdpAnswer(pending, *answer, &why)) << why;
  current = pending;

  // The audio track goes away: its section is rejected (port 0, inactive, out of BUNDLE); the mids stay.
  auto second =
      buildSdpOffer(current, {{"video", 1002, "a", "v1"}}, opusCodec(), vp8Codec(), recyclingParams(), &why);
  ASSERT_TRUE(second) << why;
  EXPECT_TRUE(has(second->sdp, "a=group:BUNDLE 0 1 2 4"));
  EXPECT_TRUE(has(second->sdp, "m=audio 0 UDP/TLS/RTP/SAVPF 111"));
  EXPECT_EQ(second->sdp.find("a=ssrc:1001"), std::string::npos);
  EXPECT_EQ(midsOf(second->sdp), (std::vector<std::string>{"0", "1", "2", "3", "4"}));
  auto back = parseSdp(second->sdp);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->media[3].port, 0);
  EXPECT_EQ(back->media[3].direction, SdpDirection::Inactive);
  EXPECT_FALSE(second->sections[3].accepted);
  pending = *second;
  answer = parseSdp(answerTo(second->sdp));
  ASSERT_TRUE(answer);
  ASSERT_TRUE(applySdpAnswer(pending, *answer, &why)) << why;
  current = pending;

  // A new audio track recycles the rejected audio section in place with a new mid; a new video track (no
  // rejected video section) is appended. A kept track may change its msid.
  auto third = buildSdpOffer(
      current,
      {{"video", 1002, "b", "v1-renamed"}, {"audio", 2001, "c", "c-mic"}, {"video", 2002, "c", "c-cam"}},
      opusCodec(), vp8Codec(), recyclingParams(), &why);
  ASSERT_TRUE(third) << why;
  EXPECT_EQ(midsOf(third->sdp), (std::vector<std::string>{"0", "1", "2", "5", "4", "6"}));
  EXPECT_TRUE(has(third->sdp, "a=group:BUNDLE 0 1 2 5 4 6"));
  EXPECT_TRUE(has(third->sdp, "a=ssrc:2001 msid:c c-mic"));
  EXPECT_TRUE(has(third->sdp, "a=ssrc:1002 msid:b v1-renamed"));
  EXPECT_TRUE(has(third->sdp, "a=ssrc:2002 msid:c c-cam"));
  EXPECT_EQ(third->sections[3].send_track.ssrc, 2001u);

  // A section is only recycled when it is rejected in the CURRENT session: a track that goes away and a new
  // one in the same offer do not share a section (the old mid must still be there for the answerer).
  auto swap = buildSdpOffer(current, {{"audio", 3001, "d", "d-mic"}}, opusCodec(), vp8Codec(),
                            recyclingParams(), &why);
  ASSERT_TRUE(swap) << why;
  // mid 3 was rejected in `current`, so d-mic takes it over (new mid 5); video 4 goes to port 0.
  EXPECT_EQ(midsOf(swap->sdp), (std::vector<std::string>{"0", "1", "2", "5", "4"}));
  EXPECT_FALSE(swap->sections[4].accepted);
  auto swap2 = buildSdpOffer(current, {{"video", 3002, "d", "d-cam"}}, opusCodec(), vp8Codec(),
                             recyclingParams(), &why);
  ASSERT_TRUE(swap2) << why;
  EXPECT_EQ(midsOf(swap2->sdp), (std::vector<std::string>{"0", "1", "2", "3", "4", "5"}));
  EXPECT_FALSE(swap2->sections[4].accepted);
  EXPECT_TRUE(swap2->sections[5].send);
}

TEST(Sdp, ReofferRefusesBadTrackLists) {
  const SdpNegotiation current = chromiumSession();
  std::string why;
  EXPECT_FALSE(buildSdpOffer(current, {{"text", 1, "s", "t"}}, opusCodec(), vp8Codec(), params(), &why));
  EXPECT_FALSE(buildSdpOffer(current, {{"audio", 0, "s", "t"}}, opusCodec(), vp8Codec(), params(), &why));
  EXPECT_FALSE(buildSdpOffer(current, {{"audio", 5, "s", "t"}, {"video", 5, "s", "u"}}, opusCodec(),
                             vp8Codec(), params(), &why));
  EXPECT_NE(why.find("duplicate"), std::string::npos);
  EXPECT_FALSE(buildSdpOffer(current, {{"audio", 5, "s", "has space"}}, opusCodec(), vp8Codec(), params()));
  EXPECT_FALSE(buildSdpOffer(current, {{"audio", 5, "s", ""}}, opusCodec(), vp8Codec(), params()));
  EXPECT_FALSE(buildSdpOffer(current, {{"audio", 5, std::string(kSdpMaxMsidLength + 1, 's'), "t"}},
                             opusCodec(), vp8Codec(), params()));
  // An empty stream id is written as "-" (no stream).
  auto ok = buildSdpOffer(current, {{"audio", 5, "", "t"}}, opusCodec(), vp8Codec(), params());
  ASSERT_TRUE(ok);
  EXPECT_TRUE(has(ok->sdp, "a=msid:- t"));
  // The section bound.
  std::vector<SendTrack> many;
  for (std::uint32_t i = 0; i < kSdpMaxMediaSections; ++i) many.push_back({"video", 100 + i, "s", "t"});
  EXPECT_FALSE(buildSdpOffer(current, many, opusCodec(), vp8Codec(), params(), &why));
  many.resize(kSdpMaxMediaSections - current.sections.size());
  auto full = buildSdpOffer(current, many, opusCodec(), vp8Codec(), params(), &why);
  ASSERT_TRUE(full) << why;
  EXPECT_TRUE(parseSdp(full->sdp));  // the parser takes what the writer makes at the bound
}

TEST(Sdp, TheSectionBoundIsAParameter) {
  const SdpNegotiation current = chromiumSession();
  // 300 audio tracks: over the default bound, within a raised one, and the raised parser takes the result.
  std::vector<SendTrack> many;
  for (std::uint32_t i = 0; i < 300; ++i) many.push_back({"audio", 100 + i, "s" + std::to_string(i), "t"});
  std::string why;
  EXPECT_FALSE(buildSdpOffer(current, many, opusCodec(), vp8Codec(), params(), &why));
  EXPECT_NE(why.find("more than 64 m-lines"), std::string::npos) << why;
  SdpAnswerParams raised = params();
  raised.max_media_sections = 320;
  auto offer = buildSdpOffer(current, many, opusCodec(), vp8Codec(), raised, &why);
  ASSERT_TRUE(offer) << why;
  SdpError err{};
  EXPECT_FALSE(parseSdp(offer->sdp, &err));
  EXPECT_TRUE(err == SdpError::TooManyEntries || err == SdpError::TooLarge) << toString(err);
  const SdpLimits limits = SdpLimits::forSections(320);
  EXPECT_EQ(limits.max_size, 320u * 4096);
  auto parsed = parseSdp(offer->sdp, limits, &err);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->media.size(), current.sections.size() + 300);
  // The bound still holds: one section more than it fails, and so does a text over its size.
  EXPECT_FALSE(parseSdp(offer->sdp, SdpLimits{parsed->media.size() - 1, limits.max_size}, &err));
  EXPECT_EQ(err, SdpError::TooManyEntries);  // the BUNDLE group, before the m-lines
  EXPECT_FALSE(parseSdp(offer->sdp, SdpLimits{limits.max_media_sections, offer->sdp.size() - 1}, &err));
  EXPECT_EQ(err, SdpError::TooLarge);
  EXPECT_EQ(SdpLimits::forSections(8).max_size, kSdpMaxSize);
  raised.max_media_sections = 300;  // the bound counts the sections the session already has
  EXPECT_FALSE(buildSdpOffer(current, many, opusCodec(), vp8Codec(), raised, &why));
}

TEST(Sdp, ApplyAnswerChecksTheAnswerAgainstTheOffer) {
  const SdpNegotiation current = chromiumSession();
  auto offer = buildSdpOffer(current, {{"audio", 1001, "a", "a1"}, {"video", 1002, "a", "v1"}}, opusCodec(),
                             vp8Codec(), params());
  ASSERT_TRUE(offer);
  const std::string good = answerTo(offer->sdp);
  std::string why;
  {  // one m-line short
    std::string text = good.substr(0, good.rfind("m=video"));
    SdpNegotiation pending = *offer;
    EXPECT_FALSE(applySdpAnswer(pending, *parseSdp(text), &why));
    EXPECT_NE(why.find("m-lines"), std::string::npos);
    EXPECT_TRUE(pending.sections[4].send);  // unchanged
  }
  {  // a different mid
    std::string text = good;
    text.replace(text.find("a=mid:4"), 7, "a=mid:9");
    SdpNegotiation pending = *offer;
    EXPECT_FALSE(applySdpAnswer(pending, *parseSdp(text), &why));
  }
  {  // our payload type dropped
    std::string text = good;
    text.replace(text.rfind("m=audio 9 UDP/TLS/RTP/SAVPF 111"), 31, "m=audio 9 UDP/TLS/RTP/SAVPF 0");
    text.replace(text.rfind("a=rtpmap:111 opus/48000"), 23, "a=rtpmap:0 PCMU/8000");
    SdpNegotiation pending = *offer;
    EXPECT_FALSE(applySdpAnswer(pending, *parseSdp(text), &why));
    EXPECT_NE(why.find("payload type"), std::string::npos);
  }
  {  // the participant rejects our video and refuses our audio (inactive), and stops sending its video
    SdpNegotiation pending = *offer;
    auto text = answerTo(offer->sdp, {{"4", "reject"}, {"3", "inactive"}, {"1", "inactive"}});
    ASSERT_TRUE(applySdpAnswer(pending, *parseSdp(text), &why)) << why;
    EXPECT_FALSE(pending.sections[4].accepted);
    EXPECT_TRUE(pending.sections[3].accepted);
    EXPECT_FALSE(pending.sections[3].send);
    EXPECT_FALSE(pending.sections[1].recv);
    EXPECT_TRUE(pending.sections[0].recv);
    // Header extensions the answer kept stay negotiated.
    EXPECT_EQ(pending.sections[0].mid_ext_id, 4);
  }
  {  // the answer drops the mid extension: it is no longer negotiated
    SdpNegotiation pending = *offer;
    std::string text = good;
    const auto at = text.find("a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n");
    ASSERT_NE(at, std::string::npos);
    text.erase(at, std::string("a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n").size());
    ASSERT_TRUE(applySdpAnswer(pending, *parseSdp(text), &why)) << why;
    EXPECT_EQ(pending.sections[0].mid_ext_id, 0);
    EXPECT_EQ(pending.sections[1].mid_ext_id, 4);
  }
}

TEST(Sdp, AppliesChromium156AnswerToAFocusReoffer) {
  // Recorded by io_browser_focus_e2e: Chromium's answer to the focus's re-offer (2 sendonly sections added).
  auto answer = parseSdp(readCorpus("chromium_answer_to_focus_reoffer.sdp"));
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->media.size(), 5u);
  EXPECT_EQ(answer->setupOf(answer->media[0]), "active");  // Chromium keeps the DTLS client role
  EXPECT_EQ(answer->media[3].direction, SdpDirection::RecvOnly);
  auto offer = buildSdpOffer(chromiumSession(), {{"audio", 1001, "echo", "a"}, {"video", 1002, "echo", "v"}},
                             opusCodec(), vp8Codec(), params());
  ASSERT_TRUE(offer);
  SdpNegotiation pending = *offer;
  std::string why;
  ASSERT_TRUE(applySdpAnswer(pending, *answer, &why)) << why;
  EXPECT_TRUE(pending.sections[0].recv && !pending.sections[0].send);
  EXPECT_TRUE(pending.sections[1].recv);
  EXPECT_TRUE(pending.sections[3].send && !pending.sections[3].recv);
  EXPECT_TRUE(pending.sections[4].send);
  EXPECT_EQ(pending.sections[0].mid_ext_id, 4);  // both sides kept the mid extension on mid 0
}

// What Chromium sends when the participant adds a screen share after our re-offer: every section again (ours
// now recvonly from its side), plus a new sendonly video section.
std::string participantReoffer(const std::string& their_dir_of_our_audio = "recvonly") {
  std::string s =
      "v=0\r\no=- 5 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2 3 4 5\r\n"
      "a=ice-ufrag:brws\r\na=ice-pwd:browserpassword0123456789\r\na=fingerprint:sha-256 AA:CC\r\n"
      "a=setup:actpass\r\n";
  auto av = [](const std::string& kind, const std::string& mid, const std::string& dir,
               const std::string& extra) {
    const std::string pt = kind == "audio" ? "111" : "96";
    return "m=" + kind + " 9 UDP/TLS/RTP/SAVPF " + pt + " 0\r\na=mid:" + mid + "\r\na=" + dir +
           "\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n" +
           "a=rtpmap:" + pt + (kind == "audio" ? " opus/48000/2" : " VP8/90000") +
           "\r\na=rtpmap:0 PCMU/8000\r\n" + extra;
  };
  s += av("audio", "0", "sendonly", "a=msid:st mic\r\na=ssrc:11 cname:x\r\n");
  s += av("video", "1", "sendonly", "a=msid:st cam\r\na=ssrc:12 cname:x\r\n");
  s += "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\na=sctp-port:5000\r\n";
  s += av("audio", "3", their_dir_of_our_audio, "");
  s += av("video", "4", "recvonly", "");
  s += av("video", "5", "sendonly", "a=msid:st screen\r\na=ssrc:13 cname:x\r\na=ssrc:13 msid:st screen\r\n");
  return s;
}

SdpNegotiation sessionWithOurTracks() {
  SdpNegotiation current = chromiumSession();
  auto offer = buildSdpOffer(current, {{"audio", 1001, "a", "a1"}, {"video", 1002, "a", "v1"}}, opusCodec(),
                             vp8Codec(), params());
  if (!offer) return {};
  SdpNegotiation pending = *offer;
  auto answer = parseSdp(answerTo(offer->sdp));
  if (!answer || !applySdpAnswer(pending, *answer)) return {};
  return pending;
}

TEST(Sdp, ParticipantReofferIsAnsweredWithOurSendSections) {
  const SdpNegotiation current = sessionWithOurTracks();
  ASSERT_EQ(current.sections.size(), 5u);
  auto reoffer = parseSdp(participantReoffer());
  ASSERT_TRUE(reoffer);
  std::string why;
  auto a = buildSdpAnswer(*reoffer, params(), &current, &why);
  ASSERT_TRUE(a) << why;
  const std::string& sdp = a->sdp;
  EXPECT_TRUE(has(sdp, "a=group:BUNDLE 0 1 2 3 4 5"));
  EXPECT_EQ(sdp.find("a=setup:actpass"), std::string::npos);
  auto back = parseSdp(sdp);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->media.size(), 6u);
  EXPECT_EQ(back->media[0].direction, SdpDirection::RecvOnly);
  EXPECT_EQ(back->media[3].direction, SdpDirection::SendOnly);
  EXPECT_EQ(back->media[3].ssrcs, (std::vector<std::uint32_t>{1001}));
  EXPECT_EQ(back->media[3].msid_track, "a1");
  EXPECT_TRUE(back->media[3].extmaps.empty());
  EXPECT_EQ(back->media[4].direction, SdpDirection::SendOnly);
  EXPECT_EQ(back->media[4].ssrcs, (std::vector<std::uint32_t>{1002}));
  EXPECT_EQ(back->media[5].direction, SdpDirection::RecvOnly);
  EXPECT_EQ(back->media[5].extmapId(kExtMid), 4);
  EXPECT_TRUE(a->sections[5].recv);
  EXPECT_EQ(a->sections[5].remote_track_id, "screen");
  EXPECT_EQ(a->sections[5].ssrcs, (std::vector<std::uint32_t>{13}));
  EXPECT_EQ(a->next_mid, 6u);

  // The participant now also sends on our audio section (addTrack reused the transceiver): sendrecv.
  auto sendrecv = buildSdpAnswer(*parseSdp(participantReoffer("sendrecv")), params(), &current, &why);
  ASSERT_TRUE(sendrecv) << why;
  EXPECT_TRUE(sendrecv->sections[3].send && sendrecv->sections[3].recv);
  EXPECT_EQ(parseSdp(sendrecv->sdp)->media[3].direction, SdpDirection::SendRecv);
  // ... and when we stop sending there, our next offer leaves it recvonly instead of rejecting it.
  auto next = buildSdpOffer(*sendrecv, {{"video", 1002, "a", "v1"}}, opusCodec(), vp8Codec(), params(), &why);
  ASSERT_TRUE(next) << why;
  EXPECT_TRUE(next->sections[3].accepted);
  EXPECT_EQ(parseSdp(next->sdp)->media[3].direction, SdpDirection::RecvOnly);

  // The participant stops receiving our audio (port 0): the section is rejected, and the track is offered
  // again in a new section next time.
  std::string stopped = participantReoffer();
  stopped.replace(stopped.find("m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=mid:3"), 9, "m=audio 0");
  auto st = parseSdp(stopped);
  ASSERT_TRUE(st);
  ASSERT_EQ(st->media[3].port, 0);
  ASSERT_EQ(st->media[3].proto, "UDP/TLS/RTP/SAVPF");
  auto sa = buildSdpAnswer(*st, params(), &current, &why);
  ASSERT_TRUE(sa) << why;
  EXPECT_FALSE(sa->sections[3].accepted);
  EXPECT_TRUE(has(sa->sdp, "a=group:BUNDLE 0 1 2 4 5"));
  auto again = buildSdpOffer(*sa, {{"audio", 1001, "a", "a1"}, {"video", 1002, "a", "v1"}}, opusCodec(),
                             vp8Codec(), params(), &why);
  ASSERT_TRUE(again) << why;
  EXPECT_EQ(midsOf(again->sdp), (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6"}));
  // With recycling on, the rejected section is taken over in place.
  auto recycled = buildSdpOffer(*sa, {{"audio", 1001, "a", "a1"}, {"video", 1002, "a", "v1"}}, opusCodec(),
                                vp8Codec(), recyclingParams(), &why);
  ASSERT_TRUE(recycled) << why;
  EXPECT_EQ(midsOf(recycled->sdp), (std::vector<std::string>{"0", "1", "2", "6", "4", "5"}));
}

TEST(Sdp, ParticipantReofferMustKeepTheSession) {
  const SdpNegotiation current = sessionWithOurTracks();
  std::string why;
  std::string moved = participantReoffer();
  moved.replace(moved.find("a=mid:4"), 7, "a=mid:7");
  EXPECT_FALSE(buildSdpAnswer(*parseSdp(moved), params(), &current, &why));
  EXPECT_NE(why.find("changed its mid"), std::string::npos);
  std::string shorter = participantReoffer();
  shorter = shorter.substr(0, shorter.find("m=video 9 UDP/TLS/RTP/SAVPF 96 0\r\na=mid:4"));
  EXPECT_FALSE(buildSdpAnswer(*parseSdp(shorter), params(), &current, &why));
  EXPECT_NE(why.find("fewer m-lines"), std::string::npos);
}

}  // namespace
}  // namespace chorus::io

namespace chorus::io {
namespace {

// A video section that offers H.264 only (as Chromium does after setCodecPreferences), best entry last.
const char* kH264Offer =
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 102 106 108\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\na=fingerprint:sha-256 "
    "AA:CC\r\na=setup:actpass\r\n"
    "a=rtpmap:102 H264/90000\r\na=rtcp-fb:102 nack\r\n"
    "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\r\n"
    "a=rtpmap:106 H264/90000\r\na=fmtp:106 "
    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n"
    "a=rtpmap:108 H264/90000\r\na=rtcp-fb:108 nack pli\r\n"
    "a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n";

TEST(Sdp, H264IsAnsweredWhenVp8IsNotOffered) {
  auto offer = parseSdp(kH264Offer);
  ASSERT_TRUE(offer);
  EXPECT_EQ(offer->media[0].findH264()->payload_type, 108);  // packetization-mode=1 + 42e01f
  auto a = buildSdpAnswer(*offer, params());
  ASSERT_TRUE(a);
  EXPECT_TRUE(has(a->sdp, "m=video 40000 UDP/TLS/RTP/SAVPF 108"));
  EXPECT_TRUE(has(a->sdp, "a=rtpmap:108 H264/90000"));
  EXPECT_TRUE(
      has(a->sdp, "a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"));
  EXPECT_EQ(a->sections[0].codec.name, "H264");
  // VP8 still wins when both are offered.
  auto both = parseSdp(
      std::string(kH264Offer).replace(std::string(kH264Offer).find("102 106 108"), 11, "102 106 108 96") +
      "a=rtpmap:96 VP8/90000\r\n");
  ASSERT_TRUE(both);
  auto b = buildSdpAnswer(*both, params());
  ASSERT_TRUE(b);
  EXPECT_EQ(b->sections[0].codec.name, "VP8");
}

TEST(Sdp, ReofferUsesTheTracksOwnCodec) {
  const SdpNegotiation current = chromiumSession();
  SdpCodec h264;
  h264.payload_type = 108;
  h264.name = "H264";
  h264.clock_rate = 90000;
  h264.fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
  h264.rtcp_fb = {"nack", "nack pli"};
  std::string why;
  SendTrack t{"video", 2001, "bob", "bob-cam", h264};
  auto offer = buildSdpOffer(current, {{"video", 1002, "alice", "alice-cam"}, t}, opusCodec(), vp8Codec(),
                             params(), &why);
  ASSERT_TRUE(offer) << why;
  EXPECT_TRUE(has(offer->sdp, "a=rtpmap:108 H264/90000"));
  EXPECT_TRUE(
      has(offer->sdp, "a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"));
  EXPECT_TRUE(has(offer->sdp, "a=ssrc:2001 msid:bob bob-cam"));
  EXPECT_TRUE(has(offer->sdp, "a=rtpmap:96 VP8/90000"));  // alice's VP8 track
}

}  // namespace
}  // namespace chorus::io

namespace chorus::io {
namespace {

// Downlink transport-cc: never offered to a participant that did not offer the extension itself, nor when
// turned off; kept when the participant's answer accepts it, and gone when it does not.
TEST(Sdp, DownlinkTransportCcFollowsTheParticipant) {
  const SdpNegotiation current = chromiumSession();
  ASSERT_EQ(current.remote_transport_cc_id, 3);
  const std::vector<SendTrack> tracks{{"video", 2002, "alice", "alice-cam", {}}};
  SdpAnswerParams off = params();
  off.downlink_transport_cc = false;
  auto plain = buildSdpOffer(current, tracks, opusCodec(), vp8Codec(), off);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->sections.back().transport_cc_ext_id, 0);
  EXPECT_EQ(plain->sdp.find("transport-cc"), std::string::npos);

  SdpNegotiation none = current;
  none.remote_transport_cc_id = 0;
  auto without = buildSdpOffer(none, tracks, opusCodec(), vp8Codec(), params());
  ASSERT_TRUE(without);
  EXPECT_EQ(without->sections.back().transport_cc_ext_id, 0);

  auto offer = buildSdpOffer(current, tracks, opusCodec(), vp8Codec(), params());
  ASSERT_TRUE(offer);
  ASSERT_EQ(offer->sections.back().transport_cc_ext_id, 3);
  SdpNegotiation accepted = *offer;
  ASSERT_TRUE(applySdpAnswer(accepted, *parseSdp(answerTo(offer->sdp))));
  EXPECT_EQ(accepted.sections.back().transport_cc_ext_id, 3);
  // An answer that drops the extension (or gives it another id) turns it off for that section.
  std::string stripped;
  for (std::size_t pos = 0; pos < offer->sdp.size();) {
    const auto end = offer->sdp.find("\r\n", pos);
    const std::string line = offer->sdp.substr(pos, end - pos);
    pos = end + 2;
    if (line.find(kExtTransportCc) == std::string::npos) stripped += line + "\r\n";
  }
  SdpNegotiation refused = *offer;
  ASSERT_TRUE(applySdpAnswer(refused, *parseSdp(answerTo(stripped))));
  EXPECT_EQ(refused.sections.back().transport_cc_ext_id, 0);

  // webrtcbin 1.22's form: the section it receives on has `a=rtcp-fb:<pt> transport-cc` and no extmap line
  // (its rtpbin takes the id from our offer and sends the feedback): the extension stays, under the offered
  // id.
  const std::string webrtcbin = answerTo(stripped) +
                                "a=rtcp-fb:" + std::to_string(offer->sections.back().codec.payload_type) +
                                " transport-cc\r\n";
  const auto webrtcbin_answer = parseSdp(webrtcbin);
  ASSERT_TRUE(webrtcbin_answer);
  ASSERT_EQ(webrtcbin_answer->media.back().extmapId(kExtTransportCc), 0);
  SdpNegotiation by_feedback = *offer;
  ASSERT_TRUE(applySdpAnswer(by_feedback, *webrtcbin_answer));
  EXPECT_EQ(by_feedback.sections.back().transport_cc_ext_id, 3);
  // ... but not on a section the participant sends on (our receive side keeps only what the answer lists).
  EXPECT_EQ(by_feedback.sections.front().transport_cc_ext_id, refused.sections.front().transport_cc_ext_id);
}

// ---- RTX (RFC 4588) ----

TEST(Sdp, RtxIsParsedAndAcceptedFromThePublisher) {
  auto s = parseSdp(readCorpus("chromium_offer_av_dc.sdp"));
  ASSERT_TRUE(s);
  const auto& video = s->media[1];
  ASSERT_NE(video.findCodec("VP8"), nullptr);
  EXPECT_EQ(video.findCodec("VP8")->rtx_payload_type, 97);
  EXPECT_EQ(video.findCodec("rtx")->rtx_payload_type, 0);
  EXPECT_EQ(s->media[0].findCodec("opus")->rtx_payload_type, 0);
  ASSERT_EQ(video.fid_groups.size(), 1u);
  EXPECT_EQ(video.fid_groups[0], (std::pair<std::uint32_t, std::uint32_t>{858539017u, 588804388u}));

  std::string why;
  auto a = buildSdpAnswer(*s, params(), &why);
  ASSERT_TRUE(a) << why;
  EXPECT_TRUE(has(a->sdp, "a=rtpmap:97 rtx/90000"));
  EXPECT_TRUE(has(a->sdp, "a=fmtp:97 apt=96"));
  EXPECT_FALSE(has(a->sdp, "a=rtpmap:103 rtx/90000"));  // only the RTX of the codec we use
  EXPECT_EQ(a->sections[1].codec.rtx_payload_type, 97);
  EXPECT_EQ(a->sections[1].fid_groups, video.fid_groups);

  // RTX off (chorus focus --no-rtx, ServiceOptions::rtx): the answer has no rtx, so neither side uses it.
  SdpAnswerParams no_rtx = params();
  no_rtx.rtx = false;
  auto plain = buildSdpAnswer(*s, no_rtx, &why);
  ASSERT_TRUE(plain) << why;
  EXPECT_EQ(plain->sdp.find(" rtx/90000"), std::string::npos);
  EXPECT_EQ(plain->sections[1].codec.rtx_payload_type, 0);
  EXPECT_EQ(a->sections[0].codec.rtx_payload_type, 0);
  EXPECT_EQ(a->sdp.find("a=ssrc-group"), std::string::npos);  // our answer sends nothing here
  auto back = parseSdp(a->sdp);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->media[1].formats, (std::vector<std::string>{"96", "97"}));
  EXPECT_EQ(back->media[1].findCodec("VP8")->rtx_payload_type, 97);
}

TEST(Sdp, RtxParsingIsOrderIndependentAndIgnoresBadApt) {
  const std::string head =
      "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99\r\n"
      "a=mid:0\r\n";
  // fmtp lines before the codec they name, apt with more parameters, an apt naming itself or nothing.
  auto s =
      parseSdp(head +
               "a=rtpmap:97 rtx/90000\r\na=fmtp:97 rtx-time=3000; apt=96\r\na=rtpmap:96 VP8/90000\r\n"
               "a=rtpmap:98 rtx/90000\r\na=fmtp:98 apt=98\r\na=rtpmap:99 rtx/90000\r\na=fmtp:99 apt=x\r\n"
               "a=ssrc-group:FID 1 2\r\na=ssrc-group:SIM 1 3 5\r\n");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->media[0].findCodec("VP8")->rtx_payload_type, 97);
  ASSERT_EQ(s->media[0].fid_groups.size(), 1u);
  // A malformed FID group is a bad attribute; too many are too many.
  SdpError err{};
  EXPECT_FALSE(parseSdp(head + "a=ssrc-group:FID 1\r\n", &err));
  EXPECT_EQ(err, SdpError::BadAttribute);
  std::string many = head;
  for (std::size_t i = 0; i <= kSdpMaxSsrcsPerSection; ++i) many += "a=ssrc-group:FID 1 2\r\n";
  EXPECT_FALSE(parseSdp(many, &err));
  EXPECT_EQ(err, SdpError::TooManyEntries);
}

TEST(Sdp, OfferToSubscriberHasRtxPerVideoTrackAndTheAnswerDecides) {
  const SdpNegotiation current = chromiumSession();
  SdpCodec vp8 = vp8Codec();
  vp8.rtx_payload_type = 97;
  SendTrack cam{"video", 1002, "alice", "alice-cam"};
  cam.rtx_ssrc = 2002;
  SdpAnswerParams p = params();
  p.cname = "focuscname";
  std::string why;
  auto offer =
      buildSdpOffer(current, {{"audio", 1001, "alice", "alice-mic"}, cam}, opusCodec(), vp8, p, &why);
  ASSERT_TRUE(offer) << why;
  const std::string& sdp = offer->sdp;
  EXPECT_TRUE(has(sdp, "m=video 40000 UDP/TLS/RTP/SAVPF 96 97"));
  EXPECT_TRUE(has(sdp, "a=rtpmap:97 rtx/90000"));
  EXPECT_TRUE(has(sdp, "a=fmtp:97 apt=96"));
  EXPECT_TRUE(has(sdp, "a=ssrc-group:FID 1002 2002"));
  EXPECT_TRUE(has(sdp, "a=ssrc:2002 cname:focuscname"));
  EXPECT_TRUE(has(sdp, "a=ssrc:2002 msid:alice alice-cam"));
  EXPECT_TRUE(has(sdp, "m=audio 40000 UDP/TLS/RTP/SAVPF 111"));  // no RTX for audio
  auto back = parseSdp(sdp);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->media[4].fid_groups, (std::vector<std::pair<std::uint32_t, std::uint32_t>>{{1002, 2002}}));
  EXPECT_EQ(back->media[4].ssrcs, (std::vector<std::uint32_t>{1002, 2002}));
  EXPECT_EQ(offer->sections[4].codec.rtx_payload_type, 97);

  // A browser's answer that keeps RTX (rtpmap + fmtp apt): negotiated.
  std::string with_rtx = answerTo(sdp);
  const std::string vp8_line = "a=rtpmap:96 VP8/90000\r\n";
  const auto at = with_rtx.rfind(vp8_line);
  ASSERT_NE(at, std::string::npos);
  const auto fmtp_at = with_rtx.find("a=rtpmap:97 rtx/90000\r\n", at);
  ASSERT_NE(fmtp_at, std::string::npos);
  with_rtx.insert(fmtp_at + std::string("a=rtpmap:97 rtx/90000\r\n").size(), "a=fmtp:97 apt=96\r\n");
  SdpNegotiation kept = *offer;
  ASSERT_TRUE(applySdpAnswer(kept, *parseSdp(with_rtx), &why)) << why;
  EXPECT_EQ(kept.sections[4].codec.rtx_payload_type, 97);

  // An answer without it (no fmtp apt for 97): RTX is off on that section, and our next offer leaves it out.
  SdpNegotiation dropped = *offer;
  ASSERT_TRUE(applySdpAnswer(dropped, *parseSdp(answerTo(sdp)), &why)) << why;
  EXPECT_EQ(dropped.sections[4].codec.rtx_payload_type, 0);
  auto next = buildSdpOffer(dropped, {{"audio", 1001, "alice", "alice-mic"}, cam}, opusCodec(), vp8, p, &why);
  ASSERT_TRUE(next) << why;
  EXPECT_FALSE(has(next->sdp, "a=ssrc-group:FID 1002 2002"));
  EXPECT_EQ(next->sdp.find("a=ssrc:2002"), std::string::npos);

  // RTX SSRCs may not clash with any track's SSRC.
  SendTrack clash = cam;
  clash.rtx_ssrc = 1001;
  EXPECT_FALSE(
      buildSdpOffer(current, {{"audio", 1001, "alice", "alice-mic"}, clash}, opusCodec(), vp8, p, &why));
  clash.rtx_ssrc = 1002;
  EXPECT_FALSE(buildSdpOffer(current, {clash}, opusCodec(), vp8, p, &why));
}

}  // namespace
}  // namespace chorus::io
