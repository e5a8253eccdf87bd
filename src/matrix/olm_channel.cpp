#include "matrix/olm_channel.hpp"

#include <sys/stat.h>

#include "base/log.hpp"
#include "matrix/client.hpp"

namespace chorus::matrix {

namespace json = boost::json;

namespace {
constexpr std::size_t kMaxHeldPerSender = 64;
constexpr std::size_t kMaxHeldSenders = 64;
constexpr std::uint64_t kMaxWarnings = 20;
constexpr std::size_t kMaxUnwedgeTable = 256;
// The spec: a new session and an m.dummy over it, at most once an hour per device (here: every 10 minutes),
// so a peer that sends junk cannot make us claim keys in a loop.
constexpr TimeMs kUnwedgeIntervalMs = 10 * 60 * 1000;

bool isCallType(std::string_view type) {
  return type.substr(0, 7) == "m.call.";
}
}  // namespace

// ---------------------------------------------------------------- transport and store

void ClientKeyTransport::keysUpload(json::object body, Reply cb) {
  client_.keysUpload(std::move(body), std::move(cb));
}
void ClientKeyTransport::keysQuery(json::object body, Reply cb) {
  client_.keysQuery(std::move(body), std::move(cb));
}
void ClientKeyTransport::keysClaim(json::object body, Reply cb) {
  client_.keysClaim(std::move(body), std::move(cb));
}
void ClientKeyTransport::sendToDevice(const std::string& type, json::object messages, Reply cb) {
  client_.sendToDevice(type, client_.newTxnId(), std::move(messages), std::move(cb));
}

Result<OlmStore> olmStoreIn(const std::string& data_dir, const std::string& passphrase,
                            const std::string& user_id, const std::string& device_id) {
  if (data_dir.empty()) return OlmStore{};
  ::mkdir(data_dir.c_str(), 0700);
  auto key = passphrase.empty() ? crypto::loadOrCreateKeyFile(data_dir + "/olm.key")
                                : crypto::keyFromPassphrase(passphrase, user_id, device_id);
  if (!key) return fail(key.error());
  std::string name = user_id + "_" + device_id;
  for (char& ch : name) {
    const bool safe = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                      ch == '-' || ch == '_' || ch == '.';
    if (!safe) ch = '_';
  }
  return OlmStore{data_dir + "/olm-" + name + ".state", std::move(*key)};
}

// ---------------------------------------------------------------- account

Result<std::unique_ptr<OlmChannel>> OlmChannel::open(KeyTransport& transport, const Clock& clock,
                                                     const std::string& user_id, const std::string& device_id,
                                                     const OlmStore& store, Deliver deliver,
                                                     std::string tag) {
  auto m = store.path.empty() ? crypto::OlmMachine::create(user_id, device_id)
                              : crypto::OlmMachine::open(store.path, store.key, user_id, device_id);
  if (!m) return fail(m.error());
  CHORUS_LOG(Info, tag,
             "Olm device keys: curve25519 " << (*m)->identityKeys().curve25519 << ", ed25519 "
                                            << (*m)->identityKeys().ed25519
                                            << (store.path.empty() ? " (in memory only)" : ""));
  return std::unique_ptr<OlmChannel>(
      new OlmChannel(transport, clock, std::move(*m), std::move(deliver), std::move(tag)));
}

OlmChannel::OlmChannel(KeyTransport& transport, const Clock& clock, std::unique_ptr<crypto::OlmMachine> olm,
                       Deliver deliver, std::string tag)
    : transport_(transport),
      clock_(clock),
      olm_(std::move(olm)),
      deliver_(std::move(deliver)),
      tag_(std::move(tag)) {}

OlmChannel::~OlmChannel() {
  persist();
}

bool OlmChannel::warn() {
  return warnings_++ < kMaxWarnings;
}

void OlmChannel::persist() {
  if (!olm_->dirty()) return;
  if (auto st = olm_->save(); !st && warn()) {
    CHORUS_LOG(Warn, tag_, "saving the Olm state failed: " << st.error().message);
  }
}

void E2eeCounters::addTo(boost::json::object& o) const {
  o["olm_decrypted"] = olm.olm_decrypted;
  o["olm_encrypted_sent"] = olm.olm_encrypted_sent;
  o["olm_failures"] = olm.olm_failures;
  o["plaintext_in_encrypted_room"] = plaintext_in_encrypted_room;
  o["plaintext_sent_in_encrypted_room"] = olm.plaintext_to_keyless;
  o["olm_sessions_created"] = olm.olm_sessions_created;
  o["olm_sessions_unwedged"] = olm.olm_sessions_unwedged;
}

OlmChannelCounters OlmChannel::counters() const {
  OlmChannelCounters c;
  c.olm_decrypted = olm_->counters().olm_decrypted;
  c.olm_encrypted_sent = olm_->counters().olm_encrypted_sent;
  c.olm_failures = olm_->counters().olm_failures;
  c.plaintext_to_keyless = plaintext_to_keyless_;
  c.olm_sessions_created = olm_->counters().sessions_outbound + olm_->counters().sessions_inbound;
  c.olm_sessions_unwedged = sessions_unwedged_;
  return c;
}

// ---------------------------------------------------------------- keys

void OlmChannel::uploadKeys(std::optional<std::int64_t> server_count, std::optional<bool> fallback_unused,
                            std::function<void()> then) {
  auto finish = [then] {
    if (then) then();
  };
  if (upload_in_flight_) return finish();
  auto body = olm_->keysToUpload(server_count, fallback_unused);
  persist();  // new private keys are on disk before their public halves leave
  if (!body || !*body) {
    if (!body) CHORUS_LOG(Warn, tag_, "building the key upload failed: " << body.error().message);
    return finish();
  }
  upload_in_flight_ = true;
  transport_.keysUpload(std::move(**body), [this, finish](Result<json::object> r) {
    upload_in_flight_ = false;
    ++upload_epoch_;
    if (r) {
      olm_->keysUploaded();
      persist();
    } else {
      CHORUS_LOG(Warn, tag_, "key upload failed: " << r.error().message);
    }
    finish();
  });
}

void OlmChannel::onSync(const SyncBatch& batch, std::uint64_t token) {
  for (const auto& u : batch.device_lists_changed) queried_users_.erase(u);
  const bool fresh = token == upload_epoch_ && !upload_in_flight_;
  if (fresh && (batch.one_time_key_count || batch.fallback_key_unused)) {
    uploadKeys(batch.one_time_key_count, batch.fallback_key_unused, nullptr);
  }
}

void OlmChannel::afterSync() {
  for (const auto& [user, device] : olm_->takeWedged()) unwedge(user, device);
  persist();
}

void OlmChannel::queryKeys(const std::string& user_id, std::function<void()> then) {
  auto& waiters = query_waiters_[user_id];
  waiters.push_back(std::move(then));
  if (waiters.size() > 1) return;  // one /keys/query per user at a time
  transport_.keysQuery(crypto::OlmMachine::keysQueryBody({user_id}), [this, user_id](Result<json::object> r) {
    if (r) {
      olm_->addQueryResult(*r);
      queried_users_.insert(user_id);
      persist();
    } else if (warn()) {
      CHORUS_LOG(Warn, tag_, "/keys/query for " << user_id << " failed: " << r.error().message);
    }
    auto w = std::move(query_waiters_[user_id]);
    query_waiters_.erase(user_id);
    for (auto& f : w) f();
  });
}

// ---------------------------------------------------------------- incoming

void OlmChannel::incoming(const proto::ToDeviceMessage& m) {
  if (m.type == crypto::kEncryptedEventType) {
    auto d = olm_->decrypt(m.sender, m.content);
    if (!d) {
      if (warn()) {
        CHORUS_LOG(Warn, tag_, "dropped m.room.encrypted from " << m.sender << ": " << d.error().message);
      }
      return;
    }
    if (auto h = held_.find(m.sender); h != held_.end()) {
      if (h->second.size() < kMaxHeldPerSender) {
        h->second.push_back(Held{std::move(*d), {}});
      } else {
        olm_->rejectUnverified();
      }
      return;
    }
    deliverDecrypted(std::move(*d));
    return;
  }
  if (auto h = held_.find(m.sender); h != held_.end()) {
    if (h->second.size() < kMaxHeldPerSender) h->second.push_back(Held{std::nullopt, m});
    return;
  }
  deliver_(m, false);
}

void OlmChannel::deliverDecrypted(crypto::OlmMachine::Decrypted d) {
  const std::string sender = d.payload.sender;
  auto r = olm_->accept(d);
  if (!r) {
    if (r.error().code != Code::NotFound) {
      if (warn()) CHORUS_LOG(Warn, tag_, "dropped Olm message from " << sender << ": " << r.error().message);
      return;
    }
    // The sender's device keys are not known yet: hold its messages (in order) and ask for them.
    if (held_.size() >= kMaxHeldSenders) {
      olm_->rejectUnverified();
      return;
    }
    held_[sender].push_back(Held{std::move(d), {}});
    queryKeys(sender, [this, sender] { releaseHeld(sender); });
    return;
  }
  if (!isCallType(r->type)) return;  // m.dummy and anything else that is not call signalling
  deliver_(proto::ToDeviceMessage{r->type, r->sender, std::move(r->content)}, true);
}

void OlmChannel::releaseHeld(const std::string& sender) {
  auto it = held_.find(sender);
  if (it == held_.end()) return;
  auto queue = std::move(it->second);
  held_.erase(it);
  for (auto& h : queue) {
    if (!h.decrypted) {
      deliver_(std::move(h.plain), false);
      continue;
    }
    auto r = olm_->accept(std::move(*h.decrypted));
    if (!r) {
      if (r.error().code == Code::NotFound) olm_->rejectUnverified();
      if (warn()) CHORUS_LOG(Warn, tag_, "dropped Olm message from " << sender << ": " << r.error().message);
      continue;
    }
    if (isCallType(r->type))
      deliver_(proto::ToDeviceMessage{r->type, r->sender, std::move(r->content)}, true);
  }
  persist();
}

void OlmChannel::unwedge(const std::string& user_id, const std::string& device_id) {
  const std::string key = user_id + "\n" + device_id;
  const TimeMs now = clock_.nowMs();
  if (auto it = unwedged_at_.find(key); it != unwedged_at_.end() && now - it->second < kUnwedgeIntervalMs)
    return;
  if (unwedged_at_.size() >= kMaxUnwedgeTable) {
    for (auto it = unwedged_at_.begin(); it != unwedged_at_.end();) {
      it = now - it->second >= kUnwedgeIntervalMs ? unwedged_at_.erase(it) : std::next(it);
    }
    if (unwedged_at_.size() >= kMaxUnwedgeTable) return;
  }
  unwedged_at_[key] = now;
  CHORUS_LOG(Info, tag_,
             "Olm session with " << user_id << " " << device_id << " is wedged; making a new one");
  transport_.keysClaim(crypto::OlmMachine::keysClaimBody({{user_id, device_id}}),
                       [this, user_id, device_id](Result<json::object> r) {
                         if (!r || olm_->addClaimResult(*r) == 0) {
                           CHORUS_LOG(Warn, tag_, "could not make a new Olm session with " << device_id);
                           return;
                         }
                         auto dummy = olm_->encrypt(user_id, device_id, "m.dummy", json::object{});
                         persist();
                         if (!dummy) return;
                         ++sessions_unwedged_;
                         json::object messages{{user_id, json::object{{device_id, std::move(*dummy)}}}};
                         transport_.sendToDevice(std::string(crypto::kEncryptedEventType),
                                                 std::move(messages), [](Result<json::object>) {});
                       });
}

// ---------------------------------------------------------------- outgoing

void OlmChannel::prepare(const std::string& user_id, const std::string& device_id,
                         std::function<void(Route)> then) {
  if (olm_->hasSession(user_id, device_id)) return then(Route::Encrypt);
  auto after_query = [this, user_id, device_id, then] {
    if (!olm_->device(user_id, device_id)) return then(Route::Plaintext);  // publishes no keys
    if (olm_->hasSession(user_id, device_id)) return then(Route::Encrypt);
    const std::string key = user_id + "\n" + device_id;
    auto& waiters = claim_waiters_[key];
    waiters.push_back([this, user_id, device_id, then] {
      then(olm_->hasSession(user_id, device_id) ? Route::Encrypt : Route::Fail);
    });
    if (waiters.size() > 1) return;
    transport_.keysClaim(crypto::OlmMachine::keysClaimBody({{user_id, device_id}}),
                         [this, key, device_id](Result<json::object> r) {
                           if (r) {
                             if (olm_->addClaimResult(*r) == 0 && warn()) {
                               CHORUS_LOG(Warn, tag_, "/keys/claim gave no usable key for " << device_id);
                             }
                             persist();
                           } else if (warn()) {
                             CHORUS_LOG(Warn, tag_, "/keys/claim failed: " << r.error().message);
                           }
                           auto w = std::move(claim_waiters_[key]);
                           claim_waiters_.erase(key);
                           for (auto& f : w) f();
                         });
  };
  // A device unknown after a fresh query publishes no keys; device_lists.changed makes the query stale again.
  if (!queried_users_.count(user_id)) return queryKeys(user_id, std::move(after_query));
  after_query();
}

void OlmChannel::seal(const std::string& user_id, const std::string& device_id, const std::string& type,
                      const json::object& content, bool encrypt, std::function<void(Result<Sealed>)> then) {
  if (!encrypt) return then(Sealed{type, content, false});
  prepare(user_id, device_id, [this, user_id, device_id, type, content, then](Route route) {
    if (route == Route::Plaintext) {
      ++plaintext_to_keyless_;
      return then(Sealed{type, content, false});
    }
    if (route == Route::Fail) {
      // The device publishes keys but no session could be made: never fall back to plaintext for it.
      return then(fail(Code::FailedPrecondition, "no Olm session with " + user_id + " " + device_id));
    }
    auto enc = olm_->encrypt(user_id, device_id, type, content);
    persist();
    if (!enc) {
      CHORUS_LOG(Warn, tag_, "Olm encryption to " << device_id << " failed: " << enc.error().message);
      return then(fail(enc.error()));
    }
    then(Sealed{std::string(crypto::kEncryptedEventType), std::move(*enc), true});
  });
}

}  // namespace chorus::matrix
