#include "matrix/olm_channel.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace chorus::matrix {
namespace {

namespace json = boost::json;

// An in-memory homeserver for the key endpoints and to-device: replies are queued until pump(), so the tests
// control when a /keys/query answers (messages are held meanwhile).
struct FakeHs {
  json::object device_keys;  // user -> device -> keys
  json::object one_time;     // user -> device -> {key id -> key}
  json::object fallback;     // user -> device -> {key id -> key}
  std::deque<std::function<void()>> pending;
  std::map<std::string, std::vector<proto::ToDeviceMessage>> inbox;  // "user device" -> messages
  int queries{0};
  int claims{0};

  static json::object& slot(json::object& where, const std::string& user, const std::string& device) {
    auto& u = where[user];
    if (!u.is_object()) u = json::object{};
    auto& d = u.get_object()[device];
    if (!d.is_object()) d = json::object{};
    return d.get_object();
  }
  void pump() {
    while (!pending.empty()) {
      auto f = std::move(pending.front());
      pending.pop_front();
      f();
    }
  }
  std::vector<proto::ToDeviceMessage> take(const std::string& user, const std::string& device) {
    auto m = std::move(inbox[user + " " + device]);
    inbox.erase(user + " " + device);
    return m;
  }
  void forgetKeys(const std::string& user, const std::string& device) {
    slot(one_time, user, device).clear();
    slot(fallback, user, device).clear();
  }
};

class FakeTransport final : public KeyTransport {
 public:
  FakeTransport(FakeHs& hs, std::string user, std::string device)
      : hs_(hs), user_(std::move(user)), device_(std::move(device)) {}
  void keysUpload(json::object body, Reply cb) override {
    if (const auto* dk = body.if_contains("device_keys"))
      FakeHs::slot(hs_.device_keys, user_, device_) = dk->as_object();
    if (const auto* o = body.if_contains("one_time_keys")) {
      for (const auto& kv : o->as_object()) FakeHs::slot(hs_.one_time, user_, device_)[kv.key()] = kv.value();
    }
    if (const auto* f = body.if_contains("fallback_keys")) {
      for (const auto& kv : f->as_object()) FakeHs::slot(hs_.fallback, user_, device_)[kv.key()] = kv.value();
    }
    const auto n = static_cast<std::int64_t>(FakeHs::slot(hs_.one_time, user_, device_).size());
    hs_.pending.push_back([cb, n] { cb(json::object{{"one_time_key_counts", {{"signed_curve25519", n}}}}); });
  }
  void keysQuery(json::object body, Reply cb) override {
    ++hs_.queries;
    json::object out;
    for (const auto& kv : body.at("device_keys").as_object()) {
      if (const auto* u = hs_.device_keys.if_contains(kv.key())) out[kv.key()] = *u;
    }
    hs_.pending.push_back([cb, out] { cb(json::object{{"device_keys", out}}); });
  }
  void keysClaim(json::object body, Reply cb) override {
    ++hs_.claims;
    json::object reply;
    for (const auto& u : body.at("one_time_keys").as_object()) {
      for (const auto& d : u.value().as_object()) {
        const std::string user(u.key()), device(d.key());
        json::object key;
        auto take = [&](json::object& from, bool remove) {
          auto& keys = FakeHs::slot(from, user, device);
          if (keys.empty()) return false;
          auto it = keys.begin();
          key[it->key()] = it->value();
          if (remove) keys.erase(it);
          return true;
        };
        if (!take(hs_.one_time, true)) take(hs_.fallback, false);
        if (!key.empty()) FakeHs::slot(reply, user, device) = key;
      }
    }
    hs_.pending.push_back([cb, reply] { cb(json::object{{"one_time_keys", reply}}); });
  }
  void sendToDevice(const std::string& type, json::object messages, Reply cb) override {
    for (const auto& u : messages) {
      for (const auto& d : u.value().as_object()) {
        hs_.inbox[std::string(u.key()) + " " + std::string(d.key())].push_back(
            proto::ToDeviceMessage{type, user_, d.value().as_object()});
      }
    }
    hs_.pending.push_back([cb] { cb(json::object{}); });
  }

