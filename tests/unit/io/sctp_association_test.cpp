#include "io/sctp_association.hpp"

#include <gtest/gtest.h>
#include <usrsctp.h>

#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace chorus::io {
namespace {

struct Side : SctpAssociation::Listener {
  std::deque<std::vector<std::uint8_t>> out;  // packets for the other side (queued: never re-entrant)
  bool connected{false};
  std::vector<std::pair<std::uint16_t, std::string>> opened;
  std::vector<std::tuple<std::uint16_t, std::string, bool>> messages;
  std::vector<std::uint16_t> closed;

  void onSctpSend(SctpAssociation&, media::ByteSpan p) override { out.emplace_back(p.begin(), p.end()); }
  void onSctpConnected(SctpAssociation&) override { connected = true; }
  void onDataChannelOpen(SctpAssociation&, std::uint16_t sid, std::string_view label,
                         std::string_view) override {
    opened.emplace_back(sid, std::string(label));
  }
  void onDataChannelMessage(SctpAssociation&, std::uint16_t sid, std::string_view d, bool binary) override {
    messages.emplace_back(sid, std::string(d), binary);
  }
  void onDataChannelClosed(SctpAssociation&, std::uint16_t sid) override { closed.push_back(sid); }
};

// Delivers the packets queued on both sides; whether there were any.
bool deliver(SctpAssociation& a, Side& sa, SctpAssociation& b, Side& sb) {
  bool moved = false;
  while (!sa.out.empty()) {
    auto p = std::move(sa.out.front());
    sa.out.pop_front();
    b.receive(p);
    moved = true;
  }
  while (!sb.out.empty()) {
    auto p = std::move(sb.out.front());
    sb.out.pop_front();
    a.receive(p);
    moved = true;
  }
  return moved;
}

// Delivers queued packets both ways and drives usrsctp's timers until `done` or ~3 s pass.
template <typename Done>
bool pumpUntil(SctpAssociation& a, Side& sa, SctpAssociation& b, Side& sb, Done done) {
  for (int i = 0; i < 3000; ++i) {
    const bool moved = deliver(a, sa, b, sb);
    if (done()) return true;
    if (!moved) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      SctpAssociation::handleTimers(1);
    }
  }
  return done();
}

