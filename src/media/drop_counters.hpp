#pragma once
// Per-reason drop counters for the packet path: every parser reports why it rejected a packet through an
// `enum class` whose last enumerator is `Count`; the owner of the parser counts it here. No allocation.
#include <array>
#include <cstddef>
#include <cstdint>

namespace chorus::media {

template <typename Reason>
class DropCounters {
 public:
  static constexpr std::size_t kSize = static_cast<std::size_t>(Reason::Count);

  void count(Reason r) noexcept {
    const auto i = static_cast<std::size_t>(r);
    if (i < kSize) ++counts_[i];
  }
  std::uint64_t get(Reason r) const noexcept {
    const auto i = static_cast<std::size_t>(r);
    return i < kSize ? counts_[i] : 0;
  }
  std::uint64_t total() const noexcept {
    std::uint64_t t = 0;
    for (auto c : counts_) t += c;
    return t;
  }
  void reset() noexcept { counts_.fill(0); }

 private:
  std::array<std::uint64_t, kSize> counts_{};
};

}  // namespace chorus::media