 private:
  FakeHs& hs_;
  std::string user_;
  std::string device_;
};

struct Received {
  proto::ToDeviceMessage message;
  bool encrypted;
};

// One device: its transport, its channel and what the channel delivered.
struct Device {
  std::string user;
  std::string device;
  FakeTransport transport;
  std::vector<Received> got;
  std::unique_ptr<OlmChannel> channel;

  Device(FakeHs& hs, const Clock& clock, std::string u, std::string d, const OlmStore& store = {})
      : user(std::move(u)), device(std::move(d)), transport(hs, user, device) {
    channel =
        OlmChannel::open(transport, clock, user, device, store, [this](proto::ToDeviceMessage m, bool enc) {
          got.push_back({std::move(m), enc});
        }).value();
  }
  // Sends {type, content} to another device the way a caller does: seal, then /sendToDevice.
  Result<OlmChannel::Sealed> send(FakeHs& hs, const Device& to, const std::string& type,
                                  const json::object& content, bool encrypt) {
    std::optional<Result<OlmChannel::Sealed>> result;
    channel->seal(to.user, to.device, type, content, encrypt,
                  [&](Result<OlmChannel::Sealed> s) { result = std::move(s); });
    hs.pump();
    EXPECT_TRUE(result.has_value());
    if (*result) {
      transport.sendToDevice((*result)->type,
                             json::object{{to.user, json::object{{to.device, (*result)->content}}}},
                             [](Result<json::object>) {});
      hs.pump();
    }
    return std::move(*result);
  }
  void receive(FakeHs& hs) {
    for (const auto& m : hs.take(user, device)) channel->incoming(m);
    hs.pump();
    channel->afterSync();
  }
};

json::object invite(const std::string& call_id) {
  return json::object{
      {"call_id", call_id}, {"conf_id", "conf"}, {"offer", json::object{{"type", "offer"}, {"sdp", "v=0"}}}};
}

struct OlmChannelTest : ::testing::Test {
  FakeHs hs;
  FakeClock clock;
  Device alice{hs, clock, "@alice:hs", "ALICE"};
  Device bob{hs, clock, "@bob:hs", "BOB"};
  void SetUp() override {
    bool a = false, b = false;
    alice.channel->uploadKeys(std::nullopt, std::nullopt, [&] { a = true; });
    bob.channel->uploadKeys(std::nullopt, std::nullopt, [&] { b = true; });
    hs.pump();
    ASSERT_TRUE(a && b);
  }
};

TEST_F(OlmChannelTest, CallSignallingGoesOverOlmBothWaysAndSessionsAreReused) {
  auto sealed = alice.send(hs, bob, "m.call.invite", invite("c1"), true);
  ASSERT_TRUE(sealed.has_value());
  EXPECT_TRUE(sealed->encrypted);
  EXPECT_EQ(sealed->type, "m.room.encrypted");
  EXPECT_EQ(hs.queries, 1);
  EXPECT_EQ(hs.claims, 1);
  bob.receive(hs);  // bob queries alice's keys before it accepts the payload
  ASSERT_EQ(bob.got.size(), 1u);
  EXPECT_TRUE(bob.got[0].encrypted);
  EXPECT_EQ(bob.got[0].message.type, "m.call.invite");
  EXPECT_EQ(bob.got[0].message.sender, "@alice:hs");
  EXPECT_EQ(bob.got[0].message.content.at("call_id").as_string(), "c1");

  // Bob answers over the session alice's pre-key message made: no claim.
  auto answer = bob.send(hs, alice, "m.call.answer", json::object{{"call_id", "c1"}}, true);
  ASSERT_TRUE(answer.has_value());
  EXPECT_TRUE(answer->encrypted);
  EXPECT_EQ(hs.claims, 1);
  alice.receive(hs);
  ASSERT_EQ(alice.got.size(), 1u);
  EXPECT_TRUE(alice.got[0].encrypted);
  EXPECT_EQ(alice.got[0].message.type, "m.call.answer");

  // More messages reuse the sessions.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(alice.send(hs, bob, "m.call.candidates", invite("c1"), true));
  bob.receive(hs);
  EXPECT_EQ(bob.got.size(), 4u);
  EXPECT_EQ(hs.claims, 1);
  EXPECT_EQ(alice.channel->counters().olm_encrypted_sent, 4u);
  EXPECT_EQ(bob.channel->counters().olm_decrypted, 4u);
  EXPECT_EQ(bob.channel->counters().olm_failures, 0u);
  EXPECT_EQ(alice.channel->counters().olm_sessions_created + bob.channel->counters().olm_sessions_created,
            2u);
}

TEST_F(OlmChannelTest, PlaintextToDevicesWithoutKeysAndWhenNotAskedToEncrypt) {
  FakeClock clock2;
  Device keyless{hs, clock2, "@focus:hs", "FOCUS"};  // never uploads keys
  auto s = alice.send(hs, keyless, "m.call.invite", invite("c1"), true);
  ASSERT_TRUE(s.has_value());
  EXPECT_FALSE(s->encrypted);
  EXPECT_EQ(s->type, "m.call.invite");
  EXPECT_EQ(alice.channel->counters().plaintext_to_keyless, 1u);
  auto p = alice.send(hs, bob, "m.call.invite", invite("c2"), false);
  ASSERT_TRUE(p.has_value());
  EXPECT_FALSE(p->encrypted);
  EXPECT_EQ(alice.channel->counters().plaintext_to_keyless, 1u);
  EXPECT_EQ(alice.channel->counters().olm_encrypted_sent, 0u);
  // Plaintext arrives as it came, marked as not encrypted.
  bob.receive(hs);
  ASSERT_EQ(bob.got.size(), 1u);
  EXPECT_FALSE(bob.got[0].encrypted);
  EXPECT_EQ(bob.got[0].message.content.at("call_id").as_string(), "c2");
}

TEST_F(OlmChannelTest, ADeviceWithKeysButNoClaimableKeyGetsNothing) {
  hs.forgetKeys("@bob:hs", "BOB");
  auto s = alice.send(hs, bob, "m.call.invite", invite("c1"), true);
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, Code::FailedPrecondition);
  EXPECT_TRUE(hs.take("@bob:hs", "BOB").empty());
}

