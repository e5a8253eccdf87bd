#include "focus/router_state.hpp"

#include <cstring>

namespace chorus::focus {

// ---- downlink congestion control ----

std::vector<std::uint32_t> Router::setLiveOutTracks(ParticipantId subscriber,
                                                    std::span<const std::uint32_t> out_ssrcs) {
  std::vector<std::uint32_t> added;
  Participant* p = findParticipant(subscriber);
  if (p == nullptr) return added;
  for (auto* v : {&p->subscriptions, &p->slots}) {
    for (auto& s : *v) {
      const bool live = std::find(out_ssrcs.begin(), out_ssrcs.end(), s->out.ssrc) != out_ssrcs.end();
      if (live && !s->live) added.push_back(s->out.ssrc);
      s->live = live;
    }
  }
  std::sort(added.begin(), added.end());
  return added;
}

void Router::setSubscriberTransportCc(ParticipantId subscriber, std::uint8_t ext_id) {
  Participant& p = peerFor(subscriber);
  if (ext_id == 0 || ext_id == 15) {  // 15 cannot be written in a one-byte block
    if (!p.downlink) return;
    p.downlink.reset();
    for (auto& s : p.subscriptions) {
      s->allocated.reset();
      if (s->paused) {
        s->paused = false;
        s->rewriter.resync();
      }
    }
    return;
  }
  if (!p.downlink) {
    DownlinkConfig c = config_.downlink;
    c.tick_interval_ms = config_.transport_cc_interval_ms;
    p.downlink = std::make_unique<DownlinkController>(c, ext_id);
  }
  p.downlink->setExtensionId(ext_id);
}

void Router::sendToSubscriber(Participant& to, std::size_t length, TimeMs now, int probe_cluster,
                              std::int64_t send_offset_us) {
  if (DownlinkController* d = to.downlink.get()) {
    const media::MutableByteSpan room(rtp_scratch_.data(), rtp_scratch_.size() - kSinkTrailerRoom);
    length = d->onSend(room, length, now, probe_cluster, send_offset_us);
  }
  sink_.sendRtp(to.id, rtp_scratch_, length);
}

void Router::onDownlinkFeedback(Participant& subscriber, const media::TransportCcFeedback& feedback,
                                TimeMs now) {
  ++stats_.downlink_feedbacks;
  subscriber.downlink->onFeedback(feedback, now);
}

void Router::measureLayers(Participant& publisher, TimeMs now) {
  for (auto& t : publisher.tracks) {
    for (auto& l : t->layers) {
      if (l.rate_since == kNever) {
        l.rate_since = now;
        l.rate_bytes = 0;
        continue;
      }
      const TimeMs dt = now - l.rate_since;
      if (dt < kLayerRateWindowMs) continue;
      const auto sample = static_cast<std::int64_t>(l.rate_bytes * 8 * 1000 / static_cast<std::uint64_t>(dt));
      l.bps = l.bps == 0 ? sample : (l.bps + sample) / 2;
      l.rate_bytes = 0;
      l.rate_since = now;
    }
  }
}

std::int64_t Router::defaultLayerBps(const Layer& l) const {
  return config_.layer_default_bps[std::min<std::size_t>(static_cast<std::size_t>(l.quality), 2)];
}

std::int64_t Router::publisherCapBps(const Participant& publisher) const {
  std::int64_t total = 0;
  bool simulcast = false;
  for (const auto& t : publisher.tracks) {
    if (!t->video) {
      total += config_.publisher_cap_audio_bps;
      continue;
    }
    if (t->layers.size() <= 1) return 0;  // one layer: nothing to leave out
    simulcast = true;
    Quality wanted = Quality::Low;
    if (!t->info.muted) {
      for (const Subscription* s : t->subscribers) {
        wanted = std::max(wanted, desiredQuality(t->info, s->width, s->height));
      }
    }
    for (const Layer& l : t->layers) {
      if (l.quality > wanted) continue;
      total +=
          std::max(static_cast<std::int64_t>(config_.publisher_cap_headroom * static_cast<double>(l.bps)),
                   defaultLayerBps(l));
    }
  }
  return simulcast ? total : 0;
}

void Router::sendPublisherCap(Participant& p, TimeMs now) {
  const std::int64_t cap = publisherCapBps(p);
  if (cap <= 0) {
    p.cap_bps = 0;
    return;
  }
  const bool due = now - p.last_cap >= config_.publisher_cap_interval_ms;
  const bool raised = p.cap_bps > 0 && cap * 10 > p.cap_bps * 11;
  if (!due && !raised) return;
  std::array<std::uint32_t, 8> ssrcs{};
  std::size_t n = 0;
  for (const auto& [ssrc, in] : p.streams) {
    if (n < ssrcs.size() && in.track != nullptr && in.track->video) ssrcs[n++] = ssrc;
  }
  if (n == 0) return;  // no video SSRC learnt yet
  const auto size = media::buildRtcpRemb(rtcp_scratch_, config_.focus_ssrc, static_cast<std::uint64_t>(cap),
                                         std::span<const std::uint32_t>(ssrcs.data(), n));
  if (!size) return;
  p.cap_bps = cap;
  p.last_cap = now;
  ++stats_.publisher_caps_sent;
  sink_.sendRtcp(p.id, rtcp_scratch_, *size);
}

std::int64_t Router::publisherCap(ParticipantId publisher) const {
  const Participant* p = findParticipant(publisher);
  return p == nullptr ? 0 : p->cap_bps;
}

// Offers the subscriber's subscriptions to its DownlinkController, which shares the estimate among the
// video ones (media::cc::LayerAllocator), each capped at the layer its requested size wants; applies the
// choices (layer, pause) and lets it start a probe when a step up does not fit.
void Router::allocateDownlink(Participant& sub, TimeMs now) {
  DownlinkController& d = *sub.downlink;
  // A subscriber that accepted the extension but sends no feedback (it may not implement it) keeps the
  // size-only layer choice: its estimate would only decay.
  if (!d.onTick(now)) return;
  alloc_owners_.clear();
  alloc_layers_.resize(std::max(alloc_layers_.size(), sub.subscriptions.size()));
  for (auto& sp : sub.subscriptions) {
    Subscription& s = *sp;
    if (config_.require_live_out_tracks && !s.live) continue;
    const Track& t = *s.track;
    if (t.info.muted) continue;
    if (!t.video) {
      d.addAudio(t.layers.empty() ? 0 : t.layers.front().bps);
      continue;
    }
    const Quality cap = t.layers.size() > 1 ? desiredQuality(t.info, s.width, s.height) : Quality::High;
    auto& index = alloc_layers_[alloc_owners_.size()];
    index.clear();
    for (std::size_t i = 0; i < t.layers.size(); ++i) {
      if (t.layers[i].ssrc) index.push_back(i);
    }
    if (index.empty()) continue;  // nothing learnt yet: chooseLayer has nothing either
    std::stable_sort(index.begin(), index.end(),
                     [&](std::size_t a, std::size_t b) { return t.layers[a].quality < t.layers[b].quality; });
    // Only layers up to what the requested size wants (at least the lowest).
    while (index.size() > 1 && t.layers[index.back()].quality > cap) index.pop_back();
    media::cc::VideoSubscription& v = d.addVideo(s.out.ssrc);
    for (std::size_t i : index) {
      const Layer& l = t.layers[i];
      media::cc::SimulcastLayer layer;
      layer.bitrate_bps = l.bps > 0 ? l.bps : defaultLayerBps(l);
      layer.active = now - l.last_packet_at < config_.layer_stall_ms;
      v.layers.push_back(layer);
    }
    alloc_owners_.push_back(&s);
  }
  const auto choices = d.allocate();
  for (std::size_t i = 0; i < choices.size(); ++i) {
    const auto& c = choices[i];
    Subscription& s = *alloc_owners_[i];
    const auto& index = alloc_layers_[i];
    if (s.pause_grace.pause(c, s.paused, now)) {
      if (!s.paused) {
        s.paused = true;
        ++stats_.downlink_pauses;
      }
      s.allocated.reset();
      continue;
    }
    const std::size_t layer = c.layer ? index[*c.layer] : index.front();
    const bool was_paused = s.paused;
    s.paused = false;
    if (s.allocated != layer) {
      if (s.allocated) {
        ++stats_.downlink_layer_changes;
        const Quality from = s.track->layers[*s.allocated].quality;
        if (s.track->layers[layer].quality > from) d.onUpSwitch(now);
        // Down for lack of bandwidth: stop sending the layer that does not fit until the lower one's
        // keyframe comes, so the queue it built drains and that keyframe gets through.
        if (s.track->layers[layer].quality < from) s.shedding = true;
      }
      s.allocated = layer;
    }
    applyLayer(s, now);
    if (was_paused) {  // resume at a keyframe, continuing the outgoing numbering
      s.rewriter.resync();
      requestKeyframeFor(s, now);
    }
  }
  if (d.endAllocation(now)) ++stats_.probe_clusters;
}

// Probe packets are padding-only RTP packets on one of the subscriber's video streams, numbered in its
// sequence (SimulcastRewriter::padding) so SRTP replay protection passes them, sent between frames or while
// the stream is paused; the subscriber drops them, but its transport-cc feedback reports their arrival, which
// is all a probe needs. They are stored like media packets, so a NACK for one is answered. Where the
// subscriber accepted RTX for that stream they go on its RTX SSRC instead (RTX payload type and numbering, as
// libwebrtc pads): the media numbering then has no holes the receiver could NACK. A cluster goes out over at
// least two ticks.
void Router::sendProbePackets(Participant& sub, TimeMs now) {
  DownlinkController& d = *sub.downlink;
  const auto burst = d.probeBurst();
  if (!burst) return;
  Subscription* source = nullptr;
  bool any = false;
  for (auto& s : sub.subscriptions) {
    if (!s->track->video || !s->have_out_seq) continue;
    if (config_.require_live_out_tracks && !s->live) continue;
    any = true;
    if (s->paused || s->last_marker) {
      source = s.get();
      break;
    }
  }
  if (!any) {
    d.cancelProbe();  // nothing to probe on
    return;
  }
  if (source == nullptr) return;  // mid-frame everywhere: next tick
  const bool h264 = source->track->codec == VideoCodec::H264;
  const std::uint8_t rtx_pt = h264 ? sub.rtx_h264_pt : sub.rtx_video_pt;
  const bool on_rtx = rtx_pt != 0 && source->out.rtx_ssrc != 0;
  for (std::size_t i = 0; i < burst->packets; ++i) {
    std::uint8_t* o = rtp_scratch_.data();
    std::memset(o, 0, kProbePacketSize);
    o[0] = 0x80 | 0x20;  // V=2, P
    o[kProbePacketSize - 1] = static_cast<std::uint8_t>(kProbePadding);
    if (on_rtx) {
      o[1] = rtx_pt;
      media::store16(o + 2, source->rtx_seq++);
      media::store32(o + 4, source->last_ts);
      media::store32(o + 8, source->out.rtx_ssrc);
    } else {
      const auto out = source->rewriter.padding();
      if (!out) break;
      o[1] = source->last_pt;
      media::store16(o + 2, out->seq);
      media::store32(o + 4, out->timestamp);
      media::store32(o + 8, source->out.ssrc);
      if (source->rtx) (void)source->rtx->store(out->seq, media::ByteSpan(o, kProbePacketSize), now);
    }
    ++stats_.probe_packets;
    d.onProbeSent();
    sendToSubscriber(sub, kProbePacketSize, now, burst->cluster,
                     static_cast<std::int64_t>(i) * burst->spacing_us);
  }
}

std::optional<DownlinkStats> Router::downlinkStats(ParticipantId subscriber) const {
  const Participant* p = findParticipant(subscriber);
  if (p == nullptr || !p->downlink) return std::nullopt;
  return p->downlink->stats();
}

}  // namespace chorus::focus
