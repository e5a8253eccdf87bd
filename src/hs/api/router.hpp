#pragma once
// Maps HTTP requests of the client-server API (v3, r0 and the MSC4140 unstable prefixes) onto the Homeserver
// service: parses paths, query strings and JSON bodies, authenticates, rate-limits and renders Matrix errors.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "base/clock.hpp"
#include "hs/api/notifier.hpp"
#include "hs/config.hpp"
#include "hs/mx_error.hpp"
#include "hs/service/homeserver.hpp"

namespace chorus::hs {

struct HttpRequest {
  std::string method;  // "GET", "PUT", ...
  std::string target;  // origin-form: path?query
  std::string authorization;
  std::string body;
  std::string remote;  // the peer's IP address (login limits per address); "" when unknown
};

struct HttpResponse {
  int status{200};
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class Router {
 public:
  // Borrowed: all outlive the router.
  Router(Homeserver& hs, Notifier& notifier, const Config& cfg, const Clock& clock);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  boost::asio::awaitable<HttpResponse> handle(HttpRequest req);

  static HttpResponse errorResponse(const MxError& e);
  // Always valid JSON: strings that are not valid UTF-8 (an old database may hold such bytes) are repaired.
  static HttpResponse jsonResponse(int status, const boost::json::value& v);

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
  };
  boost::asio::awaitable<HttpResponse> dispatch(const HttpRequest& req);
  // GET /call/... from cfg_.web_root (the web client); nullopt when the path is not under /call.
  std::optional<HttpResponse> serveStatic(const HttpRequest& req) const;
  // Returns an error when `key` (a user id, or "login\n" + a claimed name) exceeded its rate.
  std::optional<MxError> rateLimit(const std::string& key);
  // POST /login: limits per canonical user and per address, the password check on the KDF pool.
  boost::asio::awaitable<HttpResponse> login(const HttpRequest& req, boost::json::object body);
  std::optional<MxError> loginLocked(const std::string& key);
  void loginFailed(const std::string& key, int free_failures);
  boost::asio::awaitable<bool> checkPasswordOffThread(Homeserver::LoginAttempt a);
  // POST /register: the new password is hashed on the KDF pool as well.
  boost::asio::awaitable<HttpResponse> registerUser(boost::json::object body);
  boost::asio::awaitable<std::string> hashOffThread(std::string password);  // "" when hashing failed
  // /keys/*, /devices[/{id}], /delete_devices (router_keys.cpp): E2EE keys and device management.
  boost::asio::awaitable<HttpResponse> keysAndDevices(
      const HttpRequest& req, const Auth& auth, const std::vector<std::string>& seg,
      const std::unordered_map<std::string, std::string>& query, const boost::json::object& body);
  // User-interactive authentication (m.login.password, on the KDF pool, under the login limits) of the
  // request body's "auth"; nullopt when it passed, else the 401 challenge or the error.
  boost::asio::awaitable<std::optional<MxError>> userInteractiveAuth(const Auth& auth,
                                                                     const boost::json::object& body);

  Homeserver& hs_;
  Notifier& notifier_;
  const Config& cfg_;
  const Clock& clock_;
  static constexpr std::size_t kMaxBuckets = 100000;
  std::unordered_map<std::string, Bucket> buckets_;  // per user (writes) and per login name; <= kMaxBuckets
  struct LoginFailures {
    int failures{0};
    std::chrono::steady_clock::time_point last;
    std::chrono::steady_clock::time_point locked_until;
  };
  std::unordered_map<std::string, LoginFailures> login_failures_;  // "user\n"+id, "addr\n"+ip; <= kMaxBuckets
  std::unique_ptr<boost::asio::thread_pool> kdf_pool_;  // null when cfg.kdf_threads == 0 (checks inline)
  std::size_t kdf_pending_{0};                          // queued or running on kdf_pool_; <= cfg.kdf_queue
};

}  // namespace chorus::hs
