// ClientApi's routing around the route table, in process (SQLite store in a temp dir, no sockets): which
// answers come before authentication (unknown paths, the open routes' families) and which after it (404/405
// inside a family that needs a token), and the UTF-8 rule before any of them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "base/clock.hpp"
#include "hs/api/client_api.hpp"
#include "hs/api/notifier.hpp"
#include "hs/config.hpp"
#include "hs/service/homeserver.hpp"
#include "hs/store/store.hpp"

namespace chorus::hs {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;

class HsClientApiRouting : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "chorus-hs-routing-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    cfg_.data_dir = tmpl;
    cfg_.synchronous = "normal";
    cfg_.rate_per_second = 0;
    cfg_.max_sync_timeout_ms = 0;
    cfg_.kdf_threads = 0;  // the KDF runs inline: one request, one answer
    useTestKdf(cfg_);
    store_ = std::make_unique<Store>(cfg_.data_dir, cfg_.synchronous);
    hs_ = std::make_unique<Homeserver>(cfg_, *store_, clock_, nullptr);
    notifier_ = std::make_unique<Notifier>(ioc_);
    api_ = std::make_unique<ClientApi>(*hs_, *notifier_, cfg_);
    ASSERT_TRUE(hs_->createUser("alice", "pw", false));
    auto login =
        run("POST", "/login", R"({"type":"m.login.password","user":"alice","password":"pw"})", false);
    ASSERT_EQ(login.status, 200) << login.body;
    token_ = std::string(json::parse(login.body).at("access_token").as_string());
  }
  void TearDown() override {
    api_.reset();
    std::error_code ec;
    std::filesystem::remove_all(cfg_.data_dir, ec);
  }

  // path: after "/_matrix/client/v3" unless it starts with "//" (then the whole target, minus one '/').
  HttpResponse run(const std::string& method, const std::string& path, const std::string& body,
                   bool with_token) {
    HttpRequest req;
    req.method = method;
    req.target = path.rfind("//", 0) == 0 ? path.substr(1) : "/_matrix/client/v3" + path;
    req.authorization = with_token ? "Bearer " + token_ : "";
    req.body = body;
    HttpResponse out;
    bool done = false;
    asio::co_spawn(ioc_, api_->handle(std::move(req)), [&](std::exception_ptr e, HttpResponse r) {
      EXPECT_FALSE(e);
      out = std::move(r);
      done = true;
    });
    ioc_.restart();
    ioc_.run();
    EXPECT_TRUE(done);
    return out;
  }
  static std::string errcode(const HttpResponse& r) {
    const auto v = json::parse(r.body);
    const auto* e = v.as_object().if_contains("errcode");
    return e ? std::string(e->as_string()) : std::string();
  }

  ServerConfig cfg_;
  SystemClock clock_;
  asio::io_context ioc_{1};
  std::unique_ptr<Store> store_;
  std::unique_ptr<Homeserver> hs_;
  std::unique_ptr<Notifier> notifier_;
  std::unique_ptr<ClientApi> api_;
  std::string token_;
};

TEST_F(HsClientApiRouting, UnknownPathsAre404BeforeAuthentication) {
  for (const char* path : {"/no/such/thing", "/", "//_matrix/client/v9/sync", "//elsewhere", "/login/extra",
                           "/register/elsewhere"}) {
    auto r = run("GET", path, "", false);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(errcode(r), "M_UNRECOGNIZED") << path;
  }
}

TEST_F(HsClientApiRouting, OpenRoutesAnswer405BeforeAuthentication) {
  for (auto [method, path] : {std::pair{"PUT", "/login"},
                              {"GET", "/register"},
                              {"DELETE", "/register"},
                              {"POST", "/register/available"},
                              {"POST", "//_matrix/client/versions"}}) {
    auto r = run(method, path, "", false);
    EXPECT_EQ(r.status, 405) << method << " " << path;
    EXPECT_EQ(errcode(r), "M_UNRECOGNIZED") << method << " " << path;
  }
  auto flows = run("GET", "/login", "", false);
  EXPECT_EQ(flows.status, 200);
  auto profile = run("GET", "/profile/%40alice%3Alocalhost", "", false);
  EXPECT_EQ(profile.status, 200) << profile.body;
}

