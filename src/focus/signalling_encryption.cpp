#include "focus/signalling_encryption.hpp"

#include "proto/event_types.hpp"

namespace chorus::focus {

namespace json = boost::json;

namespace {
std::string stringField(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}
}  // namespace

bool SignallingEncryption::roomState(const std::string& room_id,
                                     const std::vector<proto::StateEvent>& state) {
  bool newly = false;
  for (const auto& ev : state) {
    if (ev.type == "m.room.encryption" && ev.state_key.empty()) {
      const auto* alg = ev.content.if_contains("algorithm");
      if (alg && alg->is_string() && encrypted_rooms_.size() < kMaxRooms &&
          encrypted_rooms_.insert(room_id).second)
        newly = true;
    } else if (proto::isCallEventType(ev.type)) {
      auto it = conf_rooms_.find(ev.state_key);
      if (it == conf_rooms_.end()) {
        if (conf_rooms_.size() >= kMaxConfs) continue;
        it = conf_rooms_.emplace(ev.state_key, std::set<std::string>{}).first;
      }
      if (it->second.size() < kMaxRoomsPerConf) it->second.insert(room_id);
    }
  }
  return newly;
}

bool SignallingEncryption::inEncryptedRoom(const json::object& content) const {
  auto it = conf_rooms_.find(stringField(content, "conf_id"));
  if (it == conf_rooms_.end()) return false;
  for (const auto& room : it->second) {
    if (encrypted_rooms_.count(room)) return true;
  }
  return false;
}

void SignallingEncryption::receivedEncrypted(const std::string& sender, const json::object& content) {
  const std::string device = stringField(content, "device_id");
  if (device.empty() || olm_devices_.size() >= kMaxOlmDevices) return;
  olm_devices_.emplace(sender, device);
}

bool SignallingEncryption::receivedPlaintext(const std::string& type, const json::object& content) {
  if (type.rfind("m.call.", 0) != 0 || !inEncryptedRoom(content)) return false;
  ++plaintext_in_encrypted_room_;
  return true;
}

bool SignallingEncryption::shouldEncrypt(const std::string& user_id, const std::string& device_id,
                                         const json::object& content) const {
  return inEncryptedRoom(content) || olm_devices_.count({user_id, device_id}) != 0;
}

}  // namespace chorus::focus
