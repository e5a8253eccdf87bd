#include "media/rtp/vp8_descriptor.hpp"

namespace chorus::media {

namespace {

std::optional<Vp8Descriptor> tooShort(Vp8Error* error) noexcept {
  if (error != nullptr) *error = Vp8Error::TooShort;
  return std::nullopt;
}

// Offsets of the optional fields, recomputed for the writers (descriptor layout is fixed by its flag bits).
struct Layout {
  std::size_t picture_id{0};
  std::size_t tl0{0};
};

Layout layoutOf(ByteSpan p) noexcept {
  Layout l;
  if (p.size() < 2 || (p[0] & 0x80) == 0) return l;
  std::size_t pos = 2;
  if ((p[1] & 0x80) != 0) {
    l.picture_id = pos;
    pos += (p.size() > pos && (p[pos] & 0x80) != 0) ? 2 : 1;
  }
  if ((p[1] & 0x40) != 0) l.tl0 = pos;
  return l;
}

}  // namespace

const char* toString(Vp8Error e) noexcept {
  switch (e) {
    case Vp8Error::TooShort:
      return "too_short";
    case Vp8Error::Count:
      break;
  }
  return "unknown";
}

std::optional<Vp8Descriptor> parseVp8Descriptor(ByteSpan p, Vp8Error* error) noexcept {
  if (p.empty()) return tooShort(error);
  Vp8Descriptor d;
  const std::uint8_t b0 = p[0];
  d.non_reference = (b0 & 0x20) != 0;
  d.start_of_partition = (b0 & 0x10) != 0;
  d.partition_index = b0 & 0x07;
  std::size_t pos = 1;
  if ((b0 & 0x80) != 0) {  // X
    if (p.size() <= pos) return tooShort(error);
    const std::uint8_t x = p[pos++];
    if ((x & 0x80) != 0) {  // I
      if (p.size() <= pos) return tooShort(error);
      if ((p[pos] & 0x80) != 0) {  // M
        if (p.size() - pos < 2) return tooShort(error);
        d.picture_id = static_cast<std::uint16_t>(load16(p.data() + pos) & 0x7FFF);
        d.picture_id_15bit = true;
        pos += 2;
      } else {
        d.picture_id = static_cast<std::uint16_t>(p[pos] & 0x7F);
        pos += 1;
      }
    }
    if ((x & 0x40) != 0) {  // L
      if (p.size() <= pos) return tooShort(error);
      d.tl0_pic_idx = p[pos++];
    }
    if ((x & 0x30) != 0) {  // T or K
      if (p.size() <= pos) return tooShort(error);
      const std::uint8_t tk = p[pos++];
      if ((x & 0x20) != 0) {
        d.temporal_id = static_cast<std::uint8_t>(tk >> 6);
        d.layer_sync = (tk & 0x20) != 0;
      }
      if ((x & 0x10) != 0) d.key_idx = static_cast<std::uint8_t>(tk & 0x1F);
    }
  }
  if (p.size() <= pos) return tooShort(error);  // a descriptor with no VP8 payload is invalid
  d.size = pos;
  if (d.isFrameStart()) {
    const ByteSpan vp8 = p.subspan(pos);
    d.keyframe = (vp8[0] & 0x01) == 0;
    if (d.keyframe && vp8.size() >= 10 && vp8[3] == 0x9D && vp8[4] == 0x01 && vp8[5] == 0x2A) {
      d.width = static_cast<std::uint16_t>((vp8[6] | (vp8[7] << 8)) & 0x3FFF);
      d.height = static_cast<std::uint16_t>((vp8[8] | (vp8[9] << 8)) & 0x3FFF);
    }
  }
  return d;
}

bool writeVp8PictureId(MutableByteSpan payload, const Vp8Descriptor& d, std::uint16_t picture_id) noexcept {
  if (!d.picture_id || payload.size() < d.size) return false;
  const Layout l = layoutOf(ByteSpan(payload.data(), payload.size()));
  if (l.picture_id == 0) return false;
  if (d.picture_id_15bit) {
    store16(payload.data() + l.picture_id, static_cast<std::uint16_t>(0x8000 | (picture_id & 0x7FFF)));
  } else {
    payload[l.picture_id] = static_cast<std::uint8_t>(picture_id & 0x7F);
  }
  return true;
}

bool writeVp8Tl0PicIdx(MutableByteSpan payload, const Vp8Descriptor& d, std::uint8_t tl0_pic_idx) noexcept {
  if (!d.tl0_pic_idx || payload.size() < d.size) return false;
  const Layout l = layoutOf(ByteSpan(payload.data(), payload.size()));
  if (l.tl0 == 0) return false;
  payload[l.tl0] = tl0_pic_idx;
  return true;
}

}  // namespace chorus::media
