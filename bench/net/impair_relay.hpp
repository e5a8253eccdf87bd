#pragma once
// `chorus bench impair`: a userspace UDP relay that impairs a link (rate cap, random loss, delay, jitter;
// each direction on its own) between clients and one UDP server, for tests and benchmarks on real links
// rather than a perfect loopback (docs/congestion-control.md, "Impairment relay").
//
// Clients send to `listen`; each client address gets its own socket towards `target`, so the server sees one
// peer per client, and the server's replies go back to that client from `listen`. Put it in front of
// `chorus focus` by advertising the relay's address: the focus binds one address, the relay listens on the
// same port at another, and the focus is started with `--public-ip <relay address>`.
//
// stdout, one JSON object per line: {"event":"ready","listen":"IP:PORT","target":...} once listening, then
// {"event":"stats",...} on request, every --stats-interval and at exit. stdin takes one JSON object per line:
// {"up":{...},"down":{...}} with any fields of ImpairmentParams::update (e.g. {"down":{"rate_kbps":300}};
// "up" is client -> target), answered with {"event":"params",...} or {"event":"error","message":...};
// {"stats":true} prints the counters. SIGINT/SIGTERM end it (exit 0).
#include <cstddef>
#include <cstdint>
#include <string>

#include "bench/net/link_impairment.hpp"

namespace chorus::bench {

struct ImpairRelayOptions {
  std::string listen{"127.0.0.1:0"};  // IP:PORT or [IPv6]:PORT the clients send to
  std::string target;                 // IP:PORT of the server
  std::string upstream_bind;          // IP the relay sends to the target from; empty: listen's IP
  ImpairmentParams up;                // client -> target
  ImpairmentParams down;              // target -> client
  std::uint64_t seed{1};
  // Each client address gets its own link in each direction (its own rate cap and queue), as if every
  // client sat behind its own access link; off: all clients share one link per direction (one bottleneck).
  bool per_client{false};
  std::size_t max_clients{64};     // client addresses at once; the longest idle one gives way after 60 s
  std::size_t max_pending{16384};  // datagrams in flight (delayed) in both directions; more are dropped
  double stats_interval_s{0};      // 0: only on request and at exit
};

// Runs until SIGINT/SIGTERM; 0 on a clean stop, 1 when it cannot start (message on stderr).
int runImpairRelay(const ImpairRelayOptions& options);

}  // namespace chorus::bench
