#include "media/rtp/vp8_continuity.hpp"

namespace chorus::media {

namespace {

constexpr std::uint16_t kPictureIdMask = 0x7FFF;
constexpr std::uint16_t kPictureIdHalf = 0x4000;
constexpr std::uint8_t kTl0Half = 0x80;

}  // namespace

void Vp8Continuity::rewrite(MutableByteSpan payload, const Vp8Descriptor& d, bool switched) noexcept {
  if (!d.picture_id) return;
  if (switched) {
    if (started_) {
      pid_offset_ = static_cast<std::uint16_t>((last_pid_ + 1 - *d.picture_id) & kPictureIdMask);
      if (have_tl0_ && d.tl0_pic_idx) tl0_offset_ = static_cast<std::uint8_t>(last_tl0_ + 1 - *d.tl0_pic_idx);
    }
    started_ = true;
  }
  const auto pid = static_cast<std::uint16_t>((*d.picture_id + pid_offset_) & kPictureIdMask);
  if (switched || ((pid - last_pid_) & kPictureIdMask) < kPictureIdHalf) last_pid_ = pid;
  (void)writeVp8PictureId(payload, d, pid);
  if (d.tl0_pic_idx) {
    const auto tl0 = static_cast<std::uint8_t>(*d.tl0_pic_idx + tl0_offset_);
    if (!have_tl0_ || switched || static_cast<std::uint8_t>(tl0 - last_tl0_) < kTl0Half) last_tl0_ = tl0;
    have_tl0_ = true;
    (void)writeVp8Tl0PicIdx(payload, d, tl0);
  }
}

}  // namespace chorus::media
