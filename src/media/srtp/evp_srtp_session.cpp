#include "media/srtp/evp_srtp_session.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <climits>
#include <cstring>
#include <new>
#include <vector>

namespace chorus::media {

namespace {

constexpr std::size_t kReplayWindow = 1024;  // packets, SRTP and SRTCP
constexpr std::size_t kGcmTag = 16;
constexpr std::size_t kCmTag = 10;  // HMAC-SHA1 truncated to 80 bits
constexpr std::size_t kSrtpHmacSha1Size = 20;
constexpr std::size_t kSrtcpTrailer = 4;  // E | 31-bit SRTCP index
constexpr std::uint32_t kSrtcpEncrypted = 0x80000000u;
constexpr std::uint32_t kMaxSrtcpIndex = 0x7FFFFFFFu;
// A UDP datagram is at most 65535 bytes; larger "packets" are refused before any arithmetic on their length
// (and AES-CM's 16-bit block counter can never carry into the index bytes).
constexpr std::size_t kMaxPacket = 65535;

// Length of the RTP header with its CSRCs and header extension, or 0 when that does not fit in `n` bytes.
std::size_t rtpHeaderLength(const std::uint8_t* p, std::size_t n) noexcept {
  if (n < 12) return 0;
  std::size_t len = 12 + 4 * static_cast<std::size_t>(p[0] & 0x0F);
  if (len > n) return 0;
  if ((p[0] & 0x10) != 0) {
    if (n - len < 4) return 0;
    const std::size_t ext = 4 * static_cast<std::size_t>(load16(p + len + 2));
    len += 4;
    if (n - len < ext) return 0;
    len += ext;
  }
  return len;
}

// RFC 3711 §3.3.1 / Appendix A, exactly as libsrtp's srtp_rdbx_estimate_index(): while the highest index seen
// is at most 2^15 the ROC is taken as 0 (so a first seq above 2^15 is not guessed into ROC -1); after that
// the candidate among ROC-1, ROC, ROC+1 closest to the highest index.
std::uint64_t estimateIndex(std::uint64_t highest, std::uint16_t seq) noexcept {
  if (highest <= 0x8000) return seq;
  const std::uint64_t roc = highest >> 16;
  const std::uint32_t s_l = static_cast<std::uint16_t>(highest);
  const std::uint32_t s = seq;
  if (s_l < 0x8000) return ((s > s_l + 0x8000 ? roc - 1 : roc) << 16) | s;
  return ((s_l - 0x8000 > s ? roc + 1 : roc) << 16) | s;
}

// Sliding replay window over a 48-bit SRTP index or a 31-bit SRTCP index: a ring of kReplayWindow bits
// indexed by `index mod kReplayWindow`. A fresh window has highest 0 and nothing seen (as libsrtp's).
class ReplayWindow {
 public:
  bool accepts(std::uint64_t index) const noexcept {
    if (index > highest_) return true;
    if (highest_ - index >= kReplayWindow) return false;  // too old
    return !test(index);
  }
  void add(std::uint64_t index) noexcept {
    if (index > highest_) {
      if (index - highest_ >= kReplayWindow) {
        bits_.fill(0);
      } else {
        for (std::uint64_t i = highest_ + 1; i <= index; ++i) clear(i);
      }
      highest_ = index;
    }
    set(index);
  }
  std::uint64_t highest() const noexcept { return highest_; }

 private:
  static constexpr std::size_t kWords = kReplayWindow / 64;
  bool test(std::uint64_t i) const noexcept { return (bits_[(i / 64) % kWords] >> (i % 64)) & 1u; }
  void set(std::uint64_t i) noexcept { bits_[(i / 64) % kWords] |= std::uint64_t{1} << (i % 64); }
  void clear(std::uint64_t i) noexcept { bits_[(i / 64) % kWords] &= ~(std::uint64_t{1} << (i % 64)); }

