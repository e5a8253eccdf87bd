#pragma once
// chorus::crypto: the narrow Olm (1:1 double ratchet) boundary used for MSC3401's encrypted to-device
// signalling.
//
// It wraps Debian's libolm (libolm-dev 3.2.13). libolm is deprecated upstream in favour of vodozemac (Rust),
// which Debian 12 does not ship. This interface is deliberately small (an account, a session, pickling,
// signatures) and exposes no libolm type, so the implementation in olm.cpp can be swapped for vodozemac
// without touching callers.
//
// Rules of the boundary: RAII (the libolm state is wiped and freed on destruction), no exceptions, every
// failure is a chorus::Error. Inputs from peers (ciphertexts, pre-key messages, keys) and from disk (pickles)
// are untrusted: they are size-bounded and any malformed input gives an error, never a crash. Randomness
// comes from the OS (getrandom), never from an injected chorus::Rng. A moved-from OlmAccount / OlmSession may
// only be destroyed or assigned to. Not thread-safe: one owner (the Matrix shell's loop) per object.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace chorus::crypto {

inline constexpr std::size_t kMaxCiphertextBytes = 64 * 1024;  // an Olm message body (base64) we accept
inline constexpr std::size_t kMaxPlaintextBytes = 64 * 1024;   // what we encrypt or return from decrypt
inline constexpr std::size_t kMaxPickleBytes = 1024 * 1024;    // an account or session pickle we unpickle

struct IdentityKeys {
  std::string curve25519;  // unpadded base64
  std::string ed25519;
};

// Key id (e.g. "AAAAAQ") -> unpadded base64 curve25519 key: the shape of /keys/upload's one_time_keys and
// fallback_keys before the "signed_curve25519:" prefix and signatures are added.
using KeyMap = std::map<std::string, std::string>;

enum class MessageType : std::uint8_t { PreKey = 0, Normal = 1 };

struct Ciphertext {
  MessageType type{MessageType::Normal};
  std::string body;  // unpadded base64, as in m.room.encrypted's ciphertext[key].body
};

struct OlmState;  // libolm object + its memory; defined in olm.cpp

class OlmAccount {
 public:
  // A fresh account (identity keys from the OS RNG).
  static Result<OlmAccount> create();
  static Result<OlmAccount> unpickle(std::string_view key, std::string_view pickled);

  OlmAccount(OlmAccount&&) noexcept;
  OlmAccount& operator=(OlmAccount&&) noexcept;
  ~OlmAccount();

  Result<IdentityKeys> identityKeys() const;
  // Unpadded base64 ed25519 signature of message with the account's identity key.
  Result<std::string> sign(std::string_view message) const;

  // How many one-time keys the account keeps (older ones are dropped beyond it).
  std::size_t maxOneTimeKeys() const;
  Status generateOneTimeKeys(std::size_t count);
  Status generateFallbackKey();
  Result<KeyMap> unpublishedOneTimeKeys() const;
  Result<KeyMap> unpublishedFallbackKey() const;  // empty, or one entry
  // Marks the current one-time keys and the fallback key as published (they stop being listed above).
  void markKeysAsPublished();

  Result<std::string> pickle(std::string_view key) const;

 private:
  friend class OlmSession;
  explicit OlmAccount(std::unique_ptr<OlmState> state);
  std::unique_ptr<OlmState> state_;
};

class OlmSession {
 public:
  // Outbound session to a device, from its identity curve25519 key and a claimed one-time (or fallback) key.
  static Result<OlmSession> createOutbound(OlmAccount& account, std::string_view their_curve25519,
                                           std::string_view their_one_time_key);
  // Inbound session from a pre-key message body; when their_curve25519 is not empty the message must come
  // from that key. On success the one-time key it used is removed from the account (a fallback key stays).
  static Result<OlmSession> createInbound(OlmAccount& account, std::string_view their_curve25519,
                                          std::string_view pre_key_body);
  static Result<OlmSession> unpickle(std::string_view key, std::string_view pickled);

  OlmSession(OlmSession&&) noexcept;
  OlmSession& operator=(OlmSession&&) noexcept;
  ~OlmSession();

  // Whether a pre-key message belongs to this session (an error if the body is not a pre-key message).
  Result<bool> matchesInbound(std::string_view their_curve25519, std::string_view pre_key_body) const;

  // Refuses a plaintext over kMaxPlaintextBytes or whose message would exceed kMaxCiphertextBytes (base64 and
  // the MAC make the message about 4/3 of the plaintext, so the usable limit is about 47 KiB).
  Result<Ciphertext> encrypt(std::string_view plaintext);
  // type is the wire value (0 pre-key, 1 normal); anything else is an error. A failed decrypt leaves the
  // session as it was.
  Result<std::string> decrypt(std::uint64_t type, std::string_view body);

  Result<std::string> sessionId() const;
  Result<std::string> pickle(std::string_view key) const;

 private:
  explicit OlmSession(std::unique_ptr<OlmState> state);
  std::unique_ptr<OlmState> state_;
};

// Checks an unpadded base64 ed25519 signature of message by an unpadded base64 ed25519 key.
Status verifyEd25519(std::string_view key, std::string_view message, std::string_view signature);

}  // namespace chorus::crypto
