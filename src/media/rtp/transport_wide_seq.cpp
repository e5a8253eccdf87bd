#include "media/rtp/transport_wide_seq.hpp"

#include <cstring>

namespace chorus::media {

std::optional<std::uint16_t> readTransportWideSeq(const RtpPacketView& packet, std::uint8_t id) noexcept {
  auto ext = packet.findExtension(id);
  if (!ext) return std::nullopt;
  return parseTransportCcSeq(ext->data);
}

std::optional<std::size_t> writeTransportWideSeq(MutableByteSpan buffer, std::size_t size, std::uint8_t id,
                                                 std::uint16_t seq) noexcept {
  if (id == 0 || size > buffer.size()) return std::nullopt;
  auto view = MutableRtpPacketView::parse(buffer.first(size));
  if (!view) return std::nullopt;
  if (auto existing = view->findExtension(id)) {
    if (existing->data.size() != 2) return std::nullopt;
    store16(buffer.data() + existing->offset, seq);
    return size;
  }
  std::uint8_t* p = buffer.data();
  const std::size_t fixed = kRtpHeaderSize + 4 * std::size_t{view->csrcCount()};
  if (!view->hasExtension()) {
    // New block: profile word + one 4-byte element word.
    const std::size_t grow = 8;
    if (buffer.size() - size < grow) return std::nullopt;
    std::memmove(p + fixed + grow, p + fixed, size - fixed);
    if (id <= 14) {
      store16(p + fixed, kRtpOneByteExtensionProfile);
      p[fixed + 4] = static_cast<std::uint8_t>((id << 4) | 1);
      store16(p + fixed + 5, seq);
      p[fixed + 7] = 0;
    } else {
      store16(p + fixed, kRtpTwoByteExtensionProfile);
      p[fixed + 4] = id;
      p[fixed + 5] = 2;
      store16(p + fixed + 6, seq);
    }
    store16(p + fixed + 2, 1);
    p[0] |= 0x10;
    return size + grow;
  }
  const bool one_byte = view->hasOneByteExtensions();
  if (!one_byte && !view->hasTwoByteExtensions()) return std::nullopt;  // another profile: leave it alone
  if (one_byte && id > 14) return std::nullopt;
  // Where the last element ends (padding after it is reused).
  const ByteSpan block = view->extensionBlock();
  const std::size_t block_offset = fixed + 4;
  RtpExtensionIterator it(block, block_offset, !one_byte);
  std::size_t used = 0;
  while (auto e = it.next()) used = e->offset + e->data.size() - block_offset;
  if (it.malformed()) return std::nullopt;
  if (one_byte) {
    // The iterator stops at id 15; refuse to append after a block it did not read to the end.
    for (std::size_t k = used; k < block.size(); ++k) {
      if (block[k] != 0) return std::nullopt;
    }
  }
  const std::size_t element = one_byte ? 3 : 4;
  const std::size_t new_block = (used + element + 3) / 4 * 4;
  const std::size_t grow = new_block > block.size() ? new_block - block.size() : 0;
  if (buffer.size() - size < grow) return std::nullopt;
  if (new_block / 4 > 0xFFFF) return std::nullopt;
  const std::size_t tail = block_offset + block.size();
  std::memmove(p + tail + grow, p + tail, size - tail);
  std::uint8_t* e = p + block_offset + used;
  if (one_byte) {
    e[0] = static_cast<std::uint8_t>((id << 4) | 1);
    store16(e + 1, seq);
  } else {
    e[0] = id;
    e[1] = 2;
    store16(e + 2, seq);
  }
  for (std::size_t k = used + element; k < new_block; ++k) p[block_offset + k] = 0;
  store16(p + fixed + 2, static_cast<std::uint16_t>(new_block / 4));
  return size + grow;
}

}  // namespace chorus::media
