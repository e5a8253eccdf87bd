// UdpServer + WebRtcPeer over a real UDP socket on 127.0.0.1, against a hand-made "browser": our own
// client-role DtlsTransport, SctpAssociation and an SRTP session, sending hand-built STUN checks. Runs
// without Chromium, so it also runs under ASan in the normal suite.
#include "io/webrtc_peer.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "io/udp_server.hpp"
#include "io_test_util.hpp"
#include "media/rtcp/rtcp_packet.hpp"
#include "media/srtp/evp_srtp_session.hpp"
#include "media/srtp/srtp_session.hpp"
#include "sdp_test_util.hpp"

namespace chorus::io {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;

constexpr std::string_view kClientUfrag = "brws";
constexpr std::string_view kClientPwd = "browserpassword0123456789";

std::string offerFor(const DtlsIdentity& client) {
  return "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\n"
         "a=ice-ufrag:" +
         std::string(kClientUfrag) + "\r\na=ice-pwd:" + std::string(kClientPwd) + "\r\n" +
         "a=fingerprint:sha-256 " + client.fingerprint() + "\r\na=setup:actpass\r\n" +
         "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n"
         "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=rtpmap:111 opus/48000/2\r\n"
         "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\na=rtcp-mux\r\n"
         "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
         "a=rtpmap:96 VP8/90000\r\na=msid:cam-stream cam-track\r\na=ssrc:2222 cname:x\r\n"
         "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\n"
         "a=sctp-port:5000\r\n";
}

std::string attr(const std::string& sdp, const std::string& name) {
  const auto at = sdp.find("a=" + name + ":");
  if (at == std::string::npos) return {};
  const auto start = at + name.size() + 3;
  return sdp.substr(start, sdp.find("\r\n", start) - start);
}

// RTP with a one-byte mid extension (id 4) when `mid` is set.
std::vector<std::uint8_t> rtp(std::uint8_t pt, std::uint16_t seq, std::uint32_t ssrc, std::string_view mid) {
  std::vector<std::uint8_t> p(12);
  p[0] = 0x80;
  p[1] = pt;
  media::store16(p.data() + 2, seq);
  media::store32(p.data() + 4, seq * 960u);
  media::store32(p.data() + 8, ssrc);
  if (!mid.empty()) {
    p[0] |= 0x10;
    const std::size_t words = (1 + mid.size() + 3) / 4;
    p.resize(16 + words * 4, 0);
    media::store16(p.data() + 12, 0xBEDE);
    media::store16(p.data() + 14, static_cast<std::uint16_t>(words));
    p[16] = static_cast<std::uint8_t>((4 << 4) | (mid.size() - 1));
    std::copy(mid.begin(), mid.end(), p.begin() + 17);
  }
  p.insert(p.end(), 100, 0x42);
  return p;
}

// RTP with one-byte header extensions {id, value}.
std::vector<std::uint8_t> rtpWithExtensions(std::uint8_t pt, std::uint16_t seq, std::uint32_t ssrc,
                                            const std::vector<std::pair<std::uint8_t, std::string>>& exts) {
  std::vector<std::uint8_t> p(12);
  p[0] = 0x80;
  p[1] = pt;
  media::store16(p.data() + 2, seq);
  media::store32(p.data() + 4, seq * 3000u);
  media::store32(p.data() + 8, ssrc);
  if (!exts.empty()) {
    std::vector<std::uint8_t> block;
    for (const auto& [id, value] : exts) {
      block.push_back(static_cast<std::uint8_t>((id << 4) | (value.size() - 1)));
      block.insert(block.end(), value.begin(), value.end());
    }
    while (block.size() % 4 != 0) block.push_back(0);
    p[0] |= 0x10;
    p.resize(16);
    media::store16(p.data() + 12, 0xBEDE);
    media::store16(p.data() + 14, static_cast<std::uint16_t>(block.size() / 4));
    p.insert(p.end(), block.begin(), block.end());
  }
  p.insert(p.end(), 50, 0x17);
  return p;
}

// RTP with RFC 8285 two-byte header extensions {id, value} (profile 0x1000).
std::vector<std::uint8_t> rtpWithTwoByteExtensions(
    std::uint8_t pt, std::uint16_t seq, std::uint32_t ssrc,
    const std::vector<std::pair<std::uint8_t, std::string>>& exts) {
  std::vector<std::uint8_t> p(16);
  p[0] = 0x90;
  p[1] = pt;
  media::store16(p.data() + 2, seq);
  media::store32(p.data() + 4, seq * 960u);
  media::store32(p.data() + 8, ssrc);
  std::vector<std::uint8_t> block;
  for (const auto& [id, value] : exts) {
    block.push_back(id);
    block.push_back(static_cast<std::uint8_t>(value.size()));
    block.insert(block.end(), value.begin(), value.end());
  }
  while (block.size() % 4 != 0) block.push_back(0);
  media::store16(p.data() + 12, 0x1000);
  media::store16(p.data() + 14, static_cast<std::uint16_t>(block.size() / 4));
  p.insert(p.end(), block.begin(), block.end());
  p.insert(p.end(), 20, 0x17);
  return p;
}

struct Browser : DtlsTransport::Listener, SctpAssociation::Listener {
  Browser(asio::io_context& io, const DtlsIdentity& id)
      : socket(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        dtls(id, media::DtlsRole::Client, static_cast<DtlsTransport::Listener&>(*this)),
        sctp(static_cast<SctpAssociation::Listener&>(*this), media::DtlsRole::Client) {}

  void receiveNext() {
    socket.async_receive_from(asio::buffer(rx), from, [this](boost::system::error_code ec, std::size_t n) {
      if (ec) return;
      const media::ByteSpan d(rx.data(), n);
      if (media::classifyPacket(d) == media::PacketKind::Stun) {
        auto m = media::parseStun(d);
        if (m && m->type == media::kStunBindingSuccess && media::verifyStunIntegrity(*m, server_pwd)) {
          ++stun_ok;
        }
      } else if (media::classifyPacket(d) == media::PacketKind::Dtls) {
        dtls.receive(d);
      } else if (srtp && (media::classifyPacket(d) == media::PacketKind::Rtp ||
                          media::classifyPacket(d) == media::PacketKind::Rtcp)) {
        const bool is_rtcp = media::classifyPacket(d) == media::PacketKind::Rtcp;
        std::vector<std::uint8_t> packet(d.begin(), d.end());
        const auto plain = is_rtcp ? srtp->unprotectRtcp(packet) : srtp->unprotectRtp(packet);
        if (plain) {
          packet.resize(*plain);
          (is_rtcp ? rtcp_in : rtp_in).push_back(std::move(packet));
        } else {
          ++unprotect_failures;
        }
      }
      receiveNext();
    });
  }
  void sendRaw(media::ByteSpan d) { socket.send_to(asio::buffer(d.data(), d.size()), server); }

  void onDtlsSend(DtlsTransport&, media::ByteSpan d) override { sendRaw(d); }
  void onDtlsConnected(DtlsTransport&, media::SrtpProfile p, media::ByteSpan km) override {
    srtp = media::createEvpSrtpSession(p, media::DtlsRole::Client, km);
    sctp.start();
  }
  void onDtlsApplicationData(DtlsTransport&, media::ByteSpan d) override { sctp.receive(d); }
  void onDtlsFailed(DtlsTransport&, std::string_view r) override { failure = r; }
  void onSctpSend(SctpAssociation&, media::ByteSpan p) override { dtls.send(p); }
  void onSctpConnected(SctpAssociation&) override { channel = sctp.openChannel("chat"); }
  void onDataChannelOpen(SctpAssociation&, std::uint16_t, std::string_view, std::string_view) override {
    opened = true;
  }
  void onDataChannelMessage(SctpAssociation&, std::uint16_t, std::string_view d, bool) override {
    messages.emplace_back(d);
  }
  void onDataChannelClosed(SctpAssociation&, std::uint16_t) override {}

  bool sendRtcp(std::vector<std::uint8_t> p) {
    const std::size_t n = p.size();
    p.resize(n + media::srtpRtcpOverhead(srtp->profile()));
    auto out = srtp->protectRtcp(p, n);
    if (!out) return false;
    sendRaw(media::ByteSpan(p.data(), *out));
    return true;
  }
  bool sendRtp(std::vector<std::uint8_t> p) {
    const std::size_t n = p.size();
    p.resize(n + media::srtpRtpOverhead(srtp->profile()));
    auto out = srtp->protectRtp(p, n);
    if (!out) return false;
    sendRaw(media::ByteSpan(p.data(), *out));
    return true;
  }

  udp::socket socket;
  udp::endpoint server;
  udp::endpoint from;
  std::array<std::uint8_t, 65536> rx{};
  std::string server_pwd;
  DtlsTransport dtls;
  SctpAssociation sctp;
  media::SrtpSessionPtr srtp;
  std::optional<std::uint16_t> channel;
  bool opened{false};
  std::vector<std::string> messages;
  std::string failure;
  int stun_ok{0};
  std::vector<std::vector<std::uint8_t>> rtp_in;  // decrypted packets from the focus
  std::vector<std::vector<std::uint8_t>> rtcp_in;
  int unprotect_failures{0};
};

struct FocusSide : WebRtcPeer::Listener, UdpServer::Listener {
  void onPeerConnected(WebRtcPeer&) override { connected = true; }
  void onPeerFailed(WebRtcPeer&, std::string_view r) override { failure = r; }
  void onPeerDataChannelOpen(WebRtcPeer&, std::uint16_t, std::string_view label) override {
    labels.emplace_back(label);
  }
  void onPeerDataChannelMessage(WebRtcPeer& p, std::uint16_t sid, std::string_view text, bool) override {
    messages.emplace_back(text);
    p.sendText(sid, "echo: " + std::string(text));
  }
  void onPeerDead(UdpServer::Peer&) override { ++dead; }
  struct Rtp {
    std::uint32_t ssrc;
    std::uint16_t seq;
    std::string mid, rid, kind;
    std::size_t size;
    std::optional<std::uint8_t> audio_level;
  };
  void onPeerRtp(WebRtcPeer&, const RtpInfo& info, const media::RtpPacketView& packet, TimeMs) override {
    rtp.push_back({packet.ssrc(), packet.sequenceNumber(), std::string(info.mid), std::string(info.rid),
                   std::string(info.kind), packet.size(), info.audio_level});
  }
  void onPeerRtcp(WebRtcPeer&, media::MutableByteSpan packet, TimeMs) override {
    rtcp.emplace_back(packet.begin(), packet.end());
  }
  std::vector<Rtp> rtp;
  std::vector<std::vector<std::uint8_t>> rtcp;
  bool connected{false};
  std::string failure;
  std::vector<std::string> labels;
  std::vector<std::string> messages;
  int dead{0};
};

class WebRtcPeerLoopback : public ::testing::Test {
 protected:
  void SetUp() override {
    server_id = DtlsIdentity::generate();
    client_id = DtlsIdentity::generate();
    ASSERT_TRUE(server_id && client_id);
    server = std::make_unique<UdpServer>(io, clock);
    ASSERT_TRUE(server->bind(udp::endpoint(asio::ip::make_address("127.0.0.1"), 0), 5));
    server->setListener(&focus);
  }
  template <typename Pred>
  bool runUntil(Pred pred, int ms = 3000) {
    for (int i = 0; i < ms / 5 && !pred(); ++i) {
      io.run_for(std::chrono::milliseconds(5));
    }
    return pred();
  }

