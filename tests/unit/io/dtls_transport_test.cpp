#include "io/dtls_transport.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "media/srtp/evp_srtp_session.hpp"
#include "media/srtp/srtp_session.hpp"

namespace chorus::io {
namespace {

struct Endpoint : DtlsTransport::Listener {
  std::deque<std::vector<std::uint8_t>> out;  // datagrams to deliver to the other side
  bool connected{false};
  std::string failure;
  media::SrtpProfile profile{};
  std::vector<std::uint8_t> material;
  std::vector<std::string> app_data;
  std::size_t max_datagram{0};

  void onDtlsSend(DtlsTransport&, media::ByteSpan d) override {
    out.emplace_back(d.begin(), d.end());
    max_datagram = std::max(max_datagram, d.size());
  }
  void onDtlsConnected(DtlsTransport&, media::SrtpProfile p, media::ByteSpan km) override {
    connected = true;
    profile = p;
    material.assign(km.begin(), km.end());
  }
  void onDtlsApplicationData(DtlsTransport&, media::ByteSpan d) override {
    app_data.emplace_back(reinterpret_cast<const char*>(d.data()), d.size());
  }
  void onDtlsFailed(DtlsTransport&, std::string_view reason) override { failure = reason; }
};

// Moves datagrams both ways until nothing is left (bounded).
void pump(DtlsTransport& a, Endpoint& ea, DtlsTransport& b, Endpoint& eb) {
  for (int i = 0; i < 100 && (!ea.out.empty() || !eb.out.empty()); ++i) {
    while (!ea.out.empty()) {
      auto d = std::move(ea.out.front());
      ea.out.pop_front();
      b.receive(d);
    }
    while (!eb.out.empty()) {
      auto d = std::move(eb.out.front());
      eb.out.pop_front();
      a.receive(d);
    }
  }
}

class DtlsPair : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    client_id_ = DtlsIdentity::generate().release();
    server_id_ = DtlsIdentity::generate().release();
  }
  static void TearDownTestSuite() {
    delete client_id_;
    delete server_id_;
  }
  static DtlsIdentity* client_id_;
  static DtlsIdentity* server_id_;
};
DtlsIdentity* DtlsPair::client_id_ = nullptr;
DtlsIdentity* DtlsPair::server_id_ = nullptr;

TEST_F(DtlsPair, IdentityHasSha256Fingerprint) {
  ASSERT_NE(client_id_, nullptr);
  const std::string& fp = client_id_->fingerprint();
  EXPECT_EQ(fp.size(), 95u);
  EXPECT_TRUE(parseSha256Fingerprint(fp));
  EXPECT_NE(fp, server_id_->fingerprint());
  EXPECT_FALSE(parseSha256Fingerprint(fp.substr(1)));
  EXPECT_FALSE(parseSha256Fingerprint(std::string(95, 'x')));
}

TEST_F(DtlsPair, HandshakeAgreesOnKeysAndSrtpWorksBothWays) {
  Endpoint ec, es;
  DtlsTransport client(*client_id_, media::DtlsRole::Client, ec);
  DtlsTransport server(*server_id_, media::DtlsRole::Server, es);
  ASSERT_TRUE(client.setRemoteFingerprint("sha-256", server_id_->fingerprint()));
  ASSERT_TRUE(server.setRemoteFingerprint("sha-256", client_id_->fingerprint()));
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(client.start());
  EXPECT_FALSE(ec.out.empty());  // ClientHello
  pump(client, ec, server, es);
  ASSERT_TRUE(ec.connected) << ec.failure;
  ASSERT_TRUE(es.connected) << es.failure;
  EXPECT_EQ(client.state(), DtlsState::Connected);
  EXPECT_EQ(ec.profile, media::SrtpProfile::AeadAes128Gcm);  // GCM preferred
  EXPECT_EQ(ec.material, es.material);
  EXPECT_EQ(ec.material.size(), media::srtpKeyingMaterialSize(ec.profile));
  EXPECT_LE(ec.max_datagram, kDtlsMtu);
  EXPECT_LE(es.max_datagram, kDtlsMtu);

  auto tx = media::createEvpSrtpSession(ec.profile, media::DtlsRole::Client, ec.material);
  auto rx = media::createEvpSrtpSession(es.profile, media::DtlsRole::Server, es.material);
  ASSERT_TRUE(tx && rx);
  for (int dir = 0; dir < 2; ++dir) {
    auto& p = dir == 0 ? *tx : *rx;
    auto& u = dir == 0 ? *rx : *tx;
    std::vector<std::uint8_t> pkt(12 + 100 + media::srtpRtpOverhead(ec.profile), 0xAB);
    pkt[0] = 0x80;
    pkt[1] = 111;
    pkt[2] = 0;
    pkt[3] = 1;
    pkt[8] = 0x12;
    pkt[11] = static_cast<std::uint8_t>(dir);
    const std::vector<std::uint8_t> plain(pkt.begin(), pkt.begin() + 112);
    const auto n = p.protectRtp(pkt, 112);
    ASSERT_TRUE(n);
    EXPECT_NE(std::vector<std::uint8_t>(pkt.begin() + 12, pkt.begin() + 112),
              std::vector<std::uint8_t>(plain.begin() + 12, plain.end()));
    const auto m = u.unprotectRtp(std::span(pkt.data(), *n));
    ASSERT_TRUE(m) << "direction " << dir;
    EXPECT_EQ(std::vector<std::uint8_t>(pkt.begin(), pkt.begin() + *m), plain);
  }

  // Application data both ways.
  const std::string hello = "sctp packet";
  ASSERT_TRUE(
      client.send(media::ByteSpan(reinterpret_cast<const std::uint8_t*>(hello.data()), hello.size())));
  ASSERT_TRUE(server.send(media::ByteSpan(reinterpret_cast<const std::uint8_t*>(hello.data()), 4)));
  pump(client, ec, server, es);
  ASSERT_EQ(es.app_data.size(), 1u);
  EXPECT_EQ(es.app_data[0], hello);
  ASSERT_EQ(ec.app_data.size(), 1u);
  EXPECT_EQ(ec.app_data[0], "sctp");

  // Garbage after the handshake is dropped and counted; the session survives.
  std::vector<std::uint8_t> junk(50, 0x17);
  junk[1] = 0xFE;
  junk[2] = 0xFD;
  server.receive(junk);
  EXPECT_EQ(server.state(), DtlsState::Connected);
  ASSERT_TRUE(client.send(media::ByteSpan(reinterpret_cast<const std::uint8_t*>(hello.data()), 3)));
  pump(client, ec, server, es);
  ASSERT_EQ(es.app_data.size(), 2u);
}

