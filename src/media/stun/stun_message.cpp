#include "media/stun/stun_message.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>

namespace chorus::media {

namespace {

constexpr std::uint32_t kFingerprintXor = 0x5354554e;
constexpr std::size_t kStunHmacSha1Size = 20;
constexpr std::size_t kMaxUsername = 513;
constexpr std::size_t kMaxSoftware = 763;

constexpr std::array<std::uint32_t, 256> makeCrcTable() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
    table[i] = c;
  }
  return table;
}
constexpr auto kCrcTable = makeCrcTable();

// One HMAC context per thread, allocated on first use and reused (EVP_MAC_init re-keys without allocating).
class HmacSha1 {
 public:
  HmacSha1() {
    mac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (mac_ != nullptr) ctx_ = EVP_MAC_CTX_new(mac_);
  }
  ~HmacSha1() {
    EVP_MAC_CTX_free(ctx_);
    EVP_MAC_free(mac_);
  }
  HmacSha1(const HmacSha1&) = delete;
  HmacSha1& operator=(const HmacSha1&) = delete;

  // HMAC-SHA1(key, a || b) into out.
  bool compute(std::string_view key, ByteSpan a, ByteSpan b,
               std::uint8_t (&out)[kStunHmacSha1Size]) noexcept {
    if (ctx_ == nullptr || key.empty()) return false;
    char digest[] = "SHA1";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (EVP_MAC_init(ctx_, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) != 1) {
      return false;
    }
    if (EVP_MAC_update(ctx_, a.data(), a.size()) != 1) return false;
    if (!b.empty() && EVP_MAC_update(ctx_, b.data(), b.size()) != 1) return false;
    std::size_t len = 0;
    return EVP_MAC_final(ctx_, out, &len, kStunHmacSha1Size) == 1 && len == kStunHmacSha1Size;
  }

 private:
  EVP_MAC* mac_{nullptr};
  EVP_MAC_CTX* ctx_{nullptr};
};

HmacSha1& threadHmac() {
  thread_local HmacSha1 hmac;
  return hmac;
}

// HMAC over the message up to (not including) the MESSAGE-INTEGRITY attribute at `mi_offset`, with the header
// length field set as if the message ended right after MESSAGE-INTEGRITY (RFC 5389 §15.4).
bool integrityHmac(ByteSpan message, std::size_t mi_offset, std::string_view password,
                   std::uint8_t (&out)[kStunHmacSha1Size]) noexcept {
  std::uint8_t header[kStunHeaderSize];
  std::memcpy(header, message.data(), kStunHeaderSize);
  store16(header + 2, static_cast<std::uint16_t>(mi_offset + 4 + kStunHmacSha1Size - kStunHeaderSize));
  return threadHmac().compute(password, ByteSpan(header, kStunHeaderSize),
                              message.subspan(kStunHeaderSize, mi_offset - kStunHeaderSize), out);
}

std::uint32_t fingerprintOf(ByteSpan message_before_fingerprint) noexcept {
  return crc32(message_before_fingerprint) ^ kFingerprintXor;
}

bool parseXorAddress(ByteSpan v, const std::uint8_t* header, StunAddress& out) noexcept {
  if (v.size() < 4) return false;
  const std::uint8_t family = v[1];
  out.port = static_cast<std::uint16_t>(load16(v.data() + 2) ^ (kStunMagicCookie >> 16));
  // XOR pad: magic cookie then transaction id, exactly header[4..20).
  if (family == 1 && v.size() == 8) {
    out.family = StunAddress::Family::V4;
    for (std::size_t i = 0; i < 4; ++i) out.bytes[i] = v[4 + i] ^ header[4 + i];
    return true;
  }
  if (family == 2 && v.size() == 20) {
    out.family = StunAddress::Family::V6;
    for (std::size_t i = 0; i < 16; ++i) out.bytes[i] = v[4 + i] ^ header[4 + i];
    return true;
  }
  return false;
}

std::optional<StunMessage> fail(StunError* error, StunError e) noexcept {
  if (error != nullptr) *error = e;
  return std::nullopt;
}

std::string_view asString(ByteSpan v) noexcept {
  return std::string_view(reinterpret_cast<const char*>(v.data()), v.size());
}

}  // namespace

const char* toString(StunError e) noexcept {
  switch (e) {
    case StunError::TooShort:
      return "too_short";
    case StunError::NotStun:
      return "not_stun";
    case StunError::BadMagicCookie:
      return "bad_magic_cookie";
    case StunError::BadLength:
      return "bad_length";
    case StunError::AttributeOverrun:
      return "attribute_overrun";
    case StunError::BadAttribute:
      return "bad_attribute";
    case StunError::DuplicateAttribute:
      return "duplicate_attribute";
    case StunError::AfterFingerprint:
      return "after_fingerprint";
    case StunError::BadFingerprint:
      return "bad_fingerprint";
    case StunError::Count:
      break;
  }
  return "unknown";
}

