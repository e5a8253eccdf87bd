#pragma once
// matrix::OlmChannel: the Olm plumbing of one Matrix device (issue #13, docs/e2ee.md), shared by `chorus
// call` (CallSession) and `chorus focus` (focus/service.cpp). It owns the crypto::OlmMachine and does,
// through a KeyTransport (the homeserver):
//   - the account: opened from its state file (encrypted at rest) or created, saved after every change;
//   - keys: device, one-time and fallback keys uploaded (before the first /sync) and replenished from /sync's
//     counts; device_lists.changed makes a user's device keys stale;
//   - incoming m.room.encrypted to-device: decrypted, the spec's checks applied (a sender's messages are
//   held,
//     in order, while its device keys are queried), only m.call.* payloads handed on; refused ones are
//     counted (olm_failures), never a crash; wedged sessions replaced (new session + m.dummy);
//   - outgoing to-device: Olm to a device that publishes keys (/keys/query and /keys/claim on demand,
//   sessions
//     reused), plaintext to a device without keys, an error (never a plaintext fallback) to a device with
//     keys but no usable one-time key.
// Loop thread only. Callers keep their own per-device send queues (order) and decide when to encrypt (e.g.
// rooms with m.room.encryption).
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "crypto/olm_machine.hpp"
#include "matrix/sync_response.hpp"
#include "proto/room_events.hpp"

namespace chorus::matrix {

class Client;

// The homeserver calls an OlmChannel makes (bodies built by crypto::OlmMachine).
class KeyTransport {
 public:
  using Reply = std::function<void(Result<boost::json::object>)>;
  virtual ~KeyTransport() = default;
  virtual void keysUpload(boost::json::object body, Reply cb) = 0;
  virtual void keysQuery(boost::json::object body, Reply cb) = 0;
  virtual void keysClaim(boost::json::object body, Reply cb) = 0;
  // A new transaction id per call (used for the m.dummy of a replaced session).
  virtual void sendToDevice(const std::string& type, boost::json::object messages, Reply cb) = 0;
};

// KeyTransport over a matrix::Client (which must outlive it).
class ClientKeyTransport final : public KeyTransport {
 public:
  explicit ClientKeyTransport(Client& client) : client_(client) {}
  void keysUpload(boost::json::object body, Reply cb) override;
  void keysQuery(boost::json::object body, Reply cb) override;
  void keysClaim(boost::json::object body, Reply cb) override;
  void sendToDevice(const std::string& type, boost::json::object messages, Reply cb) override;

 private:
  Client& client_;
};

// Where a device keeps its Olm state: path empty = in memory only.
struct OlmStore {
  std::string path;
  std::string key;  // crypto::kStateKeyBytes bytes
};
// The store of (user_id, device_id) in data_dir (created 0700 when missing): DIR/olm-<user>_<device>.state
// (characters other than [A-Za-z0-9._-] replaced by '_'), encrypted with the key in DIR/olm.key (created
// 0600) or, when passphrase is not empty, derived from it (crypto::keyFromPassphrase).
Result<OlmStore> olmStoreIn(const std::string& data_dir, const std::string& passphrase,
                            const std::string& user_id, const std::string& device_id);

struct OlmChannelCounters {
  std::uint64_t olm_decrypted{0};
  std::uint64_t olm_encrypted_sent{0};
  std::uint64_t olm_failures{0};
  std::uint64_t plaintext_to_keyless{0};   // seal(encrypt=true) to a device that publishes no keys
  std::uint64_t olm_sessions_created{0};   // outbound (from /keys/claim) + inbound (pre-key)
  std::uint64_t olm_sessions_unwedged{0};  // wedged sessions replaced (new session + m.dummy)
};

// What `chorus call` (summary) and `chorus focus` (stats) report of their Olm-encrypted call signalling
// (docs/e2ee.md): the channel's counters and the plaintext m.call.* received while the room was encrypted.
struct E2eeCounters {
  OlmChannelCounters olm;
  std::uint64_t plaintext_in_encrypted_room{0};
  // Adds them to `o` under their documented names (olm.plaintext_to_keyless is
  // "plaintext_sent_in_encrypted_room").
  void addTo(boost::json::object& o) const;
};

class OlmChannel {
 public:
  // Incoming to-device messages, in order per sender: plaintext ones as they came (encrypted = false) and
  // decrypted, verified m.call.* payloads (encrypted = true; sender is the verified sender).
  using Deliver = std::function<void(proto::ToDeviceMessage message, bool encrypted)>;

