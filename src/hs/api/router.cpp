#include "hs/api/router.hpp"

#include <cctype>
#include <cstdio>

#include <algorithm>
#include <optional>
#include <set>

#include <boost/url.hpp>

#include "base/log.hpp"
#include "hs/api/utf8.hpp"
#include "hs/service/json_args.hpp"
#include "hs/store/sqlite.hpp"

namespace chorus::hs {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr const char* kDefaultPushRules = R"({"global":{
 "override":[
  {"rule_id":".m.rule.master","default":true,"enabled":false,"conditions":[],"actions":[]},
  {"rule_id":".m.rule.suppress_notices","default":true,"enabled":true,
   "conditions":[{"kind":"event_match","key":"content.msgtype","pattern":"m.notice"}],"actions":[]},
  {"rule_id":".m.rule.invite_for_me","default":true,"enabled":true,
   "conditions":[{"kind":"event_match","key":"type","pattern":"m.room.member"},
                 {"kind":"event_match","key":"content.membership","pattern":"invite"},
                 {"kind":"event_match","key":"state_key","pattern":"[the user's Matrix ID]"}],
   "actions":["notify",{"set_tweak":"sound","value":"default"}]},
  {"rule_id":".m.rule.member_event","default":true,"enabled":true,
   "conditions":[{"kind":"event_match","key":"type","pattern":"m.room.member"}],"actions":[]}],
 "content":[],
 "room":[],
 "sender":[],
 "underride":[
  {"rule_id":".m.rule.call","default":true,"enabled":true,
   "conditions":[{"kind":"event_match","key":"type","pattern":"m.call.invite"}],
   "actions":["notify",{"set_tweak":"sound","value":"ring"}]},
  {"rule_id":".m.rule.room_one_to_one","default":true,"enabled":true,
   "conditions":[{"kind":"room_member_count","is":"2"},{"kind":"event_match","key":"type","pattern":"m.room.message"}],
   "actions":["notify",{"set_tweak":"sound","value":"default"}]},
  {"rule_id":".m.rule.message","default":true,"enabled":true,
   "conditions":[{"kind":"event_match","key":"type","pattern":"m.room.message"}],"actions":["notify"]},
  {"rule_id":".m.rule.encrypted","default":true,"enabled":true,
   "conditions":[{"kind":"event_match","key":"type","pattern":"m.room.encrypted"}],"actions":["notify"]}]}})";

MxError unrecognized() {
  return mxError(404, "M_UNRECOGNIZED", "Unrecognized request");
}
MxError badMethod() {
  return mxError(405, "M_UNRECOGNIZED", "Unsupported method");
}

struct Parsed {
  std::vector<std::string> seg;  // after the version prefix
  std::unordered_map<std::string, std::string> query;
  bool versions{false};
  bool unstable{false};
  bool client{false};
  bool bad_utf8{false};  // a path segment or query parameter is not valid UTF-8 (or holds NUL) after decoding
};

bool acceptableParam(std::string_view s) {
  return validUtf8(s) && s.find('\0') == std::string_view::npos;
}

std::optional<Parsed> parseTarget(const std::string& target) {
  auto r = boost::urls::parse_origin_form(target);
  if (!r) return std::nullopt;
  Parsed p;
  std::vector<std::string> all;
  for (auto s : r->segments()) {
    all.emplace_back(s);
    if (!acceptableParam(all.back())) p.bad_utf8 = true;
  }
  for (auto param : r->params()) {
    if (p.query.size() >= 64) break;
    std::string key(param.key);
    std::string value = param.has_value ? std::string(param.value) : std::string();
    if (!acceptableParam(key) || !acceptableParam(value)) p.bad_utf8 = true;
    p.query.emplace(std::move(key), std::move(value));
  }
  if (all.size() < 3 || all[0] != "_matrix" || all[1] != "client") return p;
  p.client = true;
  if (all[2] == "versions" && all.size() == 3) {
    p.versions = true;
    return p;
  }
  std::size_t start = 3;
  if (all[2] == "unstable") {
    p.unstable = true;
    if (all.size() > 3 && all[3].rfind("org.matrix.", 0) == 0) start = 4;
  } else if (all[2] != "v3" && all[2] != "r0" && all[2] != "v1") {
    p.client = false;
    return p;
  }
  p.seg.assign(all.begin() + static_cast<std::ptrdiff_t>(std::min(start, all.size())), all.end());
  return p;
}

