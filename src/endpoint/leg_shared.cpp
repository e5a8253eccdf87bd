#include "endpoint/leg_shared.hpp"

#include <gst/video/video.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "base/log.hpp"
#include "endpoint/gst_ptr.hpp"

namespace chorus::endpoint {
namespace {

constexpr const char* kLegTag = "endpoint";

ConnectionState fromPcState(GstWebRTCPeerConnectionState s) {
  switch (s) {
    case GST_WEBRTC_PEER_CONNECTION_STATE_NEW:
      return ConnectionState::New;
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTING:
      return ConnectionState::Connecting;
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED:
      return ConnectionState::Connected;
    case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED:
      return ConnectionState::Disconnected;
    case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
      return ConnectionState::Failed;
    case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED:
      return ConnectionState::Closed;
  }
  return ConnectionState::New;
}

}  // namespace

LegShared::~LegShared() {
  if (channel != nullptr) g_object_unref(channel);
  for (GstElement* d : ssrc_demuxers) gst_object_unref(d);
  for (auto& c : decode_chains) {
    if (c.webrtc_pad != nullptr) gst_object_unref(c.webrtc_pad);
  }
}

void LegShared::markNegotiationNeeded() {
  std::lock_guard lock(mu);
  if (!established || negotiation_pending || closed) return;
  negotiation_pending = true;
  events->push(NegotiationNeeded{id});
}

void LegShared::updateStateLocked() {
  ConnectionState s = fromPcState(pc_state);
  if (ice_state == GST_WEBRTC_ICE_CONNECTION_STATE_FAILED) s = ConnectionState::Failed;
  if (ice_state == GST_WEBRTC_ICE_CONNECTION_STATE_DISCONNECTED && s == ConnectionState::Connected) {
    s = ConnectionState::Disconnected;
  }
  if (s == state) return;
  state = s;
  CHORUS_LOG(Debug, kLegTag, "leg " << id << " state " << toString(s));
  emitLocked(LegState{id, s});
}

namespace {

// ---- GStreamer callbacks. user_data is a heap std::weak_ptr<LegShared> owned by the closure. ----
using WeakLeg = std::weak_ptr<LegShared>;

void deleteWeakLeg(gpointer data, GClosure*) {
  delete static_cast<WeakLeg*>(data);
}

std::shared_ptr<LegShared> lockLeg(gpointer data) {
  return static_cast<WeakLeg*>(data)->lock();
}

void onNegotiationNeeded(GstElement*, gpointer data) {
  if (auto leg = lockLeg(data); leg && leg->follow_webrtcbin_negotiation_needed) leg->markNegotiationNeeded();
}

void onIceCandidate(GstElement*, guint mline, gchar* candidate, gpointer data) {
  auto leg = lockLeg(data);
  if (!leg || candidate == nullptr) return;
  std::lock_guard lock(leg->mu);
  LocalCandidate c{leg->id, candidate, std::nullopt, mline};
  if (leg->local_sdp) c.sdp_mid = leg->local_sdp->midOfMlineIndex(mline);
  leg->emitAfterDescriptionLocked(std::move(c));
}

void onGatheringState(GObject* obj, GParamSpec*, gpointer data) {
  auto leg = lockLeg(data);
  if (!leg) return;
  GstWebRTCICEGatheringState s{};
  g_object_get(obj, "ice-gathering-state", &s, nullptr);
  if (s != GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) return;
  std::lock_guard lock(leg->mu);
  leg->emitAfterDescriptionLocked(GatheringComplete{leg->id});
}

void onIceConnectionState(GObject* obj, GParamSpec*, gpointer data) {
  auto leg = lockLeg(data);
  if (!leg) return;
  GstWebRTCICEConnectionState s{};
  g_object_get(obj, "ice-connection-state", &s, nullptr);
  std::lock_guard lock(leg->mu);
  leg->ice_state = s;
  leg->updateStateLocked();
}

void onConnectionState(GObject* obj, GParamSpec*, gpointer data) {
  auto leg = lockLeg(data);
  if (!leg) return;
  GstWebRTCPeerConnectionState s{};
  g_object_get(obj, "connection-state", &s, nullptr);
  std::lock_guard lock(leg->mu);
  leg->pc_state = s;
  leg->updateStateLocked();
}

// Counts decoded frames; samples them to tell silence / black apart (what a muted peer sends).
struct DecodeProbe {
  std::shared_ptr<LegShared> leg;
  std::shared_ptr<StreamCounters> stream;
  MediaKind kind{MediaKind::Audio};
  bool h264{false};        // the stream is H.264 (counted in h264_frames too)
  GstCaps* caps{nullptr};  // Owned; the caps `info` was read from.
  GstVideoInfo info{};
  ~DecodeProbe() {
    if (caps != nullptr) gst_caps_unref(caps);
  }
};

void deleteDecodeProbe(gpointer data) {
  delete static_cast<DecodeProbe*>(data);
}

bool isSilent(GstBuffer* buf) {
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) return false;
  const auto* samples = reinterpret_cast<const std::int16_t*>(map.data);  // opusdec outputs S16LE
  std::size_t n = map.size / 2;
  int peak = 0;
  for (std::size_t i = 0; i < n; ++i) peak = std::max(peak, std::abs(static_cast<int>(samples[i])));
  gst_buffer_unmap(buf, &map);
  return peak < 328;  // < 1 % of full scale
}

bool isBlack(GstBuffer* buf, GstVideoInfo* info) {
  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, info, buf, GST_MAP_READ)) return false;
  const auto* y = static_cast<const std::uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0));
  const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
  const int w = GST_VIDEO_FRAME_COMP_WIDTH(&frame, 0);
  const int h = GST_VIDEO_FRAME_COMP_HEIGHT(&frame, 0);
  std::uint64_t sum = 0;
  std::uint64_t count = 0;
  for (int row = 0; row < h; row += 8) {
    for (int col = 0; col < w; col += 8) {
      sum += y[row * stride + col];
      ++count;
    }
  }
  gst_video_frame_unmap(&frame);
  return count > 0 && sum / count < 40;
}

