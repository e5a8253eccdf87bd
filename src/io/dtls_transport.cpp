#include "io/dtls_transport.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <mutex>
#include <unordered_set>

#include "base/log.hpp"

namespace chorus::io {

namespace {

constexpr const char* kDtlsTag = "dtls";
constexpr const char* kSrtpProfiles = "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";

std::string opensslErrors() {
  std::string out;
  unsigned long e = 0;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? std::string("no OpenSSL error") : out;
}

// Live transports. The write BIO's callback checks here before it touches its DtlsTransport (style: C
// callbacks look up their void* in a registry first).
std::mutex& registryMutex() {
  static std::mutex m;
  return m;
}
std::unordered_set<const void*>& dtlsRegistry() {
  static auto* s = new std::unordered_set<const void*>();  // never destroyed: used until exit
  return *s;
}
bool isLive(const void* p) {
  std::lock_guard lock(registryMutex());
  return dtlsRegistry().count(p) != 0;
}

int verifyAcceptAll(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) {
  // The certificate is self-signed; the fingerprint from the SDP is checked after the handshake.
  return 1;
}

}  // namespace

// The custom write BIO: each BIO_write from OpenSSL's DTLS layer is one datagram.
struct DtlsBio {
  static int write(BIO* bio, const char* data, int len) {
    auto* t = static_cast<DtlsTransport*>(BIO_get_data(bio));
    if (len <= 0) return 0;
    if (t != nullptr && isLive(t)) {
      t->onBioWrite(
          media::ByteSpan(reinterpret_cast<const std::uint8_t*>(data), static_cast<std::size_t>(len)));
    }
    return len;
  }
  static long ctrl(BIO* /*bio*/, int cmd, long /*num*/, void* /*ptr*/) {
    switch (cmd) {
      case BIO_CTRL_FLUSH:
        return 1;
      case BIO_CTRL_DGRAM_QUERY_MTU:
        return static_cast<long>(kDtlsMtu);
      case BIO_CTRL_WPENDING:
      case BIO_CTRL_PENDING:
        return 0;
      default:
        return 0;
    }
  }
  static int create(BIO* bio) {
    BIO_set_init(bio, 1);
    BIO_set_data(bio, nullptr);
    return 1;
  }
  static int destroy(BIO* bio) {
    if (bio == nullptr) return 0;
    BIO_set_data(bio, nullptr);
    BIO_set_init(bio, 0);
    return 1;
  }
  static BIO_METHOD* method() {
    // One-time allocation, reachable for the process lifetime.
    static BIO_METHOD* m = [] {
      BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "chorus-dtls-out");
      BIO_meth_set_write(bm, &DtlsBio::write);
      BIO_meth_set_ctrl(bm, &DtlsBio::ctrl);
      BIO_meth_set_create(bm, &DtlsBio::create);
      BIO_meth_set_destroy(bm, &DtlsBio::destroy);
      return bm;
    }();
    return m;
  }
};

const char* toString(DtlsState s) noexcept {
  switch (s) {
    case DtlsState::New:
      return "new";
    case DtlsState::Connecting:
      return "connecting";
    case DtlsState::Connected:
      return "connected";
    case DtlsState::Failed:
      return "failed";
    case DtlsState::Closed:
      return "closed";
  }
  return "unknown";
}

const char* toString(DtlsDrop d) noexcept {
  switch (d) {
    case DtlsDrop::TooLarge:
      return "too_large";
    case DtlsDrop::NotReady:
      return "not_ready";
    case DtlsDrop::BadRecord:
      return "bad_record";
    case DtlsDrop::AppDataTooLarge:
      return "app_data_too_large";
    case DtlsDrop::Count:
      break;
  }
  return "unknown";
}

