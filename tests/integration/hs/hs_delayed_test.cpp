// MSC4140 delayed events on `chorus hs`: both API generations, timing, power levels at send time, restarts.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "hs_fixture.hpp"

namespace chorus::hs::test {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* V1 = "/_matrix/client/v1";
constexpr const char* U = "/_matrix/client/unstable/org.matrix.msc4140";

struct Room {
  User a, b;
  std::string id;
};

Room setup(Mx& mx) {
  Room r{mx.registerUser("alice"), mx.registerUser("bob"), {}};
  r.id = mx.createRoom(r.a, json::object{{"preset", "public_chat"}});
  mx.join(r.b, r.id);
  return r;
}

std::string memberPath(const std::string& room, const std::string& user, const std::string& query = {}) {
  return p("/rooms/") + enc(room) + "/state/org.matrix.msc3401.call.member/" + enc(user) + query;
}

// Polls GET state until it has the given "v" (or the time runs out).
bool waitForState(const HttpClient& http, const std::string& path, const std::string& token, std::int64_t v,
                  std::chrono::milliseconds within) {
  const auto end = std::chrono::steady_clock::now() + within;
  do {
    auto r = http.get(path, token);
    if (r.status == 200 && r.obj().contains("v") && r.obj().at("v").as_int64() == v) return true;
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < end);
  return false;
}

TEST(HsDelayed, QueryParamFormSendsOnTime) {
  TestServer hs;
  auto room = setup(hs.mx());
  const auto start = std::chrono::steady_clock::now();
  auto r = hs.http().put(memberPath(room.id, room.b.user_id, "?org.matrix.msc4140.delay=300"),
                         json::object{{"v", 1}}, room.b.token);
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_TRUE(r.obj().contains("delay_id"));
  EXPECT_EQ(hs.http().get(memberPath(room.id, room.b.user_id), room.b.token).status, 404);
  ASSERT_TRUE(waitForState(hs.http(), memberPath(room.id, room.b.user_id), room.b.token, 1, 3s));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 280ms);
  EXPECT_LT(took, 1500ms);
  // /send with the query parameter too.
  r = hs.http().put(p("/rooms/") + enc(room.id) + "/send/m.room.message/d1?org.matrix.msc4140.delay=100",
                    json::object{{"body", "later"}}, room.a.token);
  ASSERT_EQ(r.status, 200) << r.raw;
  std::this_thread::sleep_for(400ms);
  auto m = hs.http().get(p("/rooms/") + enc(room.id) + "/messages?dir=b&limit=1", room.a.token);
  EXPECT_EQ(m.obj().at("chunk").as_array()[0].at("content").at("body").as_string(), "later");
}

TEST(HsDelayed, RestartCancelSendUnstableAndOldForms) {
  TestServer hs;
  auto room = setup(hs.mx());
  auto& http = hs.http();
  auto sched = [&](int v, int delay) {
    auto r =
        http.put(memberPath(room.id, room.b.user_id, "?org.matrix.msc4140.delay=" + std::to_string(delay)),
                 json::object{{"v", v}}, room.b.token);
    EXPECT_EQ(r.status, 200) << r.raw;
    return std::string(r.obj().at("delay_id").as_string());
  };
  // restart keeps pushing it out (generous margins: each restart comes ~700 ms before the deadline).
  const std::string d1 = sched(1, 1000);
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(
        http.post(std::string(U) + "/delayed_events/" + d1 + "/restart", json::object{}, room.b.token).status,
        200);
  }
  std::this_thread::sleep_for(
      300ms);  // 1200 ms after scheduling: without the restarts it would have been sent
  EXPECT_EQ(http.get(memberPath(room.id, room.b.user_id), room.b.token).status, 404);
  EXPECT_TRUE(waitForState(http, memberPath(room.id, room.b.user_id), room.b.token, 1, 3s));
  // cancel (oldest form: POST .../delayed_events/{id} {"action":"cancel"}), idempotent; send afterwards
  // conflicts.
  const std::string d2 = sched(2, 800);
  ASSERT_EQ(
      http.post(std::string(U) + "/delayed_events/" + d2, json::object{{"action", "cancel"}}, room.b.token)
          .status,
      200);
  EXPECT_EQ(
      http.post(std::string(V1) + "/delayed_events/" + d2 + "/cancel", json::object{}, room.b.token).status,
      200);
  auto r = http.post(std::string(V1) + "/delayed_events/" + d2 + "/send", json::object{}, room.b.token);
  EXPECT_EQ(r.status, 409);
  std::this_thread::sleep_for(1000ms);
  EXPECT_TRUE(waitForState(http, memberPath(room.id, room.b.user_id), room.b.token, 1, 10ms));
  // send now.
  const std::string d3 = sched(3, 60000);
  ASSERT_EQ(
      http.post(std::string(V1) + "/delayed_events/" + d3 + "/send", json::object{}, room.b.token).status,
      200);
  EXPECT_TRUE(waitForState(http, memberPath(room.id, room.b.user_id), room.b.token, 3, 10ms));
  // Other users cannot see or touch it; unknown ids are 404.
  EXPECT_EQ(
      http.post(std::string(V1) + "/delayed_events/" + d3 + "/send", json::object{}, room.a.token).status,
      404);
  EXPECT_EQ(
      http.post(std::string(V1) + "/delayed_events/nope/cancel", json::object{}, room.b.token).errcode(),
      "M_NOT_FOUND");
  EXPECT_EQ(
      http.post(std::string(V1) + "/delayed_events/" + d3 + "/explode", json::object{}, room.b.token).status,
      400);
  // Too long a delay.
  r = http.put(memberPath(room.id, room.b.user_id, "?org.matrix.msc4140.delay=999999999999"), json::object{},
               room.b.token);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.obj().at("org.matrix.msc4140.errcode").as_string(), "M_MAX_DELAY_EXCEEDED");
}

