// Focus mode (MSC3898 as js-sdk `matthew/sfu` and waterfall speak it): one GroupCall against a focus scripted
// by hand, asserting the exact messages on the wire.
#include <gtest/gtest.h>

#include "core/group_call.hpp"
#include "core/sdp_tracks.hpp"
#include "proto/focus_messages.hpp"
#include "testlib/builders.hpp"

namespace chorus::core {
namespace {

namespace json = boost::json;
using testlib::actionsOf;
using testlib::callEvent;
using testlib::joinEvent;
using testlib::memberEvent;

using testlib::kHour;
using testlib::kStart;

// What our engine's offer looks like (webrtcbin 1.22 + our a=msid lines): audio + video of one stream, and
// the data channel.
std::string ourOffer(const std::string& stream = "s1") {
  return "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\n"
         "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendrecv\r\na=rtpmap:111 OPUS/48000/2\r\n"
         "a=ssrc:11 msid:" +
         stream + " webrtctransceiver0\r\na=msid:" + stream +
         " webrtctransceiver0\r\n"
         "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendrecv\r\na=rtpmap:96 VP8/90000\r\n"
         "a=ssrc:22 msid:" +
         stream +
         " webrtctransceiver1\r\n"
         "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\na=sctp-port:5000\r\n";
}

// The streams a focus forwards: per participant a usermedia stream with audio + video.
proto::StreamMetadata remoteStream(const std::string& user, const std::string& device, const std::string& at,
                                   const std::string& vt) {
  proto::StreamMetadata m;
  m.purpose = "m.usermedia";
  m.user_id = user;
  m.device_id = device;
  m.tracks[at].kind = "audio";
  m.tracks[vt].kind = "video";
  m.tracks[vt].width = 1280;
  m.tracks[vt].height = 720;
  return m;
}

// A member event whose device publishes to `focus` (foci.active), like a focus-mode chorus or js-sdk
// `matthew/sfu` client writes it.
core::StateEvent focusMemberEvent(const std::string& user, const std::string& device,
                                  const std::string& session, const proto::FocusInfo& focus) {
  auto ev = memberEvent(user, "conf1", {{device, session, kStart + kHour}});
  ev.content.at("m.calls")
      .as_array()
      .at(0)
      .at("m.devices")
      .as_array()
      .at(0)
      .as_object()["org.matrix.msc3898.foci.active"] =
      json::array{json::object{{"user_id", focus.user_id}, {"device_id", focus.device_id}}};
  return ev;
}

class FocusModeTest : public ::testing::Test {
 protected:
  FocusModeTest() : clock_(kStart) {}

  void make(std::optional<proto::FocusInfo> focus = proto::FocusInfo{"@sfu:hs", "CHORUSFOCUS"}) {
    CallConfig cfg;
    cfg.user_id = "@bob:hs";
    cfg.device_id = "BOB";
    cfg.session_id = "bobS";
    cfg.focus = std::move(focus);
    cfg.focus_max_video_tracks = 2;
    call_ = std::make_unique<GroupCall>(cfg, clock_, rng_);
    call_->handle(in::StateChanged{{joinEvent("@alice:hs"), joinEvent("@bob:hs"), joinEvent("@carol:hs"),
                                    callEvent("conf1", "@alice:hs", 10)}});
  }
  Actions enter() {
    in::Enter e;
    LocalFeed f{"s1", "m.usermedia", false, false};
    f.width = 640;
    f.height = 360;
    e.feeds = {f};
    return call_->handle(e);
  }
  Actions toDevice(const std::string& sender, const std::string& type, json::object content) {
    return call_->handle(in::ToDeviceReceived{ToDeviceMessage{type, sender, std::move(content)}});
  }
  // A message from the focus, as waterfall builds it (no seq, version as a number).
  json::object fromFocus(const std::string& call_id) {
    return json::object{
        {"call_id", call_id},       {"party_id", "CHORUSFOCUS"},  {"version", 1},
        {"conf_id", "conf1"},       {"device_id", "CHORUSFOCUS"}, {"sender_session_id", "sfu"},
        {"dest_session_id", "bobS"}};
  }
  Actions dc(const std::string& text) { return call_->handle(in::DataChannelMessage{leg_, text}); }
  static std::vector<proto::FocusMessage> dcSent(const Actions& acts) {
    std::vector<proto::FocusMessage> out;
    for (const auto& s : actionsOf<act::SendDataChannel>(acts)) {
      auto m = proto::parseFocusMessage(s.text);
      EXPECT_TRUE(m) << s.text;
      if (m) out.push_back(*m);
    }
    return out;
  }
  static std::string negotiate(const std::string& type, const std::string& sdp,
                               const proto::SdpStreamMetadata& md) {
    proto::FocusMessage m;
    m.type = proto::FocusMessageType::Negotiate;
    m.description = proto::SessionDescription{type, sdp};
    m.metadata = md;
    return proto::serializeFocusMessage(m);
  }
  static std::string metadataChanged(const proto::SdpStreamMetadata& md) {
    proto::FocusMessage m;
    m.type = proto::FocusMessageType::SdpStreamMetadataChanged;
    m.metadata = md;
    return proto::serializeFocusMessage(m);
  }

