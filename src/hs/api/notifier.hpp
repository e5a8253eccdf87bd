#pragma once
// Wakes /sync long-polls: each waiting request parks on a timer that a notification cancels early.
// Loop thread only. Bounded: at most max_per_user waiters per user (the caller checks count()).
#include <chrono>
#include <cstddef>
#include <set>
#include <string>
#include <unordered_map>

#include <boost/asio.hpp>

namespace chorus::hs {

class Notifier {
 public:
  explicit Notifier(boost::asio::io_context& ioc) : ioc_(ioc) {}

  // Waits until `deadline` or a wake for user_id; true when woken (or shutting down).
  boost::asio::awaitable<bool> wait(const std::string& user_id,
                                    std::chrono::steady_clock::time_point deadline);
  void wake(const std::string& user_id);
  // Wakes everyone and makes later waits return at once (shutdown).
  void wakeAll();
  std::size_t count(const std::string& user_id) const;
  std::size_t total() const { return total_; }
  bool stopping() const { return stopping_; }

 private:
  struct Waiter {
    boost::asio::steady_timer* timer;
    bool woken{false};
  };
  boost::asio::io_context& ioc_;
  std::unordered_map<std::string, std::set<Waiter*>> waiters_;
  std::size_t total_{0};
  bool stopping_{false};
};

}  // namespace chorus::hs
