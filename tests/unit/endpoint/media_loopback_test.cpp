// Two MediaEngines in one process, connected through the API over 127.0.0.1.
// CTest runs each of these inside `unshare -n` (see CMakeLists.txt); started elsewhere they skip.
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "endpoint/media_engine.hpp"
#include "proto/sdp_summary.hpp"

namespace chorus::endpoint {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// True when `lo` is the only interface: a private network namespace.
bool onlyLoopback() {
  struct if_nameindex* names = if_nameindex();
  if (names == nullptr) return false;
  bool only_lo = true;
  for (struct if_nameindex* i = names; i->if_index != 0; ++i) {
    if (std::string(i->if_name) != "lo") only_lo = false;
  }
  if_freenameindex(names);
  return only_lo;
}

MediaConfig testConfig(const char* name) {
  MediaConfig c;
  c.name = name;
  c.width = 320;
  c.height = 240;
  c.fps = 15;
  c.video_bitrate_bps = 300'000;
  c.loopback_only = true;
  c.video_label = name;  // the pipeline with the name overlay must connect and decode like one without
  return c;
}

// One side of a leg as seen through its events.
struct Side {
  MediaEngine* engine{nullptr};
  LegId leg{0};
  ConnectionState state{ConnectionState::New};
  std::set<ConnectionState> states_seen;
  std::vector<RemoteStream> remote_streams;
  std::vector<std::string> errors;
  std::vector<LocalDescription> descriptions;
  int negotiation_needed{0};
  int candidates{0};
  int gathering_complete{0};
  bool candidate_before_description{false};
  bool closed{false};
  std::vector<std::string> dc_open_labels;
  std::vector<std::string> dc_messages;
};

// Routes the events of two engines to each other, like the signalling layer would.
class Link {
 public:
  Link(MediaEngine& a, LegId la, MediaEngine& b, LegId lb) {
    a_.engine = &a;
    a_.leg = la;
    b_.engine = &b;
    b_.leg = lb;
  }
  Side& a() { return a_; }
  Side& b() { return b_; }
  // When set, the next offer is held back and the candidates that follow it are delivered first.
  bool candidates_before_offer{false};
  // When set, offers pass through it on their way to the other side (SDP munging, as a focus would write).
  std::function<std::string(const std::string&)> rewrite_offer;

  void pump() {
    route(a_, b_);
    route(b_, a_);
  }

  // Pumps events until pred() holds or the timeout passes; waits on the engines' wakeup fds (no sleeps).
  bool waitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      pump();
      if (pred()) return true;
      if (Clock::now() >= deadline) return false;
      pollfd fds[2] = {{a_.engine->wakeupFd(), POLLIN, 0}, {b_.engine->wakeupFd(), POLLIN, 0}};
      ::poll(fds, 2, 50);
    }
  }

  LegStats stats(Side& s) {
    auto r = s.engine->stats(s.leg);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : LegStats{};
  }

  bool connected() const {
    return a_.state == ConnectionState::Connected && b_.state == ConnectionState::Connected;
  }

 private:
  void route(Side& from, Side& to) {
    for (auto& ev : from.engine->poll()) {
      if (std::getenv("CHORUS_TEST_TRACE") != nullptr)
        std::cout << "  [" << (&from == &a_ ? "alice" : "bob") << "] " << describe(ev) << "\n";
      if (legOf(ev) == from.leg) handle(from, to, ev);
    }
  }

 public:
  // Acts on one event of `from` (signalling to `to`, bookkeeping in `from`).
  void handle(Side& from, Side& to, MediaEvent& ev) {
    if (auto* d = std::get_if<LocalDescription>(&ev)) {
      from.descriptions.push_back(*d);
      if (d->type == SdpType::Offer && candidates_before_offer) {
        held_offer_ = d->sdp;
        return;
      }
      std::string sdp = d->type == SdpType::Offer && rewrite_offer ? rewrite_offer(d->sdp) : d->sdp;
      to.engine->setRemoteDescription(to.leg, d->type, sdp);
      if (d->type == SdpType::Offer) to.engine->createAnswer(to.leg);
    } else if (auto* c = std::get_if<LocalCandidate>(&ev)) {
      if (from.descriptions.empty()) from.candidate_before_description = true;
      ++from.candidates;
      to.engine->addRemoteCandidate(to.leg, c->candidate, c->sdp_mid, c->sdp_mline_index);
    } else if (std::holds_alternative<GatheringComplete>(ev)) {
      ++from.gathering_complete;
      to.engine->addRemoteCandidate(to.leg, "", std::nullopt, 0);
      if (held_offer_) {  // all candidates went first; now the offer
        to.engine->setRemoteDescription(to.leg, SdpType::Offer, *held_offer_);
        to.engine->createAnswer(to.leg);
        held_offer_.reset();
        candidates_before_offer = false;
      }
    } else if (auto* s = std::get_if<LegState>(&ev)) {
      from.state = s->state;
      from.states_seen.insert(s->state);
      if (s->state == ConnectionState::Closed) from.closed = true;
    } else if (auto* r = std::get_if<RemoteStream>(&ev)) {
      from.remote_streams.push_back(*r);
    } else if (std::holds_alternative<NegotiationNeeded>(ev)) {
      ++from.negotiation_needed;
    } else if (auto* e = std::get_if<LegError>(&ev)) {
      from.errors.push_back(e->message);
    } else if (auto* o = std::get_if<DataChannelOpen>(&ev)) {
      from.dc_open_labels.push_back(o->label);
    } else if (auto* m = std::get_if<DataChannelMessage>(&ev)) {
      from.dc_messages.push_back(m->text);
    }
  }

 private:
  Side a_;
  Side b_;
  std::optional<std::string> held_offer_;
};

