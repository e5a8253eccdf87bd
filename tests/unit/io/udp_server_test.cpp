// UdpServer's batched path: the kernel-timestamp mapping on its own, and recvmmsg/sendmmsg over 127.0.0.1
// (many datagrams in, every one delivered in order with a plausible arrival time; what the peer sends while a
// batch is handled goes out in sendmmsg calls, in order, larger datagrams included).
#include "io/udp_server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "io_test_util.hpp"
#include "media/bytes.hpp"

namespace chorus::io {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;

constexpr std::int64_t kNowUs = 1'700'000'000'123'456;  // CLOCK_REALTIME µs
constexpr TimeMs kNowMs = kNowUs / 1000;                // what SystemClock reads at the same instant

TEST(MapKernelArrival, SameClockKeepsTheKernelStampToTheMicrosecond) {
  EXPECT_EQ(mapKernelArrivalUs(kNowUs - 2'345, kNowUs, kNowMs, true), kNowUs - 2'345);
  // A ms boundary crossed between the clock reading and the realtime reading is still the same clock.
  EXPECT_EQ(mapKernelArrivalUs(kNowUs - 2'345, kNowUs + 1'000, kNowMs, true), kNowUs - 2'345);
}

TEST(MapKernelArrival, SameClockReadMillisecondsApartKeepsKernelOrder) {
  // The thread was preempted between the two readings (seen in CI: 3.6 ms); arrivals of one batch must keep
  // the kernel's order and not be shifted by the gap.
  const std::int64_t late_realtime = kNowUs + 3'600;
  const std::int64_t first = mapKernelArrivalUs(kNowUs - 300, late_realtime, kNowMs, true);
  const std::int64_t second = mapKernelArrivalUs(kNowUs - 200, late_realtime, kNowMs, true);
  EXPECT_EQ(first, kNowUs - 300);
  EXPECT_EQ(second, kNowUs - 200);
}

TEST(MapKernelArrival, AnotherClockIsShiftedByTheDifference) {
  const TimeMs fake_now = 1'000'000;  // a FakeClock far from the real time
  EXPECT_EQ(mapKernelArrivalUs(kNowUs - 5'000, kNowUs, fake_now, false), fake_now * 1000 - 5'000);
  // Even when it happens to be close to the real time.
  EXPECT_EQ(mapKernelArrivalUs(kNowUs - 5'000, kNowUs, kNowMs + 1, false), (kNowMs + 1) * 1000 - 5'000);
}

TEST(MapKernelArrival, NeverAfterNowNorTooLongBefore) {
  for (const bool realtime : {true, false}) {
    EXPECT_EQ(mapKernelArrivalUs(kNowUs + 50'000, kNowUs, kNowMs, realtime),
              realtime ? kNowUs : kNowMs * 1000);
    EXPECT_EQ(mapKernelArrivalUs(kNowUs - 3 * kUdpMaxArrivalAgeUs, kNowUs, kNowMs, realtime),
              (realtime ? kNowUs : kNowMs * 1000) - kUdpMaxArrivalAgeUs);
  }
}

TEST(MapKernelArrival, MissingStampIsTheClocksNow) {
  EXPECT_EQ(mapKernelArrivalUs(0, kNowUs, kNowMs, true), kNowMs * 1000);
  EXPECT_EQ(mapKernelArrivalUs(-7, kNowUs, 42, false), 42'000);
}

TEST(OrderedArrival, SmallInversionsTakeThePreviousArrivalAClockStepDoesNot) {
  EXPECT_EQ(orderedArrivalUs(kNowUs, kNowUs - 10), kNowUs);     // in order
  EXPECT_EQ(orderedArrivalUs(kNowUs - 8'000, kNowUs), kNowUs);  // 8 ms of CPU clock skew
  EXPECT_EQ(orderedArrivalUs(kNowUs - kUdpMaxArrivalInversionUs, kNowUs), kNowUs);
  EXPECT_EQ(orderedArrivalUs(kNowUs - 2'000'000, kNowUs), kNowUs - 2'000'000);  // the clock stepped back
  EXPECT_EQ(orderedArrivalUs(kNowUs, 0), kNowUs);                               // the first datagram
}

TEST(MapKernelArrival, OnlyTheSystemClockIsTheKernelsClock) {
  EXPECT_TRUE(SystemClock{}.isRealtime());
  EXPECT_FALSE(FakeClock{}.isRealtime());
}

// Accepts every STUN check, owns every address, records what arrives and echoes it back through the server.
class EchoPeer final : public UdpServer::Peer {
 public:
  explicit EchoPeer(UdpServer& server) : server_(server) {}
  std::string_view iceUfrag() const override { return "srv"; }
  bool onStun(const media::StunMessage&, const TransportAddress&, TimeMs) override { return true; }
  bool ownsAddress(const TransportAddress&) const override { return true; }
  void onDatagram(media::PacketKind, media::MutableByteSpan datagram, const TransportAddress& from,
                  TimeMs) override {
    received.emplace_back(datagram.begin(), datagram.end());
    arrivals.push_back(server_.arrivalUs());
    if (echo && echo_in_slot && (received.size() % 2 == 0) && datagram.size() <= kUdpTxSlot) {
      // Written straight into the send queue, as the focus protects RTP into it.
      const auto slot = server_.queueSlot(from);
      EXPECT_EQ(slot.size(), kUdpTxSlot);
      std::copy(datagram.begin(), datagram.end(), slot.begin());
      server_.commitQueued(datagram.size(), from);
    } else if (echo) {
      EXPECT_TRUE(server_.send(datagram, from));
    }
    for (const auto& to : also_to) EXPECT_TRUE(server_.send(datagram, to));
  }
  bool onTick(TimeMs) override {
    tick_times.push_back(std::chrono::steady_clock::now());
    return true;
  }

  std::vector<std::chrono::steady_clock::time_point> tick_times;
  std::vector<std::vector<std::uint8_t>> received;
  std::vector<std::int64_t> arrivals;
  bool echo{true};
  bool echo_in_slot{false};               // every other echo through queueSlot()/commitQueued()
  std::vector<TransportAddress> also_to;  // every datagram is also sent there (a fan-out)

 private:
  UdpServer& server_;
};

std::int64_t realtimeUs() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// An RTP-looking datagram (RFC 7983: first byte 128..191) numbered `i`.
std::vector<std::uint8_t> rtpLike(std::uint16_t i, std::size_t size) {
  std::vector<std::uint8_t> p(size, static_cast<std::uint8_t>(i * 13));
  p[0] = 0x80;
  p[1] = 96;
  media::store16(p.data() + 2, i);
  return p;
}

class UdpBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.bind(udp::endpoint(asio::ip::make_address("127.0.0.1"), 0), tickMs()));
    server_.addPeer(peer_);
    client_.open(udp::v4());
    client_.bind(udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client_.set_option(asio::socket_base::receive_buffer_size(4 * 1024 * 1024));
    // The client's address becomes the peer's through a STUN check.
    const auto check = test::buildBindingRequest("srv:cli", "password");
    client_.send_to(asio::buffer(check), server_.localEndpoint());
    runUntil([&] { return server_.routeCount() == 1; });
    ASSERT_EQ(server_.routeCount(), 1u);
  }
  void TearDown() override { server_.removePeer(peer_); }
  virtual std::uint32_t tickMs() const { return 10; }

  // Runs the loop until `done` or 5 s of wall time (the datagrams are on loopback: far less in practice).
  template <class F>
  void runUntil(F done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < deadline)
      io_.run_one_for(std::chrono::milliseconds(20));
  }

  std::vector<std::vector<std::uint8_t>> receiveAll(std::size_t count) { return receiveAll(client_, count); }
  std::vector<std::vector<std::uint8_t>> receiveAll(udp::socket& socket, std::size_t count) {
    std::vector<std::vector<std::uint8_t>> out;
    socket.non_blocking(true);
    std::vector<std::uint8_t> buf(kUdpMaxDatagram);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
      boost::system::error_code ec;
      udp::endpoint from;
      const std::size_t n = socket.receive_from(asio::buffer(buf), from, 0, ec);
      if (ec == asio::error::would_block) {
        io_.run_one_for(std::chrono::milliseconds(5));
        continue;
      }
      if (!ec) out.emplace_back(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    }
    return out;
  }

  asio::io_context io_;
  SystemClock clock_;
  UdpServer server_{io_, clock_};
  EchoPeer peer_{server_};
  udp::socket client_{io_};
};

TEST_F(UdpBatchTest, ManyDatagramsArriveInOrderInFewCallsWithKernelArrivalTimes) {
  constexpr std::uint16_t kCount = 300;
  peer_.received.clear();
  peer_.arrivals.clear();
  const auto rx_calls_before = server_.receiveCalls();
  const auto tx_calls_before = server_.sendCalls();
  const std::int64_t before = realtimeUs();
  std::vector<std::vector<std::uint8_t>> sent;
  for (std::uint16_t i = 0; i < kCount; ++i) {
    // Mostly media-sized, a few larger than a send-queue slot (sent at once, after what is queued).
    sent.push_back(rtpLike(i, i % 50 == 7 ? kUdpTxSlot + 500 : 200 + i % 900));
    client_.send_to(asio::buffer(sent.back()), server_.localEndpoint());
  }
  runUntil([&] { return peer_.received.size() == kCount; });
  const std::int64_t after = realtimeUs();
  ASSERT_EQ(peer_.received.size(), kCount);
  EXPECT_EQ(peer_.received, sent);
  // All were waiting in the socket before the loop ran: batches of up to kUdpBatch.
  const auto rx_calls = server_.receiveCalls() - rx_calls_before;
  EXPECT_GE(rx_calls, (kCount + kUdpBatch - 1) / kUdpBatch);
  EXPECT_LT(rx_calls, kCount / 4);
  for (std::size_t i = 0; i < peer_.arrivals.size(); ++i) {
    EXPECT_GE(peer_.arrivals[i], before) << i;
    EXPECT_LE(peer_.arrivals[i], after) << i;
    if (i > 0) {
      EXPECT_GE(peer_.arrivals[i], peer_.arrivals[i - 1]) << i;
    }
  }
  // The kernel stamps when each datagram arrived, not when the batch was read: µs apart, not all equal.
  EXPECT_LT(peer_.arrivals.front(), peer_.arrivals.back());

  const auto echoed = receiveAll(kCount);
  EXPECT_EQ(echoed, sent);
  EXPECT_EQ(server_.datagramsSent(), kCount);
  EXPECT_LT(server_.sendCalls() - tx_calls_before, kCount / 2);  // sendmmsg, plus the large ones alone
  EXPECT_EQ(server_.drops().total(), 0u);
}

// A batch fanned out to two addresses, as the focus forwards: each address gets exactly what was sent, in
// order, datagram by datagram, whether runs of equal sizes left as UDP GSO messages or one by one.
class UdpGsoTest : public UdpBatchTest, public ::testing::WithParamInterface<bool> {};

TEST_P(UdpGsoTest, FannedOutBatchesArriveWholeAndInOrder) {
  const bool gso = GetParam();
  server_.setGso(gso);
  udp::socket other{io_};
  other.open(udp::v4());
  other.bind(udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  other.set_option(asio::socket_base::receive_buffer_size(4 * 1024 * 1024));
  peer_.also_to = {toTransportAddress(other.local_endpoint())};
  constexpr std::uint16_t kCount = 200;
  std::vector<std::vector<std::uint8_t>> sent;
  for (std::uint16_t i = 0; i < kCount; ++i) {
    // Runs of equal sizes (video packets of one frame), ended by a shorter one or broken by a longer one.
    const std::size_t size = i % 10 == 9 ? 300 : i % 37 == 5 ? 1100 : 1000;
    sent.push_back(rtpLike(i, size));
    client_.send_to(asio::buffer(sent.back()), server_.localEndpoint());
  }
  const auto tx_calls_before = server_.sendCalls();
  runUntil([&] { return peer_.received.size() == kCount; });
  ASSERT_EQ(peer_.received.size(), kCount);
  EXPECT_EQ(receiveAll(kCount), sent);
  EXPECT_EQ(receiveAll(other, kCount), sent);
  EXPECT_EQ(server_.datagramsSent(), 2u * kCount);
  EXPECT_EQ(server_.drops().total(), 0u);
  EXPECT_EQ(server_.gso(), gso);
  if (gso) {
    // Most left inside GSO messages: far fewer send calls than without (one sendmmsg per ≤ 64 queued).
    EXPECT_GT(server_.gsoDatagramsSent(), kCount);
    EXPECT_LE(server_.sendCalls() - tx_calls_before, 2u * kCount / kUdpTxQueue + 8);
  } else {
    EXPECT_EQ(server_.gsoDatagramsSent(), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(GsoOnAndOff, UdpGsoTest, ::testing::Bool());

TEST_F(UdpBatchTest, DatagramsWrittenIntoTheQueueKeepTheOrderWithCopiedOnes) {
  peer_.echo_in_slot = true;
  constexpr std::uint16_t kCount = 150;
  std::vector<std::vector<std::uint8_t>> sent;
  for (std::uint16_t i = 0; i < kCount; ++i) {
    sent.push_back(rtpLike(i, i % 40 == 3 ? kUdpTxSlot + 100 : 100 + i % 1000));
    client_.send_to(asio::buffer(sent.back()), server_.localEndpoint());
  }
  runUntil([&] { return peer_.received.size() == kCount; });
  ASSERT_EQ(peer_.received.size(), kCount);
  EXPECT_EQ(receiveAll(kCount), sent);
  EXPECT_EQ(server_.datagramsSent(), kCount);
  EXPECT_EQ(server_.drops().total(), 0u);
}

TEST_F(UdpBatchTest, SendsOutsideABatchGoAtOnce) {
  const auto tx_calls = server_.sendCalls();
  const auto p = rtpLike(1, 100);
  // No queue slot outside a batch (nor for ICE-TCP): send() it.
  EXPECT_TRUE(server_.queueSlot(toTransportAddress(client_.local_endpoint())).empty());
  EXPECT_TRUE(server_.send(p, toTransportAddress(client_.local_endpoint())));
  EXPECT_EQ(server_.sendCalls(), tx_calls + 1);
  EXPECT_EQ(receiveAll(1), std::vector<std::vector<std::uint8_t>>{p});
}

// Receive coalescing: a datagram less than the interval after the previous wake-up makes the server read
// next on its timer; what arrives meanwhile wakes nobody and is read in one batch; a timer read that finds
// nothing goes back to waiting for the socket.
TEST_F(UdpBatchTest, CoalescingReadsWhatArrivesUnderLoadOnTheTimerInOneBatch) {
  using namespace std::chrono;
  constexpr TimeMs kInterval = 200;
  server_.setReceiveCoalescing(kInterval);
  peer_.echo = false;
  peer_.received.clear();
  const auto to = server_.localEndpoint();
  const auto send = [&](std::uint16_t i) { client_.send_to(asio::buffer(rtpLike(i, 100)), to); };
  io_.run_for(milliseconds(3 * kInterval));  // past the STUN check's wake-up: waiting for the socket
  const auto held = server_.coalescedWaits();

  send(1);
  runUntil([&] { return peer_.received.size() == 1; });
  send(2);  // right after the first wake-up: under load
  runUntil([&] { return peer_.received.size() == 2; });
  ASSERT_EQ(peer_.received.size(), 2u);
  EXPECT_EQ(server_.coalescedWaits(), held + 1);
  const auto wakeups = server_.receiveWakeups();
  const auto rx_calls = server_.receiveCalls();
  const auto held_at = steady_clock::now();

  for (std::uint16_t i = 3; i <= 12; ++i) send(i);
  runUntil([&] { return peer_.received.size() == 12; });
  ASSERT_EQ(peer_.received.size(), 12u);
  // Read on the timer (it cannot fire early), in one wake-up and one recvmmsg.
  EXPECT_GE(duration_cast<milliseconds>(steady_clock::now() - held_at).count(), kInterval - 20);
  EXPECT_EQ(server_.receiveWakeups(), wakeups + 1);
  EXPECT_EQ(server_.receiveCalls(), rx_calls + 1);
  for (std::uint16_t i = 0; i < 12; ++i) EXPECT_EQ(media::load16(peer_.received[i].data() + 2), i + 1);

  // The next timer read finds nothing: the server waits for the socket again, and the loop sleeps.
  io_.run_for(milliseconds(3 * kInterval));
  EXPECT_EQ(server_.receiveWakeups(), wakeups + 2);
  EXPECT_EQ(server_.coalescedWaits(), held + 2);
  send(13);
  runUntil([&] { return peer_.received.size() == 13; });
  EXPECT_EQ(peer_.received.size(), 13u);
  EXPECT_EQ(server_.receiveWakeups(), wakeups + 3);
  EXPECT_EQ(server_.drops().total(), 0u);
}

// A long tick (1 s: it runs 1 to 1.2 s after the previous one), so that the test's wall-clock steps have 180 ms
// of room on a loaded machine.
class UdpTickTest : public UdpBatchTest {
 protected:
  std::uint32_t tickMs() const override { return kTick; }
  static constexpr TimeMs kTick = 1000;
  static constexpr TimeMs kSlack = 200;
};

TEST_F(UdpTickTest, AWakeUpThatReadsDatagramsRunsADueTickAndTheTimerMovesOn) {
  using namespace std::chrono;
  peer_.echo = false;
  peer_.received.clear();
  const auto to = server_.localEndpoint();
  const auto msSince = [](steady_clock::time_point t) {
    return duration_cast<milliseconds>(steady_clock::now() - t).count();
  };
  // A tick on the timer: it cannot fire before the slack past the due time.
  const std::size_t first = peer_.tick_times.size();
  runUntil([&] { return peer_.tick_times.size() > first; });
  ASSERT_GT(peer_.tick_times.size(), first);
  std::size_t ticks = peer_.tick_times.size();
  const auto on_receive = server_.ticksOnReceive();

  // A datagram soon after it does not bring the next tick forward.
  client_.send_to(asio::buffer(rtpLike(1, 100)), to);
  runUntil([&] { return peer_.received.size() == 1; });
  ASSERT_EQ(peer_.received.size(), 1u);
  if (msSince(peer_.tick_times.back()) < kTick - 50) {  // (a slow machine may be past the due time)
    EXPECT_EQ(peer_.tick_times.size(), ticks);
    EXPECT_EQ(server_.ticksOnReceive(), on_receive);
  }

  // One once the tick is due (20 ms after, inside the slack) runs it in its own wake-up.
  while (msSince(peer_.tick_times.back()) < kTick + 20 && peer_.tick_times.size() == ticks)
    io_.run_one_for(milliseconds(5));
  ASSERT_EQ(peer_.tick_times.size(), ticks);  // the timer waits for due + slack
  client_.send_to(asio::buffer(rtpLike(2, 100)), to);
  runUntil([&] { return peer_.received.size() == 2; });
  ASSERT_EQ(peer_.received.size(), 2u);
  EXPECT_EQ(peer_.tick_times.size(), ticks + 1);
  EXPECT_EQ(server_.ticksOnReceive(), on_receive + 1);
  ticks = peer_.tick_times.size();

  // With nothing to read, the next one is the timer's again, a tick interval plus the slack later, once.
  runUntil([&] { return peer_.tick_times.size() > ticks; });
  ASSERT_EQ(peer_.tick_times.size(), ticks + 1);
  EXPECT_GE(duration_cast<milliseconds>(peer_.tick_times[ticks] - peer_.tick_times[ticks - 1]).count(),
            kTick + kSlack - 2);
  EXPECT_EQ(server_.ticksOnReceive(), on_receive + 1);
  // The superseded timer did not add a tick of its own: two intervals hold two ticks.
  const std::size_t before = peer_.tick_times.size();
  io_.run_for(milliseconds(2 * (kTick + kSlack) + 50));
  EXPECT_EQ(peer_.tick_times.size(), before + 2);
  EXPECT_EQ(server_.ticks(), peer_.tick_times.size());
}

TEST_F(UdpBatchTest, DispatchWithoutASocketTakesTheGivenArrivalTime) {
  peer_.echo = false;
  auto p = rtpLike(3, 60);
  const auto from = toTransportAddress(client_.local_endpoint());
  server_.dispatch(p, from, 5'000);
  ASSERT_EQ(peer_.arrivals.size(), 1u);
  EXPECT_EQ(peer_.arrivals.back(), 5'000'000);
  server_.dispatch(p, from, 5'000, 4'999'321);
  EXPECT_EQ(peer_.arrivals.back(), 4'999'321);
}

}  // namespace
}  // namespace chorus::io
