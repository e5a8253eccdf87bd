// A GStreamer 1.22 webrtcbin publisher for the focus end-to-end test: Opus (audiotestsrc) + VP8
// (videotestsrc), sendonly, max-bundle, no data channel. Line protocol (SDP lines joined with '|'):
//   out: offer <sdp>     (after ICE gathering completes: non-trickle)
//   in:  answer <sdp>
//   in:  quit            -> exits 0
// Also prints "state <ice connection state>" changes. Exits 1 on errors.
#include <gio/gio.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#define GST_USE_UNSTABLE_API
#include <gst/webrtc/webrtc.h>

#include <cstdio>
#include <iostream>
#include <string>

namespace {

GMainLoop* g_loop = nullptr;
GstElement* g_webrtc = nullptr;
bool g_offer_sent = false;
bool g_negotiating = false;
int g_status = 0;

void emit(const std::string& line) {
  std::cout << line << std::endl;
}

std::string flatten(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\r') continue;
    out += c == '\n' ? '|' : c;
  }
  return out;
}

std::string unflatten(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\r\n") : std::string(1, c);
  return out;
}

void sendOfferIfReady() {
  if (g_offer_sent) return;
  GstWebRTCICEGatheringState gs;
  g_object_get(g_webrtc, "ice-gathering-state", &gs, nullptr);
  GstWebRTCSessionDescription* local = nullptr;
  g_object_get(g_webrtc, "local-description", &local, nullptr);
  // webrtcbin 1.22 with max-bundle may stay in "gathering" on a loopback-only host; the focus is ICE-lite and
  // never needs our candidates (we send the checks), so after 1 s with a local description the offer goes
  // out.
  static gint64 first_local_us = 0;
  if (local != nullptr && first_local_us == 0) first_local_us = g_get_monotonic_time();
  const bool waited = first_local_us != 0 && g_get_monotonic_time() - first_local_us > 1000000;
  if ((gs != GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE && !waited) || local == nullptr) {
    if (local) gst_webrtc_session_description_free(local);
    return;
  }
  gchar* text = gst_sdp_message_as_text(local->sdp);
  emit("offer " + flatten(text));
  g_free(text);
  gst_webrtc_session_description_free(local);
  g_offer_sent = true;
}

void onOfferCreated(GstPromise* promise, gpointer) {
  const GstStructure* reply = gst_promise_get_reply(promise);
  GstWebRTCSessionDescription* offer = nullptr;
  gst_structure_get(reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, nullptr);
  gst_promise_unref(promise);
  if (offer == nullptr) {
    emit("error no offer");
    g_status = 1;
    g_main_loop_quit(g_loop);
    return;
  }
  GstPromise* p = gst_promise_new();
  g_signal_emit_by_name(g_webrtc, "set-local-description", offer, p);
  gst_promise_interrupt(p);
  gst_promise_unref(p);
  gst_webrtc_session_description_free(offer);
}

void onNegotiationNeeded(GstElement* webrtc, gpointer) {
  if (g_negotiating) return;
  g_negotiating = true;
  GArray* transceivers = nullptr;
  g_signal_emit_by_name(webrtc, "get-transceivers", &transceivers);
  for (guint i = 0; transceivers && i < transceivers->len; ++i) {
    auto* t = g_array_index(transceivers, GstWebRTCRTPTransceiver*, i);
    g_object_set(t, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, nullptr);
  }
  if (transceivers) g_array_unref(transceivers);
  GstPromise* promise = gst_promise_new_with_change_func(onOfferCreated, nullptr, nullptr);
  g_signal_emit_by_name(webrtc, "create-offer", nullptr, promise);
}

void onGatheringState(GstElement*, GParamSpec*, gpointer) {
  // The callback runs on a webrtcbin thread: hop to the main loop.
  g_idle_add(
      [](gpointer) -> gboolean {
        sendOfferIfReady();
        return G_SOURCE_REMOVE;
      },
      nullptr);
}

void onIceConnectionState(GstElement* webrtc, GParamSpec*, gpointer) {
  GstWebRTCICEConnectionState s;
  g_object_get(webrtc, "ice-connection-state", &s, nullptr);
  static const char* names[] = {"new",    "checking",     "connected", "completed",
                                "failed", "disconnected", "closed"};
  std::string name = s < 7 ? names[s] : "unknown";
  g_idle_add(
      [](gpointer data) -> gboolean {
        auto* n = static_cast<std::string*>(data);
        emit("state " + *n);
        delete n;
        return G_SOURCE_REMOVE;
      },
      new std::string(name));
}

