#include "io/udp_server.hpp"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/log.hpp"
#include "io/local_addresses.hpp"
#include "io/sctp_association.hpp"

namespace chorus::io {

namespace asio = boost::asio;
using asio::ip::udp;

namespace {
constexpr const char* kUdpTag = "udp";

std::int64_t realtimeNowUs() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

// A datagram's source; v4-mapped IPv6 (dual-stack socket) is IPv4.
TransportAddress fromSockaddr(const sockaddr_storage& ss) noexcept {
  if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    std::array<std::uint8_t, 4> b{};
    std::memcpy(b.data(), &a.sin_addr, 4);
    return TransportAddress::v4(b, ntohs(a.sin_port));
  }
  const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
  std::array<std::uint8_t, 16> b{};
  std::memcpy(b.data(), &a.sin6_addr, 16);
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b.data(), kMapped, 12) == 0) {
    return TransportAddress::v4({b[12], b[13], b[14], b[15]}, ntohs(a.sin6_port));
  }
  return TransportAddress::v6(b, ntohs(a.sin6_port));
}

// A destination for the socket: IPv4 goes v4-mapped on an IPv6 socket.
socklen_t toSockaddr(const TransportAddress& to, bool v6_socket, sockaddr_storage& ss) noexcept {
  std::memset(&ss, 0, sizeof ss);
  if (to.family == TransportAddress::Family::V4 && !v6_socket) {
    auto& a = reinterpret_cast<sockaddr_in&>(ss);
    a.sin_family = AF_INET;
    a.sin_port = htons(to.port);
    std::memcpy(&a.sin_addr, to.bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto& a = reinterpret_cast<sockaddr_in6&>(ss);
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(to.port);
  if (to.family == TransportAddress::Family::V4) {
    auto* d = reinterpret_cast<std::uint8_t*>(&a.sin6_addr);
    d[10] = 0xff;
    d[11] = 0xff;
    std::memcpy(d + 12, to.bytes.data(), 4);
  } else {
    std::memcpy(&a.sin6_addr, to.bytes.data(), 16);
  }
  return sizeof(sockaddr_in6);
}

constexpr std::size_t kControlBytes = CMSG_SPACE(sizeof(timespec)) + CMSG_SPACE(sizeof(int)) + 64;

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  // linux/udp.h; glibc's netinet/udp.h has it from 2.31
#endif
// One GSO send carries at most this many bytes of payload (an IPv4 datagram's limit, with room to spare).
constexpr std::size_t kUdpGsoMaxBytes = 60'000;

bool sameAddress(const mmsghdr& a, const mmsghdr& b) noexcept {
  return a.msg_hdr.msg_namelen == b.msg_hdr.msg_namelen &&
         std::memcmp(a.msg_hdr.msg_name, b.msg_hdr.msg_name, a.msg_hdr.msg_namelen) == 0;
}
}  // namespace

struct UdpServer::Batch {
  // Receive: kUdpBatch datagrams of up to kUdpMaxDatagram bytes. The buffers are not initialised, so only the
  // pages datagrams are written to become resident.
  std::unique_ptr<std::uint8_t[]> rx{new std::uint8_t[kUdpBatch * kUdpMaxDatagram]};
  std::array<mmsghdr, kUdpBatch> rx_msgs{};
  std::array<iovec, kUdpBatch> rx_iov{};
  std::array<sockaddr_storage, kUdpBatch> rx_from{};
  struct alignas(cmsghdr) Control {
    std::uint8_t bytes[kControlBytes];
  };
  std::array<Control, kUdpBatch> rx_control{};
  // Send: kUdpTxQueue slots of kUdpTxSlot bytes.
  std::unique_ptr<std::uint8_t[]> tx{new std::uint8_t[kUdpTxQueue * kUdpTxSlot]};
  std::array<mmsghdr, kUdpTxQueue> tx_msgs{};
  std::array<iovec, kUdpTxQueue> tx_iov{};
  std::array<sockaddr_storage, kUdpTxQueue> tx_to{};
  // UDP GSO: the queue regrouped per address, equal-sized runs as one message with UDP_SEGMENT.
  std::array<mmsghdr, kUdpTxQueue> gso_msgs{};
  std::array<iovec, kUdpTxQueue> gso_iov{};
  struct alignas(cmsghdr) SegmentControl {
    std::uint8_t bytes[CMSG_SPACE(sizeof(std::uint16_t))];
  };
  std::array<SegmentControl, kUdpTxQueue> gso_control{};
};

std::int64_t mapKernelArrivalUs(std::int64_t kernel_us, std::int64_t realtime_now_us, TimeMs clock_now_ms,
                                bool realtime_clock) noexcept {
  const std::int64_t clock_now_us = clock_now_ms * 1000;
  if (kernel_us <= 0) return clock_now_us;
  // The same clock: "now" at µs resolution (the Clock itself only has ms; whichever reading came later).
  const std::int64_t offset = realtime_clock ? 0 : clock_now_us - realtime_now_us;
  const std::int64_t now_us = realtime_clock ? std::max(realtime_now_us, clock_now_us) : clock_now_us;
  return std::clamp(kernel_us + offset, now_us - kUdpMaxArrivalAgeUs, now_us);
}

const char* toString(UdpDrop d) noexcept {
  switch (d) {
    case UdpDrop::Unknown:
      return "unknown";
    case UdpDrop::BadStun:
      return "bad_stun";
    case UdpDrop::StunNoUsername:
      return "stun_no_username";
    case UdpDrop::StunUnknownUfrag:
      return "stun_unknown_ufrag";
    case UdpDrop::StunRejected:
      return "stun_rejected";
    case UdpDrop::UnknownAddress:
      return "unknown_address";
    case UdpDrop::AddressTableFull:
      return "address_table_full";
    case UdpDrop::SendFailed:
      return "send_failed";
    case UdpDrop::Count:
      break;
  }
  return "unknown";
}

TransportAddress toTransportAddress(const udp::endpoint& ep) noexcept {
  const auto a = ep.address();
  if (a.is_v4()) return TransportAddress::v4(a.to_v4().to_bytes(), ep.port());
  if (a.to_v6().is_v4_mapped()) {
    return TransportAddress::v4(asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_bytes(),
                                ep.port());
  }
  return TransportAddress::v6(a.to_v6().to_bytes(), ep.port());
}

udp::endpoint toEndpoint(const TransportAddress& a) {
  if (a.family == TransportAddress::Family::V4) {
    return udp::endpoint(asio::ip::address_v4({a.bytes[0], a.bytes[1], a.bytes[2], a.bytes[3]}), a.port);
  }
  return udp::endpoint(asio::ip::address_v6(a.bytes), a.port);
}

UdpServer::UdpServer(asio::io_context& io, const Clock& clock)
    : clock_(clock), ready_(io), timer_(io), rx_timer_(io), batch_(std::make_unique<Batch>()) {
  for (std::size_t i = 0; i < kUdpBatch; ++i) {
    batch_->rx_iov[i] = iovec{batch_->rx.get() + i * kUdpMaxDatagram, kUdpMaxDatagram};
  }
  for (std::size_t i = 0; i < kUdpTxQueue; ++i) {
    batch_->tx_iov[i] = iovec{batch_->tx.get() + i * kUdpTxSlot, 0};
  }
}

UdpServer::~UdpServer() {
  stop();
}

Status UdpServer::bind(const udp::endpoint& local, std::uint32_t tick_ms) {
  boost::system::error_code ec;
  if (fd_ >= 0) return fail(Code::FailedPrecondition, "udp server already bound");
  asio::ip::udp::socket socket(ready_.get_executor());
  socket.open(local.protocol(), ec);
  v6_socket_ = local.address().is_v6();
  if (!ec && v6_socket_ && local.address().is_unspecified()) socket.set_option(asio::ip::v6_only(false), ec);
  if (!ec) socket.bind(local, ec);
  if (ec) return fail(Code::Unavailable, "udp bind " + local.address().to_string() + ": " + ec.message());
  // Larger kernel buffers: bursts of video from many participants arrive between loop iterations.
  socket.set_option(asio::socket_base::receive_buffer_size(4 * 1024 * 1024), ec);
  socket.set_option(asio::socket_base::send_buffer_size(4 * 1024 * 1024), ec);
  // Sends never block the loop: a full socket buffer drops the datagram (counted as SendFailed).
  socket.non_blocking(true, ec);
  // Kernel receive timestamps (the arrival times transport-cc feedback reports); without them, the clock.
  const int on = 1;
  if (::setsockopt(socket.native_handle(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0) {
    CHORUS_LOG(Info, kUdpTag,
               "no SO_TIMESTAMPNS (" << std::strerror(errno) << "): arrival times from the clock");
  }
  local_ = socket.local_endpoint(ec);
  // The socket leaves asio's reactor, which would wake the loop on every datagram (its registration is
  // permanent, edge-triggered): readiness comes from a private epoll set where the socket is armed (EPOLLIN)
  // while the server waits for datagrams (receiveNext) and disarmed while it coalesces (readLater).
  const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return fail(Code::Unavailable, std::string("epoll_create1: ") + std::strerror(errno));
  ready_.assign(epfd, ec);
  if (ec) {
    ::close(epfd);
    return fail(Code::Unavailable, "udp readiness descriptor: " + ec.message());
  }
  fd_ = socket.release(ec);
  epoll_event ev{};
  ev.events = 0;  // registered disarmed; receiveNext() arms it
  if (fd_ < 0 || ::epoll_ctl(epfd, EPOLL_CTL_ADD, fd_, &ev) != 0) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    ready_.close(ec);
    return fail(Code::Unavailable, "udp readiness registration failed");
  }
  tick_ms_ = tick_ms == 0 ? 10 : tick_ms;
  tick_slack_ms_ = static_cast<TimeMs>(tick_ms_) / 5;
  stopped_ = false;
  last_tick_ = clock_.nowMs();
  receiveNext();
  scheduleTick();
  return Status();
}

void UdpServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ec;
  timer_.cancel();
  rx_timer_.cancel();
  ready_.close(ec);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  armed_ = false;
  tx_count_ = 0;
}

udp::endpoint UdpServer::localEndpoint() const {
  return local_;
}

std::vector<std::string> UdpServer::advertisedAddresses() const {
  return advertisedHostAddresses(announced_, localEndpoint().address().to_string(), v6_socket_);
}

bool UdpServer::addPeer(Peer& peer) {
  if (by_ufrag_.size() >= kUdpMaxPeers) return false;
  return by_ufrag_.emplace(std::string(peer.iceUfrag()), &peer).second;
}

void UdpServer::removePeer(Peer& peer) {
  auto it = by_ufrag_.find(peer.iceUfrag());
  if (it != by_ufrag_.end() && it->second == &peer) by_ufrag_.erase(it);
  std::erase_if(by_address_, [&peer](const auto& kv) { return kv.second == &peer; });
}

bool UdpServer::send(media::ByteSpan datagram, const TransportAddress& to) {
  if (stopped_) return false;
  if (to.tcp) {  // ICE-TCP: counted by the TcpServer (framesSent)
    if (tcp_ == nullptr || !tcp_->sendFramed(datagram, to)) {
      drops_.count(UdpDrop::SendFailed);
      return false;
    }
    return true;
  }
  if (!batching_ || datagram.size() > kUdpTxSlot) {
    flush();  // keeps the order of what goes to one address
    return sendNow(datagram, to);
  }
  std::memcpy(queueSlot(to).data(), datagram.data(), datagram.size());
  commitQueued(datagram.size(), to);
  return true;
}

media::MutableByteSpan UdpServer::queueSlot(const TransportAddress& to) noexcept {
  if (stopped_ || !batching_ || to.tcp) return {};
  return media::MutableByteSpan(batch_->tx.get() + tx_count_ * kUdpTxSlot, kUdpTxSlot);
}

void UdpServer::commitQueued(std::size_t size, const TransportAddress& to) {
  Batch& b = *batch_;
  b.tx_iov[tx_count_].iov_len = std::min(size, kUdpTxSlot);
  mmsghdr& m = b.tx_msgs[tx_count_];
  m = mmsghdr{};
  m.msg_hdr.msg_name = &b.tx_to[tx_count_];
  m.msg_hdr.msg_namelen = toSockaddr(to, v6_socket_, b.tx_to[tx_count_]);
  m.msg_hdr.msg_iov = &b.tx_iov[tx_count_];
  m.msg_hdr.msg_iovlen = 1;
  if (++tx_count_ == kUdpTxQueue) flush();
}

bool UdpServer::sendNow(media::ByteSpan datagram, const TransportAddress& to) {
  sockaddr_storage ss{};
  const socklen_t len = toSockaddr(to, v6_socket_, ss);
  ++tx_calls_;
  ssize_t n = -1;
  do {
    n = ::sendto(fd_, datagram.data(), datagram.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&ss),
                 len);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    drops_.count(UdpDrop::SendFailed);
    return false;
  }
  ++sent_;
  return true;
}

