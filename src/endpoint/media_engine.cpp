#include "endpoint/media_engine.hpp"

#include <malloc.h>

#include <gst/video/video.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "base/log.hpp"
#include "endpoint/event_queue.hpp"
#include "endpoint/gst_ptr.hpp"
#include "endpoint/leg_shared.hpp"
#include "endpoint/webrtc_stats.hpp"
#include "proto/sdp_summary.hpp"

namespace chorus::endpoint {
namespace {

constexpr const char* kEngineTag = "endpoint";
constexpr int kOpusPt = 111;  // Chromium's defaults, so answers to browsers need no remapping
constexpr int kVp8Pt = 96;
constexpr int kH264Pt = 102;
// Transport-wide congestion control: the RTP header extension webrtcbin's payloaders write (rtphdrexttwcc,
// created from the "extmap-N" field of the codec-preferences) and rtpbin answers with RTCP transport-cc
// feedback. 3 is Chromium's id for it.
constexpr int kTwccExtId = 3;
constexpr const char* kTwccUri =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";  // Chromium's number for
                                                                                  // H.264
                                                                                  // packetization-mode=1
                                                                                  // (profile 42001f there)

std::string randomStreamId() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
  static const char* hex = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) id += '-';
    id += hex[gen() & 15];
  }
  return id;  // UUID-shaped, like a browser MediaStream id
}

// What we send with MediaConfig::send_h264: packetization-mode=1 (what the focus forwards). The
// profile-level-id is rtph264pay's, from the encoder's SPS (constrained baseline; a fixed one here would not
// intersect).
std::string h264Caps(int pt) {
  return "application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=" + std::to_string(pt) +
         ",packetization-mode=(string)1,rtcp-fb-nack-pli=(boolean)true,rtcp-fb-ccm-fir=(boolean)true";
}

// The transceiver's codec-preferences. The ssrc makes webrtcbin 1.22 write "a=ssrc:<n> msid:<stream> <track>"
// into every offer, even before the first buffer reached the pad (it takes ssrcs from these caps). `pt` is
// the sent codec's: Opus, VP8, or H.264 when `send_h264`. `twcc_id`: the transport-cc extension's id (0:
// none).
CapsPtr codecCaps(MediaKind kind, int pt, std::uint32_t ssrc, bool send_h264, int twcc_id) {
  std::string s;
  if (kind == MediaKind::Audio) {
    s = "application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,encoding-params=(string)2,"
        "payload=" +
        std::to_string(pt);
  } else if (send_h264) {
    s = h264Caps(pt);
  } else {
    s = "application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=" + std::to_string(pt) +
        ",rtcp-fb-nack-pli=(boolean)true,rtcp-fb-ccm-fir=(boolean)true";
  }
  s += ",ssrc=(uint)" + std::to_string(ssrc);
  if (twcc_id > 0) s += ",extmap-" + std::to_string(twcc_id) + "=(string)" + kTwccUri;
  return CapsPtr(gst_caps_from_string(s.c_str()));
}

// The id of the transport-cc extension ("a=extmap:<id>[/<direction>] <kTwccUri>") in m-section `index` of
// `sdp`; 0 when it has none.
int twccExtmapId(std::string_view sdp, std::size_t index) {
  std::size_t pos = 0;
  for (std::size_t i = 0;; ++i) {
    pos = sdp.find("\nm=", pos);
    if (pos == std::string_view::npos) return 0;
    ++pos;
    if (i == index) break;
  }
  const std::size_t end = std::min(sdp.find("\nm=", pos), sdp.size());
  const std::string_view section = sdp.substr(pos, end - pos);
  for (std::size_t at = section.find("a=extmap:"); at != std::string_view::npos;
       at = section.find("a=extmap:", at + 1)) {
    const std::size_t eol = std::min(section.find('\n', at), section.size());
    std::string_view line = section.substr(at + 9, eol - at - 9);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::size_t sp = line.find(' ');
    if (sp == std::string_view::npos || line.substr(sp + 1) != kTwccUri) continue;
    int id = 0;
    for (char c : line.substr(0, sp)) {
      if (c == '/') break;
      if (c < '0' || c > '9' || id > 255) return 0;
      id = id * 10 + (c - '0');
    }
    return id >= 1 && id <= 255 ? id : 0;
  }
  return 0;
}

std::uint32_t randomSsrc() {
  static std::mutex mu;
  static std::mt19937 gen{std::random_device{}()};
  std::lock_guard lock(mu);
  return std::uniform_int_distribution<std::uint32_t>(1, 0xfffffffe)(gen);
}

// The track id in "<stream> <track>": webrtcbin 1.22 uses the transceiver's name ("webrtctransceiverN"), the
// same in every chorus participant, so through a focus (and in any client that keys remote tracks by id) two
// participants' tracks would collide. Rename it to "<prefix>-N", with a prefix random per engine (one per
// participant session); stable across renegotiations, since it follows the transceiver.
std::string uniqueTrackId(std::string_view track, const std::string& prefix) {
  constexpr std::string_view kGst = "webrtctransceiver";
  if (track.substr(0, kGst.size()) != kGst) return std::string(track);
  return prefix + "-" + std::string(track.substr(kGst.size()));
}

// "<stream> <track>" with the track renamed by uniqueTrackId().
std::string renameMsid(std::string_view msid, const std::string& prefix) {
  const auto sp = msid.find(' ');
  if (sp == std::string_view::npos) return std::string(msid);
  return std::string(msid.substr(0, sp + 1)) + uniqueTrackId(msid.substr(sp + 1), prefix);
}

// webrtcbin 1.22 only writes the MediaStream id as "a=ssrc:<n> msid:<stream> <track>" (the pre-unified-plan
// form). Add the unified-plan "a=msid:<stream> <track>" line that Firefox and current Chromium look at first,
// and give the tracks ids of their own (uniqueTrackId) in both forms.
void addMsidLines(GstSDPMessage* sdp, const std::string& track_prefix) {
  for (guint i = 0; i < gst_sdp_message_medias_len(sdp); ++i) {
    auto* media = const_cast<GstSDPMedia*>(gst_sdp_message_get_media(sdp, i));
    std::string msid_from_ssrc;
    for (guint a = 0; a < gst_sdp_media_attributes_len(media); ++a) {
      const GstSDPAttribute* attr = gst_sdp_media_get_attribute(media, a);
      if (attr->key == nullptr || attr->value == nullptr) continue;
      if (std::strcmp(attr->key, "ssrc") == 0) {
        const char* p = std::strstr(attr->value, " msid:");
        if (p == nullptr) continue;
        const std::string renamed = renameMsid(p + 6, track_prefix);
        if (msid_from_ssrc.empty()) msid_from_ssrc = renamed;
        const std::string value =
            std::string(attr->value, static_cast<std::size_t>(p - attr->value)) + " msid:" + renamed;
        GstSDPAttribute replacement;
        gst_sdp_attribute_set(&replacement, "ssrc", value.c_str());
        gst_sdp_media_replace_attribute(media, a, &replacement);
      } else if (std::strcmp(attr->key, "msid") == 0) {
        const std::string renamed = renameMsid(attr->value, track_prefix);
        if (msid_from_ssrc.empty()) msid_from_ssrc = "-";  // has its own a=msid already
        GstSDPAttribute replacement;
        gst_sdp_attribute_set(&replacement, "msid", renamed.c_str());
        gst_sdp_media_replace_attribute(media, a, &replacement);
      }
    }
    if (gst_sdp_media_get_attribute_val(media, "msid") == nullptr && !msid_from_ssrc.empty() &&
        msid_from_ssrc != "-")
      gst_sdp_media_add_attribute(media, "msid", msid_from_ssrc.c_str());
  }
}

// The payload type of an H.264 packetization-mode=1 format in `media` (profile 42e01f first), with its fmtp;
// -1 if none.
int findH264Format(const GstSDPMedia* media, std::string* fmtp) {
  int best = -1;
  int best_score = 0;
  for (guint i = 0; i < gst_sdp_media_formats_len(media); ++i) {
    const int pt = std::atoi(gst_sdp_media_get_format(media, i));
    const std::string prefix = std::to_string(pt) + " ";
    bool h264 = false;
    std::string f;
    for (guint a = 0; a < gst_sdp_media_attributes_len(media); ++a) {
      const GstSDPAttribute* attr = gst_sdp_media_get_attribute(media, a);
      if (attr->key == nullptr || attr->value == nullptr) continue;
      const std::string_view value(attr->value);
      if (value.substr(0, prefix.size()) != prefix) continue;
      if (std::strcmp(attr->key, "rtpmap") == 0) {
        const std::string_view codec = value.substr(prefix.size());
        h264 = codec.size() >= 5 && g_ascii_strncasecmp(codec.data(), "H264/", 5) == 0;
      } else if (std::strcmp(attr->key, "fmtp") == 0) {
        f = std::string(value.substr(prefix.size()));
      }
    }
    if (!h264 || f.find("packetization-mode=1") == std::string::npos) continue;
    const int score = 1 + (f.find("profile-level-id=42e01f") != std::string::npos ? 1 : 0);
    if (score > best_score) {
      best = pt;
      best_score = score;
      if (fmtp != nullptr) *fmtp = f;
    }
  }
  return best;
}

