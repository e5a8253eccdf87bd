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

struct ServerConfig {
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
  // Slowloris defences (docs/hs.md "Hostile members and clients"). One address may hold at most
  // max_connections_per_address connections (0 = no cap); once fewer than connection_reserve slots are free,
  // only addresses without a live connection are accepted. A request head (request line + headers) must
  // arrive within head_timeout_ms of the connection (or of its first byte on a kept-alive connection); a
  // kept-alive connection may idle idle_timeout_ms between requests; a body must arrive within
  // body_timeout_ms.
  std::size_t max_connections_per_address{256};
  std::size_t connection_reserve{256};
  std::int64_t head_timeout_ms{10000};
  std::int64_t idle_timeout_ms{60000};
  std::int64_t body_timeout_ms{30000};
  int max_long_polls_per_user{64};
  std::int64_t max_sync_timeout_ms{60000};
  std::int64_t max_to_device_per_device{10000};  // queued, undelivered; more -> 429 for the sender
  std::size_t max_to_device_per_sync{100};
  std::size_t max_messages_per_to_device_request{10000};
  double rate_per_second{20};  // per user, for writes; 0 disables rate limiting
  double rate_burst{200};
  // Password guessing (POST /login), counted per (canonical user id, client address), per user id and per
  // client address: after login_free_failures (_per_user, _per_address) failed attempts the key is locked for
  // login_backoff_ms, doubling with every further failure up to login_max_backoff_ms (429 M_LIMIT_EXCEEDED
  // with retry_after_ms). A guesser on one address therefore locks out only itself; the real user on another
  // address is locked only after login_free_failures_per_user failures from everywhere. A success clears the
  // user's counts. Off when login_limits is false (--no-rate-limit clears it).
  bool login_limits{true};
  int login_free_failures{5};
  int login_free_failures_per_user{100};
  int login_free_failures_per_address{50};
  std::int64_t login_backoff_ms{1000};
  std::int64_t login_max_backoff_ms{15 * 60 * 1000};
  // Argon2id runs on a pool of kdf_threads threads, never on the I/O thread; at most kdf_queue password
  // checks of POST /login may wait for it (more: 429 M_LIMIT_EXCEEDED "Password hashing queue is full").
  std::size_t kdf_threads{2};
  std::size_t kdf_queue{32};

  // End-to-end encryption keys (docs/hs.md "End-to-end encryption"): unclaimed one-time keys stored per
  // device, the size of one serialised one-time/fallback key and of a device's device_keys object, users per
  // /keys/query and (user, device) pairs per /keys/claim or POST /delete_devices.
  std::int64_t max_one_time_keys_per_device{1000};
  std::size_t max_key_bytes{4096};
  std::size_t max_device_keys_bytes{16384};
  std::size_t max_keys_query_users{1000};
  std::size_t max_keys_claim{1000};

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
Status loadConfigFile(const std::string& path, ServerConfig& cfg);
// Parses "host:port" into cfg.listen_host/listen_port.
Status parseListen(const std::string& listen, ServerConfig& cfg);
// The fastest KDF settings; for tests and benchmarks only.
void useTestKdf(ServerConfig& cfg);

}  // namespace chorus::hs
