#include "media/rtcp/transport_cc_feedback.hpp"

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <vector>

namespace chorus::media {
namespace {

using Status = TransportCcPacketStatus;

std::optional<TransportCcFeedback> parseOnly(ByteSpan bytes) {
  RtcpCompoundReader reader(bytes);
  auto p = reader.next();
  if (!p) return std::nullopt;
  return TransportCcFeedback::parse(*p);
}

std::vector<Status> statusesOf(const TransportCcFeedback& f) {
  std::vector<Status> out;
  auto it = f.packets();
  while (auto s = it.next()) out.push_back(*s);
  return out;
}

std::vector<Status> withSeqs(std::vector<Status> v, std::uint16_t base) {
  for (auto& s : v) s.seq = base++;
  return v;
}

TEST(TransportCcFeedback, TwoBitVectorBytesAndBack) {
  const std::vector<Status> in =
      withSeqs({{0, true, 4}, {0, false, 0}, {0, true, -8}, {0, true, 255}, {0, true, 300}}, 100);
  std::array<std::uint8_t, 64> out{};
  const TransportCcFeedbackHeader h{0x01020304, 0x0A0B0C0D, 100, -3, 7};
  auto n = buildTransportCcFeedback(out, h, in);
  ASSERT_TRUE(n);
  const std::vector<std::uint8_t> expected = {0x8F, 205,  0x00, 0x06,  // V=2 FMT=15, PT, length 6 words
                                              0x01, 0x02, 0x03, 0x04, 0x0A, 0x0B,
                                              0x0C, 0x0D, 0x00, 100,  0x00, 0x05,  // base seq, status count
                                              0xFF, 0xFF, 0xFD, 7,  // reference time -3, fb pkt count
                                              0xD2, 0x60,           // 2-bit vector: 1 0 2 1 2 (0 0)
                                              0x04, 0xFF, 0xF8, 0xFF, 0x01, 0x2C};
  EXPECT_EQ(std::vector<std::uint8_t>(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*n)), expected);
  auto f = parseOnly(ByteSpan(out.data(), *n));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->sender_ssrc, 0x01020304u);
  EXPECT_EQ(f->media_ssrc, 0x0A0B0C0Du);
  EXPECT_EQ(f->base_seq, 100);
  EXPECT_EQ(f->status_count, 5);
  EXPECT_EQ(f->reference_time, -3);
  EXPECT_EQ(f->referenceTimeUs(), -192000);
  EXPECT_EQ(f->feedback_count, 7);
  EXPECT_EQ(f->received_count, 4);
  EXPECT_EQ(statusesOf(*f), in);
}

TEST(TransportCcFeedback, RunLengthAndOneBitChunks) {
  // 1000 received with small deltas: one run-length chunk.
  std::vector<Status> run(1000, Status{0, true, 4});
  std::vector<std::uint8_t> out(4096);
  auto n = buildTransportCcFeedback(out, {1, 2, 65000, 5, 0}, withSeqs(run, 65000));
  ASSERT_TRUE(n);
  EXPECT_EQ(out[20], 0x20 | (1000 >> 8));  // RLE, symbol 1, run 1000
  EXPECT_EQ(out[21], 1000 & 0xFF);
  EXPECT_EQ(*n, 20u + 2 + 1000 + 2);  // 1000 deltas + 2 bytes of padding
  EXPECT_TRUE(out[0] & 0x20);         // P bit
  auto f = parseOnly(ByteSpan(out.data(), *n));
  ASSERT_TRUE(f);
  auto got = statusesOf(*f);
  ASSERT_EQ(got.size(), 1000u);
  EXPECT_EQ(got.front().seq, 65000);
  EXPECT_EQ(got.back().seq, static_cast<std::uint16_t>(65000 + 999));  // wraps
  EXPECT_EQ(got, withSeqs(run, 65000));

  // Alternating received/lost: 1-bit vectors of 14.
  std::vector<Status> alt;
  for (int i = 0; i < 28; ++i) alt.push_back(Status{0, i % 2 == 0, i % 2 == 0 ? 10 : 0});
  n = buildTransportCcFeedback(out, {1, 2, 0, 0, 0}, alt);
  ASSERT_TRUE(n);
  EXPECT_EQ(load16(out.data() + 20), 0x8000 | 0x2AAA);  // 10101010101010
  EXPECT_EQ(load16(out.data() + 22), 0x8000 | 0x2AAA);
  f = parseOnly(ByteSpan(out.data(), *n));
  ASSERT_TRUE(f);
  EXPECT_EQ(statusesOf(*f), withSeqs(alt, 0));
}

