// A table of malformed or forbidden requests: each gets the right status and errcode, and the server keeps
// serving.
#include <gtest/gtest.h>

#include <boost/asio.hpp>

#include "hs_fixture.hpp"

namespace chorus::hs::test {
namespace {
namespace json = boost::json;

enum class Tok { None, Alice, Bob, Carol, Bogus };

struct Case {
  const char* name;
  const char* method;
  std::string path;  // {room} is replaced by the test room id (encoded)
  std::optional<std::string> body;
  Tok tok;
  int status;
  const char* errcode;
};

std::string nested(int depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(HsBadInput, TableOfMalformedRequests) {
  TestServer hs([](ServerConfig& c) { c.max_body_bytes = 1 << 20; });
  auto& mx = hs.mx();
  auto& http = hs.http();
  auto a = mx.registerUser("alice");
  auto b = mx.registerUser("bob");
  auto c = mx.registerUser("carol");
  const std::string room = mx.createRoom(a, json::object{{"preset", "public_chat"}});
  ASSERT_EQ(mx.join(b, room).status, 200);
  const std::string P = "/_matrix/client/v3";
  const std::string huge_body = R"({"body":")" + std::string(2 << 20, 'x') + R"("})";
  const std::string big_event = R"({"body":")" + std::string(70000, 'x') + R"("})";

  const std::vector<Case> cases = {
      {"login not json", "POST", P + "/login", "this is not json", Tok::None, 400, "M_NOT_JSON"},
      {"login array", "POST", P + "/login", "[1,2]", Tok::None, 400, "M_BAD_JSON"},
      {"login user int", "POST", P + "/login", R"({"type":"m.login.password","user":5,"password":"pw"})",
       Tok::None, 400, "M_BAD_JSON"},
      {"login identifier.user int", "POST", P + "/login",
       R"({"type":"m.login.password","identifier":{"type":"m.id.user","user":7},"password":"pw"})", Tok::None,
       400, "M_BAD_JSON"},
      {"login type int", "POST", P + "/login", R"({"type":3})", Tok::None, 400, "M_BAD_JSON"},
      {"login password missing", "POST", P + "/login", R"({"type":"m.login.password","user":"alice"})",
       Tok::None, 400, "M_MISSING_PARAM"},
      {"login unknown user", "POST", P + "/login",
       R"({"type":"m.login.password","user":"zed","password":"pw"})", Tok::None, 403, "M_FORBIDDEN"},
      {"invalid utf-8", "POST", P + "/login", std::string("{\"type\":\"\xff\xfe\"}"), Tok::None, 400,
       "M_NOT_JSON"},
      {"deep nesting", "POST", P + "/createRoom", nested(200), Tok::Alice, 400, "M_NOT_JSON"},
      {"no token", "GET", P + "/sync", std::nullopt, Tok::None, 401, "M_MISSING_TOKEN"},
      {"bogus token", "GET", P + "/sync", std::nullopt, Tok::Bogus, 401, "M_UNKNOWN_TOKEN"},
      {"createRoom preset int", "POST", P + "/createRoom", R"({"preset":5})", Tok::Alice, 400, "M_BAD_JSON"},
      {"createRoom unknown preset", "POST", P + "/createRoom", R"({"preset":"party"})", Tok::Alice, 400,
       "M_BAD_JSON"},
      {"createRoom invite string", "POST", P + "/createRoom", R"({"invite":"@bob:localhost"})", Tok::Alice,
       400, "M_BAD_JSON"},
      {"createRoom invite not ids", "POST", P + "/createRoom", R"({"invite":[1]})", Tok::Alice, 400,
       "M_BAD_JSON"},
      {"createRoom initial_state item", "POST", P + "/createRoom", R"({"initial_state":[1]})", Tok::Alice,
       400, "M_BAD_JSON"},
      {"createRoom pl override type", "POST", P + "/createRoom",
       R"({"power_level_content_override":{"users":{"@alice:localhost":"high"}}})", Tok::Alice, 400,
       "M_BAD_JSON"},
      {"createRoom name object", "POST", P + "/createRoom", R"({"name":{}})", Tok::Alice, 400, "M_BAD_JSON"},
      {"createRoom bad version", "POST", P + "/createRoom", R"({"room_version":"99"})", Tok::Alice, 400,
       "M_UNSUPPORTED_ROOM_VERSION"},
      {"createRoom invite unknown", "POST", P + "/createRoom", R"({"invite":["@ghost:localhost"]})",
       Tok::Alice, 404, "M_NOT_FOUND"},
      {"power levels users array", "PUT", P + "/rooms/{room}/state/m.room.power_levels/", R"({"users":[]})",
       Tok::Alice, 400, "M_BAD_JSON"},
      {"state body array", "PUT", P + "/rooms/{room}/state/m.custom/", "[]", Tok::Alice, 400, "M_BAD_JSON"},
      {"send unknown room", "PUT", P + "/rooms/%21nope%3Alocalhost/send/m.room.message/t1", R"({"body":"x"})",
       Tok::Alice, 404, "M_NOT_FOUND"},
      {"state unknown room", "PUT", P + "/rooms/%21nope%3Alocalhost/state/m.x/", "{}", Tok::Alice, 404,
       "M_NOT_FOUND"},
      {"get state unknown room", "GET", P + "/rooms/%21nope%3Alocalhost/state", std::nullopt, Tok::Alice, 404,
       "M_NOT_FOUND"},
      {"join unknown room", "POST", P + "/join/%21nope%3Alocalhost", "{}", Tok::Alice, 404, "M_NOT_FOUND"},
      {"join unknown alias", "POST", P + "/join/%23nope%3Alocalhost", "{}", Tok::Alice, 404, "M_NOT_FOUND"},
      {"join garbage", "POST", P + "/join/garbage", "{}", Tok::Alice, 400, "M_INVALID_PARAM"},
      {"someone else's @state_key", "PUT",
       P + "/rooms/{room}/state/org.matrix.msc3401.call.member/%40bob%3Alocalhost", "{}", Tok::Alice, 403,
       "M_FORBIDDEN"},
      {"missing power (name)", "PUT", P + "/rooms/{room}/state/m.room.name/", R"({"name":"x"})", Tok::Bob,
       403, "M_FORBIDDEN"},
      {"missing power (call)", "PUT", P + "/rooms/{room}/state/org.matrix.msc3401.call/C1",
       R"({"m.type":"m.video"})", Tok::Bob, 403, "M_FORBIDDEN"},
      {"not joined", "PUT", P + "/rooms/{room}/send/m.room.message/t9", R"({"body":"x"})", Tok::Carol, 403,
       "M_FORBIDDEN"},
      {"membership int", "PUT", P + "/rooms/{room}/state/m.room.member/%40bob%3Alocalhost",
       R"({"membership":7})", Tok::Alice, 400, "M_BAD_JSON"},
      {"force join", "PUT", P + "/rooms/{room}/state/m.room.member/%40carol%3Alocalhost",
       R"({"membership":"join"})", Tok::Alice, 403, "M_FORBIDDEN"},
      {"create again", "PUT", P + "/rooms/{room}/state/m.room.create/", "{}", Tok::Alice, 403, "M_FORBIDDEN"},
      {"invite user_id int", "POST", P + "/rooms/{room}/invite", R"({"user_id":5})", Tok::Alice, 400,
       "M_BAD_JSON"},
      {"invite unknown user", "POST", P + "/rooms/{room}/invite", R"({"user_id":"@ghost:localhost"})",
       Tok::Alice, 404, "M_NOT_FOUND"},
      {"toDevice messages int", "PUT", P + "/sendToDevice/m.x/t1", R"({"messages":5})", Tok::Alice, 400,
       "M_BAD_JSON"},
      {"toDevice content string", "PUT", P + "/sendToDevice/m.x/t2",
       R"({"messages":{"@bob:localhost":{"D":"s"}}})", Tok::Alice, 400, "M_BAD_JSON"},
      {"toDevice missing messages", "PUT", P + "/sendToDevice/m.x/t3", "{}", Tok::Alice, 400,
       "M_MISSING_PARAM"},
      {"sync bad since", "GET", P + "/sync?since=garbage", std::nullopt, Tok::Alice, 400, "M_INVALID_PARAM"},
      {"sync bad timeout", "GET", P + "/sync?timeout=soon", std::nullopt, Tok::Alice, 400, "M_INVALID_PARAM"},
      {"sync bad inline filter", "GET", P + "/sync?filter=%7Bbad", std::nullopt, Tok::Alice, 400,
       "M_NOT_JSON"},
      {"messages bad dir", "GET", P + "/rooms/{room}/messages?dir=x", std::nullopt, Tok::Alice, 400,
       "M_INVALID_PARAM"},
      {"messages bad from", "GET", P + "/rooms/{room}/messages?from=zzz", std::nullopt, Tok::Alice, 400,
       "M_INVALID_PARAM"},
      {"huge body", "PUT", P + "/rooms/{room}/send/m.room.message/huge", huge_body, Tok::Alice, 413,
       "M_TOO_LARGE"},
      {"event too large", "PUT", P + "/rooms/{room}/send/m.room.message/big", big_event, Tok::Alice, 413,
       "M_TOO_LARGE"},
      {"delay not a number", "PUT", P + "/rooms/{room}/state/m.x/?org.matrix.msc4140.delay=abc", "{}",
       Tok::Alice, 400, "M_INVALID_PARAM"},
      {"delay negative", "PUT", P + "/rooms/{room}/state/m.x/?org.matrix.msc4140.delay=-5", "{}", Tok::Alice,
       400, "M_INVALID_PARAM"},
      {"delayed unknown id", "POST", "/_matrix/client/v1/delayed_events/nope/send", "{}", Tok::Alice, 404,
       "M_NOT_FOUND"},
      {"filter for someone else", "POST", P + "/user/%40bob%3Alocalhost/filter", "{}", Tok::Alice, 403,
       "M_FORBIDDEN"},
      {"wrong method", "POST", P + "/devices", "{}", Tok::Alice, 405, "M_UNRECOGNIZED"},
      {"unknown endpoint", "GET", P + "/unknown/thing", std::nullopt, Tok::Alice, 404, "M_UNRECOGNIZED"},
      {"register disabled kind", "POST", P + "/register?kind=guest", "{}", Tok::None, 403, "M_FORBIDDEN"},
  };
  auto tokenOf = [&](Tok t) -> std::string {
    switch (t) {
      case Tok::Alice:
        return a.token;
      case Tok::Bob:
        return b.token;
      case Tok::Carol:
        return c.token;
      case Tok::Bogus:
        return "syt_not_a_real_token";
      case Tok::None:
        return {};
    }
    return {};
  };
  for (const auto& tc : cases) {
    std::string path = tc.path;
    if (auto pos = path.find("{room}"); pos != std::string::npos) path.replace(pos, 6, enc(room));
    auto r = http.request(tc.method, path, tc.body, tokenOf(tc.tok));
    EXPECT_EQ(r.status, tc.status) << tc.name << ": " << r.raw.substr(0, 300);
    EXPECT_EQ(r.errcode(), tc.errcode) << tc.name << ": " << r.raw.substr(0, 300);
    EXPECT_TRUE(r.obj().contains("error")) << tc.name;
    // ...and the server keeps serving.
    ASSERT_EQ(http.get("/_matrix/client/versions").status, 200) << "after " << tc.name;
  }
  // Nothing in the table changed the room: bob's name change and alice's forced join did not happen.
  EXPECT_EQ(http.get(P + "/rooms/" + enc(room) + "/state/m.room.name/", a.token).status, 404);
  EXPECT_EQ(http.get(P + "/rooms/" + enc(room) + "/state/m.room.member/" + enc(c.user_id), a.token).status,
            404);
}

TEST(HsBadInput, MalformedHttpDoesNotHurt) {
  TestServer hs;
  namespace asio = boost::asio;
  for (const std::string& garbage :
       {std::string("GARBAGE\r\n\r\n"), std::string("GET / HTTP/1.1\r\nHost: x\r\n"),
        std::string("POST /x HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"), std::string(200000, 'A')}) {
    asio::io_context ioc;
    asio::ip::tcp::socket s(ioc);
    s.connect({asio::ip::make_address("127.0.0.1"), hs.server().port()});
    boost::system::error_code ec;
    asio::write(s, asio::buffer(garbage), ec);
    s.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    char buf[512];
    s.read_some(asio::buffer(buf), ec);  // a 400/413 or a close; either is fine
    EXPECT_EQ(hs.http().get("/_matrix/client/versions").status, 200);
  }
}

}  // namespace
}  // namespace chorus::hs::test