void UdpServer::flush() {
  if (tx_count_ == 0) return;
  const std::size_t coalesced = gso_ ? coalesce() : 0;
  if (coalesced != 0) {
    sendMessages(batch_->gso_msgs.data(), coalesced);
  } else {
    sendMessages(batch_->tx_msgs.data(), tx_count_);
  }
  tx_count_ = 0;
}

// Regroups the queue for UDP GSO: per address in queue order (so what goes to one address keeps its order),
// each run of equal-sized datagrams (a shorter one may end it) becomes one message the kernel segments.
// Returns the number of messages, or 0 when nothing coalesced (the plain queue is sent as it is).
std::size_t UdpServer::coalesce() {
  Batch& b = *batch_;
  std::array<bool, kUdpTxQueue> taken{};
  std::size_t messages = 0, iovs = 0;
  bool coalesced = false;
  for (std::size_t i = 0; i < tx_count_; ++i) {
    if (taken[i]) continue;
    mmsghdr* run = nullptr;  // the message being extended, if any
    std::size_t segment = 0, bytes = 0;
    for (std::size_t j = i; j < tx_count_; ++j) {
      if (taken[j] || !sameAddress(b.tx_msgs[j], b.tx_msgs[i])) continue;
      taken[j] = true;
      const std::size_t size = b.tx_iov[j].iov_len;
      b.gso_iov[iovs] = b.tx_iov[j];
      if (run != nullptr && size <= segment && bytes + size <= kUdpGsoMaxBytes) {
        ++run->msg_hdr.msg_iovlen;
        bytes += size;
        coalesced = true;
        if (size < segment) run = nullptr;  // only the last segment may be shorter
      } else {
        run = &b.gso_msgs[messages++];
        *run = mmsghdr{};
        run->msg_hdr.msg_name = b.tx_msgs[j].msg_hdr.msg_name;
        run->msg_hdr.msg_namelen = b.tx_msgs[j].msg_hdr.msg_namelen;
        run->msg_hdr.msg_iov = &b.gso_iov[iovs];
        run->msg_hdr.msg_iovlen = 1;
        segment = bytes = size;
      }
      ++iovs;
    }
  }
  if (!coalesced) return 0;
  for (std::size_t m = 0; m < messages; ++m) {
    msghdr& h = b.gso_msgs[m].msg_hdr;
    if (h.msg_iovlen < 2) continue;
    h.msg_control = b.gso_control[m].bytes;
    h.msg_controllen = sizeof(b.gso_control[m].bytes);
    cmsghdr* c = CMSG_FIRSTHDR(&h);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
    const auto segment = static_cast<std::uint16_t>(h.msg_iov[0].iov_len);
    std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
  }
  return messages;
}

