#pragma once
// An in-memory room + to-device bus + fake media, driving N core::GroupCall machines with a FakeClock.
// Used by the scenario tests and by the offline `chorus demo --simulate`. Deterministic for a given seed.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/rng.hpp"
#include "core/group_call.hpp"
#include "sim/fake_media.hpp"

namespace chorus::sim {

// How the simulated homeserver delivers to-device messages.
struct DeliveryPolicy {
  double drop{0.0};       // probability that a message is lost
  double duplicate{0.0};  // probability that a message is delivered twice
  bool reorder{false};    // deliver each sync's to-device batch in a random order
  // Room state reaches the other clients this much later than to-device messages (a slow /sync of the room
  // timeline): a caller's invite can arrive before its member event, as with js-sdk.
  TimeMs state_lag_ms{0};
};

class SimClient {
 public:
  SimClient(std::string user_id, std::string device_id, std::string session_id, const Clock& clock, Rng& rng,
            const core::CallConfig& base_config);

  const std::string& userId() const { return user_id_; }
  const std::string& deviceId() const { return device_id_; }
  const std::string& sessionId() const { return session_id_; }
  core::GroupCall& call() { return *call_; }
  const core::GroupCall& call() const { return *call_; }
  bool crashed() const { return crashed_; }
  const std::map<core::LegId, FakeLeg>& media() const { return media_.legs(); }
  // The fake media leg currently connected (or connecting) to a peer device, if any.
  const FakeLeg* mediaTo(const std::string& user, const std::string& device) const {
    return media_.legTo(user, device);
  }

 private:
  friend class Simulation;
  std::string user_id_;
  std::string device_id_;
  std::string session_id_;
  std::unique_ptr<core::GroupCall> call_;
  bool crashed_{false};
  std::vector<core::StateEvent> pending_state_;
  std::vector<std::pair<TimeMs, core::StateEvent>>
      lagged_state_;  // (due, event): DeliveryPolicy::state_lag_ms
  std::vector<core::ToDeviceMessage> pending_to_device_;
  std::vector<core::Input> pending_inputs_;  // media results and request failures, delivered next step
  FakeMedia media_;
};

class Simulation {
 public:
  explicit Simulation(FakeClock& clock, std::uint64_t seed = 1, core::CallConfig base_config = {});

  // Adds a client and joins it to the room (an m.room.member join event).
  SimClient& addClient(const std::string& user_id, const std::string& device_id);
  SimClient& client(std::size_t i) { return *clients_.at(i); }
  std::size_t size() const { return clients_.size(); }

  void input(SimClient& c, core::Input in);
  // The client stops processing without leaving (its member event stays until it expires); its peers' media
  // notices (ICE goes disconnected).
  void crash(SimClient& c);
  // The same user and device come back with a new session (a fresh GroupCall), and enter again.
  void restart(SimClient& c, const std::string& new_session);

  void setPolicy(DeliveryPolicy p) { policy_ = p; }
  // Sends raw to-device content from outside any client (an attacker in the room).
  void injectToDevice(const std::string& from_user, SimClient& to, const std::string& type,
                      boost::json::object content);

  // Advances time in steps of `step`, delivering syncs, media results and ticks.
  void runFor(TimeMs duration, TimeMs step = 20);
  // Runs until pred() holds or `limit` passes; returns whether it held.
  bool runUntil(const std::function<bool()>& pred, TimeMs limit, TimeMs step = 20);

  // True when every ordered pair of live clients has a connected leg whose media matches the peer's (the SDP
  // each side applied as remote is the one the other produced).
  bool allPairsConnected() const;
  bool pairConnected(const SimClient& a, const SimClient& b) const;

  // Room state as the homeserver holds it.
  const std::map<std::pair<std::string, std::string>, core::StateEvent>& roomState() const { return state_; }
  std::uint64_t toDeviceSent() const { return to_device_sent_; }
  std::uint64_t toDeviceDropped() const { return to_device_dropped_; }
  std::uint64_t toDeviceDuplicated() const { return to_device_duplicated_; }
  std::uint64_t toDeviceSentOfType(const std::string& type) const;
  std::vector<std::string>& log() { return log_; }
  void setLogSink(std::function<void(const std::string&)> sink) { log_sink_ = std::move(sink); }

 private:
  void step();
  void deliver(SimClient& c);
  void execute(SimClient& c, core::Actions actions);
  void putState(SimClient& c, const core::act::PutState& a);
  void sendToDevice(SimClient& c, const core::act::SendToDevice& a);
  void note(const std::string& line);
  SimClient* find(const std::string& user, const std::string& device);
  std::string who(const SimClient& c) const { return c.userId() + "/" + c.deviceId(); }

  FakeClock& clock_;
  FakeRng rng_;
  core::CallConfig base_config_;
  std::vector<std::unique_ptr<SimClient>> clients_;
  std::map<std::pair<std::string, std::string>, core::StateEvent> state_;  // (type, state_key) -> event
  DeliveryPolicy policy_;
  std::uint64_t event_counter_{0};
  std::uint64_t to_device_sent_{0};
  std::uint64_t to_device_dropped_{0};
  std::uint64_t to_device_duplicated_{0};
  std::map<std::string, std::uint64_t> to_device_by_type_;
  std::vector<std::string> log_;
  std::function<void(const std::string&)> log_sink_;
};

}  // namespace chorus::sim