  // Enter, produce the offer and let the focus answer with `available`; returns the invite.
  act::SendToDevice connect(const proto::SdpStreamMetadata& available, bool open_dc = true) {
    auto acts = enter();
    auto creates = actionsOf<act::CreateLeg>(acts);
    EXPECT_EQ(creates.size(), 1u);
    leg_ = creates.at(0).leg;
    auto sent =
        actionsOf<act::SendToDevice>(call_->handle(in::LocalDescription{leg_, {"offer", ourOffer()}}));
    EXPECT_EQ(sent.size(), 1u);
    call_id_ = std::string(sent.at(0).content.at("call_id").as_string());
    auto answer = fromFocus(call_id_);
    answer["answer"] = json::object{{"type", "answer"}, {"sdp", "v=0 focus answer"}};
    answer["org.matrix.msc3077.sdp_stream_metadata"] = proto::serializeSdpStreamMetadata(available);
    auto acts2 = toDevice("@sfu:hs", "m.call.answer", answer);
    EXPECT_EQ(actionsOf<act::SetRemoteDescription>(acts2).size(), 1u);
    call_->handle(in::MediaStateChanged{leg_, MediaState::Connected});
    if (open_dc) last_ = call_->handle(in::DataChannelOpen{leg_});
    return sent.at(0);
  }

