#pragma once
// One 1:1 leg of a group call (MSC2746 over to-device, with the MSC3401 group fields). A focus leg (MSC3898)
// is the same call to a focus device (dest_session_id "sfu") with a data channel; after the invite/answer
// its renegotiation, stream metadata, keepalive and track subscriptions go over that channel.
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/focus_subscriptions.hpp"
#include "core/sdp_tracks.hpp"
#include "core/types.hpp"

namespace chorus::core {

// What a leg needs from its group call.
struct PeerContext {
  const CallConfig& config;
  const Clock& clock;
  std::string conf_id;
  Actions& out;
  RequestId& next_request_id;
  std::vector<LocalFeed> feeds;  // current local feeds (for sdp_stream_metadata)
};

class PeerCall {
 public:
  PeerCall(LegId leg, std::string call_id, std::string user_id, std::string device_id, std::string session_id,
           bool outgoing, bool focus = false);

  // Outgoing: create the leg and ask for an offer.
  void start(PeerContext& ctx, bool media_enabled);
  // Incoming: create the leg from an invite and ask for an answer.
  void startFromInvite(PeerContext& ctx, const proto::CallSignal& invite, bool media_enabled);

  void onSignal(PeerContext& ctx, const proto::CallSignal& sig);
  void onLocalDescription(PeerContext& ctx, const proto::SessionDescription& desc);
  void onLocalCandidate(PeerContext& ctx, const proto::Candidate& c);
  void onGatheringComplete(PeerContext& ctx);
  void onMediaState(PeerContext& ctx, MediaState state);
  void onNegotiationNeeded(PeerContext& ctx);
  void onMediaFailed(PeerContext& ctx, const std::string& message);
  void onTimeout(PeerContext& ctx);
  std::optional<TimeMs> nextTimeout() const;

  // Sends m.call.hangup (when the peer knows of the call) and closes the leg.
  void hangup(PeerContext& ctx, const std::string& reason);
  // Closes without telling the peer (they ended it, or it was answered elsewhere).
  void end(PeerContext& ctx, const std::string& reason);
  void setMediaEnabled(PeerContext& ctx, bool enabled);
  void sendMetadataChanged(PeerContext& ctx);

  // Focus legs: the data channel.
  void onDataChannelOpen(PeerContext& ctx);
  void onDataChannelMessage(PeerContext& ctx, const std::string& text);
  void onDataChannelClosed(PeerContext& ctx);

  LegId leg() const { return leg_; }
  const std::string& callId() const { return call_id_; }
  const std::string& userId() const { return user_id_; }
  const std::string& deviceId() const { return device_id_; }
  const std::string& sessionId() const { return session_id_; }
  bool outgoing() const { return outgoing_; }
  // The callee is polite (spec). Toward a focus we are always polite: the focus decides.
  bool polite() const { return focus_ || !outgoing_; }
  bool focus() const { return focus_; }
  bool dataChannelOpen() const { return dc_open_; }
  const FocusSubscriptions& subscriptions() const { return subscriptions_; }
  // Data-channel messages: received, unparsable (dropped), pings answered.
  std::uint64_t dcReceived() const { return dc_received_; }
  std::uint64_t dcMalformed() const { return dc_malformed_; }
  std::uint64_t pingsAnswered() const { return pings_; }
  LegState state() const { return state_; }
  bool ended() const { return state_ == LegState::Ended; }
  bool connectedOnce() const { return connected_once_; }
  bool confirmed() const { return confirmed_; }
  void setConfirmed(bool c) { confirmed_ = c; }
  bool mediaEnabled() const { return media_enabled_; }
  const std::string& endReason() const { return end_reason_; }
  const proto::SdpStreamMetadata& remoteMetadata() const { return remote_metadata_; }
  // With a focus that forwards our audio on slots: who is on each (the focus's org.chorus.audio_slots).
  const std::vector<proto::AudioSlotSpeaker>& audioSlotSpeakers() const { return audio_slot_speakers_; }

 private:
  void setState(PeerContext& ctx, LegState s, const std::string& reason = {});
  proto::CallSignal base(const PeerContext& ctx, proto::SignalType type) const;
  void send(PeerContext& ctx, proto::CallSignal sig);
  void flushCandidates(PeerContext& ctx);
  void applyRemoteCandidates(PeerContext& ctx, const std::vector<proto::Candidate>& cands);
  void setRemoteMetadata(PeerContext& ctx, const std::optional<proto::SdpStreamMetadata>& md);
  proto::SdpStreamMetadata localMetadata(const PeerContext& ctx) const;
  void sendDataChannel(PeerContext& ctx, const proto::FocusMessage& m);
  void updateSubscriptions(PeerContext& ctx);
  void onRemoteOffer(PeerContext& ctx, const proto::SessionDescription& offer);
  void onRemoteAnswer(PeerContext& ctx, const proto::SessionDescription& answer);

  LegId leg_;
  std::string call_id_;
  std::string user_id_;
  std::string device_id_;
  std::string session_id_;
  bool outgoing_;
  bool focus_;
  LegState state_{LegState::CreatingOffer};
  std::string end_reason_;
  std::string remote_party_id_;
  std::uint64_t tx_seq_{0};
  bool confirmed_{false};  // the device is (or was) a participant in member state
  bool media_enabled_{true};
  bool connected_once_{false};
  bool peer_knows_call_{false};  // we sent the invite, or received it

  // Local candidates waiting to be sent (batched).
  std::vector<proto::Candidate> pending_local_candidates_;
  std::optional<TimeMs> candidate_flush_at_;
  bool can_send_candidates_{false};  // after our invite/answer went out
  // Remote candidates received before the remote description was applied.
  std::vector<proto::Candidate> pending_remote_candidates_;
  bool remote_description_set_{false};

  // Renegotiation (perfect negotiation).
  bool making_offer_{false};
  bool negotiation_pending_{false};
  bool ice_restart_pending_{false};
  proto::SdpStreamMetadata remote_metadata_;
  std::vector<proto::AudioSlotSpeaker> audio_slot_speakers_;

  std::optional<TimeMs> invite_deadline_;
  std::optional<TimeMs> ice_restart_at_;  // disconnected: when the caller restarts ICE
  std::optional<TimeMs> ice_fail_at_;     // disconnected: when we give up
  bool ice_restart_sent_{false};

  // Focus legs.
  bool dc_open_{false};
  std::vector<std::string> dc_outbox_;  // until the data channel opens (bounded)
  std::vector<SdpTrack> local_tracks_;  // from our last local description
  FocusSubscriptions subscriptions_;
  std::optional<TimeMs> ping_deadline_;  // keepalive: the next m.call.ping is due before this
  std::uint64_t dc_received_{0};
  std::uint64_t dc_malformed_{0};
  std::uint64_t pings_{0};
};

}  // namespace chorus::core