class MediaLoopback : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!onlyLoopback()) GTEST_SKIP() << "needs a private network namespace (ctest runs it under unshare -n)";
    auto a = MediaEngine::create(testConfig("alice"));
    auto b = MediaEngine::create(testConfig("bob"));
    ASSERT_TRUE(a) << a.error().message;
    ASSERT_TRUE(b) << b.error().message;
    alice_ = std::move(*a);
    bob_ = std::move(*b);
  }

  // alice offers on leg la, bob answers on leg lb; returns once both are connected.
  std::unique_ptr<Link> connect(LegId la, LegId lb, LegOptions bob_options = {},
                                bool early_candidates = false, LegOptions alice_options = {}) {
    auto link = std::make_unique<Link>(*alice_, la, *bob_, lb);
    link->candidates_before_offer = early_candidates;
    alice_->createLeg(la, alice_options);
    bob_->createLeg(lb, bob_options);
    alice_->createOffer(la);
    EXPECT_TRUE(link->waitUntil([&] { return link->connected(); }, 20s))
        << "alice " << toString(link->a().state) << ", bob " << toString(link->b().state);
    return link;
  }

  // Waits until both sides decoded at least n more audio and video frames than in `since`.
  static bool waitFrames(Link& link, std::uint64_t n, std::chrono::milliseconds timeout,
                         LegStats* a_out = nullptr, LegStats* b_out = nullptr) {
    LegStats a0 = link.stats(link.a());
    LegStats b0 = link.stats(link.b());
    auto last = Clock::now() - 1s;
    LegStats a;
    LegStats b;
    bool done = link.waitUntil(
        [&] {
          if (Clock::now() - last < 100ms) return false;
          last = Clock::now();
          a = link.stats(link.a());
          b = link.stats(link.b());
          return a.audio_frames_decoded >= a0.audio_frames_decoded + n &&
                 a.video_frames_decoded >= a0.video_frames_decoded + n &&
                 b.audio_frames_decoded >= b0.audio_frames_decoded + n &&
                 b.video_frames_decoded >= b0.video_frames_decoded + n;
        },
        timeout);
    if (a_out != nullptr) *a_out = a;
    if (b_out != nullptr) *b_out = b;
    return done;
  }

  std::unique_ptr<MediaEngine> alice_;
  std::unique_ptr<MediaEngine> bob_;
};

bool hasStream(const Side& s, const std::string& id, MediaKind kind) {
  for (const auto& r : s.remote_streams)
    if (r.stream_id == id && r.kind == kind) return true;
  return false;
}

TEST_F(MediaLoopback, ConnectsAndDecodes) {
  const auto start = Clock::now();
  auto link = connect(1, 2);
  ASSERT_TRUE(link->connected());
  std::cout << "[ metrics  ] both legs connected after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count() << " ms\n";
  LegStats a;
  LegStats b;
  bool frames = waitFrames(*link, 30, 20s, &a, &b);
  ASSERT_TRUE(frames) << "alice decoded " << a.audio_frames_decoded << "/" << a.video_frames_decoded
                      << ", bob " << b.audio_frames_decoded << "/" << b.video_frames_decoded;
  std::cout << "[ metrics  ] connected+30 frames after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()
            << " ms; bob sent " << b.packets_sent << " pkts / " << b.bytes_sent << " B, received "
            << b.packets_received << " pkts, rtt " << (b.rtt_ms ? std::to_string(*b.rtt_ms) : "-")
            << " ms, jitter " << (b.jitter_ms ? std::to_string(*b.jitter_ms) : "-") << " ms\n";
  EXPECT_GT(a.packets_received, 0u);
  EXPECT_GT(b.packets_sent, 0u);
  EXPECT_GT(b.bytes_received, 0u);

  // Trickle: candidates came after their description, then the end-of-candidates marker.
  for (Side* s : {&link->a(), &link->b()}) {
    EXPECT_FALSE(s->candidate_before_description);
    EXPECT_GT(s->candidates, 0);
    EXPECT_EQ(s->gathering_complete, 1);
    EXPECT_TRUE(s->errors.empty()) << s->errors.front();
    EXPECT_EQ(s->negotiation_needed, 0);
  }
  // The SDP carries one MediaStream id for audio+video: the one localStreamId() reports.
  ASSERT_EQ(link->a().descriptions.size(), 1u);
  auto offer = proto::summarizeSdp(link->a().descriptions[0].sdp);
  ASSERT_TRUE(offer);
  ASSERT_EQ(offer->media.size(), 2u);
  for (const auto& m : offer->media) EXPECT_EQ(m.stream_id, alice_->localStreamId(StreamPurpose::UserMedia));
  auto answer = proto::summarizeSdp(link->b().descriptions.at(0).sdp);
  ASSERT_TRUE(answer);
  for (const auto& m : answer->media) EXPECT_EQ(m.stream_id, bob_->localStreamId(StreamPurpose::UserMedia));
  // Each side saw the other's usermedia stream by that id.
  EXPECT_TRUE(hasStream(link->b(), alice_->localStreamId(StreamPurpose::UserMedia), MediaKind::Audio));
  EXPECT_TRUE(hasStream(link->b(), alice_->localStreamId(StreamPurpose::UserMedia), MediaKind::Video));
  EXPECT_TRUE(hasStream(link->a(), bob_->localStreamId(StreamPurpose::UserMedia), MediaKind::Audio));
  EXPECT_TRUE(hasStream(link->a(), bob_->localStreamId(StreamPurpose::UserMedia), MediaKind::Video));
}

TEST_F(MediaLoopback, MuteSendsSilenceAndBlack) {
  auto link = connect(1, 2);
  ASSERT_TRUE(waitFrames(*link, 15, 20s));
  LegStats before = link->stats(link->b());
  EXPECT_LT(before.video_frames_black, before.video_frames_decoded / 2);
  alice_->setMuted(true, true);
  // Bob keeps decoding: black frames and silent audio (the m-lines stay sendrecv; nothing renegotiates).
  LegStats b;
  auto last = Clock::now();
  ASSERT_TRUE(link->waitUntil(
      [&] {
        if (Clock::now() - last < 100ms) return false;
        last = Clock::now();
        b = link->stats(link->b());
        return b.video_frames_black >= before.video_frames_black + 20 &&
               b.audio_frames_silent >= before.audio_frames_silent + 50;
      },
      15s))
      << "black " << b.video_frames_black << " silent " << b.audio_frames_silent;
  EXPECT_TRUE(link->connected());
  EXPECT_EQ(link->a().negotiation_needed, 0);
  // Alice still decodes bob normally.
  LegStats a = link->stats(link->a());
  EXPECT_LT(a.video_frames_black, a.video_frames_decoded / 2);

  alice_->setMuted(false, false);
  LegStats muted = link->stats(link->b());
  ASSERT_TRUE(link->waitUntil(
      [&] {
        if (Clock::now() - last < 100ms) return false;
        last = Clock::now();
        b = link->stats(link->b());
        return b.video_frames_decoded - b.video_frames_black >=
                   muted.video_frames_decoded - muted.video_frames_black + 10 &&
               b.audio_frames_decoded - b.audio_frames_silent >=
                   muted.audio_frames_decoded - muted.audio_frames_silent + 25;
      },
      15s));
  EXPECT_TRUE(link->connected());
}

