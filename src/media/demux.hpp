#pragma once
// RFC 7983 (updating RFC 5764 §5.1.2) demultiplexing of one UDP datagram on a bundled, rtcp-mux 5-tuple, by
// its first byte (and, for RTP/RTCP, the second byte as in RFC 5761 §4).
#include <cstdint>

#include "media/bytes.hpp"

namespace chorus::media {

enum class PacketKind : std::uint8_t {
  Stun,     // first byte 0..3
  Dtls,     // first byte 20..63
  Rtp,      // first byte 128..191, second byte (M|PT) not in 192..223
  Rtcp,     // first byte 128..191, second byte (packet type) in 192..223
  Unknown,  // empty, ZRTP (16..19), TURN channel (64..79) or anything else: drop and count
};

constexpr PacketKind classifyPacket(ByteSpan datagram) noexcept {
  if (datagram.empty()) return PacketKind::Unknown;
  const std::uint8_t b0 = datagram[0];
  if (b0 <= 3) return PacketKind::Stun;
  if (b0 >= 20 && b0 <= 63) return PacketKind::Dtls;
  if (b0 >= 128 && b0 <= 191) {
    if (datagram.size() < 2) return PacketKind::Unknown;
    const std::uint8_t b1 = datagram[1];
    return (b1 >= 192 && b1 <= 223) ? PacketKind::Rtcp : PacketKind::Rtp;
  }
  return PacketKind::Unknown;
}

constexpr const char* toString(PacketKind k) noexcept {
  switch (k) {
    case PacketKind::Stun:
      return "stun";
    case PacketKind::Dtls:
      return "dtls";
    case PacketKind::Rtp:
      return "rtp";
    case PacketKind::Rtcp:
      return "rtcp";
    case PacketKind::Unknown:
      return "unknown";
  }
  return "unknown";
}

}  // namespace chorus::media