void addH264Format(GstSDPMedia* media, int pt, const std::string& fmtp) {
  const std::string n = std::to_string(pt);
  gst_sdp_media_add_format(media, n.c_str());
  gst_sdp_media_add_attribute(media, "rtpmap", (n + " H264/90000").c_str());
  for (const char* fb : {" nack", " nack pli", " ccm fir"})
    gst_sdp_media_add_attribute(media, "rtcp-fb", (n + fb).c_str());
  gst_sdp_media_add_attribute(media, "fmtp", (n + " " + fmtp).c_str());
}

// webrtcbin 1.22 offers only what a transceiver's send pad produces (it intersects the codec-preferences
// with the pad's caps), so an H.264 entry there never reaches the SDP. Add it to each sending
// video section of our description: in an offer as a second format (a free payload type, 102 if possible);
// in an answer when the offer had H.264 packetization-mode=1 in that section (its number and fmtp). The
// receive side decodes whatever the description lists (webrtcbin builds its payload map from both
// descriptions); we still send VP8 only.
void addH264ReceiveFormat(GstSDPMessage* sdp, const GstSDPMessage* offer) {
  if (!canDecodeH264()) return;
  for (guint i = 0; i < gst_sdp_message_medias_len(sdp); ++i) {
    auto* media = const_cast<GstSDPMedia*>(gst_sdp_message_get_media(sdp, i));
    if (media->media == nullptr || std::strcmp(media->media, "video") != 0) continue;
    if (gst_sdp_media_get_attribute_val(media, "sendonly") != nullptr ||
        gst_sdp_media_get_attribute_val(media, "inactive") != nullptr)
      continue;
    if (findH264Format(media, nullptr) >= 0 || gst_sdp_media_formats_len(media) == 0) continue;
    if (offer == nullptr) {
      int pt = kH264Pt;
      auto used = [&](int n) {
        for (guint f = 0; f < gst_sdp_media_formats_len(media); ++f)
          if (std::atoi(gst_sdp_media_get_format(media, f)) == n) return true;
        return false;
      };
      for (int n = 96; n <= 127 && used(pt); ++n) pt = n;
      if (used(pt)) continue;
      addH264Format(media, pt, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f");
    } else if (i < gst_sdp_message_medias_len(offer)) {
      std::string fmtp;
      const int pt = findH264Format(gst_sdp_message_get_media(offer, i), &fmtp);
      if (pt >= 0) addH264Format(media, pt, fmtp);
    }
  }
}

// Waits for a webrtcbin promise and returns "" on success or the error text.
std::string promiseError(GstPromise* promise) {
  GstPromiseResult r = gst_promise_wait(promise);
  if (r != GST_PROMISE_RESULT_REPLIED) return "promise not replied (result " + std::to_string(r) + ")";
  const GstStructure* reply = gst_promise_get_reply(promise);
  if (reply != nullptr && gst_structure_has_field(reply, "error")) {
    GError* err = nullptr;
    gst_structure_get(reply, "error", G_TYPE_ERROR, &err, nullptr);
    std::string msg = err != nullptr ? err->message : "unknown error";
    if (err != nullptr) g_error_free(err);
    return msg;
  }
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// A local encoded feed: source -> convert/scale -> mute -> [gate] -> encoder -> tee. Elements live directly
// in the pipeline (owned by it); legs hang a branch off the tee.
struct Feed {
  StreamPurpose purpose{StreamPurpose::UserMedia};
  MediaKind kind{MediaKind::Audio};
  // Borrowed (owned by the pipeline).
  GstElement* tee{nullptr};
  GstElement* mute{nullptr};     // volume (audio) / videobalance (video)
  GstElement* gate{nullptr};     // valve in front of the encoder (screenshare only): off = encoder idle
  GstElement* convert{nullptr};  // first element after the source (decodebin links here)
  GstElement* label{nullptr};    // textoverlay with MediaConfig::video_label (test pattern only), or none
};

// One send path on a leg: tee pad -> [leg bin ghost pad] -> queue -> gate -> payloader -> webrtcbin sink.
// The gate is a buffer probe on the payloader's sink pad. Unlike a valve it lets events through:
// webrtcbin 1.22 only links a send pad to its transport if the pad has caps when a description is applied.
struct SendBranch {
  Feed* feed{nullptr};  // Borrowed (engine-owned, outlives legs).
  bool active{true};    // false: screenshare switched off (gate closed, transceiver recvonly)
  std::shared_ptr<std::atomic<bool>> sending{std::make_shared<std::atomic<bool>>(true)};
  // Payload type of the last CAPS event that reached the webrtcbin sink pad (-1: none yet), set by a probe.
  // (The pad itself does not keep the caps until it is linked inside webrtcbin: its event function fails
  // before that.)
  std::shared_ptr<std::atomic<int>> caps_pt{std::make_shared<std::atomic<int>>(-1)};
  int pt{0};
  std::uint32_t ssrc{0};
  int twcc_id{kTwccExtId};  // the transport-cc header extension's id (0: not negotiated)
  // Owned references.
  PadPtr tee_pad;
  PadPtr webrtc_sink;
  GObjectPtr<GstWebRTCRTPTransceiver> transceiver;
  // Borrowed (children of the leg bin).
  GstElement* pay{nullptr};
  GstPad* ghost{nullptr};  // the leg bin's sink pad for this branch
};

struct RemoteCandidate {
  std::string candidate;
  std::optional<std::string> mid;
  std::optional<std::uint32_t> mline;
};

struct Leg {
  LegId id{0};
  LegOptions options;
  std::shared_ptr<LegShared> shared;
  ElementPtr bin;               // Owned reference; the pipeline holds another while the leg is open.
  GstElement* webrtc{nullptr};  // Borrowed (child of bin).
  std::vector<std::unique_ptr<SendBranch>> branches;
  bool has_remote_description{false};
  std::vector<RemoteCandidate> pending_candidates;  // until the remote description is set
  // Waiting for send caps (see capsReadyOrDefer): this leg's commands queue here, in order, and run when a
  // send pad's CAPS event or the fallback timer resumes the leg. Other legs go on meanwhile.
  bool waiting_caps{false};
  bool caps_wait_expired{false};  // the fallback fired: descriptions go ahead until caps show up
  std::deque<std::function<void()>> deferred;
  GSource* caps_timer{nullptr};  // Owned; the fallback while waiting_caps.
};

// ---------------------------------------------------------------------------------------------------------
struct MediaEngine::Impl {
  MediaConfig config;
  std::string usermedia_stream_id{randomStreamId()};
  std::string track_prefix{randomStreamId()};  // our track ids: "<track_prefix>-N" (uniqueTrackId)
  std::string screenshare_stream_id{randomStreamId()};
  std::shared_ptr<EventQueue> events{std::make_shared<EventQueue>()};

  GMainContext* context{nullptr};  // Owned.
  GMainLoop* loop{nullptr};        // Owned.
  std::thread thread;

  std::mutex post_mu;
  std::deque<std::function<void()>> posted;  // Guarded by post_mu.
  bool drain_scheduled{false};               // Guarded by post_mu.

  // ---- Engine thread only (after create()). ----
  GstElement* pipeline{nullptr};  // Owned.
  GSource* bus_source{nullptr};   // Owned.
  GSource* sweep_timer{nullptr};  // Owned. Releases the decode chains of remote sources that ended.
  bool heap_released{false};  // a leg or decode chain was freed since the last malloc_trim (engine thread)
  std::chrono::steady_clock::time_point last_trim{};
  bool playing{false};
  std::unique_ptr<Feed> audio;
  std::unique_ptr<Feed> video;
  std::unique_ptr<Feed> screen;
  bool screenshare_on{false};
  bool audio_muted{false};
  bool video_muted{false};
  std::map<LegId, std::unique_ptr<Leg>> legs;

  ~Impl();

  // Runs fn on the engine thread, after everything posted before.
  void post(std::function<void()> fn);
  template <typename F>
  auto call(F fn, std::chrono::milliseconds timeout) -> std::optional<decltype(fn())>;
  static gboolean drainPosted(gpointer self);

  Status build();
  Result<std::unique_ptr<Feed>> buildFeed(StreamPurpose purpose, MediaKind kind, const std::string& source);
  void ensurePlaying();
  void error(LegId leg, std::string message);
  Leg* findLeg(LegId id, const char* command);

  void doCreateLeg(LegId id, LegOptions options);
  bool addBranch(Leg& leg, Feed& feed);
  bool linkBranch(SendBranch& b);
  void doCreateDescription(LegId id, SdpType type, bool ice_restart);
  void doSetRemoteDescription(LegId id, SdpType type, const std::string& sdp);
  void applyRemoteDescription(LegId id, SdpType type, const std::string& sdp);
  void adoptOfferPayloadTypes(Leg& leg, const proto::SdpSummary& offer, std::string_view sdp);
  void doAddCandidate(Leg& leg, const RemoteCandidate& c);
  void doSetMediaEnabled(LegId id, bool enabled);
  void doSetMuted(bool audio_muted, bool video_muted);
  void doSetScreenshare(bool on);
  void doCloseLeg(LegId id);
  void doSendDataChannel(LegId id, const std::string& text);
  LegStats doStats(Leg& leg);
  void setBranchSending(Leg& leg, SendBranch& b);
  // Leg commands run through here: queued behind a description that waits for send caps, else run at once.
  void runLegCommand(LegId id, std::function<void()> fn);
  bool capsReadyOrDefer(Leg& leg, std::function<void()> retry);
  void resumeLeg(LegId id);
  void waitForSendCapsBlocking(Leg& leg);
  void shutdown();

  static gboolean onBusMessage(GstBus* bus, GstMessage* msg, gpointer self);
  static gboolean onSweepTimer(gpointer self);
};

namespace {

void onDecodebinPad(GstElement*, GstPad* pad, gpointer data) {
  auto* feed = static_cast<Feed*>(data);
  CapsPtr caps(gst_pad_get_current_caps(pad));
  if (!caps) caps.reset(gst_pad_query_caps(pad, nullptr));
  const char* name = gst_structure_get_name(gst_caps_get_structure(caps.get(), 0));
  const char* want = feed->kind == MediaKind::Audio ? "audio/" : "video/";
  if (std::strncmp(name, want, 6) != 0) return;
  PadPtr sinkpad(gst_element_get_static_pad(feed->convert, "sink"));
  if (!gst_pad_is_linked(sinkpad.get())) gst_pad_link(pad, sinkpad.get());
}

GstPadProbeReturn onSendGate(GstPad*, GstPadProbeInfo*, gpointer data) {
  return static_cast<std::shared_ptr<std::atomic<bool>>*>(data)->get()->load(std::memory_order_relaxed)
             ? GST_PAD_PROBE_OK
             : GST_PAD_PROBE_DROP;
}

// The tee of a feed sends an ALLOCATION query down every branch (in the feed's streaming thread) whenever a
// branch is added. The query is serialized: it waits in the leg's queue and then in webrtcbin, whose send
// path is blocked until DTLS is up. So one leg still connecting stalled the feed for every leg — measured: a
// leg created meanwhile got its first caps only when that other leg connected (~1 s), and a blocked engine
// thread (which delays the other leg's connection) turned that into the 3 s caps timeout. The branches
// allocate nothing special, so the query is answered "no" at the leg's door.
GstPadProbeReturn onBranchQuery(GstPad*, GstPadProbeInfo* info, gpointer) {
  GstQuery* query = GST_PAD_PROBE_INFO_QUERY(info);
  return GST_QUERY_TYPE(query) == GST_QUERY_ALLOCATION ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

// What the probe on a webrtcbin sink pad updates when a CAPS event passes: the payload type, and a callback
// that asks the engine thread to resume the leg if it waits for caps (it posts; it never runs leg code here).
struct SinkCapsWatch {
  std::shared_ptr<std::atomic<int>> caps_pt;
  std::function<void()> notify;
};

GstPadProbeReturn onSinkEvent(GstPad*, GstPadProbeInfo* info, gpointer data) {
  GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
    GstCaps* caps = nullptr;
    gst_event_parse_caps(event, &caps);
    int pt = -1;
    if (caps != nullptr && !gst_caps_is_empty(caps)) {
      gst_structure_get_int(gst_caps_get_structure(caps, 0), "payload", &pt);
    }
    auto* watch = static_cast<SinkCapsWatch*>(data);
    watch->caps_pt->store(pt);
    if (watch->notify) watch->notify();
  }
  return GST_PAD_PROBE_OK;
}

void deleteCapsWatch(gpointer data) {
  delete static_cast<SinkCapsWatch*>(data);
}

gboolean runFunctionOnce(gpointer data) {
  (*static_cast<std::function<void()>*>(data))();
  return G_SOURCE_REMOVE;
}

void deleteFunction(gpointer data) {
  delete static_cast<std::function<void()>*>(data);
}

void deleteSendGate(gpointer data) {
  delete static_cast<std::shared_ptr<std::atomic<bool>>*>(data);
}

// IDLE-probe unlink of a tee branch (so no buffer is in flight through the pad when it goes).
struct UnlinkCtx {
  std::promise<void> done;
  std::atomic<bool> fired{false};
};

GstPadProbeReturn onTeePadIdle(GstPad* pad, GstPadProbeInfo*, gpointer data) {
  auto* ctx = static_cast<std::shared_ptr<UnlinkCtx>*>(data);
  if (!(*ctx)->fired.exchange(true)) {
    PadPtr peer(gst_pad_get_peer(pad));
    if (peer) gst_pad_unlink(pad, peer.get());
    (*ctx)->done.set_value();
  }
  return GST_PAD_PROBE_REMOVE;
}

void deleteUnlinkCtx(gpointer data) {
  delete static_cast<std::shared_ptr<UnlinkCtx>*>(data);
}

void unlinkTeePad(GstPad* tee_pad) {
  auto ctx = std::make_shared<UnlinkCtx>();
  auto fut = ctx->done.get_future();
  gulong probe = gst_pad_add_probe(tee_pad, GST_PAD_PROBE_TYPE_IDLE, onTeePadIdle,
                                   new std::shared_ptr<UnlinkCtx>(ctx), deleteUnlinkCtx);
  if (fut.wait_for(std::chrono::seconds(1)) != std::future_status::ready) {
    if (probe != 0) gst_pad_remove_probe(tee_pad, probe);
    if (!ctx->fired.exchange(true)) {
      PadPtr peer(gst_pad_get_peer(tee_pad));
      if (peer) gst_pad_unlink(tee_pad, peer.get());
    }
  }
}

std::once_flag g_gst_once;
std::string g_gst_init_error;

}  // namespace

// ---------------------------------------------------------------------------------------------------------
MediaEngine::Impl::~Impl() {
  for (GSource* source : {bus_source, sweep_timer}) {
    if (source != nullptr) {
      g_source_destroy(source);
      g_source_unref(source);
    }
  }
  if (pipeline != nullptr) gst_object_unref(pipeline);
  if (loop != nullptr) g_main_loop_unref(loop);
  if (context != nullptr) g_main_context_unref(context);
}

void MediaEngine::Impl::post(std::function<void()> fn) {
  std::lock_guard lock(post_mu);
  posted.push_back(std::move(fn));
  if (drain_scheduled) return;
  drain_scheduled = true;
  GSource* source = g_idle_source_new();
  g_source_set_callback(source, &Impl::drainPosted, this, nullptr);
  g_source_attach(source, context);
  g_source_unref(source);
}

gboolean MediaEngine::Impl::drainPosted(gpointer self) {
  auto* impl = static_cast<Impl*>(self);
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard lock(impl->post_mu);
    batch.swap(impl->posted);
    impl->drain_scheduled = false;
  }
  for (auto& fn : batch) fn();
  return G_SOURCE_REMOVE;
}

template <typename F>
auto MediaEngine::Impl::call(F fn, std::chrono::milliseconds timeout) -> std::optional<decltype(fn())> {
  using R = decltype(fn());
  auto promise = std::make_shared<std::promise<R>>();
  auto future = promise->get_future();
  post([promise, fn = std::move(fn)]() mutable { promise->set_value(fn()); });
  if (future.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return future.get();
}

void MediaEngine::Impl::error(LegId leg, std::string message) {
  CHORUS_LOG(Warn, kEngineTag, config.name << " leg " << leg << ": " << message);
  events->push(LegError{leg, std::move(message)});
}

Leg* MediaEngine::Impl::findLeg(LegId id, const char* command) {
  auto it = legs.find(id);
  if (it != legs.end()) return it->second.get();
  error(id, std::string(command) + ": unknown leg");
  return nullptr;
}

Result<std::unique_ptr<Feed>> MediaEngine::Impl::buildFeed(StreamPurpose purpose, MediaKind kind,
                                                           const std::string& source) {
  auto feed = std::make_unique<Feed>();
  feed->purpose = purpose;
  feed->kind = kind;
  const std::string p = std::string(kind == MediaKind::Audio ? "audio" : "video") +
                        (purpose == StreamPurpose::ScreenShare ? "_screen" : "") + "_";
  const bool is_file = source != "test" && source != "device";
  std::vector<GstElement*> chain;
  GstElement* src = nullptr;
  if (kind == MediaKind::Audio) {
    if (source == "test") {
      src = makeElement("audiotestsrc", p + "src",
                        {{"is-live", "true"},
                         {"wave", "sine"},
                         {"freq", "440"},
                         {"volume", "0.1"},
                         {"samplesperbuffer", "960"}});
    } else if (source == "device") {
      src = makeElement("autoaudiosrc", p + "src");
    } else {
      src = makeElement("filesrc", p + "src", {{"location", source}});
    }
  } else {
    if (source == "test") {
      src = makeElement(
          "videotestsrc", p + "src",
          {{"is-live", "true"}, {"pattern", purpose == StreamPurpose::ScreenShare ? "ball" : "smpte"}});
    } else if (source == "device") {
      src = makeElement("v4l2src", p + "src");
    } else {
      src = makeElement("filesrc", p + "src", {{"location", source}});
    }
  }
  if (src == nullptr) return fail(Code::FailedPrecondition, "cannot create source for " + source);
  chain.push_back(src);
  GstElement* decodebin = nullptr;
  if (is_file) {
    decodebin = makeElement("decodebin", p + "decode");
    if (decodebin == nullptr) return fail(Code::FailedPrecondition, "decodebin missing");
  }
  std::vector<GstElement*> rest;
  if (kind == MediaKind::Audio) {
    rest.push_back(feed->convert = makeElement("audioconvert", p + "convert"));
    rest.push_back(makeElement("audioresample", p + "resample"));
    rest.push_back(makeElement("capsfilter", p + "caps", {{"caps", "audio/x-raw,rate=48000,channels=1"}}));
    if (is_file) rest.push_back(makeElement("clocksync", p + "clocksync"));
    rest.push_back(feed->mute = makeElement("volume", p + "mute"));
    rest.push_back(makeElement(
        "opusenc", p + "enc", {{"bitrate", std::to_string(config.audio_bitrate_bps)}, {"frame-size", "20"}}));
  } else {
    rest.push_back(feed->convert = makeElement("videoconvert", p + "convert"));
    rest.push_back(makeElement("videoscale", p + "scale"));
    rest.push_back(makeElement("videorate", p + "rate"));
    rest.push_back(makeElement("capsfilter", p + "caps",
                               {{"caps", "video/x-raw,format=I420,width=" + std::to_string(config.width) +
                                             ",height=" + std::to_string(config.height) + ",framerate=" +
                                             std::to_string(config.fps) + "/1,pixel-aspect-ratio=1/1"}}));
    if (is_file) rest.push_back(makeElement("clocksync", p + "clocksync"));
    if (source == "test" && purpose == StreamPurpose::UserMedia && !config.video_label.empty()) {
      // The name on the test pattern (before the mute stage, so a muted camera is still all black).
      if (GstElementFactory* f = gst_element_factory_find("textoverlay"); f != nullptr) {
        gst_object_unref(f);
        GstElement* label = makeElement(
            "textoverlay", p + "label",
            {{"valignment", "top"},
             {"halignment", "center"},  // tiles that crop the sides (object-fit: cover) keep it
             {"shaded-background", "true"},
             {"font-desc", "Sans Bold " + std::to_string(std::clamp(config.height / 20, 6, 72))}});
        if (label != nullptr) g_object_set(label, "text", config.video_label.c_str(), nullptr);
        rest.push_back(feed->label = label);
      } else {
        CHORUS_LOG(
            Warn, kEngineTag,
            "GStreamer element 'textoverlay' missing (Debian: gstreamer1.0-x): the test pattern has no name");
      }
    }
    rest.push_back(feed->mute = makeElement("videobalance", p + "mute"));
    if (purpose == StreamPurpose::ScreenShare) rest.push_back(feed->gate = makeElement("valve", p + "gate"));
    if (config.send_h264) {
      rest.push_back(makeElement("openh264enc", p + "enc",
                                 {{"bitrate", std::to_string(config.video_bitrate_bps)},
                                  {"rate-control", "bitrate"},
                                  {"complexity", "low"},
                                  {"gop-size", std::to_string(config.fps * 10)}}));
      rest.push_back(
          makeElement("capsfilter", p + "h264caps", {{"caps", "video/x-h264,profile=constrained-baseline"}}));
    } else {
      rest.push_back(makeElement("vp8enc", p + "enc",
                                 {{"deadline", "1"},
                                  {"cpu-used", "8"},
                                  {"target-bitrate", std::to_string(config.video_bitrate_bps)},
                                  {"end-usage", "cbr"},
                                  {"lag-in-frames", "0"},
                                  {"keyframe-max-dist", std::to_string(config.fps * 10)}}));
    }
  }
  rest.push_back(feed->tee = makeElement("tee", p + "tee", {{"allow-not-linked", "true"}}));
  for (GstElement* e : rest) {
    if (e == nullptr) {
      for (GstElement* o : rest)
        if (o != nullptr) gst_object_unref(o);
      gst_object_unref(src);
      if (decodebin != nullptr) gst_object_unref(decodebin);
      return fail(Code::FailedPrecondition, "missing GStreamer element for the " + p + "feed");
    }
  }
  gst_bin_add(GST_BIN(pipeline), src);
  if (decodebin != nullptr) gst_bin_add(GST_BIN(pipeline), decodebin);
  for (GstElement* e : rest) gst_bin_add(GST_BIN(pipeline), e);
  bool linked = true;
  for (std::size_t i = 0; i + 1 < rest.size(); ++i) linked = linked && gst_element_link(rest[i], rest[i + 1]);
  if (decodebin != nullptr) {
    linked = linked && gst_element_link(src, decodebin);
    g_signal_connect(decodebin, "pad-added", G_CALLBACK(onDecodebinPad), feed.get());
  } else {
    linked = linked && gst_element_link(src, rest.front());
  }
  if (!linked) return fail(Code::Internal, "cannot link the " + p + "feed");
  return feed;
}

Status MediaEngine::Impl::build() {
  std::call_once(g_gst_once, [] {
    GError* err = nullptr;
    if (!gst_init_check(nullptr, nullptr, &err)) {
      g_gst_init_error = err != nullptr ? err->message : "gst_init failed";
      if (err != nullptr) g_error_free(err);
    }
  });
  if (!g_gst_init_error.empty()) return fail(Code::FailedPrecondition, g_gst_init_error);
  for (const char* f :
       {"webrtcbin",    "nicesrc",    "dtlssrtpenc", "srtpenc",      "rtpbin",        "opusenc",
        "opusdec",      "vp8enc",     "vp8dec",      "rtpopuspay",   "rtpopusdepay",  "rtpvp8pay",
        "rtpvp8depay",  "valve",      "tee",         "queue",        "volume",        "videobalance",
        "videoconvert", "videoscale", "videorate",   "audioconvert", "audioresample", "fakesink"}) {
    GstElementFactory* factory = gst_element_factory_find(f);
    if (factory == nullptr) {
      return fail(Code::FailedPrecondition,
                  std::string("GStreamer element '") + f + "' missing (see scripts/packages.d/endpoint.txt)");
    }
    gst_object_unref(factory);
  }
  if (config.send_h264) {
    for (const char* f : {"openh264enc", "rtph264pay"}) {
      GstElementFactory* factory = gst_element_factory_find(f);
      if (factory == nullptr) {
        return fail(Code::FailedPrecondition,
                    std::string("GStreamer element '") + f +
                        "' missing for H.264 (Debian: gstreamer1.0-plugins-bad, -good)");
      }
      gst_object_unref(factory);
    }
  }
  if (config.width <= 0 || config.height <= 0 || config.fps <= 0) {
    return fail(Code::InvalidArgument, "bad video size/fps");
  }
  context = g_main_context_new();
  loop = g_main_loop_new(context, FALSE);
  pipeline = gst_pipeline_new(config.name.c_str());
  gst_object_ref_sink(pipeline);

  auto a = buildFeed(StreamPurpose::UserMedia, MediaKind::Audio, config.audio_source);
  if (!a) return fail(a.error());
  audio = std::move(*a);
  auto v = buildFeed(StreamPurpose::UserMedia, MediaKind::Video, config.video_source);
  if (!v) return fail(v.error());
  video = std::move(*v);

  GstBus* bus = gst_element_get_bus(pipeline);
  bus_source = gst_bus_create_watch(bus);
  g_source_set_callback(bus_source, G_SOURCE_FUNC(&Impl::onBusMessage), this, nullptr);
  g_source_attach(bus_source, context);
  gst_object_unref(bus);
  sweep_timer = g_timeout_source_new_seconds(2);
  g_source_set_callback(sweep_timer, G_SOURCE_FUNC(&Impl::onSweepTimer), this, nullptr);
  g_source_attach(sweep_timer, context);

  thread = std::thread([this] {
    g_main_context_push_thread_default(context);
    g_main_loop_run(loop);
    g_main_context_pop_thread_default(context);
  });
  return ok();
}

gboolean MediaEngine::Impl::onSweepTimer(gpointer self) {
  auto* impl = static_cast<Impl*>(self);
  for (auto& [id, leg] : impl->legs) {
    if (leg->shared && releaseEndedDecodeChains(*leg->shared) > 0) impl->heap_released = true;
  }
  // What the freed streams and legs held goes back to the system. GStreamer's streaming threads free into
  // their own malloc arenas, which glibc keeps: without this a participant that stays while others come and
  // go grows in RSS though its live heap does not (measured with bench/soak.py: heap in use +0.05 MB/min,
  // free heap +0.65 MB/min). At most every 10 s, and only after something was released.
  const auto now = std::chrono::steady_clock::now();
  if (impl->heap_released && now - impl->last_trim >= std::chrono::seconds(10)) {
    impl->heap_released = false;
    impl->last_trim = now;
    ::malloc_trim(0);
  }
  return G_SOURCE_CONTINUE;
}

gboolean MediaEngine::Impl::onBusMessage(GstBus*, GstMessage* msg, gpointer self) {
  auto* impl = static_cast<Impl*>(self);
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_LATENCY) {
    // Legs and decoders join a running pipeline; redistribute the latency so webrtcbin's RTP sessions know it
    // (they need it for the RTCP sender-report clock).
    gst_bin_recalculate_latency(GST_BIN(impl->pipeline));
    return TRUE;
  }
  if (GST_MESSAGE_TYPE(msg) != GST_MESSAGE_ERROR && GST_MESSAGE_TYPE(msg) != GST_MESSAGE_WARNING) return TRUE;
  GError* err = nullptr;
  gchar* debug = nullptr;
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    gst_message_parse_error(msg, &err, &debug);
  } else {
    gst_message_parse_warning(msg, &err, &debug);
  }
  std::string text = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(msg))) + ": " + (err ? err->message : "?");
  std::string detail = takeString(debug);
  if (err != nullptr) g_error_free(err);
  // Which leg? Walk up to the child of the pipeline: leg bins are named "leg-<id>". On the way, note whether
  // the error comes from webrtcbin's receive transport (nicesrc / transportreceivebin).
  LegId leg = 0;
  bool transport = false;
  GstObject* obj = GST_MESSAGE_SRC(msg);
  while (obj != nullptr && GST_OBJECT_PARENT(obj) != nullptr &&
         GST_OBJECT_PARENT(obj) != GST_OBJECT_CAST(impl->pipeline)) {
    const char* n = GST_OBJECT_NAME(obj);
    if (n != nullptr &&
        (std::strncmp(n, "nicesrc", 7) == 0 || std::strncmp(n, "transportreceivebin", 19) == 0))
      transport = true;
    obj = GST_OBJECT_PARENT(obj);
  }
  if (obj != nullptr && std::strncmp(GST_OBJECT_NAME(obj), "leg-", 4) == 0) {
    leg = std::strtoull(GST_OBJECT_NAME(obj) + 4, nullptr, 10);
  }
  if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_WARNING) {
    CHORUS_LOG(Warn, kEngineTag,
               impl->config.name << " leg " << leg << ": " << text << " (" << detail << ")");
    return TRUE;
  }
  CHORUS_LOG(Error, kEngineTag, impl->config.name << " leg " << leg << ": " << text << " (" << detail << ")");
  impl->events->push(LegError{leg, text});
  if (leg != 0 && transport) {
    // The receive transport stopped streaming ("Internal data stream error ... not-linked", seen now and then
    // with webrtcbin 1.22 right after connect): the leg can send but never receive again. Report it failed,
    // so the call is replaced (core: hangup "ice_failed", then a new call) instead of staying a silent
    // zombie.
    CHORUS_LOG(Warn, kEngineTag,
               impl->config.name << " leg " << leg << ": receive transport stopped; leg failed");
    impl->events->push(LegState{leg, ConnectionState::Failed});
  }
  return TRUE;
}

