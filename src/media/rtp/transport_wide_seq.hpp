#pragma once
// The transport-wide sequence number header extension
// (http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01, a 16-bit value) on RTP packets:
// read it, and write it into a packet in a caller buffer, in place when the element exists, else by adding
// the element (RFC 8285 one-byte form for ids 1..14, two-byte form 0x1000 for a packet without extensions and
// an id of 15..255), moving the payload and padding back. Sans-IO, noexcept, never allocates.
#include <cstddef>
#include <cstdint>
#include <optional>

#include "media/bytes.hpp"
#include "media/rtp/rtp_packet.hpp"

namespace chorus::media {

// The value of element `id` when present and exactly 2 bytes long.
std::optional<std::uint16_t> readTransportWideSeq(const RtpPacketView& packet, std::uint8_t id) noexcept;

// `buffer[0, size)` holds an RTP packet; `buffer.size()` is the room there is. Sets element `id` to `seq` and
// returns the new packet size (size + 0, 4 or 8 bytes), or nullopt when the packet does not parse, the
// element exists with another length, `id` is 0 (or 15 in a one-byte block, or > 14 where a one-byte block
// already exists), the block is malformed or stops at a one-byte id 15, or the buffer is too small.
std::optional<std::size_t> writeTransportWideSeq(MutableByteSpan buffer, std::size_t size, std::uint8_t id,
                                                 std::uint16_t seq) noexcept;

}  // namespace chorus::media