std::optional<std::array<std::uint8_t, 32>> parseSha256Fingerprint(std::string_view s) noexcept {
  std::array<std::uint8_t, 32> out{};
  if (s.size() != 32 * 3 - 1) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = nibble(s[3 * i]);
    const int lo = nibble(s[3 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    if (i < 31 && s[3 * i + 2] != ':') return std::nullopt;
    out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// DtlsIdentity

std::unique_ptr<DtlsIdentity> DtlsIdentity::generate(std::string_view common_name) {
  std::unique_ptr<DtlsIdentity> id(new DtlsIdentity());
  id->key_ = EVP_EC_gen("P-256");
  if (id->key_ == nullptr) return nullptr;
  id->cert_ = X509_new();
  if (id->cert_ == nullptr) return nullptr;
  X509* x = id->cert_;
  std::uint64_t serial = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial) != 1) return nullptr;
  bool ok = X509_set_version(x, 2) == 1 &&
            ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial & 0x7FFFFFFFFFFFFFFFull) == 1 &&
            X509_gmtime_adj(X509_getm_notBefore(x), -24 * 3600) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600) != nullptr &&
            X509_set_pubkey(x, id->key_) == 1;
  X509_NAME* name = X509_get_subject_name(x);
  const std::string cn(common_name);
  ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                        reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) == 1;
  ok = ok && X509_set_issuer_name(x, name) == 1 && X509_sign(x, id->key_, EVP_sha256()) > 0;
  if (!ok) return nullptr;

  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(x, EVP_sha256(), md, &md_len) != 1 || md_len != 32) return nullptr;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned int i = 0; i < md_len; ++i) {
    if (i) id->fingerprint_ += ':';
    id->fingerprint_ += kHex[md[i] >> 4];
    id->fingerprint_ += kHex[md[i] & 15];
  }

  SSL_CTX* ctx = SSL_CTX_new(DTLS_method());
  if (ctx == nullptr) return nullptr;
  id->ctx_ = ctx;
  ok = SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) == 1 && SSL_CTX_use_certificate(ctx, x) == 1 &&
       SSL_CTX_use_PrivateKey(ctx, id->key_) == 1 && SSL_CTX_check_private_key(ctx) == 1 &&
       SSL_CTX_set_cipher_list(ctx,
                               "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                               "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"
                               "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:"
                               "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA") == 1 &&
       SSL_CTX_set_tlsext_use_srtp(ctx, kSrtpProfiles) == 0;  // 0 means success here
  if (!ok) {
    CHORUS_LOG(Error, kDtlsTag, "SSL_CTX setup failed: " << opensslErrors());
    return nullptr;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, &verifyAcceptAll);
  SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET);
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  return id;
}

DtlsIdentity::~DtlsIdentity() {
  SSL_CTX_free(ctx_);
  X509_free(cert_);
  EVP_PKEY_free(key_);
}

// ---------------------------------------------------------------------------------------------------------
// DtlsTransport

DtlsTransport::DtlsTransport(const DtlsIdentity& identity, media::DtlsRole role, Listener& listener)
    : identity_(identity), role_(role), listener_(listener) {
  {
    std::lock_guard lock(registryMutex());
    dtlsRegistry().insert(this);
  }
  ssl_ = SSL_new(identity_.context());
  rbio_ = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(DtlsBio::method());
  if (ssl_ == nullptr || rbio_ == nullptr || wbio == nullptr) {
    BIO_free(rbio_);
    BIO_free(wbio);
    rbio_ = nullptr;
    state_ = DtlsState::Failed;
    return;
  }
  BIO_set_mem_eof_return(rbio_, -1);
  BIO_set_data(wbio, this);
  SSL_set_bio(ssl_, rbio_, wbio);  // ssl_ owns both now
  SSL_set_options(ssl_, SSL_OP_NO_QUERY_MTU);
  SSL_set_mtu(ssl_, kDtlsMtu);
  DTLS_set_link_mtu(ssl_, kDtlsMtu);
  if (role_ == media::DtlsRole::Client) {
    SSL_set_connect_state(ssl_);
  } else {
    SSL_set_accept_state(ssl_);
  }
}

DtlsTransport::~DtlsTransport() {
  {
    std::lock_guard lock(registryMutex());
    dtlsRegistry().erase(this);
  }
  SSL_free(ssl_);
}

bool DtlsTransport::setRemoteFingerprint(std::string_view algorithm, std::string_view hex) {
  if (algorithm != "sha-256") return false;
  auto fp = parseSha256Fingerprint(hex);
  if (!fp) return false;
  remote_fingerprint_ = *fp;
  has_remote_fingerprint_ = true;
  return true;
}

bool DtlsTransport::start() {
  if (state_ != DtlsState::New || ssl_ == nullptr || !has_remote_fingerprint_) return false;
  state_ = DtlsState::Connecting;
  if (role_ == media::DtlsRole::Client) doHandshake();
  return true;
}

void DtlsTransport::onBioWrite(media::ByteSpan datagram) {
  ++datagrams_sent_;
  listener_.onDtlsSend(*this, datagram);
}

void DtlsTransport::receive(media::ByteSpan datagram) {
  if (datagram.size() > kDtlsMaxDatagram) {
    drops_.count(DtlsDrop::TooLarge);
    return;
  }
  if (state_ != DtlsState::Connecting && state_ != DtlsState::Connected) {
    drops_.count(DtlsDrop::NotReady);
    return;
  }
  // A memory BIO never fails to take bytes (it grows); it is drained by the SSL calls below.
  if (BIO_write(rbio_, datagram.data(), static_cast<int>(datagram.size())) <= 0) return;
  if (state_ == DtlsState::Connecting) {
    doHandshake();
    if (state_ != DtlsState::Connected) {
      (void)BIO_reset(rbio_);
      return;
    }
  }
  readApplicationData();
  (void)BIO_reset(rbio_);  // whatever OpenSSL did not consume was not a valid record
}

