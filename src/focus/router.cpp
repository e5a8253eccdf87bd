#include "focus/router_state.hpp"

#include <cstring>

#include "media/cc/layer_allocator.hpp"
#include "media/rtp/h264_keyframe.hpp"

namespace chorus::focus {

const char* toString(RouterDrop d) noexcept {
  switch (d) {
    case RouterDrop::MalformedRtp:
      return "malformed_rtp";
    case RouterDrop::UnknownPeer:
      return "unknown_peer";
    case RouterDrop::UnmappedSsrc:
      return "unmapped_ssrc";
    case RouterDrop::TooManySsrcs:
      return "too_many_ssrcs";
    case RouterDrop::TooLarge:
      return "too_large";
    case RouterDrop::MalformedRtcp:
      return "malformed_rtcp";
    case RouterDrop::UnknownMediaSsrc:
      return "unknown_media_ssrc";
    case RouterDrop::Count:
      break;
  }
  return "unknown";
}

Router::Router(RouterSink& sink, RouterConfig config)
    : sink_(sink), config_(std::move(config)), rng_state_(config_.seed) {
  if (config_.cname.size() > kMaxCname) config_.cname.resize(kMaxCname);
  config_.max_packet_size = std::clamp<std::size_t>(config_.max_packet_size, media::kRtpHeaderSize, 65535);
  rtp_scratch_.resize(config_.max_packet_size + kTransportSeqRoom + kSinkTrailerRoom);
  unwrap_scratch_.resize(config_.max_packet_size);
  const std::size_t rr_packets = (config_.max_ssrcs_per_publisher + kMaxReportBlocks - 1) / kMaxReportBlocks;
  const std::size_t sdes = 8 + 2 + kMaxCname + 4;
  rtcp_scratch_.resize(std::max<std::size_t>(rr_packets, 1) * kRrPacketMax + sdes + kSinkTrailerRoom);
  config_.transport_cc_max_feedback_bytes = std::clamp<std::size_t>(config_.transport_cc_max_feedback_bytes,
                                                                    media::transportCcSizeBound(1, 1), 1400);
  config_.transport_cc_history = std::clamp<std::size_t>(config_.transport_cc_history, 64, 16384);
  config_.transport_cc_max_feedbacks_per_tick =
      std::max<std::size_t>(config_.transport_cc_max_feedbacks_per_tick, 1);
  rtcp_scratch_.resize(
      std::max(rtcp_scratch_.size(), config_.transport_cc_max_feedback_bytes + kSinkTrailerRoom));
}

Router::~Router() = default;

std::uint64_t Router::nextRandom() noexcept {  // splitmix64
  std::uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Router::Participant* Router::findParticipant(ParticipantId id) const {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second.get();
}

Router::Participant& Router::peerFor(ParticipantId id) {
  auto& p = peers_[id];
  if (!p) {
    p = std::make_unique<Participant>();
    p->id = id;
    p->unmapped.reserve(config_.max_unmapped_ssrcs_per_publisher);
  }
  return *p;
}

// ---- setup paths ----

std::vector<ParticipantId> Router::setPublishedTracks(ParticipantId publisher,
                                                      std::vector<PublishedTrackInfo> tracks) {
  Participant& p = peerFor(publisher);
  std::vector<ParticipantId> affected;

  std::vector<PublishedTrackInfo> accepted;
  for (auto& info : tracks) {
    if (accepted.size() >= config_.max_tracks_per_publisher) break;
    if (info.kind != "audio" && info.kind != "video") continue;
    if (info.track_id.empty()) continue;
    const bool dup = std::any_of(accepted.begin(), accepted.end(),
                                 [&](const PublishedTrackInfo& a) { return a.track_id == info.track_id; });
    if (dup) continue;
    std::vector<std::string> rids;
    for (auto& r : info.rids) {
      if (rids.size() >= config_.max_layers_per_track) break;
      if (!r.empty() && std::find(rids.begin(), rids.end(), r) == rids.end()) rids.push_back(r);
    }
    info.rids = std::move(rids);
    accepted.push_back(std::move(info));
  }

  // Tracks that vanished (or changed kind) end their subscriptions.
  for (std::size_t i = 0; i < p.tracks.size();) {
    Track& t = *p.tracks[i];
    const bool kept = std::any_of(accepted.begin(), accepted.end(), [&](const PublishedTrackInfo& a) {
      return a.track_id == t.info.track_id && a.kind == t.info.kind;
    });
    if (kept) {
      ++i;
      continue;
    }
    const auto subs = t.subscribers;
    for (Subscription* s : subs) dropSubscription(*s, &affected);
    forgetCandidate(t);
    forget(p, t);
    p.tracks.erase(p.tracks.begin() + static_cast<std::ptrdiff_t>(i));
  }

  for (auto& info : accepted) {
    Track* t = nullptr;
    for (auto& existing : p.tracks) {
      if (existing->info.track_id == info.track_id) t = existing.get();
    }
    const bool relayout =
        t == nullptr || t->info.mid != info.mid || t->info.rids != info.rids || t->info.ssrcs != info.ssrcs;
    if (t == nullptr) {
      p.tracks.push_back(std::make_unique<Track>());
      t = p.tracks.back().get();
      t->publisher = publisher;
    } else if (relayout) {
      forget(p, *t);  // SSRCs are learnt again from the next packets
    }
    const bool unmuted = t != nullptr && !relayout && t->info.muted && !info.muted;
    t->video = info.kind == "video";
    t->codec = t->video ? codecOf(info.codec) : VideoCodec::Other;
    // 0 = the usual rate; otherwise kept within what RTP uses (8 kHz .. 192 kHz), so that the timestamp
    // arithmetic in the rewriter and the jitter estimate cannot overflow.
    t->clock_rate = info.clock_rate != 0 ? std::clamp<std::uint32_t>(info.clock_rate, 1000, 200000)
                                         : (t->video ? 90000 : 48000);
    t->info = std::move(info);
    if (relayout) {
      t->layers.clear();
      if (t->info.rids.empty()) {
        t->layers.push_back(Layer{"", Quality::High});
      } else {
        for (std::size_t i = 0; i < t->info.rids.size(); ++i) {
          t->layers.push_back(Layer{t->info.rids[i], qualityOf(t->info.rids[i], i, t->info.rids.size())});
        }
      }
    }
    // Resume at a keyframe, continuing the outgoing numbering (tick() requests the keyframe).
    if (unmuted) {
      for (Subscription* s : t->subscribers) s->rewriter.resync();
    }
  }
  // SSRCs we could not map before may belong to the new tracks.
  p.unmapped.clear();
  return affected;
}

void Router::forget(Participant& p, Track& t) {
  std::erase_if(p.rtx_streams, [&](const auto& kv) {
    const auto it = p.streams.find(kv.second);
    return it == p.streams.end() || it->second.track == &t;
  });
  std::erase_if(p.streams, [&](const auto& kv) { return kv.second.track == &t; });
  for (auto& l : t.layers) {
    l.ssrc.reset();
    l.pt.reset();
  }
}

void Router::setSubscriberPayloadType(ParticipantId subscriber, std::string_view kind, std::uint8_t pt) {
  Participant& p = peerFor(subscriber);
  pt &= 0x7F;
  if (kind == "audio") {
    p.audio_pt = pt;
  } else if (kind == "video") {
    p.video_pt = pt;
  } else if (kind == "H264") {
    p.h264_pt = pt;
  } else {
    return;
  }
  for (auto& s : p.subscriptions) {
    const bool h264 = s->track->video && s->track->codec == VideoCodec::H264;
    const std::string_view key = !s->track->video ? "audio" : h264 ? "H264" : "video";
    if (key == kind) s->pt = pt;
  }
  if (kind == "audio") {
    for (auto& s : p.slots) s->pt = pt;
  }
}

void Router::setSubscriberRtxPayloadType(ParticipantId subscriber, std::string_view kind, std::uint8_t pt) {
  Participant& p = peerFor(subscriber);
  pt &= 0x7F;
  if (kind == "video") {
    p.rtx_video_pt = pt;
  } else if (kind == "H264") {
    p.rtx_h264_pt = pt;
  }
}

std::uint32_t Router::newOutSsrc(const Participant& subscriber) {
  for (;;) {
    const auto v = static_cast<std::uint32_t>(nextRandom());
    if (v == 0 || v == config_.focus_ssrc) continue;
    auto uses = [&](const auto& s) { return s->out.ssrc == v || s->out.rtx_ssrc == v; };
    const bool used = std::any_of(subscriber.subscriptions.begin(), subscriber.subscriptions.end(), uses) ||
                      std::any_of(subscriber.slots.begin(), subscriber.slots.end(), uses);
    if (used || subscriber.streams.count(v) != 0) continue;
    return v;
  }
}

// An out stream's numbering starts at random sequence numbers and timestamps.
media::SimulcastRewriter Router::newRewriter(std::uint32_t clock_rate, std::uint32_t out_ssrc) {
  media::SimulcastRewriterConfig rc;
  rc.clock_rate = clock_rate;
  rc.outgoing_ssrc = out_ssrc;
  rc.initial_seq = static_cast<std::uint16_t>(nextRandom());
  rc.initial_timestamp = static_cast<std::uint32_t>(nextRandom());
  return media::SimulcastRewriter(rc);
}

Result<OutTrack> Router::subscribe(ParticipantId subscriber, ParticipantId publisher,
                                   std::string_view track_id, int width, int height, TimeMs now) {
  if (subscriber == publisher) return fail(Code::InvalidArgument, "a peer cannot subscribe to itself");
  Participant* pub = findParticipant(publisher);
  if (pub == nullptr) return fail(Code::NotFound, "unknown publisher");
  Track* t = nullptr;
  for (auto& tr : pub->tracks) {
    if (tr->info.track_id == track_id) t = tr.get();
  }
  if (t == nullptr) return fail(Code::NotFound, "unknown track");
  Participant& sub = peerFor(subscriber);
  if (!t->video && config_.audio_slots > 0) {
    const auto audio = std::count_if(sub.subscriptions.begin(), sub.subscriptions.end(),
                                     [&](const auto& s) { return !s->track->video && s->track != t; });
    if (!sub.slots.empty() || static_cast<std::size_t>(audio) >= config_.audio_slots)
      return subscribeToSlots(sub, *t, now);
  }
  for (auto& s : sub.subscriptions) {
    if (s->track == t) {
      s->width = width;
      s->height = height;
      applyLayer(*s, now);
      return s->out;
    }
  }
  if (sub.subscriptions.size() >= config_.max_subscriptions_per_subscriber) {
    return fail(Code::ResourceExhausted, "too many subscriptions");
  }
  const bool h264 = t->video && t->codec == VideoCodec::H264;
  if (h264 && !sub.h264_pt) return fail(Code::FailedPrecondition, "the subscriber cannot receive H.264");

  auto s = std::make_unique<Subscription>();
  s->subscriber = subscriber;
  s->owner = &sub;
  s->track = t;
  s->out =
      OutTrack{newOutSsrc(sub), t->info.kind, t->info.stream_id, t->info.track_id, publisher, t->info.codec};
  if (t->video) {
    s->out.rtx_ssrc = newOutSsrc(sub);
    while (s->out.rtx_ssrc == s->out.ssrc) s->out.rtx_ssrc = newOutSsrc(sub);
    s->rtx_seq = static_cast<std::uint16_t>(nextRandom());
  }
  s->width = width;
  s->height = height;
  s->pt = !t->video ? sub.audio_pt : h264 ? sub.h264_pt : sub.video_pt;
  s->rewriter = newRewriter(t->clock_rate, s->out.ssrc);
  const std::size_t rtx_packets = t->video ? config_.video_rtx_packets : config_.audio_rtx_packets;
  if (rtx_packets > 0) {
    media::RetransmissionBufferConfig bc;
    bc.capacity = rtx_packets;
    if (t->video) bc.initial_capacity = config_.video_rtx_initial_packets;
    bc.max_packet_size = std::min(config_.rtx_max_packet_size, config_.max_packet_size);
    bc.max_age_ms = config_.rtx_max_age_ms;
    s->rtx = std::make_unique<media::RetransmissionBuffer>(bc);
  }
  Subscription& ref = *s;
  t->subscribers.push_back(&ref);
  sub.subscriptions.push_back(std::move(s));
  applyLayer(ref, now);
  return ref.out;
}

// An out track that carried packets ends: RR + BYE for its SSRC, so the subscriber frees that source at
// once (webrtcbin's jitterbuffer threads, a browser's receiver) instead of after its RTCP timeout.
void Router::sendBye(const Subscription& s) {
  if (s.packets == 0) return;
  const media::MutableByteSpan buf(rtcp_scratch_);
  const auto rr = media::buildRtcpReceiverReport(buf, s.out.ssrc, {});
  if (!rr) return;
  const std::uint32_t ssrc = s.out.ssrc;
  const auto bye = media::buildRtcpBye(buf.subspan(*rr), std::span(&ssrc, 1));
  if (!bye) return;
  ++stats_.byes_sent;
  sink_.sendRtcp(s.subscriber, rtcp_scratch_, *rr + *bye);
}

void Router::dropSubscription(Subscription& s, std::vector<ParticipantId>* affected) {
  if (s.slot) {  // the slot stays (the subscriber's description has it); the next ranking refills it
    putOnSlot(s, nullptr, s.slot_since);
    return;
  }
  eraseValue(s.track->subscribers, &s);
  sendBye(s);
  const ParticipantId subscriber = s.subscriber;
  addUnique(affected, subscriber);
  if (Participant* sp = findParticipant(subscriber)) {
    std::erase_if(sp->subscriptions, [&](const auto& owned) { return owned.get() == &s; });
  }
}

void Router::unsubscribe(ParticipantId subscriber, ParticipantId publisher, std::string_view track_id) {
  Participant* sp = findParticipant(subscriber);
  if (sp == nullptr) return;
  for (auto& s : sp->subscriptions) {
    if (s->out.publisher == publisher && s->out.track_id == track_id) {
      dropSubscription(*s, nullptr);
      return;
    }
  }
  std::erase_if(sp->audio_candidates, [&](Track* t) {
    if (t->publisher != publisher || t->info.track_id != track_id) return false;
    for (auto& slot : sp->slots) {
      if (slot->track == t) putOnSlot(*slot, nullptr, slot->slot_since);
    }
    return true;
  });
}

std::vector<OutTrack> Router::outTracks(ParticipantId subscriber) const {
  std::vector<OutTrack> out;
  if (const Participant* p = findParticipant(subscriber)) {
    out.reserve(p->subscriptions.size() + p->slots.size());
    for (const auto& s : p->subscriptions) out.push_back(s->out);
    for (const auto& s : p->slots) out.push_back(s->out);
  }
  return out;
}

std::vector<AudioSlotInfo> Router::audioSlots(ParticipantId subscriber) const {
  std::vector<AudioSlotInfo> out;
  if (const Participant* p = findParticipant(subscriber)) {
    for (const auto& s : p->slots) {
      AudioSlotInfo info{s->out.ssrc, s->out.stream_id, 0, {}};
      if (s->track != nullptr) {
        info.publisher = s->track->publisher;
        info.track_id = s->track->info.track_id;
        info.track_stream_id = s->track->info.stream_id;
      }
      out.push_back(std::move(info));
    }
  }
  return out;
}

std::vector<ParticipantId> Router::takeAudioSlotChanges() {
  std::vector<ParticipantId> out;
  for (auto& [id, p] : peers_) {
    if (!p->slots_changed) continue;
    p->slots_changed = false;
    out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<SubscriptionStats> Router::subscriptionStats(ParticipantId subscriber) const {
  std::vector<SubscriptionStats> out;
  const Participant* p = findParticipant(subscriber);
  if (p == nullptr) return out;
  auto ridOf = [](const Track& t, std::optional<std::uint32_t> ssrc) -> std::string {
    if (!ssrc) return {};
    for (const auto& l : t.layers) {
      if (l.ssrc == ssrc) return l.rid;
    }
    return {};
  };
  std::vector<const Subscription*> all;
  for (const auto& s : p->subscriptions) all.push_back(s.get());
  for (const auto& s : p->slots) all.push_back(s.get());
  for (const Subscription* s : all) {
    SubscriptionStats st;
    st.publisher = s->track != nullptr ? s->track->publisher : 0;
    st.track_id = s->out.track_id;
    st.kind = s->out.kind;
    st.out_ssrc = s->out.ssrc;
    if (s->track != nullptr) {
      st.current_rid = ridOf(*s->track, s->rewriter.currentLayer());
      st.target_rid = ridOf(*s->track, s->rewriter.targetLayer());
    }
    st.packets_forwarded = s->packets;
    st.bytes_forwarded = s->bytes;
    st.packets_retransmitted = s->retransmitted;
    st.rtx_sent = s->rtx_sent;
    st.paused = s->paused;
    out.push_back(std::move(st));
  }
  return out;
}

std::set<std::pair<ParticipantId, std::string>> Router::pausedVideo(ParticipantId subscriber) const {
  std::set<std::pair<ParticipantId, std::string>> out;
  if (const Participant* p = findParticipant(subscriber)) {
    for (const auto& s : p->subscriptions) {
      if (s->paused && s->out.kind == "video") out.emplace(s->out.publisher, s->out.stream_id);
    }
  }
  return out;
}

std::vector<ParticipantId> Router::removePeer(ParticipantId peer) {
  std::vector<ParticipantId> affected;
  Participant* p = findParticipant(peer);
  if (p == nullptr) return affected;
  for (auto& s : p->subscriptions) eraseValue(s->track->subscribers, s.get());
  p->subscriptions.clear();
  for (auto& s : p->slots) {
    if (s->track != nullptr) eraseValue(s->track->subscribers, s.get());
  }
  p->slots.clear();
  for (auto& t : p->tracks) {
    const auto subs = t->subscribers;
    for (Subscription* s : subs) dropSubscription(*s, &affected);
    forgetCandidate(*t);
  }
  peers_.erase(peer);
  return affected;
}

// ---- layer choice and keyframes ----

// waterfall track/simulcast.go: the layer desiredQuality() names, else the first available of [medium, low,
// high]. Layers that sent nothing for layer_stall_ms are only used when no layer is active.

std::optional<std::size_t> Router::lowestLayer(const Track& t, TimeMs now) const {
  std::optional<std::size_t> best;
  bool best_active = false;
  for (std::size_t i = 0; i < t.layers.size(); ++i) {
    const Layer& l = t.layers[i];
    if (!l.ssrc) continue;
    const bool active = now - l.last_packet_at < config_.layer_stall_ms;
    if (!best || (active && !best_active) || (active == best_active && l.quality < t.layers[*best].quality)) {
      best = i;
      best_active = active;
    }
  }
  return best;
}

std::optional<std::size_t> Router::chooseLayer(const Track& t, int width, int height, TimeMs now) const {
  const Quality desired = desiredQuality(t.info, width, height);
  const Quality order[] = {desired, Quality::Medium, Quality::Low, Quality::High};
  for (const bool need_active : {true, false}) {
    for (Quality q : order) {
      for (std::size_t i = 0; i < t.layers.size(); ++i) {
        const Layer& l = t.layers[i];
        if (t.layers.size() > 1 && l.quality != q) continue;
        if (!l.ssrc) continue;
        if (need_active && now - l.last_packet_at >= config_.layer_stall_ms) continue;
        return i;
      }
    }
  }
  return std::nullopt;
}

void Router::applyLayer(Subscription& s, TimeMs now) {
  std::optional<std::size_t> layer;
  if (s.allocated && *s.allocated < s.track->layers.size() && s.track->layers[*s.allocated].ssrc) {
    layer = s.allocated;
  } else if (s.track->video && s.owner->downlink && s.owner->downlink->hasFeedback()) {
    layer = lowestLayer(*s.track, now);  // fast first frame; the allocation steps it up
  } else {
    layer = chooseLayer(*s.track, s.width, s.height, now);
  }
  if (!layer) return;
  const std::uint32_t ssrc = *s.track->layers[*layer].ssrc;
  if (s.rewriter.targetLayer() == ssrc) return;
  s.rewriter.selectLayer(ssrc);
  // A subscription its subscriber cannot receive yet asks once it can (requestKeyframe(subscriber, ...)):
  // a keyframe now would be dropped, and its request would hold back that one by pli_throttle_ms.
  if (s.track->video && s.rewriter.switchPending() && isLive(s)) requestKeyframeFor(s, now);
}

bool Router::isLive(const Subscription& s) const {
  return !config_.require_live_out_tracks || s.live;
}

void Router::requestKeyframe(Participant& publisher, InStream& stream, TimeMs now, bool unless_answered) {
  const bool answered = unless_answered && stream.last_keyframe_at > stream.last_keyframe_request &&
                        now - stream.last_keyframe_request >= config_.pli_live_min_interval_ms;
  if (now - stream.last_keyframe_request < config_.pli_throttle_ms && !answered) {
    stream.keyframe_request_pending = true;
    ++stats_.keyframe_requests_throttled;
    return;
  }
  const auto n = media::buildRtcpPli(rtcp_scratch_, config_.focus_ssrc, stream.ssrc);
  if (!n) return;
  stream.last_keyframe_request = now;
  stream.keyframe_request_pending = false;
  ++stats_.keyframe_requests;
  sink_.sendRtcp(publisher.id, rtcp_scratch_, *n);
}

void Router::requestKeyframeFor(Subscription& s, TimeMs now, bool unless_answered) {
  if (!s.track->video) return;
  const auto ssrc = s.rewriter.switchPending() ? s.rewriter.targetLayer() : s.rewriter.currentLayer();
  if (!ssrc) return;
  Participant* pub = findParticipant(s.out.publisher);
  if (pub == nullptr) return;
  auto it = pub->streams.find(*ssrc);
  if (it != pub->streams.end()) requestKeyframe(*pub, it->second, now, unless_answered);
}

void Router::requestKeyframe(ParticipantId subscriber, std::uint32_t out_ssrc, TimeMs now) {
  Participant* p = findParticipant(subscriber);
  if (p == nullptr) return;
  if (Subscription* s = findByOutSsrc(*p, out_ssrc)) requestKeyframeFor(*s, now, true);
}

void Router::trackLoss(Participant& publisher, InStream& in, TimeMs now, std::uint16_t seq) {
  const std::int64_t highest = in.rx.highestSeq();
  const std::int64_t ext = in.rx.extend(seq);
  if (ext <= highest) {
    if (in.missing.recovered(ext)) ++stats_.upstream_recovered;
    return;
  }
  if (ext == highest + 1) return;
  if (!in.missing.add(highest + 1, ext, now)) {
    // Too much at once (or too much outstanding): a keyframe repairs it faster than NACKs.
    stats_.upstream_given_up += in.missing.size();
    in.missing.clear();
    requestKeyframe(publisher, in, now);
    return;
  }
  sendUpstreamNacks(publisher, in, now);
}

void Router::sendUpstreamNacks(Participant& publisher, InStream& in, TimeMs now) {
  TimeMs retry_ms = config_.upstream_nack_retry_ms;
  if (const DownlinkController* d = publisher.downlink.get(); d != nullptr && d->hasFeedback()) {
    retry_ms = std::clamp<TimeMs>(d->rttMs() + 10, std::min<TimeMs>(20, retry_ms), retry_ms);
  }
  const media::NackPolicy policy{retry_ms, config_.upstream_nack_tries, config_.upstream_nack_max_age_ms};
  const auto due = in.missing.due(now, policy, nack_seqs_);
  stats_.upstream_given_up += due.given_up;
  const std::size_t n = due.count;
  if (n > 0) {
    const auto size = media::buildRtcpNack(rtcp_scratch_, config_.focus_ssrc, in.ssrc,
                                           std::span<const std::uint16_t>(nack_seqs_.data(), n));
    if (size) {
      stats_.upstream_nacks_sent += n;
      sink_.sendRtcp(publisher.id, rtcp_scratch_, *size);
    }
  }
  // A packet the publisher did not resend within the tries is lost for good (unless its repair still comes
  // late, onPublisherRtx), and so is every frame of the layer after it for the subscribers it is forwarded
  // to: they NACK it in vain, and a browser asks for a keyframe only after about 3 s without a decodable
  // frame (issue #12: 3.3 s freezes in the loss test). So the focus asks at once (throttled like the others).
  if (due.given_up > 0 && forwardedAsCurrentLayer(in)) {
    ++stats_.upstream_lost_keyframe_requests;
    requestKeyframe(publisher, in, now);
  }
}

bool Router::forwardedAsCurrentLayer(const InStream& in) const {
  for (const Subscription* s : in.track->subscribers) {
    if (!s->paused && s->rewriter.currentLayer() == in.ssrc) return true;
  }
  return false;
}

// The publisher's clock mapping (NTP <-> RTP timestamp) in each subscriber's numbering: what receivers need
// to play a participant's audio and video in sync.
void Router::forwardSenderReport(const Track& track, const media::RtcpSenderReport& sr) {
  for (Subscription* s : track.subscribers) {
    if (config_.require_live_out_tracks && !s->live) {
      ++stats_.not_live_sr_drops;
      continue;
    }
    const auto ts = s->rewriter.mapTimestamp(sr.ssrc, sr.rtp_timestamp);
    if (!ts) continue;
    const auto n = media::buildRtcpSenderReport(rtcp_scratch_, s->out.ssrc, sr.ntp_timestamp, *ts,
                                                static_cast<std::uint32_t>(s->packets),
                                                static_cast<std::uint32_t>(s->bytes));
    if (!n) continue;
    ++stats_.sender_reports_forwarded;
    sink_.sendRtcp(s->subscriber, rtcp_scratch_, *n);
  }
}

// ---- RTP ----

void Router::rememberUnmapped(Participant& p, std::uint32_t ssrc) {
  if (std::find(p.unmapped.begin(), p.unmapped.end(), ssrc) != p.unmapped.end()) {
    stats_.drops.count(RouterDrop::UnmappedSsrc);
  } else if (p.unmapped.size() < config_.max_unmapped_ssrcs_per_publisher) {
    p.unmapped.push_back(ssrc);
    stats_.drops.count(RouterDrop::UnmappedSsrc);
  } else {
    stats_.drops.count(RouterDrop::TooManySsrcs);
  }
}

Router::InStream* Router::learnSsrc(Participant& p, std::uint32_t ssrc, std::uint8_t pt,
                                    const InboundRtp& info, TimeMs now) {
  Track* track = nullptr;
  std::optional<std::size_t> layer;
  auto byRid = [&](Track& t, std::string_view rid) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < t.layers.size(); ++i) {
      if (t.layers[i].rid == rid) return i;
    }
    return std::nullopt;
  };
  // Index of `ssrc` in the SDP list, as a layer: the first SSRC of a non-simulcast track (the others are
  // RTX/FEC), or the i-th of a simulcast track.
  auto bySdpSsrc = [&](Track& t) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < t.info.ssrcs.size() && i < t.layers.size(); ++i) {
      if (t.info.ssrcs[i] == ssrc) return i;
    }
    return std::nullopt;
  };
  if (!info.mid.empty()) {
    for (auto& t : p.tracks) {
      if (t->info.mid == info.mid) track = t.get();
    }
    if (track != nullptr) {
      if (track->info.rids.empty()) {
        // Non-simulcast. An SSRC the SDP lists at another position (RTX, FEC) is not the media stream.
        const auto& listed = track->info.ssrcs;
        const bool secondary =
            std::find(listed.begin() + (listed.empty() ? 0 : 1), listed.end(), ssrc) != listed.end();
        if (!secondary) layer = 0;
      } else if (!info.rid.empty()) {
        layer = byRid(*track, info.rid);
      } else {
        layer = bySdpSsrc(*track);
      }
    }
  } else {
    for (auto& t : p.tracks) {
      if (auto l = bySdpSsrc(*t)) {
        track = t.get();
        layer = l;
        break;
      }
    }
    if (track == nullptr && !info.rid.empty()) {  // a rid without mid: only when one track has that rid
      int matches = 0;
      for (auto& t : p.tracks) {
        if (auto l = byRid(*t, info.rid)) {
          ++matches;
          track = t.get();
          layer = l;
        }
      }
      if (matches != 1) track = nullptr;
    }
  }
  if (track == nullptr || !layer) {
    rememberUnmapped(p, ssrc);
    return nullptr;
  }
  Layer& l = track->layers[*layer];
  if (l.ssrc && *l.ssrc != ssrc) {
    // A new SSRC for a layer we know: a restarted sender, unless the payload type differs (then it is most
    // likely a repair stream that carries the same mid).
    if (l.pt && *l.pt != pt) {
      rememberUnmapped(p, ssrc);
      return nullptr;
    }
    p.streams.erase(*l.ssrc);
  }
  if (p.streams.size() >= config_.max_ssrcs_per_publisher) {
    stats_.drops.count(RouterDrop::TooManySsrcs);
    return nullptr;
  }
  InStream& in = p.streams[ssrc];
  in = InStream{};
  in.ssrc = ssrc;
  in.track = track;
  in.layer = *layer;
  l.ssrc = ssrc;
  l.pt = pt;
  l.last_packet_at = now;
  eraseValue(p.unmapped, ssrc);
  if (!p.last_rr) p.last_rr = now;
  for (Subscription* s : track->subscribers) applyLayer(*s, now);
  return &in;
}

