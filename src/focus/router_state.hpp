#pragma once
// The Router's state, shared by the files that implement it (router.cpp: publishing, subscribing, layer
// choice, keyframes, forwarding RTP; router_rtcp.cpp: RTCP both ways, NACKs and RTX, receiver reports,
// transport-cc feedback to publishers; router_downlink.cpp: live out tracks, downlink congestion control,
// publisher send caps, probes; router_audio_slots.cpp: audio slots). focus/router.hpp declares these types;
// only those files include this header.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "focus/audio_slots.hpp"
#include "focus/downlink.hpp"
#include "focus/router.hpp"
#include "media/cc/transport_cc_feedback_generator.hpp"
#include "media/rtcp/rtcp_packet.hpp"
#include "media/rtp/nack_list.hpp"
#include "media/rtp/receive_statistics.hpp"
#include "media/rtp/retransmission_buffer.hpp"
#include "media/rtp/vp8_continuity.hpp"

namespace chorus::focus {

inline constexpr TimeMs kNever = std::numeric_limits<TimeMs>::min() / 4;
inline constexpr std::size_t kMaxReportBlocks = 31;
inline constexpr std::size_t kRrPacketMax = 8 + kMaxReportBlocks * media::kRtcpReportBlockSize;
inline constexpr std::size_t kMaxCname = 255;
inline constexpr TimeMs kLayerRateWindowMs = 500;

static_assert(kUpstreamNackMaxMissing == media::NackList::kCapacity);

enum class Quality : std::uint8_t { Low, Medium, High };
enum class VideoCodec : std::uint8_t { Vp8, H264, Other };

// Waterfall's RID names (pkg/webrtc_ext/track_info.go); any other rid is ranked by its position in the list.
inline Quality qualityOf(std::string_view rid, std::size_t index, std::size_t count) {
  if (rid == "q") return Quality::Low;
  if (rid == "h") return Quality::Medium;
  if (rid == "f") return Quality::High;
  if (count <= 1 || index == 0) return Quality::Low;
  return index + 1 == count ? Quality::High : Quality::Medium;
}

inline VideoCodec codecOf(std::string_view name) {
  auto eq = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return (x >= 'a' && x <= 'z' ? x - 32 : x) == (y >= 'a' && y <= 'z' ? y - 32 : y);
           });
  };
  if (name.empty() || eq(name, "VP8")) return VideoCodec::Vp8;
  if (eq(name, "H264")) return VideoCodec::H264;
  return VideoCodec::Other;
}

template <typename T>
void eraseValue(std::vector<T>& v, const T& value) {
  v.erase(std::remove(v.begin(), v.end(), value), v.end());
}

inline void addUnique(std::vector<ParticipantId>* out, ParticipantId id) {
  if (out != nullptr && std::find(out->begin(), out->end(), id) == out->end()) out->push_back(id);
}

// The layer a track's size and the requested size call for (waterfall track/simulcast.go).
inline Quality desiredQuality(const PublishedTrackInfo& info, int width, int height) noexcept {
  const std::int64_t full = std::int64_t{info.width} + info.height;
  const std::int64_t want = std::int64_t{width} + height;
  if (full <= 0 || want <= 0) return Quality::Low;
  const double ratio = static_cast<double>(full) / static_cast<double>(want);
  return ratio <= 1.0 ? Quality::High : ratio <= 2.0 ? Quality::Medium : Quality::Low;
}

// One simulcast layer (or the only stream of a non-simulcast track).
struct Router::Layer {
  std::string rid;
  Quality quality{Quality::Low};
  std::optional<std::uint32_t> ssrc;  // learnt from RTP
  std::optional<std::uint8_t> pt;     // payload type of the first packet on `ssrc`
  TimeMs last_packet_at{kNever};
  // Received rate (wire bytes), for the downlink allocation: bytes since rate_since, smoothed bits/s.
  std::uint64_t rate_bytes{0};
  TimeMs rate_since{kNever};
  std::int64_t bps{0};
};

struct Router::Track {
  PublishedTrackInfo info;
  bool video{false};
  VideoCodec codec{VideoCodec::Vp8};
  std::uint32_t clock_rate{90000};
  std::vector<Layer> layers;
  std::vector<Subscription*> subscribers;  // Borrowed: owned by the subscribers' Participant.
  ParticipantId publisher{0};
  SpeechActivity activity;  // audio: for the audio slots' ranking
};