TEST_F(DtlsPair, WrongFingerprintIsRejected) {
  Endpoint ec, es;
  DtlsTransport client(*client_id_, media::DtlsRole::Client, ec);
  DtlsTransport server(*server_id_, media::DtlsRole::Server, es);
  // The server expects some other certificate than the client's.
  ASSERT_TRUE(client.setRemoteFingerprint("sha-256", server_id_->fingerprint()));
  ASSERT_TRUE(server.setRemoteFingerprint("sha-256", server_id_->fingerprint()));
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(client.start());
  pump(client, ec, server, es);
  EXPECT_FALSE(es.connected);
  EXPECT_EQ(server.state(), DtlsState::Failed);
  EXPECT_NE(es.failure.find("fingerprint"), std::string::npos) << es.failure;
  // No application data can flow from the server.
  EXPECT_FALSE(server.send(media::ByteSpan()));
}

TEST_F(DtlsPair, ClientRejectsWrongServerFingerprint) {
  Endpoint ec, es;
  DtlsTransport client(*client_id_, media::DtlsRole::Client, ec);
  DtlsTransport server(*server_id_, media::DtlsRole::Server, es);
  ASSERT_TRUE(client.setRemoteFingerprint("sha-256", client_id_->fingerprint()));
  ASSERT_TRUE(server.setRemoteFingerprint("sha-256", client_id_->fingerprint()));
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(client.start());
  pump(client, ec, server, es);
  EXPECT_FALSE(ec.connected);
  EXPECT_EQ(client.state(), DtlsState::Failed);
}

TEST_F(DtlsPair, StartNeedsFingerprintAndOnlySha256IsAccepted) {
  Endpoint e;
  DtlsTransport t(*client_id_, media::DtlsRole::Client, e);
  EXPECT_FALSE(t.setRemoteFingerprint("sha-1", "AB:CD"));
  EXPECT_FALSE(t.start());
  EXPECT_TRUE(t.setRemoteFingerprint("sha-256", server_id_->fingerprint()));
  EXPECT_TRUE(t.start());
  EXPECT_FALSE(t.start());
}

TEST_F(DtlsPair, LostFlightIsRetransmittedOnTimer) {
  Endpoint ec, es;
  DtlsTransport client(*client_id_, media::DtlsRole::Client, ec);
  DtlsTransport server(*server_id_, media::DtlsRole::Server, es);
  ASSERT_TRUE(client.setRemoteFingerprint("sha-256", server_id_->fingerprint()));
  ASSERT_TRUE(server.setRemoteFingerprint("sha-256", client_id_->fingerprint()));
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(client.start());
  ec.out.clear();  // the ClientHello is lost
  const auto t = client.timeoutMs();
  ASSERT_TRUE(t);
  EXPECT_GT(*t, 0);
  client.onTimer();  // not yet expired: nothing
  EXPECT_TRUE(ec.out.empty());
  // OpenSSL's timer runs on the wall clock (1 s initial). Wait for it rather than faking time.
  for (int i = 0; i < 300 && ec.out.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    client.onTimer();
  }
  ASSERT_FALSE(ec.out.empty());
  pump(client, ec, server, es);
  EXPECT_TRUE(ec.connected && es.connected);
}

TEST_F(DtlsPair, OversizedAndEarlyDatagramsAreCounted) {
  Endpoint e;
  DtlsTransport t(*server_id_, media::DtlsRole::Server, e);
  std::vector<std::uint8_t> d(10, 22);
  t.receive(d);  // before start()
  EXPECT_EQ(t.drops().get(DtlsDrop::NotReady), 1u);
  ASSERT_TRUE(t.setRemoteFingerprint("sha-256", client_id_->fingerprint()));
  ASSERT_TRUE(t.start());
  std::vector<std::uint8_t> big(kDtlsMaxDatagram + 1, 22);
  t.receive(big);
  EXPECT_EQ(t.drops().get(DtlsDrop::TooLarge), 1u);
  t.receive(d);  // a truncated record: ignored, still connecting
  EXPECT_EQ(t.state(), DtlsState::Connecting);
}

}  // namespace
}  // namespace chorus::io
