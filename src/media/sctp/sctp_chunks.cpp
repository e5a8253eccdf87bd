#include "media/sctp/sctp_chunks.hpp"

namespace chorus::media {
namespace {
constexpr std::uint8_t kChunkData = 0;
constexpr std::uint8_t kChunkSack = 3;
constexpr std::size_t kChunkHeaderSize = 4;
constexpr std::size_t kDataChunkMinSize = 16;  // header, TSN, stream id, SSN, PPID
constexpr std::size_t kSackChunkMinSize = 16;  // header, cumulative TSN ack, a_rwnd, gap and duplicate counts
}  // namespace

void tallySctpChunks(ByteSpan packet, SctpChunkTally& tally) noexcept {
  ++tally.packets;
  if (packet.size() < kSctpCommonHeaderSize) {
    ++tally.malformed;
    return;
  }
  std::size_t off = kSctpCommonHeaderSize;
  while (off + kChunkHeaderSize <= packet.size()) {
    const std::uint8_t* c = packet.data() + off;
    const std::size_t len = load16(c + 2);
    if (len < kChunkHeaderSize || len > packet.size() - off) {
      ++tally.malformed;
      return;
    }
    if (c[0] == kChunkData && len >= kDataChunkMinSize) {
      ++tally.data_chunks;
      tally.last_data_tsn = load32(c + 4);
    } else if (c[0] == kChunkSack && len >= kSackChunkMinSize) {
      ++tally.sacks;
      tally.last_cum_tsn_ack = load32(c + 4);
      tally.last_a_rwnd = load32(c + 8);
    }
    const std::size_t padded =
        (len + 3) & ~std::size_t{3};  // chunks are padded to 4 bytes (the last may not be)
    if (padded >= packet.size() - off) return;
    off += padded;
  }
}

}  // namespace chorus::media