TEST_F(OlmChannelTest, MessagesOfASenderAreHeldInOrderWhileItsKeysAreQueried) {
  std::optional<Result<OlmChannel::Sealed>> sealed;
  alice.channel->seal("@bob:hs", "BOB", "m.call.invite", invite("c1"), true,
                      [&](Result<OlmChannel::Sealed> r) { sealed = std::move(r); });
  hs.pump();
  ASSERT_TRUE(sealed && *sealed);
  // The encrypted invite, then a plaintext hangup, then a non-call Olm payload (dropped).
  bob.channel->incoming({"m.room.encrypted", "@alice:hs", (*sealed)->content});
  EXPECT_TRUE(bob.got.empty());  // held: alice's device keys are being queried
  bob.channel->incoming({"m.call.hangup", "@alice:hs", json::object{{"call_id", "c1"}}});
  EXPECT_TRUE(bob.got.empty());
  std::optional<Result<OlmChannel::Sealed>> dummy;
  alice.channel->seal("@bob:hs", "BOB", "m.dummy", json::object{}, true,
                      [&](Result<OlmChannel::Sealed> r) { dummy = std::move(r); });
  ASSERT_TRUE(dummy && *dummy);
  bob.channel->incoming({"m.room.encrypted", "@alice:hs", (*dummy)->content});
  hs.pump();
  ASSERT_EQ(bob.got.size(), 2u);
  EXPECT_EQ(bob.got[0].message.type, "m.call.invite");
  EXPECT_TRUE(bob.got[0].encrypted);
  EXPECT_EQ(bob.got[1].message.type, "m.call.hangup");
  EXPECT_FALSE(bob.got[1].encrypted);
  EXPECT_EQ(bob.channel->counters().olm_decrypted, 2u);  // the m.dummy was decrypted, just not handed on
  EXPECT_EQ(hs.queries, 2);                              // alice's for bob, bob's for alice
}