void DtlsTransport::doHandshake() {
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    if (!verifyPeerFingerprint()) {
      fail("remote certificate does not match the SDP fingerprint");
      return;
    }
    const SRTP_PROTECTION_PROFILE* p = SSL_get_selected_srtp_profile(ssl_);
    const auto profile = p != nullptr ? media::srtpProfileFromName(p->name) : std::nullopt;
    if (!profile) {
      fail("no SRTP profile negotiated");
      return;
    }
    std::array<std::uint8_t, 64> material{};
    const std::size_t n = media::srtpKeyingMaterialSize(*profile);
    static constexpr char kLabel[] = "EXTRACTOR-dtls_srtp";
    if (n > material.size() ||
        SSL_export_keying_material(ssl_, material.data(), n, kLabel, sizeof kLabel - 1, nullptr, 0, 0) != 1) {
      fail("SSL_export_keying_material failed");
      return;
    }
    profile_ = profile;
    state_ = DtlsState::Connected;
    CHORUS_LOG(Debug, kDtlsTag, "connected, " << SSL_get_cipher_name(ssl_) << ", " << p->name);
    listener_.onDtlsConnected(*this, *profile, media::ByteSpan(material.data(), n));
    OPENSSL_cleanse(material.data(), material.size());
    return;
  }
  const int err = SSL_get_error(ssl_, r);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
  fail("handshake failed: " + opensslErrors());
}

void DtlsTransport::readApplicationData() {
  while (state_ == DtlsState::Connected) {
    ERR_clear_error();
    const int r = SSL_read(ssl_, read_buffer_.data(), static_cast<int>(read_buffer_.size()));
    if (r > 0) {
      listener_.onDtlsApplicationData(*this,
                                      media::ByteSpan(read_buffer_.data(), static_cast<std::size_t>(r)));
      continue;
    }
    const int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
    if (err == SSL_ERROR_ZERO_RETURN) {
      state_ = DtlsState::Closed;
      listener_.onDtlsClosed(*this);
      return;
    }
    // A record that fails to decrypt is dropped silently by DTLS (RFC 6347 §4.1.2.7); anything else here is
    // counted and the rest of the datagram discarded.
    drops_.count(DtlsDrop::BadRecord);
    ERR_clear_error();
    return;
  }
}

bool DtlsTransport::send(media::ByteSpan data) {
  if (state_ != DtlsState::Connected) {
    drops_.count(DtlsDrop::NotReady);
    return false;
  }
  if (data.size() > 16 * 1024) {
    drops_.count(DtlsDrop::AppDataTooLarge);
    return false;
  }
  ERR_clear_error();
  const int r = SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
  return r == static_cast<int>(data.size());
}

std::optional<std::int64_t> DtlsTransport::timeoutMs() const {
  if (state_ != DtlsState::Connecting || ssl_ == nullptr) return std::nullopt;
  timeval tv{};
  if (DTLSv1_get_timeout(ssl_, &tv) != 1) return std::nullopt;
  return static_cast<std::int64_t>(tv.tv_sec) * 1000 + tv.tv_usec / 1000;
}

void DtlsTransport::onTimer() {
  if (state_ != DtlsState::Connecting) return;
  const auto t = timeoutMs();
  if (!t || *t > 0) return;
  ERR_clear_error();
  if (DTLSv1_handle_timeout(ssl_) < 0) fail("handshake timed out: " + opensslErrors());
}

void DtlsTransport::close() {
  if (state_ == DtlsState::Connected) {
    ERR_clear_error();
    (void)SSL_shutdown(ssl_);
  }
  if (state_ != DtlsState::Failed) state_ = DtlsState::Closed;
}

void DtlsTransport::fail(std::string_view reason) {
  state_ = DtlsState::Failed;
  CHORUS_LOG(Warn, kDtlsTag, reason);
  listener_.onDtlsFailed(*this, reason);
}

bool DtlsTransport::verifyPeerFingerprint() {
  X509* peer = SSL_get1_peer_certificate(ssl_);
  if (peer == nullptr) return false;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const bool ok = X509_digest(peer, EVP_sha256(), md, &len) == 1 && len == 32 &&
                  CRYPTO_memcmp(md, remote_fingerprint_.data(), 32) == 0;
  X509_free(peer);
  return ok;
}

}  // namespace chorus::io