  std::uint64_t highest_{0};
  std::array<std::uint64_t, kWords> bits_{};
};

// SSRC -> State, at most kEvpSrtpMaxSsrcs entries: open addressing over a fixed slot array, entries in a
// vector that grows (only) when a new SSRC is inserted. Entries are never removed.
template <typename State>
class SsrcTable {
 public:
  State* find(std::uint32_t ssrc) noexcept {
    for (std::size_t i = slot(ssrc);; i = (i + 1) % kSlots) {
      const std::uint16_t e = slots_[i];
      if (e == 0) return nullptr;  // the table is at most half full, so an empty slot always exists
      Entry& entry = entries_[e - 1];
      if (entry.ssrc == ssrc) return &entry.state;
    }
  }
  bool full() const noexcept { return entries_.size() >= kEvpSrtpMaxSsrcs; }
  // For an SSRC that find() did not return. nullptr when the table is full or out of memory. The pointer is
  // valid until the next insert.
  State* insert(std::uint32_t ssrc, const State& state) noexcept {
    if (full()) return nullptr;
    try {
      entries_.push_back(Entry{ssrc, state});
    } catch (...) {
      return nullptr;
    }
    std::size_t i = slot(ssrc);
    while (slots_[i] != 0) i = (i + 1) % kSlots;
    slots_[i] = static_cast<std::uint16_t>(entries_.size());
    return &entries_.back().state;
  }

 private:
  static constexpr unsigned kSlotBits = 9;
  static constexpr std::size_t kSlots = std::size_t{1} << kSlotBits;
  static_assert(kSlots >= 2 * kEvpSrtpMaxSsrcs && kEvpSrtpMaxSsrcs < 0xFFFF);
  static std::size_t slot(std::uint32_t ssrc) noexcept { return (ssrc * 0x9E3779B1u) >> (32 - kSlotBits); }

  struct Entry {
    std::uint32_t ssrc;
    State state;
  };
  std::array<std::uint16_t, kSlots> slots_{};  // 0 = empty, else 1 + index into entries_
  std::vector<Entry> entries_;
};

struct TxRtpState {
  std::uint64_t highest{0};  // highest index protected
};
struct TxRtcpState {
  std::uint32_t next{1};  // SRTCP index of the next packet
};
struct RxState {
  ReplayWindow window;
};

void xor32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] ^= static_cast<std::uint8_t>(v >> 24);
  p[1] ^= static_cast<std::uint8_t>(v >> 16);
  p[2] ^= static_cast<std::uint8_t>(v >> 8);
  p[3] ^= static_cast<std::uint8_t>(v);
}

// One direction's session crypto: a cipher context per SRTP/SRTCP keyed once at set-up (encrypt for the
// sending direction; GCM decrypt for the receiving one; CTR is its own inverse) and, for AES-CM, an HMAC-SHA1
// context keyed once.
struct Direction {
  EVP_CIPHER_CTX* rtp{nullptr};    // Owned.
  EVP_CIPHER_CTX* rtcp{nullptr};   // Owned.
  EVP_MAC_CTX* rtp_mac{nullptr};   // Owned. AES-CM only.
  EVP_MAC_CTX* rtcp_mac{nullptr};  // Owned. AES-CM only.
  std::array<std::uint8_t, 14> rtp_salt{};
  std::array<std::uint8_t, 14> rtcp_salt{};

  Direction() = default;
  Direction(const Direction&) = delete;
  Direction& operator=(const Direction&) = delete;
  ~Direction() {
    EVP_CIPHER_CTX_free(rtp);
    EVP_CIPHER_CTX_free(rtcp);
    EVP_MAC_CTX_free(rtp_mac);
    EVP_MAC_CTX_free(rtcp_mac);
    OPENSSL_cleanse(rtp_salt.data(), rtp_salt.size());
    OPENSSL_cleanse(rtcp_salt.data(), rtcp_salt.size());
  }
};

enum class Open { Ok, AuthFail, Error };