  FakeClock clock_;
  FakeRng rng_{5};
  std::unique_ptr<GroupCall> call_;
  LegId leg_{0};
  std::string call_id_;
  Actions last_;
};

TEST(SdpTracks, ReadsKindDirectionAndMsidPerMediaSection) {
  auto tracks = sdpTracks(ourOffer("abc") +
                          "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\na=recvonly\r\n"
                          "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:4\r\na=msid:- t4\r\na=inactive\r\n");
  ASSERT_EQ(tracks.size(), 4u);  // the data channel section is skipped
  EXPECT_EQ(tracks[0], (SdpTrack{"audio", "0", "sendrecv", "abc", "webrtctransceiver0"}));
  // Only the old-style a=ssrc msid: taken as the fallback.
  EXPECT_EQ(tracks[1], (SdpTrack{"video", "1", "sendrecv", "abc", "webrtctransceiver1"}));
  EXPECT_EQ(tracks[2], (SdpTrack{"video", "3", "recvonly", "", ""}));
  EXPECT_FALSE(tracks[2].sends());
  EXPECT_EQ(tracks[3].stream_id, "");  // "-": a track without a stream
  EXPECT_TRUE(sdpTracks("garbage\nm=\nm=audio\na=msid:x").size() == 1u);
}

TEST_F(FocusModeTest, OneCallToTheFocusWithDataChannelAndTracksInTheMetadata) {
  make();
  // Alice and carol are in the call through the same focus: we place no mesh calls (mixed calls, with
  // devices that use no focus, are in mixed_call_test.cpp).
  const proto::FocusInfo focus{"@sfu:hs", "CHORUSFOCUS"};
  call_->handle(in::StateChanged{
      {focusMemberEvent("@alice:hs", "A1", "aS", focus), focusMemberEvent("@carol:hs", "C1", "cS", focus)}});
  auto acts = enter();
  // Our member event names the focus.
  auto puts = actionsOf<act::PutState>(acts);
  ASSERT_EQ(puts.size(), 1u);
  auto member = proto::parseCallMemberEvent("@bob:hs", puts[0].content);
  ASSERT_TRUE(member);
  const auto& self = member->findCall("conf1")->devices.at(0);
  ASSERT_EQ(self.foci_active.size(), 1u);
  EXPECT_EQ(self.foci_active[0], (proto::FocusInfo{"@sfu:hs", "CHORUSFOCUS"}));
  EXPECT_TRUE(puts[0]
                  .content.at("m.calls")
                  .at(0)
                  .at("m.devices")
                  .at(0)
                  .as_object()
                  .contains("org.matrix.msc3898.foci.active"));

  auto creates = actionsOf<act::CreateLeg>(acts);
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0].user_id, "@sfu:hs");
  EXPECT_EQ(creates[0].device_id, "CHORUSFOCUS");
  EXPECT_EQ(creates[0].data_channel, std::optional<std::string>("datachannel"));
  EXPECT_TRUE(creates[0].focus);
  EXPECT_TRUE(creates[0].media_enabled);
  EXPECT_EQ(actionsOf<act::CreateOffer>(acts).size(), 1u);
  ASSERT_NE(call_->focusLeg(), nullptr);
  EXPECT_EQ(call_->legs().size(), 1u);

  leg_ = creates[0].leg;
  auto sent = actionsOf<act::SendToDevice>(call_->handle(in::LocalDescription{leg_, {"offer", ourOffer()}}));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].type, "m.call.invite");
  EXPECT_EQ(sent[0].user_id, "@sfu:hs");
  EXPECT_EQ(sent[0].device_id, "CHORUSFOCUS");
  const auto& c = sent[0].content;
  EXPECT_EQ(c.at("dest_session_id"), "sfu");
  EXPECT_EQ(c.at("sender_session_id"), "bobS");
  EXPECT_EQ(c.at("conf_id"), "conf1");
  EXPECT_EQ(c.at("device_id"), "BOB");
  EXPECT_EQ(c.at("party_id"), "BOB");
  EXPECT_EQ(c.at("seq"), 0);
  EXPECT_EQ(c.at("offer").at("type"), "offer");
  EXPECT_EQ(c.at("offer").at("sdp").as_string(), ourOffer());
  const auto& md = c.at("org.matrix.msc3077.sdp_stream_metadata").at("s1").as_object();
  EXPECT_EQ(md.at("purpose"), "m.usermedia");
  EXPECT_EQ(md.at("user_id"), "@bob:hs");
  EXPECT_EQ(md.at("device_id"), "BOB");
  EXPECT_EQ(json::serialize(md.at("tracks")),
            R"({"webrtctransceiver0":{"kind":"audio"},)"
            R"("webrtctransceiver1":{"kind":"video","width":640,"height":360}})");
}

