// libFuzzer target: focus::Router (src/focus/router.cpp). A fixed call: A publishes audio, simulcast VP8
// video (q/h/f) and H264 video; B publishes audio; B and C subscribe to A, A to B. The input is a script of
// steps: raw bytes as RTP or RTCP from any peer, RTP built around fuzzed fields with known SSRCs/mid/rid,
// NACK/PLI/FIR and transport-cc feedback for the out SSRCs, ticks, re-subscriptions with other sizes, track
// changes, negotiation (live out tracks) and peer removal. C has downlink congestion control (transport-wide
// sequence numbers on what it receives, its feedback driving the layer choice, pauses and padding probes).
// Invariants: no crash; every packet handed to the sink leaves kSinkTrailerRoom bytes of room and parses,
// RTP with an SSRC the receiver was given and without header extensions, except the transport-wide number
// for a receiver with downlink congestion control (always there); RTCP as a valid compound; the input packet
// is never modified.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "focus/router.hpp"
#include "media/rtcp/rtcp_packet.hpp"
#include "media/rtcp/transport_cc_feedback.hpp"
#include "media/rtp/rtp_packet.hpp"
#include "media/rtp/transport_wide_seq.hpp"

using namespace chorus;
using namespace chorus::focus;

namespace {

constexpr ParticipantId kA = 1;
constexpr ParticipantId kB = 2;
constexpr ParticipantId kC = 3;
constexpr std::uint8_t kTcc = 3;  // C's transport-wide sequence number extension id

class Reader {
 public:
  Reader(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}
  bool empty() const { return pos_ >= n_; }
  std::uint8_t u8() { return pos_ < n_ ? d_[pos_++] : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() << 8 | u8()); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(u16()) << 16 | u16(); }
  std::vector<std::uint8_t> bytes(std::size_t want) {
    const std::size_t k = std::min(want, n_ - std::min(pos_, n_));
    std::vector<std::uint8_t> v(d_ + pos_, d_ + pos_ + k);
    pos_ += k;
    return v;
  }

 private:
  const std::uint8_t* d_;
  std::size_t n_;
  std::size_t pos_{0};
};

class CheckingSink : public RouterSink {
 public:
  const Router* router{nullptr};

  void sendRtp(ParticipantId to, std::span<std::uint8_t> buffer, std::size_t length) override {
    if (buffer.size() < length + kSinkTrailerRoom) __builtin_trap();
    auto v = media::RtpPacketView::parse(media::ByteSpan(buffer.data(), length));
    if (!v) __builtin_trap();
    // Numbered exactly when the receiver has downlink congestion control (C, until it is removed).
    const bool numbered = router->downlinkStats(to).has_value();
    if (numbered ? !media::readTransportWideSeq(*v, kTcc) : v->hasExtension()) __builtin_trap();
    bool known = false;
    for (const auto& t : router->outTracks(to)) known |= t.ssrc == v->ssrc();
    if (!known) __builtin_trap();
    scribble(buffer, length);
  }
  void sendRtcp(ParticipantId to, std::span<std::uint8_t> buffer, std::size_t length) override {
    if (buffer.size() < length + kSinkTrailerRoom) __builtin_trap();
    if (!media::validateRtcpCompound(media::ByteSpan(buffer.data(), length), true)) __builtin_trap();
    if (to != kA && to != kB) {
      // Subscribers only get translated sender reports, on one of their own out SSRCs.
      media::RtcpCompoundReader r(media::ByteSpan(buffer.data(), length));
      auto p = r.next();
      if (!p || p->type != media::kRtcpSr) __builtin_trap();
      auto sr = media::RtcpSenderReport::parse(*p);
      if (!sr) __builtin_trap();
      bool known = false;
      for (const auto& t : router->outTracks(to)) known |= t.ssrc == sr->ssrc;
      if (!known) __builtin_trap();
    }
    scribble(buffer, length);
  }