  // The browser side's ICE check (nominating) and DTLS client start, against the peer's answer.
  void connect(Browser& b, const WebRtcPeer& peer, const std::string& answer) {
    b.server = server->localEndpoint();
    b.server_pwd = attr(answer, "ice-pwd");
    b.receiveNext();
    ASSERT_TRUE(b.dtls.setRemoteFingerprint("sha-256", attr(answer, "fingerprint").substr(8)));
    test::BindingRequestOptions nominate;
    nominate.use_candidate = true;
    b.sendRaw(test::buildBindingRequest(std::string(peer.iceUfrag()) + ":" + std::string(kClientUfrag),
                                        b.server_pwd, nominate));
    ASSERT_TRUE(runUntil([&] { return b.stun_ok == 1; }));
    ASSERT_TRUE(b.dtls.start());
  }

  asio::io_context io;
  SystemClock clock;
  DtlsIdentityPtr server_id, client_id;
  std::unique_ptr<UdpServer> server;
  FocusSide focus;
};

TEST_F(WebRtcPeerLoopback, IceDtlsSrtpAndDataChannelEndToEnd) {
  WebRtcPeer peer(*server_id, *server, focus, clock.nowMs());
  auto answer = peer.acceptOffer(offerFor(*client_id));
  ASSERT_TRUE(answer) << answer.error().message;
  ASSERT_TRUE(server->addPeer(peer));
  EXPECT_FALSE(server->addPeer(peer));  // ufrags are unique

  Browser b(io, *client_id);
  b.server = server->localEndpoint();
  b.server_pwd = attr(*answer, "ice-pwd");
  const std::string server_ufrag = attr(*answer, "ice-ufrag");
  ASSERT_EQ(server_ufrag, peer.iceUfrag());
  ASSERT_NE(answer->find("a=candidate:1 1 udp 2130706431 127.0.0.1 " + std::to_string(b.server.port()) +
                         " typ host"),
            std::string::npos);
  b.receiveNext();

  // DTLS before ICE: dropped (the address is not validated yet).
  ASSERT_TRUE(b.dtls.setRemoteFingerprint("sha-256", attr(*answer, "fingerprint").substr(8)));
  // A check with a wrong password is rejected; then a good one with USE-CANDIDATE.
  b.sendRaw(
      test::buildBindingRequest(server_ufrag + ":" + std::string(kClientUfrag), "wrong-password-0123456789"));
  test::BindingRequestOptions nominate;
  nominate.use_candidate = true;
  b.sendRaw(
      test::buildBindingRequest(server_ufrag + ":" + std::string(kClientUfrag), b.server_pwd, nominate));
  ASSERT_TRUE(runUntil([&] { return b.stun_ok == 1; }));
  EXPECT_EQ(server->drops().get(UdpDrop::StunRejected), 1u);
  EXPECT_TRUE(peer.ice().selectedAddress());

  ASSERT_TRUE(b.dtls.start());
  ASSERT_TRUE(runUntil([&] { return focus.connected && b.srtp && b.opened; })) << b.failure << focus.failure;
  EXPECT_EQ(peer.srtpProfile(), media::SrtpProfile::AeadAes128Gcm);

  // Media: audio with the mid extension, video identified by the offer's a=ssrc.
  for (std::uint16_t i = 0; i < 60; ++i) {
    ASSERT_TRUE(b.sendRtp(rtp(111, static_cast<std::uint16_t>(65500 + i), 1111, "0")));
    ASSERT_TRUE(b.sendRtp(rtp(96, i, 2222, "")));
  }
  ASSERT_TRUE(b.sctp.sendText(*b.channel, "hello focus"));
  ASSERT_TRUE(runUntil([&] {
    return peer.rtpPackets("audio") == 60 && peer.rtpPackets("video") == 60 && !b.messages.empty();
  }));
  ASSERT_EQ(focus.labels, std::vector<std::string>{"chat"});
  ASSERT_EQ(focus.messages, std::vector<std::string>{"hello focus"});
  EXPECT_EQ(b.messages[0], "echo: hello focus");
  ASSERT_EQ(peer.ssrcStats().size(), 2u);
  for (const auto& s : peer.ssrcStats()) {
    EXPECT_EQ(s.mid, s.ssrc == 1111 ? "0" : "1");
    EXPECT_EQ(s.packets, 60u);
    EXPECT_EQ(s.bytes, 60u * 100);
  }
  EXPECT_EQ(peer.drops().total(), 0u);

  // A tampered SRTP packet and a replay are dropped and counted; garbage and strangers too.
  auto p = rtp(111, 100, 1111, "0");
  const std::size_t n = p.size();
  p.resize(n + 16);
  auto sz = b.srtp->protectRtp(p, n);
  ASSERT_TRUE(sz);
  p.resize(*sz);
  b.sendRaw(p);  // good
  b.sendRaw(p);  // replay
  p[20] ^= 1;
  b.sendRaw(p);                                  // tampered
  const std::uint8_t junk[4] = {0x50, 1, 2, 3};  // RFC 7983 "unknown"
  b.sendRaw(junk);
  udp::socket stranger(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const std::uint8_t dtls_like[13] = {22, 0xFE, 0xFD};
  stranger.send_to(asio::buffer(dtls_like), b.server);
  stranger.send_to(asio::buffer(test::buildBindingRequest("nobody:x", "whatever-password-0123")), b.server);
  ASSERT_TRUE(runUntil([&] {
    return peer.drops().get(PeerDrop::SrtpUnprotect) == 2 && server->drops().get(UdpDrop::Unknown) == 1 &&
           server->drops().get(UdpDrop::UnknownAddress) == 1 &&
           server->drops().get(UdpDrop::StunUnknownUfrag) == 1;
  }));
  EXPECT_EQ(peer.rtpPackets("audio"), 61u);

  // SSRC budget: libsrtp keeps a stream per authenticated SSRC, so new SSRCs beyond kPeerMaxSrtpStreams are
  // dropped before unprotect; the stats table stops at kPeerMaxSsrcs.
  for (std::uint32_t i = 0; i < 70; ++i) ASSERT_TRUE(b.sendRtp(rtp(96, 1, 5000 + i, "")));
  const std::uint64_t over = 2 + 70 - kPeerMaxSrtpStreams;
  ASSERT_TRUE(runUntil([&] { return peer.drops().get(PeerDrop::TooManySsrcs) == over; }));
  EXPECT_EQ(peer.ssrcStats().size(), kPeerMaxSsrcs);
  server->removePeer(peer);
  EXPECT_EQ(server->peerCount(), 0u);
}

// Not a regression test (timing): run with --gtest_also_run_disabled_tests. One thread does both sides: the
// browser's SRTP protect + sendto, and the focus's recvfrom + demux + unprotect + parse + count.
TEST_F(WebRtcPeerLoopback, DISABLED_ReceiveThroughput) {
  WebRtcPeer peer(*server_id, *server, focus, clock.nowMs());
  auto answer = peer.acceptOffer(offerFor(*client_id));
  ASSERT_TRUE(answer);
  ASSERT_TRUE(server->addPeer(peer));
  Browser b(io, *client_id);
  ASSERT_NO_FATAL_FAILURE(connect(b, peer, *answer));
  ASSERT_TRUE(runUntil([&] { return focus.connected && b.srtp; }));
  constexpr int kPackets = 50000;
  auto video = rtp(96, 0, 2222, "");
  video.resize(12 + 1100);
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t sent = 0;
  for (int i = 0; i < kPackets; ++i) {
    media::store16(video.data() + 2, static_cast<std::uint16_t>(i));
    if (b.sendRtp(video)) ++sent;
    if (i % 64 == 63) io.poll();  // let the focus drain its socket
  }
  runUntil([&] { return peer.rtpPackets("video") >= sent; }, 5000);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "received %llu of %llu 1112-byte SRTP packets in %.3f s: %.0f packets/s (both sides, one thread)\n",
      static_cast<unsigned long long>(peer.rtpPackets("video")), static_cast<unsigned long long>(sent), secs,
      static_cast<double>(peer.rtpPackets("video")) / secs);
}

TEST_F(WebRtcPeerLoopback, RouteTableHoldsOnlyValidatedAddressesPerPeer) {
  WebRtcPeer peer(*server_id, *server, focus, clock.nowMs());
  auto answer = peer.acceptOffer(offerFor(*client_id));
  ASSERT_TRUE(answer);
  ASSERT_TRUE(server->addPeer(peer));
  const std::string user = std::string(peer.iceUfrag()) + ":" + std::string(kClientUfrag);
  const std::string pwd = attr(*answer, "ice-pwd");
  std::vector<std::unique_ptr<udp::socket>> sockets;
  for (std::size_t i = 0; i < 3 * kIceMaxRemoteAddresses; ++i) {
    sockets.push_back(
        std::make_unique<udp::socket>(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
    sockets.back()->send_to(asio::buffer(test::buildBindingRequest(user, pwd)), server->localEndpoint());
  }
  ASSERT_TRUE(runUntil([&] { return peer.ice().requestsAnswered() == 3 * kIceMaxRemoteAddresses; }));
  EXPECT_EQ(server->routeCount(), kIceMaxRemoteAddresses);
  EXPECT_EQ(peer.ice().validatedCount(), kIceMaxRemoteAddresses);
}

TEST_F(WebRtcPeerLoopback, RejectsBadOffers) {
  WebRtcPeer peer(*server_id, *server, focus, clock.nowMs());
  EXPECT_FALSE(peer.acceptOffer("not sdp"));
  std::string passive = offerFor(*client_id);
  passive.replace(passive.find("a=setup:actpass"), 15, "a=setup:passive");
  EXPECT_FALSE(peer.acceptOffer(passive));
  WebRtcPeer again(*server_id, *server, focus, clock.nowMs());
  ASSERT_TRUE(again.acceptOffer(offerFor(*client_id)));
  // A re-offer is answered now, but not an ICE restart, another certificate or the DTLS server role.
  EXPECT_TRUE(again.acceptOffer(offerFor(*client_id)));
  std::string restart = offerFor(*client_id);
  restart.replace(restart.find("a=ice-ufrag:brws"), 16, "a=ice-ufrag:new1");
  auto r = again.acceptOffer(restart);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Code::Unimplemented);
  auto other_cert = DtlsIdentity::generate();
  EXPECT_FALSE(again.acceptOffer(offerFor(*other_cert)));
  EXPECT_FALSE(again.acceptOffer(passive));
  std::string moved = offerFor(*client_id);
  moved.replace(moved.find("a=mid:1"), 7, "a=mid:7");
  EXPECT_FALSE(again.acceptOffer(moved));
  EXPECT_EQ(again.sections().size(), 3u);  // the failed re-offers changed nothing
  EXPECT_EQ(again.sections()[1].mid, "1");
}

// The participant's re-offer after our offer with send tracks in mids 3 and 4: it adds a screen share (mid
// 5).
std::string participantReoffer(const DtlsIdentity& client) {
  std::string s = offerFor(client);
  s.replace(s.find("a=group:BUNDLE 0 1 2"), 20, "a=group:BUNDLE 0 1 2 3 4 5");
  s += "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:3\r\na=recvonly\r\na=rtcp-mux\r\n"
       "a=rtpmap:111 opus/48000/2\r\n"
       "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:4\r\na=recvonly\r\na=rtcp-mux\r\n"
       "a=rtpmap:96 VP8/90000\r\n"
       "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:5\r\na=sendonly\r\na=rtcp-mux\r\n"
       "a=rtpmap:96 VP8/90000\r\na=ssrc:4444 cname:x\r\na=ssrc:4444 msid:screen-stream screen-track\r\n";
  return s;
}

TEST_F(WebRtcPeerLoopback, FocusOfferAnswerRollbackAndParticipantReoffer) {
  WebRtcPeer peer(*server_id, *server, focus, clock.nowMs());
  const std::vector<SendTrack> tracks = {{"audio", 5001, "alice", "alice-mic"},
                                         {"video", 5002, "alice", "alice-cam"}};
  auto early = peer.createOffer(tracks);
  ASSERT_FALSE(early);  // no session yet
  EXPECT_EQ(early.error().code, Code::FailedPrecondition);
  EXPECT_FALSE(peer.applyAnswer("v=0\r\n"));  // nothing pending
  auto first_answer = peer.acceptOffer(offerFor(*client_id));
  ASSERT_TRUE(first_answer);
  EXPECT_EQ(peer.sendPayloadType("audio"), 111);
  EXPECT_EQ(peer.sendPayloadType("video"), 96);
  EXPECT_EQ(peer.sendPayloadType("application"), 0);
  ASSERT_EQ(peer.publishedTracks().size(), 2u);
  EXPECT_EQ(peer.publishedTracks()[0].mid, "0");
  EXPECT_EQ(peer.publishedTracks()[0].kind, "audio");
  EXPECT_EQ(peer.publishedTracks()[0].payload_type, 111);
  EXPECT_EQ(peer.publishedTracks()[1].kind, "video");
  EXPECT_EQ(peer.publishedTracks()[1].stream_id, "cam-stream");
  EXPECT_EQ(peer.publishedTracks()[1].track_id, "cam-track");
  EXPECT_EQ(peer.publishedTracks()[1].ssrcs, (std::vector<std::uint32_t>{2222}));

  auto offer = peer.createOffer(tracks);
  ASSERT_TRUE(offer) << offer.error().message;
  EXPECT_TRUE(peer.hasPendingOffer());
  EXPECT_FALSE(peer.createOffer(tracks));                // one at a time
  EXPECT_FALSE(peer.acceptOffer(offerFor(*client_id)));  // glare: the caller rolls back first
  peer.rollback();
  EXPECT_FALSE(peer.hasPendingOffer());
  EXPECT_EQ(peer.sections().size(), 3u);  // nothing of the dropped offer stayed

  offer = peer.createOffer(tracks);
  ASSERT_TRUE(offer);
  // Same transport as the first answer: ICE credentials, fingerprint, candidate; DTLS actpass.
  EXPECT_EQ(attr(*offer, "ice-ufrag"), attr(*first_answer, "ice-ufrag"));
  EXPECT_EQ(attr(*offer, "fingerprint"), attr(*first_answer, "fingerprint"));
  EXPECT_EQ(attr(*offer, "candidate"), attr(*first_answer, "candidate"));
  EXPECT_EQ(attr(*offer, "setup"), "actpass");
  EXPECT_NE(offer->find("a=group:BUNDLE 0 1 2 3 4\r\n"), std::string::npos);
  EXPECT_NE(offer->find("a=ssrc:5002 msid:alice alice-cam\r\n"), std::string::npos);
  // The o= version grows with every description.
  auto origin = [](const std::string& sdp) {
    const auto at = sdp.find("\r\no=- ");
    return at == std::string::npos ? std::string() : sdp.substr(at + 2, sdp.find("\r\n", at + 2) - at - 2);
  };
  ASSERT_FALSE(origin(*offer).empty());
  EXPECT_NE(origin(*offer), origin(*first_answer));
  EXPECT_EQ(origin(*offer).substr(0, origin(*offer).find(' ', 4)),
            origin(*first_answer).substr(0, origin(*first_answer).find(' ', 4)));  // same session id

  test::AnswerOptions good;
  good.fingerprint = client_id->fingerprint();
  EXPECT_FALSE(peer.applyAnswer("garbage"));
  test::AnswerOptions passive = good;
  passive.setup = "passive";
  auto role = peer.applyAnswer(test::answerTo(*offer, passive));
  ASSERT_FALSE(role);
  EXPECT_NE(role.error().message.find("DTLS role"), std::string::npos);
  test::AnswerOptions restart = good;
  restart.ufrag = "othr";
  EXPECT_FALSE(peer.applyAnswer(test::answerTo(*offer, restart)));
  test::AnswerOptions cert = good;
  cert.fingerprint = "AA:CC";
  EXPECT_FALSE(peer.applyAnswer(test::answerTo(*offer, cert)));
  EXPECT_TRUE(peer.hasPendingOffer());  // a bad answer leaves the offer pending
  auto applied = peer.applyAnswer(test::answerTo(*offer, good));
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_FALSE(peer.hasPendingOffer());
  ASSERT_EQ(peer.sections().size(), 5u);
  EXPECT_TRUE(peer.sections()[3].send);
  EXPECT_EQ(peer.sections()[4].send_track.track_id, "alice-cam");
  EXPECT_EQ(peer.publishedTracks().size(), 2u);

  // The participant re-offers with a screen share: our sections are answered sendonly with their ssrcs.
  auto reanswer = peer.acceptOffer(participantReoffer(*client_id));
  ASSERT_TRUE(reanswer) << reanswer.error().message;
  auto parsed = parseSdp(*reanswer);
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->media.size(), 6u);
  EXPECT_EQ(parsed->media[3].direction, SdpDirection::SendOnly);
  EXPECT_EQ(parsed->media[3].ssrcs, (std::vector<std::uint32_t>{5001}));
  EXPECT_EQ(parsed->media[4].msid_track, "alice-cam");
  EXPECT_EQ(parsed->media[5].direction, SdpDirection::RecvOnly);
  EXPECT_EQ(parsed->setupOf(parsed->media[0]), "passive");
  EXPECT_NE(reanswer->find("a=group:BUNDLE 0 1 2 3 4 5\r\n"), std::string::npos);
  ASSERT_EQ(peer.publishedTracks().size(), 3u);
  EXPECT_EQ(peer.publishedTracks()[2].mid, "5");
  EXPECT_EQ(peer.publishedTracks()[2].stream_id, "screen-stream");
  EXPECT_EQ(peer.publishedTracks()[2].ssrcs, (std::vector<std::uint32_t>{4444}));

  // The next offer of ours keeps all six sections and adds new mids after the participant's.
  auto third = peer.createOffer({{"audio", 5001, "alice", "alice-mic"}, {"video", 6002, "bob", "bob-cam"}});
  ASSERT_TRUE(third);
  auto t = parseSdp(*third);
  ASSERT_TRUE(t);
  ASSERT_EQ(t->media.size(), 7u);
  EXPECT_EQ(t->media[4].port, 0);  // alice-cam is gone
  EXPECT_EQ(t->media[6].mid, "6");
  EXPECT_EQ(t->media[5].direction, SdpDirection::RecvOnly);
}

// RTX (RFC 4588): the participant's rtx entry for VP8 is accepted on what it sends (with its FID pair) and
// offered on what we send (with our RTX SSRC); retransmissions use it once its answer kept it.
TEST_F(WebRtcPeerLoopback, RtxIsNegotiatedBothWays) {
  WebRtcPeer peer(*server_id, *server, focus, clock.nowMs());
  std::string with_rtx = offerFor(*client_id);
  with_rtx.replace(with_rtx.find("m=video 9 UDP/TLS/RTP/SAVPF 96"), 30, "m=video 9 UDP/TLS/RTP/SAVPF 96 97");
  const std::string ssrc_line = "a=ssrc:2222 cname:x\r\n";
  with_rtx.replace(with_rtx.find(ssrc_line), ssrc_line.size(),
                   "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\na=ssrc-group:FID 2222 3333\r\n" + ssrc_line +
                       "a=ssrc:3333 cname:x\r\n");
  auto answer = peer.acceptOffer(with_rtx);
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_NE(answer->find("a=fmtp:97 apt=96\r\n"), std::string::npos);
  ASSERT_EQ(peer.publishedTracks().size(), 2u);
  EXPECT_EQ(peer.publishedTracks()[1].rtx_payload_type, 97);
  EXPECT_EQ(peer.publishedTracks()[1].rtx_ssrcs,
            (std::vector<std::pair<std::uint32_t, std::uint32_t>>{{2222, 3333}}));
  EXPECT_EQ(peer.publishedTracks()[0].rtx_payload_type, 0);
  EXPECT_EQ(peer.sendRtxPayloadType("video"), 0);  // nothing sent to it yet

  SendTrack cam{"video", 5002, "alice", "alice-cam"};
  cam.rtx_ssrc = 5003;
  auto offer = peer.createOffer({cam});
  ASSERT_TRUE(offer) << offer.error().message;
  EXPECT_NE(offer->find("a=ssrc-group:FID 5002 5003\r\n"), std::string::npos);
  EXPECT_NE(offer->find("a=ssrc:5003 msid:alice alice-cam\r\n"), std::string::npos);
  test::AnswerOptions good;
  good.fingerprint = client_id->fingerprint();
  std::string reply = test::answerTo(*offer, good);
  const std::string rtx_map = "a=rtpmap:97 rtx/90000\r\n";
  const auto at = reply.rfind(rtx_map);
  ASSERT_NE(at, std::string::npos);
  reply.insert(at + rtx_map.size(), "a=fmtp:97 apt=96\r\n");
  auto applied = peer.applyAnswer(reply);
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ(peer.sendRtxPayloadType("video"), 97);
  EXPECT_EQ(peer.sendRtxPayloadType("H264"), 0);

  // An answer without the rtx fmtp (apt): no RTX on what we send.
  auto again = peer.createOffer({cam});
  ASSERT_TRUE(again);
  ASSERT_TRUE(peer.applyAnswer(test::answerTo(*again, good)));
  EXPECT_EQ(peer.sendRtxPayloadType("video"), 0);
}

TEST_F(WebRtcPeerLoopback, MediaHooksAndSendingBothWays) {
  WebRtcPeer peer(*server_id, *server, focus, clock.nowMs());
  auto answer = peer.acceptOffer(offerFor(*client_id));
  ASSERT_TRUE(answer);
  ASSERT_TRUE(server->addPeer(peer));
  // Not connected yet: nothing is sent.
  std::array<std::uint8_t, 200 + kSrtpMaxTrailer> buf{};
  auto plain = rtpWithExtensions(111, 7, 0xABCDEF, {});
  std::copy(plain.begin(), plain.end(), buf.begin());
  EXPECT_FALSE(peer.sendRtp(buf, plain.size(), clock.nowMs()));
  EXPECT_EQ(peer.sendDrops().get(PeerSendDrop::NotConnected), 1u);

  Browser b(io, *client_id);
  ASSERT_NO_FATAL_FAILURE(connect(b, peer, *answer));
  ASSERT_TRUE(runUntil([&] { return focus.connected && b.srtp; })) << b.failure << focus.failure;

  // Incoming: audio whose mid extension stops after 2 packets; video on an SSRC the offer does not name,
  // with mid + rid extensions on the first packet only (as Chrome does); the listener keeps both.
  for (std::uint16_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(
        b.sendRtp(i < 2 ? rtpWithExtensions(111, i, 1111, {{4, "0"}}) : rtpWithExtensions(111, i, 1111, {})));
  }
  ASSERT_TRUE(b.sendRtp(rtpWithExtensions(96, 100, 3333, {{4, "1"}, {10, "h"}})));
  ASSERT_TRUE(b.sendRtp(rtpWithExtensions(96, 101, 3333, {})));
  ASSERT_TRUE(b.sendRtp(rtpWithExtensions(96, 1, 2222, {})));  // mid from a=ssrc, no rid
  std::array<std::uint8_t, 64> rr{};
  const auto rr_size = media::buildRtcpReceiverReport(rr, 3333, {});
  ASSERT_TRUE(rr_size);
  ASSERT_TRUE(b.sendRtcp(std::vector<std::uint8_t>(rr.begin(), rr.begin() + *rr_size)));
  ASSERT_TRUE(runUntil([&] { return focus.rtp.size() == 7 && focus.rtcp.size() == 1; }));
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(focus.rtp[i].ssrc, 1111u);
    EXPECT_EQ(focus.rtp[i].seq, i);
    EXPECT_EQ(focus.rtp[i].mid, "0");
    EXPECT_EQ(focus.rtp[i].rid, "");
    EXPECT_EQ(focus.rtp[i].kind, "audio");
  }
  EXPECT_EQ(focus.rtp[3].size, 12u + 50);  // the decrypted packet, without the SRTP tag
  for (std::size_t i = 4; i < 6; ++i) {
    EXPECT_EQ(focus.rtp[i].mid, "1");
    EXPECT_EQ(focus.rtp[i].rid, "h");
    EXPECT_EQ(focus.rtp[i].kind, "video");
  }
  EXPECT_EQ(focus.rtp[6].mid, "1");
  EXPECT_EQ(focus.rtp[6].rid, "");
  EXPECT_EQ(focus.rtcp[0], std::vector<std::uint8_t>(rr.begin(), rr.begin() + *rr_size));
  for (const auto& s : peer.ssrcStats()) {
    if (s.ssrc == 3333) {
      EXPECT_EQ(s.rid, "h");
    }
  }

