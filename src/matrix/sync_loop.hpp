#pragma once
// The /sync long-poll loop of one Matrix device, as `chorus call` (CallSession) and `chorus focus` run it:
// the first request returns at once (timeout 0), then long polls of `timeout_ms`, each resuming from the last
// next_batch. Replies are parsed leniently (parseSyncResponse: malformed events skipped and counted,
// ill-formed UTF-8 replaced by the client). A failed request or an unusable reply is retried after an
// exponential back-off (min_backoff_ms doubling to max_backoff_ms), unless the failure callback says to stop.
// A token taken when each request leaves (OlmChannel::syncToken) is handed back with its reply. Loop thread
// only.
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/clock.hpp"
#include "base/result.hpp"
#include "matrix/client.hpp"
#include "matrix/event_loop.hpp"
#include "matrix/sync_response.hpp"

namespace chorus::matrix {

class SyncLoop {
 public:
  struct Config {
    TimeMs timeout_ms{30'000};
    TimeMs min_backoff_ms{1'000};
    TimeMs max_backoff_ms{30'000};
  };
  using Token = std::function<std::uint64_t()>;
  using OnBatch = std::function<void(const SyncBatch& batch, std::uint64_t token)>;
  // A failed request or unusable reply; `retry_in_ms` is the back-off. Return false to stop the loop.
  using OnFailure = std::function<bool(const Error& error, bool synced_once, TimeMs retry_in_ms)>;

  // Borrowed: loop and client outlive the SyncLoop. `token` may be empty (then 0).
  SyncLoop(EventLoop& loop, Client& client, Config config, Token token, OnBatch on_batch,
           OnFailure on_failure);
  ~SyncLoop();
  SyncLoop(const SyncLoop&) = delete;
  SyncLoop& operator=(const SyncLoop&) = delete;

  void start();  // the first request, now (again after stop(): resumes from since())
  void stop();   // no further requests; the reply of one in flight is dropped

  const std::string& since() const { return since_; }
  bool syncedOnce() const { return synced_once_; }
  // Any thread.
  std::uint64_t syncs() const { return syncs_; }
  std::uint64_t eventsSkipped() const { return events_skipped_; }
  std::uint64_t failures() const { return failures_; }

 private:
  void request();
  void failed(const Error& error);

  EventLoop& loop_;
  Client& client_;
  Config config_;
  Token token_;
  OnBatch on_batch_;
  OnFailure on_failure_;
  std::string since_;
  bool synced_once_{false};
  bool running_{false};
  std::uint64_t generation_{0};  // replies of requests made before the last stop() are dropped
  TimeMs backoff_ms_{0};
  std::optional<EventLoop::TaskId> retry_timer_;
  std::atomic<std::uint64_t> syncs_{0};
  std::atomic<std::uint64_t> events_skipped_{0};
  std::atomic<std::uint64_t> failures_{0};
};

}  // namespace chorus::matrix
