// Client-server API of `chorus hs` over real HTTP on 127.0.0.1 (in-process server, port 0).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "hs_fixture.hpp"

namespace chorus::hs::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

class HsApiTest : public ::testing::Test {
 protected:
  TestServer hs;
  Mx& mx = hs.mx();
  const HttpClient& http = hs.http();
};

std::string str(const json::value& v, const char* key) {
  return std::string(v.as_object().at(key).as_string());
}

bool hasStateEvent(const json::array& evs, const std::string& type, const std::string& key) {
  for (const auto& e : evs) {
    const auto& o = e.as_object();
    if (o.at("type").as_string() == type && o.contains("state_key") && o.at("state_key").as_string() == key) {
      return true;
    }
  }
  return false;
}

TEST_F(HsApiTest, VersionsAdvertiseDelayedEvents) {
  auto r = http.get("/_matrix/client/versions");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.obj().at("unstable_features").as_object().at("org.matrix.msc4140").as_bool());
  bool v11 = false;
  for (const auto& v : r.obj().at("versions").as_array()) v11 |= v.as_string() == "v1.1";
  EXPECT_TRUE(v11);
}

TEST_F(HsApiTest, UnknownEndpointIsUnrecognized) {
  auto r = http.get(p("/no/such/thing"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.errcode(), "M_UNRECOGNIZED");
  r = http.get("/totally/elsewhere");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.errcode(), "M_UNRECOGNIZED");
}