// Runs one offer/answer round started by alice, and waits for it to complete.
void renegotiate(Link& link, MediaEngine& alice, bool ice_restart = false) {
  const auto a_desc = link.a().descriptions.size();
  const auto b_desc = link.b().descriptions.size();
  alice.createOffer(link.a().leg, ice_restart);
  ASSERT_TRUE(link.waitUntil(
      [&] { return link.a().descriptions.size() > a_desc && link.b().descriptions.size() > b_desc; }, 10s));
  alice.flush();  // the answer has been applied
}

TEST_F(MediaLoopback, ScreenshareRenegotiation) {
  auto link = connect(1, 2);
  ASSERT_TRUE(waitFrames(*link, 15, 20s));
  const std::string screen_id = alice_->localStreamId(StreamPurpose::ScreenShare);
  alice_->setScreenshare(true);
  ASSERT_TRUE(link->waitUntil([&] { return link->a().negotiation_needed == 1; }, 5s));
  renegotiate(*link, *alice_);
  auto offer = proto::summarizeSdp(link->a().descriptions.back().sdp);
  ASSERT_TRUE(offer);
  ASSERT_EQ(offer->media.size(), 3u);
  EXPECT_EQ(offer->media[2].media, "video");
  EXPECT_EQ(offer->media[2].stream_id, screen_id);
  ASSERT_TRUE(link->waitUntil([&] { return hasStream(link->b(), screen_id, MediaKind::Video); }, 10s));
  // Both of alice's video streams decode at bob: ~2x the video frame rate.
  LegStats b0 = link->stats(link->b());
  ASSERT_TRUE(waitFrames(*link, 30, 10s));
  LegStats b1 = link->stats(link->b());
  // Audio decodes at 50 frames/s; one 15 fps video stream would give 0.3 video frames per audio frame, two
  // 0.6.
  const double ratio = double(b1.video_frames_decoded - b0.video_frames_decoded) /
                       double(b1.audio_frames_decoded - b0.audio_frames_decoded);
  EXPECT_GT(ratio, 0.45) << "bob should decode two video streams from alice";
  EXPECT_TRUE(link->connected());

  // Switching it off renegotiates again; the m-line stays (recvonly), usermedia keeps flowing.
  alice_->setScreenshare(false);
  ASSERT_TRUE(link->waitUntil([&] { return link->a().negotiation_needed == 2; }, 5s));
  renegotiate(*link, *alice_);
  auto off = proto::summarizeSdp(link->a().descriptions.back().sdp);
  ASSERT_TRUE(off);
  ASSERT_EQ(off->media.size(), 3u);
  EXPECT_EQ(off->media[2].direction, "recvonly");
  ASSERT_TRUE(waitFrames(*link, 15, 10s));
  EXPECT_TRUE(link->connected());

  // Off long enough for bob's sweep (every 2 s) to release the ended screenshare source (its decode chain and
  // rtpbin's jitterbuffer, payload demuxer and payload pad), then on again without a renegotiation (webrtcbin
  // 1.22 cannot answer the direction change back; a mesh peer may send on a section it answered recvonly):
  // the same SSRC comes back. rtpbin must be able to add its payload pad again ("Padname ... is not unique"
  // failed the whole receive transport before the stale pad was removed), and bob decodes the screenshare
  // again.
  const auto screenFrames = [&] {
    const LegStats st = link->stats(link->b());
    const auto it = st.remote_streams.find(screen_id);
    return it == st.remote_streams.end() ? std::uint64_t{0} : it->second.video_frames_decoded;
  };
  const auto off_at = Clock::now();
  link->waitUntil([&] { return Clock::now() - off_at >= 7s; }, 8s);
  const std::uint64_t frames_off = screenFrames();
  EXPECT_EQ(link->stats(link->b()).sources_released, 1u);
  alice_->setScreenshare(true);
  std::uint64_t frames_on = frames_off;
  auto last = Clock::now();
  EXPECT_TRUE(link->waitUntil(
      [&] {
        if (Clock::now() - last < 100ms) return false;
        last = Clock::now();
        frames_on = screenFrames();
        return frames_on >= frames_off + 15;
      },
      15s))
      << "screenshare frames at bob: " << frames_off << " when off, " << frames_on << " after it came back";
  EXPECT_EQ(link->stats(link->b()).sources_resumed, 1u);
  ASSERT_TRUE(waitFrames(*link, 15, 10s));
  EXPECT_TRUE(link->connected());
  EXPECT_TRUE(link->a().errors.empty());
  EXPECT_TRUE(link->b().errors.empty());
}

TEST_F(MediaLoopback, MediaDisabledLegAndEarlyCandidates) {
  // Bob's leg starts with media disabled; alice's candidates reach bob before her offer (buffered).
  LegOptions bob_options;
  bob_options.media_enabled = false;
  auto link = connect(1, 2, bob_options, /*early_candidates=*/true);
  ASSERT_TRUE(link->connected());
  // Bob -> alice carries nothing; alice -> bob flows.
  LegStats b;
  auto last = Clock::now();
  ASSERT_TRUE(link->waitUntil(
      [&] {
        if (Clock::now() - last < 100ms) return false;
        last = Clock::now();
        b = link->stats(link->b());
        return b.video_frames_decoded >= 30 && b.audio_frames_decoded >= 30;
      },
      20s));
  LegStats a = link->stats(link->a());
  EXPECT_EQ(a.audio_frames_decoded, 0u);
  EXPECT_EQ(a.video_frames_decoded, 0u);
  bob_->setMediaEnabled(2, true);
  ASSERT_TRUE(waitFrames(*link, 30, 15s));

  // Alice pauses without renegotiating, for longer than bob's sweep (every 2 s) needs to see her sources
  // idle. Her offer is max-bundle: every section but the first has port 0 and a=bundle-only, which is not a
  // rejection. Bob keeps her sources (a live source released here would come back with a new decode chain,
  // counted in sources_resumed) and decodes her again when she resumes.
  alice_->setMediaEnabled(1, false);
  const auto paused_at = Clock::now();
  link->waitUntil([&] { return Clock::now() - paused_at >= 5s; }, 6s);
  EXPECT_EQ(link->stats(link->b()).sources_released, 0u);
  alice_->setMediaEnabled(1, true);
  ASSERT_TRUE(waitFrames(*link, 30, 15s));
  EXPECT_EQ(link->stats(link->b()).sources_released, 0u);
  EXPECT_EQ(link->stats(link->b()).sources_resumed, 0u);
  EXPECT_TRUE(link->a().errors.empty());
  EXPECT_TRUE(link->b().errors.empty());
}

