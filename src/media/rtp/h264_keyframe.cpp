#include "media/rtp/h264_keyframe.hpp"

#include <cstdint>

namespace chorus::media {

namespace {

constexpr std::uint8_t kNalTypeMask = 0x1F;
constexpr std::uint8_t kNalIdr = 5;
constexpr std::uint8_t kNalSps = 7;
constexpr std::uint8_t kNalStapA = 24;
constexpr std::uint8_t kNalFuA = 28;
constexpr std::uint8_t kFuStart = 0x80;

bool startsDecoding(std::uint8_t nal_type) noexcept {
  return nal_type == kNalIdr || nal_type == kNalSps;
}

}  // namespace

bool h264KeyframeStart(ByteSpan p) noexcept {
  if (p.empty()) return false;
  const std::uint8_t type = p[0] & kNalTypeMask;
  if (startsDecoding(type)) return true;
  if (type == kNalStapA) {
    std::size_t pos = 1;
    while (pos + 2 < p.size()) {
      const std::size_t len = load16(p.data() + pos);
      pos += 2;
      if (len == 0 || len > p.size() - pos) return false;
      if (startsDecoding(p[pos] & kNalTypeMask)) return true;
      pos += len;
    }
    return false;
  }
  if (type == kNalFuA && p.size() >= 2) {
    return (p[1] & kFuStart) != 0 && startsDecoding(p[1] & kNalTypeMask);
  }
  return false;
}

}  // namespace chorus::media
