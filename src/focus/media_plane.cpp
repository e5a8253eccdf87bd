#include "focus/media_plane.hpp"

#include <algorithm>
#include <utility>

#include "base/log.hpp"
#include "base/overloaded.hpp"
#include "proto/focus_messages.hpp"

namespace chorus::focus {
namespace {

constexpr const char* kMediaPlaneTag = "focus";
constexpr std::size_t kMaxRemoteCandidates = 16;
constexpr std::size_t kMaxCandidateLength = 200;

// The same sections (codecs are not compared: a track's codec goes with its SSRC).
bool sameTracks(const std::vector<OfferTrack>& a, const std::vector<OfferTrack>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].ssrc != b[i].ssrc || a[i].kind != b[i].kind || a[i].track_id != b[i].track_id ||
        a[i].stream_id != b[i].stream_id) {
      return false;
    }
  }
  return true;
}

}  // namespace

MediaPlane::MediaPlane(MediaPlaneHost& host, const Clock& clock, ControllerConfig controller,
                       RouterConfig router)
    : host_(host), clock_(clock), config_(std::move(controller)), router_(*this, [&] {
        router.require_live_out_tracks = true;  // see Router::setLiveOutTracks
        return std::move(router);
      }()) {}

MediaPlane::~MediaPlane() = default;

void MediaPlane::loggedIn(const std::string& user_id, const std::string& device_id) {
  ControllerConfig c = config_;
  c.user_id = user_id;
  c.device_id = device_id;
  controller_ = std::make_unique<Controller>(std::move(c), clock_);
  auto early = std::move(early_);
  early_.clear();
  for (auto& i : early) feed(std::move(i));
}

void MediaPlane::feed(Input input) {
  if (!controller_) {
    if (early_.size() < kMaxEarlyInputs) early_.push_back(std::move(input));
    return;
  }
  execute(controller_->handle(input));
}

void MediaPlane::tick(TimeMs now) {
  if (stopping_) return;
  const NowScope scope(*this, now);
  router_.tick(now);
  if (controller_) {
    tellAudioSlotSpeakers();
    if (auto t = controller_->nextTimeout(); t && *t <= now) feed(in::Tick{});
    if (now >= next_paused_check_) {
      next_paused_check_ = now + kPausedCheckMs;
      tellPausedVideo();
    }
  }
  for (auto& [id, s] : slots_) {
    if (!s.connected && !s.reported && now - s.created_ms >= kNotConnectedReportMs) report(s);
  }
}

void MediaPlane::tellPausedVideo() {
  for (const auto& [id, s] : slots_) {
    const Participant* p = controller_->participant(id);
    if (!p) continue;
    auto paused = router_.pausedVideo(id);
    if (paused == p->paused_video) continue;  // the Controller keeps what the participant was told
    CHORUS_LOG(Info, kMediaPlaneTag,
               s.who << ": video of " << paused.size() << " stream(s) paused for its downlink");
    feed(in::DownlinkPaused{id, std::move(paused)});
  }
}

// Who is on each audio slot, for the participants whose slots changed (the Controller tells them).
void MediaPlane::tellAudioSlotSpeakers() {
  for (ParticipantId id : router_.takeAudioSlotChanges()) {
    in::AudioSlotSpeakers speakers{id, {}};
    for (auto& s : router_.audioSlots(id))
      speakers.slots.push_back(
          {std::move(s.stream_id), s.publisher, std::move(s.track_stream_id), std::move(s.track_id)});
    feed(std::move(speakers));
  }
}

void MediaPlane::shutdown() {
  stopping_ = true;
  if (controller_) execute(controller_->handle(in::Shutdown{}));
}

void MediaPlane::closeAll() {
  slots_.clear();
}

// ---- from the transports ----

void MediaPlane::onConnected(ParticipantId peer) {
  Slot* s = slot(peer);
  if (!s) return;
  s->connected = true;
  if (s->reported) CHORUS_LOG(Info, kMediaPlaneTag, s->who << " connected after all");
  feed(in::PeerConnected{peer});
}

