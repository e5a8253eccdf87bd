#pragma once
// chorus::crypto::OlmMachine: the Olm state of one device (account, known device keys, sessions) and the
// Matrix rules around it, with no I/O except its own state file. The Matrix shell (src/matrix) does the HTTP
// (/keys/upload, /keys/query, /keys/claim, /sendToDevice) and hands the replies in; core never sees any of
// it.
//
// What it does (Matrix spec, "End-to-End Encryption", Olm):
// - builds the signed /keys/upload body: device_keys (algorithms m.olm.v1.curve25519-aes-sha2 and
//   m.megolm.v1.aes-sha2, curve25519 + ed25519), signed_curve25519 one-time keys up to half of what the
//   account keeps, and a signed fallback key; replenishes from /sync's device_one_time_keys_count;
// - keeps device keys from /keys/query replies whose self-signature verifies (a device's keys never change
// once
//   seen: a different key for a known device is refused);
// - creates outbound sessions from /keys/claim replies whose one-time key is signed by the device's ed25519
//   key, and reuses the most recently used session per device;
// - encrypts a to-device payload into an m.room.encrypted olm.v1 content (type, content, sender,
// sender_device,
//   recipient, recipient_keys.ed25519, keys.ed25519);
// - decrypts an m.room.encrypted to-device content (existing sessions first, then a new inbound session from
// a
//   pre-key message), applies the spec checks (sender is the envelope sender, recipient is us,
//   recipient_keys.ed25519 is ours, and — once the sender's device keys are known — keys.ed25519 is the key
//   of the device that owns the sender curve25519 key), and refuses replays.
// Everything fed by peers is bounded: device keys per user and in all, sessions per peer and peers in all,
// the replay window. Failures are counted (OlmCounters), never a crash. Not thread-safe: one owner (the
// loop).
//
// The state is saved to one file, encrypted at rest (AES-256-GCM with a 32-byte key; the Olm pickles inside
// are also encrypted by libolm with the same key) and atomically replaced (write to a temporary file, fsync,
// rename). The key comes from a key file created 0600 next to the state (loadOrCreateKeyFile) or from a
// passphrase (keyFromPassphrase).
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "base/result.hpp"
#include "crypto/olm.hpp"

