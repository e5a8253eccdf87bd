#pragma once
// One-thread event loop for the Matrix shell: libcurl multi for HTTP, timers, and posts from other threads.
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
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  long timeout_ms{60'000};
};

struct HttpResponse {
  long status{0};  // 0 when the transport failed
  std::string body;
  std::string transport_error;  // curl's message when status == 0
};

class EventLoop {
 public:
  using Callback = std::function<void(HttpResponse)>;
  using TaskId = std::uint64_t;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Loop thread only.
  TaskId request(HttpRequest req, Callback cb);
  void cancelRequest(TaskId id);
  TaskId setTimer(TimeMs delay_ms, std::function<void()> fn);
  void cancelTimer(TaskId id);
  std::size_t inFlight() const { return requests_.size(); }

  // Any thread.
  void post(std::function<void()> fn);
  void stop();

  // Runs until stop(); the loop can be run again afterwards.
  void run();
  bool stopped() const;

 private:
  struct Pending;
  void runTimers();
  void runPosted();
  void completeTransfers();
  TimeMs nowMs() const;

  void* multi_{nullptr};  // CURLM*
  std::map<TaskId, std::unique_ptr<Pending>> requests_;
  std::multimap<TimeMs, std::pair<TaskId, std::function<void()>>> timers_;
  TaskId next_id_{0};
  mutable std::mutex mutex_;  // guards posted_ and stop_
  std::vector<std::function<void()>> posted_;
  bool stop_{false};
  SystemClock clock_;
};

}  // namespace chorus::matrix