void MediaPlane::onFailed(ParticipantId peer, std::string_view reason) {
  if (!slot(peer)) return;
  host_.post([this, peer, r = std::string(reason)] { feed(in::PeerFailed{peer, r}); });
}

void MediaPlane::onDataChannelOpen(ParticipantId peer, std::uint16_t stream_id) {
  Slot* s = slot(peer);
  if (!s || s->dc_stream) return;
  s->dc_stream = stream_id;
  auto queued = std::move(s->dc_queue);
  s->dc_queue.clear();
  for (auto& text : queued) s->link->sendText(stream_id, text);
  host_.post([this, peer] { renegotiate(peer); });
}

void MediaPlane::onDataChannelMessage(ParticipantId peer, std::string_view text, bool binary) {
  if (binary || !slot(peer)) return;
  CHORUS_LOG(Debug, kMediaPlaneTag, "dc <- peer " << peer << ": " << text.substr(0, 300));
  // Not re-entrantly: the controller may close this peer.
  host_.post([this, peer, t = std::string(text)] { feed(in::DataChannelMessage{peer, t}); });
}

void MediaPlane::onRtp(ParticipantId peer, const InboundRtp& info, const media::RtpPacketView& rtp,
                       TimeMs now) {
  if (!slots_.count(peer)) return;
  const NowScope scope(*this, now);
  router_.onRtp(peer, info, rtp, now);
}

void MediaPlane::onRtcp(ParticipantId peer, media::MutableByteSpan packet, TimeMs now) {
  if (!slots_.count(peer)) return;
  const NowScope scope(*this, now);
  router_.onRtcp(peer, packet, now);
}

void MediaPlane::onDead(ParticipantId peer) {
  if (!slot(peer)) return;
  host_.post([this, peer] { feed(in::PeerFailed{peer, "ice consent lost"}); });
}

// ---- RouterSink ----

void MediaPlane::sendRtp(ParticipantId to, std::span<std::uint8_t> buffer, std::size_t length) {
  Slot* s = slot(to);
  if (!s) return;
  s->link->sendRtp(buffer, length, sendNow());
}

void MediaPlane::sendRtcp(ParticipantId to, std::span<std::uint8_t> buffer, std::size_t length) {
  Slot* s = slot(to);
  if (!s) return;
  s->link->sendRtcp(buffer, length, sendNow());
}

// ---- the controller's actions ----

MediaPlane::Slot* MediaPlane::slot(ParticipantId id) {
  auto it = slots_.find(id);
  return it == slots_.end() ? nullptr : &it->second;
}

void MediaPlane::execute(Actions actions) {
  for (auto& a : actions) {
    std::visit(Overloaded{
                   [&](act::JoinRoom& j) { host_.joinRoom(j.room_id); },
                   [&](proto::SendToDevice& s) { host_.sendToDevice(std::move(s)); },
                   [&](act::CreatePeer& c) { createPeer(c); },
                   [&](act::AddRemoteCandidate& c) { addRemoteCandidate(c); },
                   [&](act::ClosePeer& c) { closePeer(c.peer); },
                   [&](act::SendDataChannel& d) { sendDc(d.peer, d.text); },
                   [&](act::UpdateSubscriptions& u) { updateSubscriptions(u); },
                   [&](act::ApplyDescription& d) { applyDescription(d.peer, d.description); },
                   [&](act::Warning& w) {
                     if (w.warn) {
                       CHORUS_LOG(Warn, kMediaPlaneTag, w.message);
                     } else {
                       CHORUS_LOG(Info, kMediaPlaneTag, w.message);
                     }
                   },
               },
               a);
  }
  syncPublished();
  for (auto& [id, s] : slots_) {
    (void)s;
    renegotiate(id);
  }
}