gboolean onStdin(GIOChannel* ch, GIOCondition, gpointer) {
  gchar* line = nullptr;
  gsize len = 0;
  const GIOStatus st = g_io_channel_read_line(ch, &line, &len, nullptr, nullptr);
  if (st != G_IO_STATUS_NORMAL) {
    g_main_loop_quit(g_loop);
    return G_SOURCE_REMOVE;
  }
  std::string s(line, len);
  g_free(line);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.rfind("answer ", 0) == 0) {
    GstSDPMessage* sdp = nullptr;
    gst_sdp_message_new(&sdp);
    const std::string text = unflatten(s.substr(7));
    if (gst_sdp_message_parse_buffer(reinterpret_cast<const guint8*>(text.data()), text.size(), sdp) !=
        GST_SDP_OK) {
      emit("error bad answer");
      g_status = 1;
      g_main_loop_quit(g_loop);
      return G_SOURCE_REMOVE;
    }
    GstWebRTCSessionDescription* answer = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, sdp);
    GstPromise* p = gst_promise_new();
    g_signal_emit_by_name(g_webrtc, "set-remote-description", answer, p);
    gst_promise_wait(p);
    gst_promise_unref(p);
    gst_webrtc_session_description_free(answer);
    // Hand the answer's candidates to the ICE agent explicitly (non-trickle answer).
    int mline = -1;
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t end = text.find("\r\n", pos);
      if (end == std::string::npos) end = text.size();
      const std::string l = text.substr(pos, end - pos);
      pos = end + 2;
      if (l.rfind("m=", 0) == 0) ++mline;
      if (l.rfind("a=candidate:", 0) == 0 && mline >= 0) {
        g_signal_emit_by_name(g_webrtc, "add-ice-candidate", static_cast<guint>(mline), l.substr(2).c_str());
      }
    }
    emit("answer-applied");
  } else if (s == "quit") {
    g_main_loop_quit(g_loop);
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  GError* err = nullptr;
  GstElement* pipe = gst_parse_launch(
      "webrtcbin name=w bundle-policy=max-bundle "
      "audiotestsrc is-live=true wave=ticks ! audioconvert ! audioresample ! opusenc ! rtpopuspay ! "
      "application/x-rtp,media=audio,encoding-name=OPUS,payload=96,clock-rate=48000 ! w. "
      "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! videoconvert ! "
      "vp8enc deadline=1 cpu-used=8 ! rtpvp8pay ! "
      "application/x-rtp,media=video,encoding-name=VP8,payload=97,clock-rate=90000 ! w.",
      &err);
  if (pipe == nullptr) {
    emit(std::string("error ") + (err ? err->message : "gst_parse_launch"));
    return 1;
  }
  g_webrtc = gst_bin_get_by_name(GST_BIN(pipe), "w");
  // Loopback only (as src/endpoint does inside the test namespace): without this libnice never finishes
  // gathering.
  GstElement* ice = nullptr;
  g_object_get(g_webrtc, "ice-agent", &ice, nullptr);
  if (ice != nullptr) {
    gboolean added = FALSE;
    g_signal_emit_by_name(ice, "add-local-ip-address", "127.0.0.1", &added);
    g_object_set(ice, "ice-tcp", FALSE, nullptr);
    gst_object_unref(ice);
  }
  g_signal_connect(g_webrtc, "on-negotiation-needed", G_CALLBACK(onNegotiationNeeded), nullptr);
  g_signal_connect(g_webrtc, "notify::ice-gathering-state", G_CALLBACK(onGatheringState), nullptr);
  g_signal_connect(g_webrtc, "notify::ice-connection-state", G_CALLBACK(onIceConnectionState), nullptr);
  g_loop = g_main_loop_new(nullptr, FALSE);
  GIOChannel* in = g_io_channel_unix_new(0);
  g_io_add_watch(in, static_cast<GIOCondition>(G_IO_IN | G_IO_HUP | G_IO_ERR), onStdin, nullptr);
  // Gathering may finish before set-local-description resolves: poll as a fallback.
  g_timeout_add(
      100,
      [](gpointer) -> gboolean {
        sendOfferIfReady();
        return g_offer_sent ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
      },
      nullptr);
  gst_element_set_state(pipe, GST_STATE_PLAYING);
  // on-negotiation-needed may have fired while the pipeline was being built: negotiate anyway.
  g_timeout_add(
      300,
      [](gpointer) -> gboolean {
        onNegotiationNeeded(g_webrtc, nullptr);
        return G_SOURCE_REMOVE;
      },
      nullptr);
  g_main_loop_run(g_loop);
  gst_element_set_state(pipe, GST_STATE_NULL);
  g_io_channel_unref(in);
  gst_object_unref(g_webrtc);
  gst_object_unref(pipe);
  g_main_loop_unref(g_loop);
  emit("bye");
  return g_status;
}