TEST_F(MediaLoopback, IceRestart) {
  auto link = connect(1, 2);
  ASSERT_TRUE(waitFrames(*link, 15, 20s));
  auto first = proto::summarizeSdp(link->a().descriptions.back().sdp);
  ASSERT_TRUE(first);
  renegotiate(*link, *alice_, /*ice_restart=*/true);
  auto second = proto::summarizeSdp(link->a().descriptions.back().sdp);
  ASSERT_TRUE(second);
  EXPECT_EQ(link->a().descriptions.back().type, SdpType::Offer);
  // webrtcbin 1.22 accepts the "ice-restart" option but ignores it: the offer keeps the ICE credentials
  // (docs/endpoint.md). What we can promise: a valid new offer, and the session survives it.
  std::cout << "[ metrics  ] ice-restart ufrag " << first->media[0].ice_ufrag << " -> "
            << second->media[0].ice_ufrag
            << (first->media[0].ice_ufrag == second->media[0].ice_ufrag ? " (unchanged)" : " (restarted)")
            << "\n";
  ASSERT_TRUE(waitFrames(*link, 30, 15s));
  EXPECT_TRUE(link->connected());
  EXPECT_TRUE(link->a().errors.empty());
  EXPECT_TRUE(link->b().errors.empty());
}

// Several links sharing engines: polls each engine once and hands every event to the link owning its leg.
class Mesh {
 public:
  void add(Link& link) { links_.push_back(&link); }
  void pump() {
    std::vector<MediaEngine*> engines;
    for (Link* l : links_) {
      for (MediaEngine* e : {l->a().engine, l->b().engine}) {
        if (std::find(engines.begin(), engines.end(), e) == engines.end()) engines.push_back(e);
      }
    }
    for (MediaEngine* e : engines) {
      for (auto& ev : e->poll()) {
        for (Link* l : links_) {
          if (l->a().engine == e && l->a().leg == legOf(ev)) l->handle(l->a(), l->b(), ev);
          if (l->b().engine == e && l->b().leg == legOf(ev)) l->handle(l->b(), l->a(), ev);
        }
      }
    }
    fds_.clear();
    for (MediaEngine* e : engines) fds_.push_back({e->wakeupFd(), POLLIN, 0});
  }
  bool waitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      pump();
      if (pred()) return true;
      if (Clock::now() >= deadline) return false;
      ::poll(fds_.data(), fds_.size(), 50);
    }
  }

 private:
  std::vector<Link*> links_;
  std::vector<pollfd> fds_;
};

TEST_F(MediaLoopback, MeshSharesFeedsAndSurvivesClosingOneLeg) {
  // alice calls bob (legs 1/2) and carol (legs 3/4) from one engine: one encode per feed, two send branches.
  auto carol_created = MediaEngine::create(testConfig("carol"));
  ASSERT_TRUE(carol_created);
  auto carol = std::move(*carol_created);
  Link ab(*alice_, 1, *bob_, 2);
  Link ac(*alice_, 3, *carol, 4);
  Mesh mesh;
  mesh.add(ab);
  mesh.add(ac);
  alice_->createLeg(1);
  alice_->createLeg(3);
  bob_->createLeg(2);
  carol->createLeg(4);
  alice_->createOffer(1);
  alice_->createOffer(3);
  ASSERT_TRUE(mesh.waitUntil([&] { return ab.connected() && ac.connected(); }, 20s));
  auto decoded = [](Link& l, Side& s) {
    LegStats st = l.stats(s);
    return std::min(st.audio_frames_decoded, st.video_frames_decoded);
  };
  auto last = Clock::now();
  ASSERT_TRUE(mesh.waitUntil(
      [&] {
        if (Clock::now() - last < 100ms) return false;
        last = Clock::now();
        return decoded(ab, ab.a()) >= 30 && decoded(ab, ab.b()) >= 30 && decoded(ac, ac.a()) >= 30 &&
               decoded(ac, ac.b()) >= 30;
      },
      20s));
  EXPECT_TRUE(hasStream(ab.b(), alice_->localStreamId(StreamPurpose::UserMedia), MediaKind::Video));
  EXPECT_TRUE(hasStream(ac.b(), alice_->localStreamId(StreamPurpose::UserMedia), MediaKind::Video));

  // Closing alice's leg to bob unlinks its branches from the shared tees; carol's media keeps flowing.
  alice_->closeLeg(1);
  ASSERT_TRUE(mesh.waitUntil([&] { return ab.a().closed; }, 5s));
  const auto carol0 = decoded(ac, ac.b());
  const auto alice0 = decoded(ac, ac.a());
  ASSERT_TRUE(mesh.waitUntil(
      [&] {
        if (Clock::now() - last < 100ms) return false;
        last = Clock::now();
        return decoded(ac, ac.b()) >= carol0 + 30 && decoded(ac, ac.a()) >= alice0 + 30;
      },
      15s));
  EXPECT_TRUE(ac.connected());
  for (Side* s : {&ab.a(), &ab.b(), &ac.a(), &ac.b()}) EXPECT_TRUE(s->errors.empty()) << s->errors.front();
  bob_->closeLeg(2);
  alice_->closeLeg(3);
  carol->closeLeg(4);
  ASSERT_TRUE(mesh.waitUntil([&] { return ab.b().closed && ac.a().closed && ac.b().closed; }, 5s));
}

