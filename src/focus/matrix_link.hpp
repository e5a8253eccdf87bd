#pragma once
// The focus's Matrix side (`chorus focus`): login (password or access token), the Olm device (docs/e2ee.md),
// /sync through matrix::SyncLoop (room invites, room state, to-device), room joins, and to-device sends
// through one bounded per-device matrix::ToDeviceQueue (sealed with Olm where the room is encrypted). What it
// learns goes to the controller as focus::Input through Sink. Runs on the Matrix thread (matrix::EventLoop),
// except the constructor and the counters marked "any thread".
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "focus/controller.hpp"
#include "focus/service_options.hpp"
#include "focus/signalling_encryption.hpp"
#include "matrix/client.hpp"
#include "matrix/event_loop.hpp"
#include "matrix/olm_channel.hpp"
#include "matrix/sync_loop.hpp"
#include "matrix/to_device_queue.hpp"

namespace chorus::focus {

class MatrixLink {
 public:
  struct Sink {  // called on the Matrix thread; implementations post to the media thread
    std::function<void(Input)> input;
    // curve25519: the focus's Olm identity key ("" with E2EE off).
    std::function<void(const std::string& user_id, const std::string& device_id,
                       const std::string& curve25519)>
        loggedIn;
    std::function<void(const std::string& error)> fatal;
  };

  // Sends queued per target device, and in all (rejects go to anyone who invites).
  static constexpr std::size_t kMaxQueuedToDevice = 256;
  static constexpr std::size_t kMaxQueuedToDeviceTotal = 8192;

  MatrixLink(matrix::EventLoop& loop, const ServiceOptions& options, Sink sink);

  // Loop thread.
  void start();  // log in, upload keys, then sync
  void stopSync();
  void joinRoom(const std::string& room_id);
  void sendToDevice(proto::SendToDevice a);
  bool idle() const { return to_device_.idle(); }

  // Any thread: the E2EE counters (docs/e2ee.md), published after every /sync and send.
  struct E2ee {
    bool enabled{false};
    matrix::E2eeCounters counters;
  };
  E2ee e2ee() const;
  // Any thread: malformed /sync events skipped, ill-formed UTF-8 sequences replaced (lossy decoding).
  std::uint64_t syncEventsSkipped() const { return sync_events_skipped_; }
  std::uint64_t syncInvalidUtf8() const { return sync_invalid_utf8_; }

 private:
  void afterLogin();
  void sync();
  void publishSyncCounters();  // for the media thread's stats (atomics; sync_ lives on this thread)
  void onBatch(const matrix::SyncBatch& b, std::uint64_t key_token);
  void trackEncryption(const std::string& room_id, const std::vector<proto::StateEvent>& state);
  void onToDevice(proto::ToDeviceMessage m, bool encrypted);
  void publishE2ee();

  matrix::EventLoop& loop_;
  matrix::Client client_;
  const ServiceOptions& options_;
  Sink sink_;
  std::unique_ptr<matrix::SyncLoop> sync_;  // from the login on
  std::set<std::string> joined_;
  std::atomic<std::uint64_t> sync_events_skipped_{0};
  std::atomic<std::uint64_t> sync_invalid_utf8_{0};
  // E2EE (docs/e2ee.md).
  SystemClock clock_;
  matrix::ClientKeyTransport key_transport_{client_};
  std::unique_ptr<matrix::OlmChannel> olm_;  // null with E2EE off
  SignallingEncryption encryption_;          // which messages go encrypted; plaintext in encrypted rooms
  mutable std::mutex e2ee_mutex_;
  E2ee e2ee_;
  matrix::ToDeviceQueue to_device_;  // per device, bounded; seals with olm_ (above)
};

}  // namespace chorus::focus
