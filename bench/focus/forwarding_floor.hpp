#pragma once
// The floor of `chorus bench focus`: what forwarding costs with no routing at all, on this machine, in the
// same run. One thread with two loopback UDP sockets receives each datagram, SRTP-unprotects it (libsrtp, the
// profile the focus negotiated), then `fanout` times copies it, rewrites the SSRC, SRTP-protects it with that
// subscriber's session and sends it. A feeder thread sends the same synthetic packets as the load generator
// (audio and VP8-framed video in the configured ratio and sizes); a sink thread drains them. The figure is
// packets sent per CPU-second of the forwarding thread (CLOCK_THREAD_CPUTIME_ID), either saturated or paced
// at the load generator's input rate. `batched` makes the same work with recvmmsg/sendmmsg.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/result.hpp"
#include "bench/focus/synthetic_participant.hpp"
#include "media/srtp/srtp_session.hpp"

namespace chorus::focus::bench {

struct FloorOptions {
  int fanout{8};                     // sends per received packet (the subscriber count)
  std::size_t input_packets{20000};  // received packets to process
  // 0: as fast as the forwarding thread goes (it never sleeps: the saturated floor). Otherwise the feeder
  // sends at this rate, so the forwarding thread sleeps and wakes between packets as a lightly loaded focus
  // does.
  double pace_pps{0};
  SyntheticTraffic traffic;  // packet sizes and the audio/video mix
  media::SrtpProfile profile{media::SrtpProfile::AeadAes128Gcm};
  // The batched floor: recvmmsg (up to 32 datagrams) and one sendmmsg per 64 sends (the batch's fan-out),
  // the system calls a batching focus makes (io::UdpServer), instead of recv + sendto per packet.
  bool batched{false};
};

struct FloorResult {
  std::uint64_t packets_in{0};
  std::uint64_t packets_out{0};
  double cpu_s{0};   // forwarding thread
  double wall_s{0};  // first to last packet
  double out_per_cpu_s{0};
  double cpu_us_per_out{0};
};

Result<FloorResult> measureForwardingFloor(const FloorOptions& options);

}  // namespace chorus::focus::bench
