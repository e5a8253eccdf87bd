#include "hs/service/homeserver.hpp"

#include <cctype>

#include <algorithm>

#include "base/log.hpp"
#include "hs/service/json_args.hpp"
#include "hs/service/password.hpp"
#include "hs/store/store.hpp"

namespace chorus::hs {
namespace json = boost::json;

namespace {

bool validLocalpart(std::string_view s) {
  if (s.empty() || s.size() > 200) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '=' || c == '-' ||
           c == '/' || c == '+';
  });
}

}  // namespace

Homeserver::Homeserver(const ServerConfig& cfg, Store& store, const Clock& clock, Listener* listener)
    : cfg_(cfg), store_(store), clock_(clock), listener_(listener) {}

std::string Homeserver::userId(std::string_view localpart) const {
  return "@" + std::string(localpart) + ":" + cfg_.server_name;
}

MxError Homeserver::storeFailure(const char* where, const std::exception& e) {
  CHORUS_LOG(Error, "hs", "store error in " << where << ": " << e.what());
  return mxError(500, "M_UNKNOWN", "Internal server error (storage)");
}

void Homeserver::flushWakes() {
  auto wake = std::move(pending_wake_);
  pending_wake_.clear();
  const bool delayed = delayed_changed_;
  delayed_changed_ = false;
  if (!listener_) return;
  for (const auto& u : wake) listener_->onUserWake(u);
  if (delayed) listener_->onDelayedScheduleChanged();
}

MxResult<std::string> Homeserver::createUser(const std::string& localpart_in, const std::string& password,
                                             bool admin, const std::string* password_hash) try {
  std::string localpart = localpart_in;
  if (!localpart.empty() && localpart[0] == '@') {
    const auto colon = localpart.find(':');
    localpart = localpart.substr(1, colon == std::string::npos ? std::string::npos : colon - 1);
  }
  if (!validLocalpart(localpart)) {
    return mxError(400, "M_INVALID_USERNAME", "user names may contain only a-z, 0-9, . _ = - / +");
  }
  const std::string uid = userId(localpart);
  if (store_.user(uid)) return mxError(400, "M_USER_IN_USE", uid + " is already registered");
  auto hash = password_hash ? std::optional<std::string>(*password_hash)
                            : hashPassword(password, cfg_.kdf_opslimit, cfg_.kdf_memlimit_bytes);
  if (!hash || hash->empty()) return mxError(500, "M_UNKNOWN", "password hashing failed");
  auto txn = store_.begin();
  store_.insertUser(UserRow{uid, *hash, admin, localpart, ""}, clock_.nowMs());
  txn.commit();
  return uid;
} catch (const StoreError& e) {
  return storeFailure("createUser", e);
}

MxResult<json::object> Homeserver::registerAvailable(const std::string& username) try {
  if (!validLocalpart(username)) {
    return mxError(400, "M_INVALID_USERNAME", "user names may contain only a-z, 0-9, . _ = - / +");
  }
  if (store_.user(userId(username)))
    return mxError(400, "M_USER_IN_USE", userId(username) + " is already registered");
  return json::object{{"available", true}};
} catch (const StoreError& e) {
  return storeFailure("registerAvailable", e);
}

MxResult<json::object> Homeserver::registerRequest(const json::object& body,
                                                   const std::string* password_hash) try {
  if (!cfg_.open_registration) return forbidden("Registration is disabled on this server");
  auto auth = optObject(body, "auth");
  if (!auth) return auth.error();
  const std::string session = "dummy";
  json::object uia{{"flows", json::array{json::object{{"stages", json::array{"m.login.dummy"}}}}},
                   {"params", json::object{}},
                   {"session", session}};
  if (!*auth) {
    MxError e = mxError(401, "M_FORBIDDEN", "authentication required");
    e.extra = uia;
    e.errcode.clear();  // a UIA challenge has no errcode
    return e;
  }
  auto type = optString(**auth, "type");
  if (!type) return type.error();
  if (type->value_or("") != "m.login.dummy") {
    return mxError(400, "M_UNRECOGNIZED", "only m.login.dummy registration is supported");
  }
  auto username = optString(body, "username");
  if (!username) return username.error();
  auto password = optString(body, "password");
  if (!password) return password.error();
  auto device_id = optString(body, "device_id");
  if (!device_id) return device_id.error();
  auto inhibit = optBool(body, "inhibit_login");
  if (!inhibit) return inhibit.error();
  auto display = optString(body, "initial_device_display_name");
  if (!display) return display.error();
  if (!*password || (*password)->empty()) return mxError(400, "M_MISSING_PARAM", "missing 'password'");
  std::string localpart = username->value_or("");
  if (localpart.empty()) {
    localpart = "user" + randomUpper(8);
    std::transform(localpart.begin(), localpart.end(), localpart.begin(), ::tolower);
  }
  auto uid = createUser(localpart, **password, false, password_hash);
  if (!uid) return uid.error();
  json::object out{{"user_id", *uid}, {"home_server", cfg_.server_name}};
  if (inhibit->value_or(false)) return out;
  const std::string dev = device_id->value_or(randomUpper(10));
  const std::string token = "syt_" + randomAlnum(40);
  auto txn = store_.begin();
  store_.upsertDevice(*uid, dev, display->value_or(""), clock_.nowMs());
  store_.insertToken(token, *uid, dev);
  txn.commit();
  out["access_token"] = token;
  out["device_id"] = dev;
  return out;
} catch (const StoreError& e) {
  return storeFailure("registerRequest", e);
}