TEST_F(FocusModeTest, AnswerOverToDeviceThenSelectAnswerAndCandidates) {
  make();
  proto::SdpStreamMetadata available{{"alice-s", remoteStream("@alice:hs", "A1", "a-a", "a-v")}};
  auto acts = enter();
  leg_ = actionsOf<act::CreateLeg>(acts).at(0).leg;
  auto sent = actionsOf<act::SendToDevice>(call_->handle(in::LocalDescription{leg_, {"offer", ourOffer()}}));
  call_id_ = std::string(sent.at(0).content.at("call_id").as_string());
  auto answer = fromFocus(call_id_);
  answer["answer"] = json::object{{"type", "answer"}, {"sdp", "v=0 focus answer"}};
  answer["org.matrix.msc3077.sdp_stream_metadata"] = proto::serializeSdpStreamMetadata(available);
  auto acts2 = toDevice("@sfu:hs", "m.call.answer", answer);
  auto srd = actionsOf<act::SetRemoteDescription>(acts2);
  ASSERT_EQ(srd.size(), 1u);
  EXPECT_EQ(srd[0].description.sdp, "v=0 focus answer");
  auto sel = actionsOf<act::SendToDevice>(acts2);
  ASSERT_EQ(sel.size(), 1u);
  EXPECT_EQ(sel[0].type, "m.call.select_answer");
  EXPECT_EQ(sel[0].content.at("selected_party_id"), "CHORUSFOCUS");
  EXPECT_EQ(sel[0].content.at("dest_session_id"), "sfu");
  EXPECT_EQ(sel[0].content.at("seq"), 1);
  // Everything the focus forwards, attributed to its participant.
  auto feeds = actionsOf<act::RemoteFeedsChanged>(acts2);
  ASSERT_EQ(feeds.size(), 1u);
  EXPECT_TRUE(feeds[0].focus);
  EXPECT_EQ(feeds[0].metadata.at("alice-s").user_id, std::optional<std::string>("@alice:hs"));
  // The focus's candidates (each on its own, then end-of-candidates) reach the media.
  auto cand = fromFocus(call_id_);
  cand["candidates"] = json::array{json::object{
      {"candidate", "candidate:1 1 udp 1 127.0.0.1 5000 typ host"}, {"sdpMid", "0"}, {"sdpMLineIndex", 0}}};
  EXPECT_EQ(actionsOf<act::AddRemoteCandidates>(toDevice("@sfu:hs", "m.call.candidates", cand)).size(), 1u);
  // Our candidates go to the focus over to-device.
  call_->handle(in::LocalCandidate{leg_, {"candidate:2 1 udp 1 127.0.0.1 6000 typ host", "0", 0, {}}});
  auto acts3 = call_->handle(in::GatheringComplete{leg_});
  auto cands = actionsOf<act::SendToDevice>(acts3);
  ASSERT_EQ(cands.size(), 1u);
  EXPECT_EQ(cands[0].type, "m.call.candidates");
  EXPECT_EQ(cands[0].device_id, "CHORUSFOCUS");
  EXPECT_EQ(call_->focusLeg()->state(), LegState::Connecting);
  call_->handle(in::MediaStateChanged{leg_, MediaState::Connected});
  EXPECT_EQ(call_->focusLeg()->state(), LegState::Connected);
  // The focus is no participant: member-state changes leave its leg alone.
  call_->handle(in::StateChanged{{memberEvent("@alice:hs", "conf1", {{"A1", "aS", kStart + kHour}})}});
  EXPECT_EQ(call_->focusLeg()->state(), LegState::Connected);
  EXPECT_EQ(call_->legs().size(), 1u);
}