// Sends `messages` (each one datagram, or a GSO run of msg_iovlen datagrams) with sendmmsg.
void UdpServer::sendMessages(mmsghdr* msgs, std::size_t messages) {
  std::size_t i = 0;
  while (i < messages && !stopped_) {
    ++tx_calls_;
    const int n = ::sendmmsg(fd_, msgs + i, static_cast<unsigned>(messages - i), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    const std::size_t done = n > 0 ? static_cast<std::size_t>(n) : 0;
    for (std::size_t m = i; m < i + done; ++m) {
      const std::size_t count = msgs[m].msg_hdr.msg_iovlen;
      sent_ += count;
      if (count > 1) gso_datagrams_ += count;
    }
    i += done;
    if (done != 0) continue;
    // The message at i failed (a plain datagram: full buffer, unreachable, too large: dropped). A GSO message
    // the kernel refuses outright (no checksum offload on the route's device, a segment over the path MTU)
    // turns GSO off and goes out one datagram at a time; anything else (full buffer, unreachable) drops it,
    // as without GSO.
    const msghdr& h = msgs[i].msg_hdr;
    const int error = errno;
    if (h.msg_iovlen > 1 &&
        (error == EIO || error == EINVAL || error == ENOPROTOOPT || error == EOPNOTSUPP)) {
      CHORUS_LOG(Warn, kUdpTag,
                 "UDP GSO refused (" << std::strerror(error) << "): sending datagram by datagram");
      gso_ = false;
      for (std::size_t k = 0; k < h.msg_iovlen; ++k) {
        const iovec& v = h.msg_iov[k];
        ++tx_calls_;
        if (::sendto(fd_, v.iov_base, v.iov_len, MSG_DONTWAIT, static_cast<const sockaddr*>(h.msg_name),
                     h.msg_namelen) >= 0) {
          ++sent_;
        } else {
          drops_.count(UdpDrop::SendFailed);
        }
      }
    } else {
      for (std::size_t k = 0; k < h.msg_iovlen; ++k) drops_.count(UdpDrop::SendFailed);
    }
    ++i;
  }
}

void UdpServer::receiveNext() {
  if (stopped_) return;
  if (!arm(true)) return;
  ready_.async_wait(asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
    if (ec == asio::error::operation_aborted || stopped_) return;
    drain(wake());
  });
}

