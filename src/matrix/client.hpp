#pragma once
// Matrix client-server API calls over the EventLoop, with retries that never duplicate (same txn id).
#include <functional>
#include <optional>
#include <string>

#include <boost/json.hpp>

#include "base/result.hpp"
#include "matrix/event_loop.hpp"
#include "matrix/sync_response.hpp"

namespace chorus::matrix {

struct RetryPolicy {
  int max_attempts{5};          // including the first
  TimeMs base_backoff_ms{500};  // 500 * 2^n, as matrix-js-sdk
  TimeMs max_backoff_ms{10'000};
};

class Client {
 public:
  using Reply = std::function<void(Result<boost::json::object>)>;

  Client(EventLoop& loop, std::string homeserver_url);

  void login(const std::string& user, const std::string& password, const std::string& device_id, Reply cb);
  void setSession(std::string access_token, std::string user_id, std::string device_id);
  void whoami(Reply cb);
  void versions(Reply cb);
  void joinRoom(const std::string& room_id_or_alias, Reply cb);
  void createRoom(boost::json::object body, Reply cb);
  void sync(const std::string& since, TimeMs timeout_ms, Reply cb_raw_batch);
  // delay_ms: schedule it as an MSC4140 delayed event (deployed query-parameter form) instead of sending now.
  void putState(const std::string& room_id, const std::string& type, const std::string& state_key,
                const boost::json::object& content, Reply cb, std::optional<TimeMs> delay_ms = std::nullopt);
  void sendToDevice(const std::string& type, const std::string& txn_id, boost::json::object messages,
                    Reply cb);
  // MSC4140 management: action is "restart", "cancel" or "send".
  void delayedEventAction(const std::string& delay_id, const std::string& action, Reply cb);
  void turnServer(Reply cb);
  // E2EE key endpoints (bodies built by crypto::OlmMachine).
  void keysUpload(boost::json::object body, Reply cb);
  void keysQuery(boost::json::object body, Reply cb);
  void keysClaim(boost::json::object body, Reply cb);

  // Any request; errors become Error{code, "M_ERRCODE: message"}; 429 and transport/5xx errors are retried.
  void call(const std::string& method, const std::string& path, std::optional<boost::json::object> body,
            Reply cb, RetryPolicy policy = {}, TimeMs timeout_ms = 60'000);

  std::string newTxnId();
  const std::string& userId() const { return user_id_; }
  const std::string& deviceId() const { return device_id_; }
  const std::string& accessToken() const { return access_token_; }
  const std::string& homeserver() const { return base_; }
  // Replies that carried ill-formed UTF-8 (decoded lossily, see parseReply), and the sequences replaced.
  std::uint64_t invalidUtf8Replies() const { return invalid_utf8_replies_; }
  std::uint64_t invalidUtf8Sequences() const { return invalid_utf8_sequences_; }
  // The errcode of the last failed reply (for callers that branch on it, e.g. M_NOT_FOUND on restart).
  static std::string errcodeOf(const Error& e);

 private:
  void attempt(HttpRequest req, Reply cb, RetryPolicy policy, int attempt_no);

  EventLoop& loop_;  // Borrowed (outlives this).
  std::string base_;
  std::string access_token_;
  std::string user_id_;
  std::string device_id_;
  std::string txn_prefix_;
  std::uint64_t txn_counter_{0};
  std::uint64_t invalid_utf8_replies_{0};
  std::uint64_t invalid_utf8_sequences_{0};
};

// Runs `loop` until the one request that `start` makes has replied, and returns the reply: for the few set-up
// calls of tools (demo, benches) that have nothing else to do meanwhile. The loop must not be running.
Result<boost::json::object> blocking(EventLoop& loop, const std::function<void(Client::Reply)>& start);

}  // namespace chorus::matrix
