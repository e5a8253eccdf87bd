#pragma once
// The focus's single UDP port (Boost.Asio, one io_context thread). Datagrams are received in batches
// (recvmmsg, up to kUdpBatch per call into preallocated buffers: no allocation per packet), each with the
// kernel's receive timestamp (SO_TIMESTAMPNS), and demultiplexed by RFC 7983:
//   STUN -> parsed once; routed to the peer whose ICE ufrag is the USERNAME's first half. If the peer
//   validates
//           it (MESSAGE-INTEGRITY), the source address becomes that peer's.
//   DTLS / RTP / RTCP -> the peer owning the (ICE-validated) source address.
//   anything else, or from an unknown address -> dropped and counted.
// What the peers send while a received batch (or a tick) is being handled is copied into a bounded queue and
// sent with sendmmsg at the end of the batch, or when the queue is full; sends outside those rounds go at
// once. A periodic tick (default 10 ms; the focus's is 50) drives DTLS retransmission, usrsctp timers,
// consent checks and the listener's periodic work. It runs from 1 to 1.2 tick intervals after the previous
// one: on the first wake-up that reads datagrams once it is due (with that batch's sends), else on its timer
// at the end of that window, so a busy port is not also woken by the tick.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "io/transport_address.hpp"
#include "media/bytes.hpp"
#include "media/demux.hpp"
#include "media/drop_counters.hpp"
#include "media/stun/stun_message.hpp"

struct mmsghdr;

namespace chorus::io {

inline constexpr std::size_t kUdpMaxDatagram = 65536;
inline constexpr std::size_t kUdpMaxPeers = 4096;
inline constexpr std::size_t kUdpMaxAddresses = 4 * kUdpMaxPeers;
inline constexpr std::size_t kUdpBatch = 32;            // datagrams per recvmmsg
inline constexpr std::size_t kUdpRxRoundsPerWake = 16;  // recvmmsg calls before other handlers get a turn
inline constexpr std::size_t kUdpTxQueue = 64;          // queued sends per sendmmsg
inline constexpr std::size_t kUdpTxSlot = 2048;         // larger datagrams are sent at once (after the queue)

// The kernel's receive timestamp (CLOCK_REALTIME, µs since the epoch) mapped onto the server's Clock, in µs.
// When the Clock is CLOCK_REALTIME itself (SystemClock, `realtime_clock`) the stamp is used as is (µs
// resolution, which transport-cc feedback wants); otherwise (a FakeClock) it is shifted by the difference
// between the two readings. Deciding by the clock and not by how close the readings are keeps arrivals in
// kernel order when the thread is preempted between the readings. The result is never after the clock's now
// nor more than kUdpMaxArrivalAgeUs before it; a missing stamp (kernel_us <= 0) gives the clock's now.
inline constexpr std::int64_t kUdpMaxArrivalAgeUs = 10'000'000;
std::int64_t mapKernelArrivalUs(std::int64_t kernel_us, std::int64_t realtime_now_us, TimeMs clock_now_ms,
                                bool realtime_clock) noexcept;
// Datagrams of one socket are queued in the order they arrived, but the kernel stamps them on whichever CPU
// takes them, and on a VM the CPUs' clocks (and the vDSO's CLOCK_REALTIME) can disagree by milliseconds (seen
// here: 8 ms). An arrival before the previous one by at most kUdpMaxArrivalInversionUs is taken as the
// previous one, so arrival times keep the queue's order; a larger step back is a clock step, taken as is.
inline constexpr std::int64_t kUdpMaxArrivalInversionUs = 50'000;
constexpr std::int64_t orderedArrivalUs(std::int64_t arrival_us, std::int64_t previous_us) noexcept {
  return arrival_us < previous_us && previous_us - arrival_us <= kUdpMaxArrivalInversionUs ? previous_us
                                                                                           : arrival_us;
}

enum class UdpDrop : std::uint8_t {
  Unknown,           // RFC 7983 "unknown" first byte
  BadStun,           // does not parse as STUN
  StunNoUsername,    // not a request for us (responses, indications, requests without USERNAME)
  StunUnknownUfrag,  // no peer with that ufrag
  StunRejected,      // the peer did not validate it (integrity, remote ufrag, ...)
  UnknownAddress,    // DTLS/RTP/RTCP from an address no peer validated
  AddressTableFull,
  SendFailed,
  Count
};
const char* toString(UdpDrop d) noexcept;

class UdpServer {
 public:
  // What a WebRTC peer exposes to the server. Borrowed; the owner calls removePeer() before destroying it.
  class Peer {
   public:
    virtual ~Peer() = default;
    virtual std::string_view iceUfrag() const = 0;
    // A STUN message whose USERNAME starts with our ufrag. Returns true when it was authentic (the server
    // then routes that address to this peer). The peer answers through UdpServer::send().
    virtual bool onStun(const media::StunMessage& message, const TransportAddress& from, TimeMs now) = 0;
    // Whether `address` is (still) one of this peer's validated addresses. The server drops routes the peer
    // no longer owns whenever it adds one, so each peer holds at most its agent's bound in the route table.
    virtual bool ownsAddress(const TransportAddress& address) const = 0;
    // DTLS / RTP / RTCP from one of this peer's addresses. The bytes may be modified in place (SRTP).
    virtual void onDatagram(media::PacketKind kind, media::MutableByteSpan datagram,
                            const TransportAddress& from, TimeMs now) = 0;
    // Periodic; return false when the peer is dead (consent lost, DTLS failed); the server keeps it until the
    // owner removes it, but stops routing to it.
    virtual bool onTick(TimeMs now) = 0;
  };

