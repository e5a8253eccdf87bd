// POST /login: password guessing limits (per canonical user id and client address, per user, per address;
// with backoff) and the
// Argon2id check on a small thread pool, so that the I/O thread never waits
// for a KDF (issue #10).
#include <algorithm>
#include <memory>

#include <boost/asio/as_tuple.hpp>

#include "hs/api/client_api.hpp"

namespace chorus::hs {
namespace asio = boost::asio;
namespace json = boost::json;

std::optional<MxError> ClientApi::loginLocked(const std::string& key) {
  auto it = login_failures_.find(key);
  if (it == login_failures_.end()) return std::nullopt;
  const auto now = std::chrono::steady_clock::now();
  if (now >= it->second.locked_until) return std::nullopt;
  MxError e = mxError(429, "M_LIMIT_EXCEEDED", "Too many failed login attempts; try again later");
  e.extra["retry_after_ms"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(it->second.locked_until - now).count() + 1;
  return e;
}

void ClientApi::loginFailed(const std::string& key, int free_failures) {
  const auto now = std::chrono::steady_clock::now();
  const auto max_backoff = std::chrono::milliseconds(cfg_.login_max_backoff_ms);
  if (login_failures_.size() >= kMaxBuckets) {
    // Bounded: drop what is no longer locked (forgetting only makes limits laxer).
    std::erase_if(login_failures_, [&](const auto& kv) { return kv.second.locked_until <= now; });
    if (login_failures_.size() >= kMaxBuckets) login_failures_.clear();
  }
  LoginFailures& f = login_failures_[key];
  if (f.failures > 0 && now - f.last > 2 * max_backoff) f.failures = 0;  // an old streak is forgiven
  f.last = now;
  ++f.failures;
  if (f.failures >= free_failures) {
    const int doublings = std::min(f.failures - free_failures, 30);
    const auto backoff = std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(cfg_.login_backoff_ms) * (1LL << doublings), max_backoff);
    f.locked_until = now + backoff;
  }
}

asio::awaitable<bool> ClientApi::checkPasswordOffThread(Homeserver::LoginAttempt a) {
  if (!kdf_pool_) co_return Homeserver::checkPassword(a);
  // The pool thread posts the result back to the I/O thread, which wakes this coroutine through a timer.
  struct Shared {
    explicit Shared(const asio::any_io_executor& ex)
        : done(ex, std::chrono::steady_clock::time_point::max()) {}
    asio::steady_timer done;
    bool ok{false};
  };
  auto shared = std::make_shared<Shared>(co_await asio::this_coro::executor);
  asio::post(*kdf_pool_, [shared, a = std::move(a)] {
    const bool ok = Homeserver::checkPassword(a);
    asio::post(shared->done.get_executor(), [shared, ok] {
      shared->ok = ok;
      shared->done.cancel();
    });
  });
  co_await shared->done.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return shared->ok;
}

asio::awaitable<HttpResponse> ClientApi::login(Call& c) {
  auto parsed = parseJsonBody(c.req.body);
  if (!parsed) co_return errorResponse(parsed.error());
  const HttpRequest& req = c.req;
  const json::object* body = &*parsed;
  // Password guessing is limited per claimed user (canonical: "alice", "@alice:server" and "ALICE" are one)
  // and per client address.
  std::string who;
  if (const auto* ident = body->if_contains("identifier"); ident && ident->is_object()) {
    if (const auto* u = ident->get_object().if_contains("user"); u && u->is_string()) who = u->get_string();
  } else if (const auto* u = body->if_contains("user"); u && u->is_string()) {
    who = u->get_string();
  }
  // Three buckets: (user, address) is the tight one, so a guesser locks out only itself, not the real user
  // on another address; the user across all addresses is looser (distributed guessing); the address across
  // all users catches spraying.
  const std::string user_key = "user\n" + hs_.canonicalLoginName(who);
  const std::string pair_key = "pair\n" + hs_.canonicalLoginName(who) + "\n" + req.remote;
  const std::string addr_key = "addr\n" + req.remote;
  if (auto e = rateLimit("login\n" + hs_.canonicalLoginName(who))) co_return errorResponse(*e);
  if (cfg_.login_limits) {
    for (const std::string* key : {&pair_key, &user_key}) {
      if (auto e = loginLocked(*key)) co_return errorResponse(*e);
    }
    if (!req.remote.empty()) {
      if (auto e = loginLocked(addr_key)) co_return errorResponse(*e);
    }
  }
  auto attempt = hs_.loginPrepare(*body);
  if (!attempt) co_return errorResponse(attempt.error());
  // Argon2id on the KDF pool; the I/O thread keeps serving everyone else meanwhile.
  if (auto full = kdfQueueFull()) co_return errorResponse(*full);
  bool ok = false;
  {
    KdfSlot pending(kdf_pending_);
    ok = co_await checkPasswordOffThread(*attempt);
  }
  if (!ok) {
    if (cfg_.login_limits) {
      loginFailed(pair_key, cfg_.login_free_failures);
      loginFailed(user_key, cfg_.login_free_failures_per_user);
      if (!req.remote.empty()) loginFailed(addr_key, cfg_.login_free_failures_per_address);
    }
    co_return errorResponse(forbidden("Invalid username or password"));
  }
  login_failures_.erase(pair_key);
  login_failures_.erase(user_key);
  auto r = hs_.loginFinish(*attempt);
  if (!r) co_return errorResponse(r.error());
  co_return jsonResponse(200, *r);
}

std::optional<MxError> ClientApi::kdfQueueFull() const {
  if (!kdf_pool_ || kdf_pending_ < cfg_.kdf_queue) return std::nullopt;
  MxError e = mxError(429, "M_LIMIT_EXCEEDED", "Password hashing queue is full; try again later");
  e.extra["retry_after_ms"] = 1000;
  return e;
}

}  // namespace chorus::hs
