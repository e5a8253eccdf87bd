#include "focus/media_plane.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "media/rtcp/rtcp_packet.hpp"
#include "proto/focus_messages.hpp"
#include "testlib/builders.hpp"

namespace chorus::focus {
namespace {

namespace json = boost::json;

using testlib::kHour;
using testlib::kStart;
constexpr std::uint8_t kOpus = 111;
constexpr std::uint8_t kVp8 = 96;
constexpr std::uint32_t kAliceAudio = 1111;
constexpr std::uint32_t kAliceVideo = 2222;

std::uint32_t ssrcOf(std::span<const std::uint8_t> p) {
  return (std::uint32_t{p[8]} << 24) | (std::uint32_t{p[9]} << 16) | (std::uint32_t{p[10]} << 8) | p[11];
}

// A participant's transport: records what the plane asks of it.
class FakeLink final : public PeerLink {
 public:
  explicit FakeLink(std::vector<PublishedTrackInfo> published) : published(std::move(published)) {}

  Result<std::string> acceptOffer(std::string_view sdp) override {
    if (refuse_offers) return fail(Code::InvalidArgument, "refused");
    offers_accepted.emplace_back(sdp);
    return std::string("v=0 answer ") + std::to_string(offers_accepted.size());
  }
  Result<std::string> createOffer(const std::vector<OfferTrack>& tracks) override {
    ++create_calls;
    if (tracks.size() > max_tracks) return fail(Code::InvalidArgument, "more than 64 m-lines");
    offers.push_back(tracks);
    return std::string("v=0 focus offer ") + std::to_string(offers.size());
  }
  Status applyAnswer(std::string_view sdp) override {
    if (refuse_answers) return fail(Code::InvalidArgument, "bad answer");
    answers.emplace_back(sdp);
    return {};
  }
  void rollback() override { ++rollbacks; }
  std::uint8_t sendPayloadType(std::string_view kind) const override {
    return kind == "audio" ? kOpus : kind == "video" ? kVp8 : 0;
  }
  std::vector<PublishedTrackInfo> publishedTracks() const override { return published; }
  void sendText(std::uint16_t stream_id, std::string_view text) override {
    EXPECT_EQ(stream_id, 1);
    texts.emplace_back(text);
  }
  void sendRtp(std::span<std::uint8_t> buffer, std::size_t length, TimeMs) override {
    rtp_ssrcs.push_back(ssrcOf(buffer.first(length)));
  }
  void sendRtcp(std::span<std::uint8_t> buffer, std::size_t length, TimeMs) override {
    rtcp.emplace_back(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(length));
  }
  LinkStats stats() const override { return LinkStats{7, 9, std::string("198.18.0.2:5000")}; }

  // The focus's messages of one type sent over the data channel.
  std::vector<proto::FocusMessage> sent(proto::FocusMessageType type) const {
    std::vector<proto::FocusMessage> out;
    for (const auto& t : texts) {
      auto m = proto::parseFocusMessage(t);
      if (m && m->type == type) out.push_back(*m);
    }
    return out;
  }

  std::vector<PublishedTrackInfo> published;
  bool refuse_offers{false};
  bool refuse_answers{false};
  std::size_t max_tracks{1000};  // createOffer() fails with more (as io::WebRtcPeer past its m-lines)
  int create_calls{0};
  std::vector<std::string> offers_accepted;
  std::vector<std::vector<OfferTrack>> offers;  // the focus's
  std::vector<std::string> answers;
  int rollbacks{0};
  std::vector<std::string> texts;
  std::vector<std::uint32_t> rtp_ssrcs;
  std::vector<std::vector<std::uint8_t>> rtcp;
};

class FakeHost final : public MediaPlaneHost {
 public:
  std::unique_ptr<PeerLink> createLink(ParticipantId peer) override {
    auto link = std::make_unique<FakeLink>(next_published);
    link->refuse_offers = refuse_next;
    links[peer] = link.get();
    return link;
  }
  void retireLink(std::unique_ptr<PeerLink> link) override {
    std::erase_if(links, [&](const auto& kv) { return kv.second == link.get(); });
    retired.push_back(std::move(link));
  }
  void post(std::function<void()> f) override { posted.push_back(std::move(f)); }
  void joinRoom(const std::string& room_id) override { joined.push_back(room_id); }
  void sendToDevice(proto::SendToDevice m) override { to_device.push_back(std::move(m)); }
  void reportNotConnected(ParticipantId peer, const NotConnected& what) override {
    reports.emplace_back(peer, what);
  }

