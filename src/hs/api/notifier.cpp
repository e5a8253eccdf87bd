#include "hs/api/notifier.hpp"

#include <boost/asio/as_tuple.hpp>

namespace chorus::hs {
namespace asio = boost::asio;

asio::awaitable<bool> Notifier::wait(const std::string& user_id,
                                     std::chrono::steady_clock::time_point deadline) {
  if (stopping_) co_return true;
  asio::steady_timer timer(ioc_, deadline);
  Waiter w{&timer};
  auto& set = waiters_[user_id];
  set.insert(&w);
  ++total_;
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  auto it = waiters_.find(user_id);
  if (it != waiters_.end()) {
    it->second.erase(&w);
    if (it->second.empty()) waiters_.erase(it);
  }
  --total_;
  co_return w.woken;
}

void Notifier::wake(const std::string& user_id) {
  auto it = waiters_.find(user_id);
  if (it == waiters_.end()) return;
  for (Waiter* w : it->second) {
    w->woken = true;
    w->timer->cancel();
  }
}

void Notifier::wakeAll() {
  stopping_ = true;
  for (auto& [user, set] : waiters_) {
    for (Waiter* w : set) {
      w->woken = true;
      w->timer->cancel();
    }
  }
}

std::size_t Notifier::count(const std::string& user_id) const {
  auto it = waiters_.find(user_id);
  return it == waiters_.end() ? 0 : it->second.size();
}

}  // namespace chorus::hs
