#include "media/cc/acked_bitrate_estimator.hpp"

#include <algorithm>

namespace chorus::media::cc {

AckedBitrateEstimator::AckedBitrateEstimator(TimeUs window_us, std::size_t capacity)
    : window_us_(std::max<TimeUs>(window_us, 10'000)), ring_(std::max<std::size_t>(capacity, 4)) {}

void AckedBitrateEstimator::onFeedback(std::span<const PacketResult> results) noexcept {
  bool any = false;
  TimeUs first = 0;
  TimeUs last = 0;
  std::int64_t total = 0;
  std::int64_t first_size = 0;
  for (const PacketResult& r : results) {
    if (!r.received) continue;
    if (!any || r.arrival_us < first) {
      first = r.arrival_us;
      first_size = static_cast<std::int64_t>(r.size);
    }
    if (!any || r.arrival_us > last) last = r.arrival_us;
    any = true;
    total += static_cast<std::int64_t>(r.size);
  }
  if (!any) return;
  if (count_ > 0 && last < newest_ - window_us_) return;  // stale (a reordered, very late feedback)
  // A batch that starts right where the previous one ended covers the time in between too, and its first
  // packet's bytes arrived in it; leaving those gaps out would make bursty arrivals (one burst per feedback)
  // look many times faster than the link.
  const bool contiguous = count_ > 0 && first >= newest_ && first - newest_ <= kContiguousGapUs;
  const TimeUs start = contiguous ? newest_ : first;
  const std::int64_t bytes = contiguous ? total : total - first_size;
  if (last <= start) {
    // One packet after a gap spans no time and makes no batch, but the window still moves on with it: on a
    // link so thin that feedbacks carry single packets, the batches of a faster past age out (bitrateBps()
    // then says nothing rather than what the link carried seconds ago).
    newest_ = std::max(newest_, last);
    return;
  }
  ring_[head_] = Batch{start, last, bytes};
  head_ = (head_ + 1) % ring_.size();
  count_ = std::min(count_ + 1, ring_.size());
  newest_ = std::max(newest_, last);
}

std::optional<std::int64_t> AckedBitrateEstimator::bitrateBps() const noexcept {
  std::int64_t bytes = 0;
  TimeUs span = 0;
  for (std::size_t k = 0; k < count_; ++k) {
    const Batch& b = ring_[(head_ + ring_.size() - 1 - k) % ring_.size()];
    if (b.last < newest_ - window_us_) continue;
    bytes += b.bytes;
    span += b.last - b.first;
  }
  if (span < 100'000) return std::nullopt;
  return bytes * 8 * kUsPerSecond / span;
}

}  // namespace chorus::media::cc