class EvpSrtpSession final : public SrtpSession {
 public:
  EvpSrtpSession(SrtpProfile p, std::uint32_t next_srtcp_index) noexcept
      : SrtpSession(p),
        gcm_(p == SrtpProfile::AeadAes128Gcm),
        tag_(gcm_ ? kGcmTag : kCmTag),
        next_srtcp_index_(next_srtcp_index) {}
  ~EvpSrtpSession() override { EVP_MAC_free(hmac_); }
  EvpSrtpSession(const EvpSrtpSession&) = delete;
  EvpSrtpSession& operator=(const EvpSrtpSession&) = delete;

  bool init(const SrtpSessionKeys& local, const SrtpSessionKeys& remote) noexcept {
    if (!gcm_) {
      hmac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
      if (hmac_ == nullptr) return false;
    }
    return setUp(tx_, local, true) && setUp(rx_, remote, false);
  }

  std::optional<std::size_t> protectRtp(MutableByteSpan buffer, std::size_t size) noexcept override {
    if (size > buffer.size()) return fail(protect_failures_, SrtpError::BufferTooSmall);
    return sealRtp(buffer.data(), buffer, size);
  }

  // The ciphertext goes straight to `out`; the plain packet is only read.
  std::optional<std::size_t> protectRtpTo(ByteSpan plain, MutableByteSpan out) noexcept override {
    if (plain.size() > out.size()) return fail(protect_failures_, SrtpError::BufferTooSmall);
    return sealRtp(plain.data(), out, plain.size());
  }

  std::optional<std::size_t> protectRtcp(MutableByteSpan buffer, std::size_t size) noexcept override {
    const std::size_t overhead = tag_ + kSrtcpTrailer;
    if (size > buffer.size() || buffer.size() - size < overhead) {
      return fail(protect_failures_, SrtpError::BufferTooSmall);
    }
    if (size < 8 || size > kMaxPacket) return fail(protect_failures_, SrtpError::Malformed);
    std::uint8_t* p = buffer.data();
    const std::uint32_t ssrc = load32(p + 4);
    TxRtcpState* st = tx_rtcp_.find(ssrc);
    if (st == nullptr && (st = tx_rtcp_.insert(ssrc, TxRtcpState{next_srtcp_index_})) == nullptr) {
      return fail(protect_failures_, SrtpError::Other);
    }
    if (st->next > kMaxSrtcpIndex) return fail(protect_failures_, SrtpError::Other);  // key exhausted
    const std::uint32_t index = st->next;
    std::uint8_t trailer[kSrtcpTrailer];
    store32(trailer, kSrtcpEncrypted | index);
    bool ok;
    if (gcm_) {
      // header | ciphertext | tag | E+index (RFC 7714 §9.1); the AAD is the 8-byte header and E+index.
      std::uint8_t iv[12];
      rtcpGcmIv(tx_, ssrc, index, iv);
      ok = gcmSeal(tx_.rtcp, iv, p, 8, trailer, kSrtcpTrailer, p + 8, p + 8, size - 8, p + size);
      std::memcpy(p + size + kGcmTag, trailer, kSrtcpTrailer);
    } else {
      // header | ciphertext | E+index | tag, the tag over everything before it (RFC 3711 §3.4).
      std::uint8_t iv[16];
      cmIv(tx_.rtcp_salt, ssrc, index, iv);
      std::memcpy(p + size, trailer, kSrtcpTrailer);
      std::uint8_t mac[kSrtpHmacSha1Size];
      ok = ctr(tx_.rtcp, iv, p + 8, p + 8, size - 8) &&
           hmac(tx_.rtcp_mac, p, size + kSrtcpTrailer, nullptr, 0, mac);
      if (ok) std::memcpy(p + size + kSrtcpTrailer, mac, kCmTag);
    }
    if (!ok) return fail(protect_failures_, SrtpError::Other);
    ++st->next;
    return size + overhead;
  }