void MediaPlane::createPeer(const act::CreatePeer& c) {
  if (slots_.count(c.peer)) return;  // peer ids are not reused
  auto link = host_.createLink(c.peer);
  if (!link) return;
  auto answer = link->acceptOffer(c.offer_sdp);
  if (!answer) {
    CHORUS_LOG(Warn, kMediaPlaneTag,
               "offer of " << c.user_id << "/" << c.device_id << " refused: " << answer.error().message);
    host_.retireLink(std::move(link));  // never joined the port; the host forgets it
    host_.post([this, id = c.peer, m = answer.error().message] { feed(in::PeerFailed{id, m}); });
    return;
  }
  Slot s;
  s.id = c.peer;
  s.who = c.user_id + "/" + c.device_id;
  s.created_ms = clock_.nowMs();
  s.link = std::move(link);
  router_.setSubscriberPayloadType(c.peer, "audio", s.link->sendPayloadType("audio"));
  router_.setSubscriberPayloadType(c.peer, "video", s.link->sendPayloadType("video"));
  if (const auto h264 = s.link->sendPayloadType("H264"); h264 != 0)
    router_.setSubscriberPayloadType(c.peer, "H264", h264);
  router_.setSubscriberTransportCc(c.peer, s.link->downlinkTransportCcId());
  syncRtx(c.peer, *s.link);
  slots_.insert_or_assign(c.peer, std::move(s));
  CHORUS_LOG(Info, kMediaPlaneTag, "serving " << c.user_id << "/" << c.device_id << " in " << c.conf_id);
  host_.post([this, id = c.peer, sdp = std::move(*answer)] { feed(in::PeerAnswerReady{id, sdp}); });
}

void MediaPlane::addRemoteCandidate(const act::AddRemoteCandidate& c) {
  // ICE-lite: the participant's connectivity checks tell us its addresses; the signalled ones are kept for
  // the not-connected report only.
  Slot* s = slot(c.peer);
  if (s && s->remote_candidates.size() < kMaxRemoteCandidates && !c.candidate.candidate.empty())
    s->remote_candidates.push_back(c.candidate.candidate.substr(0, kMaxCandidateLength));
}

void MediaPlane::closePeer(ParticipantId id) {
  auto it = slots_.find(id);
  if (it == slots_.end()) return;
  // Removed before it ever connected: say why as for a stuck one.
  if (!it->second.connected && !it->second.reported) report(it->second);
  router_.removePeer(id);
  auto link = std::move(it->second.link);
  slots_.erase(it);
  host_.retireLink(std::move(link));
}

void MediaPlane::report(Slot& s) {
  s.reported = true;
  host_.reportNotConnected(s.id, NotConnected{s.who, clock_.nowMs() - s.created_ms, s.remote_candidates});
}

void MediaPlane::sendDc(ParticipantId id, const std::string& text) {
  Slot* s = slot(id);
  if (!s) return;
  CHORUS_LOG(Debug, kMediaPlaneTag, "dc -> peer " << id << ": " << text.substr(0, 300));
  if (s->dc_stream) {
    s->link->sendText(*s->dc_stream, text);
  } else if (s->dc_queue.size() < kMaxQueuedDataChannel) {
    s->dc_queue.push_back(text);
  }
}

// The stream id `sub` sees for a publisher's SDP stream id ("" / "-": no stream, written as "-").
std::string MediaPlane::publicStream(ParticipantId sub, ParticipantId publisher,
                                     const std::string& stream_id) const {
  if (stream_id.empty() || stream_id == "-") return {};
  const std::string* pub = controller_->trackIds().publicId(sub, IdKind::Stream, publisher, stream_id);
  return pub ? *pub : std::string();
}