MxResult<Homeserver::LoginAttempt> Homeserver::loginPrepare(const json::object& body) try {
  auto type = reqString(body, "type");
  if (!type) return type.error();
  if (*type != "m.login.password") return mxError(400, "M_UNKNOWN", "unsupported login type " + *type);
  std::optional<std::string> user;
  auto ident = optObject(body, "identifier");
  if (!ident) return ident.error();
  if (*ident) {
    auto itype = optString(**ident, "type");
    if (!itype) return itype.error();
    if (itype->value_or("m.id.user") != "m.id.user") {
      return mxError(400, "M_UNKNOWN", "unsupported identifier type " + **itype);
    }
    auto u = reqString(**ident, "user");
    if (!u) return badJson("'identifier.user' must be a string");
    user = *u;
  } else {
    auto u = optString(body, "user");
    if (!u) return u.error();
    user = *u;
  }
  if (!user) return mxError(400, "M_MISSING_PARAM", "missing 'identifier'");
  auto password = reqString(body, "password");
  if (!password) return password.error();
  auto device_id = optString(body, "device_id");
  if (!device_id) return device_id.error();
  auto display = optString(body, "initial_device_display_name");
  if (!display) return display.error();
  if (*device_id && ((*device_id)->empty() || (*device_id)->size() > 255)) {
    return invalidParam("'device_id' must be 1 to 255 characters");
  }

  LoginAttempt a;
  a.user_id = *user;
  if (a.user_id.empty() || a.user_id[0] != '@') a.user_id = userId(a.user_id);
  if (auto row = store_.user(a.user_id)) a.password_hash = row->password_hash;
  a.password = *password;
  a.device_id = *device_id;
  a.display_name = display->value_or("");
  return a;
} catch (const StoreError& e) {
  return storeFailure("loginPrepare", e);
}

bool Homeserver::checkPassword(const LoginAttempt& a) {
  return !a.password_hash.empty() && verifyPassword(a.password_hash, a.password);
}

MxResult<json::object> Homeserver::loginFinish(const LoginAttempt& a) try {
  if (!store_.user(a.user_id)) return forbidden("Invalid username or password");  // deleted meanwhile
  const std::string dev = a.device_id.value_or(randomUpper(10));
  const std::string token = "syt_" + randomAlnum(40);
  auto txn = store_.begin();
  store_.upsertDevice(a.user_id, dev, a.display_name, clock_.nowMs());
  store_.insertToken(token, a.user_id, dev);
  txn.commit();
  return json::object{
      {"user_id", a.user_id}, {"access_token", token}, {"device_id", dev}, {"home_server", cfg_.server_name}};
} catch (const StoreError& e) {
  return storeFailure("loginFinish", e);
}

MxResult<json::object> Homeserver::login(const json::object& body) try {
  auto a = loginPrepare(body);
  if (!a) return a.error();
  if (!checkPassword(*a)) return forbidden("Invalid username or password");
  return loginFinish(*a);
} catch (const StoreError& e) {
  return storeFailure("login", e);
}

std::string Homeserver::canonicalLoginName(std::string_view claimed) const {
  std::string uid(claimed);
  if (uid.empty() || uid[0] != '@') uid = userId(uid);
  for (auto& c : uid) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return uid;
}

MxResult<Auth> Homeserver::authenticate(const std::string& token) try {
  auto info = store_.token(token);
  if (!info) {
    MxError e = mxError(401, "M_UNKNOWN_TOKEN", "Unknown access token");
    e.extra["soft_logout"] = false;
    return e;
  }
  return Auth{info->user_id, info->device_id, token};
} catch (const StoreError& e) {
  return storeFailure("authenticate", e);
}

MxStatus Homeserver::logout(const Auth& auth, bool all) try {
  auto txn = store_.begin();
  if (all) {
    for (const auto& d : store_.devices(auth.user_id)) store_.deleteDevice(auth.user_id, d.device_id);
    for (const auto& t : store_.tokensOfUser(auth.user_id)) {
      store_.deleteTxnsOfToken(t);
      store_.deleteToken(t);
    }
  } else {
    store_.deleteDevice(auth.user_id, auth.device_id);
    store_.deleteTxnsOfToken(auth.token);
    store_.deleteToken(auth.token);
  }
  deviceListChanged(auth.user_id);  // its keys are gone
  txn.commit();
  pending_wake_.insert(auth.user_id);  // ends its long-polls promptly
  return mxOk();
} catch (const StoreError& e) {
  return storeFailure("logout", e);
}

