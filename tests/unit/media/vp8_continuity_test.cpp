#include "media/rtp/vp8_continuity.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace chorus::media {
namespace {

// A VP8 payload: X=1 S=1 PID=0, I=1 (15-bit picture id), L=1 (TL0PICIDX) when `tl0`, then an inter-frame tag.
std::vector<std::uint8_t> payload(std::uint16_t picture_id, std::optional<std::uint8_t> tl0) {
  std::vector<std::uint8_t> p{0x90, static_cast<std::uint8_t>(0x80 | (tl0 ? 0x40 : 0)),
                              static_cast<std::uint8_t>(0x80 | (picture_id >> 8)),
                              static_cast<std::uint8_t>(picture_id)};
  if (tl0) p.push_back(*tl0);
  p.insert(p.end(), {0x01, 0x00, 0x00});
  return p;
}

struct Out {
  std::uint16_t picture_id{0};
  std::optional<std::uint8_t> tl0;
};

// Forwards one packet through `c`: returns the picture id and TL0PICIDX written.
Out forward(Vp8Continuity& c, std::uint16_t picture_id, std::optional<std::uint8_t> tl0, bool switched) {
  std::vector<std::uint8_t> p = payload(picture_id, tl0);
  const auto d = parseVp8Descriptor(p);
  EXPECT_TRUE(d);
  if (!d) return {};
  c.rewrite(p, *d, switched);
  const auto after = parseVp8Descriptor(p);
  EXPECT_TRUE(after);
  if (!after) return {};
  EXPECT_EQ(after->size, d->size);  // only the values change
  return {after->picture_id.value_or(0), after->tl0_pic_idx};
}

TEST(Vp8Continuity, FirstLayerPassesThroughUnchanged) {
  Vp8Continuity c;
  Out o = forward(c, 100, 7, true);
  EXPECT_EQ(o.picture_id, 100);
  EXPECT_EQ(o.tl0, 7);
  o = forward(c, 101, 7, false);
  EXPECT_EQ(o.picture_id, 101);
  o = forward(c, 102, 8, false);
  EXPECT_EQ(o.picture_id, 102);
  EXPECT_EQ(o.tl0, 8);
}

TEST(Vp8Continuity, SwitchContinuesTheNumbering) {
  Vp8Continuity c;
  (void)forward(c, 100, 7, true);
  (void)forward(c, 101, 8, false);
  // The other layer numbers its pictures from 5000 and its TL0PICIDX from 200.
  Out o = forward(c, 5000, 200, true);
  EXPECT_EQ(o.picture_id, 102);
  EXPECT_EQ(o.tl0, 9);
  o = forward(c, 5001, 200, false);
  EXPECT_EQ(o.picture_id, 103);
  EXPECT_EQ(o.tl0, 9);
  o = forward(c, 5002, 201, false);
  EXPECT_EQ(o.picture_id, 104);
  EXPECT_EQ(o.tl0, 10);
  // And back to the first layer, which went on meanwhile.
  o = forward(c, 180, 30, true);
  EXPECT_EQ(o.picture_id, 105);
  EXPECT_EQ(o.tl0, 11);
}

TEST(Vp8Continuity, ReorderedPacketIsRewrittenButDoesNotMoveTheReference) {
  Vp8Continuity c;
  (void)forward(c, 10, 1, true);
  (void)forward(c, 11, 2, false);
  EXPECT_EQ(forward(c, 9, 0, false).picture_id, 9);  // late: rewritten with the same offset
  // The next switch follows 11, not 9.
  const Out o = forward(c, 3000, 50, true);
  EXPECT_EQ(o.picture_id, 12);
  EXPECT_EQ(o.tl0, 3);
}

TEST(Vp8Continuity, PictureIdWrapsAtFifteenBits) {
  Vp8Continuity c;
  (void)forward(c, 0x7FFE, 255, true);
  (void)forward(c, 0x7FFF, 255, false);
  Out o = forward(c, 1234, 17, true);
  EXPECT_EQ(o.picture_id, 0);
  EXPECT_EQ(o.tl0, 0);  // TL0PICIDX wraps at 8 bits
  o = forward(c, 1235, 18, false);
  EXPECT_EQ(o.picture_id, 1);
  EXPECT_EQ(o.tl0, 1);
}

TEST(Vp8Continuity, WithoutTl0PicIdxOnlyThePictureIdChanges) {
  Vp8Continuity c;
  (void)forward(c, 40, std::nullopt, true);
  const Out o = forward(c, 900, std::nullopt, true);
  EXPECT_EQ(o.picture_id, 41);
  EXPECT_FALSE(o.tl0);
}

TEST(Vp8Continuity, PacketWithoutPictureIdIsLeftAlone) {
  Vp8Continuity c;
  (void)forward(c, 100, 7, true);
  std::vector<std::uint8_t> p{0x10, 0x01, 0x00, 0x00};  // no X: no picture id
  const auto d = parseVp8Descriptor(p);
  ASSERT_TRUE(d);
  const auto before = p;
  c.rewrite(p, *d, true);
  EXPECT_EQ(p, before);
  // Nor did it count as a switch: the next one continues from 100.
  EXPECT_EQ(forward(c, 700, 3, true).picture_id, 101);
}

TEST(Vp8Continuity, SevenBitPictureIdKeepsSevenBits) {
  Vp8Continuity c;
  (void)forward(c, 300, std::nullopt, true);
  // X=1 S=1, I=1, 7-bit picture id 5.
  std::vector<std::uint8_t> p{0x90, 0x80, 0x05, 0x01, 0x00, 0x00};
  const auto d = parseVp8Descriptor(p);
  ASSERT_TRUE(d);
  ASSERT_FALSE(d->picture_id_15bit);
  c.rewrite(p, *d, true);
  const auto after = parseVp8Descriptor(p);
  ASSERT_TRUE(after);
  EXPECT_FALSE(after->picture_id_15bit);
  EXPECT_EQ(after->picture_id, 301 & 0x7F);
}

}  // namespace
}  // namespace chorus::media