  // Called on the loop thread when a peer's onTick() returned false (after it is unrouted), and on every
  // tick: what onTick sends is queued with the peers' tick sends and leaves in one sendmmsg, and the owner's
  // periodic work needs no timer (and wake-up) of its own.
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void onPeerDead(Peer& peer) = 0;
    virtual void onTick(TimeMs /*now*/) {}
  };

  UdpServer(boost::asio::io_context& io, const Clock& clock);
  ~UdpServer();

  // Binds (port 0 = ephemeral) and starts receiving and ticking. An unspecified IPv6 address ("::") binds a
  // dual-stack socket (IPv4 arrives as v4-mapped and is handled as IPv4).
  Status bind(const boost::asio::ip::udp::endpoint& local, std::uint32_t tick_ms = 10);
  void stop();
  boost::asio::ip::udp::endpoint localEndpoint() const;
  // The addresses peers put in their SDP candidates. Announced addresses (the public IPs of a host behind
  // 1:1 NAT) replace the local ones; otherwise a concrete bind address is advertised as is, and a wildcard
  // bind advertises every usable interface address, read again on each call (io/local_addresses.hpp).
  void setAnnouncedAddresses(std::vector<std::string> ips) { announced_ = std::move(ips); }
  std::vector<std::string> advertisedAddresses() const;
  void setListener(Listener* listener) { listener_ = listener; }
  // Receive coalescing: when datagrams come less than `ms` after the previous wake-up, the socket is read
  // next on a timer `ms` after this one instead of on each datagram, and so on while each read finds
  // datagrams: a busy loop wakes every `ms` and reads (and sends) what came meanwhile in one batch. The first
  // datagram after a quiet spell is read at once. On a small call each wake-up costs more than the packets
  // it handles (docs/focus.md, "What a wake-up costs"); the price is up to `ms` of added delay under load.
  // 0: off (a wake-up per readiness).
  void setReceiveCoalescing(TimeMs ms) noexcept { rx_coalesce_ms_ = ms; }

  // ICE-TCP (io/tcp_server.hpp) feeds its connections' frames into dispatch() with TCP addresses
  // (TransportAddress::tcp); send() hands what goes to a TCP address to it, framed.
  class TcpSender {
   public:
    virtual ~TcpSender() = default;
    virtual bool sendFramed(media::ByteSpan packet, const TransportAddress& to) = 0;
    virtual std::uint16_t tcpPort() const = 0;
  };
  void setTcpSender(TcpSender* sender) { tcp_ = sender; }
  // The port of the focus's passive TCP candidates; 0 without ICE-TCP.
  std::uint16_t tcpPort() const { return tcp_ != nullptr ? tcp_->tcpPort() : 0; }
  bool hasRoute(const TransportAddress& address) const { return by_address_.count(address) != 0; }
  void dropRoute(const TransportAddress& address) { by_address_.erase(address); }

  bool addPeer(Peer& peer);
  void removePeer(Peer& peer);
  // Queued (see above) or sent at once; false when it cannot be (stopped, too large for the socket, no TCP
  // connection). A queued datagram the kernel then refuses is counted as SendFailed.
  bool send(media::ByteSpan datagram, const TransportAddress& to);
  // Writing a datagram straight into the send queue (no copy): while a batch or tick is handled, the free
  // queue slot (kUdpTxSlot bytes) for a UDP address; empty otherwise (stopped, not batching, TCP): then
  // send() it. Nothing may be sent between queueSlot() and commitQueued(), which queues the first `size`
  // bytes of the slot for `to` (as send() would have); a slot that is not committed is simply reused.
  media::MutableByteSpan queueSlot(const TransportAddress& to) noexcept;
  void commitQueued(std::size_t size, const TransportAddress& to);
  // Sends what is queued (sendmmsg). Called at the end of every receive batch and tick.
  void flush();

