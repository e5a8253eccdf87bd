#include "crypto/olm_machine.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace chorus::crypto {
namespace {

namespace json = boost::json;

// A tiny in-memory stand-in for the homeserver's key store: what each device uploaded.
struct KeyServer {
  json::object device_keys;  // user -> device -> keys
  json::object one_time;     // user -> device -> {key id -> key}
  json::object fallback;     // user -> device -> {key id -> key}

  void upload(OlmMachine& m, std::optional<std::int64_t> count = std::nullopt) {
    auto body = m.keysToUpload(count).value();
    ASSERT_TRUE(body.has_value());
    auto slot = [&](json::object& where) -> json::object& {
      auto& u = where[m.userId()];
      if (!u.is_object()) u = json::object{};
      auto& d = u.get_object()[m.deviceId()];
      if (!d.is_object()) d = json::object{};
      return d.get_object();
    };
    if (const auto* dk = body->if_contains("device_keys")) {
      auto& u = device_keys[m.userId()];
      if (!u.is_object()) u = json::object{};
      u.get_object()[m.deviceId()] = *dk;
    }
    if (const auto* o = body->if_contains("one_time_keys")) {
      for (const auto& kv : o->as_object()) slot(one_time)[kv.key()] = kv.value();
    }
    if (const auto* f = body->if_contains("fallback_keys")) {
      for (const auto& kv : f->as_object()) slot(fallback)[kv.key()] = kv.value();
    }
    m.keysUploaded();
  }
  json::object query() const { return json::object{{"device_keys", device_keys}}; }
  // Claims one key of (user, device): a one-time key (removed) or else the fallback key.
  json::object claim(const std::string& user, const std::string& device) {
    json::object key;
    auto take = [&](json::object& from) {
      auto* u = from.if_contains(user);
      auto* d = u ? u->as_object().if_contains(device) : nullptr;
      if (!d || d->as_object().empty()) return false;
      auto it = d->as_object().begin();
      key[it->key()] = it->value();
      if (&from == &one_time) d->as_object().erase(it);
      return true;
    };
    if (!take(one_time)) take(fallback);
    return json::object{{"one_time_keys", json::object{{user, json::object{{device, key}}}}}};
  }
};

struct Pair {
  std::unique_ptr<OlmMachine> alice = OlmMachine::create("@alice:hs", "ALICE").value();
  std::unique_ptr<OlmMachine> bob = OlmMachine::create("@bob:hs", "BOB").value();
  KeyServer server;
  Pair() {
    server.upload(*alice);
    server.upload(*bob);
    alice->addQueryResult(server.query());
    bob->addQueryResult(server.query());
  }
  void connect() { ASSERT_EQ(alice->addClaimResult(server.claim("@bob:hs", "BOB")), 1u); }
};

json::object invite() {
  return json::object{{"call_id", "c1"}, {"offer", json::object{{"type", "offer"}, {"sdp", "v=0"}}}};
}

TEST(CanonicalJson, SortsKeysWithoutWhitespace) {
  json::value v = json::parse(R"({"b":1,"a":{"d":[1,"x",{"z":true,"y":null}],"c":"é"}})");
  EXPECT_EQ(canonicalJson(v), R"({"a":{"c":"é","d":[1,"x",{"y":null,"z":true}]},"b":1})");
}

TEST(OlmMachineTest, UploadBodyIsSignedAndReplenishes) {
  auto m = OlmMachine::create("@a:hs", "DEV").value();
  auto body = m->keysToUpload(std::nullopt).value();
  ASSERT_TRUE(body.has_value());
  const auto& dk = body->at("device_keys").as_object();
  EXPECT_EQ(dk.at("algorithms").as_array().size(), 2u);
  EXPECT_EQ(dk.at("algorithms").as_array()[0].as_string(), kOlmAlgorithm);
  EXPECT_EQ(dk.at("keys").as_object().at("ed25519:DEV").as_string(), m->identityKeys().ed25519);
  json::object unsigned_dk = dk;
  unsigned_dk.erase("signatures");
  const auto sig = dk.at("signatures").at("@a:hs").at("ed25519:DEV").as_string();
  EXPECT_TRUE(verifyEd25519(m->identityKeys().ed25519, canonicalJson(unsigned_dk), sig).has_value());
  EXPECT_EQ(body->at("one_time_keys").as_object().size(), m->oneTimeKeyTarget());
  for (const auto& kv : body->at("one_time_keys").as_object()) {
    EXPECT_TRUE(std::string_view(kv.key()).starts_with("signed_curve25519:"));
  }
  ASSERT_EQ(body->at("fallback_keys").as_object().size(), 1u);
  EXPECT_TRUE(body->at("fallback_keys").as_object().begin()->value().at("fallback").as_bool());
  m->keysUploaded();
  // Nothing new while the server has enough; top-up to the target when it has fewer.
  EXPECT_FALSE(m->keysToUpload(static_cast<std::int64_t>(m->oneTimeKeyTarget())).value().has_value());
  EXPECT_FALSE(m->keysToUpload(std::nullopt).value().has_value());
  auto more = m->keysToUpload(static_cast<std::int64_t>(m->oneTimeKeyTarget()) - 7).value();
  ASSERT_TRUE(more.has_value());
  EXPECT_FALSE(more->contains("device_keys"));
  EXPECT_EQ(more->at("one_time_keys").as_object().size(), 7u);
  EXPECT_FALSE(more->contains("fallback_keys"));
  m->keysUploaded();
  // The fallback key was used: a new one.
  auto fb = m->keysToUpload(static_cast<std::int64_t>(m->oneTimeKeyTarget()), false).value();
  ASSERT_TRUE(fb.has_value());
  EXPECT_TRUE(fb->contains("fallback_keys"));
}

TEST(OlmMachineTest, TwoMachinesTalkBothWaysAndReuseSessions) {
  Pair p;
  p.connect();
  EXPECT_TRUE(p.alice->hasSession("@bob:hs", "BOB"));
  auto enc = p.alice->encrypt("@bob:hs", "BOB", "m.call.invite", invite());
  ASSERT_TRUE(enc.has_value()) << enc.error().toString();
  EXPECT_EQ(enc->at("algorithm").as_string(), kOlmAlgorithm);
  EXPECT_EQ(enc->at("sender_key").as_string(), p.alice->identityKeys().curve25519);
  const auto& entry = enc->at("ciphertext").at(p.bob->identityKeys().curve25519).as_object();
  EXPECT_EQ(entry.at("type").as_int64(), 0);  // pre-key until bob answers

  auto dec = p.bob->decrypt("@alice:hs", *enc);
  ASSERT_TRUE(dec.has_value()) << dec.error().toString();
  auto payload = p.bob->accept(std::move(*dec));
  ASSERT_TRUE(payload.has_value()) << payload.error().toString();
  EXPECT_EQ(payload->type, "m.call.invite");
  EXPECT_EQ(payload->sender, "@alice:hs");
  EXPECT_EQ(payload->sender_device, "ALICE");
  EXPECT_EQ(payload->content, invite());

  // Bob answers on the inbound session (no claim), alice decrypts on her outbound one.
  ASSERT_TRUE(p.bob->hasSession("@alice:hs", "ALICE"));
  auto answer = p.bob->encrypt("@alice:hs", "ALICE", "m.call.answer", json::object{{"call_id", "c1"}});
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->at("ciphertext").at(p.alice->identityKeys().curve25519).at("type").as_int64(), 1);
  auto back = p.alice->decrypt("@bob:hs", *answer);
  ASSERT_TRUE(back.has_value()) << back.error().toString();
  ASSERT_TRUE(p.alice->accept(std::move(*back)).has_value());