TEST_F(MediaLoopback, FileSourcesPlayInRealTime) {
  // A 4 s clip (VP8 + Opus in WebM) made with GStreamer itself; alice sends it instead of the test sources.
  const std::string path = ::testing::TempDir() + "chorus_endpoint_clip.webm";
  {
    GError* err = nullptr;
    const std::string desc =
        "videotestsrc num-buffers=60 pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 ! "
        "vp8enc deadline=1 ! webmmux name=m ! filesink location=" +
        path + " audiotestsrc num-buffers=200 ! audioconvert ! opusenc ! m.";
    GstElement* writer = gst_parse_launch(desc.c_str(), &err);
    ASSERT_NE(writer, nullptr) << (err != nullptr ? err->message : "");
    gst_element_set_state(writer, GST_STATE_PLAYING);
    GstBus* bus = gst_element_get_bus(writer);
    GstMessage* msg = gst_bus_timed_pop_filtered(
        bus, 10 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    ASSERT_NE(msg, nullptr);
    EXPECT_EQ(GST_MESSAGE_TYPE(msg), GST_MESSAGE_EOS);
    gst_message_unref(msg);
    gst_object_unref(bus);
    gst_element_set_state(writer, GST_STATE_NULL);
    gst_object_unref(writer);
  }
  MediaConfig config = testConfig("alice");
  config.audio_source = path;
  config.video_source = path;
  auto file_alice = MediaEngine::create(config);
  ASSERT_TRUE(file_alice) << file_alice.error().message;
  alice_ = std::move(*file_alice);
  const auto start = Clock::now();
  auto link = connect(1, 2);
  LegStats b;
  auto last = Clock::now();
  ASSERT_TRUE(link->waitUntil(
      [&] {
        if (Clock::now() - last < 100ms) return false;
        last = Clock::now();
        b = link->stats(link->b());
        return b.audio_frames_decoded >= 30 && b.video_frames_decoded >= 15;
      },
      15s))
      << "bob decoded " << b.audio_frames_decoded << "/" << b.video_frames_decoded;
  // Paced by clocksync: 15 video frames of a 15 fps clip cannot arrive in much less than a second.
  EXPECT_GE(Clock::now() - start, 900ms);
  EXPECT_LE(b.video_frames_decoded, 60u);
  std::remove(path.c_str());
}

// Waits for the first LocalDescription of `engine`, dropping other events.
std::optional<LocalDescription> nextDescription(MediaEngine& engine, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    for (auto& ev : engine.poll()) {
      if (auto* d = std::get_if<LocalDescription>(&ev)) return *d;
      if (auto* e = std::get_if<LegError>(&ev)) ADD_FAILURE() << e->message;
    }
    engine.waitForEvents(50ms);
  }
  return std::nullopt;
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

// A description that waits for send caps waits on its own leg: the engine thread stays free for other legs
// and for stats, and the bounded fallback (3 s) still lets the offer out. Here the audio feed never produces
// (its file does not exist), so leg 1's offer can only come from the fallback.
TEST_F(MediaLoopback, CapsWaitBlocksOnlyItsLeg) {
  MediaConfig config = testConfig("carol");
  config.audio_source = "/nonexistent/chorus-no-audio.ogg";
  auto created = MediaEngine::create(config);
  ASSERT_TRUE(created) << created.error().message;
  MediaEngine& carol = **created;
  const auto start = Clock::now();
  carol.createLeg(1);
  carol.createOffer(1);
  carol.createLeg(2);
  carol.flush();  // the old blocking wait held the engine thread here for 3 s
  auto stats = carol.stats(1, 1s);
  EXPECT_TRUE(stats) << stats.error().message;
  EXPECT_LT(Clock::now() - start, 1500ms);
  std::optional<LocalDescription> offer;
  const auto deadline = Clock::now() + 10s;
  while (!offer && Clock::now() < deadline) {
    for (auto& ev : carol.poll()) {
      if (auto* d = std::get_if<LocalDescription>(&ev)) offer = *d;
    }
    if (!offer) carol.waitForEvents(50ms);
  }
  ASSERT_TRUE(offer) << "no offer after the fallback";
  EXPECT_EQ(offer->leg, 1u);
  EXPECT_EQ(offer->type, SdpType::Offer);
  EXPECT_GE(Clock::now() - start, 2500ms) << "the offer did not wait for caps";
}

TEST_F(MediaLoopback, AnswerFollowsOfferPayloadTypes) {
  // A browser-like offer with other payload numbers than ours (opus 109, VP8 98).
  alice_->createLeg(1);
  alice_->createOffer(1);
  auto offer = nextDescription(*alice_, 10s);
  ASSERT_TRUE(offer);
  std::string sdp = replaceAll(offer->sdp, " 111\r\n", " 109\r\n");  // m=audio ... 111
  sdp = replaceAll(sdp, ":111 ", ":109 ");                           // rtpmap / rtcp-fb / fmtp
  sdp = replaceAll(sdp, " 96\r\n", " 98\r\n");
  sdp = replaceAll(sdp, " 96 102\r\n", " 98 102\r\n");  // m=video ... 96 102 (VP8, H.264 to receive)
  sdp = replaceAll(sdp, ":96 ", ":98 ");
  auto munged = proto::summarizeSdp(sdp);
  ASSERT_TRUE(munged);
  ASSERT_EQ(munged->media.at(0).payload_types.at("OPUS"), 109);
  ASSERT_EQ(munged->media.at(1).payload_types.at("VP8"), 98);

  bob_->createLeg(2);
  bob_->setRemoteDescription(2, SdpType::Offer, sdp);
  bob_->createAnswer(2);
  auto answer = nextDescription(*bob_, 10s);
  ASSERT_TRUE(answer);
  if (std::getenv("CHORUS_TEST_TRACE") != nullptr) std::cout << answer->sdp;
  auto info = proto::summarizeSdp(answer->sdp);
  ASSERT_TRUE(info);
  ASSERT_EQ(info->media.size(), 2u);
  EXPECT_EQ(info->media[0].payload_types.at("OPUS"), 109);
  EXPECT_EQ(info->media[1].payload_types.at("VP8"), 98);
  EXPECT_EQ(info->media[0].direction, "sendrecv");
  EXPECT_EQ(info->media[1].direction, "sendrecv");
  EXPECT_EQ(info->media[0].stream_id, bob_->localStreamId(StreamPurpose::UserMedia));
}

// The a=rtpmap / a=fmtp payload numbers of one m-section, in m= line order, with their rtpmap and fmtp text.
struct SdpCodecLine {
  int pt{0};
  std::string rtpmap;
  std::string fmtp;
};
std::vector<SdpCodecLine> codecsOfSection(const std::string& sdp, const std::string& kind) {
  std::vector<SdpCodecLine> out;
  const auto m = sdp.find("m=" + kind + " ");
  if (m == std::string::npos) return out;
  const auto end = sdp.find("\r\nm=", m);
  const std::string section = sdp.substr(m, end == std::string::npos ? std::string::npos : end - m);
  const std::string mline = section.substr(0, section.find("\r\n"));
  // m=video 9 UDP/TLS/RTP/SAVPF 96 102
  std::size_t pos = 0;
  for (int field = 0; field < 3 && pos != std::string::npos; ++field) pos = mline.find(' ', pos + 1);
  while (pos != std::string::npos) {
    const auto next = mline.find(' ', pos + 1);
    SdpCodecLine c;
    c.pt = std::atoi(
        mline.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1).c_str());
    auto line = [&](const std::string& attr) {
      const std::string key = "a=" + attr + ":" + std::to_string(c.pt) + " ";
      const auto at = section.find(key);
      return at == std::string::npos
                 ? std::string()
                 : section.substr(at + key.size(), section.find("\r\n", at) - at - key.size());
    };
    c.rtpmap = line("rtpmap");
    c.fmtp = line("fmtp");
    out.push_back(c);
    pos = next;
  }
  return out;
}

