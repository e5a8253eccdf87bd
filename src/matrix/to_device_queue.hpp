#pragma once
// Outgoing to-device messages of one Matrix device, as `chorus call` (CallSession) and `chorus focus` send
// them: a FIFO per target device with one message in flight per device (so a device receives its m.call.* in
// the order core produced them), each message sealed first (Olm, or as it is) and sent with a transaction id
// fixed when it was queued, so a retried PUT is never delivered twice. Bounded per device and in all: what
// does not fit is refused at push() and counted. Loop thread only; no I/O of its own (the caller gives
// `send`).
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>

#include <boost/json.hpp>

#include "base/result.hpp"
#include "matrix/client.hpp"
#include "matrix/olm_channel.hpp"
#include "proto/room_events.hpp"

namespace chorus::matrix {

class ToDeviceQueue {
 public:
  struct Limits {
    std::size_t per_device{256};
    std::size_t total{8192};
  };
  using Sealed = OlmChannel::Sealed;
  // Seals one message for the wire (an error: it must not go out, e.g. the device has keys but no session).
  using Seal = std::function<void(const proto::SendToDevice&, std::function<void(Result<Sealed>)>)>;
  // PUT /sendToDevice/{type}/{txn} with {user: {device: content}}.
  using Send =
      std::function<void(const std::string& type, const std::string& txn, boost::json::object messages,
                         std::function<void(Result<boost::json::object>)>)>;
  // After each message: sent (ok) or given up (the error).
  using Done = std::function<void(const proto::SendToDevice&, const Status&)>;

  ToDeviceQueue(Limits limits, Seal seal, Send send, std::function<std::string()> new_txn_id, Done done);
  // Sending through `client` (PUT /sendToDevice, its transaction ids). Borrowed: it outlives the queue.
  ToDeviceQueue(Limits limits, Seal seal, Client& client, Done done);

  // Queues `message`; false (nothing queued, counted in refused()) when its device's or the total bound is
  // full.
  bool push(proto::SendToDevice message);

  std::size_t queued() const { return queued_; }  // queued or in flight
  bool idle() const { return queued_ == 0; }
  std::uint64_t refused() const { return refused_; }

 private:
  struct Job {
    proto::SendToDevice message;
    std::string txn_id;
  };
  struct Device {
    std::deque<Job> jobs;
    bool busy{false};
  };
  void startFront(const std::string& key);
  void sendFront(const std::string& key, Result<Sealed> sealed);
  void finishFront(const std::string& key, const Status& result);

  Limits limits_;
  Seal seal_;
  Send send_;
  std::function<std::string()> new_txn_id_;
  Done done_;
  std::map<std::string, Device> devices_;  // "user\ndevice" -> its queue; erased when empty and idle
  std::size_t queued_{0};
  std::uint64_t refused_{0};
};

}  // namespace chorus::matrix
