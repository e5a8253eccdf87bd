#include "media/sctp/dcep.hpp"

#include <cstring>

namespace chorus::media {

namespace {

template <typename T>
std::optional<T> fail(DcepError* error, DcepError e) noexcept {
  if (error != nullptr) *error = e;
  return std::nullopt;
}

bool validChannelType(std::uint8_t t) noexcept {
  switch (t) {
    case 0x00:
    case 0x01:
    case 0x02:
    case 0x80:
    case 0x81:
    case 0x82:
      return true;
    default:
      return false;
  }
}

}  // namespace

const char* toString(DcepError e) noexcept {
  switch (e) {
    case DcepError::Empty:
      return "empty";
    case DcepError::UnknownMessageType:
      return "unknown_message_type";
    case DcepError::TooShort:
      return "too_short";
    case DcepError::BadChannelType:
      return "bad_channel_type";
    case DcepError::LengthOverrun:
      return "length_overrun";
    case DcepError::Count:
      break;
  }
  return "unknown";
}

std::optional<DcepMessageType> dcepMessageType(ByteSpan m, DcepError* error) noexcept {
  if (m.empty()) return fail<DcepMessageType>(error, DcepError::Empty);
  if (m[0] == static_cast<std::uint8_t>(DcepMessageType::Ack)) return DcepMessageType::Ack;
  if (m[0] == static_cast<std::uint8_t>(DcepMessageType::Open)) return DcepMessageType::Open;
  return fail<DcepMessageType>(error, DcepError::UnknownMessageType);
}

bool isDataChannelAck(ByteSpan m) noexcept {
  return !m.empty() && m[0] == static_cast<std::uint8_t>(DcepMessageType::Ack);
}

std::optional<DataChannelOpen> parseDataChannelOpen(ByteSpan m, DcepError* error) noexcept {
  if (m.empty()) return fail<DataChannelOpen>(error, DcepError::Empty);
  if (m[0] != static_cast<std::uint8_t>(DcepMessageType::Open)) {
    return fail<DataChannelOpen>(error, DcepError::UnknownMessageType);
  }
  if (m.size() < 12) return fail<DataChannelOpen>(error, DcepError::TooShort);
  if (!validChannelType(m[1])) return fail<DataChannelOpen>(error, DcepError::BadChannelType);
  const std::size_t label_len = load16(m.data() + 8);
  const std::size_t protocol_len = load16(m.data() + 10);
  if (m.size() - 12 < label_len + protocol_len) return fail<DataChannelOpen>(error, DcepError::LengthOverrun);
  DataChannelOpen o;
  o.channel_type = static_cast<DcepChannelType>(m[1]);
  o.priority = load16(m.data() + 2);
  o.reliability = load32(m.data() + 4);
  o.label = std::string_view(reinterpret_cast<const char*>(m.data() + 12), label_len);
  o.protocol = std::string_view(reinterpret_cast<const char*>(m.data() + 12 + label_len), protocol_len);
  return o;
}

std::optional<std::size_t> buildDataChannelOpen(MutableByteSpan out, const DataChannelOpen& o) noexcept {
  if (o.label.size() > 0xFFFF || o.protocol.size() > 0xFFFF) return std::nullopt;
  const std::size_t size = o.encodedSize();
  if (out.size() < size) return std::nullopt;
  std::uint8_t* p = out.data();
  p[0] = static_cast<std::uint8_t>(DcepMessageType::Open);
  p[1] = static_cast<std::uint8_t>(o.channel_type);
  store16(p + 2, o.priority);
  store32(p + 4, o.reliability);
  store16(p + 8, static_cast<std::uint16_t>(o.label.size()));
  store16(p + 10, static_cast<std::uint16_t>(o.protocol.size()));
  if (!o.label.empty()) std::memcpy(p + 12, o.label.data(), o.label.size());
  if (!o.protocol.empty()) std::memcpy(p + 12 + o.label.size(), o.protocol.data(), o.protocol.size());
  return size;
}

std::optional<std::size_t> buildDataChannelAck(MutableByteSpan out) noexcept {
  if (out.empty()) return std::nullopt;
  out[0] = static_cast<std::uint8_t>(DcepMessageType::Ack);
  return kDcepAckSize;
}

}  // namespace chorus::media
