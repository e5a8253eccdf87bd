#include "endpoint/event_queue.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace chorus::endpoint {

EventQueue::EventQueue() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

EventQueue::~EventQueue() {
  if (fd_ >= 0) ::close(fd_);
}

void EventQueue::push(MediaEvent event) {
  {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(event));
    if (events_.size() == 1 && fd_ >= 0) {
      std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
    }
  }
  cv_.notify_all();
}

std::vector<MediaEvent> EventQueue::drain() {
  std::vector<MediaEvent> out;
  std::lock_guard lock(mu_);
  out.swap(events_);
  if (fd_ >= 0) {
    std::uint64_t value = 0;
    [[maybe_unused]] auto n = ::read(fd_, &value, sizeof value);
  }
  return out;
}

bool EventQueue::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return !events_.empty(); });
}

}  // namespace chorus::endpoint
