#include "focus/matrix_link.hpp"

#include <boost/json.hpp>

#include "base/log.hpp"

namespace chorus::focus {

namespace json = boost::json;

namespace {
constexpr const char* kMatrixLinkTag = "focus";
}  // namespace

MatrixLink::MatrixLink(matrix::EventLoop& loop, const ServiceOptions& options, Sink sink)
    : loop_(loop),
      client_(loop, options.homeserver),
      options_(options),
      sink_(std::move(sink)),
      to_device_(
          matrix::ToDeviceQueue::Limits{kMaxQueuedToDevice, kMaxQueuedToDeviceTotal},
          [this](const proto::SendToDevice& m,
                 std::function<void(Result<matrix::OlmChannel::Sealed>)> sealed) {
            if (!olm_) return sealed(matrix::OlmChannel::Sealed{m.type, m.content, false});
            // An error (the device has keys but no Olm session could be made): it gets nothing, not
            // plaintext.
            olm_->seal(m.user_id, m.device_id, m.type, m.content,
                       encryption_.shouldEncrypt(m.user_id, m.device_id, m.content), std::move(sealed));
          },
          client_,
          [this](const proto::SendToDevice& m, const Status& result) {
            if (!result) {
              CHORUS_LOG(Warn, kMatrixLinkTag,
                         "to-device " << m.type << " to " << m.user_id << "/" << m.device_id
                                      << " failed: " << result.error().message);
            }
            publishE2ee();
          }) {}

void MatrixLink::start() {
  if (!options_.access_token.empty()) {
    client_.setSession(options_.access_token, options_.user, options_.device_id);
    client_.whoami([this](Result<json::object> r) {
      if (!r) return sink_.fatal("whoami failed: " + r.error().message);
      std::string user = options_.user, device = options_.device_id;
      if (auto* u = r->if_contains("user_id"); u && u->is_string()) user = std::string(u->as_string());
      if (auto* d = r->if_contains("device_id"); d && d->is_string()) device = std::string(d->as_string());
      client_.setSession(options_.access_token, user, device);
      afterLogin();
    });
    return;
  }
  client_.login(options_.user, options_.password, options_.device_id, [this](Result<json::object> r) {
    if (!r) return sink_.fatal("login failed: " + r.error().message);
    afterLogin();
  });
}

void MatrixLink::stopSync() {
  if (sync_) sync_->stop();
}

void MatrixLink::joinRoom(const std::string& room_id) {
  client_.joinRoom(room_id, [room_id](Result<json::object> r) {
    if (!r) CHORUS_LOG(Warn, kMatrixLinkTag, "join " << room_id << " failed: " << r.error().message);
  });
}

void MatrixLink::sendToDevice(proto::SendToDevice a) {
  const std::string type = a.type;
  const std::string target = a.user_id + "/" + a.device_id;
  if (!to_device_.push(std::move(a))) {
    CHORUS_LOG(Warn, kMatrixLinkTag, "to-device queue full; dropping " << type << " to " << target);
  }
}

MatrixLink::E2ee MatrixLink::e2ee() const {
  std::lock_guard lock(e2ee_mutex_);
  return e2ee_;
}

void MatrixLink::afterLogin() {
  if (!options_.e2ee) {
    sink_.loggedIn(client_.userId(), client_.deviceId(), "");
    sync();
    return;
  }
  // An Olm device like `chorus call` (matrix::OlmChannel): keys go up before the first /sync and before we
  // report ready, so participants that look the focus up can encrypt to it.
  auto store =
      matrix::olmStoreIn(options_.data_dir, options_.olm_passphrase, client_.userId(), client_.deviceId());
  if (!store) return sink_.fatal("Olm state key: " + store.error().message);
  if (options_.data_dir.empty()) {
    CHORUS_LOG(Warn, kMatrixLinkTag,
               "no --data: the Olm account lives in memory, so a restart publishes new keys for device "
                   << client_.deviceId()
                   << ", which participants that saw the old ones refuse until they restart (docs/e2ee.md)");
  }
  auto channel = matrix::OlmChannel::open(
      key_transport_, clock_, client_.userId(), client_.deviceId(), *store,
      [this](proto::ToDeviceMessage m, bool encrypted) { onToDevice(std::move(m), encrypted); },
      kMatrixLinkTag);
  if (!channel) return sink_.fatal("Olm state: " + channel.error().message);
  olm_ = std::move(*channel);
  olm_->uploadKeys(std::nullopt, std::nullopt, [this] {
    publishE2ee();
    sink_.loggedIn(client_.userId(), client_.deviceId(), olm_->identityKeys().curve25519);
    sync();
  });
}

void MatrixLink::sync() {
  if (sync_) return;
  sync_ = std::make_unique<matrix::SyncLoop>(
      loop_, client_, matrix::SyncLoop::Config{30'000, 500, 10'000},
      [this] { return olm_ ? olm_->syncToken() : 0; },
      [this](const matrix::SyncBatch& b, std::uint64_t key_token) {
        publishSyncCounters();
        onBatch(b, key_token);
      },
      [this](const Error& error, bool, TimeMs retry_in_ms) {
        publishSyncCounters();
        CHORUS_LOG(Warn, kMatrixLinkTag,
                   "sync failed: " << error.message << "; retrying in " << retry_in_ms << " ms");
        return true;
      });
  sync_->start();
}

void MatrixLink::publishSyncCounters() {
  sync_events_skipped_ = sync_->eventsSkipped();
  sync_invalid_utf8_ = client_.invalidUtf8Sequences();
}

void MatrixLink::onBatch(const matrix::SyncBatch& b, std::uint64_t key_token) {
  for (const auto& room : b.invite) sink_.input(in::RoomInvite{room, ""});
  for (const auto& [room_id, room] : b.join) {
    if (joined_.insert(room_id).second) sink_.input(in::RoomJoined{room_id});
    trackEncryption(room_id, room.state);
    if (!room.state.empty()) sink_.input(in::RoomStateChanged{room_id, room.state});
  }
  for (const auto& room : b.leave) joined_.erase(room);
  if (olm_) olm_->onSync(b, key_token);
  for (const auto& m : b.to_device) {
    if (olm_) {
      olm_->incoming(m);  // decrypted (or plaintext) ones come back through onToDevice
    } else if (m.type != crypto::kEncryptedEventType) {
      onToDevice(m, false);
    }  // E2EE off: nothing we can read
  }
  if (olm_) olm_->afterSync();
  publishE2ee();
}

void MatrixLink::trackEncryption(const std::string& room_id, const std::vector<proto::StateEvent>& state) {
  if (encryption_.roomState(room_id, state)) {
    CHORUS_LOG(Info, kMatrixLinkTag,
               "room " << room_id << " is encrypted; call signalling "
                       << (olm_ ? "goes Olm-encrypted to devices with keys" : "stays plaintext (E2EE off)"));
  }
}

void MatrixLink::onToDevice(proto::ToDeviceMessage m, bool encrypted) {
  if (encrypted) {
    encryption_.receivedEncrypted(m.sender, m.content);
  } else {
    encryption_.receivedPlaintext(m.type, m.content);
  }
  sink_.input(in::ToDevice{std::move(m)});
}

void MatrixLink::publishE2ee() {
  E2ee e;
  e.enabled = olm_ != nullptr;
  e.counters.plaintext_in_encrypted_room = encryption_.plaintextInEncryptedRoom();
  if (olm_) e.counters.olm = olm_->counters();
  std::lock_guard lock(e2ee_mutex_);
  e2ee_ = e;
}

}  // namespace chorus::focus