GstPadProbeReturn onDecoded(GstPad* pad, GstPadProbeInfo* info, gpointer data) {
  auto* p = static_cast<DecodeProbe*>(data);
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  if (buf == nullptr) return GST_PAD_PROBE_OK;
  if (p->kind == MediaKind::Audio) {
    p->leg->audio_frames.fetch_add(1, std::memory_order_relaxed);
    p->stream->audio_frames.fetch_add(1, std::memory_order_relaxed);
    if (isSilent(buf)) {
      p->leg->audio_silent.fetch_add(1, std::memory_order_relaxed);
      p->stream->audio_silent.fetch_add(1, std::memory_order_relaxed);
    }
    return GST_PAD_PROBE_OK;
  }
  p->leg->video_frames.fetch_add(1, std::memory_order_relaxed);
  p->stream->video_frames.fetch_add(1, std::memory_order_relaxed);
  if (p->h264) p->stream->h264_frames.fetch_add(1, std::memory_order_relaxed);
  GstCaps* caps = gst_pad_get_current_caps(pad);
  if (caps != nullptr && caps != p->caps) {
    if (p->caps != nullptr) gst_caps_unref(p->caps);
    p->caps = gst_caps_ref(caps);
    if (!gst_video_info_from_caps(&p->info, caps)) {
      gst_caps_unref(p->caps);
      p->caps = nullptr;
    }
  }
  if (caps != nullptr) gst_caps_unref(caps);
  if (p->caps != nullptr && isBlack(buf, &p->info)) {
    p->leg->video_black.fetch_add(1, std::memory_order_relaxed);
    p->stream->video_black.fetch_add(1, std::memory_order_relaxed);
  }
  return GST_PAD_PROBE_OK;
}