// The publisher and its own track id of what `sub` subscribes to as `stream_id`/`track_id` (the ids it was
// told, which differ from the publisher's where they collided).
std::optional<TrackIds::Origin> MediaPlane::publisherOf(ParticipantId sub, const std::string& stream_id,
                                                        const std::string& track_id) const {
  auto origin = controller_->trackIds().resolve(sub, IdKind::Track, track_id);
  if (!origin) return std::nullopt;
  auto s = slots_.find(origin->publisher);
  if (s == slots_.end()) return std::nullopt;
  for (const auto& t : s->second.published) {
    if (t.track_id == origin->original &&
        (stream_id.empty() || publicStream(sub, origin->publisher, t.stream_id) == stream_id))
      return origin;
  }
  return std::nullopt;
}

void MediaPlane::updateSubscriptions(const act::UpdateSubscriptions& u) {
  if (!slots_.count(u.peer)) return;
  const TimeMs now = clock_.nowMs();
  for (const auto& t : u.unsubscribe) {
    if (auto pub = publisherOf(u.peer, t.stream_id, t.track_id))
      router_.unsubscribe(u.peer, pub->publisher, pub->original);
  }
  for (const auto& t : u.subscribe) {
    auto pub = publisherOf(u.peer, t.stream_id, t.track_id);
    if (!pub) {
      CHORUS_LOG(Debug, kMediaPlaneTag, "subscription to unknown track " << t.stream_id << "/" << t.track_id);
      continue;
    }
    auto r = router_.subscribe(u.peer, pub->publisher, pub->original, static_cast<int>(t.width.value_or(0)),
                               static_cast<int>(t.height.value_or(0)), now);
    if (!r) {
      Slot& sl = slots_.at(u.peer);
      if (!sl.subscription_refusal_told) {
        CHORUS_LOG(Warn, kMediaPlaneTag,
                   "subscription of " << sl.who << " refused: " << r.error().message
                                      << " (said once; see max_subscriptions_per_subscriber)");
        sl.subscription_refusal_told = true;
      } else {
        CHORUS_LOG(Debug, kMediaPlaneTag, "subscription of " << sl.who << " refused: " << r.error().message);
      }
    }
  }
  // Past RouterConfig::audio_slots audio subscriptions it receives audio on slots: they are described to it.
  std::vector<std::string> slots;
  for (const auto& s : router_.audioSlots(u.peer)) slots.push_back(s.stream_id);
  const Participant* p = controller_->participant(u.peer);
  if (p != nullptr && p->audio_slots != slots) {
    if (p->audio_slots.empty())
      CHORUS_LOG(Info, kMediaPlaneTag,
                 slots_.at(u.peer).who << " receives audio on " << slots.size() << " slots");
    controller_->setAudioSlots(u.peer, std::move(slots));
  }
}

// Keeps the router's view of each publisher's tracks in step with its SDP (mids, msids, rids) and its
// metadata (sizes, mute).
void MediaPlane::syncPublished() {
  for (auto& [id, s] : slots_) {
    const Participant* p = controller_->participant(id);
    if (!p) continue;
    std::vector<PublishedTrackInfo> tracks = s.link->publishedTracks();
    for (auto& info : tracks) {
      if (auto st = p->published.find(info.stream_id); st != p->published.end()) {
        info.muted = info.kind == "audio" ? st->second.audio_muted : st->second.video_muted;
        if (auto tr = st->second.tracks.find(info.track_id); tr != st->second.tracks.end()) {
          info.width = static_cast<int>(tr->second.width.value_or(0));
          info.height = static_cast<int>(tr->second.height.value_or(0));
        }
      }
    }
    if (tracks == s.published) continue;
    std::vector<std::string> stream_ids, track_ids;
    for (const auto& t : tracks) {
      if (!t.stream_id.empty() && t.stream_id != "-") stream_ids.push_back(t.stream_id);
      if (!t.track_id.empty()) track_ids.push_back(t.track_id);
    }
    // It now publishes an id it saw someone else under: it is told the new ids (coalesced, at the next tick).
    if (controller_->setTransportIds(id, stream_ids, track_ids)) controller_->metadataChanged(id);
    s.published = tracks;
    router_.setPublishedTracks(id, std::move(tracks));
  }
}

