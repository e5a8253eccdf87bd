#pragma once
// ClientApi: the HTTP face of the client-server API (v3, r0, v1 and the MSC4140 unstable prefixes) over the
// Homeserver service. One route table (client_api.cpp, keys and devices in client_api_keys.cpp) maps method +
// path pattern to a handler; around it: CORS preflight, the web client under /call/, authentication, rate
// limits, JSON bodies, Matrix errors, and the password KDF on a thread pool. Runs on the server's io_context
// thread; the KDF pool posts its results back to it.
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

#include "hs/api/notifier.hpp"
#include "hs/api/route_table.hpp"
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

class ClientApi {
 public:
  // Borrowed: all outlive the ClientApi.
  ClientApi(Homeserver& hs, Notifier& notifier, const ServerConfig& cfg);
  ~ClientApi();
  ClientApi(const ClientApi&) = delete;
  ClientApi& operator=(const ClientApi&) = delete;

  boost::asio::awaitable<HttpResponse> handle(HttpRequest req);

  static HttpResponse errorResponse(const MxError& e);
  // Always valid JSON: strings that are not valid UTF-8 (an old database may hold such bytes) are repaired.
  static HttpResponse jsonResponse(int status, const boost::json::value& v);
  // A request body: {} when empty, else a JSON object (400 M_NOT_JSON: not JSON, invalid UTF-8 or nesting
  // deeper than 64; 400 M_BAD_JSON: not an object).
  static MxResult<boost::json::object> parseJsonBody(const std::string& body);

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
  };
  // One request as a route handler sees it.
  struct Call {
    const HttpRequest& req;
    const RequestTarget& target;
    const PathParams& params;
    std::string token;         // the access token ("" on routes without authentication)
    Auth auth;                 // the token's user and device (empty on routes without authentication)
    boost::json::object body;  // the parsed JSON body of PUT and POST (and DELETE /devices/{id}), else {}
    std::optional<std::string> query(const std::string& key) const;
  };
  // A route answers at once (`now`, most of them) or is a coroutine that waits (`later`: the KDF,
  // long-polls).
  using Now = HttpResponse (*)(ClientApi& api, Call& call);
  using Later = boost::asio::awaitable<HttpResponse> (ClientApi::*)(Call& call);
  struct Route {
    bool authenticated{true};  // needs an access token
    Now now{nullptr};
    Later later{nullptr};
  };
  using Routes = RouteTable<Route>;
  // Built once: every endpoint of the client-server API that is served.
  static const Routes& routes();
  static void addKeyRoutes(Routes& t);  // client_api_keys.cpp
  boost::asio::awaitable<HttpResponse> dispatch(const HttpRequest& req);
  // GET /call/... from cfg_.web_root (the web client); nullopt when the path is not under /call.
  std::optional<HttpResponse> serveStatic(const HttpRequest& req) const;
  // Returns an error when `key` (a user id, or "login\n" + a claimed name) exceeded its rate.
  std::optional<MxError> rateLimit(const std::string& key);
  // GET /sync, long-polling on the notifier.
  boost::asio::awaitable<HttpResponse> sync(Call& c);
  // POST /login: limits per canonical user and per address, the password check on the KDF pool.
  boost::asio::awaitable<HttpResponse> login(Call& c);
  std::optional<MxError> loginLocked(const std::string& key);
  void loginFailed(const std::string& key, int free_failures);
  boost::asio::awaitable<bool> checkPasswordOffThread(Homeserver::LoginAttempt a);
  // POST /register: the new password is hashed on the KDF pool as well.
  boost::asio::awaitable<HttpResponse> registerUser(Call& c);
  boost::asio::awaitable<std::string> hashOffThread(std::string password);  // "" when hashing failed
  // DELETE /devices/{deviceId} and POST /delete_devices, behind user-interactive authentication.
  boost::asio::awaitable<HttpResponse> deleteDevice(Call& c);
  boost::asio::awaitable<HttpResponse> deleteDevices(Call& c);
  // User-interactive authentication (m.login.password, on the KDF pool, under the login limits) of the
  // request body's "auth"; nullopt when it passed, else the 401 challenge or the error.
  boost::asio::awaitable<std::optional<MxError>> userInteractiveAuth(const Auth& auth,
                                                                     const boost::json::object& body);

  Homeserver& hs_;
  Notifier& notifier_;
  const ServerConfig& cfg_;
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
  // 429 M_LIMIT_EXCEEDED when the KDF pool's queue is full (nothing to wait for when hashing runs inline).
  std::optional<MxError> kdfQueueFull() const;
  // Counts one password hash or check as pending on the KDF pool while it lives.
  class KdfSlot {
   public:
    explicit KdfSlot(std::size_t& pending) : n_(pending) { ++n_; }
    ~KdfSlot() { --n_; }
    KdfSlot(const KdfSlot&) = delete;
    KdfSlot& operator=(const KdfSlot&) = delete;

   private:
    std::size_t& n_;
  };
};

}  // namespace chorus::hs
