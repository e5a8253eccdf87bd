#pragma once
// VP8 RTP payload descriptor (RFC 7741 §4.2) and the start of the VP8 payload header (§4.3, RFC 6386 §9.1):
// what a simulcast switch needs (keyframe, picture id, TL0PICIDX, temporal layer) plus in-place rewriting of
// picture id and TL0PICIDX so the forwarded stream stays continuous across layers.
#include <cstddef>
#include <cstdint>
#include <optional>

#include "media/bytes.hpp"

namespace chorus::media {

enum class Vp8Error : std::uint8_t {
  TooShort,  // descriptor runs past the payload, or nothing follows it
  Count
};
const char* toString(Vp8Error e) noexcept;

struct Vp8Descriptor {
  bool non_reference{false};                // N
  bool start_of_partition{false};           // S
  std::uint8_t partition_index{0};          // PID (0..7)
  std::optional<std::uint16_t> picture_id;  // 7 or 15 bits
  bool picture_id_15bit{false};             // M
  std::optional<std::uint8_t> tl0_pic_idx;
  std::optional<std::uint8_t> temporal_id;  // TID (0..3)
  bool layer_sync{false};                   // Y
  std::optional<std::uint8_t> key_idx;      // KEYIDX (0..31)
  std::size_t size{0};                      // bytes of descriptor; the VP8 payload starts here

  // Set only on the first packet of a frame (S=1, PID=0): the frame tag's inverse key-frame bit is 0.
  bool keyframe{false};
  // From the key-frame header when the first 10 payload bytes are present and the start code matches.
  std::uint16_t width{0};
  std::uint16_t height{0};

  bool isFrameStart() const noexcept { return start_of_partition && partition_index == 0; }
};

std::optional<Vp8Descriptor> parseVp8Descriptor(ByteSpan payload, Vp8Error* error = nullptr) noexcept;

// Rewrite fields that are present in `payload` (parsed as `d`). Returns false when the field is absent.
// A 7-bit picture id keeps 7 bits (value & 0x7F); a 15-bit one keeps 15.
bool writeVp8PictureId(MutableByteSpan payload, const Vp8Descriptor& d, std::uint16_t picture_id) noexcept;
bool writeVp8Tl0PicIdx(MutableByteSpan payload, const Vp8Descriptor& d, std::uint8_t tl0_pic_idx) noexcept;

}  // namespace chorus::media
