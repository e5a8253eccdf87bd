#include "endpoint/webrtc_stats.hpp"

#include <gst/webrtc/webrtc.h>

#include <algorithm>

namespace chorus::endpoint {
namespace {

std::uint64_t getUint(const GstStructure* s, const char* field) {
  const GValue* v = gst_structure_get_value(s, field);
  if (v == nullptr) return 0;
  GValue out = G_VALUE_INIT;
  g_value_init(&out, G_TYPE_UINT64);
  std::uint64_t result = 0;
  if (g_value_type_transformable(G_VALUE_TYPE(v), G_TYPE_UINT64) && g_value_transform(v, &out)) {
    result = g_value_get_uint64(&out);
  }
  g_value_unset(&out);
  return result;
}

std::optional<double> getDouble(const GstStructure* s, const char* field) {
  const GValue* v = gst_structure_get_value(s, field);
  if (v == nullptr) return std::nullopt;
  GValue out = G_VALUE_INIT;
  g_value_init(&out, G_TYPE_DOUBLE);
  std::optional<double> result;
  if (g_value_type_transformable(G_VALUE_TYPE(v), G_TYPE_DOUBLE) && g_value_transform(v, &out)) {
    result = g_value_get_double(&out);
  }
  g_value_unset(&out);
  return result;
}

void maxInto(std::optional<double>& acc, std::optional<double> v) {
  if (v) acc = acc ? std::max(*acc, *v) : *v;
}

gboolean visit(GQuark, const GValue* value, gpointer user_data) {
  auto& out = *static_cast<LegStats*>(user_data);
  if (!GST_VALUE_HOLDS_STRUCTURE(value)) return TRUE;
  const GstStructure* s = gst_value_get_structure(value);
  GstWebRTCStatsType type{};
  if (!gst_structure_get(s, "type", GST_TYPE_WEBRTC_STATS_TYPE, &type, nullptr)) return TRUE;
  switch (type) {
    case GST_WEBRTC_STATS_OUTBOUND_RTP:
      out.packets_sent += getUint(s, "packets-sent");
      out.bytes_sent += getUint(s, "bytes-sent");
      break;
    case GST_WEBRTC_STATS_INBOUND_RTP: {
      out.packets_received += getUint(s, "packets-received");
      out.bytes_received += getUint(s, "bytes-received");
      auto jitter = getDouble(s, "jitter");  // seconds
      if (jitter) maxInto(out.jitter_ms, *jitter * 1000.0);
      break;
    }
    case GST_WEBRTC_STATS_REMOTE_INBOUND_RTP: {
      auto rtt = getDouble(s, "round-trip-time");  // seconds
      if (rtt && *rtt > 0) maxInto(out.rtt_ms, *rtt * 1000.0);
      break;
    }
    case GST_WEBRTC_STATS_LOCAL_CANDIDATE:
    case GST_WEBRTC_STATS_REMOTE_CANDIDATE: {
      if (out.ice_candidates.size() >= 64) break;
      const gchar* addr = gst_structure_get_string(s, "address");
      const gchar* proto = gst_structure_get_string(s, "protocol");
      const gchar* ctype = gst_structure_get_string(s, "candidate-type");
      std::string line = type == GST_WEBRTC_STATS_LOCAL_CANDIDATE ? "local " : "remote ";
      line += std::string(ctype ? ctype : "?") + " " + (proto ? proto : "?") + " " + (addr ? addr : "?") +
              ":" + std::to_string(getUint(s, "port"));
      out.ice_candidates.push_back(std::move(line));
      break;
    }
    case GST_WEBRTC_STATS_CANDIDATE_PAIR: {
      // webrtcbin 1.22 puts rtpbin's transport-cc figures on the selected pair.
      const GValue* twcc = gst_structure_get_value(s, "gst-twcc-stats");
      if (twcc != nullptr && GST_VALUE_HOLDS_STRUCTURE(twcc)) {
        const GstStructure* t = gst_value_get_structure(twcc);
        if (gst_structure_has_field(t, "bitrate-sent"))
          out.twcc_bitrate_sent_bps = getUint(t, "bitrate-sent");
        if (gst_structure_has_field(t, "bitrate-recv"))
          out.twcc_bitrate_recv_bps = getUint(t, "bitrate-recv");
        out.twcc_loss_pct = getDouble(t, "packet-loss-pct");
      }
      if (out.ice_candidates.size() >= 64) break;
      const gchar* local = gst_structure_get_string(s, "local-candidate-id");
      const gchar* remote = gst_structure_get_string(s, "remote-candidate-id");
      out.ice_candidates.push_back(std::string("pair ") + (local ? local : "?") + " -> " +
                                   (remote ? remote : "?"));
      break;
    }
    default:
      break;
  }
  return TRUE;
}

}  // namespace

const char* iceConnectionStateName(GstWebRTCICEConnectionState s) noexcept {
  switch (s) {
    case GST_WEBRTC_ICE_CONNECTION_STATE_NEW:
      return "new";
    case GST_WEBRTC_ICE_CONNECTION_STATE_CHECKING:
      return "checking";
    case GST_WEBRTC_ICE_CONNECTION_STATE_CONNECTED:
      return "connected";
    case GST_WEBRTC_ICE_CONNECTION_STATE_COMPLETED:
      return "completed";
    case GST_WEBRTC_ICE_CONNECTION_STATE_FAILED:
      return "failed";
    case GST_WEBRTC_ICE_CONNECTION_STATE_DISCONNECTED:
      return "disconnected";
    case GST_WEBRTC_ICE_CONNECTION_STATE_CLOSED:
      return "closed";
  }
  return "unknown";
}

const char* peerConnectionStateName(GstWebRTCPeerConnectionState s) noexcept {
  switch (s) {
    case GST_WEBRTC_PEER_CONNECTION_STATE_NEW:
      return "new";
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTING:
      return "connecting";
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED:
      return "connected";
    case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED:
      return "disconnected";
    case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
      return "failed";
    case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED:
      return "closed";
  }
  return "unknown";
}

void addWebrtcStats(const GstStructure* reply, LegStats& out) {
  if (reply != nullptr) gst_structure_foreach(reply, visit, &out);
}

}  // namespace chorus::endpoint