// Counts a wake-up to read; true when it came less than rx_coalesce_ms_ after the previous one (busy).
bool UdpServer::wake() {
  const TimeMs now = clock_.nowMs();
  const bool busy = now - last_rx_wake_ < rx_coalesce_ms_;
  ++rx_wakeups_;
  last_rx_wake_ = now;
  return busy;
}

// The socket in or out of the private epoll set's interest (an epoll_ctl only when that changes, so without
// coalescing the set costs nothing per wake-up). Level-triggered: a socket armed with datagrams waiting is
// ready at once.
bool UdpServer::arm(bool on) {
  if (armed_ == on) return true;
  epoll_event ev{};
  ev.events = on ? static_cast<std::uint32_t>(EPOLLIN) : 0u;
  if (::epoll_ctl(ready_.native_handle(), EPOLL_CTL_MOD, fd_, &ev) != 0) {
    CHORUS_LOG(Error, kUdpTag, "udp readiness: epoll_ctl: " << std::strerror(errno));
    return false;
  }
  armed_ = on;
  return true;
}

// Receive coalescing: the next read at the timer, rx_coalesce_ms_ after this wake-up, instead of on the next
// datagram. The timer's wake-up reads what came meanwhile; while each finds datagrams the loop keeps reading
// on the timer, and the first that finds none waits for the socket again.
void UdpServer::readLater() {
  // Datagrams that come meanwhile must not wake the loop through the private set (if the set refuses, the
  // server just waits on the socket as without coalescing).
  if (!arm(false)) {
    receiveNext();
    return;
  }
  ++rx_held_;
  rx_timer_.expires_after(
      std::chrono::milliseconds(std::max<TimeMs>(0, last_rx_wake_ + rx_coalesce_ms_ - clock_.nowMs())));
  rx_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    wake();
    drain(true);  // on the timer: under load by definition
  });
}