namespace chorus::crypto {

inline constexpr std::string_view kOlmAlgorithm = "m.olm.v1.curve25519-aes-sha2";
inline constexpr std::string_view kMegolmAlgorithm = "m.megolm.v1.aes-sha2";
inline constexpr std::string_view kEncryptedEventType = "m.room.encrypted";
inline constexpr std::size_t kStateKeyBytes = 32;

// Matrix canonical JSON (keys sorted by code point, no insignificant whitespace), what signatures cover.
std::string canonicalJson(const boost::json::value& value);

struct DeviceKeys {
  std::string user_id;
  std::string device_id;
  std::string curve25519;
  std::string ed25519;
};

// A decrypted Olm payload that passed the checks that need no device list.
struct OlmPayload {
  std::string type;
  std::string sender;
  std::string sender_device;   // may be empty (older clients omit it)
  std::string sender_ed25519;  // keys.ed25519: checked against the device list by OlmMachine::accept
  boost::json::object content;
};

// The decrypted-payload validation on its own (pure; fuzzed): JSON object of at most kMaxPlaintextBytes with
// string type, object content, sender == envelope_sender, recipient == our_user, recipient_keys.ed25519 ==
// our_ed25519, string keys.ed25519 and, if present, string sender_device.
Result<OlmPayload> validateOlmPayload(std::string_view plaintext, std::string_view envelope_sender,
                                      std::string_view our_user, std::string_view our_ed25519);

struct OlmCounters {
  std::uint64_t olm_decrypted{0};       // accepted (decrypted and every check passed)
  std::uint64_t olm_encrypted_sent{0};  // payloads encrypted for sending
  std::uint64_t olm_failures{0};        // every refused incoming m.room.encrypted (sum of the reasons below)
  // Reasons.
  std::uint64_t bad_envelope{0};       // not olm.v1, malformed fields, oversized
  std::uint64_t not_for_us{0};         // no ciphertext for our curve25519 key
  std::uint64_t undecryptable{0};      // no session decrypts it and it is not a usable pre-key message
  std::uint64_t replayed{0};           // the same ciphertext again
  std::uint64_t invalid_payload{0};    // decrypted, but validateOlmPayload refused it (mis-addressed, ...)
  std::uint64_t wrong_sender_keys{0};  // keys.ed25519 / sender_device do not match the sender's device keys
  std::uint64_t unverified_sender{0};  // the sender's device keys never became known
  // Key handling.
  std::uint64_t sessions_outbound{0};
  std::uint64_t sessions_inbound{0};
  std::uint64_t device_keys_rejected{0};   // /keys/query entries that failed the checks or changed keys
  std::uint64_t claimed_keys_rejected{0};  // /keys/claim keys with a bad signature or an unknown device
  std::uint64_t devices_over_limit{0};
  std::uint64_t sessions_evicted{0};
};

struct OlmMachineConfig {
  std::size_t max_devices{4096};         // device keys kept in all
  std::size_t max_devices_per_user{64};  // and per user
  std::size_t max_peers{1024};           // curve25519 keys we keep sessions with (least recently used goes)
  std::size_t max_sessions_per_peer{4};  // sessions per curve25519 key (least recently used goes)
  std::size_t replay_window{4096};       // digests of the latest decrypted ciphertexts
  std::size_t one_time_key_target{0};    // 0: half of what the account keeps (libolm: 50)
};

class OlmMachine {
 public:
  // A new account for (user_id, device_id), kept in memory only (save() does nothing) until setStore().
  static Result<std::unique_ptr<OlmMachine>> create(std::string user_id, std::string device_id,
                                                    OlmMachineConfig config = {});
  // The state in `path` (which must belong to user_id/device_id), or a new account saved there when the file
  // does not exist. key: kStateKeyBytes bytes.
  static Result<std::unique_ptr<OlmMachine>> open(const std::string& path, std::string_view key,
                                                  std::string user_id, std::string device_id,
                                                  OlmMachineConfig config = {});
  OlmMachine(const OlmMachine&) = delete;
  OlmMachine& operator=(const OlmMachine&) = delete;
  ~OlmMachine();

  void setStore(std::string path, std::string key);
  // Writes the state when it changed since the last save (atomically). No store: nothing.
  Status save();
  bool dirty() const { return dirty_; }

  const std::string& userId() const { return user_id_; }
  const std::string& deviceId() const { return device_id_; }
  const IdentityKeys& identityKeys() const { return identity_; }
  const OlmCounters& counters() const { return counters_; }
  std::size_t oneTimeKeyTarget() const;

  // --- /keys/upload
  // The body to upload, or nullopt when there is nothing to upload. server_otk_count: /sync's
  // device_one_time_keys_count.signed_curve25519 (nullopt: not known yet — then only keys never uploaded go).
  // fallback_unused: whether /sync's device_unused_fallback_key_types lists signed_curve25519 (nullopt: not
  // known). Keys stay unpublished (and are offered again) until keysUploaded().
  Result<std::optional<boost::json::object>> keysToUpload(std::optional<std::int64_t> server_otk_count,
                                                          std::optional<bool> fallback_unused = std::nullopt);
  void keysUploaded();
  bool deviceKeysUploaded() const { return device_keys_uploaded_; }

  // --- /keys/query
  static boost::json::object keysQueryBody(const std::vector<std::string>& users);
  // Keeps the verified device keys of the reply; returns how many devices are new.
  std::size_t addQueryResult(const boost::json::object& reply);
  const DeviceKeys* device(std::string_view user_id, std::string_view device_id) const;
  std::size_t deviceCount() const;

