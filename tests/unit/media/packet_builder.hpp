#pragma once
// Test helper: builds RTP packets byte by byte.
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace chorus::media::test {

struct RtpSpec {
  std::uint8_t payload_type{96};
  bool marker{false};
  std::uint16_t seq{0};
  std::uint32_t timestamp{0};
  std::uint32_t ssrc{0x11223344};
  std::vector<std::uint32_t> csrcs;
  // Header extension: profile (0 = none) and raw block (padded to 4 bytes by the builder).
  std::uint16_t ext_profile{0};
  std::vector<std::uint8_t> ext_block;
  std::vector<std::uint8_t> payload;
  std::uint8_t padding{0};
};

inline void put16(std::vector<std::uint8_t>& v, std::uint16_t x) {
  v.push_back(static_cast<std::uint8_t>(x >> 8));
  v.push_back(static_cast<std::uint8_t>(x));
}
inline void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  put16(v, static_cast<std::uint16_t>(x >> 16));
  put16(v, static_cast<std::uint16_t>(x));
}

inline std::vector<std::uint8_t> buildRtp(const RtpSpec& s) {
  std::vector<std::uint8_t> v;
  v.push_back(static_cast<std::uint8_t>(0x80 | (s.padding ? 0x20 : 0) | (s.ext_profile ? 0x10 : 0) |
                                        (s.csrcs.size() & 0x0F)));
  v.push_back(static_cast<std::uint8_t>((s.marker ? 0x80 : 0) | (s.payload_type & 0x7F)));
  put16(v, s.seq);
  put32(v, s.timestamp);
  put32(v, s.ssrc);
  for (auto c : s.csrcs) put32(v, c);
  if (s.ext_profile) {
    std::vector<std::uint8_t> block = s.ext_block;
    while (block.size() % 4 != 0) block.push_back(0);
    put16(v, s.ext_profile);
    put16(v, static_cast<std::uint16_t>(block.size() / 4));
    v.insert(v.end(), block.begin(), block.end());
  }
  v.insert(v.end(), s.payload.begin(), s.payload.end());
  for (int i = 1; i < s.padding; ++i) v.push_back(0);
  if (s.padding) v.push_back(s.padding);
  return v;
}

inline std::vector<std::uint8_t> bytesOf(std::string_view s) {
  return {s.begin(), s.end()};
}

}  // namespace chorus::media::test
