// The audio level of `chorus bench focus --audio-only`'s synthetic participants: offered on the audio m-line,
// taken with the id the focus's answer keeps, and stamped on every audio packet (speech levels for speakers,
// 127 for silent participants).
#include "bench/focus/synthetic_participant.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include <array>
#include <set>
#include <string>

#include "io/sdp.hpp"
#include "media/rtp/rtp_packet.hpp"

namespace chorus::focus::bench {
namespace {

namespace asio = boost::asio;

// The focus's side of an answer, with a real certificate fingerprint (the participant checks its form).
io::SdpAnswerParams focusParams(const io::DtlsIdentity& focus) {
  io::SdpAnswerParams p;
  p.ice_ufrag = "ufrg";
  p.ice_pwd = "0123456789abcdefghijkl";
  p.fingerprint = focus.fingerprint();
  p.candidates = {{"127.0.0.1", 40000, false}};
  return p;
}

TEST(SyntheticParticipant, AudioPeerOffersTheAudioLevelAndUsesTheAnsweredId) {
  asio::io_context io;
  auto identity = io::DtlsIdentity::generate("bench-test");
  auto focus = io::DtlsIdentity::generate("bench-test-focus");
  ASSERT_TRUE(identity && focus);
  SyntheticTraffic traffic;
  traffic.audio_level = true;
  SyntheticParticipant peer(io, *identity, 3, SyntheticParticipant::Role::AudioPeer, traffic);
  const std::string offer_sdp = peer.offerSdp();
  auto offer = io::parseSdp(offer_sdp);
  ASSERT_TRUE(offer);
  ASSERT_EQ(offer->media.front().kind, "audio");
  EXPECT_EQ(offer->media.front().extmapId(io::kExtAudioLevel), kBenchAudioLevelExtId);

  // The focus's own answer code decides; the participant takes the id it kept.
  std::string why;
  auto answer = io::buildSdpAnswer(*offer, focusParams(*focus), &why);
  ASSERT_TRUE(answer) << why;
  EXPECT_EQ(peer.audioLevelExtId(), 0);
  const asio::ip::udp::endpoint fallback(asio::ip::make_address("127.0.0.1"), 40000);
  ASSERT_TRUE(peer.applyAnswer(answer->sdp, fallback));
  EXPECT_EQ(peer.audioLevelExtId(), kBenchAudioLevelExtId);

  // An answer without the extension (a focus that does not keep it): no level is stamped.
  SyntheticParticipant other(io, *identity, 4, SyntheticParticipant::Role::AudioPeer, traffic);
  auto other_offer = io::parseSdp(other.offerSdp());
  ASSERT_TRUE(other_offer);
  auto other_answer = io::buildSdpAnswer(*other_offer, focusParams(*focus), &why);
  ASSERT_TRUE(other_answer) << why;
  std::string stripped;
  for (std::size_t at = 0; at < other_answer->sdp.size();) {
    const std::size_t end = other_answer->sdp.find("\r\n", at);
    const std::string line = other_answer->sdp.substr(at, end - at);
    if (line.find(io::kExtAudioLevel) == std::string::npos) stripped += line + "\r\n";
    at = end + 2;
  }
  ASSERT_TRUE(other.applyAnswer(stripped, fallback));
  EXPECT_EQ(other.audioLevelExtId(), 0);

  // Without SyntheticTraffic::audio_level nothing is offered.
  SyntheticParticipant plain(io, *identity, 5, SyntheticParticipant::Role::AudioPeer, SyntheticTraffic{});
  EXPECT_EQ(plain.offerSdp().find(io::kExtAudioLevel), std::string::npos);
}

TEST(SyntheticParticipant, AudioPacketsCarryMidAndLevel) {
  std::array<std::uint8_t, 512> buf{};
  const std::size_t n = writeSyntheticRtp(buf.data(), buf.size(), false, 0x1111, 7, 960, false, false, false,
                                          0, "0", 100, 2, 12345, AudioLevelElement{1, 0x80 | 33});
  ASSERT_GT(n, 0u);
  auto p = media::RtpPacketView::parse(media::ByteSpan(buf.data(), n));
  ASSERT_TRUE(p);
  EXPECT_EQ(media::parseSdesExtension(p->findExtension(kBenchMidExtId)->data), "0");
  auto level = media::parseAudioLevel(p->findExtension(1)->data);
  ASSERT_TRUE(level);
  EXPECT_EQ(level->level, 33);
  EXPECT_TRUE(level->voice);
  EXPECT_EQ(p->payload().size(), 100u);
  // Without a level the packet is as before: the mid alone in one word.
  const std::size_t m = writeSyntheticRtp(buf.data(), buf.size(), false, 0x1111, 7, 960, false, false, false,
                                          0, "0", 100, 2, 12345);
  EXPECT_EQ(m, n);
  p = media::RtpPacketView::parse(media::ByteSpan(buf.data(), m));
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->findExtension(1));
}

TEST(SyntheticParticipant, SpeechLevelsMoveWithinTheSpeechRange) {
  for (std::uint16_t publisher = 0; publisher < 4; ++publisher) {
    std::set<int> seen;
    for (std::uint64_t packet = 0; packet < 500; ++packet) {
      const int level = syntheticSpeechLevel(publisher, packet);
      ASSERT_GE(level, kBenchSpeechLevelLoudest);
      ASSERT_LE(level, kBenchSpeechLevelQuietest);
      seen.insert(level);
    }
    EXPECT_GE(seen.size(), 10u) << publisher;  // it varies, like speech
  }
  // The publishers differ.
  int differ = 0;
  for (std::uint64_t packet = 0; packet < 50; packet += 10)
    differ += syntheticSpeechLevel(0, packet) != syntheticSpeechLevel(1, packet);
  EXPECT_GT(differ, 0);
}

}  // namespace
}  // namespace chorus::focus::bench
