#include "media/srtp/libsrtp_session.hpp"

#include <srtp2/srtp.h>

#include <array>
#include <climits>
#include <cstring>
#include <mutex>
#include <new>

namespace chorus::media {

namespace {

constexpr std::size_t kMaxMasterKey = 16 + 14;

SrtpError classify(srtp_err_status_t s) noexcept {
  switch (s) {
    case srtp_err_status_auth_fail:
      return SrtpError::AuthFail;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
      return SrtpError::Replay;
    case srtp_err_status_bad_param:
    case srtp_err_status_parse_err:
      return SrtpError::Malformed;
    default:
      return SrtpError::Other;
  }
}

bool libsrtpReady() noexcept {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] { ok = srtp_init() == srtp_err_status_ok; });
  return ok;
}

class LibSrtpSession final : public SrtpSession {
 public:
  explicit LibSrtpSession(SrtpProfile p) noexcept : SrtpSession(p) {}
  ~LibSrtpSession() override {
    if (outbound_ != nullptr) srtp_dealloc(outbound_);
    if (inbound_ != nullptr) srtp_dealloc(inbound_);
  }
  LibSrtpSession(const LibSrtpSession&) = delete;
  LibSrtpSession& operator=(const LibSrtpSession&) = delete;

  bool init(DtlsRole role, ByteSpan km) noexcept {
    const std::size_t key = srtpKeySize(profile_);
    const std::size_t salt = srtpSaltSize(profile_);
    // client key, server key, client salt, server salt
    std::array<std::uint8_t, kMaxMasterKey> client{};
    std::array<std::uint8_t, kMaxMasterKey> server{};
    std::memcpy(client.data(), km.data(), key);
    std::memcpy(server.data(), km.data() + key, key);
    std::memcpy(client.data() + key, km.data() + 2 * key, salt);
    std::memcpy(server.data() + key, km.data() + 2 * key + salt, salt);
    auto& local = role == DtlsRole::Client ? client : server;
    auto& remote = role == DtlsRole::Client ? server : client;
    const bool ok = create(&outbound_, ssrc_any_outbound, local.data()) &&
                    create(&inbound_, ssrc_any_inbound, remote.data());
    cleanse(client.data(), client.size());
    cleanse(server.data(), server.size());
    return ok;
  }

  std::optional<std::size_t> protectRtp(MutableByteSpan buffer, std::size_t size) noexcept override {
    return protect(buffer, size, srtpRtpOverhead(profile_), false);
  }
  std::optional<std::size_t> protectRtcp(MutableByteSpan buffer, std::size_t size) noexcept override {
    return protect(buffer, size, srtpRtcpOverhead(profile_), true);
  }
  std::optional<std::size_t> unprotectRtp(MutableByteSpan packet) noexcept override {
    return unprotect(packet, 12 + srtpRtpOverhead(profile_), false);
  }
  std::optional<std::size_t> unprotectRtcp(MutableByteSpan packet) noexcept override {
    return unprotect(packet, 8 + srtpRtcpOverhead(profile_), true);
  }

 private:
  static void cleanse(std::uint8_t* p, std::size_t n) noexcept {
    volatile std::uint8_t* v = p;
    for (std::size_t i = 0; i < n; ++i) v[i] = 0;
  }

  bool create(srtp_t* session, srtp_ssrc_type_t type, std::uint8_t* key) noexcept {
    srtp_policy_t policy;
    std::memset(&policy, 0, sizeof(policy));
    if (profile_ == SrtpProfile::AeadAes128Gcm) {
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
    } else {
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
    }
    policy.ssrc.type = type;
    policy.key = key;
    policy.window_size = 1024;
    policy.allow_repeat_tx = type == ssrc_any_outbound ? 1 : 0;
    policy.next = nullptr;
    return srtp_create(session, &policy) == srtp_err_status_ok;
  }

  std::optional<std::size_t> protect(MutableByteSpan buffer, std::size_t size, std::size_t overhead,
                                     bool rtcp) noexcept {
    if (size > buffer.size() || buffer.size() - size < overhead || size > INT_MAX - overhead) {
      protect_failures_.count(SrtpError::BufferTooSmall);
      return std::nullopt;
    }
    if (size < (rtcp ? 8u : 12u)) {
      protect_failures_.count(SrtpError::Malformed);
      return std::nullopt;
    }
    int len = static_cast<int>(size);
    const srtp_err_status_t s = rtcp ? srtp_protect_rtcp(outbound_, buffer.data(), &len)
                                     : srtp_protect(outbound_, buffer.data(), &len);
    if (s != srtp_err_status_ok) {
      protect_failures_.count(classify(s));
      return std::nullopt;
    }
    return static_cast<std::size_t>(len);
  }

  std::optional<std::size_t> unprotect(MutableByteSpan packet, std::size_t min_size, bool rtcp) noexcept {
    if (packet.size() < min_size || packet.size() > INT_MAX) {
      unprotect_failures_.count(SrtpError::BufferTooSmall);
      return std::nullopt;
    }
    int len = static_cast<int>(packet.size());
    const srtp_err_status_t s = rtcp ? srtp_unprotect_rtcp(inbound_, packet.data(), &len)
                                     : srtp_unprotect(inbound_, packet.data(), &len);
    if (s != srtp_err_status_ok) {
      unprotect_failures_.count(classify(s));
      return std::nullopt;
    }
    return static_cast<std::size_t>(len);
  }

  srtp_t outbound_{nullptr};  // Owned.
  srtp_t inbound_{nullptr};   // Owned.
};

}  // namespace

SrtpSessionPtr createLibSrtpSession(SrtpProfile profile, DtlsRole local_role,
                                    ByteSpan keying_material) noexcept {
  if (keying_material.size() != srtpKeyingMaterialSize(profile) || !libsrtpReady()) return nullptr;
  std::unique_ptr<LibSrtpSession> s(new (std::nothrow) LibSrtpSession(profile));
  if (!s || !s->init(local_role, keying_material)) return nullptr;
  return s;
}

}  // namespace chorus::media