// Receiving H.264 needs an H.264 payload type in our SDP: a focus forwards an H.264 publisher's track only to
// participants whose offer has one (no transcoding). A VP8 sender's video section offers VP8 first (what it
// sends) and H.264 constrained baseline, packetization-mode=1 second; an offer that prefers H.264 (as a
// browser forced to H.264 makes it) is answered with H.264 still in it.
TEST_F(MediaLoopback, OffersAndAcceptsH264ToReceive) {
  alice_->createLeg(1);
  alice_->createOffer(1);
  auto offer = nextDescription(*alice_, 10s);
  ASSERT_TRUE(offer);
  if (std::getenv("CHORUS_TEST_TRACE") != nullptr) std::cout << offer->sdp;
  auto video = codecsOfSection(offer->sdp, "video");
  ASSERT_EQ(video.size(), 2u) << offer->sdp;
  EXPECT_EQ(video[0].pt, 96);
  EXPECT_EQ(video[0].rtpmap, "VP8/90000");
  EXPECT_EQ(video[1].pt, 102);
  EXPECT_EQ(video[1].rtpmap, "H264/90000");
  EXPECT_NE(video[1].fmtp.find("packetization-mode=1"), std::string::npos) << video[1].fmtp;
  EXPECT_NE(video[1].fmtp.find("profile-level-id=42e01f"), std::string::npos) << video[1].fmtp;
  EXPECT_NE(offer->sdp.find("a=rtcp-fb:102 nack pli"), std::string::npos);
  auto audio = codecsOfSection(offer->sdp, "audio");
  ASSERT_EQ(audio.size(), 1u);
  EXPECT_EQ(audio[0].rtpmap, "OPUS/48000/2");

  // The same offer with H.264 first, as a browser that prefers H.264 writes it.
  std::string sdp = replaceAll(offer->sdp, " 96 102\r\n", " 102 96\r\n");
  ASSERT_NE(sdp, offer->sdp);
  bob_->createLeg(2);
  bob_->setRemoteDescription(2, SdpType::Offer, sdp);
  bob_->createAnswer(2);
  auto answer = nextDescription(*bob_, 10s);
  ASSERT_TRUE(answer);
  if (std::getenv("CHORUS_TEST_TRACE") != nullptr) std::cout << answer->sdp;
  auto answered = codecsOfSection(answer->sdp, "video");
  const bool has_h264 = std::any_of(answered.begin(), answered.end(), [](const SdpCodecLine& c) {
    return c.pt == 102 && c.rtpmap == "H264/90000" &&
           c.fmtp.find("packetization-mode=1") != std::string::npos;
  });
  EXPECT_TRUE(has_h264) << answer->sdp;
  auto info = proto::summarizeSdp(answer->sdp);
  ASSERT_TRUE(info);
  ASSERT_EQ(info->media.size(), 2u);
  EXPECT_EQ(info->media[1].direction, "sendrecv");
}

// Two engines that send H.264 (MediaConfig::send_h264: openh264enc, rtph264pay) decode each other's video as
// H.264: every video frame each side decodes came out of the H.264 decoder, counted per remote stream.
TEST_F(MediaLoopback, H264BothWays) {
  for (auto* engine : {&alice_, &bob_}) {
    MediaConfig config = testConfig(engine == &alice_ ? "alice" : "bob");
    config.send_h264 = true;
    auto created = MediaEngine::create(config);
    ASSERT_TRUE(created) << created.error().message;
    *engine = std::move(*created);
  }
  auto link = connect(1, 2);
  ASSERT_TRUE(link->connected());
  LegStats a;
  LegStats b;
  ASSERT_TRUE(waitFrames(*link, 30, 20s, &a, &b))
      << "alice decoded " << a.audio_frames_decoded << "/" << a.video_frames_decoded << ", bob "
      << b.audio_frames_decoded << "/" << b.video_frames_decoded;
  auto video = codecsOfSection(link->a().descriptions.at(0).sdp, "video");
  ASSERT_EQ(video.size(), 1u);
  EXPECT_EQ(video[0].rtpmap, "H264/90000");
  const auto& from_alice = b.remote_streams[alice_->localStreamId(StreamPurpose::UserMedia)];
  const auto& from_bob = a.remote_streams[bob_->localStreamId(StreamPurpose::UserMedia)];
  std::cout << "[ metrics  ] H.264 frames decoded: bob from alice " << from_alice.h264_frames_decoded
            << " of " << from_alice.video_frames_decoded << ", alice from bob "
            << from_bob.h264_frames_decoded << " of " << from_bob.video_frames_decoded << "\n";
  EXPECT_GE(from_alice.h264_frames_decoded, 30u);
  EXPECT_EQ(from_alice.h264_frames_decoded, from_alice.video_frames_decoded);
  EXPECT_GE(from_bob.h264_frames_decoded, 30u);
  EXPECT_EQ(from_bob.h264_frames_decoded, from_bob.video_frames_decoded);
  EXPECT_LT(from_alice.video_frames_black, from_alice.video_frames_decoded);  // the test pattern, not black
  for (Side* s : {&link->a(), &link->b()}) EXPECT_TRUE(s->errors.empty()) << s->errors.front();
}

