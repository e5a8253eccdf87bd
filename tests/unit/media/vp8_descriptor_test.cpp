#include "media/rtp/vp8_descriptor.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace chorus::media {
namespace {

// X=1 S=1 PID=0 | I L T | M + 15-bit picture id 0x1234 | TL0PICIDX 0x56 | TID=2 Y=1 | VP8 key frame 640x360.
const std::vector<std::uint8_t> kKeyframe = {0x90, 0xE0, 0x92, 0x34, 0x56, 0xA0, 0x10, 0x02, 0x00,
                                             0x9D, 0x01, 0x2A, 0x80, 0x02, 0x68, 0x01, 0xFF};

TEST(Vp8Descriptor, KeyframeWithAllFields) {
  Vp8Error err{};
  auto d = parseVp8Descriptor(kKeyframe, &err);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->start_of_partition);
  EXPECT_EQ(d->partition_index, 0);
  EXPECT_TRUE(d->isFrameStart());
  EXPECT_FALSE(d->non_reference);
  EXPECT_EQ(d->picture_id, 0x1234);
  EXPECT_TRUE(d->picture_id_15bit);
  EXPECT_EQ(d->tl0_pic_idx, 0x56);
  EXPECT_EQ(d->temporal_id, 2);
  EXPECT_TRUE(d->layer_sync);
  EXPECT_FALSE(d->key_idx);
  EXPECT_EQ(d->size, 6u);
  EXPECT_TRUE(d->keyframe);
  EXPECT_EQ(d->width, 640);
  EXPECT_EQ(d->height, 360);
}

TEST(Vp8Descriptor, MinimalDeltaFrame) {
  const std::vector<std::uint8_t> p = {0x10, 0x01, 0x00, 0x00};  // S=1, no X; frame tag P=1 (inter frame)
  auto d = parseVp8Descriptor(p);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->size, 1u);
  EXPECT_FALSE(d->keyframe);
  EXPECT_FALSE(d->picture_id);
}

TEST(Vp8Descriptor, ContinuationPacketIsNeverKeyframe) {
  const std::vector<std::uint8_t> p = {0x80, 0x80, 0x05, 0x00};  // X, I, 7-bit picture id 5, S=0
  auto d = parseVp8Descriptor(p);
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->isFrameStart());
  EXPECT_FALSE(d->keyframe);
  EXPECT_EQ(d->picture_id, 5);
  EXPECT_FALSE(d->picture_id_15bit);
}

TEST(Vp8Descriptor, KeyIdxAndShortKeyframeWithoutDimensions) {
  const std::vector<std::uint8_t> p = {0x90, 0x10, 0x1F,
                                       0x00};  // X, K only: KEYIDX 31; key frame tag, no header
  auto d = parseVp8Descriptor(p);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->key_idx, 31);
  EXPECT_FALSE(d->temporal_id);
  EXPECT_TRUE(d->keyframe);
  EXPECT_EQ(d->width, 0);
}

TEST(Vp8Descriptor, TruncatedIsRejected) {
  for (std::size_t n = 0; n <= 6; ++n) {
    std::vector<std::uint8_t> p(kKeyframe.begin(), kKeyframe.begin() + static_cast<std::ptrdiff_t>(n));
    Vp8Error err = Vp8Error::Count;
    EXPECT_FALSE(parseVp8Descriptor(p, &err)) << n;
    EXPECT_EQ(err, Vp8Error::TooShort);
  }
}

TEST(Vp8Descriptor, RewritePictureIdAndTl0) {
  auto p = kKeyframe;
  auto d = parseVp8Descriptor(p);
  ASSERT_TRUE(d);
  EXPECT_TRUE(writeVp8PictureId(p, *d, 0x7FFF));
  EXPECT_TRUE(writeVp8Tl0PicIdx(p, *d, 0x01));
  auto r = parseVp8Descriptor(p);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->picture_id, 0x7FFF);
  EXPECT_EQ(r->tl0_pic_idx, 0x01);
  EXPECT_EQ(r->temporal_id, 2);
  EXPECT_TRUE(r->keyframe);

  std::vector<std::uint8_t> seven = {0x80, 0x80, 0x05, 0x00};
  auto d7 = parseVp8Descriptor(seven);
  EXPECT_TRUE(writeVp8PictureId(seven, *d7, 0x1FF));
  EXPECT_EQ(parseVp8Descriptor(seven)->picture_id, 0x7F);
  EXPECT_FALSE(writeVp8Tl0PicIdx(seven, *d7, 1));

  std::vector<std::uint8_t> none = {0x10, 0x00};
  auto dn = parseVp8Descriptor(none);
  EXPECT_FALSE(writeVp8PictureId(none, *dn, 1));
}

}  // namespace
}  // namespace chorus::media
