// End-to-end encryption endpoints of `chorus hs` over real HTTP (issue #13): /keys/upload, /keys/query,
// /keys/claim, /keys/changes, device_lists and key counts in /sync, device management with user-interactive
// auth, m.room.encrypted to-device, bounds and bad input, and kill -9 durability of the real binary.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "hs_fixture.hpp"
#include "hs_process.hpp"

namespace chorus::hs::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

json::object deviceKeys(const User& u, const std::string& ed = "ED", const std::string& curve = "CURVE") {
  return json::object{
      {"user_id", u.user_id},
      {"device_id", u.device_id},
      {"algorithms", json::array{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"}},
      {"keys", json::object{{"curve25519:" + u.device_id, curve + u.device_id},
                            {"ed25519:" + u.device_id, ed + u.device_id}}},
      {"signatures", json::object{{u.user_id, json::object{{"ed25519:" + u.device_id, "SIG"}}}}}};
}

json::object signedKey(const std::string& key) {
  return json::object{{"key", key},
                      {"signatures", json::object{{"@x:localhost", json::object{{"ed25519:X", "S"}}}}}};
}

std::set<std::string> strings(const json::value& v) {
  std::set<std::string> out;
  for (const auto& s : v.as_array()) out.insert(std::string(s.as_string()));
  return out;
}

class HsKeysTest : public ::testing::Test {
 protected:
  Resp upload(const User& u, const json::object& body) { return http.post(p("/keys/upload"), body, u.token); }
  Resp query(const User& u, const json::object& device_keys) {
    return http.post(p("/keys/query"), json::object{{"device_keys", device_keys}}, u.token);
  }
  Resp claim(const User& u, const User& target, const std::string& alg = "signed_curve25519") {
    return http.post(p("/keys/claim"),
                     json::object{{"one_time_keys",
                                   json::object{{target.user_id, json::object{{target.device_id, alg}}}}}},
                     u.token);
  }
  // The single claimed key of `target` ({key id, key}), or nothing.
  std::optional<std::pair<std::string, json::value>> claimedKey(const Resp& r, const User& target) {
    const auto& otk = r.obj().at("one_time_keys").as_object();
    const auto* user = otk.if_contains(target.user_id);
    if (!user) return std::nullopt;
    const auto* dev = user->as_object().if_contains(target.device_id);
    if (!dev || dev->as_object().empty()) return std::nullopt;
    const auto& kv = *dev->as_object().begin();
    return std::make_pair(std::string(kv.key()), kv.value());
  }

  TestServer hs;
  Mx& mx = hs.mx();
  const HttpClient& http = hs.http();
};

TEST_F(HsKeysTest, UploadStoresKeysAndCountsThem) {
  auto alice = mx.registerUser("alice");
  auto r = upload(alice,
                  json::object{{"device_keys", deviceKeys(alice)},
                               {"one_time_keys", json::object{{"signed_curve25519:AAAA", signedKey("k1")},
                                                              {"signed_curve25519:AAAB", signedKey("k2")},
                                                              {"curve25519:AAAC", "k3"}}},
                               {"fallback_keys", json::object{{"signed_curve25519:FB1", signedKey("fb")}}}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.obj().at("one_time_key_counts").at("signed_curve25519").as_int64(), 2);
  EXPECT_EQ(r.obj().at("one_time_key_counts").at("curve25519").as_int64(), 1);
  // Re-uploading the same key is a no-op; another value under a used id is refused.
  r = upload(alice,
             json::object{{"one_time_keys", json::object{{"signed_curve25519:AAAA", signedKey("k1")}}}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.obj().at("one_time_key_counts").at("signed_curve25519").as_int64(), 2);
  r = upload(alice,
             json::object{{"one_time_keys", json::object{{"signed_curve25519:AAAA", signedKey("other")}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.errcode(), "M_INVALID_PARAM");
  // An empty upload reports the counts (clients do this to learn them).
  r = upload(alice, json::object{});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.obj().at("one_time_key_counts").at("signed_curve25519").as_int64(), 2);

  auto s = mx.sync(alice);
  EXPECT_EQ(s.at("device_one_time_keys_count").at("signed_curve25519").as_int64(), 2);
  EXPECT_EQ(strings(s.at("device_unused_fallback_key_types")), std::set<std::string>{"signed_curve25519"});
  EXPECT_EQ(strings(s.at("org.matrix.msc2732.device_unused_fallback_key_types")),
            std::set<std::string>{"signed_curve25519"});

  // Device keys of another device or user are refused.
  auto other = alice;
  other.device_id = "NOTMINE";
  r = upload(alice, json::object{{"device_keys", deviceKeys(other)}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.errcode(), "M_INVALID_PARAM");
}

TEST_F(HsKeysTest, QueryReturnsSignedDeviceKeysWithDisplayName) {
  auto alice = mx.registerUser("alice");
  auto bob = mx.registerUser("bob");
  auto alice2 = mx.login("alice", "pw", "PHONE");
  ASSERT_EQ(upload(alice, json::object{{"device_keys", deviceKeys(alice)}}).status, 200);
  ASSERT_EQ(upload(alice2, json::object{{"device_keys", deviceKeys(alice2)}}).status, 200);
  ASSERT_EQ(
      http.put(p("/devices/PHONE"), json::object{{"display_name", "Alice's phone"}}, alice.token).status,
      200);

  auto r = query(bob, json::object{{alice.user_id, json::array{}},
                                   {"@nobody:localhost", json::array{}},
                                   {"@carol:elsewhere.org", json::array{}}});
  ASSERT_EQ(r.status, 200) << r.raw;
  const auto& devs = r.obj().at("device_keys").at(alice.user_id).as_object();
  ASSERT_EQ(devs.size(), 2u);
  const auto& k = devs.at(alice.device_id).as_object();
  EXPECT_EQ(k.at("keys").at("ed25519:" + alice.device_id).as_string(), "ED" + alice.device_id);
  EXPECT_EQ(k.at("signatures").at(alice.user_id).at("ed25519:" + alice.device_id).as_string(), "SIG");
  EXPECT_EQ(devs.at("PHONE").at("unsigned").at("device_display_name").as_string(), "Alice's phone");
  EXPECT_TRUE(r.obj().at("device_keys").at("@nobody:localhost").as_object().empty());
  EXPECT_TRUE(r.obj().at("failures").as_object().contains("elsewhere.org"));
  // Asking for one device returns only that one.
  r = query(bob, json::object{{alice.user_id, json::array{"PHONE"}}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.obj().at("device_keys").at(alice.user_id).as_object().size(), 1u);
  EXPECT_TRUE(r.obj().at("device_keys").at(alice.user_id).as_object().contains("PHONE"));
}

TEST_F(HsKeysTest, ClaimConsumesEachOneTimeKeyOnceThenTheFallbackKey) {
  auto alice = mx.registerUser("alice");
  auto bob = mx.registerUser("bob");
  ASSERT_EQ(
      upload(alice, json::object{{"one_time_keys", json::object{{"signed_curve25519:A1", signedKey("k1")},
                                                                {"signed_curve25519:A2", signedKey("k2")}}},
                                 {"fallback_keys", json::object{{"signed_curve25519:F1", signedKey("fb1")}}}})
          .status,
      200);
  std::set<std::string> got;
  for (int i = 0; i < 2; ++i) {
    auto r = claim(bob, alice);
    ASSERT_EQ(r.status, 200) << r.raw;
    auto k = claimedKey(r, alice);
    ASSERT_TRUE(k);
    got.insert(k->first);
  }
  EXPECT_EQ(got, (std::set<std::string>{"signed_curve25519:A1", "signed_curve25519:A2"}));
  auto s = mx.sync(alice);
  EXPECT_EQ(s.at("device_one_time_keys_count").at("signed_curve25519").as_int64(), 0);
  EXPECT_EQ(strings(s.at("device_unused_fallback_key_types")), std::set<std::string>{"signed_curve25519"});
  // None left: the fallback key, now marked used (and handed out again while it is the only one).
  for (int i = 0; i < 2; ++i) {
    auto r = claim(bob, alice);
    auto k = claimedKey(r, alice);
    ASSERT_TRUE(k) << r.raw;
    EXPECT_EQ(k->first, "signed_curve25519:F1");
    EXPECT_EQ(k->second.at("key").as_string(), "fb1");
  }
  s = mx.sync(alice);
  EXPECT_TRUE(s.at("device_unused_fallback_key_types").as_array().empty());
  // A new fallback key is unused again; an unknown algorithm or device gets nothing.
  ASSERT_EQ(
      upload(alice, json::object{{"fallback_keys", json::object{{"signed_curve25519:F2", signedKey("fb2")}}}})
          .status,
      200);
  s = mx.sync(alice);
  EXPECT_EQ(strings(s.at("device_unused_fallback_key_types")), std::set<std::string>{"signed_curve25519"});
  EXPECT_FALSE(claimedKey(claim(bob, alice, "curve25519"), alice));
  auto ghost = alice;
  ghost.device_id = "GHOST";
  EXPECT_FALSE(claimedKey(claim(bob, ghost), ghost));
}

TEST_F(HsKeysTest, DeviceListsTrackKeyChangesAndRoomSharing) {
  auto alice = mx.registerUser("alice");
  auto bob = mx.registerUser("bob");
  auto carol = mx.registerUser("carol");
  const std::string room = mx.createRoom(alice, json::object{{"preset", "public_chat"}});
  ASSERT_EQ(mx.join(bob, room).status, 200);
  mx.sync(bob);
  const std::string bob_before = bob.since;

  // bob is long-polling when alice uploads her device keys: the upload wakes him.
  json::object woken;
  std::thread poll([&] { woken = mx.sync(bob, 20000); });
  std::this_thread::sleep_for(200ms);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(upload(alice, json::object{{"device_keys", deviceKeys(alice)}}).status, 200);
  poll.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(strings(woken.at("device_lists").at("changed")), std::set<std::string>{alice.user_id});
  // Unchanged keys are not a change.
  ASSERT_EQ(upload(alice, json::object{{"device_keys", deviceKeys(alice)}}).status, 200);
  auto s = mx.sync(bob);
  EXPECT_TRUE(s.at("device_lists").at("changed").as_array().empty());

  // carol (no shared room) is not told about alice; her own key change is not reported to bob.
  mx.sync(carol);
  ASSERT_EQ(upload(carol, json::object{{"device_keys", deviceKeys(carol)}}).status, 200);
  ASSERT_EQ(upload(alice, json::object{{"device_keys", deviceKeys(alice, "ED2")}}).status, 200);
  s = mx.sync(carol);
  EXPECT_EQ(strings(s.at("device_lists").at("changed")), std::set<std::string>{carol.user_id});
  s = mx.sync(bob);
  EXPECT_EQ(strings(s.at("device_lists").at("changed")), std::set<std::string>{alice.user_id});

  // carol joins: she becomes "changed" for bob, and bob and alice for her; then she leaves: "left".
  ASSERT_EQ(mx.join(carol, room).status, 200);
  s = mx.sync(bob);
  EXPECT_EQ(strings(s.at("device_lists").at("changed")), std::set<std::string>{carol.user_id});
  s = mx.sync(carol);
  EXPECT_EQ(strings(s.at("device_lists").at("changed")), (std::set<std::string>{alice.user_id, bob.user_id}));
  ASSERT_EQ(http.post(p("/rooms/" + enc(room) + "/leave"), json::object{}, carol.token).status, 200);
  s = mx.sync(bob);
  EXPECT_EQ(strings(s.at("device_lists").at("left")), std::set<std::string>{carol.user_id});
  s = mx.sync(carol);
  EXPECT_EQ(strings(s.at("device_lists").at("left")), (std::set<std::string>{alice.user_id, bob.user_id}));

  // /keys/changes between bob's first token and now.
  auto r = http.get(p("/keys/changes?from=" + enc(bob_before) + "&to=" + enc(bob.since)), bob.token);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(strings(r.obj().at("changed")), std::set<std::string>{alice.user_id});
  EXPECT_EQ(strings(r.obj().at("left")), std::set<std::string>{carol.user_id});
  // A token of the older two-part form is still accepted.
  r = http.get(p("/sync?since=s1_0"), bob.token);
  EXPECT_EQ(r.status, 200) << r.raw;
}

TEST_F(HsKeysTest, EncryptedToDeviceIsDeliveredLikeAnyOther) {
  auto alice = mx.registerUser("alice");
  auto bob = mx.registerUser("bob");
  mx.sync(bob);
  const json::object content{
      {"algorithm", "m.olm.v1.curve25519-aes-sha2"},
      {"sender_key", "SENDERKEY"},
      {"ciphertext", json::object{{"CURVEBOB", json::object{{"type", 0}, {"body", "Awgg...ciphertext"}}}}}};
  auto r = mx.sendToDevice(alice, "m.room.encrypted", "t1",
                           json::object{{bob.user_id, json::object{{bob.device_id, content}}}});
  ASSERT_EQ(r.status, 200) << r.raw;
  auto evs = toDeviceEvents(mx.sync(bob));
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].at("type").as_string(), "m.room.encrypted");
  EXPECT_EQ(evs[0].at("sender").as_string(), alice.user_id);
  EXPECT_EQ(evs[0].at("content").as_object(), content);
}

TEST_F(HsKeysTest, DevicesAndDeletionWithUserInteractiveAuth) {
  auto alice = mx.registerUser("alice");
  auto phone = mx.login("alice", "pw", "PHONE");
  auto tablet = mx.login("alice", "pw", "TABLET");
  ASSERT_EQ(upload(phone, json::object{{"device_keys", deviceKeys(phone)}}).status, 200);
  auto r = http.get(p("/devices"), alice.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.obj().at("devices").as_array().size(), 3u);
  EXPECT_EQ(http.put(p("/devices/PHONE"), json::object{{"display_name", "phone"}}, alice.token).status, 200);
  r = http.get(p("/devices/PHONE"), alice.token);
  EXPECT_EQ(r.obj().at("display_name").as_string(), "phone");
  EXPECT_EQ(http.put(p("/devices/NOPE"), json::object{{"display_name", "x"}}, alice.token).status, 404);
  EXPECT_EQ(http.put(p("/devices/PHONE"), json::object{{"display_name", 5}}, alice.token).errcode(),
            "M_BAD_JSON");

  // DELETE without auth: the UIA challenge (401, flows, session, no errcode).
  r = http.request("DELETE", p("/devices/PHONE"), std::string("{}"), alice.token);
  ASSERT_EQ(r.status, 401) << r.raw;
  EXPECT_FALSE(r.obj().contains("errcode"));
  const std::string session(r.obj().at("session").as_string());
  EXPECT_FALSE(session.empty());
  EXPECT_EQ(r.obj().at("flows").at(0).at("stages").at(0).as_string(), "m.login.password");
  // Wrong password: 401 M_FORBIDDEN with the flows again; the device stays.
  auto auth = [&](const std::string& pw) {
    return json::object{{"type", "m.login.password"},
                        {"identifier", json::object{{"type", "m.id.user"}, {"user", "alice"}}},
                        {"password", pw},
                        {"session", session}};
  };
  r = http.request("DELETE", p("/devices/PHONE"), json::serialize(json::object{{"auth", auth("bad")}}),
                   alice.token);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.errcode(), "M_FORBIDDEN");
  EXPECT_TRUE(r.obj().contains("flows"));
  EXPECT_EQ(http.get(p("/account/whoami"), phone.token).status, 200);
  // Another user's password does not delete alice's device.
  mx.registerUser("mallory", "mpw");
  auto mal = auth("mpw");
  mal["identifier"] = json::object{{"type", "m.id.user"}, {"user", "mallory"}};
  r = http.request("DELETE", p("/devices/PHONE"), json::serialize(json::object{{"auth", mal}}), alice.token);
  EXPECT_EQ(r.status, 403);
  // The right password deletes it: its token, its keys.
  r = http.request("DELETE", p("/devices/PHONE"), json::serialize(json::object{{"auth", auth("pw")}}),
                   alice.token);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(http.get(p("/account/whoami"), phone.token).status, 401);
  r = query(alice, json::object{{alice.user_id, json::array{}}});
  EXPECT_TRUE(r.obj().at("device_keys").at(alice.user_id).as_object().empty());

  // POST /delete_devices, same flow.
  r = http.post(p("/delete_devices"), json::object{{"devices", json::array{"TABLET"}}}, alice.token);
  EXPECT_EQ(r.status, 401);
  r = http.post(p("/delete_devices"),
                json::object{{"devices", json::array{"TABLET", "UNKNOWN"}}, {"auth", auth("pw")}},
                alice.token);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(http.get(p("/account/whoami"), tablet.token).status, 401);
  r = http.get(p("/devices"), alice.token);
  EXPECT_EQ(r.obj().at("devices").as_array().size(), 1u);
}

TEST(HsKeysUia, PasswordGuessingIsLimitedPerDeviceWithoutLockingLoginOut) {
  TestServer hs([](ServerConfig& c) {
    c.login_limits = true;
    c.login_free_failures = 2;
    c.login_backoff_ms = 60000;
  });
  auto& mx = hs.mx();
  auto alice = mx.registerUser("alice");
  auto phone = mx.login("alice", "pw", "PHONE");
  auto del = [&](const std::string& pw) {
    json::object auth{{"type", "m.login.password"}, {"user", "alice"}, {"password", pw}};
    return hs.http().request("DELETE", p("/devices/PHONE"), json::serialize(json::object{{"auth", auth}}),
                             alice.token);
  };
  EXPECT_EQ(del("guess1").status, 401);
  EXPECT_EQ(del("guess2").status, 401);
  auto r = del("pw");  // locked now, even for the right password, without a password check
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.errcode(), "M_LIMIT_EXCEEDED");
  EXPECT_TRUE(r.obj().contains("retry_after_ms"));
  EXPECT_EQ(hs.http().get(p("/account/whoami"), phone.token).status, 200);
  // The user can still log in, and another device of hers can still delete with the password.
  auto laptop = mx.login("alice", "pw", "LAPTOP");
  json::object auth{{"type", "m.login.password"}, {"user", "alice"}, {"password", "pw"}};
  r = hs.http().request("DELETE", p("/devices/PHONE"), json::serialize(json::object{{"auth", auth}}),
                        laptop.token);
  EXPECT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(hs.http().get(p("/account/whoami"), phone.token).status, 401);
}

TEST_F(HsKeysTest, JoinedMembers) {
  auto alice = mx.registerUser("alice");
  auto bob = mx.registerUser("bob");
  const std::string room = mx.createRoom(alice, json::object{{"preset", "public_chat"}});
  ASSERT_EQ(mx.join(bob, room).status, 200);
  auto r = http.get(p("/rooms/" + enc(room) + "/joined_members"), bob.token);
  ASSERT_EQ(r.status, 200) << r.raw;
  const auto& joined = r.obj().at("joined").as_object();
  EXPECT_EQ(joined.size(), 2u);
  EXPECT_EQ(joined.at(alice.user_id).at("display_name").as_string(), "alice");
  auto carol = mx.registerUser("carol");
  EXPECT_EQ(http.get(p("/rooms/" + enc(room) + "/joined_members"), carol.token).status, 403);
}

TEST(HsKeysBounds, BadInputGetsMatrixErrorsAndNothingIsStored) {
  TestServer hs([](ServerConfig& c) {
    c.max_one_time_keys_per_device = 5;
    c.max_keys_query_users = 3;
    c.max_keys_claim = 3;
    c.max_key_bytes = 512;
  });
  auto& mx = hs.mx();
  const auto& http = hs.http();
  auto alice = mx.registerUser("alice");
  struct Case {
    const char* method;
    std::string path;
    std::string body;
    int status;
    const char* errcode;
  };
  const std::string big(600, 'x');
  json::object six;
  for (int i = 0; i < 6; ++i) six["signed_curve25519:K" + std::to_string(i)] = signedKey("k");
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "{\"a\":";
  deep += "1";
  for (int i = 0; i < 100; ++i) deep += "}";
  const std::vector<Case> cases = {
      {"POST", "/keys/upload", "{\"device_keys\":5}", 400, "M_BAD_JSON"},
      {"POST", "/keys/upload", "{\"one_time_keys\":{\"nocolon\":\"k\"}}", 400, "M_INVALID_PARAM"},
      {"POST", "/keys/upload", "{\"one_time_keys\":{\":x\":\"k\"}}", 400, "M_INVALID_PARAM"},
      {"POST", "/keys/upload", "{\"one_time_keys\":{\"a:b\":5}}", 400, "M_BAD_JSON"},
      {"POST", "/keys/upload", "{\"one_time_keys\":{\"a:b\":\"" + big + "\"}}", 413, "M_TOO_LARGE"},
      {"POST", "/keys/upload", json::serialize(json::object{{"one_time_keys", six}}), 413, "M_TOO_LARGE"},
      {"POST", "/keys/upload", "{\"fallback_keys\":{\"a:1\":\"k\",\"a:2\":\"k\"}}", 400, "M_INVALID_PARAM"},
      {"POST", "/keys/upload", "{\"device_keys\":{\"user_id\":\"@alice:localhost\"}}", 400,
       "M_MISSING_PARAM"},
      {"POST", "/keys/upload", "{\"device_keys\":", 400, "M_NOT_JSON"},
      {"POST", "/keys/upload", "{\"one_time_keys\":{\"a:\xff\":\"k\"}}", 400, "M_NOT_JSON"},
      {"POST", "/keys/upload", deep, 400, "M_NOT_JSON"},
      {"POST", "/keys/query", "{}", 400, "M_MISSING_PARAM"},
      {"POST", "/keys/query", "{\"device_keys\":[]}", 400, "M_BAD_JSON"},
      {"POST", "/keys/query", "{\"device_keys\":{\"@a:localhost\":\"x\"}}", 400, "M_BAD_JSON"},
      {"POST", "/keys/query", "{\"device_keys\":{\"@a:localhost\":[1]}}", 400, "M_BAD_JSON"},
      {"POST", "/keys/query", "{\"device_keys\":{\"@a:l\":[],\"@b:l\":[],\"@c:l\":[],\"@d:l\":[]}}", 413,
       "M_TOO_LARGE"},
      {"POST", "/keys/query", "{\"device_keys\":{\"@a:l\":[\"1\",\"2\",\"3\",\"4\"]}}", 413, "M_TOO_LARGE"},
      {"POST", "/keys/claim", "{}", 400, "M_MISSING_PARAM"},
      {"POST", "/keys/claim", "{\"one_time_keys\":{\"@a:localhost\":{\"D\":7}}}", 400, "M_BAD_JSON"},
      {"POST", "/keys/claim", "{\"one_time_keys\":{\"@a:localhost\":[]}}", 400, "M_BAD_JSON"},
      {"POST", "/keys/claim",
       "{\"one_time_keys\":{\"@a:l\":{\"A\":\"x\",\"B\":\"x\",\"C\":\"x\",\"D\":\"x\"}}}", 413,
       "M_TOO_LARGE"},
      {"GET", "/keys/changes", "", 400, "M_MISSING_PARAM"},
      {"GET", "/keys/changes?from=garbage", "", 400, "M_INVALID_PARAM"},
      {"GET", "/keys/changes?from=s1_1&to=%FF", "", 400, "M_INVALID_PARAM"},
      {"GET", "/keys/upload", "", 405, "M_UNRECOGNIZED"},
      {"POST", "/keys/device_signing/upload", "{}", 404, "M_UNRECOGNIZED"},
      {"POST", "/delete_devices", "{\"devices\":\"x\"}", 400, "M_BAD_JSON"},
      {"POST", "/delete_devices", "{\"devices\":[1]}", 400, "M_BAD_JSON"},
      {"POST", "/delete_devices", "{\"devices\":[\"a\",\"b\",\"c\",\"d\"]}", 413, "M_TOO_LARGE"},
      {"DELETE", "/devices/X", "{\"auth\":{\"type\":\"m.login.dummy\"}}", 401, "M_UNRECOGNIZED"},
      {"DELETE", "/devices/X", "not json", 400, "M_NOT_JSON"},
      {"PUT", "/devices/%FF", "{}", 400, "M_INVALID_PARAM"},
  };
  for (const auto& c : cases) {
    auto r = http.request(c.method, p(c.path),
                          c.body.empty() ? std::nullopt : std::optional<std::string>(c.body), alice.token);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.path << " " << c.body.substr(0, 80) << " -> "
                                  << r.raw;
    EXPECT_EQ(r.errcode(), c.errcode) << c.method << " " << c.path << " " << c.body.substr(0, 80);
  }
  // Without a token.
  EXPECT_EQ(http.post(p("/keys/upload"), json::object{}).errcode(), "M_MISSING_TOKEN");
  // Nothing of the refused uploads was stored; the server still answers.
  auto s = mx.sync(alice);
  EXPECT_EQ(s.at("device_one_time_keys_count").at("signed_curve25519").as_int64(), 0);
  EXPECT_TRUE(s.at("device_unused_fallback_key_types").as_array().empty());
  // The per-device cap counts keys already stored: 5 fit, the sixth is refused.
  json::object five;
  for (int i = 0; i < 5; ++i) five["signed_curve25519:K" + std::to_string(i)] = signedKey("k");
  ASSERT_EQ(http.post(p("/keys/upload"), json::object{{"one_time_keys", five}}, alice.token).status, 200);
  auto r =
      http.post(p("/keys/upload"),
                json::object{{"one_time_keys", json::object{{"signed_curve25519:K9", "k"}}}}, alice.token);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.errcode(), "M_TOO_LARGE");
}

#ifdef CHORUS_BIN
TEST(HsKeysProcess, KeysAndClaimsSurviveKill9) {
  const std::string dir = makeTempDir("chorus-hs-keys-");
  const std::vector<std::string> flags = {"--fast-kdf", "--no-rate-limit", "--open-registration"};
  User alice, bob;
  std::string claimed;
  {
    HsProcess proc(CHORUS_BIN, dir, flags);
    HttpClient http("127.0.0.1", proc.port());
    Mx mx(http);
    alice = mx.registerUser("alice");
    bob = mx.registerUser("bob");
    ASSERT_EQ(
        http.post(p("/keys/upload"),
                  json::object{{"device_keys", deviceKeys(alice)},
                               {"one_time_keys", json::object{{"signed_curve25519:A1", signedKey("k1")},
                                                              {"signed_curve25519:A2", signedKey("k2")}}},
                               {"fallback_keys", json::object{{"signed_curve25519:F", signedKey("f")}}}},
                  alice.token)
            .status,
        200);
    auto r = http.post(
        p("/keys/claim"),
        json::object{{"one_time_keys",
                      json::object{{alice.user_id, json::object{{alice.device_id, "signed_curve25519"}}}}}},
        bob.token);
    ASSERT_EQ(r.status, 200);
    claimed = std::string(
        r.obj().at("one_time_keys").at(alice.user_id).at(alice.device_id).as_object().begin()->key());
    proc.kill9();
  }
  HsProcess proc(CHORUS_BIN, dir, flags);
  HttpClient http("127.0.0.1", proc.port());
  auto r = http.post(p("/keys/query"),
                     json::object{{"device_keys", json::object{{alice.user_id, json::array{}}}}}, bob.token);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.obj()
                .at("device_keys")
                .at(alice.user_id)
                .at(alice.device_id)
                .at("keys")
                .at("ed25519:" + alice.device_id)
                .as_string(),
            "ED" + alice.device_id);
  // The claimed one-time key stays claimed; the other one is next, then the fallback key.
  std::vector<std::string> next;
  for (int i = 0; i < 2; ++i) {
    r = http.post(
        p("/keys/claim"),
        json::object{{"one_time_keys",
                      json::object{{alice.user_id, json::object{{alice.device_id, "signed_curve25519"}}}}}},
        bob.token);
    next.emplace_back(
        r.obj().at("one_time_keys").at(alice.user_id).at(alice.device_id).as_object().begin()->key());
  }
  EXPECT_NE(next[0], claimed);
  EXPECT_EQ(next[1], "signed_curve25519:F");
  proc.kill9();
  std::filesystem::remove_all(dir);
}
#endif

}  // namespace
}  // namespace chorus::hs::test