// Counts the RTP packets of one incoming stream (on the depayloader's sink pad, after SRTP).
void deleteStreamCounters(gpointer data) {
  delete static_cast<std::shared_ptr<StreamCounters>*>(data);
}

GstPadProbeReturn onRtpIn(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto& s = **static_cast<std::shared_ptr<StreamCounters>*>(data);
  if ((info->type & GST_PAD_PROBE_TYPE_BUFFER) != 0) {
    GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
    s.packets.fetch_add(1, std::memory_order_relaxed);
    s.bytes.fetch_add(gst_buffer_get_size(buf), std::memory_order_relaxed);
  } else if ((info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) != 0) {
    GstBufferList* list = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
    const guint n = gst_buffer_list_length(list);
    for (guint i = 0; i < n; ++i) {
      s.packets.fetch_add(1, std::memory_order_relaxed);
      s.bytes.fetch_add(gst_buffer_get_size(gst_buffer_list_get(list, i)), std::memory_order_relaxed);
    }
  }
  return GST_PAD_PROBE_OK;
}

// The SSRC of the rtpbin payload pad behind webrtcbin's src pad ("recv_rtp_src_<session>_<ssrc>_<pt>").
std::optional<std::uint32_t> ssrcOfPad(GstPad* pad) {
  if (!GST_IS_GHOST_PAD(pad)) return std::nullopt;
  GstPad* target = gst_ghost_pad_get_target(GST_GHOST_PAD(pad));
  if (target == nullptr) return std::nullopt;
  unsigned session = 0;
  unsigned long ssrc = 0;
  unsigned pt = 0;
  const bool ok = std::sscanf(GST_OBJECT_NAME(target), "recv_rtp_src_%u_%lu_%u", &session, &ssrc, &pt) == 3;
  gst_object_unref(target);
  if (!ok || ssrc > 0xffffffffUL) return std::nullopt;
  return static_cast<std::uint32_t>(ssrc);
}

bool hasElementFactory(const char* name) {
  GstElementFactory* f = gst_element_factory_find(name);
  if (f == nullptr) return false;
  gst_object_unref(f);
  return true;
}

// The depayloader, [parser,] decoder for an incoming RTP encoding-name, in link order; empty for a codec we
// do not decode. An element that cannot be made is a nullptr (the caller then decodes nothing).
std::vector<GstElement*> decodeChainFor(const std::string& enc) {
  if (enc == "OPUS") return {makeElement("rtpopusdepay", ""), makeElement("opusdec", "", {{"plc", "true"}})};
  if (enc == "VP8") {
    return {makeElement("rtpvp8depay", "", {{"request-keyframe", "true"}, {"wait-for-keyframe", "true"}}),
            makeElement("vp8dec", "")};
  }
  if (enc == "H264") {
    // Access units for the decoder (openh264dec takes byte-stream/au); a lost packet asks for a keyframe
    // (PLI) and drops frames until one arrives, as for VP8.
    return {makeElement("rtph264depay", "", {{"request-keyframe", "true"}, {"wait-for-keyframe", "true"}}),
            makeElement("h264parse", ""),
            h264DecoderName() != nullptr ? makeElement(h264DecoderName(), "") : nullptr};
  }
  return {};
}

