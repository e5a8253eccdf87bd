#pragma once
// DTLS 1.2 (OpenSSL 3) for DTLS-SRTP (RFC 5763/5764) and the SCTP data channel (RFC 8261), driven purely by
// bytes in / bytes out and a timer: no sockets, no threads. Incoming datagrams go through a memory BIO;
// outgoing records leave through a small custom BIO whose write callback hands each datagram to the Listener
// (so every record flight fragment is its own UDP datagram, at most `kDtlsMtu` bytes).
//
// The certificate is self-signed ECDSA P-256 (one DtlsIdentity per process or per worker). Peer certificates
// are accepted by the verify callback and checked against the SHA-256 fingerprint from the SDP once the
// handshake is done. The SRTP profile is negotiated (AEAD_AES_128_GCM preferred, AES_CM_128_HMAC_SHA1_80
// accepted) and the exporter output is handed to the Listener, which keys media::createEvpSrtpSession.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "media/bytes.hpp"
#include "media/drop_counters.hpp"
#include "media/srtp/srtp_session.hpp"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct evp_pkey_st EVP_PKEY;
typedef struct x509_st X509;
typedef struct bio_st BIO;

namespace chorus::io {

inline constexpr std::size_t kDtlsMtu = 1200;
// Largest datagram accepted from the network into the handshake/record layer.
inline constexpr std::size_t kDtlsMaxDatagram = 16 * 1024 + 64;

// Certificate + key + SSL_CTX, shared by every DtlsTransport of a process or worker. Immutable after
// creation.
class DtlsIdentity {
 public:
  // Self-signed ECDSA P-256, valid from yesterday for 30 days. nullptr when OpenSSL fails.
  static std::unique_ptr<DtlsIdentity> generate(std::string_view common_name = "chorus");
  ~DtlsIdentity();
  DtlsIdentity(const DtlsIdentity&) = delete;
  DtlsIdentity& operator=(const DtlsIdentity&) = delete;

  // "sha-256" fingerprint of the certificate: upper-case hex pairs joined by ':'.
  const std::string& fingerprint() const noexcept { return fingerprint_; }
  SSL_CTX* context() const noexcept { return ctx_; }

 private:
  DtlsIdentity() = default;
  EVP_PKEY* key_{nullptr};
  X509* cert_{nullptr};
  SSL_CTX* ctx_{nullptr};
  std::string fingerprint_;
};
using DtlsIdentityPtr = std::unique_ptr<DtlsIdentity>;

enum class DtlsState : std::uint8_t { New, Connecting, Connected, Failed, Closed };
const char* toString(DtlsState s) noexcept;

enum class DtlsDrop : std::uint8_t {
  TooLarge,         // datagram > kDtlsMaxDatagram
  NotReady,         // data before start() or after failure/close
  BadRecord,        // OpenSSL rejected a record after the handshake (it is dropped, the session continues)
  AppDataTooLarge,  // outgoing application data > 16 KiB
  Count
};
const char* toString(DtlsDrop d) noexcept;

class DtlsTransport {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // One datagram to put on the wire (to the peer's selected address).
    virtual void onDtlsSend(DtlsTransport& t, media::ByteSpan datagram) = 0;
    // The handshake finished and the remote fingerprint matched. `keying_material` is the exporter output in
    // the RFC 5764 layout (media::srtpKeyingMaterialSize(profile) bytes); it is wiped after the call.
    virtual void onDtlsConnected(DtlsTransport& t, media::SrtpProfile profile,
                                 media::ByteSpan keying_material) = 0;
    // Decrypted application data (one SCTP packet).
    virtual void onDtlsApplicationData(DtlsTransport& t, media::ByteSpan data) = 0;
    // Handshake failure, fingerprint mismatch, no SRTP profile, or too many retransmissions.
    virtual void onDtlsFailed(DtlsTransport& t, std::string_view reason) = 0;
    // The peer sent close_notify.
    virtual void onDtlsClosed(DtlsTransport& /*t*/) {}
  };

  // `identity` is borrowed (outlives this); `listener` too.
  DtlsTransport(const DtlsIdentity& identity, media::DtlsRole role, Listener& listener);
  ~DtlsTransport();
  DtlsTransport(const DtlsTransport&) = delete;
  DtlsTransport& operator=(const DtlsTransport&) = delete;

  // The peer's certificate fingerprint from its SDP. Only "sha-256" is accepted. Must be set before start().
  bool setRemoteFingerprint(std::string_view algorithm, std::string_view hex_with_colons);
  // Client: sends the ClientHello. Server: waits for it. Returns false when not configured.
  bool start();
  // One datagram classified as DTLS (RFC 7983: first byte 20..63).
  void receive(media::ByteSpan datagram);
  // Application data (an SCTP packet); false when not connected or too large.
  bool send(media::ByteSpan data);
  // Call periodically (e.g. every 10-50 ms): retransmits a handshake flight when OpenSSL's timer expired.
  void onTimer();
  // Milliseconds until the handshake retransmission timer fires (nullopt when none is running).
  std::optional<std::int64_t> timeoutMs() const;
  // Sends close_notify.
  void close();

  DtlsState state() const noexcept { return state_; }
  media::DtlsRole role() const noexcept { return role_; }
  std::optional<media::SrtpProfile> srtpProfile() const noexcept { return profile_; }
  const media::DropCounters<DtlsDrop>& drops() const noexcept { return drops_; }
  std::uint64_t datagramsSent() const noexcept { return datagrams_sent_; }

 private:
  friend struct DtlsBio;
  void doHandshake();
  void readApplicationData();
  void fail(std::string_view reason);
  bool verifyPeerFingerprint();
  void onBioWrite(media::ByteSpan datagram);

  const DtlsIdentity& identity_;  // Borrowed.
  media::DtlsRole role_;
  Listener& listener_;  // Borrowed.
  SSL* ssl_{nullptr};   // Owned (and owns both BIOs).
  BIO* rbio_{nullptr};  // Owned by ssl_.
  DtlsState state_{DtlsState::New};
  std::array<std::uint8_t, 32> remote_fingerprint_{};
  bool has_remote_fingerprint_{false};
  std::optional<media::SrtpProfile> profile_;
  std::array<std::uint8_t, 16 * 1024> read_buffer_{};  // SSL_read target; bounded by the max record size
  media::DropCounters<DtlsDrop> drops_;
  std::uint64_t datagrams_sent_{0};
};
using DtlsTransportPtr = std::unique_ptr<DtlsTransport>;

// Parses "AB:CD:..." (32 pairs, either case) into bytes.
std::optional<std::array<std::uint8_t, 32>> parseSha256Fingerprint(std::string_view hex_with_colons) noexcept;

}  // namespace chorus::io