 private:
  // Like SRTP protect in place: the router must not rely on the buffer after the call.
  static void scribble(std::span<std::uint8_t> buffer, std::size_t length) {
    for (std::size_t i = 0; i < length + kSinkTrailerRoom; ++i) buffer[i] ^= 0x5A;
  }
};

PublishedTrackInfo track(std::string mid, std::string kind, std::string id, std::vector<std::string> rids,
                         std::string codec = "") {
  PublishedTrackInfo t;
  t.mid = std::move(mid);
  t.kind = std::move(kind);
  t.stream_id = "s";
  t.track_id = std::move(id);
  t.rids = std::move(rids);
  t.width = 1280;
  t.height = 720;
  t.codec = std::move(codec);
  return t;
}

std::vector<PublishedTrackInfo> tracksOfA(bool full) {
  std::vector<PublishedTrackInfo> v{track("0", "audio", "a0", {})};
  v.push_back(track("1", "video", "a1", {"q", "h", "f"}));
  v.back().rtx_payload_type = 97;  // RTX of simulcast layers: by repaired-rid
  if (full) {
    v.push_back(track("2", "video", "a2", {}, "H264"));
    v.back().ssrcs = {0x2222, 0x2223};
    v.back().rtx_payload_type = 97;
    v.back().rtx_ssrcs = {{0x2222, 0x2223}};  // and by FID
  }
  return v;
}

void subscribeAll(Router& r, TimeMs now) {
  for (const char* id : {"a0", "a1", "a2"}) {
    (void)r.subscribe(kB, kA, id, 640, 360, now);
    (void)r.subscribe(kC, kA, id, 1280, 720, now);
  }
  (void)r.subscribe(kA, kB, "b0", 0, 0, now);
}

// The first `count` out tracks of `sub` are in its description.
void makeLive(Router& r, ParticipantId sub, std::size_t count) {
  std::vector<std::uint32_t> ssrcs;
  for (const auto& t : r.outTracks(sub)) {
    if (ssrcs.size() < count) ssrcs.push_back(t.ssrc);
  }
  (void)r.setLiveOutTracks(sub, ssrcs);
}

constexpr std::array<std::uint32_t, 6> kSsrcs{100, 200, 300, 0x2222, 0x2223, 0x5555};
constexpr std::array<const char*, 5> kMids{"", "0", "1", "2", "9"};
constexpr std::array<const char*, 5> kRids{"", "q", "h", "f", "x"};

std::vector<std::uint8_t> buildRtp(Reader& in, std::uint32_t ssrc, std::string_view mid,
                                   std::string_view rid) {
  const std::uint8_t flags = in.u8();
  const std::uint16_t seq = in.u16();
  const std::uint32_t ts = in.u32();
  std::vector<std::uint8_t> p{static_cast<std::uint8_t>(0x80 | ((flags & 1) ? 0x10 : 0) | ((flags >> 1) & 1)),
                              static_cast<std::uint8_t>((flags & 0x80) | ((flags & 0x04) ? 97 : 96)),
                              static_cast<std::uint8_t>(seq >> 8),
                              static_cast<std::uint8_t>(seq),
                              static_cast<std::uint8_t>(ts >> 24),
                              static_cast<std::uint8_t>(ts >> 16),
                              static_cast<std::uint8_t>(ts >> 8),
                              static_cast<std::uint8_t>(ts),
                              static_cast<std::uint8_t>(ssrc >> 24),
                              static_cast<std::uint8_t>(ssrc >> 16),
                              static_cast<std::uint8_t>(ssrc >> 8),
                              static_cast<std::uint8_t>(ssrc)};
  if ((flags >> 1) & 1) {  // one CSRC
    for (int i = 0; i < 4; ++i) p.push_back(static_cast<std::uint8_t>(i));
  }
  if (flags & 1) {  // a one-byte extension block with mid and rid
    std::vector<std::uint8_t> ext;
    if (!mid.empty()) {
      ext.push_back(static_cast<std::uint8_t>(0x10 | (mid.size() - 1)));
      ext.insert(ext.end(), mid.begin(), mid.end());
    }
    if (!rid.empty()) {
      ext.push_back(static_cast<std::uint8_t>(0x20 | (rid.size() - 1)));
      ext.insert(ext.end(), rid.begin(), rid.end());
    }
    while (ext.size() % 4 != 0) ext.push_back(0);
    p.insert(p.end(), {0xBE, 0xDE, 0, static_cast<std::uint8_t>(ext.size() / 4)});
    p.insert(p.end(), ext.begin(), ext.end());
  }
  if (flags & 0x40) {  // a VP8 keyframe start
    p.insert(p.end(), {0x90, 0xC0, 0x80, flags, 3, 0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A});
  }
  auto payload = in.bytes(in.u8() * 8u);
  p.insert(p.end(), payload.begin(), payload.end());
  if ((flags & 0x20) && !payload.empty()) p[0] |= 0x20;  // padding: the last byte counts it (maybe invalid)
  return p;
}

