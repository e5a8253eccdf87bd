// chorus hs configuration: --listen parsing and the JSON config file.
#include "hs/config.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace chorus::hs {
namespace {

std::string writeTemp(const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("chorus-hs-config-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                     "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".json");
  std::ofstream(path) << text;
  return path.string();
}

TEST(HsConfig, ParseListen) {
  ServerConfig c;
  ASSERT_TRUE(parseListen("127.0.0.1:0", c));
  EXPECT_EQ(c.listen_host, "127.0.0.1");
  EXPECT_EQ(c.listen_port, 0);
  ASSERT_TRUE(parseListen("[::1]:8448", c));
  EXPECT_EQ(c.listen_host, "::1");
  EXPECT_EQ(c.listen_port, 8448);
  EXPECT_FALSE(parseListen("localhost", c));
  EXPECT_FALSE(parseListen("1.2.3.4:99999", c));
  EXPECT_FALSE(parseListen("1.2.3.4:http", c));
}

TEST(HsConfig, FileOverlaysDefaults) {
  const std::string path = writeTemp(R"({"server_name":"example.org","open_registration":true,
    "listen":"0.0.0.0:9000","rate_per_second":0,"synchronous":"normal","max_delay_ms":1000,
    "turn":{"uris":["turn:t.example:3478"],"username":"u","password":"p","ttl":60}})");
  ServerConfig c;
  ASSERT_TRUE(loadConfigFile(path, c));
  EXPECT_EQ(c.server_name, "example.org");
  EXPECT_TRUE(c.open_registration);
  EXPECT_EQ(c.listen_port, 9000);
  EXPECT_EQ(c.rate_per_second, 0);
  EXPECT_EQ(c.synchronous, "normal");
  EXPECT_EQ(c.max_delay_ms, 1000);
  ASSERT_EQ(c.turn.uris.size(), 1u);
  EXPECT_EQ(c.turn.ttl_s, 60);
  std::remove(path.c_str());
}

TEST(HsConfig, HostileClientLimitsFromFile) {
  const std::string path = writeTemp(R"({"max_connections_per_address":8,"connection_reserve":4,
    "head_timeout_ms":1500,"idle_timeout_ms":2500,"body_timeout_ms":3500,"login_limits":false,
    "login_free_failures":3,"login_free_failures_per_address":9,"login_backoff_ms":10,"login_max_backoff_ms":100,
    "kdf_threads":1,"kdf_queue":7})");
  ServerConfig c;
  EXPECT_TRUE(c.login_limits);
  EXPECT_EQ(c.head_timeout_ms, 10000);
  ASSERT_TRUE(loadConfigFile(path, c));
  EXPECT_EQ(c.max_connections_per_address, 8u);
  EXPECT_EQ(c.connection_reserve, 4u);
  EXPECT_EQ(c.head_timeout_ms, 1500);
  EXPECT_EQ(c.idle_timeout_ms, 2500);
  EXPECT_EQ(c.body_timeout_ms, 3500);
  EXPECT_FALSE(c.login_limits);
  EXPECT_EQ(c.login_free_failures, 3);
  EXPECT_EQ(c.login_free_failures_per_address, 9);
  EXPECT_EQ(c.login_backoff_ms, 10);
  EXPECT_EQ(c.login_max_backoff_ms, 100);
  EXPECT_EQ(c.kdf_threads, 1u);
  EXPECT_EQ(c.kdf_queue, 7u);
  std::remove(path.c_str());
}

TEST(HsConfig, ErrorsNameTheKey) {
  ServerConfig c;
  for (const char* text : {R"({"no_such_key":1})", R"({"open_registration":"yes"})",
                           R"({"synchronous":"off"})", R"({"max_body_bytes":-5})", R"({"turn":{"uris":"x"}})",
                           R"({"login_limits":1})", R"([1,2])", "{not json"}) {
    const std::string path = writeTemp(text);
    auto st = loadConfigFile(path, c);
    EXPECT_FALSE(st) << text;
    std::remove(path.c_str());
  }
  auto st = loadConfigFile("/nonexistent/chorus-hs.json", c);
  EXPECT_FALSE(st);
}

}  // namespace
}  // namespace chorus::hs
