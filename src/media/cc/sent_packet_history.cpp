#include "media/cc/sent_packet_history.hpp"

#include <algorithm>
#include <new>

namespace chorus::media::cc {

namespace {

std::size_t roundHistoryCapacity(std::size_t c) {
  std::size_t n = 64;
  while (n < c && n < (std::size_t{1} << 20)) n <<= 1;
  return n;
}

}  // namespace

SentPacketHistory::SentPacketHistory(Config config)
    : max_capacity_(roundHistoryCapacity(config.capacity)), max_age_us_(config.max_age_us) {
  const std::size_t n = config.initial_capacity == 0
                            ? max_capacity_
                            : std::min(max_capacity_, roundHistoryCapacity(config.initial_capacity));
  ring_.resize(n);
  mask_ = n - 1;
}

bool SentPacketHistory::grow() noexcept {
  if (ring_.size() >= max_capacity_) return false;
  try {
    std::vector<Entry> bigger(ring_.size() * 2);
    const std::size_t mask = bigger.size() - 1;
    // Every entry is within the old size of the newest sequence number, so none collide in the larger ring.
    for (const Entry& e : ring_) {
      if (e.seq >= 0) bigger[static_cast<std::size_t>(e.seq) & mask] = e;
    }
    ring_ = std::move(bigger);
    mask_ = mask;
    return true;
  } catch (const std::bad_alloc&) {
    return false;
  }
}

SentPacketHistory::Entry* SentPacketHistory::find(std::int64_t seq) noexcept {
  if (seq < 0) return nullptr;
  Entry& e = ring_[static_cast<std::size_t>(seq) & mask_];
  return e.seq == seq ? &e : nullptr;
}

void SentPacketHistory::onPacketSent(std::uint16_t seq, std::size_t size, TimeUs send_us,
                                     int probe_cluster) noexcept {
  ++counters_.sent;
  const std::int64_t s = unwrapper_.unwrap(seq);
  {
    const Entry& old = ring_[static_cast<std::size_t>(s) & mask_];
    if (old.seq >= 0 && old.seq != s && send_us - old.send_us < max_age_us_) grow();
  }
  Entry& e = ring_[static_cast<std::size_t>(s) & mask_];
  if (e.seq >= 0 && !e.acked && !e.reported_lost) in_flight_bytes_ -= e.size;  // evicted unanswered
  e = Entry{s, size, send_us, false, false, probe_cluster};
  in_flight_bytes_ += size;
}

void SentPacketHistory::onFeedback(const TransportCcFeedback& feedback, std::vector<PacketResult>& out) {
  out.clear();
  if (!unwrapper_.initialized()) {
    counters_.unknown += feedback.status_count;
    return;
  }
  if (!have_reference_) {
    reference_ = feedback.reference_time;
    have_reference_ = true;
  } else {
    // 24-bit signed difference (half-range rule).
    std::int32_t d = static_cast<std::int32_t>(
        static_cast<std::uint32_t>(feedback.reference_time - last_raw_ref_) & 0xFFFFFF);
    if (d >= (1 << 23)) d -= (1 << 24);
    reference_ += d;
    // A peer that keeps jumping the reference one way cannot push it towards overflow: start over.
    if (reference_ > (std::int64_t{1} << 40) || reference_ < -(std::int64_t{1} << 40)) {
      reference_ = feedback.reference_time;
    }
  }
  last_raw_ref_ = feedback.reference_time;
  TimeUs arrival = reference_ * kTccReferenceTickUs;
  std::int64_t s = unwrapper_.peek(feedback.base_seq);
  auto it = feedback.packets();
  while (auto st = it.next()) {
    if (st->received) arrival += std::int64_t{st->delta_ticks} * kTccDeltaTickUs;
    Entry* e = find(s);
    const std::int64_t seq = s++;
    if (e == nullptr) {
      ++counters_.unknown;
      continue;
    }
    if (e->acked) {
      ++counters_.duplicates;
      continue;
    }
    if (!st->received) {
      if (e->reported_lost) continue;
      e->reported_lost = true;
      in_flight_bytes_ -= e->size;
      out.push_back(PacketResult{seq, e->size, e->send_us, false, 0, e->probe_cluster});
      continue;
    }
    if (!e->reported_lost) in_flight_bytes_ -= e->size;
    e->acked = true;
    out.push_back(PacketResult{seq, e->size, e->send_us, true, arrival, e->probe_cluster});
  }
}

}  // namespace chorus::media::cc
