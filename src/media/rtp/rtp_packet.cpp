#include "media/rtp/rtp_packet.hpp"

namespace chorus::media {

namespace {

template <typename T>
std::optional<T> fail(RtpError* error, RtpError e) noexcept {
  if (error != nullptr) *error = e;
  return std::nullopt;
}

}  // namespace

const char* toString(RtpError e) noexcept {
  switch (e) {
    case RtpError::TooShort:
      return "too_short";
    case RtpError::BadVersion:
      return "bad_version";
    case RtpError::CsrcOverrun:
      return "csrc_overrun";
    case RtpError::ExtensionOverrun:
      return "extension_overrun";
    case RtpError::BadPadding:
      return "bad_padding";
    case RtpError::TooLong:
      return "too_long";
    case RtpError::Count:
      break;
  }
  return "unknown";
}

std::optional<RtpExtension> RtpExtensionIterator::next() noexcept {
  while (pos_ < block_.size()) {
    const std::uint8_t first = block_[pos_];
    if (first == 0) {  // padding byte (both forms)
      ++pos_;
      continue;
    }
    std::uint8_t id = 0;
    std::size_t len = 0;
    std::size_t data_pos = 0;
    if (!two_byte_) {
      id = first >> 4;
      if (id == 15) {  // reserved: stop processing (RFC 8285 §4.2)
        pos_ = block_.size();
        return std::nullopt;
      }
      len = static_cast<std::size_t>(first & 0x0F) + 1;
      data_pos = pos_ + 1;
    } else {
      if (block_.size() - pos_ < 2) {
        malformed_ = true;
        pos_ = block_.size();
        return std::nullopt;
      }
      id = first;
      len = block_[pos_ + 1];
      data_pos = pos_ + 2;
    }
    if (block_.size() - data_pos < len) {
      malformed_ = true;
      pos_ = block_.size();
      return std::nullopt;
    }
    pos_ = data_pos + len;
    return RtpExtension{id, block_.subspan(data_pos, len), block_offset_ + data_pos};
  }
  return std::nullopt;
}

std::optional<RtpPacketView> RtpPacketView::parse(ByteSpan d, RtpError* error) noexcept {
  if (d.size() < kRtpHeaderSize) return fail<RtpPacketView>(error, RtpError::TooShort);
  if ((d[0] >> 6) != 2) return fail<RtpPacketView>(error, RtpError::BadVersion);
  // Datagrams are < 64 KiB, so offsets fit in uint16.
  if (d.size() > 0xFFFF) return fail<RtpPacketView>(error, RtpError::TooLong);
  RtpPacketView v;
  v.data_ = d;
  std::size_t pos = kRtpHeaderSize + 4 * static_cast<std::size_t>(d[0] & 0x0F);
  if (pos > d.size()) return fail<RtpPacketView>(error, RtpError::CsrcOverrun);
  if ((d[0] & 0x10) != 0) {
    if (d.size() - pos < 4) return fail<RtpPacketView>(error, RtpError::ExtensionOverrun);
    v.extension_profile_ = load16(d.data() + pos);
    const std::size_t ext_len = 4 * static_cast<std::size_t>(load16(d.data() + pos + 2));
    pos += 4;
    if (d.size() - pos < ext_len) return fail<RtpPacketView>(error, RtpError::ExtensionOverrun);
    v.extension_offset_ = static_cast<std::uint16_t>(pos);
    v.extension_size_ = static_cast<std::uint16_t>(ext_len);
    pos += ext_len;
  }
  v.header_size_ = static_cast<std::uint16_t>(pos);
  std::size_t padding = 0;
  if ((d[0] & 0x20) != 0) {
    padding = d.back();
    if (padding == 0 || padding > d.size() - pos) return fail<RtpPacketView>(error, RtpError::BadPadding);
  }
  v.padding_size_ = static_cast<std::uint8_t>(padding);
  v.payload_size_ = d.size() - pos - padding;
  return v;
}

RtpExtensionIterator RtpPacketView::extensions() const noexcept {
  if (hasOneByteExtensions()) return RtpExtensionIterator(extensionBlock(), extension_offset_, false);
  if (hasTwoByteExtensions()) return RtpExtensionIterator(extensionBlock(), extension_offset_, true);
  return RtpExtensionIterator();
}

std::optional<RtpExtension> RtpPacketView::findExtension(std::uint8_t id) const noexcept {
  if (id == 0) return std::nullopt;
  auto it = extensions();
  while (auto e = it.next()) {
    if (e->id == id) return e;
  }
  return std::nullopt;
}

std::optional<MutableRtpPacketView> MutableRtpPacketView::parse(MutableByteSpan packet,
                                                                RtpError* error) noexcept {
  auto v = RtpPacketView::parse(ByteSpan(packet.data(), packet.size()), error);
  if (!v) return std::nullopt;
  MutableRtpPacketView m;
  static_cast<RtpPacketView&>(m) = *v;
  m.bytes_ = packet.data();
  return m;
}

std::optional<MutableByteSpan> MutableRtpPacketView::mutableExtension(std::uint8_t id) noexcept {
  auto e = findExtension(id);
  if (!e) return std::nullopt;
  return MutableByteSpan(bytes_ + e->offset, e->data.size());
}

std::optional<std::string_view> parseSdesExtension(ByteSpan value) noexcept {
  if (value.empty() || value.size() > 255) return std::nullopt;
  for (std::uint8_t c : value) {
    if (c <= 0x20 || c >= 0x7F) return std::nullopt;
  }
  return std::string_view(reinterpret_cast<const char*>(value.data()), value.size());
}

std::optional<std::uint32_t> parseAbsSendTime(ByteSpan value) noexcept {
  if (value.size() != 3) return std::nullopt;
  return load24(value.data());
}

std::optional<std::uint16_t> parseTransportCcSeq(ByteSpan value) noexcept {
  if (value.size() != 2) return std::nullopt;
  return load16(value.data());
}

std::optional<AudioLevel> parseAudioLevel(ByteSpan value) noexcept {
  if (value.size() != 1) return std::nullopt;
  return AudioLevel{static_cast<std::uint8_t>(value[0] & 0x7F), (value[0] & 0x80) != 0};
}

}  // namespace chorus::media