// Reads until the socket is empty (then waits again), at most kUdpRxRoundsPerWake batches: after those the
// rest is read from a posted handler, so timers and the TCP port get their turn.
void UdpServer::drain(bool busy) {
  Batch& b = *batch_;
  bool read_any = false;
  for (std::size_t round = 0; round < kUdpRxRoundsPerWake; ++round) {
    if (stopped_) return;
    for (std::size_t i = 0; i < kUdpBatch; ++i) {
      msghdr& h = b.rx_msgs[i].msg_hdr;
      h = msghdr{};
      h.msg_name = &b.rx_from[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_iov = &b.rx_iov[i];
      h.msg_iovlen = 1;
      h.msg_control = b.rx_control[i].bytes;
      h.msg_controllen = sizeof(b.rx_control[i].bytes);
      b.rx_msgs[i].msg_len = 0;
    }
    const int n = ::recvmmsg(fd_, b.rx_msgs.data(), kUdpBatch, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      continue;  // EINTR, or an error an ICMP message left on the socket (ECONNREFUSED): read on
    }
    if (n == 0) break;
    read_any = true;
    ++rx_calls_;
    const TimeMs now = clock_.nowMs();
    const std::int64_t realtime_us = realtimeNowUs();
    const bool realtime_clock = clock_.isRealtime();
    batching_ = true;
    for (int i = 0; i < n && !stopped_; ++i) {
      msghdr& h = b.rx_msgs[i].msg_hdr;
      std::int64_t kernel_us = 0;
      for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
            c->cmsg_len >= CMSG_LEN(sizeof(timespec))) {
          timespec ts{};
          std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
          kernel_us = static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
        }
      }
      ++received_;
      const std::size_t len = std::min<std::size_t>(b.rx_msgs[i].msg_len, kUdpMaxDatagram);
      const std::int64_t arrival = orderedArrivalUs(
          mapKernelArrivalUs(kernel_us, realtime_us, now, realtime_clock), last_kernel_arrival_us_);
      last_kernel_arrival_us_ = arrival;
      dispatch(media::MutableByteSpan(b.rx.get() + static_cast<std::size_t>(i) * kUdpMaxDatagram, len),
               fromSockaddr(b.rx_from[i]), now, arrival);
    }
    if (!stopped_) tickOnReceive(now);
    batching_ = false;
    flush();
    if (static_cast<std::size_t>(n) < kUdpBatch) break;
    if (round + 1 == kUdpRxRoundsPerWake) {  // more may be waiting: read on after the other handlers
      asio::post(ready_.get_executor(), [this, alive = std::weak_ptr<char>(alive_)] {
        if (alive.expired() || stopped_) return;
        drain(true);
      });
      return;
    }
  }
  if (busy && read_any && rx_coalesce_ms_ > 0) {
    readLater();
  } else {
    receiveNext();
  }
}