TEST_F(HsApiTest, CorsPreflightAndHeaders) {
  auto r = http.request("OPTIONS", p("/sync"), {}, {},
                        {{"Origin", "http://127.0.0.1:9999"}, {"Access-Control-Request-Method", "GET"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["access-control-allow-origin"], "*");
  EXPECT_NE(r.headers["access-control-allow-headers"].find("Authorization"), std::string::npos);
  EXPECT_NE(r.headers["access-control-allow-methods"].find("PUT"), std::string::npos);
  r = http.get("/_matrix/client/versions");
  EXPECT_EQ(r.headers["access-control-allow-origin"], "*");
}

TEST_F(HsApiTest, LoginBothFormsWhoamiLogout) {
  mx.registerUser("alice");
  // Legacy top-level "user", as matrix-js-sdk 28.1.0's loginWithPassword sends it.
  auto r = http.post(p("/login"),
                     json::object{{"type", "m.login.password"}, {"user", "alice"}, {"password", "pw"}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(str(r.body, "user_id"), "@alice:localhost");
  EXPECT_FALSE(str(r.body, "device_id").empty());
  // identifier form with a full user ID and a chosen device ID.
  auto u = mx.login("@alice:localhost", "pw", "MYDEVICE");
  EXPECT_EQ(u.device_id, "MYDEVICE");
  r = http.get(p("/account/whoami"), u.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(str(r.body, "user_id"), "@alice:localhost");
  EXPECT_EQ(str(r.body, "device_id"), "MYDEVICE");
  // r0 alias.
  EXPECT_EQ(http.get("/_matrix/client/r0/account/whoami", u.token).status, 200);
  // Devices lists both.
  r = http.get(p("/devices"), u.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.obj().at("devices").as_array().size(), 3u);  // register + 2 logins
  EXPECT_EQ(http.get(p("/devices/MYDEVICE"), u.token).status, 200);
  // Wrong password.
  r = http.post(p("/login"),
                json::object{{"type", "m.login.password"}, {"user", "alice"}, {"password", "nope"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.errcode(), "M_FORBIDDEN");
  // Logout kills the token.
  EXPECT_EQ(http.post(p("/logout"), json::object{}, u.token).status, 200);
  r = http.get(p("/account/whoami"), u.token);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.errcode(), "M_UNKNOWN_TOKEN");
  r = http.get(p("/account/whoami"));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.errcode(), "M_MISSING_TOKEN");
  // Token as a query parameter also works.
  auto v = mx.login("alice");
  EXPECT_EQ(http.get(p("/account/whoami?access_token=") + v.token).status, 200);
  // /logout/all
  EXPECT_EQ(http.post(p("/logout/all"), json::object{}, v.token).status, 200);
  EXPECT_EQ(http.get(p("/account/whoami"), v.token).status, 401);
}

TEST_F(HsApiTest, RegisterDummyFlow) {
  auto r = http.post(p("/register"), json::object{{"username", "dave"}, {"password", "pw"}});
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(r.obj().contains("flows"));
  auto d = mx.registerUser("dave");
  EXPECT_EQ(d.user_id, "@dave:localhost");
  r = http.post(p("/register"), json::object{{"username", "dave"},
                                             {"password", "pw"},
                                             {"auth", json::object{{"type", "m.login.dummy"}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.errcode(), "M_USER_IN_USE");
  r = http.post(p("/register"), json::object{{"username", "Bad Name"},
                                             {"password", "pw"},
                                             {"auth", json::object{{"type", "m.login.dummy"}}}});
  EXPECT_EQ(r.errcode(), "M_INVALID_USERNAME");
}

TEST_F(HsApiTest, RegisterAvailable) {
  mx.registerUser("dave");
  auto r = http.get(p("/register/available?username=erin"));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.obj().at("available").as_bool());
  EXPECT_EQ(http.get(p("/register/available?username=dave")).errcode(), "M_USER_IN_USE");
  EXPECT_EQ(http.get(p("/register/available?username=No%20Way")).errcode(), "M_INVALID_USERNAME");
}

TEST_F(HsApiTest, RoomsJoinEndpointAndR0Aliases) {
  auto a = mx.registerUser("alice");
  auto b = mx.registerUser("bob");
  const std::string room = mx.createRoom(a, json::object{{"preset", "public_chat"}});
  const std::string r0 = "/_matrix/client/r0";
  auto r = http.post(r0 + "/rooms/" + enc(room) + "/join", json::object{}, b.token);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(str(r.body, "room_id"), room);
  r = http.put(r0 + "/rooms/" + enc(room) + "/state/org.matrix.msc3401.call.member/" + enc(b.user_id),
               json::object{{"m.calls", json::array{}}}, b.token);
  EXPECT_EQ(r.status, 200);
  r = http.get(r0 + "/sync?timeout=0", b.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(joinedRoom(r.obj(), room), nullptr);
  EXPECT_EQ(http.get(r0 + "/rooms/" + enc(room) + "/members", b.token).status, 200);
  EXPECT_EQ(http.put(r0 + "/sendToDevice/m.x/t1", json::object{{"messages", json::object{}}}, b.token).status,
            200);
  // Joining twice is a no-op.
  EXPECT_EQ(mx.join(b, room).status, 200);
  EXPECT_EQ(http.get(p("/rooms/") + enc(room) + "/members", b.token).obj().at("chunk").as_array().size(), 2u);
}

TEST(HsRegistration, ClosedByDefaultButCliRegisterWorks) {
  TestServer hs([](ServerConfig& c) { c.open_registration = false; });
  auto r = hs.http().post(p("/register"), json::object{{"username", "eve"},
                                                       {"password", "pw"},
                                                       {"auth", json::object{{"type", "m.login.dummy"}}}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.errcode(), "M_FORBIDDEN");
  ServerConfig cfg = testConfig(hs.dir());
  auto uid = Server::registerUser(cfg, "eve", "secret", true);
  ASSERT_TRUE(uid) << uid.error().toString();
  EXPECT_EQ(*uid, "@eve:localhost");
  auto u = hs.mx().login("eve", "secret");
  EXPECT_EQ(u.user_id, "@eve:localhost");
  cfg.server_name = "other";
  EXPECT_FALSE(Server::registerUser(cfg, "zed", "pw", false));  // the data dir belongs to "localhost"
}

TEST_F(HsApiTest, ClientStartupEndpoints) {
  auto a = mx.registerUser("alice");
  auto r = http.get(p("/pushrules/"), a.token);
  ASSERT_EQ(r.status, 200);
  const auto& global = r.obj().at("global").as_object();
  for (auto k : {"override", "content", "room", "sender", "underride"})
    EXPECT_TRUE(global.at(k).is_array()) << k;
  EXPECT_FALSE(global.at("override").as_array().empty());
  EXPECT_EQ(http.get(p("/pushrules/global/"), a.token).status, 200);
  r = http.get(p("/capabilities"), a.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.obj().at("capabilities").as_object().contains("m.room_versions"));
  r = http.get(p("/voip/turnServer"), a.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.obj().empty());
  // Filters.
  r = http.post(p("/user/") + enc(a.user_id) + "/filter",
                json::object{{"room", json::object{{"timeline", json::object{{"limit", 5}}}}}}, a.token);
  ASSERT_EQ(r.status, 200) << r.raw;
  const std::string fid = str(r.body, "filter_id");
  r = http.get(p("/user/") + enc(a.user_id) + "/filter/" + fid, a.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.obj().at("room").at("timeline").at("limit").as_int64(), 5);
  EXPECT_EQ(http.get(p("/user/") + enc(a.user_id) + "/filter/999", a.token).status, 404);
  r = http.post(p("/user/") + enc("@bob:localhost") + "/filter", json::object{}, a.token);
  EXPECT_EQ(r.status, 403);
  // Profile.
  r = http.get(p("/profile/") + enc(a.user_id));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(str(r.body, "displayname"), "alice");
  EXPECT_EQ(http.put(p("/profile/") + enc(a.user_id) + "/displayname", json::object{{"displayname", "Alice"}},
                     a.token)
                .status,
            200);
  EXPECT_EQ(str(http.get(p("/profile/") + enc(a.user_id) + "/displayname").body, "displayname"), "Alice");
  EXPECT_EQ(http.get(p("/profile/") + enc("@nobody:localhost")).status, 404);
  // Initial sync with the filter id.
  r = http.get(p("/sync?timeout=0&filter=") + fid + "&_cacheBuster=123", a.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.obj().contains("next_batch"));
  EXPECT_TRUE(r.obj().at("device_lists").as_object().contains("changed"));
}

TEST(HsTurn, TurnServerFromConfig) {
  TestServer hs([](ServerConfig& c) {
    c.turn.uris = {"turn:turn.example:3478?transport=udp"};
    c.turn.username = "u";
    c.turn.password = "p";
  });
  auto a = hs.mx().registerUser("alice");
  auto r = hs.http().get(p("/voip/turnServer"), a.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.obj().at("uris").as_array().size(), 1u);
  EXPECT_EQ(str(r.body, "username"), "u");
  EXPECT_EQ(r.obj().at("ttl").as_int64(), 86400);
}

TEST_F(HsApiTest, CreateJoinStateAndSync) {
  auto a = mx.registerUser("alice");
  auto b = mx.registerUser("bob");
  const std::string room = mx.createRoom(
      a, json::object{{"preset", "public_chat"}, {"name", "call"}, {"room_alias_name", "callroom"}});
  // Alias resolves, bob joins by alias.
  auto r = http.get(p("/directory/room/") + enc("#callroom:localhost"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(str(r.body, "room_id"), room);
  r = mx.join(b, "#callroom:localhost");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(str(r.body, "room_id"), room);
  // Bob's initial sync: full state including both joins and the create event.
  auto s = mx.sync(b);
  auto state = stateEvents(s, room);
  auto tl = timelineEvents(s, room);
  json::array all = state;
  for (auto& e : tl) all.push_back(e);
  EXPECT_TRUE(hasStateEvent(all, "m.room.create", ""));
  EXPECT_TRUE(hasStateEvent(all, "m.room.member", a.user_id));
  EXPECT_TRUE(hasStateEvent(all, "m.room.member", b.user_id));
  EXPECT_TRUE(hasStateEvent(all, "m.room.power_levels", ""));
  EXPECT_TRUE(hasStateEvent(all, "m.room.name", ""));
  // Alice starts a call; bob publishes his membership; both see both through /sync.
  mx.sync(a);
  r = mx.putState(a, room, "org.matrix.msc3401.call", "1234CALL",
                  json::object{{"m.intent", "m.prompt"}, {"m.type", "m.video"}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_FALSE(str(r.body, "event_id").empty());
  r = mx.putState(b, room, "org.matrix.msc3401.call.member", b.user_id,
                  json::object{{"m.calls", json::array{}}});
  ASSERT_EQ(r.status, 200) << r.raw;
  s = mx.sync(b);
  tl = timelineEvents(s, room);
  EXPECT_TRUE(hasStateEvent(tl, "org.matrix.msc3401.call", "1234CALL"));
  EXPECT_TRUE(hasStateEvent(tl, "org.matrix.msc3401.call.member", b.user_id));
  for (const auto& e : tl) {
    EXPECT_TRUE(e.as_object().contains("event_id"));
    EXPECT_TRUE(e.as_object().contains("origin_server_ts"));
    EXPECT_TRUE(e.as_object().contains("sender"));
  }
  s = mx.sync(a);
  EXPECT_TRUE(hasStateEvent(timelineEvents(s, room), "org.matrix.msc3401.call.member", b.user_id));
  // GET state (all and one), members, joined_rooms.
  r = http.get(p("/rooms/") + enc(room) + "/state", b.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(hasStateEvent(r.body.as_array(), "org.matrix.msc3401.call", "1234CALL"));
  r = http.get(p("/rooms/") + enc(room) + "/state/org.matrix.msc3401.call/1234CALL", b.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(str(r.body, "m.type"), "m.video");
  r = http.get(p("/rooms/") + enc(room) + "/state/m.room.name", b.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(str(r.body, "name"), "call");
  r = http.get(p("/rooms/") + enc(room) + "/state/m.room.topic/", b.token);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.errcode(), "M_NOT_FOUND");
  r = http.get(p("/rooms/") + enc(room) + "/members", b.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.obj().at("chunk").as_array().size(), 2u);
  r = http.get(p("/joined_rooms"), b.token);
  EXPECT_EQ(r.obj().at("joined_rooms").as_array().size(), 1u);
  // Messages are idempotent per token + txnId.
  auto m1 = mx.send(a, room, "m.room.message", json::object{{"body", "hi"}, {"msgtype", "m.text"}}, "txn1");
  auto m2 = mx.send(a, room, "m.room.message", json::object{{"body", "hi"}, {"msgtype", "m.text"}}, "txn1");
  ASSERT_EQ(m1.status, 200);
  EXPECT_EQ(str(m1.body, "event_id"), str(m2.body, "event_id"));
  s = mx.sync(b);
  int hi = 0;
  for (const auto& e : timelineEvents(s, room))
    hi += e.as_object().at("type").as_string() == "m.room.message";
  EXPECT_EQ(hi, 1);
  // Alice's own event carries her transaction id.
  s = mx.sync(a);
  for (const auto& e : timelineEvents(s, room)) {
    if (e.as_object().at("type").as_string() == "m.room.message") {
      EXPECT_EQ(e.at("unsigned").at("transaction_id").as_string(), "txn1");
    }
  }
}

TEST_F(HsApiTest, LeaveAndInviteSections) {
  auto a = mx.registerUser("alice");
  auto b = mx.registerUser("bob");
  auto c = mx.registerUser("carol");
  const std::string room =
      mx.createRoom(a, json::object{{"preset", "private_chat"}, {"invite", json::array{b.user_id}}});
  mx.sync(b);
  mx.sync(c);
  auto s = mx.sync(b);  // nothing new
  b.since.clear();
  s = mx.sync(b);
  ASSERT_TRUE(s.at("rooms").at("invite").as_object().contains(room));
  // Private room: carol cannot join uninvited.
  auto r = mx.join(c, room);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.errcode(), "M_FORBIDDEN");
  // Invite carol through the endpoint; she sees it in /sync and joins.
  r = http.post(p("/rooms/") + enc(room) + "/invite", json::object{{"user_id", c.user_id}}, a.token);
  ASSERT_EQ(r.status, 200) << r.raw;
  s = mx.sync(c);
  ASSERT_TRUE(s.at("rooms").at("invite").as_object().contains(room));
  const auto& invite_state = s.at("rooms").at("invite").at(room).at("invite_state").at("events").as_array();
  EXPECT_TRUE(hasStateEvent(invite_state, "m.room.member", c.user_id));
  ASSERT_EQ(mx.join(c, room).status, 200);
  s = mx.sync(c);
  ASSERT_NE(joinedRoom(s, room), nullptr);
  // Carol leaves: the room moves to "leave".
  r = http.post(p("/rooms/") + enc(room) + "/leave", json::object{}, c.token);
  ASSERT_EQ(r.status, 200);
  s = mx.sync(c);
  EXPECT_TRUE(s.at("rooms").at("leave").as_object().contains(room));
  EXPECT_EQ(joinedRoom(s, room), nullptr);
  // Left: can't send or read state any more.
  r = mx.send(c, room, "m.room.message", json::object{{"body", "x"}}, "t1");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(http.get(p("/rooms/") + enc(room) + "/state", c.token).status, 403);
}

TEST_F(HsApiTest, AuthRulesPowerLevels) {
  auto a = mx.registerUser("alice");
  auto b = mx.registerUser("bob");
  auto c = mx.registerUser("carol");
  const std::string room = mx.createRoom(a, json::object{{"preset", "public_chat"}});
  ASSERT_EQ(mx.join(b, room).status, 200);
  // Not joined: forbidden.
  auto r = mx.send(c, room, "m.room.message", json::object{{"body", "x"}}, "t");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.errcode(), "M_FORBIDDEN");
  EXPECT_NE(r.obj().at("error").as_string().find("not joined"), std::string::npos);
  // Members (PL 0) may write their own call.member, not the call itself nor the name (state_default/events).
  EXPECT_EQ(mx.putState(b, room, "org.matrix.msc3401.call.member", b.user_id, {}).status, 200);
  r = mx.putState(b, room, "org.matrix.msc3401.call", "C1", json::object{{"m.type", "m.video"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.obj().at("error").as_string().find("power level"), std::string::npos);
  EXPECT_EQ(mx.putState(b, room, "m.room.name", "", json::object{{"name", "x"}}).status, 403);
  EXPECT_EQ(mx.putState(b, room, "m.custom.state", "", json::object{}).status, 403);  // state_default 50
  EXPECT_EQ(mx.send(b, room, "m.room.message", json::object{{"body", "ok"}}, "t2").status, 200);
  EXPECT_EQ(mx.putState(a, room, "org.matrix.msc3401.call", "C1", json::object{{"m.type", "m.video"}}).status,
            200);
  // Someone else's @state_key.
  r = mx.putState(b, room, "org.matrix.msc3401.call.member", a.user_id, {});
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.obj().at("error").as_string().find("other than the sender"), std::string::npos);
  // Bob cannot raise himself; cannot kick alice.
  json::object pl = http.get(p("/rooms/") + enc(room) + "/state/m.room.power_levels/", a.token).obj();
  json::object raised = pl;
  raised["users"].as_object()[b.user_id] = 100;
  EXPECT_EQ(mx.putState(b, room, "m.room.power_levels", "", raised).status, 403);
  r = http.post(p("/rooms/") + enc(room) + "/kick", json::object{{"user_id", a.user_id}}, b.token);
  EXPECT_EQ(r.status, 403);
  // Alice gives bob 50 (state_default): now he may set a custom state event but not exceed 50.
  json::object fifty = pl;
  fifty["users"].as_object()[b.user_id] = 50;
  ASSERT_EQ(mx.putState(a, room, "m.room.power_levels", "", fifty).status, 200);
  EXPECT_EQ(mx.putState(b, room, "m.custom.state", "", json::object{}).status, 200);
  json::object sixty = fifty;
  sixty["users"].as_object()[b.user_id] = 60;
  EXPECT_EQ(mx.putState(b, room, "m.room.power_levels", "", sixty).status, 403);
  // events_default raised: bob (50) can no longer send messages that need 75.
  json::object strict = fifty;
  strict["events_default"] = 75;
  ASSERT_EQ(mx.putState(a, room, "m.room.power_levels", "", strict).status, 200);
  EXPECT_EQ(mx.send(b, room, "m.room.message", json::object{{"body", "no"}}, "t3").status, 403);
  // Wrong types in power levels are bad JSON.
  json::object bad = strict;
  bad["ban"] = "lots";
  r = mx.putState(a, room, "m.room.power_levels", "", bad);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.errcode(), "M_BAD_JSON");
  // Alice can kick and ban bob.
  EXPECT_EQ(
      http.post(p("/rooms/") + enc(room) + "/kick", json::object{{"user_id", b.user_id}}, a.token).status,
      200);
  EXPECT_EQ(
      http.post(p("/rooms/") + enc(room) + "/ban", json::object{{"user_id", b.user_id}}, a.token).status,
      200);
  EXPECT_EQ(mx.join(b, room).status, 403);
  EXPECT_EQ(
      http.post(p("/rooms/") + enc(room) + "/unban", json::object{{"user_id", b.user_id}}, a.token).status,
      200);
  EXPECT_EQ(mx.join(b, room).status, 200);
}

TEST_F(HsApiTest, PowerLevelOverrideAndInitialState) {
  auto a = mx.registerUser("alice");
  auto b = mx.registerUser("bob");
  const std::string room = mx.createRoom(
      a, json::object{
             {"preset", "public_chat"},
             {"power_level_content_override",
              json::object{{"state_default", 0}, {"events", json::object{{"org.matrix.msc3401.call", 0}}}}},
             {"initial_state",
              json::array{json::object{
                  {"type", "m.room.topic"}, {"state_key", ""}, {"content", json::object{{"topic", "t"}}}}}}});
  ASSERT_EQ(mx.join(b, room).status, 200);
  EXPECT_EQ(mx.putState(b, room, "org.matrix.msc3401.call", "C", json::object{{"m.type", "m.video"}}).status,
            200);
  EXPECT_EQ(mx.putState(b, room, "m.custom", "", json::object{}).status, 200);
  auto r = http.get(p("/rooms/") + enc(room) + "/state/m.room.topic", b.token);
  EXPECT_EQ(str(r.body, "topic"), "t");
}

TEST_F(HsApiTest, LongPollWakesOnToDeviceAndRoomEvents) {
  auto a = mx.registerUser("alice");
  auto b = mx.registerUser("bob");
  const std::string room = mx.createRoom(a, json::object{{"preset", "public_chat"}});
  ASSERT_EQ(mx.join(b, room).status, 200);
  mx.sync(b);
  // To-device wakes a waiting long-poll.
  auto start = std::chrono::steady_clock::now();
  std::thread sender([&] {
    std::this_thread::sleep_for(200ms);
    mx.sendToDevice(a, "m.call.invite", "tx1",
                    json::object{{b.user_id, json::object{{b.device_id, json::object{{"n", 1}}}}}});
  });
  auto s = mx.sync(b, 20000);
  sender.join();
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(toDeviceEvents(s).size(), 1u);
  EXPECT_LT(took, 5s);
  EXPECT_EQ(toDeviceEvents(s)[0].at("sender").as_string(), a.user_id);
  EXPECT_EQ(toDeviceEvents(s)[0].at("type").as_string(), "m.call.invite");
  // A state event wakes it too.
  start = std::chrono::steady_clock::now();
  std::thread writer([&] {
    std::this_thread::sleep_for(200ms);
    mx.putState(a, room, "org.matrix.msc3401.call.member", a.user_id,
                json::object{{"m.calls", json::array{}}});
  });
  s = mx.sync(b, 20000);
  writer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(hasStateEvent(timelineEvents(s, room), "org.matrix.msc3401.call.member", a.user_id));
  // Nothing new: the long-poll times out after ~timeout with an empty response.
  start = std::chrono::steady_clock::now();
  s = mx.sync(b, 300);
  took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 250ms);
  EXPECT_TRUE(toDeviceEvents(s).empty());
  EXPECT_EQ(joinedRoom(s, room), nullptr);
}

TEST_F(HsApiTest, ToDeviceAtLeastOnceInOrderIdempotent) {
  auto a = mx.registerUser("alice");
  auto b = mx.registerUser("bob");
  auto b2 = mx.login("bob", "pw", "SECOND");
  mx.sync(b);
  mx.sync(b2);
  for (int i = 0; i < 250; ++i) {
    auto r = mx.sendToDevice(a, "m.test", "tx" + std::to_string(i),
                             json::object{{b.user_id, json::object{{b.device_id, json::object{{"i", i}}}}}});
    ASSERT_EQ(r.status, 200);
  }
  // Same txn id again: not queued twice.
  ASSERT_EQ(mx.sendToDevice(a, "m.test", "tx0",
                            json::object{{b.user_id, json::object{{b.device_id, json::object{{"i", 0}}}}}})
                .status,
            200);
  // "*" reaches every device of bob.
  ASSERT_EQ(
      mx.sendToDevice(a, "m.star", "star", json::object{{b.user_id, json::object{{"*", json::object{}}}}})
          .status,
      200);
  // Deliver in batches of <= 100, in order; a repeated sync with the old token re-delivers (at-least-once).
  std::vector<std::int64_t> got;
  const std::string before = b.since;
  auto s = mx.sync(b);
  auto evs = toDeviceEvents(s);
  ASSERT_EQ(evs.size(), 100u);
  std::string after_first = b.since;
  b.since = before;
  s = mx.sync(b);  // the client "lost" the first response
  ASSERT_EQ(toDeviceEvents(s).size(), 100u);
  EXPECT_EQ(toDeviceEvents(s)[0].at("content").at("i").as_int64(), 0);
  EXPECT_EQ(b.since, after_first);
  for (int round = 0; round < 10; ++round) {
    for (const auto& e : toDeviceEvents(s)) {
      if (e.at("type").as_string() == "m.test") got.push_back(e.at("content").at("i").as_int64());
    }
    if (toDeviceEvents(s).empty()) break;
    s = mx.sync(b);
  }
  ASSERT_EQ(got.size(), 250u);
  for (int i = 0; i < 250; ++i) EXPECT_EQ(got[i], i);
  // The second device got only the "*" message.
  s = mx.sync(b2);
  ASSERT_EQ(toDeviceEvents(s).size(), 1u);
  EXPECT_EQ(toDeviceEvents(s)[0].at("type").as_string(), "m.star");
  // Acknowledged messages are gone: an old-enough token no longer brings them back once acked.
  s = mx.sync(b2);
  b2.since = b2.since;  // ack
  s = mx.sync(b2);
  EXPECT_TRUE(toDeviceEvents(s).empty());
}

TEST_F(HsApiTest, TimelineLimitedAndBackPagination) {
  auto a = mx.registerUser("alice");
  const std::string room = mx.createRoom(a, json::object{{"preset", "public_chat"}});
  mx.sync(a);
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(
        mx.send(a, room, "m.room.message", json::object{{"body", std::to_string(i)}}, "m" + std::to_string(i))
            .status,
        200);
  }
  auto s = mx.sync(a, 0, "filter=" + enc(R"({"room":{"timeline":{"limit":5}}})"));
  const auto* jr = joinedRoom(s, room);
  ASSERT_NE(jr, nullptr);
  const auto& tl = jr->at("timeline").as_object();
  EXPECT_TRUE(tl.at("limited").as_bool());
  ASSERT_EQ(tl.at("events").as_array().size(), 5u);
  EXPECT_EQ(tl.at("events").as_array()[4].at("content").at("body").as_string(), "29");
  const std::string prev = std::string(tl.at("prev_batch").as_string());
  auto r = http.get(p("/rooms/") + enc(room) + "/messages?dir=b&limit=10&from=" + enc(prev), a.token);
  ASSERT_EQ(r.status, 200) << r.raw;
  const auto& chunk = r.obj().at("chunk").as_array();
  ASSERT_EQ(chunk.size(), 10u);
  EXPECT_EQ(chunk[0].at("content").at("body").as_string(), "24");
  EXPECT_EQ(chunk[9].at("content").at("body").as_string(), "15");
  r = http.get(p("/rooms/") + enc(room) + "/messages?dir=b&limit=100&from=" + enc(str(r.body, "end")),
               a.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.obj().at("chunk").as_array().back().at("type").as_string(), "m.room.create");
  // full_state gives the state again.
  s = mx.sync(a, 0, "full_state=true");
  ASSERT_NE(joinedRoom(s, room), nullptr);
}

TEST_F(HsApiTest, DirectoryPutDelete) {
  auto a = mx.registerUser("alice");
  auto b = mx.registerUser("bob");
  const std::string room = mx.createRoom(a, json::object{{"preset", "public_chat"}});
  ASSERT_EQ(
      http.put(p("/directory/room/") + enc("#x:localhost"), json::object{{"room_id", room}}, a.token).status,
      200);
  EXPECT_EQ(
      http.put(p("/directory/room/") + enc("#x:localhost"), json::object{{"room_id", room}}, a.token).status,
      409);
  EXPECT_EQ(mx.join(b, "#x:localhost").status, 200);
  EXPECT_EQ(http.request("DELETE", p("/directory/room/") + enc("#x:localhost"), {}, b.token).status, 403);
  EXPECT_EQ(http.request("DELETE", p("/directory/room/") + enc("#x:localhost"), {}, a.token).status, 200);
  EXPECT_EQ(http.get(p("/directory/room/") + enc("#x:localhost")).status, 404);
}

TEST(HsTwoServers, IndependentInOneProcess) {
  TestServer one;
  TestServer two;
  EXPECT_NE(one.server().port(), two.server().port());
  auto a = one.mx().registerUser("alice");
  auto r = two.http().get(p("/account/whoami"), a.token);
  EXPECT_EQ(r.status, 401);
  auto a2 = two.mx().registerUser("alice");
  EXPECT_EQ(a2.user_id, a.user_id);
}

TEST(HsLimits, RateLimitBodyLimitLongPollLimit) {
  TestServer hs([](ServerConfig& c) {
    c.rate_per_second = 1;
    c.rate_burst = 3;
    c.max_body_bytes = 4096;
    c.max_long_polls_per_user = 1;
  });
  auto& mx = hs.mx();
  auto a = mx.registerUser("alice");
  const std::string room = mx.createRoom(a, json::object{{"preset", "public_chat"}});
  int limited = 0;
  Resp last;
  for (int i = 0; i < 6; ++i) {
    last = mx.send(a, room, "m.room.message", json::object{{"body", "x"}}, "r" + std::to_string(i));
    if (last.status == 429) {
      ++limited;
      EXPECT_EQ(last.errcode(), "M_LIMIT_EXCEEDED");
      EXPECT_GT(last.obj().at("retry_after_ms").as_int64(), 0);
    }
  }
  EXPECT_GE(limited, 2);
  // Huge body.
  std::string huge = R"({"body":")" + std::string(10000, 'x') + R"("})";
  auto r = hs.http().request("PUT", p("/rooms/") + enc(room) + "/send/m.room.message/big", huge, a.token);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.errcode(), "M_TOO_LARGE");
  // One long-poll per user: the second is refused while the first waits.
  mx.sync(a);
  std::thread waiter([&] {
    User copy = a;
    mx.sync(copy, 1500);
  });
  std::this_thread::sleep_for(300ms);
  r = hs.http().get(p("/sync?timeout=1000&since=") + enc(a.since), a.token);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.errcode(), "M_LIMIT_EXCEEDED");
  waiter.join();
  EXPECT_EQ(hs.http().get("/_matrix/client/versions").status, 200);
}

TEST(HsLimits, LoginAttemptsAreRateLimitedPerName) {
  TestServer hs([](ServerConfig& c) {
    c.rate_per_second = 1;
    c.rate_burst = 3;
  });
  hs.mx().registerUser("alice");
  int limited = 0;
  for (int i = 0; i < 6; ++i) {
    auto r = hs.http().post(
        p("/login"), json::object{{"type", "m.login.password"}, {"user", "alice"}, {"password", "guess"}});
    if (r.status == 429) {
      ++limited;
      EXPECT_EQ(r.errcode(), "M_LIMIT_EXCEEDED");
      EXPECT_FALSE(r.headers["retry-after"].empty());
    } else {
      EXPECT_EQ(r.status, 403);
    }
  }
  EXPECT_GE(limited, 2);
  // Another name has its own budget.
  auto r = hs.http().post(p("/login"),
                          json::object{{"type", "m.login.password"}, {"user", "bob"}, {"password", "x"}});
  EXPECT_EQ(r.status, 403);
}

TEST(HsShutdown, StopAnswersWaitingLongPolls) {
  auto hs = std::make_unique<TestServer>();
  auto a = hs->mx().registerUser("alice");
  hs->mx().sync(a);
  int status = 0;
  std::thread waiter([&] {
    auto r = hs->http().get(p("/sync?timeout=30000&since=") + enc(a.since), a.token);
    status = r.status;
  });
  std::this_thread::sleep_for(300ms);
  const auto start = std::chrono::steady_clock::now();
  hs.reset();
  waiter.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(status, 200);
}

}  // namespace
}  // namespace chorus::hs::test
