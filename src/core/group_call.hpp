#pragma once
// The group-call machine for one room (MSC3401): which call is the room's, who participates, our membership,
// and one PeerCall per remote device in the full mesh — or, in focus mode (MSC3898), one PeerCall to the
// focus and none to the participants. Sans-IO: Inputs in, Actions out; no clock reads except
// through the injected Clock, no threads, no sockets.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "base/rng.hpp"
#include "core/config.hpp"
#include "core/peer_call.hpp"
#include "core/seq_reorderer.hpp"
#include "core/types.hpp"
#include "proto/room_state.hpp"

namespace chorus::core {

using proto::RoomState;

// Why to-device messages were not acted on. Every drop is counted.
struct Counters {
  std::uint64_t to_device_received{0};
  std::uint64_t not_call_event{0};  // type is not m.call.*
  std::uint64_t malformed{0};       // failed to parse (includes missing device_id / session ids)
  std::uint64_t not_entered{0};     // we are not in a call
  std::uint64_t wrong_conf_id{0};   // conf_id is not our call
  std::uint64_t wrong_session{0};   // dest_session_id is not ours
  std::uint64_t own_echo{0};        // from our own device
  std::uint64_t wrong_invitee{0};   // invite for another user
  std::uint64_t unknown_call{0};    // no leg with that call_id (after reordering)
  std::uint64_t ended_call{0};      // for a call_id that already ended
  std::uint64_t seq_duplicate{0};
  std::uint64_t seq_beyond_window{0};
  std::uint64_t seq_buffer_full{0};
  std::uint64_t seq_too_many_keys{0};
  std::uint64_t too_many_legs{0};
  std::uint64_t invites_rejected{0};
  std::uint64_t glare_resolved{0};
  std::uint64_t invalid_state_events{0};
  std::uint64_t mesh_invites_in_focus_mode{0};  // rejected: the caller uses a focus, so do we (focus mode)
  // Mixed calls (focus mode): mesh legs with devices that use no focus.
  std::uint64_t mesh_peer_legs{0};  // mesh legs placed or accepted in focus mode
  std::uint64_t mesh_peers_over_cap{
      0};  // invites rejected / calls not placed: CallConfig::max_mesh_peers reached
  std::uint64_t mesh_legs_to_focus_user{0};  // mesh legs hung up because the device started using a focus
  // Invites from devices that are not (yet) participants (CallConfig::invite_grace_ms).
  std::uint64_t invites_held{0};            // held for their member event
  std::uint64_t held_invites_released{0};   // the member event came in time: answered
  std::uint64_t held_invites_expired{0};    // rejected (not_member) after the grace
  std::uint64_t held_invites_overflow{0};   // rejected at once or evicted: hold full (per user or total)
  std::uint64_t held_invites_withdrawn{0};  // the caller hung up while held
  std::uint64_t held_followups_dropped{0};  // candidates beyond max_held_followups
  std::uint64_t invalid_offer{0};           // invite SDP that cannot be an offer: rejected, no leg
  std::uint64_t too_many_legs_per_user{0};
};

class GroupCall {
 public:
  GroupCall(CallConfig config, const Clock& clock, Rng& rng);
  ~GroupCall();
  GroupCall(const GroupCall&) = delete;
  GroupCall& operator=(const GroupCall&) = delete;

  // Main entry point: process one input and return what to do.
  Actions handle(const Input& input);
  // When the owner must deliver in::Tick next (also announced with act::ScheduleWakeup).
  std::optional<TimeMs> nextTimeout() const;

  const CallConfig& config() const { return config_; }
  const std::optional<std::string>& callId() const { return active_call_; }
  bool entered() const { return entered_; }
  std::vector<Participant> participants() const;
  std::vector<const PeerCall*> legs() const;
  const PeerCall* legFor(const std::string& user_id, const std::string& device_id) const;
  // The focus we use in the current call (chosen when we enter), if any; and the live leg to it.
  const std::optional<proto::FocusInfo>& focus() const { return focus_; }
  const PeerCall* focusLeg() const;
  const Counters& counters() const { return counters_; }
  std::size_t heldInvites() const { return held_.size(); }
  const SeqReorderer& seqReorderer() const { return seq_; }
  const RoomState& room() const { return room_; }
  // Mesh legs (not the focus leg) that are not ended.
  std::size_t meshLegCount() const;
  // Whether we hold a mesh leg with this participant: always in mesh mode; in focus mode only with devices
  // that use no focus (mixed calls, docs/focus.md).
  bool wantsMeshLeg(const Participant& p) const;
  // Who places the call between us and (user_id, device_id) (msc3401.md §3.6).
  bool wantsOutgoingCall(const std::string& user_id, const std::string& device_id) const;