  // Many messages, still one session each.
  for (int i = 0; i < 20; ++i) {
    auto m = p.alice->encrypt("@bob:hs", "BOB", "m.call.candidates", json::object{{"i", i}});
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->at("ciphertext").at(p.bob->identityKeys().curve25519).at("type").as_int64(), 1);
    auto d = p.bob->decrypt("@alice:hs", *m);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(p.bob->accept(std::move(*d))->content.at("i").as_int64(), i);
  }
  EXPECT_EQ(p.alice->sessionCount(), 1u);
  EXPECT_EQ(p.bob->sessionCount(), 1u);
  EXPECT_EQ(p.alice->counters().olm_encrypted_sent, 21u);
  EXPECT_EQ(p.bob->counters().olm_decrypted, 21u);
  EXPECT_EQ(p.alice->counters().olm_decrypted, 1u);
  EXPECT_EQ(p.bob->counters().olm_failures, 0u);
  EXPECT_EQ(p.alice->counters().olm_failures, 0u);
}

TEST(OlmMachineTest, ReplayedTamperedAndMisaddressedAreCountedAndDropped) {
  Pair p;
  p.connect();
  auto enc = p.alice->encrypt("@bob:hs", "BOB", "m.call.invite", invite()).value();
  ASSERT_TRUE(p.bob->accept(p.bob->decrypt("@alice:hs", enc).value()).has_value());

  // Replay of the same message.
  auto replay = p.bob->decrypt("@alice:hs", enc);
  EXPECT_FALSE(replay.has_value());
  EXPECT_EQ(p.bob->counters().replayed, 1u);

  // Tampered body.
  auto next = p.alice->encrypt("@bob:hs", "BOB", "m.call.candidates", json::object{}).value();
  auto tampered = next;
  auto& body = tampered.at("ciphertext").at(p.bob->identityKeys().curve25519).as_object()["body"];
  std::string b(body.as_string());
  b[b.size() / 2] = b[b.size() / 2] == 'A' ? 'B' : 'A';
  body = b;
  EXPECT_FALSE(p.bob->decrypt("@alice:hs", tampered).has_value());
  EXPECT_EQ(p.bob->counters().undecryptable, 1u);
  // The genuine one still decrypts after the forgery (a failed decrypt leaves the session alone).
  EXPECT_TRUE(p.bob->decrypt("@alice:hs", next).has_value());

  // Claimed to come from someone else: the envelope sender is not the payload's sender.
  auto spoof = p.alice->encrypt("@bob:hs", "BOB", "m.call.hangup", json::object{}).value();
  EXPECT_FALSE(p.bob->decrypt("@mallory:hs", spoof).has_value());
  EXPECT_EQ(p.bob->counters().invalid_payload, 1u);

  // Not for us: a third device gets alice's message to bob.
  auto carol = OlmMachine::create("@bob:hs", "CAROL").value();
  auto other = p.alice->encrypt("@bob:hs", "BOB", "m.call.hangup", json::object{}).value();
  EXPECT_FALSE(carol->decrypt("@alice:hs", other).has_value());
  EXPECT_EQ(carol->counters().not_for_us, 1u);

  // Malformed envelopes.
  for (const char* bad :
       {R"({})", R"({"algorithm":"m.megolm.v1.aes-sha2"})",
        R"({"algorithm":"m.olm.v1.curve25519-aes-sha2","sender_key":"x","ciphertext":{}})"}) {
    EXPECT_FALSE(p.bob->decrypt("@alice:hs", json::parse(bad).as_object()).has_value()) << bad;
  }
  EXPECT_EQ(p.bob->counters().bad_envelope, 3u);
  EXPECT_EQ(p.bob->counters().olm_failures, 6u);
  EXPECT_EQ(p.bob->counters().olm_decrypted, 1u);
}

