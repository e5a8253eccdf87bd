#pragma once
// Packet builders, a recording sink and a fixture for the Router's unit tests (router_test.cpp,
// router_downlink_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "focus/router.hpp"
#include "media/rtcp/rtcp_packet.hpp"
#include "media/rtp/rtp_packet.hpp"
#include "media/rtp/vp8_descriptor.hpp"

namespace chorus::focus::test {

using media::ByteSpan;

constexpr ParticipantId kA = 1;  // publisher
constexpr ParticipantId kB = 2;
constexpr ParticipantId kC = 3;
constexpr ParticipantId kD = 4;
constexpr TimeMs kT0 = 1'000'000;

constexpr std::uint8_t kExtMid = 1;
constexpr std::uint8_t kExtRid = 2;
constexpr std::uint8_t kExtAbsSendTime = 3;

constexpr std::uint32_t kQ = 100;  // simulcast SSRCs of A's video
constexpr std::uint32_t kH = 200;
constexpr std::uint32_t kF = 300;

// ---- packet builders ----

struct Pkt {
  std::uint32_t ssrc{0};
  std::uint8_t pt{111};
  std::uint16_t seq{0};
  std::uint32_t ts{0};
  bool marker{false};
  std::string mid;
  std::string rid;
  std::vector<std::uint32_t> csrcs;
  std::vector<std::uint8_t> payload{1, 2, 3, 4};
  std::uint8_t padding{0};
};

inline void put16(std::vector<std::uint8_t>& v, std::uint16_t x) {
  v.push_back(static_cast<std::uint8_t>(x >> 8));
  v.push_back(static_cast<std::uint8_t>(x));
}
inline void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  put16(v, static_cast<std::uint16_t>(x >> 16));
  put16(v, static_cast<std::uint16_t>(x));
}

// RTP with one-byte header extensions: mid, rid (when set) and always abs-send-time (to check stripping).
inline std::vector<std::uint8_t> rtp(const Pkt& p) {
  std::vector<std::uint8_t> ext;
  auto element = [&](std::uint8_t id, std::string_view value) {
    ext.push_back(static_cast<std::uint8_t>((id << 4) | (value.size() - 1)));
    ext.insert(ext.end(), value.begin(), value.end());
  };
  if (!p.mid.empty()) element(kExtMid, p.mid);
  if (!p.rid.empty()) element(kExtRid, p.rid);
  element(kExtAbsSendTime, std::string_view("\x01\x02\x03", 3));
  while (ext.size() % 4 != 0) ext.push_back(0);

  std::vector<std::uint8_t> v;
  v.push_back(static_cast<std::uint8_t>(0x80 | (p.padding ? 0x20 : 0) | 0x10 | p.csrcs.size()));
  v.push_back(static_cast<std::uint8_t>((p.marker ? 0x80 : 0) | p.pt));
  put16(v, p.seq);
  put32(v, p.ts);
  put32(v, p.ssrc);
  for (auto c : p.csrcs) put32(v, c);
  put16(v, 0xBEDE);
  put16(v, static_cast<std::uint16_t>(ext.size() / 4));
  v.insert(v.end(), ext.begin(), ext.end());
  v.insert(v.end(), p.payload.begin(), p.payload.end());
  for (int i = 1; i < p.padding; ++i) v.push_back(0);
  if (p.padding) v.push_back(p.padding);
  return v;
}

// VP8 payload: descriptor with X, S, I (15-bit picture id) and L (TL0PICIDX), then a frame tag.
inline std::vector<std::uint8_t> vp8(bool keyframe, std::uint16_t picture_id, std::uint8_t tl0 = 0,
                                     bool frame_start = true) {
  std::vector<std::uint8_t> v{static_cast<std::uint8_t>(0x80 | (frame_start ? 0x10 : 0)), 0xC0};
  put16(v, static_cast<std::uint16_t>(0x8000 | picture_id));
  v.push_back(tl0);
  if (keyframe) {
    v.insert(v.end(), {0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01});
  } else {
    v.insert(v.end(), {0x31, 0x02, 0x00});
  }
  for (int i = 0; i < 20; ++i) v.push_back(static_cast<std::uint8_t>(i));
  return v;
}

// ---- the fake sink ----

struct Sent {
  ParticipantId to{0};
  bool rtcp{false};
  std::vector<std::uint8_t> bytes;
};

class FakeSink : public RouterSink {
 public:
  void sendRtp(ParticipantId to, std::span<std::uint8_t> buffer, std::size_t length) override {
    record(to, false, buffer, length);
  }
  void sendRtcp(ParticipantId to, std::span<std::uint8_t> buffer, std::size_t length) override {
    record(to, true, buffer, length);
  }

