#include "focus/signalling_encryption.hpp"

#include <gtest/gtest.h>

namespace chorus::focus {
namespace {

namespace json = boost::json;

proto::StateEvent ev(std::string type, std::string state_key, json::object content) {
  proto::StateEvent e;
  e.type = std::move(type);
  e.state_key = std::move(state_key);
  e.content = std::move(content);
  return e;
}

proto::StateEvent encryption() {
  return ev("m.room.encryption", "", json::object{{"algorithm", "m.megolm.v1.aes-sha2"}});
}

proto::StateEvent call(const std::string& conf) {
  return ev("org.matrix.msc3401.call", conf, json::object{{"m.intent", "m.room"}, {"m.type", "m.video"}});
}

json::object msg(const std::string& conf, const std::string& device = "DEV") {
  return json::object{{"conf_id", conf}, {"device_id", device}, {"call_id", "c"}};
}

TEST(SignallingEncryption, RepliesAreEncryptedInEncryptedRoomsOnly) {
  SignallingEncryption e;
  EXPECT_FALSE(e.roomState("!plain:hs", {call("conf-plain")}));
  EXPECT_TRUE(e.roomState("!secret:hs", {call("conf-secret"), encryption()}));
  EXPECT_FALSE(e.roomState("!secret:hs", {encryption()}));  // already encrypted
  EXPECT_TRUE(e.roomEncrypted("!secret:hs"));
  EXPECT_FALSE(e.roomEncrypted("!plain:hs"));
  EXPECT_TRUE(e.shouldEncrypt("@a:hs", "DEV", msg("conf-secret")));
  EXPECT_FALSE(e.shouldEncrypt("@a:hs", "DEV", msg("conf-plain")));
  EXPECT_FALSE(e.shouldEncrypt("@a:hs", "DEV", msg("unknown")));
  EXPECT_FALSE(e.shouldEncrypt("@a:hs", "DEV", json::object{{"conf_id", 5}}));
  // The stable m.call type too; a conf id in both kinds of room counts as encrypted.
  e.roomState("!plain:hs", {ev("m.call", "conf-secret", {})});
  EXPECT_TRUE(e.shouldEncrypt("@a:hs", "DEV", msg("conf-secret")));
  // An m.room.encryption without a string algorithm, or with a state key, does not count.
  EXPECT_FALSE(
      e.roomState("!plain:hs", {ev("m.room.encryption", "", {{"algorithm", 1}}),
                                ev("m.room.encryption", "x", {{"algorithm", "m.megolm.v1.aes-sha2"}})}));
  EXPECT_FALSE(e.shouldEncrypt("@a:hs", "DEV", msg("conf-plain")));
  // Once encrypted, always: a later event without algorithm does not turn it off.
  e.roomState("!secret:hs", {ev("m.room.encryption", "", {})});
  EXPECT_TRUE(e.roomEncrypted("!secret:hs"));
}

TEST(SignallingEncryption, DevicesThatSpeakOlmGetOlm) {
  SignallingEncryption e;
  EXPECT_FALSE(e.shouldEncrypt("@a:hs", "DEV", msg("unjoined")));
  e.receivedEncrypted("@a:hs", msg("unjoined", "DEV"));
  EXPECT_TRUE(e.shouldEncrypt("@a:hs", "DEV", msg("unjoined")));
  EXPECT_FALSE(e.shouldEncrypt("@a:hs", "OTHER", msg("unjoined")));
  EXPECT_FALSE(e.shouldEncrypt("@b:hs", "DEV", msg("unjoined")));
  e.receivedEncrypted("@c:hs", json::object{{"device_id", 7}});  // ignored
  EXPECT_FALSE(e.shouldEncrypt("@c:hs", "7", msg("unjoined")));
}

TEST(SignallingEncryption, PlaintextCallMessagesInEncryptedRoomsAreCounted) {
  SignallingEncryption e;
  e.roomState("!secret:hs", {encryption(), call("conf")});
  e.roomState("!plain:hs", {call("other")});
  EXPECT_TRUE(e.receivedPlaintext("m.call.invite", msg("conf")));
  EXPECT_FALSE(e.receivedPlaintext("m.call.invite", msg("other")));
  EXPECT_FALSE(e.receivedPlaintext("m.room_key_request", msg("conf")));
  EXPECT_FALSE(e.receivedPlaintext("m.call.candidates", json::object{}));
  EXPECT_EQ(e.plaintextInEncryptedRoom(), 1u);
}

TEST(SignallingEncryption, Bounded) {
  SignallingEncryption e;
  for (std::size_t i = 0; i < SignallingEncryption::kMaxOlmDevices + 10; ++i)
    e.receivedEncrypted("@u:hs", msg("c", "D" + std::to_string(i)));
  EXPECT_TRUE(e.shouldEncrypt("@u:hs", "D0", msg("c")));
  EXPECT_FALSE(
      e.shouldEncrypt("@u:hs", "D" + std::to_string(SignallingEncryption::kMaxOlmDevices + 5), msg("c")));
  for (std::size_t i = 0; i < SignallingEncryption::kMaxRoomsPerConf + 4; ++i) {
    e.roomState("!r" + std::to_string(i) + ":hs", {call("busy")});
  }
  // Only the first kMaxRoomsPerConf rooms are kept for one conf id: a later encrypted one is not seen through
  // it.
  e.roomState("!r" + std::to_string(SignallingEncryption::kMaxRoomsPerConf + 2) + ":hs", {encryption()});
  EXPECT_FALSE(e.shouldEncrypt("@x:hs", "X", msg("busy")));
  e.roomState("!r0:hs", {encryption()});
  EXPECT_TRUE(e.shouldEncrypt("@x:hs", "X", msg("busy")));
}

}  // namespace
}  // namespace chorus::focus
