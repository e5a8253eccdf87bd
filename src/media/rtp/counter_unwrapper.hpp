#pragma once
// Unwraps a wrapping unsigned counter (16-bit RTP seq, 32-bit RTP timestamp) into a signed 64-bit value with
// the half-range rule: a step of less than half the range forwards counts as forward, anything else as
// backward. The reference is the highest value seen, so reordered packets do not move it.
#include <cstdint>
#include <type_traits>

namespace chorus::media {

template <typename T>
class CounterUnwrapper {
  static_assert(std::is_unsigned_v<T> && sizeof(T) <= 4);

 public:
  // The extended value of `v` relative to the highest seen so far, without updating state.
  std::int64_t peek(T v) const noexcept {
    if (!initialized_) return static_cast<std::int64_t>(v);
    using S = std::make_signed_t<T>;
    const auto delta = static_cast<S>(static_cast<T>(v - highest_raw_));
    return highest_ + delta;
  }
  // The extended value of `v`; advances the reference when `v` is newer.
  std::int64_t unwrap(T v) noexcept {
    const std::int64_t ext = peek(v);
    if (!initialized_ || ext > highest_) {
      highest_ = ext;
      highest_raw_ = v;
      initialized_ = true;
    }
    return ext;
  }
  bool initialized() const noexcept { return initialized_; }
  std::int64_t highest() const noexcept { return highest_; }
  void reset() noexcept { *this = CounterUnwrapper{}; }

 private:
  std::int64_t highest_{0};
  T highest_raw_{0};
  bool initialized_{false};
};

}  // namespace chorus::media