void Router::onRtp(ParticipantId from, const InboundRtp& info, media::ByteSpan packet, TimeMs now) {
  const auto rtp = media::RtpPacketView::parse(packet);
  if (!rtp) {
    ++stats_.rtp_received;
    stats_.rtp_bytes_received += packet.size();
    stats_.drops.count(RouterDrop::MalformedRtp);
    return;
  }
  onRtp(from, info, *rtp, now);
}

void Router::onRtp(ParticipantId from, const InboundRtp& info, const media::RtpPacketView& rtp, TimeMs now) {
  ++stats_.rtp_received;
  stats_.rtp_bytes_received += rtp.size();
  Participant* p = findParticipant(from);
  if (p == nullptr) {
    stats_.drops.count(RouterDrop::UnknownPeer);
    return;
  }
  const std::uint32_t ssrc = rtp.ssrc();
  // Every packet of the transport counts for the sender's estimate (padding probes and packets we do not
  // forward too), so the arrival is recorded before anything else.
  if (info.transport_seq && config_.transport_cc) {
    recordTransportSeq(*p, ssrc, *info.transport_seq, now,
                       info.arrival_us > 0 ? info.arrival_us : now * media::cc::kUsPerMs);
  }
  InStream* in = nullptr;
  if (auto it = p->streams.find(ssrc); it != p->streams.end()) {
    in = &it->second;
  } else {
    if (p->rtx_streams.count(ssrc) != 0) {
      onPublisherRtx(*p, nullptr, rtp, info, now);
      return;
    }
    if (Track* rt = rtxTrackOf(*p, ssrc, rtp.payloadType(), info)) {
      onPublisherRtx(*p, rt, rtp, info, now);
      return;
    }
    if (info.mid.empty() && info.rid.empty() &&
        std::find(p->unmapped.begin(), p->unmapped.end(), ssrc) != p->unmapped.end()) {
      stats_.drops.count(RouterDrop::UnmappedSsrc);
      return;
    }
    if (rtp.payload().empty()) {  // padding only: learn SSRCs from media packets
      stats_.drops.count(RouterDrop::UnmappedSsrc);
      return;
    }
    in = learnSsrc(*p, ssrc, rtp.payloadType(), info, now);
    if (in == nullptr) return;
  }
  onMediaRtp(*p, *in, rtp, now, info.audio_level);
}