TEST(HsDelayed, FinalEndpoints) {
  TestServer hs;
  auto room = setup(hs.mx());
  auto& http = hs.http();
  auto r = http.put(
      p("/rooms/") + enc(room.id) + "/delayed_event/org.matrix.msc3401.call.member/txn1",
      json::object{{"delay_ms", 60000}, {"state_key", room.b.user_id}, {"content", json::object{{"v", 7}}}},
      room.b.token);
  ASSERT_EQ(r.status, 200) << r.raw;
  const std::string id(r.obj().at("delay_id").as_string());
  // Same txn: same delay id.
  r = http.put(
      p("/rooms/") + enc(room.id) + "/delayed_event/org.matrix.msc3401.call.member/txn1",
      json::object{{"delay_ms", 60000}, {"state_key", room.b.user_id}, {"content", json::object{{"v", 7}}}},
      room.b.token);
  EXPECT_EQ(r.obj().at("delay_id").as_string(), id);
  r = http.get(std::string(V1) + "/delayed_events", room.b.token);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.obj().at("scheduled").as_array().size(), 1u);
  EXPECT_EQ(r.obj().at("scheduled").as_array()[0].at("delay_id").as_string(), id);
  r = http.get(std::string(V1) + "/delayed_events/" + id, room.b.token);
  EXPECT_EQ(r.obj().at("state_key").as_string(), room.b.user_id);
  ASSERT_EQ(
      http.post(std::string(V1) + "/delayed_events/" + id + "/send", json::object{}, room.b.token).status,
      200);
  EXPECT_TRUE(waitForState(http, memberPath(room.id, room.b.user_id), room.b.token, 7, 10ms));
  r = http.get(std::string(V1) + "/delayed_events", room.b.token);
  EXPECT_EQ(r.obj().at("finalised").as_array().size(), 1u);
  // Bad shapes.
  r = http.put(p("/rooms/") + enc(room.id) + "/delayed_event/m.x/txn2", json::object{{"delay_ms", "soon"}},
               room.b.token);
  EXPECT_EQ(r.errcode(), "M_BAD_JSON");
  r = http.put(p("/rooms/") + enc(room.id) + "/delayed_event/m.x/txn3", json::object{{"delay_ms", 5}},
               room.b.token);
  EXPECT_EQ(r.errcode(), "M_MISSING_PARAM");
}

TEST(HsDelayed, PowerLevelsCheckedAtSendTime) {
  TestServer hs;
  auto room = setup(hs.mx());
  auto& http = hs.http();
  auto r = http.put(memberPath(room.id, room.b.user_id, "?org.matrix.msc4140.delay=400"),
                    json::object{{"v", 1}}, room.b.token);
  ASSERT_EQ(r.status, 200);
  const std::string id(r.obj().at("delay_id").as_string());
  // Alice takes the right away before it fires.
  json::object pl = http.get(p("/rooms/") + enc(room.id) + "/state/m.room.power_levels/", room.a.token).obj();
  pl["events"].as_object()["org.matrix.msc3401.call.member"] = 50;
  ASSERT_EQ(hs.mx().putState(room.a, room.id, "m.room.power_levels", "", pl).status, 200);
  std::this_thread::sleep_for(800ms);
  EXPECT_EQ(http.get(memberPath(room.id, room.b.user_id), room.b.token).status, 404);
  r = http.get(std::string(V1) + "/delayed_events/" + id, room.b.token);
  EXPECT_EQ(r.obj().at("status").as_string(), "failed");
  EXPECT_EQ(r.obj().at("error").at("errcode").as_string(), "M_FORBIDDEN");
}

TEST(HsDelayed, PersistedAcrossRestart) {
  std::string dir;
  Room room;
  std::string due_while_down;
  {
    TestServer hs;
    hs.release();
    dir = hs.dir();
    room = setup(hs.mx());
    auto r = hs.http().put(memberPath(room.id, room.b.user_id, "?org.matrix.msc4140.delay=1500"),
                           json::object{{"v", 5}}, room.b.token);
    ASSERT_EQ(r.status, 200);
    r = hs.http().put(memberPath(room.id, room.a.user_id, "?org.matrix.msc4140.delay=100"),
                      json::object{{"v", 6}}, room.a.token);
    ASSERT_EQ(r.status, 200);
    due_while_down = std::string(r.obj().at("delay_id").as_string());
    hs.server().stop();  // before either fires... (100 ms is racy only if stop takes that long)
  }
  std::this_thread::sleep_for(300ms);
  TestServer hs2({}, dir);
  // The one that fell due while the server was down goes out at startup; the other at its time.
  EXPECT_TRUE(waitForState(hs2.http(), memberPath(room.id, room.a.user_id), room.a.token, 6, 1s));
  EXPECT_TRUE(waitForState(hs2.http(), memberPath(room.id, room.b.user_id), room.b.token, 5, 3s));
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace chorus::hs::test