TEST_F(FocusModeTest, SubscribesAllAudioAndVideoUpToTheLimitNeverOurOwn) {
  make();  // tile limit 2
  proto::SdpStreamMetadata available{
      {"alice-s", remoteStream("@alice:hs", "A1", "a-a", "a-v")},
      {"carol-s", remoteStream("@carol:hs", "C1", "c-a", "c-v")},
      {"dave-s", remoteStream("@dave:hs", "D1", "d-a", "d-v")},
      {"s1", remoteStream("@bob:hs", "BOB", "own-a", "own-v")},  // ours, echoed by the focus
  };
  connect(available, /*open_dc=*/false);
  // Nothing before the data channel opens; then one subscription.
  auto msgs = dcSent(call_->handle(in::DataChannelOpen{leg_}));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].type, proto::FocusMessageType::TrackSubscription);
  std::vector<proto::TrackRef> expect{
      {"alice-s", "a-a", {}, {}},   {"alice-s", "a-v", 640, 360}, {"carol-s", "c-a", {}, {}},
      {"carol-s", "c-v", 640, 360}, {"dave-s", "d-a", {}, {}},
  };
  EXPECT_EQ(msgs[0].subscribe, expect);
  EXPECT_TRUE(msgs[0].unsubscribe.empty());
  // The wire form.
  auto raw = actionsOf<act::SendDataChannel>(call_->handle(in::DataChannelClosed{leg_}));
  EXPECT_TRUE(raw.empty());

  // Alice leaves: her tracks go without an unsubscribe (the focus dropped them); dave's video gets the tile.
  make();
  connect(available);
  available.erase("alice-s");
  msgs = dcSent(dc(metadataChanged(available)));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].subscribe, (std::vector<proto::TrackRef>{{"dave-s", "d-v", 640, 360}}));
  EXPECT_TRUE(msgs[0].unsubscribe.empty());
  // The same set again: nothing to send.
  EXPECT_TRUE(dcSent(dc(metadataChanged(available))).empty());
  // Erin arrives: her audio is subscribed, her video has no free tile.
  available["erin-s"] = remoteStream("@erin:hs", "E1", "e-a", "e-v");
  msgs = dcSent(dc(metadataChanged(available)));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].subscribe, (std::vector<proto::TrackRef>{{"erin-s", "e-a", {}, {}}}));
  // Subscribed now: carol's and dave's audio and video (the two tiles), erin's audio.
  EXPECT_EQ(call_->focusLeg()->subscriptions().subscribed().size(), 5u);
}

// The focus's org.chorus.metadata_delta messages carry only new or changed streams: merged, not replacing.
TEST_F(FocusModeTest, AMetadataDeltaIsMergedIntoWhatWeKnow) {
  make();  // tile limit 2
  proto::SdpStreamMetadata available{{"alice-s", remoteStream("@alice:hs", "A1", "a-a", "a-v")}};
  connect(available);
  proto::FocusMessage delta;
  delta.type = proto::FocusMessageType::SdpStreamMetadataChanged;
  delta.metadata = proto::SdpStreamMetadata{{"carol-s", remoteStream("@carol:hs", "C1", "c-a", "c-v")}};
  delta.metadata_delta = true;
  auto msgs = dcSent(dc(proto::serializeFocusMessage(delta)));
  ASSERT_EQ(msgs.size(), 1u);
  // Only carol's tracks are new; alice's stay subscribed (a replacement would have dropped them).
  EXPECT_EQ(msgs[0].subscribe,
            (std::vector<proto::TrackRef>{{"carol-s", "c-a", {}, {}}, {"carol-s", "c-v", 640, 360}}));
  EXPECT_TRUE(msgs[0].unsubscribe.empty());
  EXPECT_EQ(call_->focusLeg()->subscriptions().subscribed().size(), 4u);
  // A whole message replaces: alice is gone, dave's is new.
  available = {{"carol-s", remoteStream("@carol:hs", "C1", "c-a", "c-v")},
               {"dave-s", remoteStream("@dave:hs", "D1", "d-a", "d-v")}};
  msgs = dcSent(dc(metadataChanged(available)));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].subscribe,
            (std::vector<proto::TrackRef>{{"dave-s", "d-a", {}, {}}, {"dave-s", "d-v", 640, 360}}));
}

TEST_F(FocusModeTest, TheFocusNamesWhoIsOnOurAudioSlots) {
  make();
  proto::SdpStreamMetadata available{{"alice-s", remoteStream("@alice:hs", "A1", "a-a", "a-v")}};
  connect(available);
  EXPECT_TRUE(call_->focusLeg()->audioSlotSpeakers().empty());
  const auto acts = dc(
      R"({"type":"org.chorus.audio_slots","content":{"slots":[{"slot":"chorus-slot-0","user_id":"@alice:hs","device_id":"A1","stream_id":"alice-s","track_id":"a-a"},{"slot":"chorus-slot-1"}]}})");
  EXPECT_TRUE(dcSent(acts).empty());  // nothing to answer
  EXPECT_EQ(call_->focusLeg()->audioSlotSpeakers(),
            (std::vector<proto::AudioSlotSpeaker>{{"chorus-slot-0", "@alice:hs", "A1", "alice-s", "a-a"},
                                                  {"chorus-slot-1", "", "", "", ""}}));
  EXPECT_EQ(call_->focusLeg()->dcMalformed(), 0u);
}