Router::Track* Router::rtxTrackOf(Participant& p, std::uint32_t ssrc, std::uint8_t pt,
                                  const InboundRtp& info) const {
  Track* found = nullptr;
  int matches = 0;
  for (auto& t : p.tracks) {
    if (!t->video) continue;
    for (const auto& [media_ssrc, rtx_ssrc] : t->info.rtx_ssrcs) {
      if (rtx_ssrc == ssrc) return t.get();
    }
    if (t->info.rtx_payload_type == 0 || t->info.rtx_payload_type != pt) continue;
    if (!info.mid.empty()) {
      if (t->info.mid == info.mid) return t.get();
      continue;
    }
    found = t.get();
    ++matches;
  }
  return matches == 1 ? found : nullptr;  // without mid: only when one track has that RTX payload type
}

// RFC 4588 §4: the RTX packet's payload is the original sequence number (OSN, 2 bytes) and the original
// payload; its SSRC, payload type and numbering are the RTX stream's own. The original is rebuilt (media
// SSRC, the layer's payload type, which is the apt of the one RTX payload type the focus accepts per
// section, OSN) and handled like a packet that arrived late: it fills the upstream NACK list and reaches the
// subscribers still waiting for it.
void Router::onPublisherRtx(Participant& p, Track* track, const media::RtpPacketView& view,
                            const InboundRtp& info, TimeMs now) {
  ++stats_.rtx_received;
  const std::uint32_t rtx_ssrc = view.ssrc();
  if (view.payload().empty()) {  // padding only: the publisher's bandwidth probe
    ++stats_.rtx_padding_dropped;
    return;
  }
  if (view.payload().size() < 2) {
    ++stats_.rtx_malformed;
    return;
  }
  std::optional<std::uint32_t> media_ssrc;
  if (auto it = p.rtx_streams.find(rtx_ssrc); it != p.rtx_streams.end()) {
    if (p.streams.count(it->second) != 0) {
      media_ssrc = it->second;
    } else {
      p.rtx_streams.erase(it);  // its media stream was replaced: learn the pair again
      stats_.drops.count(RouterDrop::UnmappedSsrc);
      return;
    }
  } else if (track != nullptr) {
    for (const auto& [m, r] : track->info.rtx_ssrcs) {
      if (r == rtx_ssrc) media_ssrc = m;
    }
    const std::string_view rid = !info.repaired_rid.empty() ? info.repaired_rid : info.rid;
    if (!media_ssrc && !rid.empty()) {
      for (const auto& l : track->layers) {
        if (l.rid == rid) media_ssrc = l.ssrc;
      }
    } else if (!media_ssrc && track->layers.size() == 1) {
      media_ssrc = track->layers.front().ssrc;
    }
    if (!media_ssrc || p.streams.count(*media_ssrc) == 0) {
      stats_.drops.count(RouterDrop::UnmappedSsrc);  // its media stream is not known (yet)
      return;
    }
    if (p.rtx_streams.size() >= config_.max_ssrcs_per_publisher) {
      stats_.drops.count(RouterDrop::TooManySsrcs);
      return;
    }
    p.rtx_streams.emplace(rtx_ssrc, *media_ssrc);
  }
  if (!media_ssrc) return;
  InStream& in = p.streams.find(*media_ssrc)->second;
  const Layer& layer = in.track->layers[in.layer];
  const std::size_t csrc_bytes = 4 * std::size_t{view.csrcCount()};
  const media::ByteSpan body = view.data().subspan(view.headerSize() + 2);  // payload after the OSN + padding
  const std::size_t length = media::kRtpHeaderSize + csrc_bytes + body.size();
  if (length > unwrap_scratch_.size()) {
    stats_.drops.count(RouterDrop::TooLarge);
    return;
  }
  std::uint8_t* o = unwrap_scratch_.data();
  const std::uint8_t* osn = view.payload().data();
  o[0] = static_cast<std::uint8_t>(0x80 | (view.hasPadding() ? 0x20 : 0) | view.csrcCount());
  o[1] = static_cast<std::uint8_t>((view.marker() ? 0x80 : 0) | layer.pt.value_or(view.payloadType()));
  o[2] = osn[0];
  o[3] = osn[1];
  media::store32(o + 4, view.timestamp());
  media::store32(o + 8, *media_ssrc);
  if (csrc_bytes > 0)
    std::memcpy(o + media::kRtpHeaderSize, view.data().data() + media::kRtpHeaderSize, csrc_bytes);
  if (!body.empty()) std::memcpy(o + media::kRtpHeaderSize + csrc_bytes, body.data(), body.size());
  const auto original = media::RtpPacketView::parse(media::ByteSpan(o, length));
  if (!original) {  // e.g. padding longer than what is left after the OSN
    ++stats_.rtx_malformed;
    return;
  }
  if (config_.upstream_nack && in.rx.started()) {
    const std::int64_t ext = in.rx.extend(original->sequenceNumber());
    // Not missing: a resent payload nobody needs (libwebrtc probes with them). One the focus gave up on is
    // still needed: its subscribers NACK it until a keyframe comes (a loaded publisher answered 150 ms late).
    if (ext <= in.rx.highestSeq() && !in.missing.contains(ext) && !in.missing.wasGivenUp(ext)) {
      ++stats_.rtx_redundant_dropped;
      return;
    }
  }
  ++stats_.rtx_unwrapped;
  onMediaRtp(p, in, *original, now);
}