  std::optional<std::size_t> unprotectRtp(MutableByteSpan packet) noexcept override {
    const std::size_t n = packet.size();
    if (n < 12 + tag_) return fail(unprotect_failures_, SrtpError::BufferTooSmall);
    if (n > kMaxPacket) return fail(unprotect_failures_, SrtpError::Malformed);
    std::uint8_t* p = packet.data();
    const std::size_t end = n - tag_;  // where the tag starts
    const std::size_t hdr = rtpHeaderLength(p, end);
    if (hdr == 0) return fail(unprotect_failures_, SrtpError::Malformed);
    const std::uint32_t ssrc = load32(p + 8);
    const std::uint16_t seq = load16(p + 2);
    RxState* st = rx_rtp_.find(ssrc);
    if (st == nullptr && rx_rtp_.full()) return fail(unprotect_failures_, SrtpError::Other);
    const ReplayWindow& window = st != nullptr ? st->window : kFreshWindow;
    const std::uint64_t index = estimateIndex(window.highest(), seq);
    if (!window.accepts(index)) return fail(unprotect_failures_, SrtpError::Replay);
    const auto roc = static_cast<std::uint32_t>(index >> 16);
    Open r;
    if (gcm_) {
      std::uint8_t iv[12];
      rtpGcmIv(rx_, ssrc, roc, seq, iv);
      r = gcmOpen(rx_.rtp, iv, p, hdr, nullptr, 0, p + hdr, end - hdr, p + end);
    } else {
      std::uint8_t roc_be[4];
      store32(roc_be, roc);
      r = verifyCm(rx_.rtp_mac, p, end, roc_be, 4, p + end);
      std::uint8_t iv[16];
      cmIv(rx_.rtp_salt, ssrc, index, iv);
      if (r == Open::Ok && !ctr(rx_.rtp, iv, p + hdr, p + hdr, end - hdr)) r = Open::Error;
    }
    if (r != Open::Ok) {
      return fail(unprotect_failures_, r == Open::AuthFail ? SrtpError::AuthFail : SrtpError::Other);
    }
    // Only an authenticated packet creates receiver state.
    if (st == nullptr && (st = rx_rtp_.insert(ssrc, RxState{})) == nullptr) {
      return fail(unprotect_failures_, SrtpError::Other);
    }
    st->window.add(index);
    return end;
  }

  std::optional<std::size_t> unprotectRtcp(MutableByteSpan packet) noexcept override {
    const std::size_t n = packet.size();
    if (n < 8 + kSrtcpTrailer + tag_) return fail(unprotect_failures_, SrtpError::BufferTooSmall);
    if (n > kMaxPacket) return fail(unprotect_failures_, SrtpError::Malformed);
    std::uint8_t* p = packet.data();
    // GCM: header | ciphertext | tag | E+index. AES-CM: header | ciphertext | E+index | tag.
    const std::size_t end = n - tag_ - kSrtcpTrailer;  // end of the (encrypted) RTCP compound
    const std::size_t trailer_at = gcm_ ? n - kSrtcpTrailer : end;
    const std::size_t tag_at = gcm_ ? end : n - tag_;
    const std::uint32_t trailer = load32(p + trailer_at);
    const bool encrypted = (trailer & kSrtcpEncrypted) != 0;
    const std::uint32_t index = trailer & kMaxSrtcpIndex;
    const std::uint32_t ssrc = load32(p + 4);
    RxState* st = rx_rtcp_.find(ssrc);
    if (st == nullptr && rx_rtcp_.full()) return fail(unprotect_failures_, SrtpError::Other);
    const ReplayWindow& window = st != nullptr ? st->window : kFreshWindow;
    if (!window.accepts(index)) return fail(unprotect_failures_, SrtpError::Replay);
    Open r;
    if (gcm_) {
      std::uint8_t iv[12];
      rtcpGcmIv(rx_, ssrc, index, iv);
      // Unencrypted (E = 0): the whole compound is AAD (RFC 7714 §9.3).
      r = encrypted ? gcmOpen(rx_.rtcp, iv, p, 8, p + trailer_at, kSrtcpTrailer, p + 8, end - 8, p + tag_at)
                    : gcmOpen(rx_.rtcp, iv, p, end, p + trailer_at, kSrtcpTrailer, p + end, 0, p + tag_at);
    } else {
      r = verifyCm(rx_.rtcp_mac, p, tag_at, nullptr, 0, p + tag_at);
      std::uint8_t iv[16];
      cmIv(rx_.rtcp_salt, ssrc, index, iv);
      if (r == Open::Ok && encrypted && !ctr(rx_.rtcp, iv, p + 8, p + 8, end - 8)) r = Open::Error;
    }
    if (r != Open::Ok) {
      return fail(unprotect_failures_, r == Open::AuthFail ? SrtpError::AuthFail : SrtpError::Other);
    }
    if (st == nullptr && (st = rx_rtcp_.insert(ssrc, RxState{})) == nullptr) {
      return fail(unprotect_failures_, SrtpError::Other);
    }
    st->window.add(index);
    return end;
  }