TEST_F(FocusModeTest, RenegotiationAndKeepaliveOverTheDataChannel) {
  make();
  proto::SdpStreamMetadata available{{"alice-s", remoteStream("@alice:hs", "A1", "a-a", "a-v")}};
  connect(available);
  EXPECT_EQ(dcSent(last_).size(), 1u);  // the subscription

  // Ping -> pong at once.
  auto msgs = dcSent(dc(R"({"type":"m.call.ping","content":{}})"));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].type, proto::FocusMessageType::Pong);
  EXPECT_EQ(actionsOf<act::SendDataChannel>(dc(R"({"type":"m.call.ping","content":{}})")).at(0).text,
            R"({"type":"m.call.pong","content":{}})");

  // The focus offers (it now sends alice's tracks): we apply it and answer over the data channel.
  auto acts = dc(negotiate("offer", "v=0 focus offer", available));
  auto srd = actionsOf<act::SetRemoteDescription>(acts);
  ASSERT_EQ(srd.size(), 1u);
  EXPECT_EQ(srd[0].description, (proto::SessionDescription{"offer", "v=0 focus offer"}));
  EXPECT_EQ(actionsOf<act::CreateAnswer>(acts).size(), 1u);
  EXPECT_TRUE(actionsOf<act::SendToDevice>(acts).empty());
  auto answer_acts = call_->handle(in::LocalDescription{leg_, {"answer", ourOffer()}});
  EXPECT_TRUE(actionsOf<act::SendToDevice>(answer_acts).empty());  // nothing over to-device any more
  msgs = dcSent(answer_acts);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].type, proto::FocusMessageType::Negotiate);
  EXPECT_EQ(msgs[0].description, (proto::SessionDescription{"answer", ourOffer()}));
  ASSERT_TRUE(msgs[0].metadata);
  EXPECT_EQ(msgs[0].metadata->at("s1").tracks.size(), 2u);

  // Our renegotiation (screenshare on): the offer goes over the data channel, the answer comes back on it.
  LocalFeed um{"s1", "m.usermedia", false, false, 640, 360};
  LocalFeed ss{"s2", "m.screenshare", true, false, 640, 360};
  auto feed_acts = call_->handle(in::SetFeeds{{um, ss}});
  msgs = dcSent(feed_acts);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].type, proto::FocusMessageType::SdpStreamMetadataChanged);
  EXPECT_EQ(msgs[0].metadata->at("s2").purpose, "m.screenshare");
  auto neg = call_->handle(in::NegotiationNeeded{leg_});
  ASSERT_EQ(actionsOf<act::CreateOffer>(neg).size(), 1u);
  const std::string offer2 = ourOffer() +
                             "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\na=sendrecv\r\n"
                             "a=msid:s2 webrtctransceiver2\r\n";
  msgs = dcSent(call_->handle(in::LocalDescription{leg_, {"offer", offer2}}));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].type, proto::FocusMessageType::Negotiate);
  EXPECT_EQ(msgs[0].description->type, "offer");
  EXPECT_EQ(json::serialize(proto::serializeSdpStreamMetadata(*msgs[0].metadata).at("s2").at("tracks")),
            R"({"webrtctransceiver2":{"kind":"video","width":640,"height":360}})");
  auto ans = dc(negotiate("answer", "v=0 focus answer 2", available));
  srd = actionsOf<act::SetRemoteDescription>(ans);
  ASSERT_EQ(srd.size(), 1u);
  EXPECT_EQ(srd[0].description.type, "answer");
  // An answer we did not ask for is ignored.
  EXPECT_TRUE(actionsOf<act::SetRemoteDescription>(dc(negotiate("answer", "stray", available))).empty());

  // Mute: metadata_changed over the data channel, with our tracks.
  um.audio_muted = true;
  msgs = dcSent(call_->handle(in::SetFeeds{{um, ss}}));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_TRUE(msgs[0].metadata->at("s1").audio_muted);
  EXPECT_EQ(msgs[0].metadata->at("s1").tracks.size(), 2u);

  // Garbage is counted and ignored.
  dc("not json");
  dc(R"({"type":"m.call.connect_to_focus","content":{}})");
  EXPECT_EQ(call_->focusLeg()->dcMalformed(), 2u);
  EXPECT_EQ(call_->focusLeg()->pingsAnswered(), 2u);

  // No ping for 90 s: keep_alive_timeout, and a new call to the focus right away.
  clock_.advance(90'000);
  auto t = call_->handle(in::Tick{});
  auto sends = actionsOf<act::SendToDevice>(t);
  ASSERT_GE(sends.size(), 1u);
  EXPECT_EQ(sends[0].type, "m.call.hangup");
  EXPECT_EQ(sends[0].content.at("reason"), "keep_alive_timeout");
  auto creates = actionsOf<act::CreateLeg>(t);
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0].device_id, "CHORUSFOCUS");
}

