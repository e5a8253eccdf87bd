#include "core/peer_call.hpp"

#include <set>

#include "base/log.hpp"
#include "proto/focus_messages.hpp"

namespace chorus::core {

using proto::SignalType;

std::string_view toString(LegState s) {
  switch (s) {
    case LegState::CreatingOffer:
      return "creating_offer";
    case LegState::InviteSent:
      return "invite_sent";
    case LegState::CreatingAnswer:
      return "creating_answer";
    case LegState::Connecting:
      return "connecting";
    case LegState::Connected:
      return "connected";
    case LegState::Ended:
      return "ended";
  }
  return "?";
}

PeerCall::PeerCall(LegId leg, std::string call_id, std::string user_id, std::string device_id,
                   std::string session_id, bool outgoing, bool focus)
    : leg_(leg),
      call_id_(std::move(call_id)),
      user_id_(std::move(user_id)),
      device_id_(std::move(device_id)),
      session_id_(std::move(session_id)),
      outgoing_(outgoing),
      focus_(focus),
      state_(outgoing ? LegState::CreatingOffer : LegState::CreatingAnswer) {}

void PeerCall::start(PeerContext& ctx, bool media_enabled) {
  media_enabled_ = media_enabled;
  act::CreateLeg create{leg_, user_id_, device_id_, session_id_, true, media_enabled};
  if (focus_) {
    create.data_channel = std::string(proto::kFocusDataChannelLabel);  // before the offer, like js-sdk
    create.focus = true;
  }
  ctx.out.push_back(std::move(create));
  ctx.out.push_back(act::CreateOffer{leg_, false});
  making_offer_ = true;
  setState(ctx, LegState::CreatingOffer);
}

void PeerCall::startFromInvite(PeerContext& ctx, const proto::CallSignal& invite, bool media_enabled) {
  media_enabled_ = media_enabled;
  peer_knows_call_ = true;
  remote_party_id_ = invite.party_id;
  ctx.out.push_back(act::CreateLeg{leg_, user_id_, device_id_, session_id_, false, media_enabled});
  setState(ctx, LegState::CreatingAnswer);
  setRemoteMetadata(ctx, invite.metadata);
  ctx.out.push_back(act::SetRemoteDescription{leg_, *invite.description});
  remote_description_set_ = true;
  ctx.out.push_back(act::CreateAnswer{leg_});
}

void PeerCall::setState(PeerContext& ctx, LegState s, const std::string& reason) {
  state_ = s;
  if (s == LegState::Connected) connected_once_ = true;
  ctx.out.push_back(act::LegChanged{leg_, user_id_, device_id_, call_id_, s, reason, focus_});
}

proto::CallSignal PeerCall::base(const PeerContext& ctx, SignalType type) const {
  proto::CallSignal s;
  s.type = type;
  s.call_id = call_id_;
  s.party_id = ctx.config.device_id;  // js-sdk: party_id is the sender's device id
  s.version = "1";
  s.conf_id = ctx.conf_id;
  s.device_id = ctx.config.device_id;
  s.sender_session_id = ctx.config.session_id;
  s.dest_session_id = session_id_;
  return s;
}

void PeerCall::send(PeerContext& ctx, proto::CallSignal sig) {
  sig.seq = tx_seq_++;  // every message of this call_id, from 0, never a gap
  ctx.out.push_back(act::SendToDevice{++ctx.next_request_id, std::string(proto::eventTypeFor(sig.type)),
                                      user_id_, device_id_, proto::serializeCallSignal(sig)});
}

proto::SdpStreamMetadata PeerCall::localMetadata(const PeerContext& ctx) const {
  proto::SdpStreamMetadata md;
  for (const auto& f : ctx.feeds) {
    proto::StreamMetadata m;
    m.purpose = f.purpose;
    m.audio_muted = f.audio_muted || !media_enabled_;
    m.video_muted = f.video_muted || !media_enabled_;
    if (focus_) {
      // MSC3898 / js-sdk-sfu: who the stream belongs to, and its tracks as in our SDP's msid lines.
      m.user_id = ctx.config.user_id;
      m.device_id = ctx.config.device_id;
      for (const auto& t : local_tracks_) {
        if (t.stream_id != f.stream_id || t.track_id.empty() || !t.sends()) continue;
        proto::TrackInfo info;
        info.kind = t.kind;
        if (t.kind == "video") {
          info.width = f.width;
          info.height = f.height;
        }
        m.tracks[t.track_id] = std::move(info);
      }
    }
    md[f.stream_id] = std::move(m);
  }
  return md;
}

void PeerCall::setRemoteMetadata(PeerContext& ctx, const std::optional<proto::SdpStreamMetadata>& md) {
  if (!md || *md == remote_metadata_) return;
  remote_metadata_ = *md;
  ctx.out.push_back(act::RemoteFeedsChanged{leg_, remote_metadata_, focus_});
  updateSubscriptions(ctx);
}

void PeerCall::sendDataChannel(PeerContext& ctx, const proto::FocusMessage& m) {
  std::string text = proto::serializeFocusMessage(m);
  if (dc_open_) {
    ctx.out.push_back(act::SendDataChannel{leg_, std::move(text)});
    return;
  }
  if (dc_outbox_.size() >= ctx.config.max_data_channel_outbox) {
    CHORUS_LOG(Warn, "core", "leg " << leg_ << ": data channel outbox full; dropping the oldest message");
    dc_outbox_.erase(dc_outbox_.begin());
  }
  dc_outbox_.push_back(std::move(text));
}

void PeerCall::updateSubscriptions(PeerContext& ctx) {
  if (!focus_ || !dc_open_ || ended()) return;
  SubscriptionPolicy policy;
  policy.user_id = ctx.config.user_id;
  policy.device_id = ctx.config.device_id;
  for (const auto& f : ctx.feeds) policy.own_stream_ids.insert(f.stream_id);
  policy.max_video_tracks = ctx.config.focus_max_video_tracks;
  policy.width = ctx.config.focus_video_width;
  policy.height = ctx.config.focus_video_height;
  if (auto m = subscriptions_.update(remote_metadata_, policy)) sendDataChannel(ctx, *m);
}

void PeerCall::onDataChannelOpen(PeerContext& ctx) {
  if (ended() || dc_open_) return;
  dc_open_ = true;
  for (auto& text : dc_outbox_) ctx.out.push_back(act::SendDataChannel{leg_, std::move(text)});
  dc_outbox_.clear();
  updateSubscriptions(ctx);
}

void PeerCall::onDataChannelClosed(PeerContext&) {
  // Nothing more can be signalled to the focus; the keepalive (or ICE) ends the leg.
  dc_open_ = false;
}

void PeerCall::onDataChannelMessage(PeerContext& ctx, const std::string& text) {
  if (ended()) return;
  ++dc_received_;
  auto m = proto::parseFocusMessage(text);
  if (!m) {
    ++dc_malformed_;  // js-sdk ignores what it cannot parse, and so do we
    CHORUS_LOG(Debug, "core", "leg " << leg_ << ": dropped data channel message: " << m.error().message);
    return;
  }
  switch (m->type) {
    case proto::FocusMessageType::Ping: {
      ++pings_;
      if (ctx.config.focus_ping_timeout_ms > 0)
        ping_deadline_ = ctx.clock.nowMs() + ctx.config.focus_ping_timeout_ms;
      proto::FocusMessage pong;
      pong.type = proto::FocusMessageType::Pong;
      sendDataChannel(ctx, pong);
      return;
    }
    case proto::FocusMessageType::Negotiate:
      if (!m->description || !remote_description_set_) return;
      setRemoteMetadata(ctx, m->metadata);
      if (m->description->type == "offer") {
        onRemoteOffer(ctx, *m->description);
      } else {
        onRemoteAnswer(ctx, *m->description);
      }
      return;
    case proto::FocusMessageType::SdpStreamMetadataChanged:
      if (m->metadata_delta && m->metadata) {  // only what is new, changed or gone: merged into what we know
        proto::SdpStreamMetadata merged = remote_metadata_;
        for (const auto& id : m->removed_streams) merged.erase(id);
        for (const auto& [id, stream] : *m->metadata) merged.insert_or_assign(id, stream);
        setRemoteMetadata(ctx, merged);
      } else {
        setRemoteMetadata(ctx, m->metadata);
      }
      return;
    case proto::FocusMessageType::AudioSlots:
      // Who the focus puts on our audio slots (docs/focus.md, "Audio slots"): the speaker behind each slot.
      if (m->audio_slots != audio_slot_speakers_) {
        audio_slot_speakers_ = std::move(m->audio_slots);
        CHORUS_LOG(
            Debug, "core", "leg " << leg_ << ": audio slots now carry " << [&] {
              std::string who;
              for (const auto& a : audio_slot_speakers_)
                if (!a.user_id.empty()) who += (who.empty() ? "" : ", ") + a.user_id;
              return who.empty() ? std::string("nobody") : who;
            }());
      }
      return;
    case proto::FocusMessageType::TrackSubscription:
    case proto::FocusMessageType::Pong:
      return;  // a focus does not send these to participants
  }
}

void PeerCall::onLocalDescription(PeerContext& ctx, const proto::SessionDescription& desc) {
  if (ended()) return;
  const TimeMs now = ctx.clock.nowMs();
  if (focus_) local_tracks_ = sdpTracks(desc.sdp);
  if (state_ == LegState::CreatingOffer && desc.type == "offer") {
    auto sig = base(ctx, SignalType::Invite);
    sig.description = desc;
    sig.lifetime = ctx.config.invite_lifetime_ms;
    sig.invitee = user_id_;
    sig.metadata = localMetadata(ctx);
    sig.capabilities = proto::Capabilities{};
    send(ctx, std::move(sig));
    peer_knows_call_ = true;
    making_offer_ = false;
    can_send_candidates_ = true;
    invite_deadline_ = now + ctx.config.invite_lifetime_ms;
    if (!pending_local_candidates_.empty()) candidate_flush_at_ = now + ctx.config.caller_candidate_batch_ms;
    setState(ctx, LegState::InviteSent);
    return;
  }
  if (state_ == LegState::CreatingAnswer && desc.type == "answer") {
    auto sig = base(ctx, SignalType::Answer);
    sig.description = desc;
    sig.metadata = localMetadata(ctx);
    sig.capabilities = proto::Capabilities{};
    send(ctx, std::move(sig));
    can_send_candidates_ = true;
    if (!pending_local_candidates_.empty()) candidate_flush_at_ = now + ctx.config.callee_candidate_batch_ms;
    setState(ctx, LegState::Connecting);
    return;
  }
  if ((state_ == LegState::Connecting || state_ == LegState::Connected) && focus_) {
    // Renegotiation with a focus goes over the data channel (MSC3898).
    proto::FocusMessage m;
    m.type = proto::FocusMessageType::Negotiate;
    m.description = desc;
    m.metadata = localMetadata(ctx);
    if (desc.type == "offer") making_offer_ = true;
    sendDataChannel(ctx, m);
    return;
  }
  if (state_ == LegState::Connecting || state_ == LegState::Connected) {
    // Renegotiation: our offer, or our answer to their negotiate offer.
    auto sig = base(ctx, SignalType::Negotiate);
    sig.description = desc;
    sig.metadata = localMetadata(ctx);
    if (desc.type == "offer") {
      sig.lifetime = ctx.config.invite_lifetime_ms;
      making_offer_ = true;
    }
    sig.capabilities = proto::Capabilities{};
    send(ctx, std::move(sig));
    return;
  }
  CHORUS_LOG(Warn, "core",
             "leg " << leg_ << ": unexpected local " << desc.type << " in state " << toString(state_));
}

void PeerCall::onLocalCandidate(PeerContext& ctx, const proto::Candidate& c) {
  if (ended()) return;
  pending_local_candidates_.push_back(c);
  if (can_send_candidates_ && !candidate_flush_at_) {
    candidate_flush_at_ = ctx.clock.nowMs() + (outgoing_ ? ctx.config.caller_candidate_batch_ms
                                                         : ctx.config.callee_candidate_batch_ms);
  }
}

void PeerCall::onGatheringComplete(PeerContext& ctx) {
  if (ended()) return;
  proto::Candidate eoc;  // end-of-candidates: an empty candidate string
  eoc.candidate = "";
  pending_local_candidates_.push_back(eoc);
  if (can_send_candidates_) flushCandidates(ctx);
}

void PeerCall::flushCandidates(PeerContext& ctx) {
  candidate_flush_at_.reset();
  if (pending_local_candidates_.empty() || ended()) return;
  auto sig = base(ctx, SignalType::Candidates);
  sig.candidates = std::move(pending_local_candidates_);
  pending_local_candidates_.clear();
  send(ctx, std::move(sig));
}

void PeerCall::applyRemoteCandidates(PeerContext& ctx, const std::vector<proto::Candidate>& cands) {
  if (cands.empty()) return;
  if (!remote_description_set_) {
    // Bounded: a peer cannot make us hold more than this many before its description.
    constexpr std::size_t kMaxPendingRemote = 512;
    for (const auto& c : cands) {
      if (pending_remote_candidates_.size() < kMaxPendingRemote) pending_remote_candidates_.push_back(c);
    }
    return;
  }
  ctx.out.push_back(act::AddRemoteCandidates{leg_, cands});
}

void PeerCall::onSignal(PeerContext& ctx, const proto::CallSignal& sig) {
  if (ended()) return;
  switch (sig.type) {
    case SignalType::Invite:
      // A second invite on the same call_id is a duplicate; ignore.
      return;
    case SignalType::Answer: {
      if (!outgoing_ || state_ != LegState::InviteSent || !sig.description) return;
      remote_party_id_ = sig.party_id;
      setRemoteMetadata(ctx, sig.metadata);
      ctx.out.push_back(act::SetRemoteDescription{leg_, *sig.description});
      remote_description_set_ = true;
      invite_deadline_.reset();
      auto sel = base(ctx, SignalType::SelectAnswer);
      sel.selected_party_id = sig.party_id;
      send(ctx, std::move(sel));
      if (!pending_remote_candidates_.empty()) {
        ctx.out.push_back(act::AddRemoteCandidates{leg_, std::move(pending_remote_candidates_)});
        pending_remote_candidates_.clear();
      }
      setState(ctx, LegState::Connecting);
      return;
    }
    case SignalType::Candidates:
      applyRemoteCandidates(ctx, sig.candidates);
      return;
    case SignalType::SelectAnswer:
      if (outgoing_) return;
      if (sig.selected_party_id != ctx.config.device_id) end(ctx, "answered_elsewhere");
      return;
    case SignalType::Reject:
      end(ctx, "rejected");
      return;
    case SignalType::Hangup:
      end(ctx, sig.reason.value_or("user_hangup"));
      return;
    case SignalType::SdpStreamMetadataChanged:
      setRemoteMetadata(ctx, sig.metadata);
      return;
    case SignalType::Negotiate: {
      if (!sig.description || !remote_description_set_) return;
      setRemoteMetadata(ctx, sig.metadata);
      if (sig.description->type == "offer") {
        onRemoteOffer(ctx, *sig.description);
      } else if (sig.description->type == "answer") {
        onRemoteAnswer(ctx, *sig.description);
      }
      return;
    }
  }
}

void PeerCall::onRemoteOffer(PeerContext& ctx, const proto::SessionDescription& offer) {
  const bool collision = making_offer_;
  if (collision && !polite()) return;  // impolite side ignores the colliding offer
  making_offer_ = false;               // polite side drops its own offer (rollback) and answers
  if (collision && focus_) negotiation_pending_ = true;  // and offers again once this exchange is done
  ctx.out.push_back(act::SetRemoteDescription{leg_, offer});
  ctx.out.push_back(act::CreateAnswer{leg_});
}

void PeerCall::onRemoteAnswer(PeerContext& ctx, const proto::SessionDescription& answer) {
  if (!making_offer_) return;
  making_offer_ = false;
  ctx.out.push_back(act::SetRemoteDescription{leg_, answer});
  if (negotiation_pending_ || ice_restart_pending_) {
    const bool restart = ice_restart_pending_;
    negotiation_pending_ = ice_restart_pending_ = false;
    making_offer_ = true;
    ctx.out.push_back(act::CreateOffer{leg_, restart});
  }
}

void PeerCall::onMediaState(PeerContext& ctx, MediaState ms) {
  if (ended()) return;
  const TimeMs now = ctx.clock.nowMs();
  switch (ms) {
    case MediaState::Connected:
      ice_restart_at_.reset();
      ice_fail_at_.reset();
      ice_restart_sent_ = false;
      if (state_ != LegState::Connected) setState(ctx, LegState::Connected);
      updateSubscriptions(ctx);  // focus legs: (re)send when the leg connects
      return;
    case MediaState::Disconnected:
      if (!ice_fail_at_) {
        ice_fail_at_ = now + ctx.config.ice_disconnected_timeout_ms;
        if (outgoing_ && !ice_restart_sent_) ice_restart_at_ = now + ctx.config.ice_restart_after_ms;
      }
      return;
    case MediaState::Failed:
      hangup(ctx, "ice_failed");
      return;
    case MediaState::Closed:
      end(ctx, "closed");
      return;
    case MediaState::Connecting:
      return;
  }
}

void PeerCall::onNegotiationNeeded(PeerContext& ctx) {
  if (ended()) return;
  if (state_ != LegState::Connecting && state_ != LegState::Connected)
    return;  // the invite/answer carries it
  if (making_offer_) {
    negotiation_pending_ = true;
    return;
  }
  making_offer_ = true;
  ctx.out.push_back(act::CreateOffer{leg_, false});
}

void PeerCall::onMediaFailed(PeerContext& ctx, const std::string& message) {
  CHORUS_LOG(Warn, "core", "leg " << leg_ << " media failure: " << message);
  // Failing to produce the first offer/answer ends the leg; a failed renegotiation is not fatal.
  if (state_ == LegState::CreatingOffer) {
    hangup(ctx, "create_offer");
  } else if (state_ == LegState::CreatingAnswer) {
    hangup(ctx, "create_answer");
  } else if (!making_offer_ &&
             (message.starts_with("createAnswer") || message.starts_with("setRemoteDescription"))) {
    // The peer's re-offer could not be applied or answered (e.g. webrtcbin 1.22 refusing a recycled
    // section): the peer waits for an answer that never comes and the two sides no longer agree on the
    // session. End the leg; who-calls-whom (or the focus logic) places a fresh one.
    hangup(ctx, "renegotiation_failed");
  } else {
    making_offer_ = false;
  }
}

std::optional<TimeMs> PeerCall::nextTimeout() const {
  if (ended()) return std::nullopt;
  std::optional<TimeMs> t;
  auto consider = [&t](std::optional<TimeMs> v) {
    if (v && (!t || *v < *t)) t = v;
  };
  consider(candidate_flush_at_);
  consider(invite_deadline_);
  consider(ice_restart_at_);
  consider(ice_fail_at_);
  consider(ping_deadline_);
  return t;
}

void PeerCall::onTimeout(PeerContext& ctx) {
  if (ended()) return;
  const TimeMs now = ctx.clock.nowMs();
  if (candidate_flush_at_ && *candidate_flush_at_ <= now) flushCandidates(ctx);
  if (invite_deadline_ && *invite_deadline_ <= now && state_ == LegState::InviteSent) {
    hangup(ctx, "invite_timeout");
    return;
  }
  if (ice_fail_at_ && *ice_fail_at_ <= now) {
    hangup(ctx, "ice_failed");
    return;
  }
  if (ping_deadline_ && *ping_deadline_ <= now) {
    hangup(ctx, "keep_alive_timeout");  // the focus stopped pinging (MSC3898)
    return;
  }
  if (ice_restart_at_ && *ice_restart_at_ <= now) {
    ice_restart_at_.reset();
    if (ctx.config.ice_restart_by_new_call) {
      hangup(ctx, "ice_failed");  // the group call places a new call to this device right away
      return;
    }
    if (!ice_restart_sent_) {
      ice_restart_sent_ = true;
      if (making_offer_) {
        ice_restart_pending_ = true;
      } else {
        making_offer_ = true;
        ctx.out.push_back(act::CreateOffer{leg_, true});
      }
    }
  }
}

void PeerCall::hangup(PeerContext& ctx, const std::string& reason) {
  if (ended()) return;
  if (peer_knows_call_) {
    auto sig = base(ctx, SignalType::Hangup);
    sig.reason = reason;
    send(ctx, std::move(sig));
  }
  end(ctx, reason);
}

void PeerCall::end(PeerContext& ctx, const std::string& reason) {
  if (ended()) return;
  end_reason_ = reason;
  candidate_flush_at_.reset();
  invite_deadline_.reset();
  ice_restart_at_.reset();
  ice_fail_at_.reset();
  ping_deadline_.reset();
  pending_local_candidates_.clear();
  pending_remote_candidates_.clear();
  dc_outbox_.clear();
  dc_open_ = false;
  ctx.out.push_back(act::CloseLeg{leg_});
  setState(ctx, LegState::Ended, reason);
}

void PeerCall::setMediaEnabled(PeerContext& ctx, bool enabled) {
  if (ended() || media_enabled_ == enabled) return;
  media_enabled_ = enabled;
  ctx.out.push_back(act::SetLegMediaEnabled{leg_, enabled});
  if (state_ == LegState::Connecting || state_ == LegState::Connected) sendMetadataChanged(ctx);
}

void PeerCall::sendMetadataChanged(PeerContext& ctx) {
  if (ended() || !peer_knows_call_) return;
  if (state_ == LegState::CreatingOffer || state_ == LegState::CreatingAnswer)
    return;  // carried by invite/answer
  if (focus_) {
    proto::FocusMessage m;
    m.type = proto::FocusMessageType::SdpStreamMetadataChanged;
    m.metadata = localMetadata(ctx);
    sendDataChannel(ctx, m);
    return;
  }
  auto sig = base(ctx, SignalType::SdpStreamMetadataChanged);
  sig.metadata = localMetadata(ctx);
  send(ctx, std::move(sig));
}

}  // namespace chorus::core
