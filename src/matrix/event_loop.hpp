#pragma once
// One-thread event loop for the Matrix shell: HTTP/1.1 client requests (Boost.Beast over Asio, TLS through
// OpenSSL with the system's trust store, keep-alive connections reused per origin), timers, and posts from
// other threads. Every callback runs on the thread inside run().
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.hpp"

namespace chorus::matrix {

struct HttpRequest {
  std::string method{"GET"};
  std::string url;                   // http://host[:port]/path?query or https://…
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  long timeout_ms{60'000};  // the whole exchange, connecting included
};

struct HttpResponse {
  long status{0};  // 0 when the transport failed
  std::string body;
  std::string transport_error;  // what failed when status == 0
};

class EventLoop {
 public:
  using Callback = std::function<void(HttpResponse)>;
  using TaskId = std::uint64_t;

  // Bounds: a reply body over kMaxResponseBytes (or a header block over 64 KiB) fails the request; at most
  // kMaxIdleConnections kept-alive connections wait for reuse (kMaxIdlePerOrigin per scheme/host/port), each
  // for at most kIdleConnectionMs. Connecting (DNS, TCP, TLS) is bounded by kConnectTimeoutMs as well.
  static constexpr std::size_t kMaxResponseBytes = 64 * 1024 * 1024;
  static constexpr std::size_t kMaxIdleConnections = 16;
  static constexpr std::size_t kMaxIdlePerOrigin = 4;
  static constexpr TimeMs kIdleConnectionMs = 30'000;
  static constexpr TimeMs kConnectTimeoutMs = 10'000;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Loop thread only.
  TaskId request(HttpRequest req, Callback cb);
  void cancelRequest(TaskId id);  // its callback never runs
  TaskId setTimer(TimeMs delay_ms, std::function<void()> fn);
  void cancelTimer(TaskId id);
  std::size_t inFlight() const;
  // Connections made so far, and how many requests went over a kept-alive one (for tests and stats).
  std::uint64_t connectionsOpened() const;
  std::uint64_t connectionsReused() const;

  // Any thread.
  void post(std::function<void()> fn);
  void stop();

  // Runs until stop(); the loop can be run again afterwards.
  void run();
  bool stopped() const;

 private:
  struct Impl;
  void runTimers();
  void runPosted();
  TimeMs nowMs() const;

  std::unique_ptr<Impl> impl_;
  std::multimap<TimeMs, std::pair<TaskId, std::function<void()>>> timers_;
  TaskId next_id_{0};
  mutable std::mutex mutex_;  // guards posted_ and stop_
  std::vector<std::function<void()>> posted_;
  bool stop_{false};
};

}  // namespace chorus::matrix