TEST(OlmMachineTest, SenderKeysAreCheckedAgainstTheDeviceList) {
  Pair p;
  // Mallory's device has keys of its own; she encrypts to bob claiming to be... herself but with alice's
  // ed25519 in `keys`: the device list says otherwise.
  auto mallory = OlmMachine::create("@mallory:hs", "M").value();
  p.server.upload(*mallory);
  p.bob->addQueryResult(p.server.query());
  mallory->addQueryResult(p.server.query());
  ASSERT_EQ(mallory->addClaimResult(p.server.claim("@bob:hs", "BOB")), 1u);
  auto enc = mallory->encrypt("@bob:hs", "BOB", "m.call.invite", invite()).value();
  auto dec = p.bob->decrypt("@mallory:hs", enc).value();
  dec.payload.sender_ed25519 = p.alice->identityKeys().ed25519;
  EXPECT_FALSE(p.bob->accept(dec).has_value());
  EXPECT_EQ(p.bob->counters().wrong_sender_keys, 1u);

  // A sender whose device keys bob never saw: NotFound, then dropped when they never come.
  auto stranger = OlmMachine::create("@stranger:hs", "S").value();
  stranger->addQueryResult(p.server.query());
  ASSERT_EQ(stranger->addClaimResult(p.server.claim("@bob:hs", "BOB")), 1u);
  auto from_stranger = stranger->encrypt("@bob:hs", "BOB", "m.call.invite", invite()).value();
  auto d2 = p.bob->decrypt("@stranger:hs", from_stranger).value();
  auto r = p.bob->accept(d2);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::NotFound);
  p.bob->rejectUnverified();
  EXPECT_EQ(p.bob->counters().olm_failures, 2u);
}

