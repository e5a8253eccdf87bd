#pragma once
// Send side of transport-wide congestion control: remembers what we sent on one transport (transport-wide
// sequence number, size, send time) and turns a parsed transport-cc feedback into PacketResults (send time,
// size, received or lost, arrival time in the receiver's clock). The 24-bit feedback reference time is
// unwrapped across feedbacks. A packet reported twice (the receiver re-reports after reordering) yields one
// result as received; a packet reported lost twice yields one loss. Ring of entries (a power of two): it
// starts at `initial_capacity` and doubles, up to `capacity`, only when a packet sent less than `max_age_us`
// ago would be overwritten, so a subscriber receiving 100 packets/s keeps 256 entries (8 KiB), not 8192 (256
// KiB). Feedback for older or never-sent sequence numbers is counted and ignored. Single-threaded; sans-IO.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "media/cc/cc_types.hpp"
#include "media/rtcp/transport_cc_feedback.hpp"
#include "media/rtp/counter_unwrapper.hpp"

namespace chorus::media::cc {

class SentPacketHistory {
 public:
  struct Counters {
    std::uint64_t sent{0};
    std::uint64_t unknown{0};     // feedback about a sequence number not (or no longer) in the history
    std::uint64_t duplicates{0};  // statuses about a packet already acknowledged
  };

  struct Config {
    std::size_t capacity{8192};       // the bound (rounded up to a power of two, at least 64)
    std::size_t initial_capacity{0};  // 0: `capacity` from the start
    TimeUs max_age_us{2'000'000};     // feedback about an older packet is of no use to the estimator
  };

  SentPacketHistory() : SentPacketHistory(Config{}) {}
  explicit SentPacketHistory(Config config);

  // `probe_cluster` ≥ 0 marks a packet of a probe cluster (ProbeBitrateEstimator).
  void onPacketSent(std::uint16_t seq, std::size_t size, TimeUs send_us, int probe_cluster = -1) noexcept;
  // Appends one PacketResult per newly learnt status of `feedback` to `out` (cleared first), in sequence
  // order.
  void onFeedback(const TransportCcFeedback& feedback, std::vector<PacketResult>& out);

  // Bytes sent and not yet acknowledged or reported lost (bounded by the ring).
  std::size_t inFlightBytes() const noexcept { return in_flight_bytes_; }
  std::int64_t highestSent() const noexcept { return unwrapper_.highest(); }
  const Counters& counters() const noexcept { return counters_; }
  std::size_t capacity() const noexcept { return ring_.size(); }  // now (it may still grow to the bound)

 private:
  struct Entry {
    std::int64_t seq{-1};
    std::size_t size{0};
    TimeUs send_us{0};
    bool acked{false};
    bool reported_lost{false};
    int probe_cluster{-1};
  };
  Entry* find(std::int64_t seq) noexcept;
  // Doubles the ring (re-placing the entries); false at the bound or out of memory.
  bool grow() noexcept;

  std::size_t max_capacity_{0};
  TimeUs max_age_us_{0};
  std::vector<Entry> ring_;  // Owned; a power of two, at most max_capacity_.
  std::size_t mask_{0};
  CounterUnwrapper<std::uint16_t> unwrapper_;
  bool have_reference_{false};
  std::int64_t reference_{0};  // unwrapped reference time, 64 ms units
  std::int32_t last_raw_ref_{0};
  std::size_t in_flight_bytes_{0};
  Counters counters_;
};

}  // namespace chorus::media::cc
