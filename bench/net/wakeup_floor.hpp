#pragma once
// `chorus bench wakeups`: what it costs on this machine just to wake up for datagrams, read them and send
// copies on, with no work in between: the floor under a focus in a small call, where the packets are few and
// each one wakes the process (docs/focus.md, "Benchmark: the browser call").
//
// A sender thread sends bursts of datagrams to a UDP socket at random (Poisson) times, `wakeups_per_s` bursts
// a second averaging `datagrams_per_s` datagrams in all; the floor thread waits in epoll_wait, reads each
// burst with recvmmsg and sends `fanout` copies of each datagram (on average; the focus's datagrams out per
// datagram in) with one sendmmsg to a sink socket that a third thread drains. Only the floor thread's CPU
// time is counted (CLOCK_THREAD_CPUTIME_ID). On loopback the kernel delivers the copies in the sender's
// context, as it delivers a focus's packets into the clients' sockets, so both pay the same.
#include <cstddef>
#include <cstdint>

#include "base/result.hpp"

namespace chorus::bench {

struct WakeupFloorOptions {
  double datagrams_per_s{400};  // into the floor
  double wakeups_per_s{0};      // bursts per second; 0: one per datagram
  double fanout{1};             // datagrams out per datagram in (fractions carry over)
  std::size_t payload_bytes{1000};
  double seconds{10};
  std::uint64_t seed{1};
};

struct WakeupFloorResult {
  double seconds{0};
  double cpu_s{0};  // the floor thread's
  std::uint64_t received{0};
  std::uint64_t sent{0};
  std::uint64_t wakeups{0};  // epoll_wait returns with the socket readable
};

Result<WakeupFloorResult> runWakeupFloor(const WakeupFloorOptions& options);

// The CLI: prints the result (one JSON object with `json`) and returns the exit code.
int runWakeupFloorCli(const WakeupFloorOptions& options, bool json);

}  // namespace chorus::bench
