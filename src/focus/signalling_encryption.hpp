#pragma once
// focus::SignallingEncryption: which of the focus's call messages go Olm-encrypted (issue #13, docs/e2ee.md),
// sans-IO. The focus serves many rooms and a to-device message names no room, so a message belongs to the
// rooms whose m.call state has its conf_id. A reply goes encrypted (to a device that publishes keys;
// matrix::OlmChannel decides that part) when one of those rooms has m.room.encryption, or when the target
// device itself sent the focus Olm-encrypted call signalling (a conference of a room the focus has not
// joined, or state not seen yet). Incoming plaintext m.call.* of such a conference counts as plaintext in an
// encrypted room. Bounded: kMaxConfs conf ids (kMaxRoomsPerConf rooms each), kMaxRooms encrypted rooms,
// kMaxOlmDevices devices.
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "proto/room_events.hpp"

namespace chorus::focus {

class SignallingEncryption {
 public:
  static constexpr std::size_t kMaxConfs = 65536;
  static constexpr std::size_t kMaxRoomsPerConf = 16;
  static constexpr std::size_t kMaxRooms = 65536;
  static constexpr std::size_t kMaxOlmDevices = 4096;

  // State events of a joined room (in order). True when this made the room encrypted (once encrypted, always:
  // the spec says clients ignore attempts to turn it off).
  bool roomState(const std::string& room_id, const std::vector<proto::StateEvent>& state);
  bool roomEncrypted(const std::string& room_id) const { return encrypted_rooms_.count(room_id) != 0; }
  // Whether a call message (its content's conf_id) belongs to an encrypted room.
  bool inEncryptedRoom(const boost::json::object& content) const;
  // A call message that arrived Olm-encrypted from `sender` (its content's device_id).
  void receivedEncrypted(const std::string& sender, const boost::json::object& content);
  // A plaintext call message that arrived: true (and counted) when it belongs to an encrypted room.
  bool receivedPlaintext(const std::string& type, const boost::json::object& content);
  // Whether {content} to (user_id, device_id) should go Olm-encrypted.
  bool shouldEncrypt(const std::string& user_id, const std::string& device_id,
                     const boost::json::object& content) const;
  std::uint64_t plaintextInEncryptedRoom() const { return plaintext_in_encrypted_room_; }

 private:
  std::set<std::string> encrypted_rooms_;
  std::map<std::string, std::set<std::string>> conf_rooms_;  // conf_id -> rooms whose m.call state has it
  std::set<std::pair<std::string, std::string>> olm_devices_;
  std::uint64_t plaintext_in_encrypted_room_{0};
};

}  // namespace chorus::focus
