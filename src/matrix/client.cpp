#include "matrix/client.hpp"

#include "base/log.hpp"
#include "base/rng.hpp"

namespace chorus::matrix {

namespace json = boost::json;

namespace {
constexpr std::string_view kV3 = "/_matrix/client/v3";

Code codeForStatus(long status) {
  switch (status) {
    case 0:
      return Code::Unavailable;
    case 400:
      return Code::InvalidArgument;
    case 401:
      return Code::Unauthenticated;
    case 403:
      return Code::PermissionDenied;
    case 404:
      return Code::NotFound;
    case 409:
      return Code::AlreadyExists;
    case 413:
      return Code::ResourceExhausted;
    case 429:
      return Code::ResourceExhausted;
    default:
      return status >= 500 ? Code::Unavailable : Code::Unknown;
  }
}
}  // namespace

Client::Client(EventLoop& loop, std::string homeserver_url) : loop_(loop), base_(std::move(homeserver_url)) {
  while (!base_.empty() && base_.back() == '/') base_.pop_back();
  SystemRng rng;
  txn_prefix_ = "chorus" + rng.alnum(8) + ".";
}

std::string Client::newTxnId() {
  return txn_prefix_ + std::to_string(++txn_counter_);
}

std::string Client::errcodeOf(const Error& e) {
  auto colon = e.message.find(':');
  return colon == std::string::npos ? std::string() : e.message.substr(0, colon);
}

void Client::setSession(std::string access_token, std::string user_id, std::string device_id) {
  access_token_ = std::move(access_token);
  user_id_ = std::move(user_id);
  device_id_ = std::move(device_id);
}

void Client::call(const std::string& method, const std::string& path, std::optional<json::object> body,
                  Reply cb, RetryPolicy policy, TimeMs timeout_ms) {
  HttpRequest req;
  req.method = method;
  req.url = base_ + path;
  req.timeout_ms = timeout_ms;
  if (!access_token_.empty()) req.headers.push_back("Authorization: Bearer " + access_token_);
  if (body) req.body = json::serialize(*body);
  attempt(std::move(req), std::move(cb), policy, 1);
}

void Client::attempt(HttpRequest req, Reply cb, RetryPolicy policy, int attempt_no) {
  HttpRequest copy = req;
  loop_.request(std::move(copy), [this, req = std::move(req), cb = std::move(cb), policy,
                                  attempt_no](HttpResponse resp) mutable {
    if (resp.status >= 200 && resp.status < 300) {
      std::size_t bad_utf8 = 0;
      auto parsed = parseReply(resp.body, kMaxSyncBytes, &bad_utf8);
      if (bad_utf8) {
        // Not fatal: one hostile event must not stall the caller's loop (e.g. /sync retrying one `since`).
        if (invalid_utf8_replies_++ < 10) {
          CHORUS_LOG(Warn, "matrix",
                     "reply to " << req.method << " " << req.url << " carried " << bad_utf8
                                 << " ill-formed UTF-8 sequence(s); replaced by U+FFFD");
        }
        invalid_utf8_sequences_ += bad_utf8;
      }
      if (!parsed) {
        cb(fail(Code::DataLoss,
                "homeserver reply to " + req.method + " " + req.url + ": " + parsed.error().message));
        return;
      }
      cb(std::move(*parsed));
      return;
    }
    MatrixError me;
    if (resp.status == 0) {
      me.errcode = "M_CONNECTION";
      me.error = resp.transport_error;
    } else {
      me = parseMatrixError(resp.status, resp.body);
    }
    const bool retryable = resp.status == 0 || resp.status == 429 || resp.status >= 500;
    if (retryable && attempt_no < policy.max_attempts) {
      TimeMs delay = std::min(policy.max_backoff_ms, policy.base_backoff_ms << (attempt_no - 1));
      if (me.retry_after_ms) delay = std::max<TimeMs>(*me.retry_after_ms, 0);
      CHORUS_LOG(Info, "matrix",
                 req.method << " " << req.url << " failed (" << me.errcode << " " << me.error << "), retry "
                            << attempt_no << " in " << delay << " ms");
      loop_.setTimer(delay, [this, req = std::move(req), cb = std::move(cb), policy, attempt_no]() mutable {
        attempt(std::move(req), std::move(cb), policy, attempt_no + 1);
      });
      return;
    }
    cb(fail(codeForStatus(resp.status), me.errcode + ": " + me.error));
  });
}

void Client::login(const std::string& user, const std::string& password, const std::string& device_id,
                   Reply cb) {
  json::object body{{"type", "m.login.password"},
                    {"identifier", json::object{{"type", "m.id.user"}, {"user", user}}},
                    {"password", password},
                    {"initial_device_display_name", "chorus"}};
  if (!device_id.empty()) body["device_id"] = device_id;
  call("POST", std::string(kV3) + "/login", body, [this, cb = std::move(cb)](Result<json::object> r) {
    if (r) {
      const auto* tok = r->if_contains("access_token");
      const auto* uid = r->if_contains("user_id");
      const auto* did = r->if_contains("device_id");
      if (!tok || !tok->is_string() || !uid || !uid->is_string() || !did || !did->is_string()) {
        cb(fail(Code::DataLoss, "login reply lacks access_token, user_id or device_id"));
        return;
      }
      setSession(std::string(tok->as_string()), std::string(uid->as_string()), std::string(did->as_string()));
    }
    cb(std::move(r));
  });
}

void Client::whoami(Reply cb) {
  call("GET", std::string(kV3) + "/account/whoami", std::nullopt, std::move(cb));
}

void Client::versions(Reply cb) {
  call("GET", "/_matrix/client/versions", std::nullopt, std::move(cb));
}

void Client::joinRoom(const std::string& room, Reply cb) {
  call("POST", std::string(kV3) + "/join/" + encodePathSegment(room), json::object{}, std::move(cb));
}

void Client::createRoom(json::object body, Reply cb) {
  call("POST", std::string(kV3) + "/createRoom", std::move(body), std::move(cb));
}

void Client::sync(const std::string& since, TimeMs timeout_ms, Reply cb) {
  std::string path = std::string(kV3) + "/sync?timeout=" + std::to_string(timeout_ms);
  if (!since.empty()) path += "&since=" + encodePathSegment(since);
  RetryPolicy once;
  once.max_attempts = 1;  // the sync loop has its own backoff
  call("GET", path, std::nullopt, std::move(cb), once, timeout_ms + 30'000);
}

void Client::putState(const std::string& room_id, const std::string& type, const std::string& state_key,
                      const json::object& content, Reply cb, std::optional<TimeMs> delay_ms) {
  std::string path = std::string(kV3) + "/rooms/" + encodePathSegment(room_id) + "/state/" +
                     encodePathSegment(type) + "/" + encodePathSegment(state_key);
  if (delay_ms) path += "?org.matrix.msc4140.delay=" + std::to_string(*delay_ms);
  call("PUT", path, content, std::move(cb));
}

void Client::sendToDevice(const std::string& type, const std::string& txn_id, json::object messages,
                          Reply cb) {
  call("PUT", std::string(kV3) + "/sendToDevice/" + encodePathSegment(type) + "/" + encodePathSegment(txn_id),
       json::object{{"messages", std::move(messages)}}, std::move(cb));
}

void Client::delayedEventAction(const std::string& delay_id, const std::string& action, Reply cb) {
  RetryPolicy few;
  few.max_attempts = 2;
  call("POST",
       "/_matrix/client/unstable/org.matrix.msc4140/delayed_events/" + encodePathSegment(delay_id) + "/" +
           action,
       json::object{}, std::move(cb), few);
}

void Client::turnServer(Reply cb) {
  call("GET", std::string(kV3) + "/voip/turnServer", std::nullopt, std::move(cb));
}

void Client::keysUpload(json::object body, Reply cb) {
  call("POST", std::string(kV3) + "/keys/upload", std::move(body), std::move(cb));
}

void Client::keysQuery(json::object body, Reply cb) {
  call("POST", std::string(kV3) + "/keys/query", std::move(body), std::move(cb));
}

void Client::keysClaim(json::object body, Reply cb) {
  call("POST", std::string(kV3) + "/keys/claim", std::move(body), std::move(cb));
}

Result<json::object> blocking(EventLoop& loop, const std::function<void(Client::Reply)>& start) {
  std::optional<Result<json::object>> out;
  loop.post([&] {
    start([&](Result<json::object> r) {
      out = std::move(r);
      loop.stop();
    });
  });
  loop.run();
  return std::move(*out);
}

}  // namespace chorus::matrix