void MediaEngine::Impl::ensurePlaying() {
  if (playing) return;
  playing = true;
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    error(0, "cannot start the local media pipeline");
  }
}

void MediaEngine::Impl::doCreateLeg(LegId id, LegOptions options) {
  if (legs.count(id) != 0) return error(id, "createLeg: leg already exists");
  ensurePlaying();
  auto leg = std::make_unique<Leg>();
  leg->id = id;
  leg->options = options;
  leg->bin = adoptSink(gst_bin_new(("leg-" + std::to_string(id)).c_str()));
  leg->shared = std::make_shared<LegShared>();
  leg->shared->id = id;
  leg->shared->events = events;
  leg->shared->bin = leg->bin.get();

  leg->webrtc = makeElement("webrtcbin", config.name + "-webrtc" + std::to_string(id),
                            {{"bundle-policy", "max-bundle"}});
  g_object_set(leg->webrtc, "latency", static_cast<guint>(config.jitter_buffer_ms), nullptr);
  if (!config.stun_server.empty())
    g_object_set(leg->webrtc, "stun-server", config.stun_server.c_str(), nullptr);
  for (const auto& turn : config.turn_servers) {
    gboolean ok_turn = FALSE;
    g_signal_emit_by_name(leg->webrtc, "add-turn-server", turn.c_str(), &ok_turn);
    if (!ok_turn) error(id, "createLeg: rejected TURN server " + turn);
  }
  if (config.relay_only)
    g_object_set(leg->webrtc, "ice-transport-policy", GST_WEBRTC_ICE_TRANSPORT_POLICY_RELAY, nullptr);
  gst_bin_add(GST_BIN(leg->bin.get()), leg->webrtc);
  {
    GstObject* ice = nullptr;
    g_object_get(leg->webrtc, "ice-agent", &ice, nullptr);
    if (ice != nullptr) {
      // UDP only (relayed through TURN over TCP/TLS where UDP is blocked): with ICE-TCP pairs,
      // webrtcbin 1.22's leg fails at connect ("nicesrc: Internal data stream error ... not-linked"),
      // measured against a focus that offers passive TCP candidates (docs/endpoint.md).
      if (!config.ice_tcp) g_object_set(ice, "ice-tcp", FALSE, nullptr);
      if (config.loopback_only) {
        gboolean added = FALSE;
        g_signal_emit_by_name(ice, "add-local-ip-address", "127.0.0.1", &added);
        if (!added) error(id, "createLeg: cannot restrict ICE to 127.0.0.1");
      }
      gst_object_unref(ice);
    }
  }
  leg->shared->follow_webrtcbin_negotiation_needed = !options.data_channel.has_value();
  connectLegSignals(leg->webrtc, leg->shared);

  gst_bin_add(GST_BIN(pipeline),
              leg->bin.get());  // the pipeline takes its own reference (bin is not floating)
  Leg& ref = *leg;
  legs.emplace(id, std::move(leg));
  bool ok_branches = addBranch(ref, *audio) && addBranch(ref, *video);
  if (ok_branches && screenshare_on && options.with_screenshare) ok_branches = addBranch(ref, *screen);
  gst_element_sync_state_with_parent(ref.bin.get());
  for (auto& b : ref.branches) ok_branches = ok_branches && linkBranch(*b);
  if (!ok_branches) error(id, "createLeg: cannot set up the send branches");
  if (options.data_channel) {
    // Before the first offer, so the offer carries the m=application section (js-sdk does the same).
    StructurePtr init(gst_structure_new("init", "ordered", G_TYPE_BOOLEAN, TRUE, nullptr));
    GstWebRTCDataChannel* channel = nullptr;
    g_signal_emit_by_name(ref.webrtc, "create-data-channel", options.data_channel->c_str(), init.get(),
                          &channel);
    if (channel == nullptr) {
      error(id, "createLeg: cannot create data channel " + *options.data_channel);
    } else {
      adoptDataChannel(channel, ref.shared);
      g_object_unref(channel);
    }
  }
  CHORUS_LOG(Debug, kEngineTag, config.name << " leg " << id << " created");
}

