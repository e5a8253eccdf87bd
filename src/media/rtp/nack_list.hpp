#pragma once
// The packets of one incoming RTP stream we are still missing, for generic NACKs (RFC 4585 §6.2.1) to its
// sender: the receiver adds the gaps it sees, removes what arrives late, and asks due() which sequence
// numbers to NACK now. Each entry is asked for at once, then again every retry interval, at most max_tries
// times and for at most max_age; then it is given up. The last kGivenUpMemory entries given up are
// remembered, so a retransmission that arrives after all (a sender slower than the retries) still counts as
// one: recovered() and wasGivenUp() know it. Fixed capacity (kCapacity entries); no allocation.
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include "base/clock.hpp"

namespace chorus::media {

struct NackPolicy {
  TimeMs retry_ms{100};     // between two NACKs of the same packet
  int max_tries{3};         // NACKs per packet
  TimeMs max_age_ms{1000};  // since the gap was seen
};

class NackList {
 public:
  static constexpr std::size_t kCapacity = 64;
  static constexpr std::size_t kGivenUpMemory = 16;

  struct Due {
    std::size_t count{0};     // sequence numbers written to `out`
    std::size_t given_up{0};  // entries dropped: too old, or out of tries
  };

  // Adds every extended sequence number in [from, to), missing since `now`. False (and nothing added) when
  // they do not all fit.
  bool add(std::int64_t from, std::int64_t to, TimeMs now) noexcept;
  // True when `ext` was missing (in the list, or one of the last given up); it is removed (recovered).
  bool recovered(std::int64_t ext) noexcept;
  bool contains(std::int64_t ext) const noexcept;
  // True when `ext` is one of the last kGivenUpMemory entries given up and has not been recovered since.
  bool wasGivenUp(std::int64_t ext) const noexcept;
  void clear() noexcept;

  // Drops the entries `policy` gives up on, and writes the (16-bit) sequence numbers due for a NACK at `now`
  // to `out`, recording the try; entries that do not fit in `out` wait. Order is unspecified.
  Due due(TimeMs now, const NackPolicy& policy, std::span<std::uint16_t> out) noexcept;

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

 private:
  struct Entry {
    std::int64_t ext{0};
    TimeMs since{0};
    TimeMs last_sent{0};
    int tries{0};
  };
  static constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::min();  // an empty slot

  std::array<Entry, kCapacity> entries_{};
  std::size_t size_{0};
  std::array<std::int64_t, kGivenUpMemory> given_up_{};  // ring; kNone = empty slot
  std::size_t given_up_next_{0};

 public:
  NackList() noexcept { given_up_.fill(kNone); }
};

}  // namespace chorus::media
