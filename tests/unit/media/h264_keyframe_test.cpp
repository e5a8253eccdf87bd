#include "media/rtp/h264_keyframe.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace chorus::media {
namespace {

// NAL unit header bytes (F=0, NRI=3) of the types that matter.
constexpr std::uint8_t kNonIdrSlice = 0x61;  // type 1
constexpr std::uint8_t kIdr = 0x65;          // type 5
constexpr std::uint8_t kSei = 0x66;          // type 6
constexpr std::uint8_t kSps = 0x67;          // type 7
constexpr std::uint8_t kPps = 0x68;          // type 8
constexpr std::uint8_t kStapA = 0x78;        // type 24
constexpr std::uint8_t kFuA = 0x7C;          // type 28

// A STAP-A carrying one NAL unit per element of `units` (each as header byte + `body` bytes of 0xAB).
std::vector<std::uint8_t> stapA(std::initializer_list<std::uint8_t> units, std::size_t body = 3) {
  std::vector<std::uint8_t> p{kStapA};
  for (std::uint8_t header : units) {
    const std::size_t len = 1 + body;
    p.push_back(static_cast<std::uint8_t>(len >> 8));
    p.push_back(static_cast<std::uint8_t>(len));
    p.push_back(header);
    p.insert(p.end(), body, 0xAB);
  }
  return p;
}

bool keyframe(const std::vector<std::uint8_t>& p) {
  return h264KeyframeStart(p);
}

TEST(H264Keyframe, SingleNalUnits) {
  EXPECT_TRUE(keyframe({kIdr, 0x88, 0x84}));
  EXPECT_TRUE(keyframe({kSps, 0x42, 0xC0, 0x1F}));
  EXPECT_FALSE(keyframe({kNonIdrSlice, 0x9A, 0x02}));
  EXPECT_FALSE(keyframe({kPps, 0xCE, 0x3C, 0x80}));
  EXPECT_FALSE(keyframe({kSei, 0x05}));
  // The NRI bits do not matter, only the type.
  EXPECT_TRUE(keyframe({0x05, 0x00}));
  EXPECT_FALSE(keyframe({0x01, 0x00}));
}

TEST(H264Keyframe, EmptyPayloadIsNotAKeyframe) {
  EXPECT_FALSE(keyframe({}));
}

TEST(H264Keyframe, StapAWithSpsPpsIdr) {
  EXPECT_TRUE(keyframe(stapA({kSps, kPps, kIdr})));
  EXPECT_TRUE(keyframe(stapA({kSei, kIdr})));  // the keyframe unit need not come first
  EXPECT_TRUE(keyframe(stapA({kPps, kSps})));
}

TEST(H264Keyframe, StapAWithoutKeyframeUnits) {
  EXPECT_FALSE(keyframe(stapA({kPps, kSei, kNonIdrSlice})));
  EXPECT_FALSE(keyframe(stapA({kNonIdrSlice})));
  EXPECT_FALSE(keyframe({kStapA}));  // no units at all
}

TEST(H264Keyframe, StapAUnitRunningPastThePayloadEndsTheScan) {
  // The second unit claims 200 bytes: the IDR behind it is never read.
  std::vector<std::uint8_t> p = stapA({kPps});
  p.insert(p.end(), {0x00, 200, kIdr, 0x00});
  EXPECT_FALSE(keyframe(p));
  // A keyframe unit before the bad length still counts.
  std::vector<std::uint8_t> q = stapA({kSps});
  q.insert(q.end(), {0x00, 200, kNonIdrSlice});
  EXPECT_TRUE(keyframe(q));
}

TEST(H264Keyframe, StapAZeroLengthUnitEndsTheScan) {
  std::vector<std::uint8_t> p{kStapA, 0x00, 0x00};
  const auto rest = stapA({kIdr});
  p.insert(p.end(), rest.begin() + 1, rest.end());
  EXPECT_FALSE(keyframe(p));
}

TEST(H264Keyframe, FuAStartOfIdrOrSps) {
  EXPECT_TRUE(keyframe({kFuA, 0x85, 0x88}));   // S=1, type 5
  EXPECT_TRUE(keyframe({kFuA, 0x87, 0x42}));   // S=1, type 7
  EXPECT_TRUE(keyframe({kFuA, 0x85}));         // header only is enough
  EXPECT_FALSE(keyframe({kFuA, 0x05, 0x88}));  // middle fragment of an IDR
  EXPECT_FALSE(keyframe({kFuA, 0x45, 0x88}));  // end fragment (E=1) of an IDR
  EXPECT_FALSE(keyframe({kFuA, 0x81, 0x9A}));  // S=1 of a non-IDR slice
  EXPECT_FALSE(keyframe({kFuA}));              // no FU header
}

TEST(H264Keyframe, OtherAggregationAndFragmentationTypesAreNotDetected) {
  EXPECT_FALSE(keyframe({0x79, 0x00, 0x00, 0x00, 0x02, kIdr, 0x00}));  // STAP-B (25)
  EXPECT_FALSE(keyframe({0x7D, 0x85, 0x00, 0x00}));                    // FU-B (29)
}

// Every prefix of every packet above (each in its own allocation, so an over-read is caught by ASan): no
// crash, and a prefix that cuts a STAP-A unit short never counts that unit.
TEST(H264Keyframe, TruncatedInputNeverReadsPastTheEnd) {
  const std::vector<std::vector<std::uint8_t>> packets = {stapA({kSps, kPps, kIdr}),
                                                          stapA({kPps, kIdr}, 40),
                                                          {kFuA, 0x85, 0x88},
                                                          {kIdr, 0x88},
                                                          {kStapA, 0xFF, 0xFF}};
  for (const auto& full : packets) {
    for (std::size_t n = 0; n <= full.size(); ++n) {
      const std::vector<std::uint8_t> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
      (void)h264KeyframeStart(prefix);
    }
  }
  const auto p = stapA({kPps, kIdr}, 40);
  // Cut inside the IDR unit (its length runs past the end): not a keyframe.
  EXPECT_FALSE(keyframe({p.begin(), p.end() - 1}));
  EXPECT_TRUE(keyframe(p));
}

}  // namespace
}  // namespace chorus::media