MxResult<json::object> parseBody(const std::string& body) {
  if (body.empty()) return json::object{};
  json::parse_options opt;
  opt.max_depth = 64;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec, {}, opt);
  if (ec) return mxError(400, "M_NOT_JSON", "Content not JSON: " + ec.message());
  if (!v.is_object()) return badJson("Content must be a JSON object");
  return std::move(v.get_object());
}

template <typename T>
HttpResponse render(const MxResult<T>& r) {
  if (!r) return Router::errorResponse(r.error());
  return Router::jsonResponse(200, *r);
}

}  // namespace

Router::Router(Homeserver& hs, Notifier& notifier, const Config& cfg, const Clock& clock)
    : hs_(hs), notifier_(notifier), cfg_(cfg), clock_(clock) {
  if (cfg_.kdf_threads > 0) kdf_pool_ = std::make_unique<asio::thread_pool>(cfg_.kdf_threads);
}

Router::~Router() {
  if (kdf_pool_) {
    kdf_pool_->stop();
    kdf_pool_->join();
  }
}

HttpResponse Router::jsonResponse(int status, const json::value& v) {
  HttpResponse r;
  r.status = status;
  r.body = json::serialize(v);
  if (!validUtf8(r.body)) {
    // Boost.JSON copies string bytes as they are; never hand a client invalid JSON (issue #10).
    json::value copy = v;
    repairUtf8(copy);
    r.body = json::serialize(copy);
  }
  return r;
}

HttpResponse Router::errorResponse(const MxError& e) {
  json::object o = e.extra;
  if (!e.errcode.empty()) {
    o["errcode"] = e.errcode;
    o["error"] = e.error;
  }
  HttpResponse r = jsonResponse(e.status, o);
  if (auto* ra = e.extra.if_contains("retry_after_ms")) {
    if (auto ms = asInt(*ra)) r.headers.emplace_back("Retry-After", std::to_string((*ms + 999) / 1000));
  }
  return r;
}

std::optional<MxError> Router::rateLimit(const std::string& key) {
  if (cfg_.rate_per_second <= 0) return std::nullopt;
  const auto now = std::chrono::steady_clock::now();
  if (buckets_.size() >= kMaxBuckets) buckets_.clear();  // bounded; forgetting only makes limits laxer
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{cfg_.rate_burst, now});
  Bucket& b = it->second;
  if (!fresh) {
    const double dt = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(cfg_.rate_burst, b.tokens + dt * cfg_.rate_per_second);
    b.last = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return std::nullopt;
  }
  MxError e = mxError(429, "M_LIMIT_EXCEEDED", "Too many requests");
  e.extra["retry_after_ms"] = static_cast<std::int64_t>((1.0 - b.tokens) / cfg_.rate_per_second * 1000.0) + 1;
  return e;
}

asio::awaitable<HttpResponse> Router::handle(HttpRequest req) {
  HttpResponse res;
  try {
    res = co_await dispatch(req);
  } catch (const StoreError& e) {
    CHORUS_LOG(Error, "hs", "store error on " << req.method << " " << req.target << ": " << e.what());
    res = errorResponse(mxError(500, "M_UNKNOWN", "Internal server error (storage)"));
  } catch (const std::exception& e) {
    CHORUS_LOG(Error, "hs", "error on " << req.method << " " << req.target << ": " << e.what());
    res = errorResponse(mxError(500, "M_UNKNOWN", "Internal server error"));
  }
  co_return res;
}