TEST(OlmMachineTest, QueryAndClaimRepliesAreVerified) {
  Pair p;
  // A forged device (signature by another key) and a changed key for a known device are refused.
  auto forged = p.server.query();
  auto& bob_keys = forged["device_keys"].as_object()["@bob:hs"].as_object()["BOB"].as_object();
  auto copy = bob_keys;
  copy["device_id"] = "OTHER";
  forged["device_keys"].as_object()["@bob:hs"].as_object()["OTHER"] = copy;
  auto& keys = bob_keys["keys"].as_object();
  keys["ed25519:BOB"] = p.alice->identityKeys().ed25519;
  auto c = OlmMachine::create("@c:hs", "C").value();
  EXPECT_EQ(c->addQueryResult(forged), 1u);  // alice only
  EXPECT_EQ(c->counters().device_keys_rejected, 2u);
  EXPECT_EQ(c->device("@bob:hs", "BOB"), nullptr);
  EXPECT_EQ(c->device("@bob:hs", "OTHER"), nullptr);
  EXPECT_EQ(c->addQueryResult(p.server.query()), 1u);  // now bob
  EXPECT_EQ(c->addQueryResult(forged), 0u);
  EXPECT_EQ(c->deviceCount(), 2u);
  EXPECT_EQ(c->device("@bob:hs", "BOB")->ed25519, p.bob->identityKeys().ed25519);

  // A one-time key whose signature does not verify gives no session.
  auto claim = p.server.claim("@bob:hs", "BOB");
  auto& k = claim["one_time_keys"].as_object()["@bob:hs"].as_object()["BOB"].as_object().begin()->value();
  k.as_object()["key"] = p.alice->identityKeys().curve25519;
  EXPECT_EQ(p.alice->addClaimResult(claim), 0u);
  EXPECT_EQ(p.alice->counters().claimed_keys_rejected, 1u);
  EXPECT_FALSE(p.alice->hasSession("@bob:hs", "BOB"));
  // Claims for devices we have no keys for are refused too.
  auto unknown = json::parse(R"({"one_time_keys":{"@x:hs":{"X":{"signed_curve25519:A":{"key":"k"}}}}})");
  EXPECT_EQ(p.alice->addClaimResult(unknown.as_object()), 0u);
}

TEST(OlmMachineTest, BoundsOnDevicesAndSessions) {
  OlmMachineConfig cfg;
  cfg.max_devices_per_user = 2;
  cfg.max_peers = 2;
  auto bob = OlmMachine::create("@bob:hs", "BOB", cfg).value();
  KeyServer server;
  server.upload(*bob);
  std::vector<std::unique_ptr<OlmMachine>> senders;
  for (int i = 0; i < 3; ++i) {
    senders.push_back(OlmMachine::create("@eve:hs", "E" + std::to_string(i)).value());
    server.upload(*senders.back());
  }
  EXPECT_EQ(bob->addQueryResult(server.query()), 2u);
  EXPECT_EQ(bob->counters().devices_over_limit, 1u);
  for (auto& s : senders) {
    s->addQueryResult(server.query());
    ASSERT_EQ(s->addClaimResult(server.claim("@bob:hs", "BOB")), 1u);
    auto enc = s->encrypt("@bob:hs", "BOB", "m.call.invite", invite()).value();
    ASSERT_TRUE(bob->decrypt("@eve:hs", enc).has_value());
  }
  EXPECT_EQ(bob->sessionCount(), 2u);
  EXPECT_EQ(bob->counters().sessions_evicted, 1u);
}

std::string tempDir() {
  std::string templ = (std::filesystem::temp_directory_path() / "chorus-olm-XXXXXX").string();
  return ::mkdtemp(templ.data());
}

