#pragma once
// Thread-safe FIFO of MediaEvents: GStreamer threads push, the caller's thread drains. Internal header.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "endpoint/media_event.hpp"

namespace chorus::endpoint {

class EventQueue {
 public:
  EventQueue();
  ~EventQueue();
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  void push(MediaEvent event);
  std::vector<MediaEvent> drain();
  bool wait(std::chrono::milliseconds timeout);
  int fd() const { return fd_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<MediaEvent> events_;  // Guarded by mu_.
  int fd_{-1};                      // eventfd; non-zero while events_ is non-empty
};

}  // namespace chorus::endpoint
