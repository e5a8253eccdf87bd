// ICE-TCP: RFC 4571 framing (TcpFrameReader) and TcpServer + UdpServer's demux + WebRtcPeer over a real TCP
// connection on 127.0.0.1, against a hand-made participant (client-role DTLS, SCTP and SRTP, hand-built STUN
// checks). The timeouts run on a FakeClock through TcpServer::sweep().
#include "io/tcp_server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "io/tcp_framing.hpp"
#include "io/udp_server.hpp"
#include "io/webrtc_peer.hpp"
#include "io_test_util.hpp"
#include "media/demux.hpp"
#include "media/srtp/evp_srtp_session.hpp"
#include "media/srtp/srtp_session.hpp"

namespace chorus::io {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

std::vector<std::uint8_t> framed(const std::vector<std::vector<std::uint8_t>>& packets) {
  std::vector<std::uint8_t> out;
  for (const auto& p : packets) {
    std::uint8_t h[2];
    EXPECT_TRUE(writeTcpFrameHeader(p.size(), h));
    out.insert(out.end(), h, h + 2);
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

std::vector<std::uint8_t> packet(std::size_t size, std::uint8_t seed) {
  std::vector<std::uint8_t> p(size);
  for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<std::uint8_t>(seed + i * 7);
  return p;
}

using Frames = std::vector<std::vector<std::uint8_t>>;

Frames feedAll(TcpFrameReader& r, const std::vector<std::uint8_t>& bytes, std::size_t chunk,
               bool* ok = nullptr) {
  Frames out;
  bool good = true;
  for (std::size_t at = 0; at < bytes.size() && good; at += chunk) {
    const std::size_t n = std::min(chunk, bytes.size() - at);
    good = r.feed(media::ByteSpan(bytes.data() + at, n),
                  [&](media::MutableByteSpan f) { out.emplace_back(f.begin(), f.end()); });
  }
  if (ok) *ok = good;
  return out;
}

TEST(TcpFrameReader, SplitFramesAreReassembledByteByByte) {
  const Frames in = {packet(20, 1), packet(1200, 2), packet(1, 3)};
  TcpFrameReader r;
  EXPECT_EQ(feedAll(r, framed(in), 1), in);
  EXPECT_EQ(r.buffered(), 0u);
  EXPECT_EQ(r.framesRead(), 3u);
}

TEST(TcpFrameReader, CoalescedFramesInOneReadComeOutInOrder) {
  Frames in;
  for (std::uint8_t i = 0; i < 50; ++i) in.push_back(packet(10 + i * 3, i));
  TcpFrameReader r(4096);
  const auto bytes = framed(in);
  EXPECT_EQ(feedAll(r, bytes, bytes.size()), in);
}

TEST(TcpFrameReader, RandomChunkingAcrossBufferCompactionKeepsEveryFrame) {
  std::mt19937 rng(7);
  Frames in;
  for (int i = 0; i < 300; ++i) in.push_back(packet(1 + rng() % 1500, static_cast<std::uint8_t>(i)));
  const auto bytes = framed(in);
  TcpFrameReader r(1500);  // buffer of one maximal frame: every partial frame must be moved to the front
  Frames out;
  for (std::size_t at = 0; at < bytes.size();) {
    const std::size_t n = std::min<std::size_t>(1 + rng() % 3000, bytes.size() - at);
    ASSERT_TRUE(r.feed(media::ByteSpan(bytes.data() + at, n),
                       [&](media::MutableByteSpan f) { out.emplace_back(f.begin(), f.end()); }));
    at += n;
  }
  EXPECT_EQ(out, in);
}

TEST(TcpFrameReader, ZeroLengthFramesAreSkipped) {
  TcpFrameReader r;
  const Frames in = {packet(0, 0), packet(5, 1), packet(0, 0)};
  EXPECT_EQ(feedAll(r, framed(in), 3), Frames{packet(5, 1)});
}

TEST(TcpFrameReader, AFrameOverTheLimitFailsTheStream) {
  TcpFrameReader r(1000);
  bool ok = true;
  const Frames got = feedAll(r, framed({packet(1000, 1), packet(1001, 2), packet(10, 3)}), 64, &ok);
  EXPECT_FALSE(ok);
  EXPECT_TRUE(r.failed());
  EXPECT_EQ(got, Frames{packet(1000, 1)});  // the frame at the limit still passes
  EXPECT_TRUE(r.writable().empty());
  EXPECT_FALSE(r.next());
}

TEST(TcpFrameReader, HeaderWriterRefusesWhatSixteenBitsCannotSay) {
  std::uint8_t h[2];
  EXPECT_TRUE(writeTcpFrameHeader(65535, h));
  EXPECT_EQ(h[0], 0xFF);
  EXPECT_EQ(h[1], 0xFF);
  EXPECT_FALSE(writeTcpFrameHeader(65536, h));
}

// ---- TcpServer ------------------------------------------------------------------------------------------

constexpr std::string_view kTcpClientUfrag = "tcpc";
constexpr std::string_view kTcpClientPwd = "tcpclientpassword0123456789";

std::string tcpOfferFor(const DtlsIdentity& client) {
  return "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
         "a=ice-ufrag:" +
         std::string(kTcpClientUfrag) + "\r\na=ice-pwd:" + std::string(kTcpClientPwd) + "\r\n" +
         "a=fingerprint:sha-256 " + client.fingerprint() + "\r\na=setup:actpass\r\n" +
         "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n"
         "a=rtpmap:111 opus/48000/2\r\na=ssrc:1111 cname:x\r\n"
         "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
         "a=sctp-port:5000\r\n";
}

std::string tcpAttr(const std::string& sdp, const std::string& name) {
  const auto at = sdp.find("a=" + name + ":");
  if (at == std::string::npos) return {};
  const auto start = at + name.size() + 3;
  return sdp.substr(start, sdp.find("\r\n", start) - start);
}

std::vector<std::uint8_t> tcpRtp(std::uint16_t seq, std::uint32_t ssrc) {
  std::vector<std::uint8_t> p(12);
  p[0] = 0x80;
  p[1] = 111;
  media::store16(p.data() + 2, seq);
  media::store32(p.data() + 4, seq * 960u);
  media::store32(p.data() + 8, ssrc);
  p.insert(p.end(), 100, 0x42);
  return p;
}

// The participant's side of one ICE-TCP connection (an active TCP candidate).
struct TcpParticipant : DtlsTransport::Listener, SctpAssociation::Listener {
  TcpParticipant(asio::io_context& io, const DtlsIdentity& id)
      : socket(io),
        dtls(id, media::DtlsRole::Client, static_cast<DtlsTransport::Listener&>(*this)),
        sctp(static_cast<SctpAssociation::Listener&>(*this), media::DtlsRole::Client) {}

  void connect(const tcp::endpoint& to) {
    socket.connect(to);
    readNext();
  }
  void readNext() {
    const auto room = reader.writable();
    socket.async_read_some(asio::buffer(room.data(), room.size()),
                           [this](boost::system::error_code ec, std::size_t n) {
                             if (ec || n == 0) {
                               closed = true;
                               return;
                             }
                             reader.commit(n);
                             while (auto f = reader.next()) onFrame(*f);
                             readNext();
                           });
  }
  void onFrame(media::MutableByteSpan d) {
    const auto kind = media::classifyPacket(d);
    if (kind == media::PacketKind::Stun) {
      auto m = media::parseStun(d);
      if (m && m->type == media::kStunBindingSuccess && media::verifyStunIntegrity(*m, server_pwd)) ++stun_ok;
    } else if (kind == media::PacketKind::Dtls) {
      dtls.receive(d);
    } else if (srtp && kind == media::PacketKind::Rtp) {
      std::vector<std::uint8_t> p(d.begin(), d.end());
      if (srtp->unprotectRtp(p)) ++rtp_in;
    }
  }
  void sendFrame(media::ByteSpan d) {
    std::vector<std::uint8_t> out(2 + d.size());
    writeTcpFrameHeader(d.size(), out.data());
    std::copy(d.begin(), d.end(), out.begin() + 2);
    asio::write(socket, asio::buffer(out));
  }
  void onDtlsSend(DtlsTransport&, media::ByteSpan d) override { sendFrame(d); }
  void onDtlsConnected(DtlsTransport&, media::SrtpProfile p, media::ByteSpan km) override {
    srtp = media::createEvpSrtpSession(p, media::DtlsRole::Client, km);
    sctp.start();
  }
  void onDtlsApplicationData(DtlsTransport&, media::ByteSpan d) override { sctp.receive(d); }
  void onDtlsFailed(DtlsTransport&, std::string_view r) override { failure = r; }
  void onSctpSend(SctpAssociation&, media::ByteSpan p) override { dtls.send(p); }
  void onSctpConnected(SctpAssociation&) override { channel = sctp.openChannel("chat"); }
  void onDataChannelOpen(SctpAssociation&, std::uint16_t, std::string_view, std::string_view) override {}
  void onDataChannelMessage(SctpAssociation&, std::uint16_t, std::string_view d, bool) override {
    messages.emplace_back(d);
  }
  void onDataChannelClosed(SctpAssociation&, std::uint16_t) override {}
  bool sendRtp(std::vector<std::uint8_t> p) {
    const std::size_t n = p.size();
    p.resize(n + media::srtpRtpOverhead(srtp->profile()));
    auto out = srtp->protectRtp(p, n);
    if (!out) return false;
    sendFrame(media::ByteSpan(p.data(), *out));
    return true;
  }

  tcp::socket socket;
  TcpFrameReader reader;
  std::string server_pwd;
  DtlsTransport dtls;
  SctpAssociation sctp;
  media::SrtpSessionPtr srtp;
  std::optional<std::uint16_t> channel;
  std::vector<std::string> messages;
  std::string failure;
  int stun_ok{0};
  int rtp_in{0};
  bool closed{false};
};

struct Focus : WebRtcPeer::Listener {
  void onPeerConnected(WebRtcPeer&) override { connected = true; }
  void onPeerFailed(WebRtcPeer&, std::string_view r) override { failure = r; }
  void onPeerDataChannelOpen(WebRtcPeer&, std::uint16_t, std::string_view) override {}
  void onPeerDataChannelMessage(WebRtcPeer& p, std::uint16_t sid, std::string_view text, bool) override {
    p.sendText(sid, "echo: " + std::string(text));
  }
  bool connected{false};
  std::string failure;
};

class TcpServerTest : public ::testing::Test {
 protected:
  void start(const Clock& clock, TcpLimits limits = {}) {
    udp_ = std::make_unique<UdpServer>(io, clock);
    ASSERT_TRUE(udp_->bind(udp::endpoint(asio::ip::make_address("127.0.0.1"), 0), 5));
    tcp_ = std::make_unique<TcpServer>(io, clock, *udp_, limits);
    ASSERT_TRUE(tcp_->bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
  }
  void TearDown() override {
    if (tcp_) tcp_->stop();
    if (udp_) udp_->stop();
  }
  template <typename Pred>
  bool runUntil(Pred pred, int ms = 3000) {
    for (int i = 0; i < ms / 5 && !pred(); ++i) io.run_for(std::chrono::milliseconds(5));
    return pred();
  }

  asio::io_context io;
  std::unique_ptr<UdpServer> udp_;
  std::unique_ptr<TcpServer> tcp_;
};

TEST_F(TcpServerTest, IceDtlsSrtpAndDataChannelOverOneTcpConnection) {
  SystemClock clock;
  start(clock);
  auto server_id = DtlsIdentity::generate();
  auto client_id = DtlsIdentity::generate();
  ASSERT_TRUE(server_id && client_id);
  Focus focus;
  WebRtcPeer peer(*server_id, *udp_, focus, clock.nowMs());
  auto answer = peer.acceptOffer(tcpOfferFor(*client_id));
  ASSERT_TRUE(answer) << answer.error().message;
  ASSERT_TRUE(udp_->addPeer(peer));
  // The answer offers a passive TCP candidate on the TCP port, after the UDP one.
  const std::string tcp_port = std::to_string(tcp_->localEndpoint().port());
  const auto udp_at = answer->find(" udp ");
  const auto tcp_at = answer->find(" tcp ");
  ASSERT_NE(tcp_at, std::string::npos) << *answer;
  EXPECT_LT(udp_at, tcp_at);
  EXPECT_NE(answer->find(" 127.0.0.1 " + tcp_port + " typ host tcptype passive\r\n"), std::string::npos)
      << *answer;

  TcpParticipant p(io, *client_id);
  p.server_pwd = tcpAttr(*answer, "ice-pwd");
  p.connect(tcp_->localEndpoint());
  ASSERT_TRUE(p.dtls.setRemoteFingerprint("sha-256", tcpAttr(*answer, "fingerprint").substr(8)));
  const std::string username = std::string(peer.iceUfrag()) + ":" + std::string(kTcpClientUfrag);
  p.sendFrame(test::buildBindingRequest(username, "wrong-password-0123456789"));  // rejected, stays open
  test::BindingRequestOptions nominate;
  nominate.use_candidate = true;
  p.sendFrame(test::buildBindingRequest(username, p.server_pwd, nominate));
  ASSERT_TRUE(runUntil([&] { return p.stun_ok == 1; }));
  ASSERT_TRUE(peer.ice().selectedAddress());
  EXPECT_TRUE(peer.ice().selectedAddress()->tcp);
  EXPECT_EQ(udp_->drops().get(UdpDrop::StunRejected), 1u);
  EXPECT_EQ(udp_->routeCount(), 1u);

  ASSERT_TRUE(p.dtls.start());
  ASSERT_TRUE(runUntil([&] { return focus.connected && p.srtp && p.channel; })) << p.failure << focus.failure;
  ASSERT_TRUE(p.sctp.sendText(*p.channel, "over tcp"));
  ASSERT_TRUE(runUntil([&] { return !p.messages.empty(); }));
  EXPECT_EQ(p.messages.front(), "echo: over tcp");

  for (std::uint16_t i = 0; i < 30; ++i) ASSERT_TRUE(p.sendRtp(tcpRtp(i, 1111)));
  ASSERT_TRUE(runUntil([&] { return peer.rtpPackets("audio") == 30; }));
  std::vector<std::uint8_t> out;
  const std::size_t n = tcpRtp(0, 0xABCD).size();
  for (std::uint16_t i = 0; i < 5; ++i) {
    out = tcpRtp(i, 0xABCD);
    out.resize(n + kSrtpMaxTrailer);
    ASSERT_TRUE(peer.sendRtp(out, n, clock.nowMs()));
  }
  ASSERT_TRUE(runUntil([&] { return p.rtp_in == 5; }));
  EXPECT_EQ(udp_->datagramsReceived(), 0u);  // nothing took the UDP port
  EXPECT_EQ(peer.sendDrops().total(), 0u);
  EXPECT_GT(tcp_->framesSent(), 5u);

  // The participant goes away: the connection and its route are gone; sends now fail (counted).
  p.socket.close();
  ASSERT_TRUE(runUntil([&] { return tcp_->connectionCount() == 0; }));
  EXPECT_EQ(tcp_->closes().get(TcpClose::PeerClosed), 1u);
  EXPECT_EQ(udp_->routeCount(), 0u);
  out = tcpRtp(5, 0xABCD);
  out.resize(n + kSrtpMaxTrailer);
  EXPECT_FALSE(peer.sendRtp(out, n, clock.nowMs()));
  EXPECT_EQ(peer.sendDrops().get(PeerSendDrop::Socket), 1u);
}

TEST_F(TcpServerTest, AConnectionWhoseFirstFrameIsNotStunIsClosed) {
  SystemClock clock;
  start(clock);
  TcpParticipant p(io, *DtlsIdentity::generate());
  p.connect(tcp_->localEndpoint());
  ASSERT_TRUE(runUntil([&] { return tcp_->connectionCount() == 1; }));
  p.sendFrame(std::vector<std::uint8_t>{22, 0xFE, 0xFD, 0, 0});  // DTLS-looking, before any check
  ASSERT_TRUE(runUntil([&] { return p.closed && tcp_->connectionCount() == 0; }));
  EXPECT_EQ(tcp_->closes().get(TcpClose::NotStun), 1u);
}

TEST_F(TcpServerTest, AFrameOverTheLimitClosesTheConnection) {
  SystemClock clock;
  TcpLimits limits;
  limits.max_frame = 1500;
  start(clock, limits);
  TcpParticipant p(io, *DtlsIdentity::generate());
  p.connect(tcp_->localEndpoint());
  const std::uint8_t header[2] = {0x10, 0x00};  // 4096 bytes announced
  asio::write(p.socket, asio::buffer(header));
  ASSERT_TRUE(runUntil([&] { return p.closed && tcp_->connectionCount() == 0; }));
  EXPECT_EQ(tcp_->closes().get(TcpClose::FrameTooLarge), 1u);
}

TEST_F(TcpServerTest, UnvalidatedAndIdleConnectionsAreClosedBySweep) {
  FakeClock clock;
  TcpLimits limits;
  limits.validate_timeout_ms = 5'000;
  limits.idle_timeout_ms = 30'000;
  start(clock, limits);
  TcpParticipant silent(io, *DtlsIdentity::generate());
  silent.connect(tcp_->localEndpoint());
  TcpParticipant checker(io, *DtlsIdentity::generate());
  checker.connect(tcp_->localEndpoint());
  ASSERT_TRUE(runUntil([&] { return tcp_->connectionCount() == 2; }));
  // A STUN check for a ufrag nobody has: a STUN first frame, but not validated.
  checker.sendFrame(test::buildBindingRequest("nobody:tcpc", "whatever-password-0123456"));
  ASSERT_TRUE(runUntil([&] { return udp_->drops().get(UdpDrop::StunUnknownUfrag) == 1; }));
  tcp_->sweep(clock.nowMs() + 4'000);
  EXPECT_EQ(tcp_->connectionCount(), 2u);
  clock.advance(5'001);
  tcp_->sweep(clock.nowMs());
  EXPECT_EQ(tcp_->connectionCount(), 0u);
  EXPECT_EQ(tcp_->closes().get(TcpClose::NotValidated), 2u);
  ASSERT_TRUE(runUntil([&] { return silent.closed && checker.closed; }));
}

TEST_F(TcpServerTest, AValidatedConnectionIsClosedWhenIdle) {
  FakeClock clock;
  start(clock);
  auto server_id = DtlsIdentity::generate();
  auto client_id = DtlsIdentity::generate();
  Focus focus;
  WebRtcPeer peer(*server_id, *udp_, focus, clock.nowMs());
  auto answer = peer.acceptOffer(tcpOfferFor(*client_id));
  ASSERT_TRUE(answer);
  ASSERT_TRUE(udp_->addPeer(peer));
  TcpParticipant p(io, *client_id);
  p.server_pwd = tcpAttr(*answer, "ice-pwd");
  p.connect(tcp_->localEndpoint());
  p.sendFrame(test::buildBindingRequest(std::string(peer.iceUfrag()) + ":" + std::string(kTcpClientUfrag),
                                        p.server_pwd));
  ASSERT_TRUE(runUntil([&] { return p.stun_ok == 1; }));
  clock.advance(20'000);
  tcp_->sweep(clock.nowMs());  // validated: the 5 s limit no longer applies
  EXPECT_EQ(tcp_->connectionCount(), 1u);
  clock.advance(10'001);
  tcp_->sweep(clock.nowMs());
  EXPECT_EQ(tcp_->connectionCount(), 0u);
  EXPECT_EQ(tcp_->closes().get(TcpClose::Idle), 1u);
  EXPECT_EQ(udp_->routeCount(), 0u);
}

TEST_F(TcpServerTest, ConnectionsBeyondTheLimitAreRefused) {
  SystemClock clock;
  TcpLimits limits;
  limits.max_connections = 2;
  start(clock, limits);
  std::vector<std::unique_ptr<TcpParticipant>> ps;
  for (int i = 0; i < 4; ++i) {
    ps.push_back(std::make_unique<TcpParticipant>(io, *DtlsIdentity::generate()));
    ps.back()->connect(tcp_->localEndpoint());
  }
  ASSERT_TRUE(runUntil([&] { return tcp_->closes().get(TcpClose::TooManyConnections) == 2; }));
  EXPECT_EQ(tcp_->connectionCount(), 2u);
  EXPECT_EQ(tcp_->accepted(), 2u);
}

TEST_F(TcpServerTest, ConnectionsFromOneAddressAreCapped) {
  SystemClock clock;
  TcpLimits limits;
  limits.max_connections_per_ip = 3;
  start(clock, limits);
  std::vector<std::unique_ptr<TcpParticipant>> ps;
  for (int i = 0; i < 5; ++i) {
    ps.push_back(std::make_unique<TcpParticipant>(io, *DtlsIdentity::generate()));
    ps.back()->connect(tcp_->localEndpoint());
  }
  ASSERT_TRUE(runUntil([&] { return tcp_->closes().get(TcpClose::TooManyFromAddress) == 2; }));
  EXPECT_EQ(tcp_->connectionCount(), 3u);
  // Another address of the same host is another IP: 127.0.0.2 gets in.
  TcpParticipant other(io, *DtlsIdentity::generate());
  other.socket.open(tcp::v4());
  other.socket.bind(tcp::endpoint(asio::ip::make_address("127.0.0.2"), 0));
  other.connect(tcp_->localEndpoint());
  ASSERT_TRUE(runUntil([&] { return tcp_->connectionCount() == 4; }));
}

TEST_F(TcpServerTest, TheSendQueueIsBoundedAndDropsWholeFrames) {
  SystemClock clock;
  TcpLimits limits;
  limits.max_queued_bytes = 10'000;
  start(clock, limits);
  TcpParticipant p(io, *DtlsIdentity::generate());
  p.connect(tcp_->localEndpoint());
  ASSERT_TRUE(runUntil([&] { return tcp_->connectionCount() == 1; }));
  const auto local = p.socket.local_endpoint();
  TransportAddress to = toTransportAddress(udp::endpoint(local.address(), local.port()));
  to.tcp = true;
  const auto data = packet(998, 1);  // 1000 bytes framed
  int sent = 0;
  // The loop does not run in between: the first frame is being written, ten more fit the queue.
  for (int i = 0; i < 20; ++i) sent += tcp_->sendFramed(data, to) ? 1 : 0;
  EXPECT_EQ(sent, 11);
  EXPECT_EQ(tcp_->sendDrops(), 9u);
  // Unknown connection: dropped. Through the demux: a TCP address goes to the TCP server.
  TransportAddress other = to;
  other.port = static_cast<std::uint16_t>(to.port + 1);
  EXPECT_FALSE(udp_->send(data, other));
  EXPECT_EQ(udp_->drops().get(UdpDrop::SendFailed), 1u);
  // Everything that was queued arrives, framed.
  ASSERT_TRUE(runUntil([&] { return p.reader.framesRead() == 11; }));
  EXPECT_EQ(p.reader.framesRead(), 11u);
}

}  // namespace
}  // namespace chorus::io
