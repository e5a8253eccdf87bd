#pragma once
// Drives one core::GroupCall against a homeserver: the /sync loop feeds it, its actions become HTTP requests,
// media commands go to a MediaBackend, and MSC4140 delayed events make a crash leave the call within seconds.
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "base/clock.hpp"
#include "base/rng.hpp"
#include "core/group_call.hpp"
#include "crypto/olm_machine.hpp"
#include "matrix/client.hpp"
#include "matrix/olm_channel.hpp"
#include "matrix/sync_loop.hpp"
#include "matrix/to_device_queue.hpp"

namespace chorus::session {

// Executes the media actions of core (CreateLeg, CreateOffer, ...); results come back through
// CallSession::input() on the loop thread.
class MediaBackend {
 public:
  virtual ~MediaBackend() = default;
  virtual void execute(const core::Action& action) = 0;
};

struct SessionConfig {
  std::string room;  // id or alias
  bool create_call{false};
  std::vector<core::LocalFeed> feeds;
  core::CallConfig core;           // user/device/session are filled in from the login
  TimeMs delayed_leave_ms{8'000};  // MSC4140 (js-sdk defaults)
  TimeMs delayed_restart_ms{5'000};
  TimeMs sync_timeout_ms{30'000};
  bool use_delayed_events{true};  // when /versions advertises org.matrix.msc4140
  // Olm-encrypted call signalling (issue #13, docs/e2ee.md). enabled: keys are uploaded, m.room.encrypted
  // to-device is decrypted, and in a room with m.room.encryption m.call.* goes Olm-encrypted to every device
  // that publishes keys (plaintext to devices without keys, e.g. a focus). olm_state_path empty: the Olm
  // account lives in memory only; else it is kept there, encrypted at rest with olm_state_key (32 bytes).
  bool e2ee{true};
  std::string olm_state_path;
  std::string olm_state_key;
};

class CallSession {
 public:
  using Notify = std::function<void(const core::Action&)>;
  using Ready = std::function<void(Status)>;

  CallSession(matrix::EventLoop& loop, matrix::Client& client, SessionConfig config, MediaBackend* media,
              Notify notify);
  ~CallSession();

  // Checks /versions, joins the room, does the first sync and enters the call. `ready` reports the outcome.
  void start(Ready ready);
  // Leaves the call (hangups, member event without us, delayed leave cancelled); `done` runs when the
  // requests have completed (or failed).
  void leave(std::function<void()> done);
  void terminate(std::function<void()> done);
  void input(const core::Input& in);  // loop thread
  // Simulates a crash for tests: stops syncing, sending and restarting the delayed leave, without leaving.
  void abandonForTest();

  const core::GroupCall* call() const { return call_.get(); }
  const std::string& roomId() const { return room_id_; }
  bool delayedEventsSupported() const { return delayed_supported_; }
  std::uint64_t syncCount() const { return sync_ ? sync_->syncs() : 0; }
  // Events of /sync replies skipped as malformed, and ill-formed UTF-8 sequences replaced (all replies).
  std::uint64_t syncEventsSkipped() const { return sync_ ? sync_->eventsSkipped() : 0; }
  std::uint64_t syncInvalidUtf8() const { return client_.invalidUtf8Sequences(); }
  matrix::E2eeCounters e2eeCounters() const;
  bool roomEncrypted() const { return room_encrypted_; }
  const crypto::OlmMachine* olm() const { return olm_ ? &olm_->machine() : nullptr; }

 private:
  void afterJoin();
  void syncLoop();
  void onSync(const matrix::SyncBatch& batch, std::uint64_t key_token);
  void execute(core::Actions actions);
  void putState(const core::act::PutState& a);
  void flushStateQueue(const std::string& key);
  void sendToDevice(const core::act::SendToDevice& a);
  void scheduleWakeup(TimeMs at);
  void scheduleDelayedLeave(const boost::json::object& leave_content, std::function<void()> then);
  void restartDelayedLeave();
  // E2EE (issue #13): the Olm plumbing is matrix::OlmChannel.
  Status openOlm();
  void onToDevice(const core::ToDeviceMessage& m, bool encrypted);
  void whenIdle(std::function<void()> done);
  void checkIdle();

  matrix::EventLoop& loop_;
  matrix::Client& client_;
  SessionConfig config_;
  MediaBackend* media_;  // Borrowed (may be null: signalling only).
  Notify notify_;
  SystemClock clock_;
  SystemRng rng_;
  std::unique_ptr<core::GroupCall> call_;

  std::string room_id_;
  std::unique_ptr<matrix::SyncLoop> sync_;  // from the join on
  bool initial_synced_{false};
  bool stopping_{false};
  bool abandoned_{false};
  Ready ready_;
  std::optional<matrix::EventLoop::TaskId> wake_timer_;

  // Sends are serialised per target (to-device: per device; state: per type+key), so they arrive in order.
  struct StateJob {
    core::act::PutState action;
  };
  std::map<std::string, std::deque<StateJob>> state_queues_;
  std::map<std::string, bool> state_busy_;
  std::size_t outstanding_{0};  // state writes queued or in flight
  matrix::ToDeviceQueue to_device_;
  std::vector<std::function<void()>> idle_waiters_;

  // E2EE.
  matrix::ClientKeyTransport key_transport_{client_};
  std::unique_ptr<matrix::OlmChannel> olm_;  // null when E2EE is off
  bool room_encrypted_{false};
  std::uint64_t plaintext_in_encrypted_room_{0};

  // MSC4140.
  bool delayed_supported_{false};
  std::optional<std::string> delay_id_;
  std::optional<boost::json::object> delayed_content_;
  std::optional<matrix::EventLoop::TaskId> restart_timer_;
};

}  // namespace chorus::session