TEST(SctpAssociation, BackToBackChannelAndMessagesBothWays) {
  Side sc, ss;
  {
    SctpAssociation client(sc, media::DtlsRole::Client);
    SctpAssociation server(ss, media::DtlsRole::Server);
    EXPECT_GE(SctpAssociation::liveCount(), 2u);
    ASSERT_TRUE(client.start());
    ASSERT_TRUE(server.start());
    ASSERT_TRUE(pumpUntil(client, sc, server, ss, [&] { return sc.connected && ss.connected; }));

    const auto sid = client.openChannel("chat");
    ASSERT_TRUE(sid);
    EXPECT_EQ(*sid % 2, 0);  // DTLS client: even stream ids
    // RFC 8832 §6: data may follow the OPEN before the ACK arrives.
    ASSERT_TRUE(client.sendText(*sid, "hello from client"));
    ASSERT_TRUE(
        pumpUntil(client, sc, server, ss, [&] { return !ss.messages.empty() && !sc.opened.empty(); }));
    ASSERT_EQ(ss.opened.size(), 1u);
    EXPECT_EQ(ss.opened[0], std::make_pair(*sid, std::string("chat")));
    EXPECT_EQ(std::get<1>(ss.messages[0]), "hello from client");
    EXPECT_FALSE(std::get<2>(ss.messages[0]));
    EXPECT_TRUE(client.channelOpen(*sid));  // ACKed
    EXPECT_TRUE(server.channelOpen(*sid));

    ASSERT_TRUE(server.sendText(*sid, "hello from server"));
    ASSERT_TRUE(server.sendText(*sid, ""));  // empty string: PPID 56
    const std::string big(100 * 1000, 'x');  // larger than one SCTP packet: fragmented and reassembled
    ASSERT_TRUE(server.sendText(*sid, big));
    const std::uint8_t bin[3] = {1, 2, 3};
    ASSERT_TRUE(server.sendBinary(*sid, bin));
    ASSERT_TRUE(pumpUntil(client, sc, server, ss, [&] { return sc.messages.size() == 4; }));
    EXPECT_EQ(std::get<1>(sc.messages[0]), "hello from server");
    EXPECT_EQ(std::get<1>(sc.messages[1]), "");
    EXPECT_EQ(std::get<1>(sc.messages[2]), big);
    EXPECT_EQ(std::get<1>(sc.messages[3]), std::string("\1\2\3"));
    EXPECT_TRUE(std::get<2>(sc.messages[3]));

    // Oversized messages are refused on send.
    EXPECT_FALSE(server.sendText(*sid, std::string(kSctpMaxMessageSize + 1, 'y')));
    // Unknown stream.
    EXPECT_FALSE(server.sendText(777, "x"));

    // A second channel opened by the server side uses odd ids.
    const auto sid2 = server.openChannel("second");
    ASSERT_TRUE(sid2);
    EXPECT_EQ(*sid2 % 2, 1);
    ASSERT_TRUE(
        pumpUntil(client, sc, server, ss, [&] { return sc.opened.size() == 2 && ss.opened.size() == 2; }))
        << sc.opened.size() << " " << ss.opened.size() << " " << client.drops().total() << " "
        << server.drops().total();
    EXPECT_EQ(sc.opened[0].second, "chat");  // our own channel, reported on the ACK
    EXPECT_EQ(sc.opened[1], std::make_pair(*sid2, std::string("second")));
    EXPECT_EQ(server.drops().get(SctpDrop::SendFailed), 2u);  // the two refused sends above

    // Closing: the client resets its stream, the server answers with its own reset; both report closed.
    client.closeChannel(*sid);
    ASSERT_TRUE(pumpUntil(client, sc, server, ss, [&] { return !ss.closed.empty() && !sc.closed.empty(); }));
    EXPECT_EQ(ss.closed[0], *sid);
    EXPECT_EQ(sc.closed[0], *sid);
    EXPECT_FALSE(server.channelOpen(*sid));
    EXPECT_EQ(client.drops().total(), 0u + client.drops().get(SctpDrop::SendFailed));
  }
  // Destroyed associations are out of the registry; timers for them are harmless.
  SctpAssociation::handleTimers(10);
}

// Two associations, connected, with one open channel ("dc") and nothing in flight.
struct ChannelPair {
  Side sc, ss;
  SctpAssociation client{sc, media::DtlsRole::Client};
  SctpAssociation server{ss, media::DtlsRole::Server};
  std::uint16_t sid{0};
  void open() {
    ASSERT_TRUE(client.start());
    ASSERT_TRUE(server.start());
    ASSERT_TRUE(pumpUntil(client, sc, server, ss, [&] { return sc.connected && ss.connected; }));
    const auto id = client.openChannel("dc");
    ASSERT_TRUE(id);
    sid = *id;
    ASSERT_TRUE(pumpUntil(client, sc, server, ss, [&] { return !sc.opened.empty() && !ss.opened.empty(); }));
    ASSERT_TRUE(pumpUntil(client, sc, server, ss, [&] { return sc.out.empty() && ss.out.empty(); }));
  }
};

// A data-channel message lost on the wire is sent again after one RTO. usrsctp's defaults (1 s minimum, 3 s
// before the first RTT sample, doubling on each loss) held a focus's offer back for seconds on a lossy link;
// the association uses Chrome's (dcsctp's) 500 ms initial and 400 ms minimum RTO instead.
TEST(SctpAssociation, ALostMessageIsSentAgainWithinTheMinimumRto) {
  ChannelPair pair;
  ASSERT_NO_FATAL_FAILURE(pair.open());
  auto& [sc, ss, client, server, sid] = pair;

  ASSERT_TRUE(server.sendText(sid, "offer"));
  ASSERT_FALSE(ss.out.empty());
  ss.out.clear();  // the DATA packet is lost
  int elapsed_ms = 0;
  for (; elapsed_ms < 3000 && sc.messages.empty(); ++elapsed_ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // usrsctp's RTT samples read the real clock
    SctpAssociation::handleTimers(1);
    deliver(client, sc, server, ss);
  }
  ASSERT_EQ(sc.messages.size(), 1u);
  EXPECT_EQ(std::get<1>(sc.messages[0]), "offer");
  EXPECT_GE(elapsed_ms, 300);  // not sent twice at once
  EXPECT_LT(elapsed_ms, 900) << "the retransmission waited " << elapsed_ms << " ms";
}