// A new incoming stream: depayload + decode + count, to a fakesink, and tell the caller.
void onPadAdded(GstElement*, GstPad* pad, gpointer data) {
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  auto leg = lockLeg(data);
  if (!leg) return;
  std::optional<proto::SdpSummary> remote;
  ElementPtr bin_ref;  // keeps the leg bin alive while we add to it, even if the leg closes meanwhile
  {
    std::lock_guard lock(leg->mu);
    if (leg->closed) return;
    remote = leg->remote_sdp;
    bin_ref = addRef(leg->bin);
  }
  CapsPtr caps(gst_pad_get_current_caps(pad));
  if (!caps) caps.reset(gst_pad_query_caps(pad, nullptr));
  const GstStructure* s =
      caps && !gst_caps_is_empty(caps.get()) ? gst_caps_get_structure(caps.get(), 0) : nullptr;
  const char* media = s != nullptr ? gst_structure_get_string(s, "media") : nullptr;
  const char* encoding = s != nullptr ? gst_structure_get_string(s, "encoding-name") : nullptr;
  const std::string enc = encoding != nullptr ? encoding : "";
  const MediaKind kind =
      media != nullptr && std::strcmp(media, "video") == 0 ? MediaKind::Video : MediaKind::Audio;

  std::string mid;
  std::string stream_id;
  {
    GstWebRTCRTPTransceiver* trans = nullptr;
    g_object_get(pad, "transceiver", &trans, nullptr);
    if (trans != nullptr) {
      gchar* m = nullptr;
      g_object_get(trans, "mid", &m, nullptr);
      mid = takeString(m);
      g_object_unref(trans);
    }
    gchar* msid = nullptr;
    g_object_get(pad, "msid", &msid, nullptr);
    stream_id = takeString(msid);
  }
  // Which section the stream belongs to, by its SSRC in the remote description. webrtcbin 1.22 hands a stream
  // out on the first m-line's transceiver when it met the SSRC (in RTP or a sender report) before the
  // description that names it; the description is the truth.
  const std::optional<std::uint32_t> ssrc = ssrcOfPad(pad);
  if (ssrc && remote) {
    if (auto idx = remote->mlineIndexOfSsrc(*ssrc)) {
      const proto::SdpMedia& m = remote->media[*idx];
      if (m.mid != mid || (!m.stream_id.empty() && m.stream_id != stream_id)) {
        CHORUS_LOG(Info, kLegTag,
                   "leg " << leg->id << ": SSRC " << *ssrc << " came out on mid " << mid
                          << "; the description puts it in mid " << m.mid << " (stream " << m.stream_id
                          << ")");
        mid = m.mid;
        if (!m.stream_id.empty()) stream_id = m.stream_id;
      }
    }
  }
  if (stream_id.empty() && remote) {
    if (auto idx = remote->mlineIndexOfMid(mid)) stream_id = remote->media[*idx].stream_id;
  }
  std::shared_ptr<StreamCounters> counters;
  {
    std::lock_guard lock(leg->mu);
    if (auto r = ssrc ? std::find(leg->released_ssrcs.begin(), leg->released_ssrcs.end(), *ssrc)
                      : leg->released_ssrcs.end();
        r != leg->released_ssrcs.end()) {
      leg->released_ssrcs.erase(r);
      ++leg->sources_resumed;
      CHORUS_LOG(Warn, kLegTag,
                 "leg " << leg->id << ": SSRC " << *ssrc << " (mid " << mid
                        << ") is back after it was released as ended; it gets a new decode chain");
    }
    auto& slot = leg->streams[stream_id];
    if (!slot) slot = std::make_shared<StreamCounters>();
    counters = slot;
  }

  GstBin* bin = GST_BIN(bin_ref.get());
  // The decode chain: depayloader, [parser,] decoder (in link order).
  std::vector<GstElement*> decode = decodeChainFor(enc);
  GstElement* sink = makeElement(
      "fakesink", "",
      {{"sync", "false"}, {"async", "false"}, {"enable-last-sample", "false"}});  // keeps no frame (or pool)
  const bool complete =
      !decode.empty() && std::find(decode.begin(), decode.end(), nullptr) == decode.end() && sink != nullptr;
  if (complete) {
    for (GstElement* e : decode) gst_bin_add(bin, e);
    gst_bin_add(bin, sink);
    bool linked = true;
    for (std::size_t i = 0; i + 1 < decode.size(); ++i)
      linked = linked && gst_element_link(decode[i], decode[i + 1]);
    linked = linked && gst_element_link(decode.back(), sink);
    if (!linked)
      CHORUS_LOG(Warn, kLegTag, "leg " << leg->id << ": cannot link the " << enc << " decode chain");
    PadPtr dec_src(gst_element_get_static_pad(decode.back(), "src"));
    gst_pad_add_probe(dec_src.get(), GST_PAD_PROBE_TYPE_BUFFER, onDecoded,
                      new DecodeProbe{leg, counters, kind, enc == "H264"}, deleteDecodeProbe);
    PadPtr depay_sink(gst_element_get_static_pad(decode.front(), "sink"));
    gst_pad_add_probe(
        depay_sink.get(),
        static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST), onRtpIn,
        new std::shared_ptr<StreamCounters>(counters), deleteStreamCounters);
    gst_element_sync_state_with_parent(sink);
    for (auto it = decode.rbegin(); it != decode.rend(); ++it) gst_element_sync_state_with_parent(*it);
    if (gst_pad_link(pad, depay_sink.get()) != GST_PAD_LINK_OK) {
      CHORUS_LOG(Warn, kLegTag, "leg " << leg->id << ": cannot link incoming " << enc << " stream");
    }
  } else {
    for (GstElement* e : decode) {
      if (e != nullptr) gst_object_unref(e);
    }
    decode.clear();
    CHORUS_LOG(Warn, kLegTag,
               "leg " << leg->id << ": incoming " << enc << " not decoded (unsupported codec)");
    gst_bin_add(bin, sink);
    gst_element_sync_state_with_parent(sink);
    PadPtr sinkpad(gst_element_get_static_pad(sink, "sink"));
    gst_pad_link(pad, sinkpad.get());
  }
  CHORUS_LOG(Debug, kLegTag,
             "leg " << leg->id << ": remote " << toString(kind) << " stream " << stream_id << " mid " << mid
                    << " (" << enc << ")");
  std::lock_guard lock(leg->mu);
  std::vector<GstElement*> chain;
  decode.push_back(sink);
  for (GstElement* e : decode) {
    if (e != nullptr && GST_OBJECT_PARENT(e) == GST_OBJECT(bin)) chain.push_back(e);
  }
  leg->decode_chains.push_back(
      LegShared::DecodeChain{GST_PAD(gst_object_ref(pad)), mid, std::move(chain), counters,
                             counters->packets.load(std::memory_order_relaxed), ssrc});
  // Counters of streams that are gone (no chain holds them any more) are forgotten past a bound.
  constexpr std::size_t kMaxRemembered = 256;
  if (leg->streams.size() > kMaxRemembered) {
    std::erase_if(leg->streams, [](const auto& kv) { return kv.second.use_count() == 1; });
  }
  leg->emitLocked(RemoteStream{leg->id, stream_id, kind, mid});
}