TEST_F(HsClientApiRouting, FamiliesThatNeedATokenAskForItFirst) {
  // Wrong method, unknown sub-path and a real route alike: 401 without a token...
  for (auto [method, path] : {std::pair{"GET", "/createRoom"},
                              {"GET", "/rooms/%21r%3Ax/bogus"},
                              {"POST", "/sync"},
                              {"GET", "/keys/device_signing/upload"},
                              {"GET", "/sync"},
                              {"PUT", "/profile/%40alice%3Alocalhost/displayname"}}) {
    auto r = run(method, path, "{}", false);
    EXPECT_EQ(r.status, 401) << method << " " << path;
    EXPECT_EQ(errcode(r), "M_MISSING_TOKEN") << method << " " << path;
  }
  // ...and 405 / 404 with one.
  for (auto [method, path, status] : {std::tuple{"GET", "/createRoom", 405},
                                      {"POST", "/sync", 405},
                                      {"GET", "/keys/upload", 405},
                                      {"DELETE", "/rooms/%21r%3Ax/state", 405},
                                      {"GET", "/rooms/%21r%3Ax/typing/%40alice%3Alocalhost", 405},
                                      {"POST", "/profile/%40alice%3Alocalhost", 405},
                                      {"GET", "/rooms/%21r%3Ax/bogus", 404},
                                      {"GET", "/sync/", 404},
                                      {"POST", "/keys/device_signing/upload", 404},
                                      {"GET", "/user/x/filter/1/2", 404},
                                      {"GET", "/rooms/%21r%3Ax/receipt", 404}}) {
    auto r = run(method, path, "{}", true);
    EXPECT_EQ(r.status, status) << method << " " << path << ": " << r.body;
    EXPECT_EQ(errcode(r), "M_UNRECOGNIZED") << method << " " << path;
  }
  auto who = run("GET", "/account/whoami", "", true);
  ASSERT_EQ(who.status, 200);
  EXPECT_EQ(json::parse(who.body).at("user_id").as_string(), "@alice:localhost");
}

TEST_F(HsClientApiRouting, EveryMethodOfPushRulesIsAnswered) {
  EXPECT_EQ(run("GET", "/pushrules/", "", true).status, 200);
  EXPECT_EQ(run("GET", "/pushrules/global/override", "", true).status, 200);
  EXPECT_EQ(run("GET", "/pushrules/device", "", true).status, 404);
  auto put = run("PUT", "/pushrules/global/override/x", "{}", true);
  EXPECT_EQ(put.status, 403);
  EXPECT_EQ(errcode(put), "M_FORBIDDEN");
}

TEST_F(HsClientApiRouting, InvalidUtf8ParametersAre400OnEveryPath) {
  for (const char* path : {"/rooms/%21r%3Ax/send/%FF%FE/txn", "/no/such/%FF", "/login?x=%C0%AF"}) {
    for (bool token : {false, true}) {
      auto r = run("PUT", path, "{}", token);
      EXPECT_EQ(r.status, 400) << path;
      EXPECT_EQ(errcode(r), "M_INVALID_PARAM") << path;
    }
  }
}

TEST_F(HsClientApiRouting, PathParametersReachTheService) {
  auto room = run("POST", "/createRoom", R"({"preset":"public_chat"})", true);
  ASSERT_EQ(room.status, 200) << room.body;
  const std::string id(json::parse(room.body).at("room_id").as_string());
  const std::string enc = "%21" + id.substr(1, id.find(':') - 1) + "%3A" + id.substr(id.find(':') + 1);
  auto put = run("PUT", "/rooms/" + enc + "/state/m.room.topic/", R"({"topic":"t"})", true);
  ASSERT_EQ(put.status, 200) << put.body;
  auto get = run("GET", "/rooms/" + enc + "/state/m.room.topic", "", true);  // the same empty key
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(json::parse(get.body).at("topic").as_string(), "t");
  auto sent = run("PUT", "/rooms/" + enc + "/send/m.room.message/t%2F1", R"({"body":"x"})", true);
  ASSERT_EQ(sent.status, 200) << sent.body;
  auto again = run("POST", "/rooms/" + enc + "/send/m.room.message/t%2F1", R"({"body":"x"})", true);
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(json::parse(again.body).at("event_id"), json::parse(sent.body).at("event_id"));  // same txn id
}

}  // namespace
}  // namespace chorus::hs
