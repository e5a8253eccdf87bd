#pragma once
// Keeps the VP8 picture id and TL0PICIDX (RFC 7741 §4.2) of one forwarded stream continuous across simulcast
// layer switches, as mediasoup and LiveKit do: the layers number their pictures independently, and a
// receiver that sees the picture id jump may treat frames as lost. On a switch the offsets are chosen so the
// new layer's first picture follows the last one forwarded; every packet is then rewritten in place. Packets
// reordered behind the newest one are rewritten but do not move the reference.
#include <cstdint>

#include "media/bytes.hpp"
#include "media/rtp/vp8_descriptor.hpp"

namespace chorus::media {

class Vp8Continuity {
 public:
  // Rewrites the picture id and TL0PICIDX of `payload` (the packet's VP8 payload, parsed as `d`) in place.
  // `switched`: the first packet forwarded from a new layer (or the first packet at all). A packet without a
  // picture id is left as it is.
  void rewrite(MutableByteSpan payload, const Vp8Descriptor& d, bool switched) noexcept;

 private:
  bool started_{false};
  std::uint16_t pid_offset_{0};  // 15-bit arithmetic
  std::uint16_t last_pid_{0};
  std::uint8_t tl0_offset_{0};
  std::uint8_t last_tl0_{0};
  bool have_tl0_{false};
};

}  // namespace chorus::media