  void run() {
    while (!posted.empty()) {
      auto f = std::move(posted.front());
      posted.pop_front();
      f();
    }
  }
  std::vector<std::string> toDeviceTypes() const {
    std::vector<std::string> v;
    for (const auto& m : to_device) v.push_back(m.type);
    return v;
  }

  std::vector<PublishedTrackInfo> next_published;  // what the next link's participant sends
  bool refuse_next{false};
  std::map<ParticipantId, FakeLink*> links;  // not retired
  std::vector<std::unique_ptr<PeerLink>> retired;
  std::deque<std::function<void()>> posted;
  std::vector<std::string> joined;
  std::vector<proto::SendToDevice> to_device;
  std::vector<std::pair<ParticipantId, NotConnected>> reports;
};

json::object planeDevice(const std::string& id, const std::string& session) {
  return json::object{{"device_id", id},
                      {"session_id", session},
                      {"expires_ts", kStart + kHour},
                      {"feeds", json::array{json::object{{"purpose", "m.usermedia"}}}},
                      {"org.matrix.msc3898.foci.active",
                       json::array{json::object{{"user_id", "@sfu:hs"}, {"device_id", "SFU"}}}}};
}

proto::StateEvent planeMember(const std::string& user, const std::string& dev, const std::string& session) {
  return testlib::memberEventRaw(
      user, {{"m.calls", json::array{json::object{{"m.call_id", "conf"},
                                                  {"m.devices", json::array{planeDevice(dev, session)}}}}}});
}

PublishedTrackInfo track(const std::string& mid, const std::string& kind, const std::string& stream,
                         const std::string& id, std::uint32_t ssrc) {
  PublishedTrackInfo t;
  t.mid = mid;
  t.kind = kind;
  t.stream_id = stream;
  t.track_id = id;
  t.ssrcs = {ssrc};
  t.clock_rate = kind == "audio" ? 48000 : 90000;
  t.codec = kind == "audio" ? "opus" : "VP8";
  return t;
}

std::vector<std::uint8_t> planeRtpPacket(std::uint32_t ssrc, std::uint8_t pt, std::uint16_t seq) {
  std::vector<std::uint8_t> p{
      0x80, pt, static_cast<std::uint8_t>(seq >> 8), static_cast<std::uint8_t>(seq), 0, 0, 0x10, 0};
  for (int shift = 24; shift >= 0; shift -= 8) p.push_back(static_cast<std::uint8_t>(ssrc >> shift));
  // VP8 payload descriptor (S=1, partition 0) and a keyframe header; audio ignores it.
  for (std::uint8_t b : {0x10, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}) p.push_back(b);
  return p;
}

bool isPli(const std::vector<std::uint8_t>& compound) {
  // RTCP compound: any PSFB (206) with FMT 1.
  for (std::size_t pos = 0; pos + 4 <= compound.size();) {
    if (compound[pos + 1] == 206 && (compound[pos] & 0x1f) == 1) return true;
    pos += (std::size_t{compound[pos + 2]} << 8 | compound[pos + 3]) * 4 + 4;
  }
  return false;
}

class MediaPlaneTest : public ::testing::Test {
 protected:
  explicit MediaPlaneTest(RouterConfig router = {})
      : clock_(kStart), plane_(host_, clock_, config(), router) {}

  static ControllerConfig config() {
    ControllerConfig c;
    c.invite_grace_ms = 0;
    c.metadata_interval_ms = 0;  // every metadata change told at once (see controller_test)
    c.metadata_interval_per_participant_ms = 0;
    return c;
  }

  // Logged in, in !room:hs whose call is "conf", with alice and bob as members naming the focus.
  void enterRoom() {
    plane_.loggedIn("@sfu:hs", "SFU");
    feed(in::RoomInvite{"!room:hs", "@alice:hs"});
    feed(in::RoomJoined{"!room:hs"});
    feed(
        in::RoomStateChanged{"!room:hs",
                             {testlib::joinEvent("@alice:hs"), testlib::joinEvent("@bob:hs"),
                              testlib::joinEvent("@carol:hs"), testlib::joinEvent("@sfu:hs"),
                              testlib::callEvent("conf", "@alice:hs", 1), planeMember("@alice:hs", "A", "aS"),
                              planeMember("@bob:hs", "B", "bS"), planeMember("@carol:hs", "C", "cS")}});
  }