  // The account of (user_id, device_id) from store (a new one when the file does not exist; in memory only
  // when store.path is empty). `tag` names the log category.
  static Result<std::unique_ptr<OlmChannel>> open(KeyTransport& transport, const Clock& clock,
                                                  const std::string& user_id, const std::string& device_id,
                                                  const OlmStore& store, Deliver deliver,
                                                  std::string tag = "matrix");
  OlmChannel(const OlmChannel&) = delete;
  OlmChannel& operator=(const OlmChannel&) = delete;
  ~OlmChannel();  // saves the state

  // Uploads what is due (all keys never uploaded when the counts are nullopt); `then` runs afterwards, also
  // on failure or when nothing was due. One upload at a time (a call meanwhile does nothing but `then`).
  void uploadKeys(std::optional<std::int64_t> server_count, std::optional<bool> fallback_unused,
                  std::function<void()> then);

  // The /sync loop: take syncToken() when a /sync request leaves and give it back with its reply to onSync()
  // (key counts of a /sync requested before the last upload completed are stale and ignored); then every
  // to-device message to incoming(); then afterSync().
  std::uint64_t syncToken() const { return upload_in_flight_ ? ~std::uint64_t{0} : upload_epoch_; }
  void onSync(const SyncBatch& batch, std::uint64_t token);
  void incoming(const proto::ToDeviceMessage& m);
  void afterSync();

  struct Sealed {
    std::string type;
    boost::json::object content;
    bool encrypted{false};
  };
  // What to send to one device. encrypt false: {type, content} as is. encrypt true: m.room.encrypted when the
  // device publishes keys (after /keys/query and /keys/claim as needed), {type, content} when it publishes
  // none (counted in plaintext_to_keyless), FailedPrecondition when it has keys but no session could be made.
  // `then` may run before seal returns.
  void seal(const std::string& user_id, const std::string& device_id, const std::string& type,
            const boost::json::object& content, bool encrypt, std::function<void(Result<Sealed>)> then);

  OlmChannelCounters counters() const;
  const crypto::OlmMachine& machine() const { return *olm_; }
  const crypto::IdentityKeys& identityKeys() const { return olm_->identityKeys(); }
  void persist();

 private:
  OlmChannel(KeyTransport& transport, const Clock& clock, std::unique_ptr<crypto::OlmMachine> olm,
             Deliver deliver, std::string tag);
  void deliverDecrypted(crypto::OlmMachine::Decrypted d);
  void queryKeys(const std::string& user_id, std::function<void()> then);
  void releaseHeld(const std::string& sender);
  void unwedge(const std::string& user_id, const std::string& device_id);
  // Encrypt when an Olm session with the device exists (after /keys/query and /keys/claim as needed),
  // Plaintext when the device publishes no keys, Fail when it has keys but no session could be made.
  enum class Route : std::uint8_t { Encrypt, Plaintext, Fail };
  void prepare(const std::string& user_id, const std::string& device_id, std::function<void(Route)> then);
  bool warn();

  KeyTransport& transport_;
  const Clock& clock_;
  std::unique_ptr<crypto::OlmMachine> olm_;
  Deliver deliver_;
  std::string tag_;
  bool upload_in_flight_{false};
  std::uint64_t upload_epoch_{0};  // uploads completed
  std::uint64_t warnings_{0};
  std::uint64_t plaintext_to_keyless_{0};
  std::uint64_t sessions_unwedged_{0};
  std::set<std::string> queried_users_;  // device keys fetched (and not changed since, per device_lists)
  std::map<std::string, std::vector<std::function<void()>>> query_waiters_;  // user -> waiting on /keys/query
  std::map<std::string, std::vector<std::function<void()>>> claim_waiters_;  // user\ndevice -> /keys/claim
  std::map<std::string, TimeMs> unwedged_at_;  // user\ndevice -> when we last made a new session (bounded)
  // Per sender, messages held until its device keys are known (decrypted ones to verify, and everything after
  // them so the order holds). Bounded: kMaxHeldPerSender each, kMaxHeldSenders senders.
  struct Held {
    std::optional<crypto::OlmMachine::Decrypted> decrypted;
    proto::ToDeviceMessage plain;
  };
  std::map<std::string, std::deque<Held>> held_;
};

}  // namespace chorus::matrix
