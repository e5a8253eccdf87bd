#include "bench/net/wakeup_floor.hpp"

#include "bench/json_text.hpp"
#include "bench/net/loopback.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace chorus::bench {

namespace {

constexpr std::size_t kBatch = 64;
constexpr std::size_t kMaxPayload = 1500;

timespec addSeconds(timespec t, double s) {
  const auto ns = static_cast<std::int64_t>(s * 1e9) + t.tv_nsec;
  t.tv_sec += static_cast<time_t>(ns / 1'000'000'000);
  t.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  return t;
}

bool before(const timespec& a, const timespec& b) {
  return a.tv_sec != b.tv_sec ? a.tv_sec < b.tv_sec : a.tv_nsec < b.tv_nsec;
}

// Bursts at Poisson times, `mean_burst` datagrams each on average, until `end`.
void sendBursts(int fd, const sockaddr_in& to, const WakeupFloorOptions& o, double mean_burst, timespec end) {
  std::mt19937_64 rng(o.seed);
  std::exponential_distribution<double> gap(o.wakeups_per_s);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<char> payload(o.payload_bytes, 'x');
  std::array<iovec, kBatch> iov{};
  std::array<mmsghdr, kBatch> msgs{};
  for (std::size_t i = 0; i < kBatch; ++i) {
    iov[i] = iovec{payload.data(), payload.size()};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = const_cast<sockaddr_in*>(&to);
    msgs[i].msg_hdr.msg_namelen = sizeof to;
  }
  const double whole = std::floor(mean_burst);
  timespec next{};
  ::clock_gettime(CLOCK_MONOTONIC, &next);
  while (true) {
    next = addSeconds(next, gap(rng));
    if (!before(next, end)) return;
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr) == EINTR) {
    }
    auto n = static_cast<std::size_t>(whole) + (unit(rng) < mean_burst - whole ? 1 : 0);
    n = std::clamp<std::size_t>(n, 1, kBatch);
    (void)::sendmmsg(fd, msgs.data(), static_cast<unsigned>(n), 0);
  }
}

}  // namespace