// Transport-wide congestion control feedback between two engines: each offers the transport-cc header
// extension (id 3) on every media section, its payloaders write it, and the receiving rtpbin answers with
// RTCP transport-cc feedback, which the sender's rtpbin turns into the twcc_* figures.
TEST_F(MediaLoopback, TransportCcFeedback) {
  auto link = connect(1, 2);
  ASSERT_TRUE(link->connected());
  const std::string ext =
      "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
  for (Side* s : {&link->a(), &link->b()}) {
    ASSERT_FALSE(s->descriptions.empty());
    const std::string& sdp = s->descriptions[0].sdp;
    const auto video = sdp.find("m=video");
    ASSERT_NE(video, std::string::npos);
    EXPECT_NE(sdp.find(ext), std::string::npos) << sdp;                          // audio
    EXPECT_NE(sdp.find(ext, video), std::string::npos) << sdp;                   // video
    EXPECT_NE(sdp.find("a=rtcp-fb:96 transport-cc"), std::string::npos) << sdp;  // webrtcbin's own
  }
  LegStats a;
  LegStats b;
  auto last = Clock::now() - 1s;
  const bool feedback = link->waitUntil(
      [&] {
        if (Clock::now() - last < 200ms) return false;
        last = Clock::now();
        a = link->stats(link->a());
        b = link->stats(link->b());
        return a.twcc_bitrate_recv_bps.value_or(0) > 0 && b.twcc_bitrate_recv_bps.value_or(0) > 0;
      },
      10s);
  std::cout << "[ metrics  ] transport-cc: alice sent " << a.twcc_bitrate_sent_bps.value_or(-1)
            << " b/s, bob got " << a.twcc_bitrate_recv_bps.value_or(-1) << " b/s (loss "
            << a.twcc_loss_pct.value_or(-1) << " %); bob sent " << b.twcc_bitrate_sent_bps.value_or(-1)
            << " b/s, alice got " << b.twcc_bitrate_recv_bps.value_or(-1) << " b/s (loss "
            << b.twcc_loss_pct.value_or(-1) << " %)\n";
  ASSERT_TRUE(feedback) << "no transport-cc feedback";
  EXPECT_LT(a.twcc_loss_pct.value_or(100), 5.0);
  EXPECT_LT(b.twcc_loss_pct.value_or(100), 5.0);
}

TEST_F(MediaLoopback, CloseLegCleansUp) {
  {
    auto link = connect(1, 2);
    ASSERT_TRUE(waitFrames(*link, 15, 20s));
    alice_->closeLeg(1);
    ASSERT_TRUE(link->waitUntil([&] { return link->a().closed; }, 5s));
    bob_->closeLeg(2);
    ASSERT_TRUE(link->waitUntil([&] { return link->b().closed; }, 5s));
    EXPECT_FALSE(alice_->stats(1));
  }
  // The engines are reusable: a new pair of legs connects and decodes.
  auto link = connect(3, 4);
  ASSERT_TRUE(waitFrames(*link, 30, 20s));
  alice_->closeLeg(3);
  bob_->closeLeg(4);
  ASSERT_TRUE(link->waitUntil([&] { return link->a().closed && link->b().closed; }, 5s));
}

std::size_t countEntries(const char* dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

// A participant whose legs are replaced again and again (focus-leg replacement, mesh churn) keeps its file
// descriptors and threads: each closed leg gives back its sockets, wakeup fds and streaming threads.
TEST_F(MediaLoopback, ClosedLegsGiveBackFdsAndThreads) {
  auto cycle = [&](LegId a, LegId b) {
    auto link = connect(a, b);
    ASSERT_TRUE(waitFrames(*link, 10, 20s));
    alice_->closeLeg(a);
    bob_->closeLeg(b);
    ASSERT_TRUE(link->waitUntil([&] { return link->a().closed && link->b().closed; }, 5s));
  };
  cycle(1, 2);  // warm-up: pools, the engines' shared feeds, GLib's worker threads
  cycle(3, 4);
  std::this_thread::sleep_for(1s);  // GStreamer's thread pools let idle threads go after a moment
  const std::size_t fds = countEntries("/proc/self/fd");
  const std::size_t threads = countEntries("/proc/self/task");
  for (LegId i = 0; i < 4; ++i) cycle(10 + 2 * i, 11 + 2 * i);
  std::this_thread::sleep_for(1s);
  const std::size_t fds_after = countEntries("/proc/self/fd");
  const std::size_t threads_after = countEntries("/proc/self/task");
  std::cout << "fds " << fds << " -> " << fds_after << ", threads " << threads << " -> " << threads_after
            << " after 4 more leg pairs\n";
  EXPECT_LE(fds_after, fds + 2);
  EXPECT_LE(threads_after, threads + 2);
}

}  // namespace
}  // namespace chorus::endpoint