bool MediaEngine::Impl::addBranch(Leg& leg, Feed& feed) {
  auto b = std::make_unique<SendBranch>();
  b->feed = &feed;
  const bool audio_kind = feed.kind == MediaKind::Audio;
  const std::string suffix =
      feed.purpose == StreamPurpose::ScreenShare ? "screen" : (audio_kind ? "audio" : "video");
  b->pt = audio_kind ? kOpusPt : config.send_h264 ? kH264Pt : kVp8Pt;
  b->ssrc = randomSsrc();
  GstElement* queue = makeElement("queue", "q_" + suffix,
                                  {{"leaky", "downstream"},
                                   {"max-size-buffers", "0"},
                                   {"max-size-bytes", "0"},
                                   {"max-size-time", "300000000"}});
  b->sending->store(leg.options.media_enabled);
  const std::string ssrc = std::to_string(b->ssrc);
  b->pay =
      audio_kind ? makeElement("rtpopuspay", "pay_" + suffix, {{"pt", std::to_string(b->pt)}, {"ssrc", ssrc}})
      : config.send_h264
          // SPS/PPS before every IDR, so a subscriber that starts at a keyframe (after a PLI) can decode.
          ? makeElement("rtph264pay", "pay_" + suffix,
                        {{"pt", std::to_string(b->pt)},
                         {"ssrc", ssrc},
                         {"config-interval", "-1"},
                         {"aggregate-mode", "zero-latency"}})
          : makeElement("rtpvp8pay", "pay_" + suffix,
                        {{"pt", std::to_string(b->pt)}, {"ssrc", ssrc}, {"picture-id-mode", "15-bit"}});
  GstBin* bin = GST_BIN(leg.bin.get());
  gst_bin_add_many(bin, queue, b->pay, nullptr);
  if (!gst_element_link(queue, b->pay)) return false;
  {
    PadPtr pay_sink(gst_element_get_static_pad(b->pay, "sink"));
    gst_pad_add_probe(
        pay_sink.get(),
        static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST), onSendGate,
        new std::shared_ptr<std::atomic<bool>>(b->sending), deleteSendGate);
  }

  CapsPtr caps = codecCaps(feed.kind, b->pt, b->ssrc, config.send_h264, b->twcc_id);
  GstPadTemplate* templ = gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(leg.webrtc), "sink_%u");
  b->webrtc_sink.reset(gst_element_request_pad(leg.webrtc, templ, nullptr, caps.get()));
  if (!b->webrtc_sink) return false;
  GstWebRTCRTPTransceiver* trans = nullptr;
  g_object_get(b->webrtc_sink.get(), "transceiver", &trans, nullptr);
  b->transceiver.reset(trans);
  if (trans == nullptr) return false;
  g_object_set(trans, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV, "codec-preferences",
               caps.get(), nullptr);
  const std::string& msid =
      feed.purpose == StreamPurpose::ScreenShare ? screenshare_stream_id : usermedia_stream_id;
  g_object_set(b->webrtc_sink.get(), "msid", msid.c_str(), nullptr);
  // The probe may fire on a streaming thread at any time until the pad is released in closeLeg(); the engine
  // (this) outlives every leg, and resumeLeg() ignores legs that are gone.
  auto* watch = new SinkCapsWatch{b->caps_pt, [this, id = leg.id] { post([this, id] { resumeLeg(id); }); }};
  gst_pad_add_probe(b->webrtc_sink.get(), GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, onSinkEvent, watch,
                    deleteCapsWatch);
  PadPtr pay_src(gst_element_get_static_pad(b->pay, "src"));
  if (gst_pad_link(pay_src.get(), b->webrtc_sink.get()) != GST_PAD_LINK_OK) return false;

  PadPtr queue_sink(gst_element_get_static_pad(queue, "sink"));
  if (!config.legacy_leg_setup)
    gst_pad_add_probe(queue_sink.get(), GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM, onBranchQuery, nullptr, nullptr);
  GstPad* ghost = gst_ghost_pad_new(("sink_" + suffix).c_str(), queue_sink.get());
  gst_pad_set_active(ghost, TRUE);
  gst_element_add_pad(leg.bin.get(), ghost);
  gst_element_sync_state_with_parent(b->pay);
  gst_element_sync_state_with_parent(queue);
  b->ghost = ghost;
  leg.branches.push_back(std::move(b));
  return true;
}

