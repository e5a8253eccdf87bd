#include "media/rtp/receive_statistics.hpp"

#include <algorithm>

namespace chorus::media {

void ReceiveStatistics::onPacket(std::uint16_t seq, std::uint32_t timestamp, TimeMs now,
                                 std::uint32_t clock_rate) noexcept {
  const bool first = !seq_.initialized();
  const std::int64_t ext = seq_.unwrap(seq);
  if (first || ext < base_) base_ = ext;
  ++received_;
  const auto arrival = static_cast<std::uint32_t>(static_cast<std::uint64_t>(now) * clock_rate / 1000);
  const std::uint32_t transit = arrival - timestamp;
  if (have_transit_) {
    std::int64_t d = static_cast<std::int32_t>(transit - transit_);
    if (d < 0) d = -d;
    jitter_q4_ += d - ((jitter_q4_ + 8) >> 4);
  }
  transit_ = transit;
  have_transit_ = true;
}

std::uint32_t ReceiveStatistics::jitter() const noexcept {
  return static_cast<std::uint32_t>(std::min<std::int64_t>(jitter_q4_ >> 4, 0xFFFFFFFF));
}

RtcpReportBlock ReceiveStatistics::report(std::uint32_t ssrc) noexcept {
  RtcpReportBlock b;
  b.ssrc = ssrc;
  const std::int64_t highest = seq_.highest();
  const std::int64_t expected = highest - base_ + 1;
  const std::int64_t lost = expected - static_cast<std::int64_t>(received_);
  b.cumulative_lost = static_cast<std::int32_t>(std::clamp<std::int64_t>(lost, -0x800000, 0x7FFFFF));
  const std::int64_t expected_interval = expected - expected_prior_;
  const std::int64_t received_interval = static_cast<std::int64_t>(received_ - received_prior_);
  const std::int64_t lost_interval = expected_interval - received_interval;
  if (expected_interval > 0 && lost_interval > 0) {
    b.fraction_lost =
        static_cast<std::uint8_t>(std::min<std::int64_t>(255, (lost_interval << 8) / expected_interval));
  }
  expected_prior_ = expected;
  received_prior_ = received_;
  b.extended_highest_seq = static_cast<std::uint32_t>(highest);
  b.jitter = jitter();
  return b;
}

}  // namespace chorus::media