  void feed(Input i) {
    plane_.feed(std::move(i));
    host_.run();
  }

  void invite(const std::string& user, const std::string& dev, const std::string& session,
              const std::vector<PublishedTrackInfo>& tracks) {
    host_.next_published = tracks;
    auto c = testlib::signal("call-" + dev, "conf", dev, session, "sfu", 0);
    c["offer"] = json::object{{"type", "offer"}, {"sdp", "v=0 offer of " + user}};
    c["lifetime"] = 60000;
    json::object stream_tracks;
    for (const auto& t : tracks) stream_tracks[t.track_id] = json::object{{"kind", t.kind}};
    c["org.matrix.msc3077.sdp_stream_metadata"] = json::object{
        {"s" + dev, json::object{{"purpose", "m.usermedia"}, {"tracks", std::move(stream_tracks)}}}};
    feed(in::ToDevice{proto::ToDeviceMessage{"m.call.invite", user, c}});
  }

  // Invited, answered, connected, data channel open: the participant's ParticipantId.
  ParticipantId join(const std::string& user, const std::string& dev, const std::string& session,
                     const std::vector<PublishedTrackInfo>& tracks = {}) {
    const std::size_t before = host_.links.size();
    invite(user, dev, session, tracks);
    EXPECT_EQ(host_.links.size(), before + 1);
    const ParticipantId id = host_.links.rbegin()->first;
    plane_.onConnected(id);
    host_.run();
    plane_.onDataChannelOpen(id, 1);
    host_.run();
    return id;
  }

  void dc(ParticipantId peer, const proto::FocusMessage& m) {
    plane_.onDataChannelMessage(peer, proto::serializeFocusMessage(m), false);
    host_.run();
  }
  void subscribe(ParticipantId peer, std::vector<proto::TrackRef> add,
                 std::vector<proto::TrackRef> remove = {}) {
    proto::FocusMessage m;
    m.type = proto::FocusMessageType::TrackSubscription;
    m.subscribe = std::move(add);
    m.unsubscribe = std::move(remove);
    dc(peer, m);
  }
  void describe(ParticipantId peer, const std::string& type, const std::string& sdp) {
    proto::FocusMessage m;
    m.type = proto::FocusMessageType::Negotiate;
    m.description = proto::SessionDescription{type, sdp};
    dc(peer, m);
  }
  void rtp(ParticipantId from, std::uint32_t ssrc, std::uint8_t pt, const std::string& mid) {
    auto p = planeRtpPacket(ssrc, pt, seq_++);
    const auto view = media::RtpPacketView::parse(p);
    ASSERT_TRUE(view.has_value());
    plane_.onRtp(from, InboundRtp{.mid = mid}, *view, clock_.nowMs());
  }

  FakeLink& link(ParticipantId id) { return *host_.links.at(id); }

  static std::vector<PublishedTrackInfo> aliceTracks() {
    return {track("0", "audio", "sA", "aA", kAliceAudio), track("1", "video", "sA", "vA", kAliceVideo)};
  }