  // --- /keys/claim
  static boost::json::object keysClaimBody(const std::vector<std::pair<std::string, std::string>>& devices);
  // Creates an outbound session per device whose claimed key verifies; returns how many were created.
  std::size_t addClaimResult(const boost::json::object& reply);
  bool hasSession(std::string_view user_id, std::string_view device_id) const;
  std::size_t sessionCount() const;

  // --- to-device
  // The m.room.encrypted content of {type, content} for that device (its keys and a session must exist).
  Result<boost::json::object> encrypt(std::string_view user_id, std::string_view device_id,
                                      std::string_view type, const boost::json::object& content);

  struct Decrypted {
    OlmPayload payload;
    std::string sender_curve25519;
  };
  // Decrypts and validates an incoming m.room.encrypted to-device content from `sender` (the event's sender).
  // Every error is counted in olm_failures (with its reason).
  Result<Decrypted> decrypt(std::string_view sender, const boost::json::object& content);
  // The device-list check: keys.ed25519 (and sender_device, if given) must be those of the sender's device
  // that owns sender_curve25519. Ok: counted in olm_decrypted. NotFound: that device's keys are not known
  // (query them and call again, or drop with rejectUnverified()). Anything else: counted in olm_failures.
  Result<OlmPayload> accept(Decrypted decrypted);
  void rejectUnverified();
  // Devices whose session is wedged: a normal message from their (known) curve25519 key that none of our
  // sessions decrypts, e.g. after we lost state. The spec's remedy: a new outbound session (/keys/claim, then
  // addClaimResult, which makes it the session used) and an m.dummy over it. At most kMaxWedged are kept.
  std::vector<std::pair<std::string, std::string>> takeWedged();
  static constexpr std::size_t kMaxWedged = 64;

 private:
  OlmMachine(std::string user_id, std::string device_id, OlmMachineConfig config, OlmAccount account);
  struct Session {
    OlmSession session;
    std::string id;
    std::uint64_t last_used{0};
  };
  struct Peer {
    std::vector<Session> sessions;
    std::uint64_t last_used{0};
  };
  Status init();
  Result<std::string> serialize() const;
  static Result<std::unique_ptr<OlmMachine>> deserialize(std::string_view json, std::string_view key,
                                                         const std::string& user_id,
                                                         const std::string& device_id,
                                                         OlmMachineConfig config);
  Result<boost::json::object> signedKey(const std::string& key, bool fallback) const;
  Peer& peer(const std::string& curve25519);
  void addSession(const std::string& curve25519, OlmSession session);
  bool seen(std::uint64_t digest) const { return replay_set_.count(digest) != 0; }
  void remember(std::uint64_t digest);
  const DeviceKeys* deviceByCurve(std::string_view user_id, std::string_view curve25519) const;
  Unexpected refuse(std::uint64_t OlmCounters::*reason, Code code, std::string message);

  std::string user_id_;
  std::string device_id_;
  OlmMachineConfig config_;
  OlmAccount account_;
  IdentityKeys identity_;
  bool device_keys_uploaded_{false};
  bool fallback_published_{false};
  std::map<std::string, std::map<std::string, DeviceKeys>, std::less<>> devices_;  // user -> device -> keys
  std::size_t device_count_{0};
  std::map<std::string, Peer, std::less<>> peers_;  // their curve25519 -> sessions
  std::uint64_t use_counter_{0};
  std::set<std::pair<std::string, std::string>> wedged_;
  std::deque<std::uint64_t> replay_order_;
  std::set<std::uint64_t> replay_set_;
  OlmCounters counters_;
  std::string store_path_;
  std::string store_key_;
  bool dirty_{true};
};

// The key in `path` (exactly kStateKeyBytes bytes), or a new random one written there (created 0600, never
// overwritten). A key file readable by group or others is refused.
Result<std::string> loadOrCreateKeyFile(const std::string& path);
// A kStateKeyBytes key from a passphrase (PBKDF2-HMAC-SHA256, salt = "chorus-olm:" + user_id + "|" +
// device_id).
Result<std::string> keyFromPassphrase(std::string_view passphrase, std::string_view user_id,
                                      std::string_view device_id);

}  // namespace chorus::crypto