// Last step, once the branch is PLAYING: a tee pushing into a still-flushing pad gets FLUSHING back, and a
// live source that sees FLUSHING pauses its streaming thread for good (the feed would die for every leg).
bool MediaEngine::Impl::linkBranch(SendBranch& b) {
  b.tee_pad.reset(gst_element_request_pad_simple(b.feed->tee, "src_%u"));
  return b.tee_pad && gst_pad_link(b.tee_pad.get(), b.ghost) == GST_PAD_LINK_OK;
}

// webrtcbin 1.22 skips (for good) a send pad that has no caps yet when a description is applied
// ("has not received any caps yet. Skipping."), and that stream is then never sent. Right after createLeg the
// encoders' first output may still be on its way. So a description waits until every send pad has seen caps
// with the branch's current payload type — without blocking the engine thread: the operation (and every later
// command of this leg) is queued on the leg, and the CAPS probe of a send pad resumes it. Bounded: after
// kCapsWaitLimit the leg goes ahead anyway (with a warning), as the blocking wait of old did.
constexpr auto kCapsWaitLimit = std::chrono::seconds(3);

bool MediaEngine::Impl::capsReadyOrDefer(Leg& leg, std::function<void()> retry) {
  bool all = true;
  for (auto& b : leg.branches) all = all && b->caps_pt->load() == b->pt;
  if (all) {
    leg.caps_wait_expired = false;
    return true;
  }
  if (config.legacy_leg_setup) {
    waitForSendCapsBlocking(leg);
    return true;
  }
  if (leg.caps_wait_expired) return true;
  leg.deferred.push_front(std::move(retry));
  if (!leg.waiting_caps) {
    leg.waiting_caps = true;
    CHORUS_LOG(Debug, kEngineTag, config.name << " leg " << leg.id << ": waiting for send caps");
    leg.caps_timer = g_timeout_source_new(
        static_cast<guint>(std::chrono::duration_cast<std::chrono::milliseconds>(kCapsWaitLimit).count()));
    auto* fn = new std::function<void()>([this, id = leg.id] {
      auto it = legs.find(id);
      if (it == legs.end()) return;
      Leg& l = *it->second;
      if (l.caps_timer != nullptr) {
        g_source_unref(l.caps_timer);  // GLib destroys it after this callback
        l.caps_timer = nullptr;
      }
      CHORUS_LOG(Warn, kEngineTag,
                 config.name << " leg " << id << ": a send pad has no caps yet; that stream may not be sent");
      l.caps_wait_expired = true;
      resumeLeg(id);
    });
    g_source_set_callback(leg.caps_timer, runFunctionOnce, fn, deleteFunction);
    g_source_attach(leg.caps_timer, context);
  }
  return false;
}