StunAddress StunAddress::v4(std::array<std::uint8_t, 4> ip, std::uint16_t port) noexcept {
  StunAddress a;
  a.family = Family::V4;
  a.port = port;
  std::memcpy(a.bytes.data(), ip.data(), 4);
  return a;
}

StunAddress StunAddress::v6(std::array<std::uint8_t, 16> ip, std::uint16_t port) noexcept {
  StunAddress a;
  a.family = Family::V6;
  a.port = port;
  a.bytes = ip;
  return a;
}

std::uint16_t StunMessage::method() const noexcept {
  return static_cast<std::uint16_t>((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
}

std::uint8_t StunMessage::messageClass() const noexcept {
  return static_cast<std::uint8_t>(((type >> 4) & 1) | ((type >> 7) & 2));
}

std::uint32_t crc32(ByteSpan data) noexcept {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::uint8_t b : data) c = kCrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::optional<StunMessage> parseStun(ByteSpan d, StunError* error) noexcept {
  if (d.size() < kStunHeaderSize) return fail(error, StunError::TooShort);
  if ((d[0] & 0xC0) != 0) return fail(error, StunError::NotStun);
  if (load32(d.data() + 4) != kStunMagicCookie) return fail(error, StunError::BadMagicCookie);
  const std::size_t length = load16(d.data() + 2);
  if (length % 4 != 0 || length + kStunHeaderSize != d.size()) return fail(error, StunError::BadLength);

  StunMessage m;
  m.raw = d;
  m.type = load16(d.data());
  std::memcpy(m.transaction_id.data(), d.data() + 8, kStunTransactionIdSize);

  std::size_t pos = kStunHeaderSize;
  while (pos < d.size()) {
    if (d.size() - pos < 4) return fail(error, StunError::AttributeOverrun);
    const std::uint16_t type = load16(d.data() + pos);
    const std::size_t len = load16(d.data() + pos + 2);
    const std::size_t padded = (len + 3) & ~std::size_t{3};
    if (d.size() - pos - 4 < padded) return fail(error, StunError::AttributeOverrun);
    if (m.hasFingerprint()) return fail(error, StunError::AfterFingerprint);
    const ByteSpan v = d.subspan(pos + 4, len);
    const std::size_t attr_offset = pos;
    pos += 4 + padded;

    if (m.hasIntegrity() && type != kStunAttrFingerprint) continue;  // ignored (RFC 5389 §15.4)
    switch (type) {
      case kStunAttrUsername:
        if (m.username) return fail(error, StunError::DuplicateAttribute);
        if (len == 0 || len > kMaxUsername) return fail(error, StunError::BadAttribute);
        m.username = asString(v);
        break;
      case kStunAttrSoftware:
        if (m.software) return fail(error, StunError::DuplicateAttribute);
        if (len > kMaxSoftware) return fail(error, StunError::BadAttribute);
        m.software = asString(v);
        break;
      case kStunAttrMessageIntegrity:
        if (len != kStunHmacSha1Size) return fail(error, StunError::BadAttribute);
        m.integrity_offset = attr_offset;
        break;
      case kStunAttrFingerprint:
        if (len != 4) return fail(error, StunError::BadAttribute);
        if (load32(v.data()) != fingerprintOf(d.first(attr_offset))) {
          return fail(error, StunError::BadFingerprint);
        }
        m.fingerprint_offset = attr_offset;
        break;
      case kStunAttrPriority:
        if (m.priority) return fail(error, StunError::DuplicateAttribute);
        if (len != 4) return fail(error, StunError::BadAttribute);
        m.priority = load32(v.data());
        break;
      case kStunAttrUseCandidate:
        if (len != 0) return fail(error, StunError::BadAttribute);
        m.use_candidate = true;
        break;
      case kStunAttrIceControlling:
        if (m.ice_controlling) return fail(error, StunError::DuplicateAttribute);
        if (len != 8) return fail(error, StunError::BadAttribute);
        m.ice_controlling = load64(v.data());
        break;
      case kStunAttrIceControlled:
        if (m.ice_controlled) return fail(error, StunError::DuplicateAttribute);
        if (len != 8) return fail(error, StunError::BadAttribute);
        m.ice_controlled = load64(v.data());
        break;
      case kStunAttrXorMappedAddress: {
        if (m.xor_mapped_address) return fail(error, StunError::DuplicateAttribute);
        StunAddress a;
        if (!parseXorAddress(v, d.data(), a)) return fail(error, StunError::BadAttribute);
        m.xor_mapped_address = a;
        break;
      }
      case kStunAttrErrorCode:
        if (m.error_code) return fail(error, StunError::DuplicateAttribute);
        if (len < 4) return fail(error, StunError::BadAttribute);
        m.error_code = static_cast<std::uint16_t>((v[2] & 0x07) * 100 + v[3]);
        break;
      default:
        if (type < 0x8000) ++m.unknown_comprehension_required;
        break;
    }
  }
  return m;
}

bool verifyStunIntegrity(const StunMessage& m, std::string_view password) noexcept {
  if (!m.hasIntegrity() || password.empty()) return false;
  if (m.raw.size() < kStunHeaderSize || m.integrity_offset < kStunHeaderSize ||
      m.raw.size() - m.integrity_offset < 4 + kStunHmacSha1Size) {
    return false;
  }
  std::uint8_t expected[kStunHmacSha1Size];
  if (!integrityHmac(m.raw, m.integrity_offset, password, expected)) return false;
  return CRYPTO_memcmp(expected, m.raw.data() + m.integrity_offset + 4, kStunHmacSha1Size) == 0;
}

std::optional<std::string_view> matchIceUsername(const StunMessage& m,
                                                 std::string_view local_ufrag) noexcept {
  if (!m.username || local_ufrag.empty()) return std::nullopt;
  const std::string_view u = *m.username;
  if (u.size() <= local_ufrag.size() + 1 || u.substr(0, local_ufrag.size()) != local_ufrag ||
      u[local_ufrag.size()] != ':') {
    return std::nullopt;
  }
  return u.substr(local_ufrag.size() + 1);
}

std::optional<std::size_t> buildStunBindingSuccess(MutableByteSpan out,
                                                   std::span<const std::uint8_t, kStunTransactionIdSize> txid,
                                                   const StunAddress& mapped, std::string_view password,
                                                   const StunResponseOptions& options) noexcept {
  if (options.software.size() > kMaxSoftware || password.empty()) return std::nullopt;
  const std::size_t software_size =
      options.software.empty() ? 0 : 4 + ((options.software.size() + 3) & ~std::size_t{3});
  const bool v6 = mapped.family == StunAddress::Family::V6;
  const std::size_t addr_size = 4 + (v6 ? 20 : 8);
  const std::size_t total = kStunHeaderSize + software_size + addr_size + 24 + 8;
  if (out.size() < total) return std::nullopt;

  std::uint8_t* p = out.data();
  store16(p, kStunBindingSuccess);
  store16(p + 2, 0);
  store32(p + 4, kStunMagicCookie);
  std::memcpy(p + 8, txid.data(), kStunTransactionIdSize);
  std::size_t pos = kStunHeaderSize;

  if (!options.software.empty()) {
    store16(p + pos, kStunAttrSoftware);
    store16(p + pos + 2, static_cast<std::uint16_t>(options.software.size()));
    std::memcpy(p + pos + 4, options.software.data(), options.software.size());
    std::memset(p + pos + 4 + options.software.size(), options.padding_byte,
                software_size - 4 - options.software.size());
    pos += software_size;
  }

  store16(p + pos, kStunAttrXorMappedAddress);
  store16(p + pos + 2, static_cast<std::uint16_t>(addr_size - 4));
  p[pos + 4] = 0;
  p[pos + 5] = v6 ? 2 : 1;
  store16(p + pos + 6, static_cast<std::uint16_t>(mapped.port ^ (kStunMagicCookie >> 16)));
  for (std::size_t i = 0; i < (v6 ? 16u : 4u); ++i) p[pos + 8 + i] = mapped.bytes[i] ^ p[4 + i];
  pos += addr_size;

  const std::size_t mi_offset = pos;
  store16(p + pos, kStunAttrMessageIntegrity);
  store16(p + pos + 2, kStunHmacSha1Size);
  std::uint8_t mac[kStunHmacSha1Size];
  if (!integrityHmac(ByteSpan(p, total), mi_offset, password, mac)) return std::nullopt;
  std::memcpy(p + pos + 4, mac, kStunHmacSha1Size);
  pos += 4 + kStunHmacSha1Size;

  store16(p + 2, static_cast<std::uint16_t>(total - kStunHeaderSize));
  store16(p + pos, kStunAttrFingerprint);
  store16(p + pos + 2, 4);
  store32(p + pos + 4, fingerprintOf(ByteSpan(p, pos)));
  pos += 8;
  return pos;
}

}  // namespace chorus::media