MxResult<json::object> Homeserver::devices(const Auth& auth) try {
  json::array out;
  for (const auto& d : store_.devices(auth.user_id)) {
    json::object o{{"device_id", d.device_id}, {"last_seen_ts", d.last_seen_ts}};
    if (!d.display_name.empty()) o["display_name"] = d.display_name;
    out.push_back(std::move(o));
  }
  return json::object{{"devices", std::move(out)}};
} catch (const StoreError& e) {
  return storeFailure("devices", e);
}

MxResult<json::object> Homeserver::device(const Auth& auth, const std::string& device_id) try {
  for (const auto& d : store_.devices(auth.user_id)) {
    if (d.device_id != device_id) continue;
    json::object o{{"device_id", d.device_id}, {"last_seen_ts", d.last_seen_ts}};
    if (!d.display_name.empty()) o["display_name"] = d.display_name;
    return o;
  }
  return notFound("Unknown device");
} catch (const StoreError& e) {
  return storeFailure("device", e);
}

MxResult<json::object> Homeserver::postFilter(const Auth& auth, const std::string& user_id,
                                              const json::object& body) try {
  if (user_id != auth.user_id) return forbidden("Cannot create filters for other users");
  if (auto room = optObject(body, "room"); !room) return room.error();
  // Identical filters share one id (clients post theirs on every start), so the table stays small.
  const std::string text = json::serialize(body);
  if (auto existing = store_.findFilter(auth.user_id, text))
    return json::object{{"filter_id", std::to_string(*existing)}};
  auto txn = store_.begin();
  const std::int64_t id = store_.insertFilter(auth.user_id, text);
  txn.commit();
  return json::object{{"filter_id", std::to_string(id)}};
} catch (const StoreError& e) {
  return storeFailure("postFilter", e);
}

MxResult<json::object> Homeserver::getFilter(const Auth& auth, const std::string& user_id,
                                             const std::string& id) try {
  if (user_id != auth.user_id) return forbidden("Cannot read filters of other users");
  if (id.empty() || id.size() > 18 || id.find_first_not_of("0123456789") != std::string::npos) {
    return notFound("No such filter");
  }
  auto f = store_.filter(auth.user_id, std::stoll(id));
  if (!f) return notFound("No such filter");
  boost::system::error_code ec;
  auto v = json::parse(*f, ec);
  if (ec || !v.is_object()) return notFound("No such filter");
  return v.get_object();
} catch (const StoreError& e) {
  return storeFailure("getFilter", e);
}

MxResult<json::object> Homeserver::profile(const std::string& user_id, const std::string& field) try {
  auto row = store_.user(user_id);
  if (!row) return notFound("Profile not found");
  json::object out;
  if (!row->displayname.empty()) out["displayname"] = row->displayname;
  if (!row->avatar_url.empty()) out["avatar_url"] = row->avatar_url;
  if (!field.empty()) {
    if (field != "displayname" && field != "avatar_url")
      return mxError(404, "M_UNRECOGNIZED", "Unknown field");
    if (!out.contains(field)) return notFound("No " + field + " set");
    return json::object{{field, out[field]}};
  }
  return out;
} catch (const StoreError& e) {
  return storeFailure("profile", e);
}

MxResult<json::object> Homeserver::setProfile(const Auth& auth, const std::string& user_id,
                                              const std::string& field, const json::object& body) try {
  if (user_id != auth.user_id) return forbidden("Cannot set the profile of another user");
  if (field != "displayname" && field != "avatar_url") return mxError(404, "M_UNRECOGNIZED", "Unknown field");
  auto v = optString(body, field);
  if (!v) return v.error();
  auto txn = store_.begin();
  store_.setProfile(user_id, field, v->value_or(""));
  txn.commit();
  return json::object{};
} catch (const StoreError& e) {
  return storeFailure("setProfile", e);
}

json::object Homeserver::clientEvent(const EventRow& e, const Auth* viewer) const {
  boost::system::error_code ec;
  json::value v = json::parse(e.json, ec);
  if (ec || !v.is_object()) return json::object{{"event_id", e.event_id}, {"type", e.type}};
  json::object& o = v.get_object();
  json::object* unsigned_obj = nullptr;
  if (auto* u = o.if_contains("unsigned"); u && u->is_object()) {
    unsigned_obj = &u->get_object();
  } else {
    unsigned_obj = &o["unsigned"].emplace_object();
  }
  (*unsigned_obj)["age"] = std::max<std::int64_t>(0, clock_.nowMs() - e.origin_ts);
  if (viewer && !e.txn_id.empty() && e.sender == viewer->user_id && e.txn_device == viewer->device_id) {
    (*unsigned_obj)["transaction_id"] = e.txn_id;
  }
  return std::move(o);
}

}  // namespace chorus::hs
