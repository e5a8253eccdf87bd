#include "hs/api/client_api.hpp"

#include <cctype>
#include <cstdio>

#include <algorithm>
#include <optional>
#include <set>

#include "base/log.hpp"
#include "hs/api/utf8.hpp"
#include "hs/service/json_args.hpp"

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

template <typename T>
HttpResponse render(const MxResult<T>& r) {
  if (!r) return ClientApi::errorResponse(r.error());
  return ClientApi::jsonResponse(200, *r);
}

HttpResponse ok() {
  return ClientApi::jsonResponse(200, json::object{});
}

// ?org.matrix.msc4140.delay=<ms> on PUT /state and /send; nullopt without it.
MxResult<std::optional<std::int64_t>> delayParam(const std::optional<std::string>& d) {
  if (!d) return std::optional<std::int64_t>();
  try {
    return std::optional<std::int64_t>(std::stoll(*d));
  } catch (...) {
    return invalidParam("'org.matrix.msc4140.delay' must be an integer");
  }
}

}  // namespace

ClientApi::ClientApi(Homeserver& hs, Notifier& notifier, const ServerConfig& cfg)
    : hs_(hs), notifier_(notifier), cfg_(cfg) {
  if (cfg_.kdf_threads > 0) kdf_pool_ = std::make_unique<asio::thread_pool>(cfg_.kdf_threads);
}

ClientApi::~ClientApi() {
  if (kdf_pool_) {
    kdf_pool_->stop();
    kdf_pool_->join();
  }
}

MxResult<json::object> ClientApi::parseJsonBody(const std::string& body) {
  if (body.empty()) return json::object{};
  json::parse_options opt;
  opt.max_depth = 64;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec, {}, opt);
  if (ec) return mxError(400, "M_NOT_JSON", "Content not JSON: " + ec.message());
  if (!v.is_object()) return badJson("Content must be a JSON object");
  return std::move(v.get_object());
}