// ---- Data channel. ----
void channelOpened(GstWebRTCDataChannel* channel, LegShared& leg) {
  gchar* label = nullptr;
  g_object_get(channel, "label", &label, nullptr);
  std::string text = takeString(label);
  std::lock_guard lock(leg.mu);
  if (leg.channel != channel || leg.channel_open) return;
  leg.channel_open = true;
  leg.emitLocked(DataChannelOpen{leg.id, std::move(text)});
}

void onChannelOpen(GstWebRTCDataChannel* channel, gpointer data) {
  if (auto leg = lockLeg(data)) channelOpened(channel, *leg);
}

void onChannelMessage(GstWebRTCDataChannel* channel, gchar* text, gpointer data) {
  auto leg = lockLeg(data);
  if (!leg || text == nullptr) return;
  std::lock_guard lock(leg->mu);
  if (leg->channel != channel) return;
  leg->dc_received.fetch_add(1, std::memory_order_relaxed);
  leg->emitLocked(DataChannelMessage{leg->id, text});
}

void onChannelClose(GstWebRTCDataChannel* channel, gpointer data) {
  auto leg = lockLeg(data);
  if (!leg) return;
  std::lock_guard lock(leg->mu);
  if (leg->channel != channel || !leg->channel_open) return;
  leg->channel_open = false;
  leg->emitLocked(DataChannelClosed{leg->id});
}

