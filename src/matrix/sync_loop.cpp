#include "matrix/sync_loop.hpp"

#include <algorithm>
#include <utility>

namespace chorus::matrix {

SyncLoop::SyncLoop(EventLoop& loop, Client& client, Config config, Token token, OnBatch on_batch,
                   OnFailure on_failure)
    : loop_(loop),
      client_(client),
      config_(config),
      token_(std::move(token)),
      on_batch_(std::move(on_batch)),
      on_failure_(std::move(on_failure)) {}

SyncLoop::~SyncLoop() {
  stop();
}

void SyncLoop::start() {
  if (running_) return;
  running_ = true;
  request();
}

void SyncLoop::stop() {
  running_ = false;
  ++generation_;
  if (retry_timer_) {
    loop_.cancelTimer(*retry_timer_);
    retry_timer_.reset();
  }
}

void SyncLoop::request() {
  if (!running_) return;
  const std::uint64_t token = token_ ? token_() : 0;
  const std::uint64_t generation = generation_;
  client_.sync(since_, synced_once_ ? config_.timeout_ms : 0,
               [this, token, generation](Result<boost::json::object> r) {
                 if (!running_ || generation != generation_) return;
                 if (!r) return failed(r.error());
                 std::size_t skipped = 0;
                 auto batch = parseSyncResponse(*r, &skipped);
                 events_skipped_ += skipped;
                 if (!batch) return failed(batch.error());
                 backoff_ms_ = 0;
                 ++syncs_;
                 since_ = batch->next_batch;
                 synced_once_ = true;
                 on_batch_(*batch, token);  // may stop() the loop
                 if (running_ && generation == generation_) request();
               });
}

void SyncLoop::failed(const Error& error) {
  ++failures_;
  backoff_ms_ = backoff_ms_ == 0 ? config_.min_backoff_ms : std::min(backoff_ms_ * 2, config_.max_backoff_ms);
  if (on_failure_ && !on_failure_(error, synced_once_, backoff_ms_)) {
    stop();
    return;
  }
  if (!running_) return;
  retry_timer_ = loop_.setTimer(backoff_ms_, [this] {
    retry_timer_.reset();
    request();
  });
}

}  // namespace chorus::matrix