void Router::onMediaRtp(Participant& peer, InStream& stream, const media::RtpPacketView& rtp, TimeMs now,
                        std::optional<std::uint8_t> audio_level) {
  Participant* p = &peer;
  InStream* in = &stream;
  const std::uint32_t ssrc = rtp.ssrc();
  Track& t = *in->track;
  // A padding-only packet is the publisher's own bandwidth probe (libwebrtc pads up to what would enable its
  // next layer): it says nothing about the layer's rate or liveness and is not forwarded (below).
  const bool padding_only = rtp.payload().empty();
  if (!padding_only) {
    t.layers[in->layer].last_packet_at = now;
    t.layers[in->layer].rate_bytes += rtp.size() + kPacketOverhead;
  }
  if (t.video && config_.upstream_nack && in->rx.started()) trackLoss(*p, *in, now, rtp.sequenceNumber());
  in->rx.onPacket(rtp.sequenceNumber(), rtp.timestamp(), now, t.clock_rate);
  if (!t.video && config_.audio_slots > 0) t.activity.onPacket(audio_level, rtp.payload().size());
  if (t.subscribers.empty()) {
    ++stats_.rtp_not_subscribed;
    return;
  }
  if (t.info.muted) {
    ++stats_.rtp_muted;
    return;
  }

  if (padding_only && t.video) {
    // Taken out of each subscriber's numbering (no gap it would NACK), but only while nothing before it is
    // missing: a retransmission of an older packet must still find its place in the numbering (after a
    // skip it could not). Otherwise, and where it does not directly follow the newest packet, forwarded.
    const bool gapless = in->missing.empty();
    bool handled = false;
    for (Subscription* s : t.subscribers) {
      if (gapless && s->rewriter.skipPadding(ssrc, rtp.sequenceNumber())) {
        ++stats_.padding_not_forwarded;
        handled = true;
      } else {
        handled |= forward(*s, rtp, nullptr, false, now);
      }
    }
    if (!handled) ++stats_.rtp_not_subscribed;
    return;
  }

  bool keyframe = true;  // audio, and video codecs we cannot inspect
  std::optional<media::Vp8Descriptor> vp8;
  if (t.video) {
    if (t.codec == VideoCodec::Vp8) {
      vp8 = media::parseVp8Descriptor(rtp.payload());
      keyframe = vp8 && vp8->keyframe;
    } else if (t.codec == VideoCodec::H264) {
      keyframe = media::h264KeyframeStart(rtp.payload());
    }
  }
  if (t.video && keyframe && t.codec != VideoCodec::Other) in->last_keyframe_at = now;
  // The subscriptions live apart on the heap and are usually cold (the loop sleeps between packets): fetch
  // the parts forward() reads first for all of them at once, so their misses overlap.
  for (const Subscription* s : t.subscribers) {
    __builtin_prefetch(s);
    __builtin_prefetch(&s->rewriter);
  }
  bool forwarded = false;
  for (Subscription* s : t.subscribers) {
    forwarded |= forward(*s, rtp, vp8 ? &*vp8 : nullptr, keyframe, now);
  }
  if (!forwarded) ++stats_.rtp_not_subscribed;
}

