// libFuzzer target: SimulcastRewriter (media/rtp). The input is a script of 8-byte steps: select a layer, or
// feed a packet (layer, seq, timestamp, keyframe, time advance). Invariants: the highest outgoing seq never
// decreases; a switch packet gets exactly highest + 1; after a switch no packet is forwarded with a seq at or
// below the highest seq sent before the switch.
#include <cstddef>
#include <cstdint>

#include "media/rtp/simulcast_rewriter.hpp"

using namespace chorus::media;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  SimulcastRewriterConfig cfg;
  cfg.initial_seq = static_cast<std::uint16_t>(data[0] << 8 | data[1]);
  cfg.initial_timestamp = static_cast<std::uint32_t>(data[2]) << 24 | data[3];
  SimulcastRewriter rw(cfg);
  chorus::TimeMs now = 0;
  bool started = false;
  std::int64_t floor = 0;  // outputs of the current epoch must be >= floor
  for (std::size_t pos = 4; pos + 8 <= size; pos += 8) {
    const std::uint8_t* s = data + pos;
    const std::uint32_t ssrc = 1 + (s[0] & 3);
    if ((s[0] & 0x80) != 0) {
      rw.selectLayer(ssrc);
      continue;
    }
    const std::uint16_t seq = static_cast<std::uint16_t>(s[1] << 8 | s[2]);
    const std::uint32_t ts = static_cast<std::uint32_t>(s[3]) << 24 | static_cast<std::uint32_t>(s[4]) << 16 |
                             static_cast<std::uint32_t>(s[5]) << 8 | s[6];
    now += s[7];
    const std::int64_t before = rw.highestSeq();
    RewriteDrop why{};
    auto out = rw.rewrite(ssrc, seq, ts, (s[0] & 0x40) != 0, now, &why);
    if (!out) {
      if (static_cast<std::size_t>(why) >= static_cast<std::size_t>(RewriteDrop::Count)) __builtin_trap();
      if (rw.highestSeq() != before) __builtin_trap();
      continue;
    }
    if (rw.highestSeq() < before) __builtin_trap();
    if (out->switched) {
      if (started && rw.highestSeq() != before + 1) __builtin_trap();
      if (started && out->seq != static_cast<std::uint16_t>(before + 1)) __builtin_trap();
      floor = rw.highestSeq();
      started = true;
    } else {
      // Unwrap the 16-bit output against the highest and check it is not below the epoch floor.
      const std::int64_t ext = rw.highestSeq() - static_cast<std::uint16_t>(rw.highestSeq() - out->seq);
      if (ext < floor) __builtin_trap();
    }
    if (rw.currentLayer() != ssrc) __builtin_trap();
  }
  return 0;
}
