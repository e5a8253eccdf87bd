#pragma once
// An in-process `chorus hs` on 127.0.0.1:0 with a fresh data directory, for the integration tests.
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "hs/config.hpp"
#include "hs/server.hpp"
#include "hs_client.hpp"

namespace chorus::hs::test {

inline std::string makeTempDir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

inline ServerConfig testConfig(const std::string& dir) {
  ServerConfig cfg;
  cfg.listen_host = "127.0.0.1";
  cfg.listen_port = 0;
  cfg.data_dir = dir;
  cfg.server_name = "localhost";
  cfg.open_registration = true;
  cfg.rate_per_second = 0;  // like --no-rate-limit
  cfg.login_limits = false;
  cfg.max_connections_per_address = 0;
  cfg.synchronous = "normal";
  useTestKdf(cfg);
  return cfg;
}

class TestServer {
 public:
  explicit TestServer(const std::function<void(ServerConfig&)>& tweak = {}, std::string dir = {})
      : owns_dir_(dir.empty()), dir_(dir.empty() ? makeTempDir("chorus-hs-") : std::move(dir)) {
    ServerConfig cfg = testConfig(dir_);
    if (tweak) tweak(cfg);
    server_ = std::make_unique<Server>(cfg);
    auto st = server_->start();
    if (!st) throw std::runtime_error("server start: " + st.error().toString());
    http_ = std::make_unique<HttpClient>("127.0.0.1", server_->port());
    mx_ = std::make_unique<Mx>(*http_);
  }
  ~TestServer() {
    server_->stop();
    if (owns_dir_) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  Server& server() { return *server_; }
  const HttpClient& http() const { return *http_; }
  Mx& mx() { return *mx_; }
  const std::string& dir() const { return dir_; }
  // Stops the server and keeps the directory (for restart tests).
  void release() { owns_dir_ = false; }

 private:
  bool owns_dir_;
  std::string dir_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<Mx> mx_;
};

}  // namespace chorus::hs::test
