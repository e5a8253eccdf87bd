#pragma once
// One direction of an impaired link, as a model (sans-IO): a datagram offered at `now` is lost at random,
// dropped when the bottleneck queue is full, or delivered at a time the model gives back. The relay
// (bench/net/impair_relay.hpp) runs one per direction; tests and benchmarks use it to put a thin, lossy or
// distant link between a participant and the focus (the netem qdisc is not available on every kernel we run).
//
// The bottleneck is a FIFO served at `rate_bps` (0: unlimited) with tail drop once the queueing delay would
// exceed `max_queue_us`; after it come the propagation `delay_us` and a uniform random extra delay in
// [0, jitter_us]. Without `reorder`, jitter never lets a datagram overtake an earlier one (as on one path);
// with it each datagram gets its own.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include <boost/json.hpp>

#include "base/result.hpp"

namespace chorus::bench {

using TimeUs = std::int64_t;  // microseconds of a monotonic clock

struct ImpairmentParams {
  std::int64_t rate_bps{0};      // bottleneck rate; 0 = unlimited (no queue)
  double loss{0};                // random loss probability in [0, 1]
  TimeUs delay_us{0};            // one-way propagation delay
  TimeUs jitter_us{0};           // extra uniform delay in [0, jitter_us]
  bool reorder{false};           // jitter independent per datagram (may reorder)
  TimeUs max_queue_us{300'000};  // tail drop beyond this queueing delay at the bottleneck

  // Reads the fields present in `o` (rate_kbps, loss, delay_ms, jitter_ms, reorder, queue_ms) over `*this`;
  // an error names the first bad field and changes nothing.
  Status update(const boost::json::object& o);
  boost::json::object toJson() const;
};

class LinkImpairment {
 public:
  struct Counters {
    std::uint64_t offered{0};
    std::uint64_t delivered{0};  // scheduled for delivery
    std::uint64_t lost{0};       // random loss
    std::uint64_t queue_drops{0};
    std::uint64_t bytes_delivered{0};
    TimeUs max_queue_delay_us{0};
  };

  explicit LinkImpairment(ImpairmentParams params = {}, std::uint64_t seed = 1);

  // A datagram of `bytes` bytes (plus 28 bytes of IPv4/UDP header on the bottleneck) offered at `now`: when
  // it arrives at the far end, or nullopt when it is lost or dropped. `now` must not go backwards.
  std::optional<TimeUs> offer(std::size_t bytes, TimeUs now);

  // New parameters from now on; what is queued keeps its times.
  void setParams(const ImpairmentParams& p) { params_ = p; }
  const ImpairmentParams& params() const { return params_; }
  const Counters& counters() const { return counters_; }

 private:
  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

  ImpairmentParams params_;
  std::mt19937_64 rng_;
  Counters counters_;
  TimeUs link_free_{0};     // when the bottleneck has sent everything queued
  TimeUs last_arrival_{0};  // for jitter without reordering
};

}  // namespace chorus::bench