TEST_F(OlmChannelTest, MalformedAndSpoofedCiphertextsAreCountedAndDropped) {
  const std::vector<json::object> junk = {
      json::object{},
      json::object{{"algorithm", "m.olm.v1.curve25519-aes-sha2"}},
      json::object{{"algorithm", "m.olm.v1.curve25519-aes-sha2"}, {"sender_key", 5}, {"ciphertext", "x"}},
      json::object{{"algorithm", "m.olm.v1.curve25519-aes-sha2"},
                   {"sender_key", alice.channel->identityKeys().curve25519},
                   {"ciphertext", json::object{{bob.channel->identityKeys().curve25519,
                                                json::object{{"type", 0}, {"body", "AAAAnot-olm"}}}}}},
      json::object{{"algorithm", "m.megolm.v1.aes-sha2"}, {"ciphertext", "abc"}},
  };
  for (const auto& c : junk) bob.channel->incoming({"m.room.encrypted", "@alice:hs", c});
  hs.pump();
  EXPECT_TRUE(bob.got.empty());
  EXPECT_EQ(bob.channel->counters().olm_failures, junk.size());
  // A real message relayed with a forged sender is refused too (the payload names alice).
  auto s = alice.send(hs, bob, "m.call.invite", invite("c1"), true);
  ASSERT_TRUE(s.has_value());
  auto msgs = hs.take("@bob:hs", "BOB");
  ASSERT_EQ(msgs.size(), 1u);
  bob.channel->incoming({"m.room.encrypted", "@mallory:hs", msgs[0].content});
  hs.pump();
  EXPECT_TRUE(bob.got.empty());
  EXPECT_EQ(bob.channel->counters().olm_failures, junk.size() + 1);
}

std::string tempDir() {
  std::string t = (std::filesystem::temp_directory_path() / "chorus-olm-channel-XXXXXX").string();
  return ::mkdtemp(t.data());
}

TEST(OlmChannelStore, ARestartKeepsTheIdentityKeysEncryptedAtRest) {
  const std::string dir = tempDir() + "/data";  // created by olmStoreIn
  FakeHs hs;
  FakeClock clock;
  auto store = olmStoreIn(dir, "", "@focus:hs", "FOCUS/1").value();
  EXPECT_EQ(store.path, dir + "/olm-_focus_hs_FOCUS_1.state");
  EXPECT_EQ(store.key.size(), crypto::kStateKeyBytes);
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/olm.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
  std::string curve;
  {
    Device focus{hs, clock, "@focus:hs", "FOCUS/1", store};
    curve = focus.channel->identityKeys().curve25519;
    focus.channel->uploadKeys(std::nullopt, std::nullopt, nullptr);
    hs.pump();
  }
  ASSERT_TRUE(std::filesystem::exists(store.path));
  std::ifstream in(store.path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.find(curve), std::string::npos);  // nothing readable on disk
  // Same key file: the same account, nothing new to upload.
  auto again = olmStoreIn(dir, "", "@focus:hs", "FOCUS/1").value();
  EXPECT_EQ(again.key, store.key);
  Device focus{hs, clock, "@focus:hs", "FOCUS/1", again};
  EXPECT_EQ(focus.channel->identityKeys().curve25519, curve);
  EXPECT_TRUE(focus.channel->machine().deviceKeysUploaded());
  // A passphrase gives another key, which does not open that state.
  auto other = olmStoreIn(dir, "not the key file", "@focus:hs", "FOCUS/1").value();
  EXPECT_NE(other.key, store.key);
  FakeTransport t(hs, "@focus:hs", "FOCUS/1");
  EXPECT_FALSE(OlmChannel::open(t, clock, "@focus:hs", "FOCUS/1", other, [](proto::ToDeviceMessage, bool) {
               }).has_value());
  std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
}

}  // namespace
}  // namespace chorus::matrix