Result<WakeupFloorResult> runWakeupFloor(const WakeupFloorOptions& options) {
  WakeupFloorOptions o = options;
  if (!(o.datagrams_per_s > 0) || !(o.seconds > 0) || !(o.fanout >= 0) || o.payload_bytes == 0 ||
      o.payload_bytes > kMaxPayload)
    return fail(Code::InvalidArgument, "wakeups: rate and seconds must be > 0, payload 1..1500 bytes");
  if (!(o.wakeups_per_s > 0)) o.wakeups_per_s = o.datagrams_per_s;
  o.wakeups_per_s = std::min(o.wakeups_per_s, o.datagrams_per_s);
  const double mean_burst = o.datagrams_per_s / o.wakeups_per_s;

  sockaddr_in floor_addr{}, sink_addr{}, sender_addr{};
  const Fd floor_fd(loopbackSocket(floor_addr));
  const Fd sink_fd(loopbackSocket(sink_addr, 0, 100));  // blocking reads that still see the stop flag
  const Fd sender_fd(loopbackSocket(sender_addr));
  const Fd ep(::epoll_create1(0));
  if (floor_fd.fd < 0 || sink_fd.fd < 0 || sender_fd.fd < 0 || ep.fd < 0)
    return fail(Code::Internal, std::string("wakeups: cannot open sockets: ") + std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.fd = floor_fd.fd;
  if (::epoll_ctl(ep.fd, EPOLL_CTL_ADD, floor_fd.fd, &ev) != 0)
    return fail(Code::Internal, std::string("wakeups: epoll_ctl: ") + std::strerror(errno));

  std::atomic<bool> stop{false};
  std::thread sink([&] {
    std::vector<char> buf(kBatch * kMaxPayload);
    std::array<iovec, kBatch> iov{};
    std::array<mmsghdr, kBatch> msgs{};
    for (std::size_t i = 0; i < kBatch; ++i) {
      iov[i] = iovec{buf.data() + i * kMaxPayload, kMaxPayload};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    while (!stop.load(std::memory_order_relaxed)) {
      (void)::recvmmsg(sink_fd.fd, msgs.data(), kBatch, MSG_WAITFORONE, nullptr);
    }
  });

  WakeupFloorResult r;
  timespec start{};
  ::clock_gettime(CLOCK_MONOTONIC, &start);
  const timespec end = addSeconds(start, o.seconds);
  std::thread sender([&] { sendBursts(sender_fd.fd, floor_addr, o, mean_burst, end); });

  // The floor: this thread.
  std::vector<char> buf(kBatch * kMaxPayload);
  std::array<iovec, kBatch> rx_iov{};
  std::array<mmsghdr, kBatch> rx{};
  std::array<iovec, kBatch> tx_iov{};
  std::array<mmsghdr, kBatch> tx{};
  double credit = 0;
  const double cpu0 = threadCpuSeconds();
  while (true) {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    if (!before(now, end)) break;
    const auto left_ms = (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1'000'000;
    epoll_event got{};
    if (::epoll_wait(ep.fd, &got, 1, static_cast<int>(std::clamp<long>(left_ms, 1, 100))) <= 0) continue;
    ++r.wakeups;
    while (true) {
      for (std::size_t i = 0; i < kBatch; ++i) {
        rx_iov[i] = iovec{buf.data() + i * kMaxPayload, kMaxPayload};
        rx[i] = mmsghdr{};
        rx[i].msg_hdr.msg_iov = &rx_iov[i];
        rx[i].msg_hdr.msg_iovlen = 1;
      }
      const int n = ::recvmmsg(floor_fd.fd, rx.data(), kBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) break;
      r.received += static_cast<std::uint64_t>(n);
      credit += o.fanout * n;
      auto copies = static_cast<std::size_t>(credit);
      credit -= static_cast<double>(copies);
      while (copies > 0) {
        const std::size_t m = std::min(copies, kBatch);
        for (std::size_t i = 0; i < m; ++i) {
          const mmsghdr& from = rx[i % static_cast<std::size_t>(n)];
          tx_iov[i] = iovec{from.msg_hdr.msg_iov->iov_base, from.msg_len};
          tx[i] = mmsghdr{};
          tx[i].msg_hdr.msg_iov = &tx_iov[i];
          tx[i].msg_hdr.msg_iovlen = 1;
          tx[i].msg_hdr.msg_name = &sink_addr;
          tx[i].msg_hdr.msg_namelen = sizeof sink_addr;
        }
        const int s = ::sendmmsg(floor_fd.fd, tx.data(), static_cast<unsigned>(m), 0);
        if (s > 0) r.sent += static_cast<std::uint64_t>(s);
        copies -= m;
      }
      if (static_cast<std::size_t>(n) < kBatch) break;
    }
  }
  r.cpu_s = threadCpuSeconds() - cpu0;
  timespec stopped{};
  ::clock_gettime(CLOCK_MONOTONIC, &stopped);
  r.seconds = static_cast<double>(stopped.tv_sec - start.tv_sec) +
              static_cast<double>(stopped.tv_nsec - start.tv_nsec) * 1e-9;
  sender.join();
  stop = true;
  sink.join();
  if (r.wakeups == 0) return fail(Code::Internal, "wakeups: no datagram arrived");
  return r;
}

int runWakeupFloorCli(const WakeupFloorOptions& options, bool json) {
  auto r = runWakeupFloor(options);
  if (!r) {
    std::fprintf(stderr, "chorus bench wakeups: %s\n", r.error().message.c_str());
    return 1;
  }
  const double s = r->seconds;
  boost::json::object out{
      {"seconds", s},
      {"cpu_s", r->cpu_s},
      {"cpu_percent_of_one_core", 100 * r->cpu_s / s},
      {"received_per_s", static_cast<double>(r->received) / s},
      {"sent_per_s", static_cast<double>(r->sent) / s},
      {"wakeups_per_s", static_cast<double>(r->wakeups) / s},
      {"cpu_us_per_wakeup", 1e6 * r->cpu_s / static_cast<double>(r->wakeups)},
  };
  if (json) {
    std::printf("%s\n", formatJson(out).c_str());
  } else {
    std::printf(
        "wake-up floor: %.0f datagrams/s in, %.0f out, %.0f wake-ups/s: %.2f %% of one core, %.1f us per "
        "wake-up\n",
        static_cast<double>(r->received) / s, static_cast<double>(r->sent) / s,
        static_cast<double>(r->wakeups) / s, 100 * r->cpu_s / s,
        1e6 * r->cpu_s / static_cast<double>(r->wakeups));
  }
  return 0;
}

}  // namespace chorus::bench