void UdpServer::dispatch(media::MutableByteSpan datagram, const TransportAddress& from, TimeMs now) {
  dispatch(datagram, from, now, now * 1000);
}

void UdpServer::dispatch(media::MutableByteSpan datagram, const TransportAddress& from, TimeMs now,
                         std::int64_t arrival_us) {
  arrival_us_ = arrival_us;
  const auto kind = media::classifyPacket(datagram);
  if (kind == media::PacketKind::Unknown) {
    drops_.count(UdpDrop::Unknown);
    return;
  }
  if (kind == media::PacketKind::Stun) {
    const auto msg = media::parseStun(datagram);
    if (!msg) {
      drops_.count(UdpDrop::BadStun);
      return;
    }
    if (!msg->isBindingRequest() || !msg->username) {
      drops_.count(UdpDrop::StunNoUsername);
      return;
    }
    const std::string_view user = *msg->username;
    const auto colon = user.find(':');
    if (colon == std::string_view::npos) {
      drops_.count(UdpDrop::StunUnknownUfrag);
      return;
    }
    auto it = by_ufrag_.find(user.substr(0, colon));
    if (it == by_ufrag_.end()) {
      drops_.count(UdpDrop::StunUnknownUfrag);
      return;
    }
    Peer* peer = it->second;
    if (!peer->onStun(*msg, from, now)) {
      drops_.count(UdpDrop::StunRejected);
      return;
    }
    auto [slot, inserted] = by_address_.try_emplace(from, peer);
    if (!inserted) {
      slot->second = peer;  // an address moves to the peer that validated it last
      return;
    }
    // A new route: forget this peer's routes that fell out of its (bounded) validated list.
    std::erase_if(by_address_,
                  [peer](const auto& kv) { return kv.second == peer && !peer->ownsAddress(kv.first); });
    if (by_address_.size() > kUdpMaxAddresses) {
      by_address_.erase(from);
      drops_.count(UdpDrop::AddressTableFull);
    }
    return;
  }
  auto it = by_address_.find(from);
  if (it == by_address_.end()) {
    drops_.count(UdpDrop::UnknownAddress);
    return;
  }
  it->second->onDatagram(kind, datagram, from, now);
}