  std::vector<Sent> sent;

  std::vector<Sent> rtpTo(ParticipantId to) const {
    std::vector<Sent> out;
    for (const auto& s : sent) {
      if (s.to == to && !s.rtcp) out.push_back(s);
    }
    return out;
  }
  std::vector<Sent> rtcpTo(ParticipantId to) const {
    std::vector<Sent> out;
    for (const auto& s : sent) {
      if (s.to == to && s.rtcp) out.push_back(s);
    }
    return out;
  }
  // Media SSRCs of every PLI sent to `to`.
  std::vector<std::uint32_t> plisTo(ParticipantId to) const {
    std::vector<std::uint32_t> out;
    for (const auto& s : rtcpTo(to)) {
      media::RtcpCompoundReader r(s.bytes);
      while (auto p = r.next()) {
        if (auto pli = media::RtcpPli::parse(*p)) {
          EXPECT_EQ(pli->sender_ssrc, 1u);
          out.push_back(pli->media_ssrc);
        }
      }
    }
    return out;
  }
  void clear() { sent.clear(); }

 private:
  void record(ParticipantId to, bool rtcp, std::span<std::uint8_t> buffer, std::size_t length) {
    EXPECT_GE(buffer.size(), length + kSinkTrailerRoom);
    sent.push_back(Sent{to, rtcp, std::vector<std::uint8_t>(buffer.begin(), buffer.begin() + length)});
    // Like SRTP protect: rewrite the packet in place and append a trailer. The router must not care.
    for (std::size_t i = 0; i < length + kSinkTrailerRoom && i < buffer.size(); ++i) buffer[i] ^= 0xA5;
  }
};

inline PublishedTrackInfo audioTrack(std::string mid = "0", std::string track_id = "a-audio") {
  PublishedTrackInfo t;
  t.mid = std::move(mid);
  t.kind = "audio";
  t.stream_id = "stream-a";
  t.track_id = std::move(track_id);
  t.clock_rate = 48000;
  return t;
}

inline PublishedTrackInfo simulcastTrack() {
  PublishedTrackInfo t;
  t.mid = "1";
  t.kind = "video";
  t.stream_id = "stream-a";
  t.track_id = "a-video";
  t.rids = {"q", "h", "f"};
  t.clock_rate = 90000;
  t.width = 1280;
  t.height = 720;
  return t;
}

inline PublishedTrackInfo plainVideoTrack() {
  PublishedTrackInfo t;
  t.mid = "1";
  t.kind = "video";
  t.stream_id = "stream-a";
  t.track_id = "a-video";
  t.clock_rate = 90000;
  return t;
}

inline RouterConfig testConfig() {
  RouterConfig c;
  c.seed = 42;
  c.video_rtx_packets = 64;
  c.upstream_nack_tries =
      3;  // the upstream NACK tests count tries on three (the default: RouterNackDefaults)
  return c;
}

class RouterTest : public ::testing::Test {
 protected:
  explicit RouterTest(RouterConfig config = testConfig()) : router_(sink_, config) {}

  // Feeds `p` from `from`; checks that the router left the packet untouched.
  void send(ParticipantId from, const Pkt& p, TimeMs now) {
    auto bytes = rtp(p);
    const auto copy = bytes;
    InboundRtp info{.mid = p.mid, .rid = p.rid};
    router_.onRtp(from, info, bytes, now);
    EXPECT_EQ(bytes, copy);
  }
  void sendVideo(std::uint32_t ssrc, std::string rid, std::uint16_t seq, bool keyframe, std::uint16_t pid,
                 TimeMs now, std::uint8_t tl0 = 0) {
    Pkt p;
    p.ssrc = ssrc;
    p.pt = 96;
    p.seq = seq;
    p.ts = static_cast<std::uint32_t>(seq) * 3000;
    p.mid = "1";
    p.rid = std::move(rid);
    p.payload = vp8(keyframe, pid, tl0);
    send(kA, p, now);
  }
  void sendRtcp(ParticipantId from, const std::vector<std::uint8_t>& compound, TimeMs now) {
    router_.onRtcp(from, compound, now);
  }
  SubscriptionStats statsOf(ParticipantId subscriber, std::uint32_t out_ssrc) {
    for (auto& s : router_.subscriptionStats(subscriber)) {
      if (s.out_ssrc == out_ssrc) return s;
    }
    ADD_FAILURE() << "no subscription " << out_ssrc;
    return {};
  }

  FakeSink sink_;
  Router router_;
};

}  // namespace chorus::focus::test