 private:
  static inline const ReplayWindow kFreshWindow{};

  static std::nullopt_t fail(DropCounters<SrtpError>& counters, SrtpError e) noexcept {
    counters.count(e);
    return std::nullopt;
  }

  bool setUp(Direction& d, const SrtpSessionKeys& k, bool send) noexcept {
    d.rtp_salt = k.rtp_salt;
    d.rtcp_salt = k.rtcp_salt;
    d.rtp = EVP_CIPHER_CTX_new();
    d.rtcp = EVP_CIPHER_CTX_new();
    if (d.rtp == nullptr || d.rtcp == nullptr) return false;
    const EVP_CIPHER* cipher = gcm_ ? EVP_aes_128_gcm() : EVP_aes_128_ctr();
    const bool decrypt = gcm_ && !send;
    for (auto [ctx, key] : {std::pair{d.rtp, k.rtp_key.data()}, std::pair{d.rtcp, k.rtcp_key.data()}}) {
      const int rc = decrypt ? EVP_DecryptInit_ex(ctx, cipher, nullptr, key, nullptr)
                             : EVP_EncryptInit_ex(ctx, cipher, nullptr, key, nullptr);
      if (rc != 1) return false;
    }
    if (gcm_) return true;
    d.rtp_mac = EVP_MAC_CTX_new(hmac_);
    d.rtcp_mac = EVP_MAC_CTX_new(hmac_);
    if (d.rtp_mac == nullptr || d.rtcp_mac == nullptr) return false;
    char digest[] = "SHA1";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    return EVP_MAC_init(d.rtp_mac, k.rtp_auth.data(), k.rtp_auth.size(), params) == 1 &&
           EVP_MAC_init(d.rtcp_mac, k.rtcp_auth.data(), k.rtcp_auth.size(), params) == 1;
  }

  // RFC 7714 §8.1: IV = (0x0000 | SSRC | ROC | SEQ) XOR salt.
  static void rtpGcmIv(const Direction& d, std::uint32_t ssrc, std::uint32_t roc, std::uint16_t seq,
                       std::uint8_t (&iv)[12]) noexcept {
    std::memcpy(iv, d.rtp_salt.data(), 12);
    xor32(iv + 2, ssrc);
    xor32(iv + 6, roc);
    iv[10] ^= static_cast<std::uint8_t>(seq >> 8);
    iv[11] ^= static_cast<std::uint8_t>(seq);
  }
  // RFC 7714 §9.1: IV = (0x0000 | SSRC | 0x0000 | 0 + 31-bit SRTCP index) XOR salt.
  static void rtcpGcmIv(const Direction& d, std::uint32_t ssrc, std::uint32_t index,
                        std::uint8_t (&iv)[12]) noexcept {
    std::memcpy(iv, d.rtcp_salt.data(), 12);
    xor32(iv + 2, ssrc);
    xor32(iv + 8, index);
  }
  // RFC 3711 §4.1.1: IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16); 48-bit SRTP index or 31-bit
  // SRTCP index.
  static void cmIv(const std::array<std::uint8_t, 14>& salt, std::uint32_t ssrc, std::uint64_t index,
                   std::uint8_t (&iv)[16]) noexcept {
    std::memcpy(iv, salt.data(), 14);
    iv[14] = 0;
    iv[15] = 0;
    xor32(iv + 4, ssrc);
    iv[8] ^= static_cast<std::uint8_t>(index >> 40);
    iv[9] ^= static_cast<std::uint8_t>(index >> 32);
    xor32(iv + 10, static_cast<std::uint32_t>(index));
  }