  // Outgoing: RTP and RTCP protected in place, received and decrypted by the browser byte for byte.
  ASSERT_TRUE(peer.sendRtp(buf, plain.size(), clock.nowMs()));
  std::array<std::uint8_t, 64 + kSrtpMaxTrailer> rtcp{};
  const auto pli = media::buildRtcpPli(rtcp, 1, 2222);
  ASSERT_TRUE(pli);
  const std::vector<std::uint8_t> pli_plain(rtcp.begin(), rtcp.begin() + *pli);
  ASSERT_TRUE(peer.sendRtcp(rtcp, *pli, clock.nowMs()));
  ASSERT_TRUE(runUntil([&] { return b.rtp_in.size() == 1 && b.rtcp_in.size() == 1; }));
  EXPECT_EQ(b.rtp_in[0], plain);
  EXPECT_EQ(b.rtcp_in[0], pli_plain);
  EXPECT_EQ(b.unprotect_failures, 0);
  EXPECT_EQ(peer.rtpPacketsSent(), 1u);
  EXPECT_EQ(peer.rtcpPacketsSent(), 1u);

  // No room for the SRTP trailer, or a length past the buffer: refused, counted, nothing sent.
  std::array<std::uint8_t, 62 + 15> small{};
  std::copy(plain.begin(), plain.end(), small.begin());
  EXPECT_FALSE(peer.sendRtp(small, plain.size(), clock.nowMs()));
  EXPECT_FALSE(peer.sendRtp(buf, buf.size() + 1, clock.nowMs()));
  EXPECT_EQ(peer.sendDrops().get(PeerSendDrop::BufferTooSmall), 2u);
  std::array<std::uint8_t, 4 + kSrtpMaxTrailer> junk{};
  EXPECT_FALSE(peer.sendRtp(junk, 4, clock.nowMs()));  // not RTP: libsrtp refuses
  EXPECT_EQ(peer.sendDrops().get(PeerSendDrop::Protect), 1u);
  EXPECT_EQ(peer.rtpPacketsSent(), 1u);
  server->removePeer(peer);
}

// The RFC 6464 audio level (ssrc-audio-level, id 1 here as in Chromium) of the audio the participant sends:
// negotiated on its audio section only, read from both extension forms into RtpInfo::audio_level (level
// without the V bit); an element of another length, a packet without it and video are no level.
TEST_F(WebRtcPeerLoopback, AudioLevelFromTheNegotiatedExtension) {
  const std::string offer =
      "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\n"
      "a=ice-ufrag:" +
      std::string(kClientUfrag) + "\r\na=ice-pwd:" + std::string(kClientPwd) + "\r\n" +
      "a=fingerprint:sha-256 " + client_id->fingerprint() + "\r\na=setup:actpass\r\n" +
      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n"
      "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
      "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=rtpmap:111 opus/48000/2\r\n"
      "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\na=rtcp-mux\r\n"
      "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
      "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=rtpmap:96 VP8/90000\r\n";
  WebRtcPeer peer(*server_id, *server, focus, clock.nowMs());
  auto answer = peer.acceptOffer(offer);
  ASSERT_TRUE(answer) << answer.error().message;
  const std::string level_line = "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n";
  const auto first = answer->find(level_line);
  ASSERT_NE(first, std::string::npos);
  EXPECT_LT(first, answer->find("m=video"));                          // on the audio section
  EXPECT_EQ(answer->find(level_line, first + 1), std::string::npos);  // and only there
  ASSERT_TRUE(server->addPeer(peer));
  Browser b(io, *client_id);
  ASSERT_NO_FATAL_FAILURE(connect(b, peer, *answer));
  ASSERT_TRUE(runUntil([&] { return focus.connected && b.srtp; })) << b.failure << focus.failure;

  const std::string v_33{static_cast<char>(0x80 | 33)};  // voice, -33 dBov
  ASSERT_TRUE(b.sendRtp(rtpWithExtensions(111, 0, 1111, {{4, "0"}, {1, v_33}})));
  ASSERT_TRUE(b.sendRtp(rtpWithExtensions(111, 1, 1111, {{1, std::string{"\x7f"}}})));  // silence, no V
  ASSERT_TRUE(b.sendRtp(rtpWithTwoByteExtensions(111, 2, 1111, {{1, std::string{"\x14"}}})));
  ASSERT_TRUE(b.sendRtp(rtpWithExtensions(111, 3, 1111, {{1, std::string("\x80\x10", 2)}})));  // 2 bytes
  ASSERT_TRUE(b.sendRtp(rtpWithTwoByteExtensions(111, 4, 1111, {{1, std::string()}})));        // 0 bytes
  ASSERT_TRUE(b.sendRtp(rtpWithExtensions(111, 5, 1111, {})));
  ASSERT_TRUE(b.sendRtp(rtpWithExtensions(96, 6, 3333, {{4, "1"}, {1, v_33}})));  // video: not negotiated
  ASSERT_TRUE(runUntil([&] { return focus.rtp.size() == 7; }));
  const std::vector<std::optional<std::uint8_t>> expected{
      33, 127, 20, std::nullopt, std::nullopt, std::nullopt, std::nullopt};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(focus.rtp[i].seq, i);
    EXPECT_EQ(focus.rtp[i].kind, i < 6 ? "audio" : "video") << i;
    EXPECT_EQ(focus.rtp[i].audio_level, expected[i]) << i;
  }
  EXPECT_EQ(peer.drops().total(), 0u);
  server->removePeer(peer);
}

TEST(UdpServerConsent, PeerWithoutConsentIsReportedDead) {
  asio::io_context io;
  FakeClock clock(1'000'000);
  auto id = DtlsIdentity::generate();
  UdpServer server(io, clock);
  ASSERT_TRUE(server.bind(udp::endpoint(asio::ip::make_address("127.0.0.1"), 0), 1));
  FocusSide focus;
  server.setListener(&focus);
  auto client_id = DtlsIdentity::generate();
  WebRtcPeer peer(*id, server, focus, clock.nowMs());
  ASSERT_TRUE(peer.acceptOffer(offerFor(*client_id)));
  ASSERT_TRUE(server.addPeer(peer));
  io.run_for(std::chrono::milliseconds(20));
  EXPECT_EQ(focus.dead, 0);
  clock.advance(kConsentTimeoutMs + 1);
  for (int i = 0; i < 100 && focus.dead == 0; ++i) io.run_for(std::chrono::milliseconds(5));
  EXPECT_EQ(focus.dead, 1);
  EXPECT_EQ(focus.failure, "ICE consent expired");
  EXPECT_EQ(server.peerCount(), 0u);
  EXPECT_TRUE(peer.failed());
}

}  // namespace
}  // namespace chorus::io