void MediaEngine::Impl::resumeLeg(LegId id) {
  auto it = legs.find(id);
  if (it == legs.end() || !it->second->waiting_caps) return;
  Leg* leg = it->second.get();
  bool all = true;
  for (auto& b : leg->branches) all = all && b->caps_pt->load() == b->pt;
  if (!all && !leg->caps_wait_expired) return;
  leg->waiting_caps = false;
  if (leg->caps_timer != nullptr) {
    g_source_destroy(leg->caps_timer);
    g_source_unref(leg->caps_timer);
    leg->caps_timer = nullptr;
  }
  CHORUS_LOG(Debug, kEngineTag,
             config.name << " leg " << id << ": send caps " << (all ? "arrived" : "timed out"));
  while (!leg->waiting_caps && !leg->deferred.empty()) {
    auto fn = std::move(leg->deferred.front());
    leg->deferred.pop_front();
    fn();
    it = legs.find(id);
    if (it == legs.end()) return;
    leg = it->second.get();
  }
}

void MediaEngine::Impl::runLegCommand(LegId id, std::function<void()> fn) {
  auto it = legs.find(id);
  if (it != legs.end() && it->second->waiting_caps) {
    // Our own commands (the peer's candidates are bounded by core); a cap against a runaway driver.
    constexpr std::size_t kMaxDeferred = 4096;
    if (it->second->deferred.size() >= kMaxDeferred) return error(id, "too many commands queued for the leg");
    it->second->deferred.push_back(std::move(fn));
    return;
  }
  fn();
}

// The old behaviour (MediaConfig::legacy_leg_setup, for comparison in `chorus bench call`): the engine
// thread polls until caps are there, for at most kCapsWaitLimit, and every other leg waits with it.
void MediaEngine::Impl::waitForSendCapsBlocking(Leg& leg) {
  const auto deadline = std::chrono::steady_clock::now() + kCapsWaitLimit;
  while (true) {
    bool all = true;
    for (auto& b : leg.branches) all = all && b->caps_pt->load() == b->pt;
    if (all) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      CHORUS_LOG(
          Warn, kEngineTag,
          config.name << " leg " << leg.id << ": a send pad has no caps yet; that stream may not be sent");
      return;
    }
    g_usleep(5000);
  }
}

void MediaEngine::Impl::doCreateDescription(LegId id, SdpType type, bool ice_restart) {
  Leg* leg = findLeg(id, type == SdpType::Offer ? "createOffer" : "createAnswer");
  if (leg == nullptr) return;
  if (!capsReadyOrDefer(*leg, [this, id, type, ice_restart] { doCreateDescription(id, type, ice_restart); }))
    return;
  const char* what = type == SdpType::Offer ? "createOffer" : "createAnswer";
  {
    std::lock_guard lock(leg->shared->mu);
    leg->shared->desc_emitted = false;
    if (type == SdpType::Offer) leg->shared->negotiation_pending = false;
  }
  StructurePtr options;
  if (ice_restart) options.reset(gst_structure_new("options", "ice-restart", G_TYPE_BOOLEAN, TRUE, nullptr));
  PromisePtr promise(gst_promise_new());
  g_signal_emit_by_name(leg->webrtc, type == SdpType::Offer ? "create-offer" : "create-answer", options.get(),
                        promise.get());
  std::string err = promiseError(promise.get());
  GstWebRTCSessionDescription* desc = nullptr;
  if (err.empty()) {
    const GstStructure* reply = gst_promise_get_reply(promise.get());
    const char* field = type == SdpType::Offer ? "offer" : "answer";
    if (reply == nullptr ||
        !gst_structure_get(reply, field, GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &desc, nullptr) ||
        desc == nullptr) {
      err = "no description in reply";
    }
  }
  SessionDescriptionPtr owned(desc);
  if (!err.empty()) return error(id, std::string(what) + ": " + err);
  addMsidLines(desc->sdp, track_prefix);
  if (!config.send_h264) {
    if (type == SdpType::Offer) {
      addH264ReceiveFormat(desc->sdp, nullptr);
    } else {
      GstWebRTCSessionDescription* remote = nullptr;
      g_object_get(leg->webrtc, "remote-description", &remote, nullptr);
      SessionDescriptionPtr remote_owned(remote);
      if (remote != nullptr) addH264ReceiveFormat(desc->sdp, remote->sdp);
    }
  }

  PromisePtr set_promise(gst_promise_new());
  g_signal_emit_by_name(leg->webrtc, "set-local-description", desc, set_promise.get());
  err = promiseError(set_promise.get());
  if (!err.empty()) return error(id, std::string(what) + ": set-local-description: " + err);

  std::string text = takeString(gst_sdp_message_as_text(desc->sdp));
  auto info = proto::summarizeSdp(text);
  bool unassociated = false;
  {
    std::lock_guard lock(leg->shared->mu);
    if (info) leg->shared->local_sdp = *info;
    // Candidates that webrtcbin produced before we got here now learn their sdpMid.
    for (auto& ev : leg->shared->held) {
      if (auto* c = std::get_if<LocalCandidate>(&ev);
          c != nullptr && !c->sdp_mid && info && c->sdp_mline_index) {
        c->sdp_mid = info->midOfMlineIndex(*c->sdp_mline_index);
      }
    }
    leg->shared->emitLocked(LocalDescription{id, type, text});
    leg->shared->desc_emitted = true;
    for (auto& ev : leg->shared->held) leg->shared->emitLocked(std::move(ev));
    leg->shared->held.clear();
    if (type == SdpType::Answer) leg->shared->established = true;
  }
  if (type == SdpType::Answer) {
    // A send transceiver the offer had no m-line for (e.g. our screenshare): we must offer it ourselves.
    for (auto& b : leg->branches) {
      gchar* mid = nullptr;
      g_object_get(b->transceiver.get(), "mid", &mid, nullptr);
      if (takeString(mid).empty() && b->active) unassociated = true;
    }
    if (unassociated) leg->shared->markNegotiationNeeded();
  }
}

