// The routes of end-to-end encryption keys (/keys/upload, /keys/query, /keys/claim, /keys/changes) and device
// management (/devices, /devices/{id}, /delete_devices). Deleting a device needs user-interactive
// authentication with m.login.password; that password check runs on the KDF pool, with /login's guessing
// backoff per device.
#include "hs/api/client_api.hpp"
#include "hs/service/json_args.hpp"
#include "hs/service/password.hpp"

// GCC 12 flags the frame allocation of Boost.Asio's awaitable (aligned_alloc, released by the frame type's
// own operator delete) as -Wmismatched-new-delete in some coroutines, depending on what it inlines: a false
// positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace chorus::hs {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

template <typename T>
HttpResponse renderKeys(const MxResult<T>& r) {
  if (!r) return ClientApi::errorResponse(r.error());
  return ClientApi::jsonResponse(200, *r);
}

}  // namespace

asio::awaitable<std::optional<MxError>> ClientApi::userInteractiveAuth(const Auth& auth,
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
  if (auto full = kdfQueueFull()) co_return *full;
  bool ok = false;
  {
    KdfSlot pending(kdf_pending_);
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

// Cross-signing (keys/device_signing, keys/signatures) is not served: 404.
void ClientApi::addKeyRoutes(Routes& t) {
  auto now = [&t](const char* method, std::string_view pattern, Now f) {
    t.add(method, pattern, Route{true, f, nullptr});
  };
  // POST /keys/upload/{deviceId} is the r0 form; the device is always the token's.
  for (const char* pattern : {"keys/upload", "keys/upload/{deviceId}"}) {
    now("POST", pattern,
        [](ClientApi& api, Call& c) { return renderKeys(api.hs_.keysUpload(c.auth, c.body)); });
  }
  now("POST", "keys/query",
      [](ClientApi& api, Call& c) { return renderKeys(api.hs_.keysQuery(c.auth, c.body)); });
  now("POST", "keys/claim",
      [](ClientApi& api, Call& c) { return renderKeys(api.hs_.keysClaim(c.auth, c.body)); });
  now("GET", "keys/changes", [](ClientApi& api, Call& c) {
    auto from = c.query("from");
    if (!from) return errorResponse(mxError(400, "M_MISSING_PARAM", "missing 'from'"));
    return renderKeys(api.hs_.keysChanges(c.auth, *from, c.query("to").value_or("")));
  });
  now("GET", "devices", [](ClientApi& api, Call& c) { return renderKeys(api.hs_.devices(c.auth)); });
  now("GET", "devices/{deviceId}",
      [](ClientApi& api, Call& c) { return renderKeys(api.hs_.device(c.auth, c.params["deviceId"])); });
  now("PUT", "devices/{deviceId}", [](ClientApi& api, Call& c) {
    return renderKeys(api.hs_.updateDevice(c.auth, c.params["deviceId"], c.body));
  });
  t.add("DELETE", "devices/{deviceId}", Route{true, nullptr, &ClientApi::deleteDevice});
  t.add("POST", "delete_devices", Route{true, nullptr, &ClientApi::deleteDevices});
}

asio::awaitable<HttpResponse> ClientApi::deleteDevice(Call& c) {
  if (auto e = co_await userInteractiveAuth(c.auth, c.body)) co_return errorResponse(*e);
  auto r = hs_.deleteDevices(c.auth, {c.params["deviceId"]});
  if (!r) co_return errorResponse(r.error());
  co_return jsonResponse(200, json::object{});
}

asio::awaitable<HttpResponse> ClientApi::deleteDevices(Call& c) {
  auto devices = optArray(c.body, "devices");
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
  if (auto e = co_await userInteractiveAuth(c.auth, c.body)) co_return errorResponse(*e);
  auto r = hs_.deleteDevices(c.auth, ids);
  if (!r) co_return errorResponse(r.error());
  co_return jsonResponse(200, json::object{});
}

}  // namespace chorus::hs