void onChannelError(GstWebRTCDataChannel* channel, GError* err, gpointer data) {
  auto leg = lockLeg(data);
  if (!leg) return;
  std::lock_guard lock(leg->mu);
  if (leg->channel != channel) return;
  leg->emitLocked(
      LegError{leg->id, std::string("data channel: ") + (err != nullptr ? err->message : "error")});
}

void onDataChannel(GstElement*, GstWebRTCDataChannel* channel, gpointer data) {
  if (auto leg = lockLeg(data)) adoptDataChannel(channel, leg);
}

bool hasFactory(GstElement* e, const char* name) {
  GstElementFactory* factory = gst_element_get_factory(e);
  return factory != nullptr && std::strcmp(GST_OBJECT_NAME(factory), name) == 0;
}

// Remembers the SSRC demuxers of webrtcbin's rtpbin. rtpbin's own
// `autoremove` is not used: it also frees a source that merely paused past its RTCP timeout, and when that
// source resumes webrtcbin 1.22 cannot re-add the payload pad ("Padname recv_rtp_src_… is not unique"), the
// stream fails not-linked and takes the leg's ICE transport with it.
void noteSsrcDemux(GstElement* e, const std::shared_ptr<LegShared>& leg) {
  if (!hasFactory(e, "rtpssrcdemux")) return;
  std::lock_guard lock(leg->mu);
  constexpr std::size_t kMaxSessions = 64;  // one per m-line at most when not bundled
  if (leg->ssrc_demuxers.size() >= kMaxSessions ||
      std::find(leg->ssrc_demuxers.begin(), leg->ssrc_demuxers.end(), e) != leg->ssrc_demuxers.end()) {
    return;
  }
  leg->ssrc_demuxers.push_back(GST_ELEMENT(gst_object_ref(e)));
}

void onRtpBinChildAdded(GstBin*, GstElement* child, gpointer data) {
  if (auto leg = lockLeg(data)) noteSsrcDemux(child, leg);
}

void watchRtpBin(GstElement* child, const std::shared_ptr<LegShared>& leg) {
  if (!hasFactory(child, "rtpbin")) return;
  g_signal_connect_data(child, "element-added", G_CALLBACK(onRtpBinChildAdded), new WeakLeg(leg),
                        deleteWeakLeg, GConnectFlags{});
  GstIterator* it = gst_bin_iterate_elements(GST_BIN(child));
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    noteSsrcDemux(GST_ELEMENT(g_value_get_object(&item)), leg);
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(it);
}

void onWebrtcChildAdded(GstBin*, GstElement* child, gpointer data) {
  if (auto leg = lockLeg(data)) watchRtpBin(child, leg);
}

}  // namespace

const char* h264DecoderName() {
  // avdec_h264 (gstreamer1.0-libav) when installed: primary rank, decodes every profile; else openh264dec
  // (gstreamer1.0-plugins-bad with libopenh264, constrained baseline / main: what WebRTC senders use).
  static const char* const name = hasElementFactory("avdec_h264")    ? "avdec_h264"
                                  : hasElementFactory("openh264dec") ? "openh264dec"
                                                                     : nullptr;
  return name;
}

bool canDecodeH264() {
  static const bool ok =
      h264DecoderName() != nullptr && hasElementFactory("rtph264depay") && hasElementFactory("h264parse");
  return ok;
}

namespace {
// Removes rtpbin's payload pads of one source (recv_rtp_src_<session>_<ssrc>_<pt>, any session and pt).
void removeSourcePads(GstElement* rtpbin, std::uint32_t ssrc) {
  std::vector<GstPad*> stale;
  GstIterator* it = gst_element_iterate_src_pads(rtpbin);
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    auto* pad = GST_PAD(g_value_get_object(&item));
    unsigned session = 0;
    unsigned long pad_ssrc = 0;
    unsigned pt = 0;
    if (std::sscanf(GST_OBJECT_NAME(pad), "recv_rtp_src_%u_%lu_%u", &session, &pad_ssrc, &pt) == 3 &&
        pad_ssrc == ssrc) {
      stale.push_back(GST_PAD(gst_object_ref(pad)));
    }
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(it);
  for (GstPad* pad : stale) {
    gst_pad_set_active(pad, FALSE);
    gst_element_remove_pad(rtpbin, pad);
    gst_object_unref(pad);
  }
}
}  // namespace