namespace chorus::endpoint {
namespace {

// Not run by CTest: a steady 2-leg call for measuring CPU and memory, e.g.
//   unshare -n sh -c 'ip link set lo up && /usr/bin/time -v endpoint_test
//     --gtest_also_run_disabled_tests --gtest_filter=MediaLoopback.DISABLED_Soak'
// CHORUS_SOAK_SECONDS (10), CHORUS_SOAK_SIZE ("320x240@15") pick the length and the video format.
// What a participant does with its focus (docs/endpoint.md "Focus mode"): alice offers with the data channel
// "datachannel", bob (standing in for the focus) talks to her over it, then offers a new sendonly video
// section (bob's screenshare, rewritten to sendonly as a focus writes it). Alice answers it recvonly, decodes
// it and counts it under its msid stream id.
TEST_F(MediaLoopback, DataChannelAndFocusStyleRenegotiation) {
  LegOptions with_dc;
  with_dc.data_channel = "datachannel";
  auto link = connect(1, 2, {}, false, with_dc);
  ASSERT_TRUE(link->connected());
  ASSERT_TRUE(link->waitUntil(
      [&] { return !link->a().dc_open_labels.empty() && !link->b().dc_open_labels.empty(); }, 10s))
      << "alice open " << link->a().dc_open_labels.size() << ", bob open " << link->b().dc_open_labels.size();
  EXPECT_EQ(link->a().dc_open_labels, std::vector<std::string>{"datachannel"});
  EXPECT_EQ(link->b().dc_open_labels, std::vector<std::string>{"datachannel"});  // adopted from alice
  auto offer = proto::summarizeSdp(link->a().descriptions.at(0).sdp);
  ASSERT_TRUE(offer);
  ASSERT_EQ(offer->media.size(), 3u);
  EXPECT_EQ(offer->media[2].media, "application");

  const std::string ping = R"({"type":"m.call.ping","content":{}})";
  bob_->sendDataChannel(2, ping);
  alice_->sendDataChannel(1, R"({"type":"m.call.pong","content":{}})");
  std::string big(60'000, 'x');  // well over one SCTP chunk
  bob_->sendDataChannel(2, big);
  ASSERT_TRUE(link->waitUntil(
      [&] { return link->a().dc_messages.size() >= 2 && !link->b().dc_messages.empty(); }, 10s));
  EXPECT_EQ(link->a().dc_messages[0], ping);
  EXPECT_EQ(link->a().dc_messages[1], big);
  EXPECT_EQ(link->b().dc_messages[0], R"({"type":"m.call.pong","content":{}})");

  // Bob renegotiates: a new video section that only sends (to alice: her answer is recvonly).
  const std::string screen_id = bob_->localStreamId(StreamPurpose::ScreenShare);
  const std::string bob_id = bob_->localStreamId(StreamPurpose::UserMedia);
  link->rewrite_offer = [&](const std::string& sdp) {
    auto pos = sdp.find("a=msid:" + screen_id);
    auto section = sdp.rfind("m=video", pos);
    if (pos == std::string::npos || section == std::string::npos) return sdp;
    std::string out = sdp;
    auto dir = out.find("a=sendrecv", section);
    if (dir != std::string::npos) out.replace(dir, 10, "a=sendonly");
    return out;
  };
  bob_->setScreenshare(true);
  ASSERT_TRUE(link->waitUntil([&] { return link->b().negotiation_needed == 1; }, 5s));
  const auto a_desc = link->a().descriptions.size();
  bob_->createOffer(2);
  ASSERT_TRUE(link->waitUntil([&] { return link->a().descriptions.size() > a_desc; }, 10s));
  auto answer = proto::summarizeSdp(link->a().descriptions.back().sdp);
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->media.size(), 4u);
  EXPECT_EQ(answer->media[3].media, "video");
  EXPECT_EQ(answer->media[3].direction, "recvonly");
  ASSERT_TRUE(link->waitUntil([&] { return hasStream(link->a(), screen_id, MediaKind::Video); }, 10s));

  LegStats a;
  auto last = Clock::now();
  ASSERT_TRUE(link->waitUntil(
      [&] {
        if (Clock::now() - last < 100ms) return false;
        last = Clock::now();
        a = link->stats(link->a());
        auto s = a.remote_streams.find(screen_id);
        auto u = a.remote_streams.find(bob_id);
        return s != a.remote_streams.end() && u != a.remote_streams.end() &&
               s->second.video_frames_decoded >= 20 && u->second.video_frames_decoded >= 20 &&
               u->second.audio_frames_decoded >= 20;
      },
      15s))
      << "streams " << a.remote_streams.size();
  const auto& screen = a.remote_streams.at(screen_id);
  const auto& user = a.remote_streams.at(bob_id);
  EXPECT_GT(screen.packets_received, 0u);
  EXPECT_GT(screen.bytes_received, screen.packets_received * 12);
  EXPECT_EQ(screen.audio_frames_decoded, 0u);
  EXPECT_GT(user.packets_received, 0u);
  std::cout << "[ metrics  ] alice per stream: screen " << screen.video_frames_decoded << " frames / "
            << screen.packets_received << " pkts; usermedia " << user.audio_frames_decoded << " audio + "
            << user.video_frames_decoded << " video frames / " << user.packets_received << " pkts\n";
  EXPECT_EQ(a.dc_messages_received, 2u);
  EXPECT_EQ(a.dc_messages_sent, 1u);
  for (Side* s : {&link->a(), &link->b()}) EXPECT_TRUE(s->errors.empty()) << s->errors.front();
  EXPECT_TRUE(link->connected());
  // A leg without a data channel refuses to send.
  alice_->sendDataChannel(99, "x");
  alice_->flush();
}

TEST_F(MediaLoopback, DISABLED_Soak) {
  const char* secs_env = std::getenv("CHORUS_SOAK_SECONDS");
  const int seconds = secs_env != nullptr ? std::atoi(secs_env) : 10;
  if (const char* size = std::getenv("CHORUS_SOAK_SIZE")) {
    MediaConfig a = testConfig("alice");
    if (std::sscanf(size, "%dx%d@%d", &a.width, &a.height, &a.fps) == 3) {
      a.video_bitrate_bps =
          a.width * a.height * a.fps / 10;  // 320x240@15 -> 115 kb/s ... 1280x720@30 -> 2.8 Mb/s
      MediaConfig b = a;
      b.name = "bob";
      alice_ = std::move(*MediaEngine::create(a));
      bob_ = std::move(*MediaEngine::create(b));
    }
  }
  auto link = connect(1, 2);
  const auto start = Clock::now();
  link->waitUntil([&] { return Clock::now() - start >= std::chrono::seconds(seconds); },
                  std::chrono::seconds(seconds + 1));
  for (Side* s : {&link->a(), &link->b()}) {
    LegStats st = link->stats(*s);
    std::cout << "[ metrics  ] leg " << s->leg << " over " << seconds << " s: decoded audio "
              << st.audio_frames_decoded << " video " << st.video_frames_decoded << ", sent "
              << st.packets_sent << " pkts / " << st.bytes_sent << " B, received " << st.packets_received
              << " pkts / " << st.bytes_received << " B, rtt " << st.rtt_ms.value_or(-1) << " ms, jitter "
              << st.jitter_ms.value_or(-1) << " ms\n";
  }
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::strncmp(line, "Threads:", 8) == 0) std::cout << "[ metrics  ] " << line;
    }
    std::fclose(f);
  }
  EXPECT_TRUE(link->connected());
}

}  // namespace
}  // namespace chorus::endpoint