// Answer with the offerer's payload types. webrtcbin 1.22 matches offered m-lines to our unassociated
// transceivers by codec-preferences *including* the payload type, and creates new recvonly transceivers when
// they differ (a recvonly answer). So before applying an offer, give each send branch the pt the offer uses
// for its codec: by mid for associated transceivers, else in m-line order by kind (the order webrtcbin
// matches in).
void MediaEngine::Impl::adoptOfferPayloadTypes(Leg& leg, const proto::SdpSummary& offer,
                                               std::string_view sdp) {
  std::vector<std::pair<SendBranch*, std::string>> branches;  // branch, mid ("" = unassociated)
  for (auto& b : leg.branches) {
    gchar* mid = nullptr;
    g_object_get(b->transceiver.get(), "mid", &mid, nullptr);
    branches.emplace_back(b.get(), takeString(mid));
  }
  std::vector<bool> taken(branches.size(), false);
  for (std::size_t index = 0; index < offer.media.size(); ++index) {
    const proto::SdpMedia& m = offer.media[index];
    const bool audio_kind = m.media == "audio";
    if (!audio_kind && m.media != "video") continue;
    SendBranch* match = nullptr;
    for (std::size_t i = 0; i < branches.size() && match == nullptr; ++i) {
      if (!branches[i].second.empty() && branches[i].second == m.mid) match = branches[i].first;
    }
    for (std::size_t i = 0; i < branches.size() && match == nullptr; ++i) {
      const bool kind_ok = (branches[i].first->feed->kind == MediaKind::Audio) == audio_kind;
      if (branches[i].second.empty() && !taken[i] && kind_ok) {
        taken[i] = true;
        match = branches[i].first;
      }
    }
    if (match == nullptr) continue;
    auto it = m.payload_types.find(audio_kind ? "OPUS" : config.send_h264 ? "H264" : "VP8");
    // The transport-cc extension: the offer's id for it, or none when the offer has none (an id the offer
    // uses for another extension would make webrtcbin refuse the transceiver).
    const int twcc = twccExtmapId(sdp, index);
    if (it == m.payload_types.end() || (it->second == match->pt && twcc == match->twcc_id)) continue;
    CHORUS_LOG(Debug, kEngineTag,
               "leg " << leg.id << " mid " << m.mid << ": payload type " << match->pt << " -> " << it->second
                      << ", transport-cc extension id " << match->twcc_id << " -> " << twcc);
    match->pt = it->second;
    match->twcc_id = twcc;
    g_object_set(match->pay, "pt", static_cast<guint>(match->pt), nullptr);
    CapsPtr caps = codecCaps(match->feed->kind, match->pt, match->ssrc, config.send_h264, match->twcc_id);
    g_object_set(match->transceiver.get(), "codec-preferences", caps.get(), nullptr);
    // The payloader renegotiates its src caps (with the new pt) on the next buffer; capsReadyOrDefer() then
    // waits for them, so the answer carries the a=ssrc ... msid lines again.
    PadPtr pay_src(gst_element_get_static_pad(match->pay, "src"));
    gst_pad_send_event(pay_src.get(), gst_event_new_reconfigure());
  }
}

void MediaEngine::Impl::doSetRemoteDescription(LegId id, SdpType type, const std::string& sdp) {
  Leg* leg = findLeg(id, "setRemoteDescription");
  if (leg == nullptr) return;
  auto info = proto::summarizeSdp(sdp);
  if (!info) return error(id, "setRemoteDescription: " + info.error().message);
  {
    std::lock_guard lock(leg->shared->mu);
    leg->shared->remote_sdp = *info;  // before pad-added can look at it
  }
  if (type == SdpType::Offer) adoptOfferPayloadTypes(*leg, *info, sdp);
  applyRemoteDescription(id, type, sdp);
}

// The second half of setRemoteDescription, once the send pads have caps (with the payload types just
// adopted).
void MediaEngine::Impl::applyRemoteDescription(LegId id, SdpType type, const std::string& sdp) {
  Leg* leg = findLeg(id, "setRemoteDescription");
  if (leg == nullptr) return;
  if (!capsReadyOrDefer(*leg, [this, id, type, sdp] { applyRemoteDescription(id, type, sdp); })) return;
  GstSDPMessage* msg = nullptr;
  if (gst_sdp_message_new_from_text(sdp.c_str(), &msg) != GST_SDP_OK) {
    return error(id, "setRemoteDescription: unparsable SDP");
  }
  SessionDescriptionPtr desc(gst_webrtc_session_description_new(
      type == SdpType::Offer ? GST_WEBRTC_SDP_TYPE_OFFER : GST_WEBRTC_SDP_TYPE_ANSWER, msg));
  PromisePtr promise(gst_promise_new());
  g_signal_emit_by_name(leg->webrtc, "set-remote-description", desc.get(), promise.get());
  std::string err = promiseError(promise.get());
  if (!err.empty()) return error(id, "setRemoteDescription: " + err);

  if (type != SdpType::Offer) {
    std::lock_guard lock(leg->shared->mu);
    leg->shared->established = true;
  }
  leg->has_remote_description = true;
  auto pending = std::move(leg->pending_candidates);
  leg->pending_candidates.clear();
  for (const auto& c : pending) doAddCandidate(*leg, c);
}

void MediaEngine::Impl::doAddCandidate(Leg& leg, const RemoteCandidate& c) {
  std::uint32_t mline = 0;
  if (c.mline) {
    mline = *c.mline;
  } else if (c.mid) {
    std::lock_guard lock(leg.shared->mu);
    if (leg.shared->remote_sdp) mline = leg.shared->remote_sdp->mlineIndexOfMid(*c.mid).value_or(0);
  }
  // "" = end-of-candidates: webrtcbin hands it to libnice as "remote gathering done".
  g_signal_emit_by_name(leg.webrtc, "add-ice-candidate", static_cast<guint>(mline), c.candidate.c_str());
}

