// libFuzzer target: RetransmissionBuffer (media/rtp). The input is a script of 6-byte steps (store or get,
// seq, size, time advance). A shadow model of what was stored under each seq checks that every hit returns
// exactly the bytes last stored for that seq, within max_age.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "media/rtp/retransmission_buffer.hpp"

using namespace chorus::media;

namespace {

std::uint8_t patternByte(std::uint16_t seq, std::uint32_t gen, std::size_t i) {
  return static_cast<std::uint8_t>(seq * 131 + gen * 17 + i);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 6 * 4096) return 0;
  RetransmissionBufferConfig cfg;
  cfg.capacity = std::size_t{1} << (data[0] % 8);
  if ((data[0] & 0x80) != 0) cfg.initial_capacity = 1;  // starts at one slot and grows (contents must survive)
  cfg.max_packet_size = 64;
  cfg.max_age_ms = 300;
  RetransmissionBuffer b(cfg);
  struct Shadow {
    std::uint32_t gen{0};
    std::uint16_t size{0};
    chorus::TimeMs at{0};
    std::uint64_t run{0};  // valid only when equal to the current run
  };
  static std::vector<Shadow> shadow(65536);
  static std::uint64_t run = 0;
  ++run;
  std::array<std::uint8_t, 80> pkt{};
  std::uint32_t gen = 0;
  chorus::TimeMs now = 0;
  for (std::size_t pos = 1; pos + 6 <= size; pos += 6) {
    const std::uint8_t* s = data + pos;
    const std::uint16_t seq = static_cast<std::uint16_t>(s[1] << 8 | s[2]);
    now += s[4];
    if ((s[0] & 1) != 0) {
      const std::size_t len = s[3] % 80;
      ++gen;
      for (std::size_t i = 0; i < len; ++i) pkt[i] = patternByte(seq, gen, i);
      const auto r = b.store(seq, ByteSpan(pkt.data(), len), now);
      if (r == RetransmissionBuffer::StoreResult::Stored ||
          r == RetransmissionBuffer::StoreResult::Replaced ||
          r == RetransmissionBuffer::StoreResult::Restarted) {
        if (len > cfg.max_packet_size) __builtin_trap();
        shadow[seq] = {gen, static_cast<std::uint16_t>(len), now, run};
      } else if (r == RetransmissionBuffer::StoreResult::TooLarge && len <= cfg.max_packet_size) {
        __builtin_trap();
      }
    } else {
      auto got = b.get(seq, now);
      if (!got) continue;
      const Shadow& sh = shadow[seq];
      if (sh.run != run || got->size() != sh.size || now - sh.at > cfg.max_age_ms) __builtin_trap();
      for (std::size_t i = 0; i < got->size(); ++i) {
        if ((*got)[i] != patternByte(seq, sh.gen, i)) __builtin_trap();
      }
    }
    if (b.size() > b.capacity() || b.capacity() > b.maxCapacity()) __builtin_trap();
  }
  return 0;
}