 private:
  struct Attempts {
    std::string session_id;
    int count{0};
    bool over_cap_counted{false};  // mesh_peers_over_cap counted once per device session
  };
  using DeviceKey = std::pair<std::string, std::string>;  // (user_id, device_id)

  PeerContext context(Actions& out);
  void onStateChanged(const in::StateChanged& in, Actions& out);
  void onToDevice(const in::ToDeviceReceived& in, Actions& out);
  void onTick(Actions& out);
  void onEnter(const in::Enter& in, Actions& out);
  void onLeave(Actions& out);
  void onTerminate(Actions& out);
  void onSetFeeds(const in::SetFeeds& in, Actions& out);
  void onRequestFailed(const in::RequestFailed& in, Actions& out);

  void recompute(Actions& out);
  void updateParticipants(Actions& out);
  void reconcileLegs(Actions& out);
  void placeOutgoingCalls(Actions& out, bool retry);
  void placeCall(const Participant& p, Actions& out);
  void placeFocusCall(Actions& out, bool retry);
  std::optional<proto::FocusInfo> chooseFocus() const;
  void createCall(const in::Enter& in, Actions& out);
  void enterCall(Actions& out);
  void leaveCall(Actions& out, const std::string& reason);
  void writeMember(Actions& out, bool include_self);
  boost::json::object memberContent(bool include_self, TimeMs now) const;

  void dispatch(const std::string& sender, const proto::CallSignal& sig, Actions& out);
  void onInvite(const std::string& sender, const proto::CallSignal& sig, Actions& out);
  bool isParticipantSession(const std::string& user_id, const proto::CallSignal& sig) const;
  void holdInvite(const std::string& sender, const proto::CallSignal& sig, Actions& out);
  bool holdFollowup(const std::string& sender, const proto::CallSignal& sig, Actions& out);
  void releaseHeld(Actions& out);
  void expireHeld(Actions& out);
  void rejectHeld(std::size_t index, const std::string& reason, Actions& out);
  std::size_t legsOfUser(const std::string& user_id) const;
  void sendStandalone(const std::string& user_id, const proto::CallSignal& incoming, proto::SignalType type,
                      const std::string& reason, Actions& out);
  PeerCall* findLeg(LegId id);
  PeerCall* liveLegFor(const std::string& user_id, const std::string& device_id);
  PeerCall* legByCallId(const std::string& call_id);
  void afterLegEvent(PeerCall& leg, Actions& out);
  void pruneEnded();
  void tombstone(const std::string& call_id);
  std::string newCallId();

  CallConfig config_;
  const Clock& clock_;  // Borrowed (outlives this).
  Rng& rng_;            // Borrowed (outlives this).

  RoomState room_;

  std::optional<std::string> active_call_;
  std::optional<std::string> created_call_;  // a call we created
  std::map<DeviceKey, Participant> participants_;
  std::optional<TimeMs> next_expiry_;

  // Our membership.
  bool want_enter_{false};
  bool entered_{false};
  in::Enter enter_request_;
  std::vector<LocalFeed> feeds_;
  std::optional<proto::FocusInfo> focus_;  // focus mode while entered
  std::optional<TimeMs> refresh_at_;
  std::optional<TimeMs> retry_at_;
  std::optional<TimeMs> member_retry_at_;
  std::optional<TimeMs> last_republish_;
  std::map<RequestId, std::string> state_requests_;  // PutState id -> what it was ("member" / "call")

  // Legs. Owned.
  std::map<LegId, std::unique_ptr<PeerCall>> legs_;
  LegId next_leg_{0};
  RequestId next_request_{0};
  std::map<DeviceKey, Attempts> attempts_;
  std::vector<std::string> tombstones_;  // ended call_ids, bounded FIFO

  // Invites from devices that are not (yet) participants, waiting for their member event (no leg, no media).
  struct HeldInvite {
    std::string sender;
    proto::CallSignal invite;
    TimeMs until{0};
    std::vector<proto::CallSignal> followups;  // later messages of that call_id (candidates), in order
  };
  std::vector<HeldInvite> held_;  // bounded: CallConfig::max_held_invites, oldest first

  SeqReorderer seq_;
  Counters counters_;
  std::optional<TimeMs> announced_wakeup_;
};

}  // namespace chorus::core
