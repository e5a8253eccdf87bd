#include "media/sctp/sctp_chunks.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "packet_builder.hpp"

namespace chorus::media {
namespace {

using test::put16;
using test::put32;

std::vector<std::uint8_t> commonHeader() {
  return std::vector<std::uint8_t>(kSctpCommonHeaderSize, 0);
}
void sack(std::vector<std::uint8_t>& p, std::uint32_t cum, std::uint32_t rwnd) {
  p.push_back(3);
  p.push_back(0);
  put16(p, 16);
  put32(p, cum);
  put32(p, rwnd);
  put16(p, 0);  // gap blocks
  put16(p, 0);  // duplicate TSNs
}
void data(std::vector<std::uint8_t>& p, std::uint32_t tsn, std::size_t payload) {
  p.push_back(0);
  p.push_back(3);  // B and E: a whole message
  put16(p, static_cast<std::uint16_t>(16 + payload));
  put32(p, tsn);
  put16(p, 1);   // stream
  put16(p, 7);   // SSN
  put32(p, 51);  // PPID: string
  for (std::size_t i = 0; i < payload; ++i) p.push_back('x');
  while (p.size() % 4 != 0) p.push_back(0);  // padding
}

TEST(SctpChunkTally, CountsBundledSackAndDataChunks) {
  auto p = commonHeader();
  sack(p, 99, 131072);
  data(p, 100, 5);  // padded to 4 bytes
  data(p, 101, 8);
  SctpChunkTally t;
  tallySctpChunks(p, t);
  EXPECT_EQ(t.packets, 1u);
  EXPECT_EQ(t.malformed, 0u);
  EXPECT_EQ(t.sacks, 1u);
  EXPECT_EQ(t.data_chunks, 2u);
  EXPECT_EQ(t.last_data_tsn, 101u);
  EXPECT_EQ(t.last_cum_tsn_ack, 99u);
  EXPECT_EQ(t.last_a_rwnd, 131072u);
}

TEST(SctpChunkTally, TheLastChunkMayGoUnpadded) {
  auto p = commonHeader();
  data(p, 5, 3);
  p.pop_back();  // 19 bytes of chunk, no padding after it
  SctpChunkTally t;
  tallySctpChunks(p, t);
  EXPECT_EQ(t.data_chunks, 1u);
  EXPECT_EQ(t.malformed, 0u);
}

TEST(SctpChunkTally, OverrunsAndShortPacketsAreCountedNotRead) {
  SctpChunkTally t;
  tallySctpChunks(ByteSpan(), t);
  auto p = commonHeader();
  data(p, 9, 40);
  p.erase(p.end() - 20, p.end());  // the chunk's length runs past the packet
  tallySctpChunks(p, t);
  auto q = commonHeader();
  q.insert(q.end(), {0, 0, 0, 2});  // a chunk length under its own header
  tallySctpChunks(q, t);
  EXPECT_EQ(t.packets, 3u);
  EXPECT_EQ(t.malformed, 3u);
  EXPECT_EQ(t.data_chunks, 0u);
}

}  // namespace
}  // namespace chorus::media