// A message lost again and again is retried at least every maximum RTO (Chrome's dcsctp caps its backoff
// too): usrsctp alone would double its timeout each time, up to 60 s, longer than a data-channel keepalive.
// This runs with a 1.6 s maximum, to see the backoff meet it in seconds; RunsWithOurRetransmissionLimits
// shows that associations run with kSctpMaxRtoMs.
TEST(SctpAssociation, RepeatedLossesBackOffNoFurtherThanTheCap) {
  {
    Side s;
    SctpAssociation first(s, media::DtlsRole::Client);
  }  // usrsctp and our defaults set up first
  constexpr std::uint32_t kCapMs = 1600;
  usrsctp_sysctl_set_sctp_rto_max_default(kCapMs);  // for the associations made here (read at their creation)
  ChannelPair pair;
  pair.open();  // start() makes the sockets
  usrsctp_sysctl_set_sctp_rto_max_default(kSctpMaxRtoMs);
  ASSERT_FALSE(HasFatalFailure());
  auto& [sc, ss, client, server, sid] = pair;
  ASSERT_EQ(server.limits()->rto_max_ms, kCapMs);

  ASSERT_TRUE(server.sendText(sid, "ping"));
  // The first transmission and the next four retransmissions are lost (at about 0, 0.4, 1.2, 2.8 and 4.4 s:
  // the timeout doubles from 0.4 s and stops at 1.6 s); the next comes 1.6 s later with the cap, 3.2 s
  // without it.
  constexpr int kLost = 5;
  int lost = 0, elapsed_ms = 0, last_loss_ms = 0;
  for (; elapsed_ms < 20'000 && sc.messages.empty(); ++elapsed_ms) {
    if (!ss.out.empty() && lost < kLost) {
      ss.out.clear();
      ++lost;
      last_loss_ms = elapsed_ms;
    }
    deliver(client, sc, server, ss);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // usrsctp's RTT samples read the real clock
    SctpAssociation::handleTimers(1);
  }
  ASSERT_EQ(lost, kLost);
  ASSERT_EQ(sc.messages.size(), 1u);
  EXPECT_EQ(std::get<1>(sc.messages[0]), "ping");
  EXPECT_GE(last_loss_ms, 3000) << "the losses came faster than the backoff doubles";
  EXPECT_LE(elapsed_ms - last_loss_ms, static_cast<int>(kCapMs) + 300)
      << "the last retransmission came " << (elapsed_ms - last_loss_ms) << " ms after the loss before it";
}

// The wire tally (diagnostics in the focus's stats) sees a message's DATA going out, arriving, and being
// acknowledged with the receiver's window.
TEST(SctpAssociation, TheWireTallySeesDataAndItsAcknowledgement) {
  ChannelPair pair;
  ASSERT_NO_FATAL_FAILURE(pair.open());
  auto& [sc, ss, client, server, sid_] = pair;
  const std::uint64_t data_before = client.wireIn().data_chunks;

  ASSERT_TRUE(server.sendText(sid_, "hello"));
  const std::uint32_t tsn = server.wireOut().last_data_tsn;
  ASSERT_TRUE(pumpUntil(client, sc, server, ss,
                        [&] { return !sc.messages.empty() && server.wireIn().last_cum_tsn_ack == tsn; }));
  EXPECT_EQ(client.wireIn().data_chunks, data_before + 1);
  EXPECT_EQ(client.wireIn().last_data_tsn, tsn);
  EXPECT_EQ(client.wireOut().last_cum_tsn_ack, tsn);
  EXPECT_GT(client.wireOut().last_a_rwnd, 0u);
  EXPECT_EQ(server.wireIn().last_a_rwnd, client.wireOut().last_a_rwnd);
  EXPECT_GE(client.wireOut().sacks, 1u);
  EXPECT_EQ(client.wireIn().malformed, 0u);
  EXPECT_EQ(server.wireIn().malformed, 0u);
}

