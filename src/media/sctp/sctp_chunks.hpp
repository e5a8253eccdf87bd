#pragma once
// A tally of the chunks in SCTP packets (RFC 9260 §3) as they cross the wire, for diagnostics: which DATA and
// SACK chunks an association's packets carried, beside what usrsctp made of them (delivered messages,
// SCTP_STATUS). The packets are DTLS application data from a peer: untrusted, walked with bounds checks only.
#include <cstdint>

#include "media/bytes.hpp"

namespace chorus::media {

inline constexpr std::size_t kSctpCommonHeaderSize = 12;

struct SctpChunkTally {
  std::uint64_t packets{0};
  std::uint64_t malformed{0};    // packets shorter than the common header or whose chunks overrun the packet
  std::uint64_t data_chunks{0};  // DATA (type 0)
  std::uint64_t sacks{0};        // SACK (type 3)
  std::uint32_t last_data_tsn{0};     // TSN of the last DATA chunk seen (0 before one)
  std::uint32_t last_cum_tsn_ack{0};  // cumulative TSN ack of the last SACK seen
  std::uint32_t last_a_rwnd{0};       // advertised receiver window of the last SACK seen (bytes)
};

// Adds one SCTP packet to `tally`.
void tallySctpChunks(ByteSpan packet, SctpChunkTally& tally) noexcept;

}  // namespace chorus::media