  // Protects the `size` plain bytes at `in` into the start of `out` (out.size() >= size): in place when
  // `in` is out.data(), otherwise `in` must not overlap `out`.
  std::optional<std::size_t> sealRtp(const std::uint8_t* in, MutableByteSpan out, std::size_t size) noexcept {
    if (out.size() - size < tag_) return fail(protect_failures_, SrtpError::BufferTooSmall);
    if (size > kMaxPacket) return fail(protect_failures_, SrtpError::Malformed);
    const std::size_t hdr = rtpHeaderLength(in, size);
    if (hdr == 0) return fail(protect_failures_, SrtpError::Malformed);
    const std::uint32_t ssrc = load32(in + 8);
    const std::uint16_t seq = load16(in + 2);
    TxRtpState* st = tx_rtp_.find(ssrc);
    const std::uint64_t highest = st != nullptr ? st->highest : 0;
    const std::uint64_t index = estimateIndex(highest, seq);
    // Resending an index (a NACK answer) is allowed; one older than the window is refused, as by libsrtp.
    if (index < highest && highest - index >= kReplayWindow) {
      return fail(protect_failures_, SrtpError::Replay);
    }
    if (st == nullptr && (st = tx_rtp_.insert(ssrc, TxRtpState{})) == nullptr) {
      return fail(protect_failures_, SrtpError::Other);
    }
    std::uint8_t* p = out.data();
    if (p != in) std::memcpy(p, in, hdr);
    const auto roc = static_cast<std::uint32_t>(index >> 16);
    bool ok;
    if (gcm_) {
      std::uint8_t iv[12];
      rtpGcmIv(tx_, ssrc, roc, seq, iv);
      ok = gcmSeal(tx_.rtp, iv, p, hdr, nullptr, 0, in + hdr, p + hdr, size - hdr, p + size);
    } else {
      std::uint8_t iv[16];
      cmIv(tx_.rtp_salt, ssrc, index, iv);
      std::uint8_t roc_be[4];
      store32(roc_be, roc);
      std::uint8_t mac[kSrtpHmacSha1Size];
      ok = ctr(tx_.rtp, iv, in + hdr, p + hdr, size - hdr) && hmac(tx_.rtp_mac, p, size, roc_be, 4, mac);
      if (ok) std::memcpy(p + size, mac, kCmTag);
    }
    if (!ok) return fail(protect_failures_, SrtpError::Other);
    if (index > st->highest) st->highest = index;
    return size + tag_;
  }