// Retransmissions to the subscriber go on RTX SSRCs only once its description accepted RTX.
void MediaPlane::syncRtx(ParticipantId id, const PeerLink& link) {
  router_.setSubscriberRtxPayloadType(id, "video", link.sendRtxPayloadType("video"));
  router_.setSubscriberRtxPayloadType(id, "H264", link.sendRtxPayloadType("H264"));
}

std::vector<OfferTrack> MediaPlane::wanted(ParticipantId id) const {
  std::vector<OfferTrack> v;
  const auto s = slots_.find(id);
  const bool h264 = s != slots_.end() && s->second.link->sendPayloadType("H264") != 0;
  for (const auto& t : router_.outTracks(id)) {
    if (t.audio_slot) {  // the focus's own ids (kAudioSlotIdPrefix)
      v.push_back(OfferTrack{t.kind, t.ssrc, t.stream_id, t.track_id, false, 0});
      continue;
    }
    // Under the ids this subscriber was told (TrackIds); a track it has no id for is not offered.
    const std::string* track_id =
        controller_->trackIds().publicId(id, IdKind::Track, t.publisher, t.track_id);
    if (track_id == nullptr) continue;
    // An H.264 publisher is forwarded in the subscriber's own H.264 entry (the router only lets subscribers
    // that offered H.264 subscribe to it); everything else uses the defaults (Opus / VP8).
    v.push_back(OfferTrack{t.kind, t.ssrc, publicStream(id, t.publisher, t.stream_id), *track_id,
                           t.codec == "H264" && h264, t.rtx_ssrc});
  }
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.ssrc < b.ssrc; });
  return v;
}

// Sends the participant an offer over the data channel when what it should receive changed.
void MediaPlane::renegotiate(ParticipantId id) {
  if (stopping_ || !controller_) return;
  Slot* s = slot(id);
  if (!s || !s->dc_stream || s->offer_pending) return;
  const Participant* p = controller_->participant(id);
  if (!p || !p->connected) return;
  auto want = wanted(id);
  if (sameTracks(want, s->agreed)) return;
  // Refused before: only a change of what it should receive (someone left, it unsubscribed) may make it fit.
  if (s->refused && sameTracks(want, *s->refused)) return;
  auto offer = s->link->createOffer(want);
  std::string text;
  std::optional<proto::SdpStreamMetadata> told;
  if (offer) {
    proto::FocusMessage m;
    m.type = proto::FocusMessageType::Negotiate;
    m.description = proto::SessionDescription{"offer", *offer};
    m.metadata = controller_->availableTo(*p);  // the new tracks' streams are described with them
    text = proto::serializeFocusMessage(m);
    told = std::move(m.metadata);
    // A data-channel message is at most 256 KiB (ours and Chromium's max-message-size); at ~1 KB per
    // forwarded audio section, ~230 tracks. Over it, the offer is refused like one with too many m-lines.
    if (text.size() > proto::kMaxFocusMessageBytes) {
      s->link->rollback();
      offer = fail(Code::ResourceExhausted, "the offer would be " + std::to_string(text.size()) +
                                                " bytes, over a data-channel message's " +
                                                std::to_string(proto::kMaxFocusMessageBytes));
    }
  }
  if (!offer) {
    ++offers_refused_;
    if (!s->refusal_told) {
      CHORUS_LOG(Warn, kMediaPlaneTag,
                 "cannot make an offer of "
                     << want.size() << " tracks for " << s->who << ": " << offer.error().message
                     << " (tried again when what it receives changes; see max_media_sections)");
    } else {
      CHORUS_LOG(Debug, kMediaPlaneTag,
                 "cannot make an offer for " << s->who << ": " << offer.error().message);
    }
    s->refusal_told = true;
    s->refused = std::move(want);
    return;
  }
  s->refused.reset();
  s->refusal_told = false;
  s->pending = std::move(want);
  s->offer_pending = true;
  CHORUS_LOG(Debug, kMediaPlaneTag, "dc -> peer " << id << ": offer with " << s->pending.size() << " tracks");
  s->link->sendText(*s->dc_stream, text);
  controller_->toldMetadata(id, *told);
  ++offers_sent_;
}