void feedRtp(Router& r, ParticipantId from, std::vector<std::uint8_t> bytes, std::string_view mid,
             std::string_view rid, TimeMs now) {
  const auto copy = bytes;
  InboundRtp info;
  info.mid = mid;
  info.rid = rid;
  if (bytes.size() > 1 && (bytes[1] & 0x7F) == 97) info.repaired_rid = rid;  // RTX names the rid it repairs
  // Half the packets carry a transport-wide sequence number (taken from the RTP sequence number field), so
  // the transport-cc feedback generator runs on fuzzed orders, gaps and duplicates.
  if (bytes.size() > 3 && (bytes[1] & 1) != 0) {
    info.transport_seq = static_cast<std::uint16_t>((bytes[2] << 8) | bytes[3]);
  }
  r.onRtp(from, info, bytes, now);
  if (bytes != copy) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  CheckingSink sink;
  RouterConfig config;
  config.seed = 7;
  config.video_rtx_packets = 64;
  config.audio_rtx_packets = 16;
  config.max_ssrcs_per_publisher = 8;
  config.max_unmapped_ssrcs_per_publisher = 4;
  config.require_live_out_tracks = true;
  Router router(sink, config);
  sink.router = &router;
  TimeMs now = 1'000'000;
  router.setPublishedTracks(kA, tracksOfA(true));
  router.setPublishedTracks(kB, {track("0", "audio", "b0", {})});
  router.setSubscriberPayloadType(kB, "video", 98);
  router.setSubscriberRtxPayloadType(kB, "video", 99);  // C receives retransmissions on the media SSRCs
  router.setSubscriberPayloadType(kC, "audio", 109);
  router.setSubscriberTransportCc(kC, kTcc);
  subscribeAll(router, now);
  for (ParticipantId p : {kA, kB, kC}) makeLive(router, p, 16);

  Reader in(data, size);
  int steps = 0;
  while (!in.empty() && ++steps < 4096) {
    const std::uint8_t op = in.u8();
    switch (op % 8) {
      case 0: {  // raw bytes as RTP from A or B, with a fuzzed mid/rid
        const std::uint8_t sel = in.u8();
        auto bytes = in.bytes(in.u16() % 1600);
        feedRtp(router, (sel & 1) ? kB : kA, std::move(bytes), kMids[(sel >> 1) % kMids.size()],
                kRids[(sel >> 4) % kRids.size()], now);
        break;
      }
      case 1:
      case 2: {  // well-formed RTP from A (mostly) with known SSRCs
        const std::uint8_t sel = in.u8();
        const std::string_view mid = kMids[(sel >> 3 & 7) % kMids.size()];
        const std::string_view rid = kRids[(sel >> 6) % kRids.size()];
        auto bytes = buildRtp(in, kSsrcs[(sel & 7) % kSsrcs.size()], mid, rid);
        feedRtp(router, (op & 0x80) ? kB : kA, std::move(bytes), mid, rid, now);
        break;
      }
      case 3: {                                      // raw RTCP from anyone
        const ParticipantId from = 1 + in.u8() % 4;  // 4: unknown
        auto bytes = in.bytes(in.u16() % 1600);
        router.onRtcp(from, bytes, now);
        break;
      }
      case 4: {  // feedback for an SSRC the subscriber really receives
        const ParticipantId from = (op & 0x80) ? kC : kB;
        const auto outs = router.outTracks(from);
        const std::uint8_t sel = in.u8();
        const std::uint32_t ssrc = outs.empty() ? in.u32() : outs[sel % outs.size()].ssrc;
        std::array<std::uint8_t, 512> buf{};
        std::optional<std::size_t> n;
        if ((sel >> 5) == 7) {  // transport-cc feedback about what the focus sent (fuzzed statuses)
          std::array<media::TransportCcPacketStatus, 64> st{};
          const std::size_t k = 1 + in.u8() % st.size();
          for (std::size_t i = 0; i < k; ++i) {
            const std::uint8_t b = in.u8();
            st[i].received = (b & 1) != 0;
            st[i].delta_ticks = st[i].received ? ((b & 2) ? static_cast<std::int16_t>(in.u16()) : b >> 2) : 0;
          }
          media::TransportCcFeedbackHeader h;
          h.sender_ssrc = 9;
          h.base_seq = in.u16();
          h.reference_time = static_cast<std::int32_t>(in.u16());
          h.feedback_count = in.u8();
          n = media::buildTransportCcFeedback(buf, h, std::span(st.data(), k));
        } else if ((sel >> 5) == 0) {
          n = media::buildRtcpPli(buf, 9, ssrc);
        } else if ((sel >> 5) == 1) {
          const media::RtcpFirEntry e[] = {{ssrc, in.u8()}};
          n = media::buildRtcpFir(buf, 9, e);
        } else {
          std::array<std::uint16_t, 8> lost{};
          const std::size_t k = 1 + in.u8() % lost.size();
          for (std::size_t i = 0; i < k; ++i) lost[i] = in.u16();
          n = media::buildRtcpNack(buf, 9, ssrc, std::span(lost.data(), k));
        }
        if (n) router.onRtcp(from, media::ByteSpan(buf.data(), *n), now);
        break;
      }
      case 5:
        now += in.u8() * 8;
        router.tick(now);
        break;
      case 6: {  // re-subscribe with another size
        const ParticipantId sub = (op & 0x80) ? kC : kB;
        const char* id = (op & 0x40) ? "a1" : "a2";
        const int w = in.u16() % 4000;
        const int h = in.u16() % 4000;
        (void)router.subscribe(sub, kA, id, w, h, now);
        break;
      }
      case 7: {  // track and peer changes
        const std::uint8_t sel = in.u8();
        switch (sel % 6) {
          case 0:
            router.setPublishedTracks(kA, tracksOfA((sel & 0x80) != 0));
            break;
          case 1:
            router.unsubscribe(kB, kA, (sel & 0x80) ? "a1" : "a0");
            break;
          case 2:
            (void)router.removePeer(kC);
            break;
          case 3:
            router.setPublishedTracks(kB, {track("0", "audio", "b0", {})});
            subscribeAll(router, now);
            break;
          case 4:  // a negotiation: some out tracks in the description, some not (yet)
            makeLive(router, (sel & 0x80) ? kC : kB, (sel >> 3) & 7);
            break;
          default:
            router.setSubscriberPayloadType(kC, (sel & 0x80) ? "video" : "audio", sel);
            break;
        }
        break;
      }
    }
  }
  const auto& st = router.stats();
  if (st.forwarded_packets > 0 && st.forwarded_bytes < 12 * st.forwarded_packets) __builtin_trap();
  return 0;
}