std::optional<HttpResponse> Router::serveStatic(const HttpRequest& req) const {
  const std::string path = req.target.substr(0, req.target.find('?'));
  if (path != "/call" && path.rfind("/call/", 0) != 0) return std::nullopt;
  if (cfg_.web_root.empty()) return errorResponse(mxError(404, "M_NOT_FOUND", "No web client is configured"));
  if (req.method != "GET" && req.method != "HEAD") return errorResponse(badMethod());
  if (path == "/call") {
    HttpResponse r;
    r.status = 301;
    r.headers.emplace_back("Location", "/call/");
    return r;
  }
  std::string rel = path.substr(6);
  if (rel.empty()) rel = "index.html";
  // Only plain names: letters, digits, '-', '_', '.', '/' and no "..", so nothing outside the web root.
  for (char c : rel) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' && c != '/') {
      return errorResponse(mxError(404, "M_NOT_FOUND", "Not found"));
    }
  }
  if (rel.find("..") != std::string::npos || rel[0] == '/') {
    return errorResponse(mxError(404, "M_NOT_FOUND", "Not found"));
  }
  std::string file = rel == "vendor/matrix-js-sdk.js"
                         ? cfg_.web_root + "/node_modules/matrix-js-sdk/dist/browser-matrix.js"
                         : cfg_.web_root + "/call/" + rel;
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) return errorResponse(mxError(404, "M_NOT_FOUND", "Not found"));
  std::string body;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    body.append(buf, n);
    if (body.size() > cfg_.max_static_file_bytes) break;
  }
  std::fclose(f);
  if (body.size() > cfg_.max_static_file_bytes)
    return errorResponse(mxError(404, "M_NOT_FOUND", "Too large"));
  auto ends = [&](const char* ext) {
    const std::string e(ext);
    return rel.size() >= e.size() && rel.compare(rel.size() - e.size(), e.size(), e) == 0;
  };
  const char* type = ends(".html")  ? "text/html; charset=utf-8"
                     : ends(".js")  ? "text/javascript; charset=utf-8"
                     : ends(".css") ? "text/css; charset=utf-8"
                     : ends(".svg") ? "image/svg+xml"
                     : ends(".png") ? "image/png"
                                    : "application/octet-stream";
  HttpResponse r;
  r.status = 200;
  r.body = req.method == "HEAD" ? std::string() : std::move(body);
  r.headers.emplace_back("Content-Type", type);
  return r;
}