bool Router::forward(Subscription& s, const media::RtpPacketView& v, const media::Vp8Descriptor* vp8,
                     bool keyframe, TimeMs now) {
  const std::uint32_t ssrc = v.ssrc();
  if (s.rewriter.currentLayer() != ssrc && s.rewriter.targetLayer() != ssrc) return false;
  if (config_.require_live_out_tracks && !s.live) {
    ++stats_.not_live_drops;
    return false;
  }
  if (s.paused) {
    ++stats_.downlink_paused_drops;
    return false;
  }
  if (s.shedding) {
    if (!s.rewriter.switchPending()) {
      s.shedding = false;
    } else if (ssrc == s.rewriter.currentLayer()) {
      ++stats_.downlink_shed_drops;  // the layer that does not fit, while waiting for the lower one
      return false;
    }
  }
  const std::size_t csrc_bytes = 4 * std::size_t{v.csrcCount()};
  const std::size_t body = v.size() - v.headerSize();  // payload + padding
  const std::size_t length = media::kRtpHeaderSize + csrc_bytes + body;
  if (length > config_.max_packet_size) {
    stats_.drops.count(RouterDrop::TooLarge);
    return false;
  }
  media::RewriteDrop why{};
  const auto out = s.rewriter.rewrite(ssrc, v.sequenceNumber(), v.timestamp(), keyframe, now, &why);
  if (!out) {
    stats_.rewrite_drops.count(why);
    return false;
  }

  std::uint8_t* o = rtp_scratch_.data();
  const std::uint8_t* in = v.data().data();
  o[0] = static_cast<std::uint8_t>(0x80 | (v.hasPadding() ? 0x20 : 0) | v.csrcCount());
  o[1] = static_cast<std::uint8_t>((v.marker() ? 0x80 : 0) | (s.pt ? *s.pt : v.payloadType()));
  media::store16(o + 2, out->seq);
  media::store32(o + 4, out->timestamp);
  media::store32(o + 8, s.out.ssrc);
  if (csrc_bytes > 0) std::memcpy(o + media::kRtpHeaderSize, in + media::kRtpHeaderSize, csrc_bytes);
  if (body > 0) std::memcpy(o + media::kRtpHeaderSize + csrc_bytes, in + v.headerSize(), body);

  if (vp8 != nullptr) {
    s.vp8.rewrite(media::MutableByteSpan(o + media::kRtpHeaderSize + csrc_bytes, v.payload().size()), *vp8,
                  out->switched);
  }

  if (s.rtx) {
    const DownlinkController* d = s.owner != nullptr ? s.owner->downlink.get() : nullptr;
    s.rtx->setMaxAgeMs(std::max<TimeMs>(config_.rtx_max_age_ms, d != nullptr ? 3 * d->rttMs() : 0));
    (void)s.rtx->store(out->seq, media::ByteSpan(o, length), now);
  }
  if (out->switched && s.have_out_seq) {
    s.switch_seq = out->seq;
  } else if (s.switch_seq && static_cast<std::uint16_t>(out->seq - *s.switch_seq) >= 0x4000) {
    s.switch_seq.reset();  // long past: before the numbers wrap round to look older than it
  }
  s.have_out_seq = true;
  s.last_marker = v.marker();
  s.last_pt = static_cast<std::uint8_t>(o[1] & 0x7F);
  s.last_ts = out->timestamp;
  ++s.packets;
  s.bytes += length;
  ++stats_.forwarded_packets;
  stats_.forwarded_bytes += length;
  sendToSubscriber(*s.owner, length, now);
  return true;
}