TEST_F(FocusModeTest, MessagesBeforeTheChannelOpensAreHeldAndTheFocusOfferWinsAGlare) {
  make();
  proto::SdpStreamMetadata available{{"alice-s", remoteStream("@alice:hs", "A1", "a-a", "a-v")}};
  connect(available, /*open_dc=*/false);
  LocalFeed um{"s1", "m.usermedia", true, false, 640, 360};
  EXPECT_TRUE(actionsOf<act::SendDataChannel>(call_->handle(in::SetFeeds{{um}})).empty());
  auto msgs = dcSent(call_->handle(in::DataChannelOpen{leg_}));
  ASSERT_EQ(msgs.size(), 2u);  // the held metadata, then the subscription
  EXPECT_EQ(msgs[0].type, proto::FocusMessageType::SdpStreamMetadataChanged);
  EXPECT_EQ(msgs[1].type, proto::FocusMessageType::TrackSubscription);

  // We are offering when the focus's offer arrives: we are polite to the focus, take its offer, and offer
  // again once that exchange is done.
  call_->handle(in::NegotiationNeeded{leg_});
  auto acts = dc(negotiate("offer", "v=0 focus offer", available));
  EXPECT_EQ(actionsOf<act::SetRemoteDescription>(acts).size(), 1u);
  EXPECT_EQ(actionsOf<act::CreateAnswer>(acts).size(), 1u);
}

TEST_F(FocusModeTest, LeaveHangsUpTheFocusLegOverToDevice) {
  make();
  connect({});
  auto acts = call_->handle(in::Leave{});
  auto sends = actionsOf<act::SendToDevice>(acts);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].type, "m.call.hangup");
  EXPECT_EQ(sends[0].user_id, "@sfu:hs");
  EXPECT_EQ(sends[0].device_id, "CHORUSFOCUS");
  EXPECT_EQ(sends[0].content.at("dest_session_id"), "sfu");
  EXPECT_EQ(sends[0].content.at("reason"), "user_hangup");
  EXPECT_EQ(actionsOf<act::CloseLeg>(acts).size(), 1u);
  EXPECT_TRUE(actionsOf<act::SendDataChannel>(acts).empty());
  EXPECT_FALSE(call_->focus());
}

