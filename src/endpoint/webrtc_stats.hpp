#pragma once
// Reads webrtcbin's get-stats reply (a GstStructure of GstStructures, one per RTCStats object). Internal.
#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

#include "endpoint/media_event.hpp"

namespace chorus::endpoint {

// Fills the RTP counters, rtt_ms and jitter_ms of `out` (sums over outbound/inbound streams, max for rtt and
// jitter); leaves the decoder counters and state alone.
void addWebrtcStats(const GstStructure* reply, LegStats& out);

// Names as in the W3C enums ("checking", "connected", ...).
const char* iceConnectionStateName(GstWebRTCICEConnectionState s) noexcept;
const char* peerConnectionStateName(GstWebRTCPeerConnectionState s) noexcept;

}  // namespace chorus::endpoint
