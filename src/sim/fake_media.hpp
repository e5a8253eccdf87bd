#pragma once
// Fake media for one client: answers core's media actions with made-up SDP and candidates, and "connects" a
// leg once both descriptions are set and a remote candidate has arrived. Used by the simulation and by tests
// that run the Matrix shell without GStreamer.
#include <map>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "core/types.hpp"

namespace chorus::sim {

struct FakeLeg {
  std::string peer_user;
  std::string peer_device;
  std::string local_sdp;
  std::string remote_sdp;
  bool outgoing{false};
  bool media_enabled{true};
  int remote_candidates{0};
  bool remote_end_of_candidates{false};
  bool connected{false};
  bool failed{false};
  TimeMs descriptions_complete_at{0};
  int versions{0};
};

class FakeMedia {
 public:
  // A leg with both descriptions but no remote candidate for this long reports ICE failure.
  static constexpr TimeMs kIceFailAfterMs = 10'000;

  FakeMedia(std::string who, const Clock& clock) : who_(std::move(who)), clock_(clock) {}

  // Executes a media action (others are ignored); results are queued for takeResults().
  void execute(const core::Action& action);
  // Results to feed back into core, in order.
  std::vector<core::Input> takeResults();
  bool hasResults() const { return !results_.empty(); }
  // Time-driven behaviour (ICE failure).
  void tick();
  // The peer vanished: its legs go disconnected and will never connect again.
  void peerGone(const std::string& user, const std::string& device);
  void clear() { legs_.clear(), results_.clear(); }

  const std::map<core::LegId, FakeLeg>& legs() const { return legs_; }
  // The leg to a peer: the connected one if any.
  const FakeLeg* legTo(const std::string& user, const std::string& device) const;

 private:
  void makeLocal(core::LegId id, FakeLeg& leg, const std::string& type, bool fresh_candidates);
  void checkConnected(core::LegId id, FakeLeg& leg);

  std::string who_;
  const Clock& clock_;  // Borrowed (outlives this).
  std::map<core::LegId, FakeLeg> legs_;
  std::vector<core::Input> results_;
};

}  // namespace chorus::sim