  // Encrypts `len` bytes from `in` to `data` (the same pointer: in place).
  static bool gcmSeal(EVP_CIPHER_CTX* c, const std::uint8_t* iv, const std::uint8_t* aad1,
                      std::size_t aad1_len, const std::uint8_t* aad2, std::size_t aad2_len,
                      const std::uint8_t* in, std::uint8_t* data, std::size_t len,
                      std::uint8_t* tag) noexcept {
    int out = 0;
    std::uint8_t scratch[16];
    const bool ok =
        EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, iv) == 1 &&
        (aad1_len == 0 || EVP_EncryptUpdate(c, nullptr, &out, aad1, static_cast<int>(aad1_len)) == 1) &&
        (aad2_len == 0 || EVP_EncryptUpdate(c, nullptr, &out, aad2, static_cast<int>(aad2_len)) == 1) &&
        (len == 0 || EVP_EncryptUpdate(c, data, &out, in, static_cast<int>(len)) == 1) &&
        EVP_EncryptFinal_ex(c, scratch, &out) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTag), tag) == 1;
    if (!ok) ERR_clear_error();
    return ok;
  }

  static Open gcmOpen(EVP_CIPHER_CTX* c, const std::uint8_t* iv, const std::uint8_t* aad1,
                      std::size_t aad1_len, const std::uint8_t* aad2, std::size_t aad2_len,
                      std::uint8_t* data, std::size_t len, const std::uint8_t* tag) noexcept {
    int out = 0;
    std::uint8_t scratch[16];
    std::uint8_t tag_copy[kGcmTag];
    std::memcpy(tag_copy, tag, kGcmTag);
    const bool ok =
        EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, iv) == 1 &&
        (aad1_len == 0 || EVP_DecryptUpdate(c, nullptr, &out, aad1, static_cast<int>(aad1_len)) == 1) &&
        (aad2_len == 0 || EVP_DecryptUpdate(c, nullptr, &out, aad2, static_cast<int>(aad2_len)) == 1) &&
        (len == 0 || EVP_DecryptUpdate(c, data, &out, data, static_cast<int>(len)) == 1) &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTag), tag_copy) == 1;
    if (!ok) {
      ERR_clear_error();
      return Open::Error;
    }
    if (EVP_DecryptFinal_ex(c, scratch, &out) != 1) {
      ERR_clear_error();
      return Open::AuthFail;
    }
    return Open::Ok;
  }

  // AES-CTR of `len` bytes from `in` to `data` (the same pointer: in place).
  static bool ctr(EVP_CIPHER_CTX* c, const std::uint8_t* iv, const std::uint8_t* in, std::uint8_t* data,
                  std::size_t len) noexcept {
    if (len == 0) return true;
    int out = 0;
    const bool ok = EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, iv) == 1 &&
                    EVP_EncryptUpdate(c, data, &out, in, static_cast<int>(len)) == 1;
    if (!ok) ERR_clear_error();
    return ok;
  }

  // HMAC-SHA1(key set at init, a || b).
  static bool hmac(EVP_MAC_CTX* m, const std::uint8_t* a, std::size_t a_len, const std::uint8_t* b,
                   std::size_t b_len, std::uint8_t (&out)[kSrtpHmacSha1Size]) noexcept {
    std::size_t len = 0;
    const bool ok = EVP_MAC_init(m, nullptr, 0, nullptr) == 1 && EVP_MAC_update(m, a, a_len) == 1 &&
                    (b_len == 0 || EVP_MAC_update(m, b, b_len) == 1) &&
                    EVP_MAC_final(m, out, &len, kSrtpHmacSha1Size) == 1 && len == kSrtpHmacSha1Size;
    if (!ok) ERR_clear_error();
    return ok;
  }

  static Open verifyCm(EVP_MAC_CTX* m, const std::uint8_t* a, std::size_t a_len, const std::uint8_t* b,
                       std::size_t b_len, const std::uint8_t* tag) noexcept {
    std::uint8_t mac[kSrtpHmacSha1Size];
    if (!hmac(m, a, a_len, b, b_len, mac)) return Open::Error;
    return CRYPTO_memcmp(mac, tag, kCmTag) == 0 ? Open::Ok : Open::AuthFail;
  }

  const bool gcm_;
  const std::size_t tag_;
  const std::uint32_t next_srtcp_index_;
  EVP_MAC* hmac_{nullptr};  // Owned. AES-CM only.
  Direction tx_;            // local role's keys: protect
  Direction rx_;            // peer's keys: unprotect
  SsrcTable<TxRtpState> tx_rtp_;
  SsrcTable<TxRtcpState> tx_rtcp_;
  SsrcTable<RxState> rx_rtp_;
  SsrcTable<RxState> rx_rtcp_;
};

}  // namespace