  const media::DropCounters<UdpDrop>& drops() const noexcept { return drops_; }
  std::uint64_t datagramsReceived() const noexcept { return received_; }
  std::uint64_t datagramsSent() const noexcept { return sent_; }
  std::uint64_t receiveCalls() const noexcept { return rx_calls_; }  // recvmmsg calls that returned datagrams
  std::uint64_t sendCalls() const noexcept { return tx_calls_; }     // sendmmsg / sendto calls
  // Wake-ups to read (the socket ready, or the coalescing timer), and reads put off by receive coalescing.
  std::uint64_t receiveWakeups() const noexcept { return rx_wakeups_; }
  std::uint64_t coalescedWaits() const noexcept { return rx_held_; }
  // Ticks run, and those run by a wake-up that read datagrams rather than by the timer.
  std::uint64_t ticks() const noexcept { return ticks_; }
  std::uint64_t ticksOnReceive() const noexcept { return ticks_on_receive_; }
  // UDP GSO (UDP_SEGMENT): queued datagrams to one address with equal sizes leave as one message the kernel
  // (or the NIC) splits. On by default; turned off for good when the kernel refuses a GSO send.
  void setGso(bool on) noexcept { gso_ = on; }
  bool gso() const noexcept { return gso_; }
  std::uint64_t gsoDatagramsSent() const noexcept { return gso_datagrams_; }  // sent inside GSO messages
  // The arrival time (µs, on the server's Clock) of the datagram being dispatched: the kernel's receive
  // timestamp where there is one, else the `now` it is dispatched with.
  std::int64_t arrivalUs() const noexcept { return arrival_us_; }
  std::size_t peerCount() const noexcept { return by_ufrag_.size(); }
  std::size_t routeCount() const noexcept { return by_address_.size(); }

  // The demux step on its own (tests feed datagrams without a socket).
  void dispatch(media::MutableByteSpan datagram, const TransportAddress& from, TimeMs now);
  void dispatch(media::MutableByteSpan datagram, const TransportAddress& from, TimeMs now,
                std::int64_t arrival_us);

 private:
  struct Batch;  // recvmmsg / sendmmsg headers and buffers
  void receiveNext();
  bool arm(bool on);
  bool wake();
  void readLater();
  void drain(bool busy);
  bool sendNow(media::ByteSpan datagram, const TransportAddress& to);
  std::size_t coalesce();
  void sendMessages(mmsghdr* msgs, std::size_t messages);
  void scheduleTick();
  void tickOnReceive(TimeMs now);
  void tick();

  const Clock& clock_;                           // Borrowed.
  int fd_{-1};                                   // the UDP socket (owned), outside asio's reactor
  boost::asio::ip::udp::endpoint local_;         // its bound address
  boost::asio::posix::stream_descriptor ready_;  // a private epoll set holding fd_ (owned)
  bool armed_{false};                            // fd_ armed in ready_'s set
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer rx_timer_;  // receive coalescing
  std::uint32_t tick_ms_{10};
  TimeMs tick_slack_ms_{2};  // a tick runs between tick_ms_ and tick_ms_ + slack after the previous
  std::uint64_t tick_generation_{0};
  TimeMs rx_coalesce_ms_{0};
  TimeMs last_rx_wake_{-1'000'000};
  TimeMs last_tick_{0};
  Listener* listener_{nullptr};  // Borrowed, optional.
  struct StringHash {
    using is_transparent = void;  // lookups by string_view: no allocation per STUN packet
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Peer*, StringHash, std::equal_to<>> by_ufrag_;  // Borrowed peers.
  std::unordered_map<TransportAddress, Peer*, TransportAddressHash> by_address_;
  std::unique_ptr<Batch> batch_;  // kUdpBatch receive buffers, kUdpTxQueue send slots
  std::size_t tx_count_{0};       // queued sends
  bool batching_{false};          // in a receive batch or tick: sends are queued
  std::int64_t arrival_us_{0};
  std::int64_t last_kernel_arrival_us_{0};                 // the previous datagram's, for orderedArrivalUs
  std::shared_ptr<char> alive_{std::make_shared<char>()};  // posted continuations check it
  media::DropCounters<UdpDrop> drops_;
  std::uint64_t received_{0};
  std::uint64_t sent_{0};
  std::uint64_t rx_calls_{0};
  std::uint64_t rx_wakeups_{0};
  std::uint64_t rx_held_{0};
  std::uint64_t ticks_{0};
  std::uint64_t ticks_on_receive_{0};
  std::uint64_t tx_calls_{0};
  std::uint64_t gso_datagrams_{0};
  bool gso_{true};
  bool stopped_{true};
  std::vector<std::string> announced_;
  bool v6_socket_{false};
  TcpSender* tcp_{nullptr};  // Borrowed, optional.
};

TransportAddress toTransportAddress(const boost::asio::ip::udp::endpoint& ep) noexcept;
boost::asio::ip::udp::endpoint toEndpoint(const TransportAddress& a);

}  // namespace chorus::io