// A learnt publisher SSRC.
struct Router::InStream {
  std::uint32_t ssrc{0};
  Track* track{nullptr};  // Borrowed: owned by the same Participant.
  std::size_t layer{0};
  media::ReceiveStatistics rx;
  TimeMs last_keyframe_request{kNever};
  // The last keyframe that began on it (VP8/H.264 video), to tell whether the last request was answered.
  TimeMs last_keyframe_at{kNever};
  bool keyframe_request_pending{false};
  bool have_sr{false};
  std::uint32_t last_sr{0};  // middle 32 bits of the SR's NTP timestamp
  TimeMs sr_received_at{0};
  media::NackList missing;  // video only: for upstream NACKs
};

struct Router::Subscription {
  ParticipantId subscriber{0};
  Participant* owner{nullptr};  // Borrowed: the subscriber's Participant, which owns this.
  Track* track{nullptr};  // Borrowed: owned by the publisher's Participant; the subscription ends before it.
  OutTrack out;
  int width{0};
  int height{0};
  std::optional<std::uint8_t> pt;
  media::SimulcastRewriter rewriter;
  std::unique_ptr<media::RetransmissionBuffer> rtx;  // Owned; null when NACKs are not answered.
  media::Vp8Continuity vp8;
  std::uint64_t packets{0};
  std::uint64_t bytes{0};
  std::uint64_t retransmitted{0};
  std::uint64_t rtx_sent{0};
  std::uint16_t rtx_seq{0};  // the RTX stream's own numbering (RFC 4588 §4)
  std::uint32_t last_ts{0};  // the timestamp of the last packet sent (RTX padding probes carry it)
  bool live{false};          // the subscriber's description has the track (require_live_out_tracks)
  bool paused{false};        // downlink allocation: no budget even for the lowest layer
  std::optional<std::size_t> allocated;  // downlink allocation: index into track->layers
  bool have_out_seq{false};
  bool last_marker{false};         // the last packet sent ended a frame (a probe may follow it)
  std::uint8_t last_pt{0};         // its payload type (probes use it)
  DownlinkPauseGrace pause_grace;  // downlink allocation
  bool shedding{false};            // downlink allocation: the current layer is dropped until the switch
  // The outgoing number of the keyframe that began the current layer after a switch: what came before is
  // of the old layer, which the subscriber no longer needs once it has that keyframe, so NACKs for it are
  // not answered (the retransmission budget goes to the keyframe and what follows it).
  std::optional<std::uint16_t> switch_seq;
  // An audio slot (RouterConfig::audio_slots): its index, and since when `track` (nullptr: none) is on it.
  std::optional<std::size_t> slot;
  TimeMs slot_since{0};
};

struct Router::Participant {
  ParticipantId id{0};
  std::vector<std::unique_ptr<Track>> tracks;           // Owned; at most max_tracks_per_publisher.
  std::unordered_map<std::uint32_t, InStream> streams;  // at most max_ssrcs_per_publisher.
  std::vector<std::uint32_t> unmapped;                  // at most max_unmapped_ssrcs_per_publisher.
  std::vector<std::unique_ptr<Subscription>>
      subscriptions;  // Owned; at most max_subscriptions_per_subscriber.
  std::optional<std::uint8_t> audio_pt;
  std::optional<std::uint8_t> video_pt;
  std::optional<std::uint8_t> h264_pt;
  std::uint8_t rtx_video_pt{0};  // RTX payload types the subscriber accepted (0: none)
  std::uint8_t rtx_h264_pt{0};
  // A publisher's RTX SSRCs -> the media SSRC each repairs; at most max_ssrcs_per_publisher.
  std::unordered_map<std::uint32_t, std::uint32_t> rtx_streams;
  std::optional<TimeMs> last_rr;  // set when the first SSRC is learnt
  // transport-cc receive side: created with the first packet that carries a transport-wide sequence number.
  std::unique_ptr<media::cc::TransportCcFeedbackGenerator> tcc;  // Owned.
  TimeMs last_tcc_feedback{0};
  std::unique_ptr<DownlinkController> downlink;  // Owned; set while the subscriber has downlink transport-cc.
  // Audio slots: the slots (Owned; empty until it subscribes to more than audio_slots audio tracks) and the
  // audio tracks it subscribed to since (Borrowed, sorted; at most max_audio_candidates).
  std::vector<std::unique_ptr<Subscription>> slots;
  std::vector<Track*> audio_candidates;
  bool slots_changed{false};  // since takeAudioSlotChanges()
  std::int64_t cap_bps{0};    // the send cap last told (REMB); 0 = none yet
  TimeMs last_cap{kNever};
};

}  // namespace chorus::focus