std::size_t releaseEndedDecodeChains(LegShared& leg) {
  std::vector<LegShared::DecodeChain> ended;
  std::vector<ElementPtr> demuxers;
  {
    std::lock_guard lock(leg.mu);
    if (leg.closed) return 0;
    for (GstElement* d : leg.ssrc_demuxers) demuxers.push_back(addRef(d));
    // A source has ended when the remote description no longer sends on its section: the mid is gone
    // (recycled), the section is rejected (port 0 outside the BUNDLE group; what the focus does when a
    // publisher leaves; a bundled port 0 is max-bundle, live) or it is recvonly/inactive. (rtpbin frees the
    // source's jitterbuffer on its BYE or timeout, but webrtcbin 1.22 keeps its pads, so pads cannot tell.)
    // Says why (for the log), or nullptr while the section still sends.
    auto gone = [&](const LegShared::DecodeChain& c) -> const char* {
      if (!leg.remote_sdp || c.mid.empty()) return nullptr;
      const auto idx = leg.remote_sdp->mlineIndexOfMid(c.mid);
      if (!idx) return "its mid is gone";
      const auto& m = leg.remote_sdp->media[*idx];
      if (m.rejected()) return "its section is rejected";
      if (m.direction == "recvonly" || m.direction == "inactive") return "its section no longer sends";
      return nullptr;
    };
    for (auto& c : leg.decode_chains) {
      // ... and nothing arrived for its stream since the last sweep (a description can say less than the
      // wire does, e.g. a mesh peer that sends on a section it answered recvonly).
      const std::uint64_t packets = c.counters ? c.counters->packets.load(std::memory_order_relaxed) : 0;
      const bool idle = packets == c.packets_seen;
      c.packets_seen = packets;
      if (!idle) continue;
      if (const char* why = gone(c)) {
        CHORUS_LOG(Info, kLegTag,
                   "leg " << leg.id << ": remote stream on mid " << c.mid << " (SSRC "
                          << (c.ssrc ? std::to_string(*c.ssrc) : std::string("?")) << ") ended: " << why
                          << ", and nothing arrived for it since the last sweep");
        ended.push_back(std::exchange(c, LegShared::DecodeChain{}));
      }
    }
    std::erase_if(leg.decode_chains, [](const LegShared::DecodeChain& c) { return c.webrtc_pad == nullptr; });
  }
  for (auto& c : ended) {
    // rtpbin drops the source's jitterbuffer and payload demuxer. (The focus never resumes an SSRC it ended:
    // a new subscription gets a new one.) rtpbin 1.22 keeps its ghost pad for the source's payload
    // ("recv_rtp_src_<session>_<ssrc>_<pt>", now without a target): if the source came back, rtpbin could not
    // add that pad again ("Padname ... is not unique"), the stream would fail not-linked and take the leg's
    // receive transport with it. So the stale pad goes too, and a source that resumes gets a new pad (and
    // webrtcbin a new src pad, a new decode chain here).
    for (const auto& d : demuxers) {
      if (!c.ssrc) continue;
      g_signal_emit_by_name(d.get(), "clear-ssrc", static_cast<guint>(*c.ssrc));
      if (GstObject* rtpbin = gst_object_get_parent(GST_OBJECT(d.get()))) {
        removeSourcePads(GST_ELEMENT(rtpbin), *c.ssrc);
        gst_object_unref(rtpbin);
      }
    }
    if (c.ssrc) {
      std::lock_guard lock(leg.mu);
      if (leg.released_ssrcs.size() >= LegShared::kMaxReleasedSsrcs) leg.released_ssrcs.pop_front();
      leg.released_ssrcs.push_back(*c.ssrc);
    }
    ++leg.sources_released;
    // The depayloader and decoder go (with the decoder's buffer pool, its fds and frames); the sink stays,
    // linked straight to webrtcbin's pad, so that anything webrtcbin still pushes there is swallowed rather
    // than failing its stream as not-linked.
    if (c.elements.size() >= 2) {
      for (std::size_t i = 0; i + 1 < c.elements.size(); ++i) {
        GstElement* e = c.elements[i];
        gst_element_set_state(e, GST_STATE_NULL);
        if (GST_OBJECT_PARENT(e) == GST_OBJECT(leg.bin)) gst_bin_remove(GST_BIN(leg.bin), e);
      }
      GstPad* sinkpad = gst_element_get_static_pad(c.elements.back(), "sink");
      if (sinkpad != nullptr) {
        if (gst_pad_link(c.webrtc_pad, sinkpad) != GST_PAD_LINK_OK) {
          CHORUS_LOG(Debug, kLegTag, "leg " << leg.id << ": cannot relink an ended stream's pad to its sink");
        }
        gst_object_unref(sinkpad);
      }
    }
    gst_object_unref(c.webrtc_pad);
  }
  if (!ended.empty()) {
    CHORUS_LOG(Debug, kLegTag,
               "leg " << leg.id << ": released " << ended.size() << " ended remote stream(s)");
  }
  return ended.size();
}