// The timer's tick: tick_slack_ms_ after it is due (a receive wake-up usually runs it before, see drain()).
// Each arming supersedes the previous one: a handler whose expiry was already queued when the timer was
// re-armed sees an old generation and does nothing.
void UdpServer::scheduleTick() {
  if (stopped_) return;
  const std::uint64_t generation = ++tick_generation_;
  timer_.expires_after(std::chrono::milliseconds(
      std::max<TimeMs>(0, last_tick_ + tick_ms_ + tick_slack_ms_ - clock_.nowMs())));
  timer_.async_wait([this, generation](boost::system::error_code ec) {
    if (ec || stopped_ || generation != tick_generation_) return;
    tick();
    scheduleTick();
  });
}

// On a wake-up that read datagrams: a tick that is due runs here (never early: what it paces, such as
// transport-cc feedback every 50 ms, keeps its cadence), its sends leave with the batch's, and the timer
// moves to the next one. On a busy port the timer then hardly ever wakes the loop on its own.
void UdpServer::tickOnReceive(TimeMs now) {
  if (now - last_tick_ < static_cast<TimeMs>(tick_ms_)) return;
  ++ticks_on_receive_;
  tick();
  scheduleTick();
}

void UdpServer::tick() {
  const TimeMs now = clock_.nowMs();
  ++ticks_;
  const auto elapsed = static_cast<std::uint32_t>(std::max<TimeMs>(0, now - last_tick_));
  last_tick_ = now;
  SctpAssociation::handleTimers(elapsed);
  std::vector<Peer*> dead;
  batching_ = true;
  for (auto& [ufrag, peer] : by_ufrag_) {
    if (!peer->onTick(now)) dead.push_back(peer);
  }
  if (listener_ != nullptr) listener_->onTick(now);
  batching_ = false;
  flush();
  for (Peer* p : dead) {
    removePeer(*p);
    CHORUS_LOG(Info, kUdpTag, "peer " << p->iceUfrag() << " is gone (consent or DTLS failure)");
    if (listener_ != nullptr) listener_->onPeerDead(*p);
  }
}

}  // namespace chorus::io
