#pragma once
// `chorus hs` as an object: the SQLite store, the Matrix service and the HTTP server on one I/O thread.
// start() returns once the server accepts connections; port() then tells the real port (for port 0).
// Instances share nothing, so several servers can run in one process (tests do).
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "hs/config.hpp"

namespace chorus::hs {

class Server {
 public:
  explicit Server(ServerConfig cfg);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Status start();
  // Graceful: stops accepting, answers waiting long-polls, lets in-flight requests finish (bounded), joins.
  void stop();
  std::uint16_t port() const;
  std::string baseUrl() const;
  const ServerConfig& config() const { return cfg_; }

  // Creates an account directly in DIR's store (works while a server runs on it: SQLite WAL + busy timeout).
  static Result<std::string> registerUser(const ServerConfig& cfg, const std::string& localpart,
                                          const std::string& password, bool admin);

 private:
  struct Impl;
  ServerConfig cfg_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chorus::hs
