// End-to-end encryption keys (/keys/upload, /keys/query, /keys/claim, /keys/changes) and device management
// (/devices, /devices/{id}, /delete_devices). Deleting a device needs user-interactive authentication with
// m.login.password; that password check runs on the KDF pool, with /login's guessing backoff per device.
#include "hs/api/router.hpp"
#include "hs/service/json_args.hpp"
#include "hs/service/password.hpp"

namespace chorus::hs {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

template <typename T>
HttpResponse render(const MxResult<T>& r) {
  if (!r) return Router::errorResponse(r.error());
  return Router::jsonResponse(200, *r);
}

HttpResponse unrecognized() {
  return Router::errorResponse(mxError(404, "M_UNRECOGNIZED", "Unrecognized request"));
}
HttpResponse badMethod() {
  return Router::errorResponse(mxError(405, "M_UNRECOGNIZED", "Unsupported method"));
}

struct Pending {
  std::size_t& n;
  explicit Pending(std::size_t& c) : n(c) { ++n; }
  ~Pending() { --n; }
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;
};

}  // namespace

asio::awaitable<std::optional<MxError>> Router::userInteractiveAuth(const Auth& auth,
                                                                    const json::object& body) {
  json::object challenge{{"flows", json::array{json::object{{"stages", json::array{"m.login.password"}}}}},
                         {"params", json::object{}},
                         {"session", randomAlnum(24)}};
  auto a = optObject(body, "auth");
  if (!a) co_return a.error();
  if (!*a) {
    MxError e = mxError(401, "", "");  // a bare challenge carries no errcode
    e.extra = std::move(challenge);
    co_return e;
  }
  json::object ad = **a;
  auto session = optString(ad, "session");
  if (!session) co_return session.error();
  if (*session && !(*session)->empty() && (*session)->size() <= 255) challenge["session"] = **session;
  auto type = optString(ad, "type");
  if (!type) co_return type.error();
  if (type->value_or("") != "m.login.password") {
    MxError e = mxError(401, "M_UNRECOGNIZED", "Only m.login.password is supported");
    e.extra = std::move(challenge);
    co_return e;
  }
  if (!ad.contains("identifier") && !ad.contains("user")) ad["user"] = auth.user_id;
  // Failures are counted per device (access token holder), with /login's backoff, in a bucket of their own: a
  // holder of one token can guess only slowly, and cannot lock the user out of /login.
  const std::string user_key = "uia\n" + auth.user_id + "\n" + auth.device_id;
  if (cfg_.login_limits) {
    if (auto e = loginLocked(user_key)) co_return *e;
  }
  auto attempt = hs_.loginPrepare(ad);
  if (!attempt) co_return attempt.error();
  if (hs_.canonicalLoginName(attempt->user_id) != hs_.canonicalLoginName(auth.user_id)) {
    co_return forbidden("The authenticated user is not the user of the access token");
  }
  if (kdf_pool_ && kdf_pending_ >= cfg_.kdf_queue) {
    MxError e = mxError(429, "M_LIMIT_EXCEEDED", "Password hashing queue is full; try again later");
    e.extra["retry_after_ms"] = 1000;
    co_return e;
  }
  bool ok = false;
  {
    Pending pending(kdf_pending_);
    ok = co_await checkPasswordOffThread(*attempt);
  }
  if (!ok) {
    if (cfg_.login_limits) loginFailed(user_key, cfg_.login_free_failures);
    MxError e = mxError(401, "M_FORBIDDEN", "Invalid password");
    e.extra = std::move(challenge);
    co_return e;
  }
  login_failures_.erase(user_key);
  co_return std::nullopt;
}

asio::awaitable<HttpResponse> Router::keysAndDevices(
    const HttpRequest& req, const Auth& auth, const std::vector<std::string>& s,
    const std::unordered_map<std::string, std::string>& query, const json::object& body) {
  const std::string& m = req.method;
  const std::size_t n = s.size();
  auto q = [&](const std::string& k) -> std::string {
    auto it = query.find(k);
    return it == query.end() ? std::string() : it->second;
  };
  if (s[0] == "keys") {
    // POST /keys/upload/{deviceId} is the r0 form; the device is always the token's.
    if (n >= 2 && n <= 3 && s[1] == "upload") {
      if (m != "POST") co_return badMethod();
      co_return render(hs_.keysUpload(auth, body));
    }
    if (n == 2 && s[1] == "query") {
      if (m != "POST") co_return badMethod();
      co_return render(hs_.keysQuery(auth, body));
    }
    if (n == 2 && s[1] == "claim") {
      if (m != "POST") co_return badMethod();
      co_return render(hs_.keysClaim(auth, body));
    }
    if (n == 2 && s[1] == "changes") {
      if (m != "GET") co_return badMethod();
      if (!query.count("from")) co_return errorResponse(mxError(400, "M_MISSING_PARAM", "missing 'from'"));
      co_return render(hs_.keysChanges(auth, q("from"), q("to")));
    }
    co_return unrecognized();  // cross-signing (device_signing, signatures) is not served
  }
  if (s[0] == "devices") {
    if (n == 1) {
      if (m != "GET") co_return badMethod();
      co_return jsonResponse(200, hs_.devices(auth));
    }
    if (n != 2) co_return unrecognized();
    if (m == "GET") co_return render(hs_.device(auth, s[1]));
    if (m == "PUT") co_return render(hs_.updateDevice(auth, s[1], body));
    if (m != "DELETE") co_return badMethod();
    if (auto e = co_await userInteractiveAuth(auth, body)) co_return errorResponse(*e);
    auto r = hs_.deleteDevices(auth, {s[1]});
    if (!r) co_return errorResponse(r.error());
    co_return jsonResponse(200, json::object{});
  }
  if (s[0] == "delete_devices" && n == 1) {
    if (m != "POST") co_return badMethod();
    auto devices = optArray(body, "devices");
    if (!devices) co_return errorResponse(devices.error());
    if (!*devices) co_return errorResponse(mxError(400, "M_MISSING_PARAM", "missing 'devices'"));
    if ((*devices)->size() > cfg_.max_keys_claim) {
      co_return errorResponse(mxError(413, "M_TOO_LARGE", "Too many devices in one request"));
    }
    std::vector<std::string> ids;
    for (const auto& d : **devices) {
      if (!d.is_string()) co_return errorResponse(badJson("'devices' must be an array of strings"));
      ids.emplace_back(d.get_string());
    }
    if (auto e = co_await userInteractiveAuth(auth, body)) co_return errorResponse(*e);
    auto r = hs_.deleteDevices(auth, ids);
    if (!r) co_return errorResponse(r.error());
    co_return jsonResponse(200, json::object{});
  }
  co_return unrecognized();
}

}  // namespace chorus::hs
