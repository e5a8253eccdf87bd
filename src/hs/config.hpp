#pragma once
// Configuration of the embedded homeserver: command-line flags plus an optional JSON file (--config).
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace chorus::hs {

struct TurnConfig {
  std::vector<std::string> uris;  // empty: /voip/turnServer answers {}
  std::string username;
  std::string password;
  std::int64_t ttl_s{86400};
};

struct Config {
  std::string listen_host{"127.0.0.1"};
  std::uint16_t listen_port{8008};  // 0 = pick a free port (see Server::port())
  std::string data_dir;             // holds hs.sqlite3 (+ WAL); created if missing
  std::string server_name{"localhost"};
  bool open_registration{false};
  // "full": fsync the WAL on every commit (survives power loss); "normal": survives kill -9 only.
  std::string synchronous{"full"};

  // Limits. Every peer-fed queue or map is bounded by one of these.
  std::size_t max_body_bytes{1 << 20};
  std::size_t max_event_bytes{65536};
  std::size_t max_connections{4096};
  int max_long_polls_per_user{64};
  std::int64_t max_sync_timeout_ms{60000};
  std::int64_t max_to_device_per_device{10000};  // queued, undelivered; more -> 429 for the sender
  std::size_t max_to_device_per_sync{100};
  std::size_t max_messages_per_to_device_request{10000};
  double rate_per_second{20};  // per user, for writes; 0 disables rate limiting
  double rate_burst{200};

  // MSC4140 delayed events.
  std::int64_t max_delay_ms{24LL * 3600 * 1000};
  std::int64_t max_scheduled_per_user{100};

  // Password KDF (libsodium crypto_pwhash, Argon2id). Defaults cost ~20 ms per login.
  std::uint64_t kdf_opslimit{2};
  std::size_t kdf_memlimit_bytes{16u << 20};

  TurnConfig turn;

  // Static files served under /call/ (the web client; "" = none). /call/vendor/matrix-js-sdk.js maps to
  // <web_root>/node_modules/matrix-js-sdk/dist/browser-matrix.js.
  std::string web_root;
  std::size_t max_static_file_bytes{16u << 20};
};

// Overlays the keys of a JSON config file onto cfg. Unknown keys are an error (typos are caught).
Status loadConfigFile(const std::string& path, Config& cfg);
// Parses "host:port" into cfg.listen_host/listen_port.
Status parseListen(const std::string& listen, Config& cfg);
// The fastest KDF settings; for tests and benchmarks only.
void useTestKdf(Config& cfg);

}  // namespace chorus::hs