void MediaEngine::Impl::setBranchSending(Leg& leg, SendBranch& b) {
  const bool send = b.active && leg.options.media_enabled;
  const bool was_sending = b.sending->exchange(send);
  if (send && !was_sending && b.feed->kind == MediaKind::Video) {
    // The peer's decoder needs a key frame after the gap.
    PadPtr src(gst_element_get_static_pad(b.pay, "src"));
    gst_pad_send_event(src.get(), gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
  }
}

void MediaEngine::Impl::doSetMediaEnabled(LegId id, bool enabled) {
  Leg* leg = findLeg(id, "setMediaEnabled");
  if (leg == nullptr) return;
  leg->options.media_enabled = enabled;
  for (auto& b : leg->branches) setBranchSending(*leg, *b);
}

void MediaEngine::Impl::doSetMuted(bool mute_audio, bool mute_video) {
  audio_muted = mute_audio;
  video_muted = mute_video;
  g_object_set(audio->mute, "mute", mute_audio ? TRUE : FALSE, nullptr);
  // videobalance is in passthrough at the defaults; muted = all black.
  g_object_set(video->mute, "brightness", mute_video ? -1.0 : 0.0, "contrast", mute_video ? 0.0 : 1.0,
               "saturation", mute_video ? 0.0 : 1.0, nullptr);
}

void MediaEngine::Impl::doSetScreenshare(bool on) {
  if (on == screenshare_on) return;
  if (on && !screen) {
    auto feed = buildFeed(StreamPurpose::ScreenShare, MediaKind::Video, "test");
    if (!feed) return error(0, "setScreenshare: " + feed.error().message);
    screen = std::move(*feed);
    if (playing) gst_bin_sync_children_states(GST_BIN(pipeline));
  }
  screenshare_on = on;
  g_object_set(screen->gate, "drop", on ? FALSE : TRUE, nullptr);
  for (auto& [id, leg] : legs) {
    if (!leg->options.with_screenshare) continue;
    SendBranch* branch = nullptr;
    for (auto& b : leg->branches) {
      if (b->feed == screen.get()) branch = b.get();
    }
    if (branch == nullptr) {
      if (!on) continue;
      if (!addBranch(*leg, *screen) || !linkBranch(*leg->branches.back())) {
        error(id, "setScreenshare: cannot add the screenshare branch");
        continue;
      }
    } else {
      branch->active = on;
      g_object_set(
          branch->transceiver.get(), "direction",
          on ? GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV : GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY,
          nullptr);
      setBranchSending(*leg, *branch);
    }
    leg->shared->markNegotiationNeeded();
  }
}

void MediaEngine::Impl::doSendDataChannel(LegId id, const std::string& text) {
  Leg* leg = findLeg(id, "sendDataChannel");
  if (leg == nullptr) return;
  GstWebRTCDataChannel* channel = nullptr;
  {
    std::lock_guard lock(leg->shared->mu);
    if (leg->shared->channel != nullptr && leg->shared->channel_open)
      channel = GST_WEBRTC_DATA_CHANNEL(g_object_ref(leg->shared->channel));
  }
  if (channel == nullptr) return error(id, "sendDataChannel: no open data channel");
  GError* err = nullptr;
  const bool sent = gst_webrtc_data_channel_send_string_full(channel, text.c_str(), &err);
  g_object_unref(channel);
  if (!sent) {
    std::string msg = err != nullptr ? err->message : "send failed";
    if (err != nullptr) g_error_free(err);
    return error(id, "sendDataChannel: " + msg);
  }
  leg->shared->dc_sent.fetch_add(1, std::memory_order_relaxed);
}

void MediaEngine::Impl::doCloseLeg(LegId id) {
  heap_released = true;
  auto it = legs.find(id);
  if (it == legs.end()) return;
  std::unique_ptr<Leg> leg = std::move(it->second);
  legs.erase(it);
  leg->deferred.clear();  // commands queued behind a caps wait die with the leg
  if (leg->caps_timer != nullptr) {
    g_source_destroy(leg->caps_timer);
    g_source_unref(leg->caps_timer);
    leg->caps_timer = nullptr;
  }
  GstWebRTCDataChannel* channel = nullptr;
  {
    std::lock_guard lock(leg->shared->mu);
    leg->shared->closed = true;
    leg->shared->held.clear();
    if (leg->shared->channel != nullptr && leg->shared->channel_open)
      channel = GST_WEBRTC_DATA_CHANNEL(g_object_ref(leg->shared->channel));
  }
  if (channel != nullptr) {
    gst_webrtc_data_channel_close(channel);
    g_object_unref(channel);
  }
  for (auto& b : leg->branches) {
    if (!b->tee_pad) continue;
    unlinkTeePad(b->tee_pad.get());
    gst_element_release_request_pad(b->feed->tee, b->tee_pad.get());
  }
  gst_element_set_state(leg->bin.get(), GST_STATE_NULL);
  gst_bin_remove(GST_BIN(pipeline), leg->bin.get());
  leg->branches.clear();
  leg->bin.reset();
  events->push(LegState{id, ConnectionState::Closed});
  CHORUS_LOG(Debug, kEngineTag, config.name << " leg " << id << " closed");
}

LegStats MediaEngine::Impl::doStats(Leg& leg) {
  LegStats out;
  PromisePtr promise(gst_promise_new());
  g_signal_emit_by_name(leg.webrtc, "get-stats", nullptr, promise.get());
  if (gst_promise_wait(promise.get()) == GST_PROMISE_RESULT_REPLIED) {
    addWebrtcStats(gst_promise_get_reply(promise.get()), out);
    if (log::enabled(log::Level::Trace)) {
      gchar* text = gst_structure_to_string(gst_promise_get_reply(promise.get()));
      CHORUS_LOG(Trace, kEngineTag, config.name << " stats " << text);
      g_free(text);
    }
  }
  {
    std::lock_guard lock(leg.shared->mu);
    out.state = leg.shared->state;
    out.ice_state = iceConnectionStateName(leg.shared->ice_state);
    out.connection_state = peerConnectionStateName(leg.shared->pc_state);
  }
  out.audio_frames_decoded = leg.shared->audio_frames.load();
  out.video_frames_decoded = leg.shared->video_frames.load();
  out.audio_frames_silent = leg.shared->audio_silent.load();
  out.video_frames_black = leg.shared->video_black.load();
  out.dc_messages_sent = leg.shared->dc_sent.load();
  out.dc_messages_received = leg.shared->dc_received.load();
  out.sources_released = leg.shared->sources_released.load();
  out.sources_resumed = leg.shared->sources_resumed.load();
  std::lock_guard lock(leg.shared->mu);
  for (const auto& [stream_id, c] : leg.shared->streams) {
    RemoteStreamStats& s = out.remote_streams[stream_id];
    s.packets_received = c->packets.load();
    s.bytes_received = c->bytes.load();
    s.audio_frames_decoded = c->audio_frames.load();
    s.video_frames_decoded = c->video_frames.load();
    s.audio_frames_silent = c->audio_silent.load();
    s.video_frames_black = c->video_black.load();
    s.h264_frames_decoded = c->h264_frames.load();
  }
  return out;
}

void MediaEngine::Impl::shutdown() {
  if (!thread.joinable()) return;
  post([this] {
    std::vector<LegId> ids;
    for (auto& [id, leg] : legs) ids.push_back(id);
    for (LegId id : ids) doCloseLeg(id);
    gst_element_set_state(pipeline, GST_STATE_NULL);
    g_main_loop_quit(loop);
  });
  thread.join();
}

// ---------------------------------------------------------------------------------------------------------
MediaEngine::MediaEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MediaEngine::~MediaEngine() {
  impl_->shutdown();
}

Result<std::unique_ptr<MediaEngine>> MediaEngine::create(MediaConfig config) {
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  if (auto st = impl->build(); !st) return fail(st.error());
  return std::unique_ptr<MediaEngine>(new MediaEngine(std::move(impl)));
}

std::string MediaEngine::videoLabel() {
  auto r = impl_->call(
      [impl = impl_.get()]() -> std::string {
        if (!impl->video || impl->video->label == nullptr) return {};
        gchar* text = nullptr;
        g_object_get(impl->video->label, "text", &text, nullptr);
        return takeString(text);
      },
      std::chrono::seconds(5));
  return r.value_or(std::string());
}

const std::string& MediaEngine::localStreamId(StreamPurpose purpose) const {
  return purpose == StreamPurpose::ScreenShare ? impl_->screenshare_stream_id : impl_->usermedia_stream_id;
}

void MediaEngine::createLeg(LegId leg, LegOptions options) {
  impl_->post([impl = impl_.get(), leg, options] { impl->doCreateLeg(leg, options); });
}

void MediaEngine::createOffer(LegId leg, bool ice_restart) {
  impl_->post([impl = impl_.get(), leg, ice_restart] {
    impl->runLegCommand(
        leg, [impl, leg, ice_restart] { impl->doCreateDescription(leg, SdpType::Offer, ice_restart); });
  });
}

void MediaEngine::createAnswer(LegId leg) {
  impl_->post([impl = impl_.get(), leg] {
    impl->runLegCommand(leg, [impl, leg] { impl->doCreateDescription(leg, SdpType::Answer, false); });
  });
}

void MediaEngine::setRemoteDescription(LegId leg, SdpType type, std::string sdp) {
  impl_->post([impl = impl_.get(), leg, type, sdp = std::move(sdp)] {
    impl->runLegCommand(leg, [impl, leg, type, sdp] { impl->doSetRemoteDescription(leg, type, sdp); });
  });
}

void MediaEngine::addRemoteCandidate(LegId leg, std::string candidate, std::optional<std::string> sdp_mid,
                                     std::optional<std::uint32_t> sdp_mline_index) {
  impl_->post([impl = impl_.get(), leg,
               c = RemoteCandidate{std::move(candidate), std::move(sdp_mid), sdp_mline_index}] {
    impl->runLegCommand(leg, [impl, leg, c] {
      Leg* l = impl->findLeg(leg, "addRemoteCandidate");
      if (l == nullptr) return;
      if (!l->has_remote_description) {
        l->pending_candidates.push_back(c);
      } else {
        impl->doAddCandidate(*l, c);
      }
    });
  });
}

void MediaEngine::setMediaEnabled(LegId leg, bool enabled) {
  impl_->post([impl = impl_.get(), leg, enabled] {
    impl->runLegCommand(leg, [impl, leg, enabled] { impl->doSetMediaEnabled(leg, enabled); });
  });
}

void MediaEngine::setMuted(bool audio, bool video) {
  impl_->post([impl = impl_.get(), audio, video] { impl->doSetMuted(audio, video); });
}

void MediaEngine::setScreenshare(bool enabled) {
  impl_->post([impl = impl_.get(), enabled] { impl->doSetScreenshare(enabled); });
}

void MediaEngine::closeLeg(LegId leg) {
  impl_->post([impl = impl_.get(), leg] { impl->doCloseLeg(leg); });
}

void MediaEngine::sendDataChannel(LegId leg, std::string text) {
  impl_->post([impl = impl_.get(), leg, text = std::move(text)] {
    impl->runLegCommand(leg, [impl, leg, text] { impl->doSendDataChannel(leg, text); });
  });
}

Result<LegStats> MediaEngine::stats(LegId leg, std::chrono::milliseconds timeout) {
  auto r = impl_->call(
      [impl = impl_.get(), leg]() -> std::optional<LegStats> {
        auto it = impl->legs.find(leg);
        if (it == impl->legs.end()) return std::nullopt;
        return impl->doStats(*it->second);
      },
      timeout);
  if (!r) return fail(Code::DeadlineExceeded, "stats: engine did not answer in time");
  if (!*r) return fail(Code::NotFound, "stats: unknown leg");
  return **r;
}

void MediaEngine::flush() {
  (void)impl_->call([] { return true; }, std::chrono::hours(1));
}

std::vector<MediaEvent> MediaEngine::poll() {
  return impl_->events->drain();
}

int MediaEngine::wakeupFd() const {
  return impl_->events->fd();
}

bool MediaEngine::waitForEvents(std::chrono::milliseconds timeout) {
  return impl_->events->wait(timeout);
}

}  // namespace chorus::endpoint