asio::awaitable<HttpResponse> Router::dispatch(const HttpRequest& req) {
  const std::string& m = req.method;
  if (m == "OPTIONS") co_return jsonResponse(200, json::object{});
  if (auto page = serveStatic(req)) co_return std::move(*page);
  auto parsed = parseTarget(req.target);
  if (!parsed) co_return errorResponse(mxError(400, "M_UNRECOGNIZED", "Malformed request target"));
  Parsed& p = *parsed;
  if (p.bad_utf8) {
    co_return errorResponse(invalidParam("Path and query parameters must be valid UTF-8 without NUL"));
  }
  if (p.versions) {
    if (m != "GET") co_return errorResponse(badMethod());
    co_return jsonResponse(
        200, json::object{{"versions", json::array{"r0.5.0", "r0.6.0", "r0.6.1", "v1.1", "v1.2", "v1.3",
                                                   "v1.4", "v1.5", "v1.6"}},
                          {"unstable_features", json::object{{"org.matrix.msc4140", true}}}});
  }
  if (!p.client || p.seg.empty()) co_return errorResponse(unrecognized());
  const auto& s = p.seg;
  const std::size_t n = s.size();
  auto q = [&](const std::string& k) -> std::optional<std::string> {
    auto it = p.query.find(k);
    if (it == p.query.end()) return std::nullopt;
    return it->second;
  };

  // Unauthenticated endpoints.
  if (s[0] == "login" && n == 1) {
    if (m == "GET") {
      co_return jsonResponse(
          200, json::object{{"flows", json::array{json::object{{"type", "m.login.password"}}}}});
    }
    if (m != "POST") co_return errorResponse(badMethod());
    auto body = parseBody(req.body);
    if (!body) co_return errorResponse(body.error());
    co_return co_await login(req, std::move(*body));
  }
  if (s[0] == "register") {
    if (n == 2 && s[1] == "available" && m == "GET")
      co_return render(hs_.registerAvailable(q("username").value_or("")));
    if (n != 1) co_return errorResponse(unrecognized());
    if (m != "POST") co_return errorResponse(badMethod());
    if (q("kind").value_or("user") != "user") co_return errorResponse(forbidden("Guest access is disabled"));
    auto body = parseBody(req.body);
    if (!body) co_return errorResponse(body.error());
    co_return co_await registerUser(std::move(*body));
  }
  if (s[0] == "profile" && (n == 2 || n == 3) && m == "GET") {
    co_return render(hs_.profile(s[1], n == 3 ? s[2] : ""));
  }
  if (s[0] == "directory" && n == 3 && s[1] == "room" && m == "GET") co_return render(hs_.resolveAlias(s[2]));

  // Unknown endpoints are 404 even without a token (routing comes before authentication).
  static const std::set<std::string> kKnown = {
      "login", "register",   "logout",    "account",        "capabilities", "pushrules",     "user",
      "sync",  "createRoom", "join",      "joined_rooms",   "rooms",        "sendToDevice",  "devices",
      "voip",  "profile",    "directory", "delayed_events", "keys",         "delete_devices"};
  if (!kKnown.count(s[0])) co_return errorResponse(unrecognized());

  // Everything else needs an access token.
  std::string token;
  if (req.authorization.rfind("Bearer ", 0) == 0) {
    token = req.authorization.substr(7);
  } else if (auto t = q("access_token")) {
    token = *t;
  }
  if (token.empty()) co_return errorResponse(mxError(401, "M_MISSING_TOKEN", "Missing access token"));
  auto authr = hs_.authenticate(token);
  if (!authr) co_return errorResponse(authr.error());
  const Auth auth = *authr;
  const bool write = m == "PUT" || m == "POST" || m == "DELETE";
  const bool limited_kind = write && s[0] != "logout" && s[0] != "delayed_events";
  if (limited_kind) {
    if (auto e = rateLimit(auth.user_id)) co_return errorResponse(*e);
  }
  MxResult<json::object> body = json::object{};
  if (m == "PUT" || m == "POST" || (m == "DELETE" && s[0] == "devices")) {  // DELETE /devices/{id} has "auth"
    body = parseBody(req.body);
    if (!body) co_return errorResponse(body.error());
  }
  struct Flush {
    Homeserver& hs;
    ~Flush() { hs.flushWakes(); }
  } flush{hs_};

  if (s[0] == "logout" && (n == 1 || (n == 2 && s[1] == "all"))) {
    if (m != "POST") co_return errorResponse(badMethod());
    auto r = hs_.logout(auth, n == 2);
    if (!r) co_return errorResponse(r.error());
    co_return jsonResponse(200, json::object{});
  }
  if (s[0] == "account" && n == 2 && s[1] == "whoami") {
    if (m != "GET") co_return errorResponse(badMethod());
    co_return jsonResponse(
        200, json::object{{"user_id", auth.user_id}, {"device_id", auth.device_id}, {"is_guest", false}});
  }
  if (s[0] == "capabilities" && n == 1) {
    if (m != "GET") co_return errorResponse(badMethod());
    json::object delayed{{"max_delay_ms", cfg_.max_delay_ms}, {"max_scheduled", cfg_.max_scheduled_per_user}};
    co_return jsonResponse(
        200,
        json::object{
            {"capabilities",
             json::object{{"m.change_password", json::object{{"enabled", false}}},
                          {"m.set_displayname", json::object{{"enabled", true}}},
                          {"m.set_avatar_url", json::object{{"enabled", true}}},
                          {"m.3pid_changes", json::object{{"enabled", false}}},
                          {"m.room_versions",
                           json::object{{"default", "10"}, {"available", json::object{{"10", "stable"}}}}},
                          {"m.delayed_events", delayed},
                          {"org.matrix.msc4140.delayed_events", delayed}}}});
  }
  if (s[0] == "pushrules") {
    if (m != "GET") co_return errorResponse(mxError(403, "M_FORBIDDEN", "Push rules are read-only here"));
    json::value rules = json::parse(kDefaultPushRules);
    if (n >= 2 && s[1] == "global") co_return jsonResponse(200, rules.at("global"));
    if (n >= 2 && !s[1].empty()) co_return errorResponse(unrecognized());
    co_return jsonResponse(200, rules);
  }
  if (s[0] == "user" && n >= 3 && s[2] == "filter") {
    if (n == 3) {
      if (m != "POST") co_return errorResponse(badMethod());
      co_return render(hs_.postFilter(auth, s[1], *body));
    }
    if (n == 4) {
      if (m != "GET") co_return errorResponse(badMethod());
      co_return render(hs_.getFilter(auth, s[1], s[3]));
    }
  }
  if (s[0] == "sync" && n == 1) {
    if (m != "GET") co_return errorResponse(badMethod());
    SyncRequest sr;
    sr.since = q("since");
    sr.filter = q("filter");
    sr.full_state = q("full_state").value_or("false") == "true";
    std::int64_t timeout = 0;
    if (auto t = q("timeout")) {
      try {
        timeout = std::stoll(*t);
      } catch (...) {
        co_return errorResponse(invalidParam("'timeout' must be an integer"));
      }
    }
    timeout = std::clamp<std::int64_t>(timeout, 0, cfg_.max_sync_timeout_ms);
    auto r = hs_.sync(auth, sr);
    if (!r) co_return errorResponse(r.error());
    if (r->empty && timeout > 0 && sr.since && !sr.since->empty()) {
      if (notifier_.count(auth.user_id) >= static_cast<std::size_t>(cfg_.max_long_polls_per_user)) {
        MxError e = mxError(429, "M_LIMIT_EXCEEDED", "Too many concurrent /sync requests");
        e.extra["retry_after_ms"] = 1000;
        co_return errorResponse(e);
      }
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout);
      for (;;) {
        const bool woken = co_await notifier_.wait(auth.user_id, deadline);
        if (!hs_.authenticate(token)) co_return errorResponse(hs_.authenticate(token).error());
        r = hs_.sync(auth, sr);
        if (!r) co_return errorResponse(r.error());
        if (!r->empty || !woken || notifier_.stopping()) break;
        if (std::chrono::steady_clock::now() >= deadline) break;
      }
    }
    co_return jsonResponse(200, r->body);
  }
  if (s[0] == "createRoom" && n == 1) {
    if (m != "POST") co_return errorResponse(badMethod());
    co_return render(hs_.createRoom(auth, *body));
  }
  if (s[0] == "join" && n == 2) {
    if (m != "POST") co_return errorResponse(badMethod());
    co_return render(hs_.join(auth, s[1]));
  }
  if (s[0] == "joined_rooms" && n == 1) {
    if (m != "GET") co_return errorResponse(badMethod());
    co_return jsonResponse(200, hs_.joinedRooms(auth));
  }
  if (s[0] == "rooms" && n >= 3) {
    const std::string& room = s[1];
    const std::string& what = s[2];
    if (n == 3 && (what == "join" || what == "invite" || what == "leave" || what == "kick" || what == "ban" ||
                   what == "unban" || what == "forget")) {
      if (m != "POST") co_return errorResponse(badMethod());
      if (what == "forget") co_return jsonResponse(200, json::object{});
      co_return render(hs_.membership(auth, room, what, *body));
    }
    if (what == "state" && n == 3) {
      if (m != "GET") co_return errorResponse(badMethod());
      auto r = hs_.roomState(auth, room);
      if (!r) co_return errorResponse(r.error());
      co_return jsonResponse(200, *r);
    }
    if (what == "state" && (n == 4 || n == 5)) {
      const std::string& type = s[3];
      const std::string key = n == 5 ? s[4] : "";
      if (m == "GET") co_return render(hs_.stateContent(auth, room, type, key));
      if (m != "PUT") co_return errorResponse(badMethod());
      if (auto d = q("org.matrix.msc4140.delay")) {
        std::int64_t ms = 0;
        try {
          ms = std::stoll(*d);
        } catch (...) {
          co_return errorResponse(invalidParam("'org.matrix.msc4140.delay' must be an integer"));
        }
        co_return render(hs_.scheduleDelayed(auth, room, type, key, *body, ms, "", false));
      }
      co_return render(hs_.sendEvent(auth, room, type, key, *body, ""));
    }
    if (what == "send" && n == 5) {
      if (m != "PUT" && m != "POST") co_return errorResponse(badMethod());
      if (auto d = q("org.matrix.msc4140.delay")) {
        std::int64_t ms = 0;
        try {
          ms = std::stoll(*d);
        } catch (...) {
          co_return errorResponse(invalidParam("'org.matrix.msc4140.delay' must be an integer"));
        }
        co_return render(hs_.scheduleDelayed(auth, room, s[3], std::nullopt, *body, ms, s[4], false));
      }
      co_return render(hs_.sendEvent(auth, room, s[3], std::nullopt, *body, s[4]));
    }
    if (what == "delayed_event" && n == 5) {
      if (m != "PUT") co_return errorResponse(badMethod());
      auto delay = optInt(*body, "delay_ms");
      if (!delay) co_return errorResponse(delay.error());
      if (!*delay) co_return errorResponse(mxError(400, "M_MISSING_PARAM", "missing 'delay_ms'"));
      auto sk = optString(*body, "state_key");
      if (!sk) co_return errorResponse(sk.error());
      auto content = optObject(*body, "content");
      if (!content) co_return errorResponse(content.error());
      if (!*content) co_return errorResponse(mxError(400, "M_MISSING_PARAM", "missing 'content'"));
      co_return render(hs_.scheduleDelayed(auth, room, s[3], *sk, **content, **delay, s[4], true));
    }
    if (what == "joined_members" && n == 3) {
      if (m != "GET") co_return errorResponse(badMethod());
      co_return render(hs_.joinedMembers(auth, room));
    }
    if (what == "members" && n == 3) {
      if (m != "GET") co_return errorResponse(badMethod());
      co_return render(hs_.members(auth, room));
    }
    if (what == "messages" && n == 3) {
      if (m != "GET") co_return errorResponse(badMethod());
      MessagesRequest mr;
      mr.from = q("from");
      mr.to = q("to");
      const std::string dir = q("dir").value_or("b");
      if (dir != "b" && dir != "f") co_return errorResponse(invalidParam("'dir' must be b or f"));
      mr.dir = dir[0];
      if (auto l = q("limit")) {
        try {
          mr.limit = std::stoll(*l);
        } catch (...) {
          co_return errorResponse(invalidParam("'limit' must be an integer"));
        }
      }
      co_return render(hs_.messages(auth, room, mr));
    }
    if ((what == "typing" && n == 4 && m == "PUT") || (what == "receipt" && n >= 4 && m == "POST") ||
        (what == "read_markers" && n == 3 && m == "POST")) {
      co_return jsonResponse(200, json::object{});  // accepted; ephemeral events are not served
    }
  }
  if (s[0] == "sendToDevice" && n == 3) {
    if (m != "PUT") co_return errorResponse(badMethod());
    co_return render(hs_.sendToDevice(auth, s[1], s[2], *body));
  }
  if (s[0] == "keys" || s[0] == "devices" || s[0] == "delete_devices") {
    co_return co_await keysAndDevices(req, auth, s, p.query, *body);
  }
  if (s[0] == "voip" && n == 2 && s[1] == "turnServer") {
    if (m != "GET") co_return errorResponse(badMethod());
    if (cfg_.turn.uris.empty()) co_return jsonResponse(200, json::object{});
    json::array uris;
    for (const auto& u : cfg_.turn.uris) uris.push_back(json::string(u));
    co_return jsonResponse(200, json::object{{"uris", std::move(uris)},
                                             {"username", cfg_.turn.username},
                                             {"password", cfg_.turn.password},
                                             {"ttl", cfg_.turn.ttl_s}});
  }
  if (s[0] == "profile" && n == 3 && m == "PUT") co_return render(hs_.setProfile(auth, s[1], s[2], *body));
  if (s[0] == "directory" && n == 3 && s[1] == "room") {
    if (m == "PUT") co_return render(hs_.putAlias(auth, s[2], *body));
    if (m == "DELETE") co_return render(hs_.deleteAlias(auth, s[2]));
    co_return errorResponse(badMethod());
  }
  if (s[0] == "delayed_events") {
    if (n == 1) {
      if (m != "GET") co_return errorResponse(badMethod());
      co_return render(hs_.delayedList(auth));
    }
    if (n == 2) {
      if (m == "GET") co_return render(hs_.delayedGet(auth, s[1]));
      if (m != "POST") co_return errorResponse(badMethod());
      auto action = reqString(*body, "action");  // the oldest unstable form
      if (!action) co_return errorResponse(action.error());
      co_return render(hs_.delayedAction(auth, s[1], *action));
    }
    if (n == 3) {
      if (m != "POST") co_return errorResponse(badMethod());
      co_return render(hs_.delayedAction(auth, s[1], s[2]));
    }
  }
  co_return errorResponse(unrecognized());
}

}  // namespace chorus::hs