// The association's one path fails only with the association: usrsctp's own path threshold (5 consecutive
// timeouts) stopped new DATA on a lossy multi-second link while the association lived on (below). And the
// backoff stops at kSctpMaxRtoMs. Read back from usrsctp, so a default that does not take shows here.
TEST(SctpAssociation, RunsWithOurRetransmissionLimits) {
  ChannelPair pair;
  ASSERT_NO_FATAL_FAILURE(pair.open());
  for (const SctpAssociation* a : {&pair.client, &pair.server}) {
    const auto st = a->status();
    ASSERT_TRUE(st);
    EXPECT_EQ(st->state, SCTP_ESTABLISHED);
    EXPECT_EQ(st->path_state, SCTP_ACTIVE);
    EXPECT_EQ(SctpAssociation::pathStateName(st->path_state), "active");
    const auto lim = a->limits();
    ASSERT_TRUE(lim);
    EXPECT_EQ(lim->path_max_retransmits, kSctpAssocMaxRetransmits);
    EXPECT_EQ(lim->assoc_max_retransmits, kSctpAssocMaxRetransmits);
    EXPECT_EQ(lim->rto_max_ms, kSctpMaxRtoMs);
  }
}

// A round trip above the maximum RTO (overloaded browsers on a lossy link reached 3-4 s, and the maximum was
// 3 s): every chunk times out before its SACK comes back, and an ack of a retransmitted chunk does not clear
// the path's error count. usrsctp counted those timeouts against the one path, marked it inactive after five
// (sctp_path_rtx_max_default) and stopped sending new DATA: messages were accepted and never went on the
// wire, with nothing outstanding, and the focus removed the participant for a missing pong. This plays a
// third of that scene (a 1 s maximum RTO, a 1.2 s round trip; the mechanism counts timeouts, not seconds).
// With usrsctp's path threshold the path goes inactive after ~6 s and nothing more arrives (24 of 35
// messages); with the path failing only with the association, everything does.
TEST(SctpAssociation, ARoundTripAboveTheMaximumRtoKeepsDelivering) {
  {
    Side s;
    SctpAssociation first(s, media::DtlsRole::Client);
  }                                               // usrsctp and our defaults set up first
  usrsctp_sysctl_set_sctp_rto_max_default(1000);  // for the associations made here (read at their creation)
  ChannelPair pair;
  pair.open();  // start() makes the sockets
  usrsctp_sysctl_set_sctp_rto_max_default(kSctpMaxRtoMs);
  ASSERT_FALSE(HasFatalFailure());
  auto& [sc, ss, client, server, sid] = pair;
  ASSERT_EQ(server.limits()->rto_max_ms, 1000u);
  constexpr int kOneWayMs = 600;  // 1.2 s round trip
  struct InFlight {
    int due_ms;
    std::vector<std::uint8_t> packet;
  };
  std::deque<InFlight> to_client, to_server;
  std::uint64_t sent = 0;
  int last_send_ms = 0;
  for (int now = 0; now < 10'700; ++now) {
    for (; !ss.out.empty(); ss.out.pop_front())
      to_client.push_back({now + kOneWayMs, std::move(ss.out.front())});
    for (; !sc.out.empty(); sc.out.pop_front())
      to_server.push_back({now + kOneWayMs, std::move(sc.out.front())});
    for (; !to_client.empty() && to_client.front().due_ms <= now; to_client.pop_front())
      client.receive(to_client.front().packet);
    for (; !to_server.empty() && to_server.front().due_ms <= now; to_server.pop_front())
      server.receive(to_server.front().packet);
    if (now % 233 == 0 && now <= 8'000) {  // a ping or a metadata update now and then, as the focus sends
      ASSERT_TRUE(server.sendText(sid, std::string(now % 932 == 0 ? 3000 : 60, 'm')));
      ++sent;
      last_send_ms = now;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // usrsctp's RTT samples read the real clock
    SctpAssociation::handleTimers(1);
  }
  // Everything sent up to 8 s has had 2.7 s (two round trips and more) to arrive.
  EXPECT_EQ(sc.messages.size(), sent) << "the last message was sent at " << last_send_ms << " ms";
  EXPECT_EQ(server.status()->path_state, SCTP_ACTIVE);
}

TEST(SctpAssociation, GarbageInputIsHarmless) {
  Side s;
  SctpAssociation a(s, media::DtlsRole::Server);
  ASSERT_TRUE(a.start());
  std::vector<std::uint8_t> junk(200, 0x5A);
  a.receive(junk);
  a.receive(media::ByteSpan());
  EXPECT_FALSE(a.connected());
}

}  // namespace
}  // namespace chorus::io