bool srtpDeriveSessionKey(ByteSpan master_key, ByteSpan master_salt, std::uint8_t label,
                          MutableByteSpan out) noexcept {
  static constexpr std::uint8_t kZeros[64] = {};
  if (master_key.size() != 16 || (master_salt.size() != 14 && master_salt.size() != 12) ||
      out.size() > sizeof(kZeros)) {
    return false;
  }
  std::uint8_t iv[16] = {};
  std::memcpy(iv, master_salt.data(), master_salt.size());
  iv[7] ^= label;  // key_id = label || r (48 bits, 0 with kdr 0), right-aligned in the 112-bit salt
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  if (c == nullptr) return false;
  int len = 0;
  const bool ok = EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), nullptr, master_key.data(), iv) == 1 &&
                  EVP_EncryptUpdate(c, out.data(), &len, kZeros, static_cast<int>(out.size())) == 1 &&
                  static_cast<std::size_t>(len) == out.size();
  EVP_CIPHER_CTX_free(c);
  if (!ok) ERR_clear_error();
  return ok;
}

bool srtpDeriveSessionKeys(SrtpProfile profile, ByteSpan master_key, ByteSpan master_salt,
                           SrtpSessionKeys& out) noexcept {
  const std::size_t salt = srtpSaltSize(profile);
  if (master_salt.size() != salt) return false;
  const bool cm = profile == SrtpProfile::AesCm128HmacSha1_80;
  return srtpDeriveSessionKey(master_key, master_salt, 0, out.rtp_key) &&
         (!cm || srtpDeriveSessionKey(master_key, master_salt, 1, out.rtp_auth)) &&
         srtpDeriveSessionKey(master_key, master_salt, 2, MutableByteSpan(out.rtp_salt.data(), salt)) &&
         srtpDeriveSessionKey(master_key, master_salt, 3, out.rtcp_key) &&
         (!cm || srtpDeriveSessionKey(master_key, master_salt, 4, out.rtcp_auth)) &&
         srtpDeriveSessionKey(master_key, master_salt, 5, MutableByteSpan(out.rtcp_salt.data(), salt));
}

namespace {

SrtpSessionPtr makeSession(SrtpProfile profile, const SrtpSessionKeys& local, const SrtpSessionKeys& remote,
                           std::uint32_t next_srtcp_index) noexcept {
  std::unique_ptr<EvpSrtpSession> s(new (std::nothrow) EvpSrtpSession(profile, next_srtcp_index));
  if (!s || !s->init(local, remote)) return nullptr;
  return s;
}

}  // namespace

SrtpSessionPtr createEvpSrtpSessionForTest(SrtpProfile profile, const SrtpSessionKeys& local,
                                           const SrtpSessionKeys& remote,
                                           std::uint32_t next_srtcp_index) noexcept {
  return makeSession(profile, local, remote, next_srtcp_index);
}

SrtpSessionPtr createEvpSrtpSession(SrtpProfile profile, DtlsRole local_role,
                                    ByteSpan keying_material) noexcept {
  if (keying_material.size() != srtpKeyingMaterialSize(profile)) return nullptr;
  const std::size_t key = srtpKeySize(profile);
  const std::size_t salt = srtpSaltSize(profile);
  // client key | server key | client salt | server salt
  const ByteSpan client_key = keying_material.subspan(0, key);
  const ByteSpan server_key = keying_material.subspan(key, key);
  const ByteSpan client_salt = keying_material.subspan(2 * key, salt);
  const ByteSpan server_salt = keying_material.subspan(2 * key + salt, salt);
  SrtpSessionKeys client;
  SrtpSessionKeys server;
  SrtpSessionPtr session;
  if (srtpDeriveSessionKeys(profile, client_key, client_salt, client) &&
      srtpDeriveSessionKeys(profile, server_key, server_salt, server)) {
    session = local_role == DtlsRole::Client ? makeSession(profile, client, server, 1)
                                             : makeSession(profile, server, client, 1);
  }
  OPENSSL_cleanse(&client, sizeof(client));
  OPENSSL_cleanse(&server, sizeof(server));
  return session;
}

}  // namespace chorus::media
