#pragma once
// Receive statistics of one incoming RTP stream (one SSRC), for the report blocks of our receiver reports:
// RFC 3550 A.1 (extended highest sequence number), A.3 (cumulative and interval loss) and A.8 (interarrival
// jitter). Sans-IO: the arrival time is passed in. No allocation.
#include <cstdint>

#include "base/clock.hpp"
#include "media/rtcp/rtcp_packet.hpp"
#include "media/rtp/counter_unwrapper.hpp"

namespace chorus::media {

class ReceiveStatistics {
 public:
  // A packet with sequence number `seq` and RTP timestamp `timestamp` arrived at `now`; `clock_rate` is the
  // stream's RTP clock (Hz), for the jitter in timestamp units.
  void onPacket(std::uint16_t seq, std::uint32_t timestamp, TimeMs now, std::uint32_t clock_rate) noexcept;

  // A report block for `ssrc`: cumulative loss since the first packet (expected minus received, clamped to
  // 24 bits signed, so duplicates can make it negative), fraction lost since the previous report (0 when
  // nothing was lost or more arrived than expected), extended highest sequence number and jitter. Starts
  // the next reporting interval. last_sr / delay_since_last_sr are left 0 (the caller knows the SRs).
  RtcpReportBlock report(std::uint32_t ssrc) noexcept;

  bool started() const noexcept { return seq_.initialized(); }
  std::uint64_t received() const noexcept { return received_; }
  // The highest sequence number seen, extended (unwrapped); 0 before the first packet.
  std::int64_t highestSeq() const noexcept { return seq_.highest(); }
  // `seq` extended relative to the highest seen, without recording it.
  std::int64_t extend(std::uint16_t seq) const noexcept { return seq_.peek(seq); }
  // Interarrival jitter in RTP timestamp units.
  std::uint32_t jitter() const noexcept;

 private:
  CounterUnwrapper<std::uint16_t> seq_;
  std::int64_t base_{0};  // lowest extended sequence number seen
  std::uint64_t received_{0};
  std::int64_t expected_prior_{0};
  std::uint64_t received_prior_{0};
  bool have_transit_{false};
  std::uint32_t transit_{0};
  std::int64_t jitter_q4_{0};  // jitter * 16, in timestamp units
};

}  // namespace chorus::media