  FakeClock clock_;
  FakeHost host_;
  MediaPlane plane_;
  std::uint16_t seq_{100};
};

TEST_F(MediaPlaneTest, InputsBeforeTheLoginWaitForIt) {
  plane_.feed(in::RoomInvite{"!room:hs", "@alice:hs"});
  EXPECT_TRUE(host_.joined.empty());
  EXPECT_EQ(plane_.controller(), nullptr);
  EXPECT_FALSE(plane_.stats().controller.has_value());
  plane_.loggedIn("@sfu:hs", "SFU");
  EXPECT_EQ(host_.joined, (std::vector<std::string>{"!room:hs"}));
  EXPECT_TRUE(plane_.stats().controller.has_value());
}

TEST_F(MediaPlaneTest, AnOfferGetsATransportAndAnAnswer) {
  enterRoom();
  invite("@alice:hs", "A", "aS", aliceTracks());
  ASSERT_EQ(host_.links.size(), 1u);
  const ParticipantId alice = host_.links.begin()->first;
  EXPECT_EQ(link(alice).offers_accepted, (std::vector<std::string>{"v=0 offer of @alice:hs"}));
  EXPECT_EQ(host_.toDeviceTypes(), (std::vector<std::string>{"m.call.answer"}));
  EXPECT_EQ(host_.to_device[0].content.at("answer").at("sdp"), "v=0 answer 1");
  // Its SDP's tracks are the router's.
  const auto st = plane_.stats();
  EXPECT_EQ(st.peers, 1u);
  ASSERT_EQ(st.participants.size(), 1u);
  EXPECT_EQ(st.participants[0].user_id, "@alice:hs");
  EXPECT_FALSE(st.participants[0].connected);
  plane_.onConnected(alice);
  EXPECT_TRUE(plane_.stats().participants[0].connected);
}

TEST_F(MediaPlaneTest, ARefusedOfferFailsThePeer) {
  enterRoom();
  host_.refuse_next = true;
  invite("@alice:hs", "A", "aS", {});
  EXPECT_TRUE(host_.links.empty());
  EXPECT_EQ(host_.retired.size(), 1u);  // handed back, not destroyed in place
  EXPECT_EQ(plane_.stats().peers, 0u);
  EXPECT_TRUE(plane_.stats().participants.empty());  // the controller dropped it
  // Nothing was answered.
  for (const auto& t : host_.toDeviceTypes()) EXPECT_NE(t, "m.call.answer");
}

TEST_F(MediaPlaneTest, SubscriptionsAreOfferedAndTheirMediaWaitsForTheAnswer) {
  enterRoom();
  const ParticipantId alice = join("@alice:hs", "A", "aS", aliceTracks());
  const ParticipantId bob = join("@bob:hs", "B", "bS");
  // Bob was told what alice publishes.
  const auto told = link(bob).sent(proto::FocusMessageType::SdpStreamMetadataChanged);
  ASSERT_FALSE(told.empty());
  ASSERT_TRUE(told.back().metadata);
  EXPECT_TRUE(told.back().metadata->count("sA"));
  EXPECT_TRUE(link(alice).offers.empty());  // nothing to send either of them yet
  EXPECT_TRUE(link(bob).offers.empty());

  subscribe(bob, {{"sA", "aA", std::nullopt, std::nullopt}, {"sA", "vA", 640, 360}});
  ASSERT_EQ(link(bob).offers.size(), 1u);
  const auto offered = link(bob).offers[0];
  ASSERT_EQ(offered.size(), 2u);
  const auto outs = plane_.router().outTracks(bob);
  ASSERT_EQ(outs.size(), 2u);
  std::map<std::string, std::uint32_t> out_ssrc;
  for (const auto& t : offered) {
    EXPECT_EQ(t.stream_id, "sA");
    EXPECT_FALSE(t.h264);
    out_ssrc[t.track_id] = t.ssrc;
  }
  EXPECT_EQ(offered[0].ssrc < offered[1].ssrc, true);  // in SSRC order
  EXPECT_EQ(out_ssrc.count("aA"), 1u);
  EXPECT_EQ(out_ssrc.count("vA"), 1u);
  const auto negotiate = link(bob).sent(proto::FocusMessageType::Negotiate);
  ASSERT_EQ(negotiate.size(), 1u);
  EXPECT_EQ(negotiate[0].description->type, "offer");
  EXPECT_EQ(negotiate[0].description->sdp, "v=0 focus offer 1");
  EXPECT_EQ(plane_.stats().offers_sent, 1u);

  // Before bob's answer: alice's audio reaches the router, which forwards it, but it does not go out.
  rtp(alice, kAliceAudio, kOpus, "0");
  rtp(alice, kAliceVideo, kVp8, "1");
  EXPECT_TRUE(link(bob).rtp_ssrcs.empty());
  EXPECT_GE(plane_.stats().not_negotiated_drops, 1u);
  EXPECT_EQ(plane_.stats().router.forwarded_packets, 0u);  // held before the rewriter

  clock_.advance(1000);
  const std::size_t rtcp_before = link(alice).rtcp.size();
  describe(bob, "answer", "v=0 bob's answer");
  EXPECT_EQ(link(bob).answers, (std::vector<std::string>{"v=0 bob's answer"}));
  // The new video track gets a keyframe request to its publisher.
  ASSERT_GT(link(alice).rtcp.size(), rtcp_before);
  EXPECT_TRUE(isPli(link(alice).rtcp.back()));

  const auto drops = plane_.stats().not_negotiated_drops;
  rtp(alice, kAliceAudio, kOpus, "0");
  EXPECT_EQ(link(bob).rtp_ssrcs, (std::vector<std::uint32_t>{out_ssrc["aA"]}));
  EXPECT_EQ(plane_.stats().not_negotiated_drops, drops);
  EXPECT_EQ(link(bob).offers.size(), 1u);  // nothing changed since: no new offer

  const auto st = plane_.stats();
  for (const auto& p : st.participants) {
    ASSERT_TRUE(p.link);
    EXPECT_EQ(p.link->rtp_audio_in, 7u);
    EXPECT_EQ(p.link->selected, "198.18.0.2:5000");
    EXPECT_EQ(p.tracks_out, p.id == bob ? 2u : 0u);
  }
}

TEST_F(MediaPlaneTest, OneOfferAtATimeAndChangesMeanwhileGoInTheNext) {
  enterRoom();
  const ParticipantId alice = join("@alice:hs", "A", "aS", aliceTracks());
  const ParticipantId bob = join("@bob:hs", "B", "bS");
  subscribe(bob, {{"sA", "aA", std::nullopt, std::nullopt}});
  ASSERT_EQ(link(bob).offers.size(), 1u);
  EXPECT_EQ(link(bob).offers[0].size(), 1u);
  subscribe(bob, {{"sA", "vA", 320, 180}});
  EXPECT_EQ(link(bob).offers.size(), 1u);  // still waiting for the answer
  describe(bob, "answer", "v=0 a1");
  ASSERT_EQ(link(bob).offers.size(), 2u);
  EXPECT_EQ(link(bob).offers[1].size(), 2u);
  // Until that second answer, only the audio track goes out.
  rtp(alice, kAliceAudio, kOpus, "0");
  EXPECT_EQ(link(bob).rtp_ssrcs.size(), 1u);
  describe(bob, "answer", "v=0 a2");
  EXPECT_EQ(link(bob).answers.size(), 2u);
  // An answer nobody asked for is ignored.
  describe(bob, "answer", "v=0 stray");
  EXPECT_EQ(link(bob).answers.size(), 2u);
}

TEST_F(MediaPlaneTest, UnsubscribingStopsTheTrackAndReoffers) {
  enterRoom();
  const ParticipantId alice = join("@alice:hs", "A", "aS", aliceTracks());
  const ParticipantId bob = join("@bob:hs", "B", "bS");
  subscribe(bob, {{"sA", "aA", std::nullopt, std::nullopt}, {"sA", "vA", 640, 360}});
  describe(bob, "answer", "v=0 a1");
  rtp(alice, kAliceAudio, kOpus, "0");
  ASSERT_EQ(link(bob).rtp_ssrcs.size(), 1u);

  subscribe(bob, {}, {{"sA", "aA", std::nullopt, std::nullopt}});
  ASSERT_EQ(link(bob).offers.size(), 2u);
  ASSERT_EQ(link(bob).offers[1].size(), 1u);
  EXPECT_EQ(link(bob).offers[1][0].track_id, "vA");
  EXPECT_EQ(plane_.router().outTracks(bob).size(), 1u);
  rtp(alice, kAliceAudio, kOpus, "0");
  EXPECT_EQ(link(bob).rtp_ssrcs.size(), 1u);  // no more audio
  describe(bob, "answer", "v=0 a2");
  EXPECT_EQ(plane_.stats().participants[1].tracks_out, 1u);
}

TEST_F(MediaPlaneTest, ARefusedAnswerRollsBackAndTheFocusOffersAgain) {
  enterRoom();
  join("@alice:hs", "A", "aS", aliceTracks());
  const ParticipantId bob = join("@bob:hs", "B", "bS");
  subscribe(bob, {{"sA", "aA", std::nullopt, std::nullopt}});
  link(bob).refuse_answers = true;
  describe(bob, "answer", "v=0 broken");
  EXPECT_EQ(link(bob).rollbacks, 1);
  // The next time the plane runs, it offers the same tracks again.
  EXPECT_EQ(link(bob).offers.size(), 2u);
  EXPECT_EQ(link(bob).offers[1], link(bob).offers[0]);
}

TEST_F(MediaPlaneTest, OnGlareTheFocusIsPolite) {
  enterRoom();
  join("@alice:hs", "A", "aS", aliceTracks());
  const ParticipantId bob = join("@bob:hs", "B", "bS");
  subscribe(bob, {{"sA", "aA", std::nullopt, std::nullopt}});
  ASSERT_EQ(link(bob).offers.size(), 1u);
  describe(bob, "offer", "v=0 bob re-offers");
  EXPECT_EQ(link(bob).rollbacks, 1);
  EXPECT_EQ(link(bob).offers_accepted.back(), "v=0 bob re-offers");
  const auto negotiate = link(bob).sent(proto::FocusMessageType::Negotiate);
  ASSERT_GE(negotiate.size(), 2u);
  EXPECT_EQ(negotiate[1].description->type, "answer");
  EXPECT_EQ(negotiate[1].description->sdp, "v=0 answer 2");
  // And then offers its tracks again.
  EXPECT_EQ(link(bob).offers.size(), 2u);
}

TEST_F(MediaPlaneTest, APeerThatLeavesIsFreedEverywhere) {
  enterRoom();
  const ParticipantId alice = join("@alice:hs", "A", "aS", aliceTracks());
  const ParticipantId bob = join("@bob:hs", "B", "bS");
  subscribe(bob, {{"sA", "aA", std::nullopt, std::nullopt}, {"sA", "vA", 640, 360}});
  describe(bob, "answer", "v=0 a1");
  ASSERT_EQ(plane_.router().outTracks(bob).size(), 2u);

  plane_.onDead(alice);                // ICE consent lost
  EXPECT_TRUE(plane_.hasLink(alice));  // not re-entrantly
  host_.run();
  EXPECT_FALSE(plane_.hasLink(alice));
  EXPECT_EQ(host_.links.count(alice), 0u);
  EXPECT_EQ(host_.retired.size(), 1u);
  EXPECT_TRUE(plane_.router().outTracks(bob).empty());
  EXPECT_TRUE(plane_.router().subscriptionStats(bob).empty());
  // Bob is offered nothing any more.
  ASSERT_EQ(link(bob).offers.size(), 2u);
  EXPECT_TRUE(link(bob).offers[1].empty());
  // Late packets of the gone transport are ignored.
  const auto received = plane_.router().stats().rtp_received;
  rtp(alice, kAliceAudio, kOpus, "0");
  EXPECT_EQ(plane_.router().stats().rtp_received, received);
  const auto st = plane_.stats();
  EXPECT_EQ(st.peers, 1u);
  ASSERT_EQ(st.participants.size(), 1u);
  EXPECT_EQ(st.participants[0].user_id, "@bob:hs");
}

TEST_F(MediaPlaneTest, AParticipantThatDoesNotConnectIsReportedOnce) {
  enterRoom();
  invite("@alice:hs", "A", "aS", {});
  const ParticipantId alice = host_.links.begin()->first;
  feed(in::ToDevice{proto::ToDeviceMessage{
      "m.call.candidates", "@alice:hs", [] {
        auto c = testlib::signal("call-A", "conf", "A", "aS", "sfu", 1);
        c["candidates"] = json::array{
            json::object{{"candidate", "candidate:1 1 udp 1 198.18.0.9 4000 typ host"}, {"sdpMid", "0"}}};
        return c;
      }()}});
  clock_.advance(MediaPlane::kNotConnectedReportMs - 1);
  plane_.tick(clock_.nowMs());
  EXPECT_TRUE(host_.reports.empty());
  clock_.advance(1);
  plane_.tick(clock_.nowMs());
  ASSERT_EQ(host_.reports.size(), 1u);
  EXPECT_EQ(host_.reports[0].first, alice);
  EXPECT_EQ(host_.reports[0].second.who, "@alice:hs/A");
  EXPECT_EQ(host_.reports[0].second.after_ms, MediaPlane::kNotConnectedReportMs);
  EXPECT_EQ(host_.reports[0].second.remote_candidates,
            (std::vector<std::string>{"candidate:1 1 udp 1 198.18.0.9 4000 typ host"}));
  clock_.advance(5000);
  plane_.tick(clock_.nowMs());
  EXPECT_EQ(host_.reports.size(), 1u);

  // One that is removed before it connected is reported then.
  invite("@bob:hs", "B", "bS", {});
  const ParticipantId bob = host_.links.rbegin()->first;
  feed(in::PeerFailed{bob, "gone"});
  ASSERT_EQ(host_.reports.size(), 2u);
  EXPECT_EQ(host_.reports[1].first, bob);
  EXPECT_EQ(host_.reports[1].second.after_ms, 0);
}

TEST_F(MediaPlaneTest, DataChannelMessagesWaitForTheChannel) {
  enterRoom();
  join("@alice:hs", "A", "aS", aliceTracks());
  invite("@bob:hs", "B", "bS", {});
  const ParticipantId bob = host_.links.rbegin()->first;
  plane_.onConnected(bob);
  host_.run();
  EXPECT_TRUE(link(bob).texts.empty());  // queued: no channel yet
  plane_.onDataChannelOpen(bob, 1);
  EXPECT_FALSE(link(bob).sent(proto::FocusMessageType::SdpStreamMetadataChanged).empty());
  host_.run();
  // Binary messages are not signalling; text ones go to the controller, later.
  plane_.onDataChannelMessage(bob, "{}", true);
  EXPECT_TRUE(host_.posted.empty());
  plane_.onDataChannelMessage(bob, "{}", false);
  EXPECT_EQ(host_.posted.size(), 1u);
  const auto dropped = plane_.controller()->counters().dropped_data_channel;
  host_.run();
  EXPECT_EQ(plane_.controller()->counters().dropped_data_channel, dropped + 1);  // malformed
}

TEST_F(MediaPlaneTest, ShutdownHangsUpAndOffersNothingMore) {
  enterRoom();
  const ParticipantId alice = join("@alice:hs", "A", "aS", aliceTracks());
  const ParticipantId bob = join("@bob:hs", "B", "bS");
  host_.to_device.clear();
  plane_.shutdown();
  host_.run();
  auto types = host_.toDeviceTypes();
  EXPECT_EQ(std::count(types.begin(), types.end(), "m.call.hangup"), 2);
  EXPECT_EQ(host_.links.count(alice) + host_.links.count(bob), 0u);
  plane_.closeAll();
  EXPECT_EQ(plane_.stats().peers, 0u);
}

TEST_F(MediaPlaneTest, AnOfferOverTheLinksBoundIsNotRetriedUntilWhatItReceivesChanges) {
  enterRoom();
  join("@alice:hs", "A", "aS", aliceTracks());
  const ParticipantId bob = join("@bob:hs", "B", "bS");
  link(bob).max_tracks = 1;
  subscribe(bob, {{"sA", "aA", std::nullopt, std::nullopt}, {"sA", "vA", std::nullopt, std::nullopt}});
  EXPECT_EQ(link(bob).create_calls, 1);
  EXPECT_TRUE(link(bob).offers.empty());
  EXPECT_EQ(plane_.stats().offers_refused, 1u);
  // Events that do not change what bob should receive do not try again (each used to, on every event).
  const ParticipantId carol = join("@carol:hs", "C", "cS");
  proto::FocusMessage ping;
  ping.type = proto::FocusMessageType::Ping;
  for (int i = 0; i < 5; ++i) dc(carol, ping);
  subscribe(bob, {{"sA", "aA", std::nullopt, std::nullopt}});  // already subscribed: the same tracks
  for (int i = 0; i < 3; ++i) {
    clock_.advance(1'000);
    plane_.tick(clock_.nowMs());
    host_.run();
  }
  EXPECT_EQ(link(bob).create_calls, 1);
  EXPECT_EQ(plane_.stats().offers_refused, 1u);
  // bob gives up alice's video: one track fits.
  subscribe(bob, {}, {{"sA", "vA", std::nullopt, std::nullopt}});
  EXPECT_EQ(link(bob).create_calls, 2);
  ASSERT_EQ(link(bob).offers.size(), 1u);
  ASSERT_EQ(link(bob).offers[0].size(), 1u);
  EXPECT_EQ(link(bob).offers[0][0].kind, "audio");
  EXPECT_EQ(link(bob).offers[0][0].track_id, "aA");
}

// Past RouterConfig::audio_slots audio subscriptions, a participant is offered the slots, told of them as
// the focus's audio streams, and receives the audio on them.
class MediaPlaneAudioSlotsTest : public MediaPlaneTest {
 protected:
  MediaPlaneAudioSlotsTest()
      : MediaPlaneTest([] {
          RouterConfig r;
          r.audio_slots = 1;
          return r;
        }()) {}
};

TEST_F(MediaPlaneAudioSlotsTest, ParticipantsPastTheBoundReceiveAudioOnSlots) {
  constexpr std::uint32_t kCarolAudio = 3333;
  enterRoom();
  const ParticipantId alice = join("@alice:hs", "A", "aS", {track("0", "audio", "sA", "aA", kAliceAudio)});
  const ParticipantId bob = join("@bob:hs", "B", "bS");
  const ParticipantId carol = join("@carol:hs", "C", "cS", {track("0", "audio", "sC", "cA", kCarolAudio)});
  subscribe(bob, {{"sA", "aA", std::nullopt, std::nullopt}});
  ASSERT_EQ(link(bob).offers.size(), 1u);
  EXPECT_EQ(link(bob).offers.back()[0].track_id, "aA");
  describe(bob, "answer", "v=0 bob's answer 1");

  subscribe(bob, {{"sC", "cA", std::nullopt, std::nullopt}});
  ASSERT_EQ(link(bob).offers.size(), 2u);
  const auto offered = link(bob).offers.back();
  ASSERT_EQ(offered.size(), 1u);
  EXPECT_EQ(offered[0].kind, "audio");
  EXPECT_EQ(offered[0].stream_id, "chorus-slot-0");
  EXPECT_EQ(offered[0].track_id, "chorus-slot-0");
  // The offer's metadata describes the slot as the focus's own audio, next to the publishers' streams.
  const auto negotiate = link(bob).sent(proto::FocusMessageType::Negotiate);
  ASSERT_FALSE(negotiate.empty());
  ASSERT_TRUE(negotiate.back().metadata);
  const auto& md = *negotiate.back().metadata;
  ASSERT_TRUE(md.count("chorus-slot-0"));
  EXPECT_EQ(md.at("chorus-slot-0").user_id, "@sfu:hs");
  EXPECT_EQ(md.at("chorus-slot-0").device_id, "SFU");
  EXPECT_TRUE(md.at("chorus-slot-0").video_muted);
  EXPECT_FALSE(md.at("chorus-slot-0").audio_muted);
  EXPECT_TRUE(md.count("sA"));
  EXPECT_TRUE(md.count("sC"));
  // Alice's audio (on the slot since bob had it) goes out on the slot once bob answered.
  describe(bob, "answer", "v=0 bob's answer 2");
  link(bob).rtp_ssrcs.clear();
  rtp(alice, kAliceAudio, kOpus, "0");
  EXPECT_EQ(link(bob).rtp_ssrcs, (std::vector<std::uint32_t>{offered[0].ssrc}));
  // Bob is told who is on the slot: alice, under the ids his metadata names her stream and track by; once.
  plane_.tick(clock_.nowMs());
  auto told = link(bob).sent(proto::FocusMessageType::AudioSlots);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told.back().audio_slots,
            (std::vector<proto::AudioSlotSpeaker>{{"chorus-slot-0", "@alice:hs", "A", "sA", "aA"}}));
  plane_.tick(clock_.nowMs());
  EXPECT_EQ(link(bob).sent(proto::FocusMessageType::AudioSlots).size(), 1u);
  // Carol, with one subscription, keeps one stream per track.
  subscribe(carol, {{"sA", "aA", std::nullopt, std::nullopt}});
  ASSERT_FALSE(link(carol).offers.empty());
  EXPECT_EQ(link(carol).offers.back()[0].track_id, "aA");
  EXPECT_EQ(plane_.stats().router.audio_slot_subscribers, 1u);
}

}  // namespace
}  // namespace chorus::focus