TEST(OlmMachineTest, StateSurvivesARestartEncryptedAtRest) {
  const std::string dir = tempDir();
  const std::string key = loadOrCreateKeyFile(dir + "/olm.key").value();
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/olm.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(loadOrCreateKeyFile(dir + "/olm.key").value(), key);

  const std::string path = dir + "/olm.state";
  struct {
    std::unique_ptr<OlmMachine> alice = OlmMachine::create("@alice:hs", "ALICE").value();
    KeyServer server;
  } p;
  auto bob = OlmMachine::open(path, key, "@bob:hs", "BOB").value();
  p.server.upload(*p.alice);
  p.server.upload(*bob);
  p.alice->addQueryResult(p.server.query());
  bob->addQueryResult(p.server.query());
  ASSERT_EQ(p.alice->addClaimResult(p.server.claim("@bob:hs", "BOB")), 1u);
  auto first = p.alice->encrypt("@bob:hs", "BOB", "m.call.invite", invite()).value();
  ASSERT_TRUE(bob->accept(bob->decrypt("@alice:hs", first).value()).has_value());
  const auto ed = bob->identityKeys().ed25519;
  ASSERT_TRUE(bob->save().has_value());
  bob.reset();

  // Nothing readable on disk.
  std::ifstream in(path, std::ios::binary);
  std::string disk((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(disk.find("@alice:hs"), std::string::npos);
  EXPECT_EQ(disk.find(p.alice->identityKeys().curve25519), std::string::npos);

  // Wrong key, other device: refused.
  EXPECT_FALSE(OlmMachine::open(path, std::string(kStateKeyBytes, 'x'), "@bob:hs", "BOB").has_value());
  EXPECT_FALSE(OlmMachine::open(path, key, "@bob:hs", "OTHER").has_value());

  auto again = OlmMachine::open(path, key, "@bob:hs", "BOB").value();
  EXPECT_EQ(again->identityKeys().ed25519, ed);
  EXPECT_TRUE(again->deviceKeysUploaded());
  EXPECT_TRUE(again->hasSession("@alice:hs", "ALICE"));
  // The session continues: alice's next message decrypts, bob answers without a claim, and the replay of the
  // first message is still refused.
  auto second = p.alice->encrypt("@bob:hs", "BOB", "m.call.candidates", json::object{}).value();
  ASSERT_TRUE(again->accept(again->decrypt("@alice:hs", second).value()).has_value());
  EXPECT_FALSE(again->decrypt("@alice:hs", first).has_value());
  EXPECT_EQ(again->counters().replayed, 1u);
  auto answer = again->encrypt("@alice:hs", "ALICE", "m.call.answer", json::object{}).value();
  EXPECT_TRUE(p.alice->accept(p.alice->decrypt("@bob:hs", answer).value()).has_value());
  EXPECT_EQ(again->sessionCount(), 1u);
  std::filesystem::remove_all(dir);
}

TEST(OlmMachineTest, AWedgedSessionIsReplacedByANewOneAndAnMDummy) {
  const std::string dir = tempDir();
  const std::string key(kStateKeyBytes, 'k');
  const std::string path = dir + "/bob.state";
  KeyServer server;
  auto alice = OlmMachine::create("@alice:hs", "ALICE").value();
  auto bob = OlmMachine::open(path, key, "@bob:hs", "BOB").value();
  server.upload(*alice);
  server.upload(*bob);
  alice->addQueryResult(server.query());
  bob->addQueryResult(server.query());
  ASSERT_TRUE(bob->save().has_value());  // bob's "backup": alice's keys, no session yet

  ASSERT_EQ(alice->addClaimResult(server.claim("@bob:hs", "BOB")), 1u);
  auto first = alice->encrypt("@bob:hs", "BOB", "m.call.invite", invite()).value();
  ASSERT_TRUE(bob->accept(bob->decrypt("@alice:hs", first).value()).has_value());
  auto reply = bob->encrypt("@alice:hs", "ALICE", "m.call.answer", json::object{}).value();
  ASSERT_TRUE(alice->accept(alice->decrypt("@bob:hs", reply).value()).has_value());
  EXPECT_TRUE(bob->takeWedged().empty());

  // Bob comes back from the older state: alice's normal messages no longer decrypt; the device is wedged.
  bob.reset();
  bob = OlmMachine::open(path, key, "@bob:hs", "BOB").value();
  auto lost = alice->encrypt("@bob:hs", "BOB", "m.call.candidates", json::object{}).value();
  EXPECT_EQ(lost.at("ciphertext").at(bob->identityKeys().curve25519).at("type").as_int64(), 1);
  EXPECT_FALSE(bob->decrypt("@alice:hs", lost).has_value());
  auto wedged = bob->takeWedged();
  ASSERT_EQ(wedged.size(), 1u);
  EXPECT_EQ(wedged[0], std::make_pair(std::string("@alice:hs"), std::string("ALICE")));
  EXPECT_TRUE(bob->takeWedged().empty());

  // The remedy: a new session to alice and an m.dummy over it; alice's next message uses that session.
  ASSERT_EQ(bob->addClaimResult(server.claim("@alice:hs", "ALICE")), 1u);
  auto dummy = bob->encrypt("@alice:hs", "ALICE", "m.dummy", json::object{}).value();
  auto got = alice->accept(alice->decrypt("@bob:hs", dummy).value());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->type, "m.dummy");
  auto again = alice->encrypt("@bob:hs", "BOB", "m.call.candidates", json::object{{"n", 2}}).value();
  auto ok = bob->decrypt("@alice:hs", again);
  ASSERT_TRUE(ok.has_value()) << ok.error().toString();
  EXPECT_EQ(bob->accept(std::move(*ok))->content.at("n").as_int64(), 2);
  // A stranger's undecryptable messages (unknown device) never make a claim.
  auto eve = OlmMachine::create("@eve:hs", "EVE").value();
  json::object junk{{"algorithm", kOlmAlgorithm},
                    {"sender_key", eve->identityKeys().curve25519},
                    {"ciphertext", json::object{{bob->identityKeys().curve25519,
                                                 json::object{{"type", 1}, {"body", "AwogAAAA"}}}}}};
  EXPECT_FALSE(bob->decrypt("@eve:hs", junk).has_value());
  EXPECT_TRUE(bob->takeWedged().empty());
  std::filesystem::remove_all(dir);
}

TEST(OlmMachineTest, KeyFilesMustBePrivateAndPassphrasesDerive) {
  const std::string dir = tempDir();
  {
    std::ofstream f(dir + "/open.key");
    f << std::string(kStateKeyBytes, 'k');
  }
  ::chmod((dir + "/open.key").c_str(), 0644);
  EXPECT_FALSE(loadOrCreateKeyFile(dir + "/open.key").has_value());
  auto a = keyFromPassphrase("correct horse", "@a:hs", "D").value();
  EXPECT_EQ(a.size(), kStateKeyBytes);
  EXPECT_EQ(keyFromPassphrase("correct horse", "@a:hs", "D").value(), a);
  EXPECT_NE(keyFromPassphrase("correct horse", "@a:hs", "E").value(), a);
  EXPECT_FALSE(keyFromPassphrase("", "@a:hs", "D").has_value());
  std::filesystem::remove_all(dir);
}

TEST(ValidateOlmPayload, AppliesTheSpecChecks) {
  const std::string ed(43, 'A');
  const std::string theirs(43, 'B');
  auto make = [&](const char* recipient, const std::string& rk) {
    return json::serialize(json::object{{"type", "m.call.invite"},
                                        {"content", json::object{}},
                                        {"sender", "@a:hs"},
                                        {"sender_device", "DA"},
                                        {"recipient", recipient},
                                        {"recipient_keys", json::object{{"ed25519", rk}}},
                                        {"keys", json::object{{"ed25519", theirs}}}});
  };
  auto good = validateOlmPayload(make("@b:hs", ed), "@a:hs", "@b:hs", ed);
  ASSERT_TRUE(good.has_value());
  EXPECT_EQ(good->sender_device, "DA");
  EXPECT_EQ(good->sender_ed25519, theirs);
  EXPECT_FALSE(validateOlmPayload(make("@c:hs", ed), "@a:hs", "@b:hs", ed).has_value());
  EXPECT_FALSE(validateOlmPayload(make("@b:hs", theirs), "@a:hs", "@b:hs", ed).has_value());
  EXPECT_FALSE(validateOlmPayload(make("@b:hs", ed), "@x:hs", "@b:hs", ed).has_value());
  EXPECT_FALSE(validateOlmPayload("[]", "@a:hs", "@b:hs", ed).has_value());
  EXPECT_FALSE(validateOlmPayload("{", "@a:hs", "@b:hs", ed).has_value());
}

}  // namespace
}  // namespace chorus::crypto