TEST(TransportCcFeedback, RandomRoundTrips) {
  std::mt19937 rng(12);
  std::vector<std::uint8_t> out(1 << 18);
  for (int round = 0; round < 300; ++round) {
    const std::size_t count = 1 + rng() % (round < 250 ? 300 : 20000);
    std::vector<Status> in;
    int mode = 0;
    for (std::size_t i = 0; i < count; ++i) {
      if (rng() % 40 == 0) mode = static_cast<int>(rng() % 4);  // runs of one kind, then mixtures
      Status s;
      const int pick = mode == 3 ? static_cast<int>(rng() % 3) : mode;
      if (pick == 1) {
        s = {0, true, static_cast<std::int32_t>(rng() % 256)};
      } else if (pick == 2) {
        s = {0, true, static_cast<std::int32_t>(rng() % 65536) - 32768};
      }
      in.push_back(s);
    }
    const auto base = static_cast<std::uint16_t>(rng());
    const auto ref = static_cast<std::int32_t>(rng() % (1 << 24)) - (1 << 23);
    auto n = buildTransportCcFeedback(out,
                                      {static_cast<std::uint32_t>(rng()), static_cast<std::uint32_t>(rng()),
                                       base, ref, static_cast<std::uint8_t>(rng())},
                                      in);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n % 4, 0u);
    EXPECT_LE(*n, transportCcSizeBound(count, count));
    auto f = parseOnly(ByteSpan(out.data(), *n));
    ASSERT_TRUE(f) << round;
    EXPECT_EQ(f->reference_time, ref);
    EXPECT_EQ(statusesOf(*f), withSeqs(in, base)) << round;
  }
}

TEST(TransportCcFeedback, BuilderRefusesWhatItCannotEncode) {
  std::array<std::uint8_t, 64> out{};
  const std::vector<Status> ok = {{0, true, 1}};
  EXPECT_FALSE(buildTransportCcFeedback(out, {}, std::vector<Status>{}));
  EXPECT_FALSE(buildTransportCcFeedback(out, {}, std::vector<Status>{{0, true, 40000}}));
  EXPECT_FALSE(buildTransportCcFeedback(out, {0, 0, 0, 1 << 23, 0}, ok));
  EXPECT_FALSE(buildTransportCcFeedback(std::span(out).first(23), {}, ok));
  EXPECT_TRUE(buildTransportCcFeedback(std::span(out).first(24), {}, ok));
}

std::vector<std::uint8_t> rawFeedback(std::uint16_t count, std::vector<std::uint8_t> rest,
                                      std::uint8_t fmt = 15) {
  std::vector<std::uint8_t> v = {static_cast<std::uint8_t>(0x80 | fmt),
                                 205,
                                 0,
                                 0,
                                 0,
                                 0,
                                 0,
                                 1,
                                 0,
                                 0,
                                 0,
                                 2,
                                 0,
                                 5,
                                 static_cast<std::uint8_t>(count >> 8),
                                 static_cast<std::uint8_t>(count),
                                 0,
                                 0,
                                 1,
                                 0};
  for (std::uint8_t b : rest) v.push_back(b);  // (insert() trips GCC 12's -Warray-bounds here)
  while (v.size() % 4 != 0) v.push_back(0);
  store16(v.data() + 2, static_cast<std::uint16_t>(v.size() / 4 - 1));
  return v;
}

TEST(TransportCcFeedback, RejectsMalformed) {
  // Valid baseline: 2 received small deltas in a RLE chunk.
  EXPECT_TRUE(parseOnly(rawFeedback(2, {0x20, 0x02, 1, 2})));
  EXPECT_FALSE(parseOnly(rawFeedback(0, {0x20, 0x02, 1, 2})));  // status count 0
  EXPECT_FALSE(parseOnly(rawFeedback(2, {0x60, 0x02, 1, 2})));  // reserved symbol 11 in a run
  EXPECT_FALSE(parseOnly(rawFeedback(2, {0xF0, 0x00, 1, 2})));  // reserved symbol in a 2-bit vector
  EXPECT_FALSE(parseOnly(rawFeedback(3, {0x20, 0x02})));        // chunks end before the count
  EXPECT_FALSE(parseOnly(rawFeedback(2, {0x40, 0x02, 1, 2})));  // large deltas missing
  EXPECT_FALSE(parseOnly(rawFeedback(1, {0x20, 0x01, 1, 0, 0, 0, 0, 0})));  // > 3 bytes after the deltas
  EXPECT_FALSE(parseOnly(rawFeedback(2, {0x20, 0x02, 1, 2}, 1)));           // FMT 1 is NACK
  EXPECT_TRUE(
      parseOnly(rawFeedback(2, {0xC0, 0x00, 0x00, 0x00})));  // a 2-bit vector of losses + 2 zero bytes
  // A run of 8191 lost claims more statuses than fit in bytes: fine, losses carry no delta.
  const auto bytes = rawFeedback(8191, {0x1F, 0xFF});  // the view points into it: keep it alive
  auto many = parseOnly(bytes);
  ASSERT_TRUE(many);
  EXPECT_EQ(many->received_count, 0);
  EXPECT_EQ(statusesOf(*many).size(), 8191u);
}

}  // namespace
}  // namespace chorus::media