void adoptDataChannel(GstWebRTCDataChannel* channel, const std::shared_ptr<LegShared>& leg) {
  {
    std::lock_guard lock(leg->mu);
    if (leg->closed || leg->channel != nullptr) return;
    leg->channel = GST_WEBRTC_DATA_CHANNEL(g_object_ref(channel));
  }
  auto connect = [&](const char* signal, GCallback cb) {
    g_signal_connect_data(channel, signal, cb, new WeakLeg(leg), deleteWeakLeg, GConnectFlags{});
  };
  connect("on-open", G_CALLBACK(onChannelOpen));
  connect("on-message-string", G_CALLBACK(onChannelMessage));
  connect("on-close", G_CALLBACK(onChannelClose));
  connect("on-error", G_CALLBACK(onChannelError));
  // A channel the peer opened is usually open already when webrtcbin hands it over.
  GstWebRTCDataChannelState state{};
  g_object_get(channel, "ready-state", &state, nullptr);
  if (state == GST_WEBRTC_DATA_CHANNEL_STATE_OPEN) channelOpened(channel, *leg);
}

void connectLegSignals(GstElement* webrtc, const std::shared_ptr<LegShared>& leg) {
  auto connect = [&](const char* signal, GCallback cb) {
    g_signal_connect_data(webrtc, signal, cb, new WeakLeg(leg), deleteWeakLeg, GConnectFlags{});
  };
  connect("on-negotiation-needed", G_CALLBACK(onNegotiationNeeded));
  connect("on-ice-candidate", G_CALLBACK(onIceCandidate));
  connect("notify::ice-gathering-state", G_CALLBACK(onGatheringState));
  connect("notify::ice-connection-state", G_CALLBACK(onIceConnectionState));
  connect("notify::connection-state", G_CALLBACK(onConnectionState));
  connect("pad-added", G_CALLBACK(onPadAdded));
  // Ended RTP sources are freed with their jitterbuffer (two threads each) and decode chain by
  // releaseEndedDecodeChains(), through rtpbin's SSRC demuxer; without this a participant that stays keeps
  // them for everyone who ever left. webrtcbin adds its rtpbin when it starts, so look for it now and as
  // children are added.
  connect("element-added", G_CALLBACK(onWebrtcChildAdded));
  GstIterator* it = gst_bin_iterate_elements(GST_BIN(webrtc));
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    watchRtpBin(GST_ELEMENT(g_value_get_object(&item)), leg);
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(it);
  connect("on-data-channel", G_CALLBACK(onDataChannel));
}

}  // namespace chorus::endpoint