void MediaPlane::applyDescription(ParticipantId id, const proto::SessionDescription& d) {
  Slot* s = slot(id);
  if (!s) return;
  if (d.type == "answer") {
    if (!s->offer_pending) return;
    s->offer_pending = false;
    if (auto r = s->link->applyAnswer(d.sdp); !r) {
      CHORUS_LOG(Warn, kMediaPlaneTag, "answer of peer " << id << " refused: " << r.error().message);
      s->link->rollback();
      return;
    }
    s->agreed = std::move(s->pending);
    s->pending.clear();
    std::vector<std::uint32_t> ssrcs;
    for (const auto& t : s->agreed) ssrcs.push_back(t.ssrc);
    // Only what the participant's description now has goes out (RTP and sender reports): webrtcbin 1.22
    // fails the whole transport on RTP of an SSRC it cannot map, and maps a track wrongly when a sender
    // report named its SSRC before the description did.
    const std::vector<std::uint32_t> added = router_.setLiveOutTracks(id, ssrcs);
    router_.setSubscriberTransportCc(id, s->link->downlinkTransportCcId());
    syncRtx(id, *s->link);
    // Keyframes sent before the answer were not forwarded: ask again for every new video track.
    for (const auto& t : s->agreed) {
      if (t.kind == "video" && std::binary_search(added.begin(), added.end(), t.ssrc))
        router_.requestKeyframe(id, t.ssrc, clock_.nowMs());
    }
    return;
  }
  if (d.type != "offer") return;
  if (s->offer_pending) {  // glare: the focus is polite
    s->link->rollback();
    s->offer_pending = false;
    s->pending.clear();
  }
  auto answer = s->link->acceptOffer(d.sdp);
  if (!answer) {
    CHORUS_LOG(Warn, kMediaPlaneTag, "re-offer of peer " << id << " refused: " << answer.error().message);
    return;
  }
  router_.setSubscriberTransportCc(id, s->link->downlinkTransportCcId());
  syncRtx(id, *s->link);
  proto::FocusMessage m;
  m.type = proto::FocusMessageType::Negotiate;
  m.description = proto::SessionDescription{"answer", *answer};
  if (controller_->participant(id)) m.metadata = controller_->tellMetadata(id);
  if (s->dc_stream) s->link->sendText(*s->dc_stream, proto::serializeFocusMessage(m));
}

MediaPlaneStats MediaPlane::stats() const {
  MediaPlaneStats st;
  st.peers = slots_.size();
  st.router = router_.stats();
  st.offers_sent = offers_sent_;
  st.offers_refused = offers_refused_;
  st.not_negotiated_drops = st.router.not_live_drops;
  st.not_negotiated_sr_drops = st.router.not_live_sr_drops;
  if (!controller_) return st;
  st.controller = controller_->counters();
  st.ids_rewritten = controller_->trackIds().rewritten();
  for (const Participant* p : controller_->participants()) {
    ParticipantStats ps{p->id, p->user_id, p->device_id, p->conf_id, p->connected, std::nullopt, 0};
    if (auto s = slots_.find(p->id); s != slots_.end()) {
      ps.link = s->second.link->stats();
      ps.tracks_out = s->second.agreed.size();
      ps.downlink = router_.downlinkStats(p->id);
      ps.published = router_.publishedVideoLayers(p->id);
      ps.send_cap_bps = router_.publisherCap(p->id);
    }
    st.participants.push_back(std::move(ps));
  }
  return st;
}

}  // namespace chorus::focus
