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
#include "media/srtp/srtp_session.hpp"

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
         "a=rtpmap:96 VP8/90000\r\na=ssrc:2222 cname:x\r\n"
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
      }
      receiveNext();
    });
  }
  void sendRaw(media::ByteSpan d) { socket.send_to(asio::buffer(d.data(), d.size()), server); }

  void onDtlsSend(DtlsTransport&, media::ByteSpan d) override { sendRaw(d); }
  void onDtlsConnected(DtlsTransport&, media::SrtpProfile p, media::ByteSpan km) override {
    srtp = media::createLibSrtpSession(p, media::DtlsRole::Client, km);
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
  b.server = server->localEndpoint();
  b.server_pwd = attr(*answer, "ice-pwd");
  b.receiveNext();
  ASSERT_TRUE(b.dtls.setRemoteFingerprint("sha-256", attr(*answer, "fingerprint").substr(8)));
  test::BindingRequestOptions nominate;
  nominate.use_candidate = true;
  b.sendRaw(test::buildBindingRequest(std::string(peer.iceUfrag()) + ":" + std::string(kClientUfrag),
                                      b.server_pwd, nominate));
  ASSERT_TRUE(runUntil([&] { return b.stun_ok == 1; }));
  ASSERT_TRUE(b.dtls.start());
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
  EXPECT_FALSE(again.acceptOffer(offerFor(*client_id)));  // no renegotiation
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