HttpResponse ClientApi::jsonResponse(int status, const json::value& v) {
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

HttpResponse ClientApi::errorResponse(const MxError& e) {
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

std::optional<MxError> ClientApi::rateLimit(const std::string& key) {
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

asio::awaitable<HttpResponse> ClientApi::handle(HttpRequest req) {
  HttpResponse res;
  try {
    res = co_await dispatch(req);
  } catch (const std::exception& e) {  // a bug: the service returns store failures as values
    CHORUS_LOG(Error, "hs", "error on " << req.method << " " << req.target << ": " << e.what());
    res = errorResponse(mxError(500, "M_UNKNOWN", "Internal server error"));
  }
  co_return res;
}

std::optional<HttpResponse> ClientApi::serveStatic(const HttpRequest& req) const {
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

std::optional<std::string> ClientApi::Call::query(const std::string& key) const {
  auto it = target.query.find(key);
  if (it == target.query.end()) return std::nullopt;
  return it->second;
}

asio::awaitable<HttpResponse> ClientApi::dispatch(const HttpRequest& req) {
  const std::string& m = req.method;
  if (m == "OPTIONS") co_return jsonResponse(200, json::object{});
  if (auto page = serveStatic(req)) co_return std::move(*page);
  auto parsed = parseRequestTarget(req.target);
  if (!parsed) co_return errorResponse(parsed.error());
  const RequestTarget& target = *parsed;
  if (target.versions) {
    if (m != "GET") co_return errorResponse(badMethod());
    co_return jsonResponse(
        200, json::object{{"versions", json::array{"r0.5.0", "r0.6.0", "r0.6.1", "v1.1", "v1.2", "v1.3",
                                                   "v1.4", "v1.5", "v1.6"}},
                          {"unstable_features", json::object{{"org.matrix.msc4140", true}}}});
  }
  if (!target.client) co_return errorResponse(unrecognized());
  const auto& s = target.segments;
  const auto found = routes().find(m, s);
  const Route* route = found.outcome == Routes::Outcome::Found ? found.handler : nullptr;
  Call call{req, target, found.params, {}, {}, {}};
  if (route && !route->authenticated) {
    if (route->now) co_return route->now(*this, call);
    co_return co_await (this->*(route->later))(call);
  }

  // A family of routes that needs a token ("rooms", "keys", ...) answers 404/405 only to an authenticated
  // user; any other path gets them at once.
  static const std::set<std::string, std::less<>> kAuthenticatedFamilies = [] {
    std::set<std::string, std::less<>> out;
    routes().forEachRoute([&](std::string_view first, const Route& r) {
      if (r.authenticated) out.emplace(first);
    });
    return out;
  }();
  if (s.empty() || !kAuthenticatedFamilies.contains(s[0])) {
    co_return errorResponse(found.outcome == Routes::Outcome::MethodNotAllowed ? badMethod()
                                                                               : unrecognized());
  }

  if (req.authorization.rfind("Bearer ", 0) == 0) {
    call.token = req.authorization.substr(7);
  } else if (auto t = call.query("access_token")) {
    call.token = *t;
  }
  if (call.token.empty()) co_return errorResponse(mxError(401, "M_MISSING_TOKEN", "Missing access token"));
  auto authr = hs_.authenticate(call.token);
  if (!authr) co_return errorResponse(authr.error());
  call.auth = *authr;
  const bool write = m == "PUT" || m == "POST" || m == "DELETE";
  if (write && s[0] != "logout" && s[0] != "delayed_events") {
    if (auto e = rateLimit(call.auth.user_id)) co_return errorResponse(*e);
  }
  if (m == "PUT" || m == "POST" || (m == "DELETE" && s[0] == "devices")) {  // DELETE /devices/{id} has "auth"
    auto body = parseJsonBody(req.body);
    if (!body) co_return errorResponse(body.error());
    call.body = std::move(*body);
  }
  struct Flush {
    Homeserver& hs;
    ~Flush() { hs.flushWakes(); }
  } flush{hs_};
  if (found.outcome == Routes::Outcome::MethodNotAllowed) co_return errorResponse(badMethod());
  if (!route) co_return errorResponse(unrecognized());
  if (route->now) co_return route->now(*this, call);
  co_return co_await (this->*(route->later))(call);
}

asio::awaitable<HttpResponse> ClientApi::sync(Call& c) {
  SyncRequest sr;
  sr.since = c.query("since");
  sr.filter = c.query("filter");
  sr.full_state = c.query("full_state").value_or("false") == "true";
  std::int64_t timeout = 0;
  if (auto t = c.query("timeout")) {
    try {
      timeout = std::stoll(*t);
    } catch (...) {
      co_return errorResponse(invalidParam("'timeout' must be an integer"));
    }
  }
  timeout = std::clamp<std::int64_t>(timeout, 0, cfg_.max_sync_timeout_ms);
  auto r = hs_.sync(c.auth, sr);
  if (!r) co_return errorResponse(r.error());
  if (r->empty && timeout > 0 && sr.since && !sr.since->empty()) {
    if (notifier_.count(c.auth.user_id) >= static_cast<std::size_t>(cfg_.max_long_polls_per_user)) {
      MxError e = mxError(429, "M_LIMIT_EXCEEDED", "Too many concurrent /sync requests");
      e.extra["retry_after_ms"] = 1000;
      co_return errorResponse(e);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout);
    for (;;) {
      const bool woken = co_await notifier_.wait(c.auth.user_id, deadline);
      if (auto still = hs_.authenticate(c.token); !still) co_return errorResponse(still.error());
      r = hs_.sync(c.auth, sr);
      if (!r) co_return errorResponse(r.error());
      if (!r->empty || !woken || notifier_.stopping()) break;
      if (std::chrono::steady_clock::now() >= deadline) break;
    }
  }
  co_return jsonResponse(200, r->body);
}

// The routes, in the order they are tried. Patterns are the path after the version prefix (route_table.hpp).
// Routes with `false` are served without an access token.
const ClientApi::Routes& ClientApi::routes() {
  static const Routes table = [] {
    Routes t;
    auto now = [&t](const char* method, std::string_view pattern, Now f, bool authenticated = true) {
      t.add(method, pattern, Route{authenticated, f, nullptr});
    };
    auto later = [&t](const char* method, std::string_view pattern, Later f, bool authenticated = true) {
      t.add(method, pattern, Route{authenticated, nullptr, f});
    };
    constexpr bool kOpen = false;

    // Accounts and sessions.
    now(
        "GET", "login",
        [](ClientApi&, Call&) {
          return jsonResponse(
              200, json::object{{"flows", json::array{json::object{{"type", "m.login.password"}}}}});
        },
        kOpen);
    later("POST", "login", &ClientApi::login, kOpen);
    now(
        "GET", "register/available",
        [](ClientApi& api, Call& c) {
          return render(api.hs_.registerAvailable(c.query("username").value_or("")));
        },
        kOpen);
    later("POST", "register", &ClientApi::registerUser, kOpen);
    now("POST", "logout", [](ClientApi& api, Call& c) {
      auto r = api.hs_.logout(c.auth, false);
      return r ? ok() : errorResponse(r.error());
    });
    now("POST", "logout/all", [](ClientApi& api, Call& c) {
      auto r = api.hs_.logout(c.auth, true);
      return r ? ok() : errorResponse(r.error());
    });
    now("GET", "account/whoami", [](ClientApi&, Call& c) {
      return jsonResponse(
          200,
          json::object{{"user_id", c.auth.user_id}, {"device_id", c.auth.device_id}, {"is_guest", false}});
    });
    now("GET", "capabilities", [](ClientApi& api, Call&) {
      json::object delayed{{"max_delay_ms", api.cfg_.max_delay_ms},
                           {"max_scheduled", api.cfg_.max_scheduled_per_user}};
      return jsonResponse(
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
    });
    // Server-default push rules, read-only: every method is answered (403 unless GET).
    for (const char* pattern : {"pushrules", "pushrules/*"}) {
      now("*", pattern, [](ClientApi&, Call& c) {
        if (c.req.method != "GET") return errorResponse(forbidden("Push rules are read-only here"));
        json::value rules = json::parse(kDefaultPushRules);
        const auto rest = c.params.rest();
        if (!rest.empty() && rest[0] == "global") return jsonResponse(200, rules.at("global"));
        if (!rest.empty() && !rest[0].empty()) return errorResponse(unrecognized());
        return jsonResponse(200, rules);
      });
    }
    now("POST", "user/{userId}/filter", [](ClientApi& api, Call& c) {
      return render(api.hs_.postFilter(c.auth, c.params["userId"], c.body));
    });
    now("GET", "user/{userId}/filter/{filterId}", [](ClientApi& api, Call& c) {
      return render(api.hs_.getFilter(c.auth, c.params["userId"], c.params["filterId"]));
    });
    now(
        "GET", "profile/{userId}",
        [](ClientApi& api, Call& c) { return render(api.hs_.profile(c.params["userId"], "")); }, kOpen);
    now(
        "GET", "profile/{userId}/{field}",
        [](ClientApi& api, Call& c) {
          return render(api.hs_.profile(c.params["userId"], c.params["field"]));
        },
        kOpen);
    now("PUT", "profile/{userId}/{field}", [](ClientApi& api, Call& c) {
      return render(api.hs_.setProfile(c.auth, c.params["userId"], c.params["field"], c.body));
    });

    // Sync and to-device.
    later("GET", "sync", &ClientApi::sync);
    now("PUT", "sendToDevice/{eventType}/{txnId}", [](ClientApi& api, Call& c) {
      return render(api.hs_.sendToDevice(c.auth, c.params["eventType"], c.params["txnId"], c.body));
    });

    // Rooms.
    now("POST", "createRoom",
        [](ClientApi& api, Call& c) { return render(api.hs_.createRoom(c.auth, c.body)); });
    now("POST", "join/{roomIdOrAlias}",
        [](ClientApi& api, Call& c) { return render(api.hs_.join(c.auth, c.params["roomIdOrAlias"])); });
    now("GET", "joined_rooms", [](ClientApi& api, Call& c) { return render(api.hs_.joinedRooms(c.auth)); });
    for (const char* action : {"join", "invite", "leave", "kick", "ban", "unban"}) {
      now("POST", std::string("rooms/{roomId}/") + action, [](ClientApi& api, Call& c) {
        const std::string& what = c.target.segments[2];  // the route's last segment: the action
        return render(api.hs_.membership(c.auth, c.params["roomId"], what, c.body));
      });
    }
    now("POST", "rooms/{roomId}/forget", [](ClientApi&, Call&) { return ok(); });
    now("GET", "rooms/{roomId}/state",
        [](ClientApi& api, Call& c) { return render(api.hs_.roomState(c.auth, c.params["roomId"])); });
    for (const char* pattern :
         {"rooms/{roomId}/state/{eventType}", "rooms/{roomId}/state/{eventType}/{stateKey}"}) {
      now("GET", pattern, [](ClientApi& api, Call& c) {
        const std::string key = c.target.segments.size() == 5 ? c.params["stateKey"] : "";
        return render(api.hs_.stateContent(c.auth, c.params["roomId"], c.params["eventType"], key));
      });
      now("PUT", pattern, [](ClientApi& api, Call& c) {
        const std::string key = c.target.segments.size() == 5 ? c.params["stateKey"] : "";
        auto delay = delayParam(c.query("org.matrix.msc4140.delay"));
        if (!delay) return errorResponse(delay.error());
        if (*delay) {
          return render(api.hs_.scheduleDelayed(c.auth, c.params["roomId"], c.params["eventType"], key,
                                                c.body, **delay, "", false));
        }
        return render(api.hs_.sendEvent(c.auth, c.params["roomId"], c.params["eventType"], key, c.body, ""));
      });
    }
    for (const char* method : {"PUT", "POST"}) {
      now(method, "rooms/{roomId}/send/{eventType}/{txnId}", [](ClientApi& api, Call& c) {
        auto delay = delayParam(c.query("org.matrix.msc4140.delay"));
        if (!delay) return errorResponse(delay.error());
        if (*delay) {
          return render(api.hs_.scheduleDelayed(c.auth, c.params["roomId"], c.params["eventType"],
                                                std::nullopt, c.body, **delay, c.params["txnId"], false));
        }
        return render(api.hs_.sendEvent(c.auth, c.params["roomId"], c.params["eventType"], std::nullopt,
                                        c.body, c.params["txnId"]));
      });
    }
    now("PUT", "rooms/{roomId}/delayed_event/{eventType}/{txnId}", [](ClientApi& api, Call& c) {
      auto delay = optInt(c.body, "delay_ms");
      if (!delay) return errorResponse(delay.error());
      if (!*delay) return errorResponse(mxError(400, "M_MISSING_PARAM", "missing 'delay_ms'"));
      auto sk = optString(c.body, "state_key");
      if (!sk) return errorResponse(sk.error());
      auto content = optObject(c.body, "content");
      if (!content) return errorResponse(content.error());
      if (!*content) return errorResponse(mxError(400, "M_MISSING_PARAM", "missing 'content'"));
      return render(api.hs_.scheduleDelayed(c.auth, c.params["roomId"], c.params["eventType"], *sk, **content,
                                            **delay, c.params["txnId"], true));
    });
    now("GET", "rooms/{roomId}/joined_members",
        [](ClientApi& api, Call& c) { return render(api.hs_.joinedMembers(c.auth, c.params["roomId"])); });
    now("GET", "rooms/{roomId}/members",
        [](ClientApi& api, Call& c) { return render(api.hs_.members(c.auth, c.params["roomId"])); });
    now("GET", "rooms/{roomId}/messages", [](ClientApi& api, Call& c) {
      MessagesRequest mr;
      mr.from = c.query("from");
      mr.to = c.query("to");
      const std::string dir = c.query("dir").value_or("b");
      if (dir != "b" && dir != "f") return errorResponse(invalidParam("'dir' must be b or f"));
      mr.dir = dir[0];
      if (auto l = c.query("limit")) {
        try {
          mr.limit = std::stoll(*l);
        } catch (...) {
          return errorResponse(invalidParam("'limit' must be an integer"));
        }
      }
      return render(api.hs_.messages(c.auth, c.params["roomId"], mr));
    });
    // Accepted; ephemeral events are not served.
    now("PUT", "rooms/{roomId}/typing/{userId}", [](ClientApi&, Call&) { return ok(); });
    now("POST", "rooms/{roomId}/receipt/*", [](ClientApi&, Call&) { return ok(); });
    now("POST", "rooms/{roomId}/read_markers", [](ClientApi&, Call&) { return ok(); });
    now(
        "GET", "directory/room/{roomAlias}",
        [](ClientApi& api, Call& c) { return render(api.hs_.resolveAlias(c.params["roomAlias"])); }, kOpen);
    now("PUT", "directory/room/{roomAlias}", [](ClientApi& api, Call& c) {
      return render(api.hs_.putAlias(c.auth, c.params["roomAlias"], c.body));
    });
    now("DELETE", "directory/room/{roomAlias}",
        [](ClientApi& api, Call& c) { return render(api.hs_.deleteAlias(c.auth, c.params["roomAlias"])); });

    // MSC4140 delayed events (the PUT and /send forms are above).
    now("GET", "delayed_events", [](ClientApi& api, Call& c) { return render(api.hs_.delayedList(c.auth)); });
    now("GET", "delayed_events/{delayId}",
        [](ClientApi& api, Call& c) { return render(api.hs_.delayedGet(c.auth, c.params["delayId"])); });
    now("POST", "delayed_events/{delayId}", [](ClientApi& api, Call& c) {
      auto action = reqString(c.body, "action");  // the oldest unstable form
      if (!action) return errorResponse(action.error());
      return render(api.hs_.delayedAction(c.auth, c.params["delayId"], *action));
    });
    now("POST", "delayed_events/{delayId}/{action}", [](ClientApi& api, Call& c) {
      return render(api.hs_.delayedAction(c.auth, c.params["delayId"], c.params["action"]));
    });

    // End-to-end encryption keys and devices.
    addKeyRoutes(t);

    now("GET", "voip/turnServer", [](ClientApi& api, Call&) {
      const auto& turn = api.cfg_.turn;
      if (turn.uris.empty()) return jsonResponse(200, json::object{});
      json::array uris;
      for (const auto& u : turn.uris) uris.push_back(json::string(u));
      return jsonResponse(200, json::object{{"uris", std::move(uris)},
                                            {"username", turn.username},
                                            {"password", turn.password},
                                            {"ttl", turn.ttl_s}});
    });
    return t;
  }();
  return table;
}

}  // namespace chorus::hs