void Router::tick(TimeMs now) {
  for (auto& [id, peer] : peers_) {
    Participant& p = *peer;
    measureLayers(p, now);
    if (config_.publisher_cap_interval_ms > 0) sendPublisherCap(p, now);
    if (p.downlink) {
      sendProbePackets(p, now);
      allocateDownlink(p, now);
    }
    if (p.tcc && now - p.last_tcc_feedback >= config_.transport_cc_interval_ms) sendTransportFeedback(p, now);
    for (auto& [ssrc, in] : p.streams) {
      if (in.keyframe_request_pending && now - in.last_keyframe_request >= config_.pli_throttle_ms) {
        requestKeyframe(p, in, now);
      }
    }
    if (config_.upstream_nack) {
      for (auto& [ssrc, in] : p.streams) {
        if (!in.missing.empty()) sendUpstreamNacks(p, in, now);
      }
    }
    if (p.last_rr && !p.streams.empty() && now - *p.last_rr >= config_.rr_interval_ms) {
      sendReceiverReport(p, now);
    }
  }
  if (config_.audio_slots > 0 && now >= next_audio_rank_) {
    next_audio_rank_ = now + config_.audio_slot_interval_ms;
    rankAudio(now);
  }
  for (auto& [id, peer] : peers_) {
    for (auto& s : peer->slots) {
      if (s->track != nullptr) applyLayer(*s, now);
    }
    for (auto& s : peer->subscriptions) {
      applyLayer(*s, now);
      if (!s->track->video || !s->rewriter.switchPending() || !isLive(*s)) continue;
      Participant* pub = findParticipant(s->out.publisher);
      if (pub == nullptr) continue;
      auto it = pub->streams.find(*s->rewriter.targetLayer());
      if (it != pub->streams.end() && now - it->second.last_keyframe_request >= config_.keyframe_retry_ms) {
        requestKeyframe(*pub, it->second, now);
      }
    }
  }
}

std::vector<PublishedLayerStats> Router::publishedVideoLayers(ParticipantId publisher) const {
  std::vector<PublishedLayerStats> out;
  const Participant* p = findParticipant(publisher);
  if (p == nullptr) return out;
  for (const auto& t : p->tracks) {
    if (!t->video) continue;
    for (const auto& l : t->layers) out.push_back({t->info.mid, l.rid, l.bps});
  }
  return out;
}

}  // namespace chorus::focus
