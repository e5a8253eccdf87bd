// POST /register: the new account's Argon2id hash is made on the KDF pool (see router_login.cpp), never on
// the I/O thread; the same bounded queue applies.
#include <memory>

#include <boost/asio/as_tuple.hpp>

#include "hs/api/client_api.hpp"
#include "hs/service/password.hpp"

namespace chorus::hs {
namespace asio = boost::asio;
namespace json = boost::json;

asio::awaitable<std::string> ClientApi::hashOffThread(std::string password) {
  const auto ops = cfg_.kdf_opslimit;
  const auto mem = cfg_.kdf_memlimit_bytes;
  if (!kdf_pool_) co_return hashPassword(password, ops, mem).value_or("");
  struct Shared {
    explicit Shared(const asio::any_io_executor& ex)
        : done(ex, std::chrono::steady_clock::time_point::max()) {}
    asio::steady_timer done;
    std::string hash;
  };
  auto shared = std::make_shared<Shared>(co_await asio::this_coro::executor);
  asio::post(*kdf_pool_, [shared, password = std::move(password), ops, mem] {
    std::string hash = hashPassword(password, ops, mem).value_or("");
    asio::post(shared->done.get_executor(), [shared, hash = std::move(hash)]() mutable {
      shared->hash = std::move(hash);
      shared->done.cancel();
    });
  });
  co_await shared->done.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return std::move(shared->hash);
}

asio::awaitable<HttpResponse> ClientApi::registerUser(Call& c) {
  if (c.query("kind").value_or("user") != "user")
    co_return errorResponse(forbidden("Guest access is disabled"));
  auto parsed = parseJsonBody(c.req.body);
  if (!parsed) co_return errorResponse(parsed.error());
  const json::object& body = *parsed;
  // Only a request that would create an account costs a hash: without "auth" it is the UIA challenge, and
  // a closed server or a missing password fail before any hashing.
  const auto* pw = body.if_contains("password");
  const bool hashes = cfg_.open_registration && body.if_contains("auth") && pw && pw->is_string() &&
                      !pw->get_string().empty();
  if (!hashes) {
    auto r = hs_.registerRequest(body);
    if (!r) co_return errorResponse(r.error());
    co_return jsonResponse(200, *r);
  }
  if (auto full = kdfQueueFull()) co_return errorResponse(*full);
  std::string hash;
  {
    KdfSlot pending(kdf_pending_);
    hash = co_await hashOffThread(std::string(pw->get_string()));
  }
  auto r = hs_.registerRequest(body, &hash);
  if (!r) co_return errorResponse(r.error());
  co_return jsonResponse(200, *r);
}

}  // namespace chorus::hs
