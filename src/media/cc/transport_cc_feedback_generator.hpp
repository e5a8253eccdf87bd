#pragma once
// Receive side of transport-wide congestion control: records the arrival time of every transport-wide
// sequence number a peer sends us and turns them into RTPFB 15 feedback packets
// (rtcp/transport_cc_feedback.hpp) when the caller asks, so the peer's send-side estimator can run. The
// caller drives the cadence (libwebrtc and mediasoup send every 50–100 ms): each tick, call nextFeedback()
// until it returns nullopt.
//
// - Sequence numbers are unwrapped to 64 bits (CounterUnwrapper), so wraparound is seamless.
// - Arrivals live in a fixed ring of `max_tracked` slots allocated in the constructor; nothing allocates
// later.
// - A feedback starts at the first sequence number not yet reported (losses in between are reported as not
//   received) and ends at the last received one, at most `max_status_count` statuses and
//   `max_feedback_bytes`.
// - Reordering: a packet that arrives after its sequence number was already reported (as lost) moves the
// start
//   back to it, so the next feedback reports it again as received (libwebrtc's RemoteEstimatorProxy does the
//   same), when it is at most `max_reorder` behind; older ones are counted `too_late`.
// - A gap longer than `max_status_count` (a sender restart or a jump) is skipped, not reported as loss.
// Single-threaded; sans-IO (arrival times are passed in).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "media/bytes.hpp"
#include "media/cc/cc_types.hpp"
#include "media/rtcp/transport_cc_feedback.hpp"
#include "media/rtp/counter_unwrapper.hpp"

namespace chorus::media::cc {

class TransportCcFeedbackGenerator {
 public:
  struct Config {
    std::uint32_t sender_ssrc{0};
    std::uint32_t media_ssrc{0};
    std::size_t max_feedback_bytes{1200};
    std::size_t max_status_count{1024};
    std::size_t max_tracked{4096};  // rounded up to a power of two
    std::size_t max_reorder{512};
  };
  struct Counters {
    std::uint64_t packets{0};
    std::uint64_t duplicates{0};
    std::uint64_t too_late{0};     // older than the ring or than max_reorder behind the start
    std::uint64_t rereported{0};   // late arrivals that moved the start back
    std::uint64_t gap_skipped{0};  // sequence numbers skipped in gaps > max_status_count
    std::uint64_t feedbacks{0};
  };

  TransportCcFeedbackGenerator() : TransportCcFeedbackGenerator(Config{}) {}
  explicit TransportCcFeedbackGenerator(Config config);

  void onPacket(std::uint16_t seq, TimeUs arrival_us) noexcept;
  // Writes the next feedback packet at the start of `out` and returns its size; nullopt when nothing is left
  // to report (or `out` cannot hold even one status).
  std::optional<std::size_t> nextFeedback(MutableByteSpan out) noexcept;
  bool hasPending() const noexcept;

  const Counters& counters() const noexcept { return counters_; }
  const Config& config() const noexcept { return config_; }

 private:
  struct Slot {
    std::int64_t seq{-1};
    TimeUs arrival{0};
  };
  const Slot* slotFor(std::int64_t s) const noexcept;
  std::int64_t oldestKept() const noexcept;

  Config config_;
  std::size_t mask_{0};
  std::vector<Slot> ring_;                         // Owned; fixed size.
  std::vector<TransportCcPacketStatus> statuses_;  // scratch for one feedback; fixed size
  CounterUnwrapper<std::uint16_t> unwrapper_;
  std::int64_t start_{0};  // first unwrapped seq not yet reported
  std::uint8_t feedback_count_{0};
  Counters counters_;
};

}  // namespace chorus::media::cc