TEST_F(FocusModeTest, AdoptsTheFocusAnotherMemberIsActiveOn) {
  make(std::nullopt);
  boost::json::object alice{
      {"m.calls",
       json::array{json::object{
           {"m.call_id", "conf1"},
           {"m.devices", json::array{json::object{
                             {"device_id", "A1"},
                             {"session_id", "aS"},
                             {"expires_ts", kStart + kHour},
                             {"feeds", json::array{json::object{{"purpose", "m.usermedia"}}}},
                             {"org.matrix.msc3898.foci.active",
                              json::array{json::object{{"user_id", "@sfu2:hs"}, {"device_id", "F2"}}}}}}}}}}};
  call_->handle(in::StateChanged{{testlib::memberEventRaw("@alice:hs", alice),
                                  memberEvent("@carol:hs", "conf1", {{"C1", "cS", kStart + kHour}})}});
  auto acts = enter();
  ASSERT_TRUE(call_->focus());
  EXPECT_EQ(*call_->focus(), (proto::FocusInfo{"@sfu2:hs", "F2"}));
  auto creates = actionsOf<act::CreateLeg>(acts);
  ASSERT_EQ(creates.size(), 2u);
  EXPECT_EQ(creates[0].user_id, "@sfu2:hs");
  EXPECT_EQ(creates[0].device_id, "F2");
  EXPECT_TRUE(creates[0].focus);
  // Carol names no focus: a mixed call, bob (the lower id) calls her in mesh as well.
  EXPECT_EQ(creates[1].user_id, "@carol:hs");
  EXPECT_FALSE(creates[1].focus);
  auto member = proto::parseCallMemberEvent("@bob:hs", actionsOf<act::PutState>(acts).at(0).content);
  EXPECT_EQ(member->findCall("conf1")->devices.back().foci_active.at(0).device_id, "F2");

  // With adopt_focus off (and no --focus) the same room is a mesh.
  CallConfig cfg = call_->config();
  cfg.adopt_focus = false;
  call_ = std::make_unique<GroupCall>(cfg, clock_, rng_);
  call_->handle(
      in::StateChanged{{joinEvent("@alice:hs"), joinEvent("@bob:hs"), joinEvent("@carol:hs"),
                        callEvent("conf1", "@alice:hs", 10), testlib::memberEventRaw("@alice:hs", alice),
                        memberEvent("@carol:hs", "conf1", {{"C1", "cS", kStart + kHour}})}});
  acts = enter();
  EXPECT_FALSE(call_->focus());
  creates = actionsOf<act::CreateLeg>(acts);
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0].user_id, "@carol:hs");  // mesh: bob calls carol
  EXPECT_FALSE(creates[0].data_channel);
}

TEST_F(FocusModeTest, MeshInvitesFromFocusUsersAreRejectedInFocusMode) {
  make();
  call_->handle(in::StateChanged{
      {focusMemberEvent("@alice:hs", "A1", "aS", proto::FocusInfo{"@sfu:hs", "CHORUSFOCUS"})}});
  connect({});
  auto inv = testlib::signal("meshcall", "conf1", "A1", "aS", "bobS", 0);
  inv["offer"] = json::object{{"type", "offer"}, {"sdp", "v=0"}};
  inv["lifetime"] = 60000;
  auto acts = toDevice("@alice:hs", "m.call.invite", inv);
  auto sends = actionsOf<act::SendToDevice>(acts);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].type, "m.call.reject");
  EXPECT_TRUE(actionsOf<act::CreateLeg>(acts).empty());
  EXPECT_EQ(call_->counters().mesh_invites_in_focus_mode, 1u);
}

TEST_F(FocusModeTest, AFailedFocusCallIsRetried) {
  make();
  auto acts = enter();
  leg_ = actionsOf<act::CreateLeg>(acts).at(0).leg;
  call_->handle(in::LocalDescription{leg_, {"offer", ourOffer()}});
  // The focus hangs up (e.g. it refused us); the retry loop calls it again after 5 s.
  auto sent_call = std::string(call_->focusLeg()->callId());
  auto hangup = fromFocus(sent_call);
  hangup["reason"] = "user_hangup";
  toDevice("@sfu:hs", "m.call.hangup", hangup);
  EXPECT_EQ(call_->focusLeg(), nullptr);
  clock_.advance(5'000);
  auto t = call_->handle(in::Tick{});
  auto creates = actionsOf<act::CreateLeg>(t);
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_TRUE(creates[0].focus);
}

}  // namespace
}  // namespace chorus::core
