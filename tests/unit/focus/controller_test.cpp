#include "focus/controller.hpp"

#include <gtest/gtest.h>

#include <array>
#include <set>

#include "testlib/builders.hpp"

namespace chorus::focus {
namespace {

namespace json = boost::json;
using testlib::actionsOf;

using testlib::kHour;
using testlib::kStart;

json::object device(const std::string& id, const std::string& session, TimeMs expires, bool names_focus) {
  json::object d{{"device_id", id},
                 {"session_id", session},
                 {"expires_ts", expires},
                 {"feeds", json::array{json::object{{"purpose", "m.usermedia"}}}}};
  if (names_focus) {
    d["org.matrix.msc3898.foci.active"] =
        json::array{json::object{{"user_id", "@sfu:hs"}, {"device_id", "SFU"}}};
  }
  return d;
}

proto::StateEvent member(const std::string& user, const std::string& conf, json::array devices,
                         TimeMs ts = 2) {
  return testlib::memberEventRaw(
      user, {{"m.calls", json::array{json::object{{"m.call_id", conf}, {"m.devices", std::move(devices)}}}}},
      ts);
}

class ControllerTest : public ::testing::Test {
 protected:
  explicit ControllerTest(TimeMs invite_grace_ms = 0) : clock_(kStart) { reset(baseConfig(invite_grace_ms)); }

  static ControllerConfig baseConfig(TimeMs invite_grace_ms = 0) {
    ControllerConfig cfg;
    cfg.invite_grace_ms = invite_grace_ms;
    cfg.user_id = "@sfu:hs";
    cfg.device_id = "SFU";
    cfg.max_participants_per_conference = 3;
    cfg.metadata_interval_ms = 0;  // every change told at once (the coalescing has its own tests)
    cfg.metadata_interval_per_participant_ms = 0;
    return cfg;
  }
  // A controller with `cfg` that has joined !room:hs, whose call is "conf".
  void reset(const ControllerConfig& cfg) {
    ctl_ = std::make_unique<Controller>(cfg, clock_);
    ctl_->handle(in::RoomInvite{"!room:hs", "@alice:hs"});
    ctl_->handle(in::RoomJoined{"!room:hs"});
    ctl_->handle(in::RoomStateChanged{
        "!room:hs",
        {testlib::joinEvent("@alice:hs"), testlib::joinEvent("@bob:hs"), testlib::joinEvent("@carol:hs"),
         testlib::joinEvent("@sfu:hs"), testlib::callEvent("conf", "@alice:hs", 1)}});
  }

  Actions invite(const std::string& user, const std::string& dev, const std::string& session,
                 const std::string& call_id, const std::string& conf = "conf") {
    auto c = testlib::signal(call_id, conf, dev, session, "sfu", 0);
    c["offer"] = json::object{{"type", "offer"}, {"sdp", "v=0 offer from " + user}};
    c["lifetime"] = 60000;
    c["org.matrix.msc3077.sdp_stream_metadata"] =
        json::object{{"stream-" + user, json::object{{"purpose", "m.usermedia"}}}};
    return ctl_->handle(in::ToDevice{proto::ToDeviceMessage{"m.call.invite", user, c}});
  }
  void state(std::vector<proto::StateEvent> evs) {
    ctl_->handle(in::RoomStateChanged{"!room:hs", std::move(evs)});
  }
  ParticipantId accept(const std::string& user, const std::string& dev, const std::string& session,
                       const std::string& call_id) {
    auto acts = invite(user, dev, session, call_id);
    auto created = actionsOf<act::CreatePeer>(acts);
    EXPECT_EQ(created.size(), 1u);
    if (created.empty()) return 0;
    ctl_->handle(in::PeerConnected{created[0].peer});
    return created[0].peer;
  }

  // alice, bob and carol, members naming this focus, each accepted and connected.
  std::array<ParticipantId, 3> threeConnected() {
    state({member("@alice:hs", "conf", json::array{device("A", "aS", kStart + kHour, true)}),
           member("@bob:hs", "conf", json::array{device("B", "bS", kStart + kHour, true)}),
           member("@carol:hs", "conf", json::array{device("C", "cS", kStart + kHour, true)})});
    return {accept("@alice:hs", "A", "aS", "ca"), accept("@bob:hs", "B", "bS", "cb"),
            accept("@carol:hs", "C", "cS", "cc")};
  }

  FakeClock clock_;
  std::unique_ptr<Controller> ctl_;
};

TEST_F(ControllerTest, AcceptsAMemberThatNamesThisFocusAndAnswersLikeWaterfall) {
  state({member("@alice:hs", "conf", json::array{device("A", "aS", kStart + kHour, true)})});
  auto acts = invite("@alice:hs", "A", "aS", "call1");
  auto created = actionsOf<act::CreatePeer>(acts);
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].offer_sdp, "v=0 offer from @alice:hs");
  EXPECT_EQ(created[0].room_id, "!room:hs");
  auto answer =
      actionsOf<proto::SendToDevice>(ctl_->handle(in::PeerAnswerReady{created[0].peer, "v=0 answer"}));
  ASSERT_EQ(answer.size(), 1u);
  EXPECT_EQ(answer[0].type, "m.call.answer");
  EXPECT_EQ(answer[0].user_id, "@alice:hs");
  EXPECT_EQ(answer[0].device_id, "A");
  const auto& c = answer[0].content;
  EXPECT_EQ(c.at("sender_session_id"), "sfu");
  EXPECT_EQ(c.at("dest_session_id"), "aS");
  EXPECT_EQ(c.at("call_id"), "call1");
  EXPECT_EQ(c.at("party_id"), "SFU");
  EXPECT_EQ(c.at("device_id"), "SFU");
  EXPECT_EQ(c.at("seq").template to_number<int>(), 0);
  EXPECT_EQ(c.at("answer").at("sdp"), "v=0 answer");
  auto cand = actionsOf<proto::SendToDevice>(
      ctl_->handle(in::PeerCandidate{created[0].peer, proto::Candidate{"", std::nullopt, std::nullopt, {}}}));
  ASSERT_EQ(cand.size(), 1u);
  EXPECT_EQ(cand[0].content.at("seq").template to_number<int>(), 1);
  EXPECT_EQ(ctl_->counters().invites_accepted, 1u);
}

TEST_F(ControllerTest, RejectsEveryoneElse) {
  state({member("@alice:hs", "conf", json::array{device("A", "aS", kStart + kHour, true)}),
         member("@bob:hs", "conf", json::array{device("B", "bS", kStart + kHour, false)}),
         member("@carol:hs", "conf", json::array{device("C", "cS", kStart - 1, true)})});
  auto rejected = [&](const Actions& acts) {
    auto s = actionsOf<proto::SendToDevice>(acts);
    return actionsOf<act::CreatePeer>(acts).empty() && s.size() == 1 && s[0].type == "m.call.reject";
  };
  EXPECT_TRUE(rejected(invite("@alice:hs", "A", "otherSession", "c1")));  // session not in member state
  EXPECT_TRUE(rejected(invite("@alice:hs", "A2", "aS", "c2")));           // device not in member state
  EXPECT_TRUE(rejected(invite("@bob:hs", "B", "bS", "c3")));              // does not name this focus
  EXPECT_TRUE(rejected(invite("@carol:hs", "C", "cS", "c4")));            // expired
  EXPECT_TRUE(rejected(invite("@dave:hs", "D", "dS", "c5")));             // no member event at all
  EXPECT_TRUE(rejected(invite("@eve:elsewhere.org", "E", "eS", "c6", "unknownConf")));
  EXPECT_EQ(ctl_->counters().rejected_not_member, 4u);
  EXPECT_EQ(ctl_->counters().rejected_not_our_focus, 1u);
  EXPECT_EQ(ctl_->counters().rejected_unknown_conf, 1u);
  EXPECT_TRUE(ctl_->participants().empty());
  // Not addressed to the focus session: dropped silently.
  auto c = testlib::signal("c7", "conf", "A", "aS", "notSfu", 0);
  c["offer"] = json::object{{"type", "offer"}, {"sdp", "v=0"}};
  EXPECT_TRUE(ctl_->handle(in::ToDevice{proto::ToDeviceMessage{"m.call.invite", "@alice:hs", c}}).empty());
}

TEST_F(ControllerTest, LeavingTheMemberStateRemovesThePeerAndTellsTheOthers) {
  state({member("@alice:hs", "conf", json::array{device("A", "aS", kStart + kHour, true)}),
         member("@bob:hs", "conf", json::array{device("B", "bS", kStart + kHour, true)})});
  ParticipantId a = accept("@alice:hs", "A", "aS", "ca");
  ParticipantId b = accept("@bob:hs", "B", "bS", "cb");
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  // alice learns of bob's stream, tagged with his ids.
  auto md = ctl_->availableTo(*ctl_->participant(a));
  ASSERT_EQ(md.count("stream-@bob:hs"), 1u);
  EXPECT_EQ(md.at("stream-@bob:hs").user_id, "@bob:hs");
  EXPECT_EQ(md.at("stream-@bob:hs").device_id, "B");

  Actions acts;
  ctl_->handle(in::RoomStateChanged{"!room:hs", {member("@bob:hs", "conf", json::array{})}});
  EXPECT_EQ(ctl_->participant(b), nullptr);
  EXPECT_NE(ctl_->participant(a), nullptr);
  EXPECT_EQ(ctl_->counters().removed_membership, 1u);
  EXPECT_TRUE(ctl_->availableTo(*ctl_->participant(a)).empty());
}

TEST_F(ControllerTest, MembershipExpiryRemovesThePeerOnTime) {
  state({member("@alice:hs", "conf", json::array{device("A", "aS", kStart + 5'000, true)})});
  ParticipantId a = accept("@alice:hs", "A", "aS", "ca");
  EXPECT_EQ(ctl_->nextTimeout(), kStart + 5'000);
  clock_.advance(5'000);
  auto acts = ctl_->handle(in::Tick{});
  EXPECT_EQ(ctl_->participant(a), nullptr);
  auto sent = actionsOf<proto::SendToDevice>(acts);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].type, "m.call.hangup");
}

TEST_F(ControllerTest, PingPongKeepaliveAndTimeout) {
  state({member("@alice:hs", "conf", json::array{device("A", "aS", kStart + 10 * kHour, true)}),
         member("@bob:hs", "conf", json::array{device("B", "bS", kStart + 10 * kHour, true)})});
  ParticipantId a = accept("@alice:hs", "A", "aS", "ca");
  ParticipantId b = accept("@bob:hs", "B", "bS", "cb");
  ctl_->handle(in::DataChannelMessage{b, R"({"type":"m.call.ping","content":{}})"});  // once, early on
  clock_.advance(30'000);
  auto pings = actionsOf<act::SendDataChannel>(ctl_->handle(in::Tick{}));
  ASSERT_EQ(pings.size(), 2u);
  EXPECT_EQ(pings[0].text, R"({"type":"m.call.ping","content":{}})");
  // alice answers, bob does not.
  ctl_->handle(in::DataChannelMessage{a, R"({"type":"m.call.pong","content":{}})"});
  clock_.advance(30'000);
  auto acts = ctl_->handle(in::Tick{});
  EXPECT_EQ(ctl_->participant(b), nullptr);
  EXPECT_NE(ctl_->participant(a), nullptr);
  EXPECT_EQ(ctl_->counters().removed_keepalive, 1u);
  bool hung_up = false;
  for (const auto& s : actionsOf<proto::SendToDevice>(acts)) {
    hung_up |= s.type == "m.call.hangup" && s.content.at("reason") == "keep_alive_timeout";
  }
  EXPECT_TRUE(hung_up);
  // The log says who and what the focus last heard from it.
  const auto warnings = actionsOf<act::Warning>(acts);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].message,
            "removing @bob:hs/B: no pong within 30 s of the ping; 1 data-channel messages from it, the last "
            "60 s ago");
  EXPECT_TRUE(warnings[0].warn);
}

TEST_F(ControllerTest, DataChannelMessagesAreParsedAndBounded) {
  state({member("@alice:hs", "conf", json::array{device("A", "aS", kStart + kHour, true)}),
         member("@bob:hs", "conf", json::array{device("B", "bS", kStart + kHour, true)})});
  ParticipantId a = accept("@alice:hs", "A", "aS", "ca");
  ParticipantId b = accept("@bob:hs", "B", "bS", "cb");
  auto subs = actionsOf<act::UpdateSubscriptions>(ctl_->handle(in::DataChannelMessage{
      a,
      R"({"type":"m.call.track_subscription","content":{"subscribe":[{"stream_id":"s","track_id":"t","width":320,"height":180}],"unsubscribe":[]}})"}));
  ASSERT_EQ(subs.size(), 1u);
  ASSERT_EQ(subs[0].subscribe.size(), 1u);
  EXPECT_EQ(subs[0].subscribe[0].width, 320);
  // bob mutes: alice is told over her data channel.
  auto md = actionsOf<act::SendDataChannel>(ctl_->handle(in::DataChannelMessage{
      b,
      R"({"type":"m.call.sdp_stream_metadata_changed","content":{"sdp_stream_metadata":{"stream-@bob:hs":{"purpose":"m.usermedia","audio_muted":true}}}})"}));
  ASSERT_EQ(md.size(), 1u);
  EXPECT_EQ(md[0].peer, a);
  auto parsed = proto::parseFocusMessage(md[0].text);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->metadata->at("stream-@bob:hs").audio_muted);
  // A ping from the client gets a pong; garbage and oversized messages are dropped and counted.
  auto pong = actionsOf<act::SendDataChannel>(
      ctl_->handle(in::DataChannelMessage{a, R"({"type":"m.call.ping","content":{}})"}));
  ASSERT_EQ(pong.size(), 1u);
  EXPECT_TRUE(ctl_->handle(in::DataChannelMessage{a, "not json"}).empty());
  EXPECT_TRUE(
      ctl_->handle(in::DataChannelMessage{a, std::string(proto::kMaxFocusMessageBytes + 1, 'x')}).empty());
  EXPECT_EQ(ctl_->counters().dropped_data_channel, 2u);
}

// Issue #12: when the media plane cannot send a subscriber a stream's video (its downlink does not carry
// even the lowest layer), that subscriber alone is told, in its metadata: video_muted, and the marker
// "org.chorus.video_paused" that says why. A publisher cannot claim the marker for itself.
TEST_F(ControllerTest, PausedVideoIsToldToThatSubscriberOnly) {
  const auto [a, b, c] = threeConnected();
  auto metadataOf = [](const act::SendDataChannel& m) {
    auto parsed = proto::parseFocusMessage(m.text);
    EXPECT_TRUE(parsed && parsed->metadata);
    return parsed && parsed->metadata ? *parsed->metadata : proto::SdpStreamMetadata{};
  };
  // bob's video is paused for alice.
  auto told = actionsOf<act::SendDataChannel>(ctl_->handle(in::DownlinkPaused{a, {{b, "stream-@bob:hs"}}}));
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].peer, a);
  EXPECT_NE(told[0].text.find(R"("org.chorus.video_paused":true)"), std::string::npos) << told[0].text;
  auto md = metadataOf(told[0]);
  ASSERT_TRUE(md.count("stream-@bob:hs"));
  EXPECT_TRUE(md.at("stream-@bob:hs").video_muted);
  ASSERT_TRUE(md.count("stream-@carol:hs"));
  EXPECT_FALSE(md.at("stream-@carol:hs").video_muted);
  EXPECT_EQ(told[0].text.find(R"("org.chorus.video_paused":true)"),
            told[0].text.rfind(R"("org.chorus.video_paused":true)"));  // bob's stream only
  // The same set again: nothing to tell.
  EXPECT_TRUE(ctl_->handle(in::DownlinkPaused{a, {{b, "stream-@bob:hs"}}}).empty());
  // carol is not affected: a change of bob's metadata tells her bob's video is not muted.
  auto others = actionsOf<act::SendDataChannel>(ctl_->handle(in::DataChannelMessage{
      b,
      R"({"type":"m.call.sdp_stream_metadata_changed","content":{"sdp_stream_metadata":{"stream-@bob:hs":{"purpose":"m.usermedia","audio_muted":true,"org.chorus.video_paused":true}}}})"}));
  ASSERT_EQ(others.size(), 2u);  // alice and carol
  for (const auto& m : others) {
    auto bob = metadataOf(m).at("stream-@bob:hs");
    EXPECT_TRUE(bob.audio_muted);
    EXPECT_EQ(bob.video_muted, m.peer == a) << "peer " << m.peer;  // bob's own claim of the marker is ignored
    EXPECT_EQ(m.text.find("org.chorus.video_paused") != std::string::npos, m.peer == a);
  }
  // Resumed: alice is told bob's video is back.
  told = actionsOf<act::SendDataChannel>(ctl_->handle(in::DownlinkPaused{a, {}}));
  ASSERT_EQ(told.size(), 1u);
  EXPECT_FALSE(metadataOf(told[0]).at("stream-@bob:hs").video_muted);
  EXPECT_EQ(told[0].text.find("org.chorus.video_paused"), std::string::npos);
  // A peer that is not connected yet is told with everything else when it connects; unknown peers: nothing.
  EXPECT_TRUE(ctl_->handle(in::DownlinkPaused{c + 100, {{b, "stream-@bob:hs"}}}).empty());
}

// Who is on a participant's audio slots, when the media plane knows it before the participant connected, is
// told once it connects (not dropped), under the ids its metadata names the speaker by; and only on change.
TEST_F(ControllerTest, AudioSlotSpeakersKnownBeforeConnectingAreToldOnConnect) {
  state({member("@alice:hs", "conf", json::array{device("A", "aS", kStart + kHour, true)}),
         member("@bob:hs", "conf", json::array{device("B", "bS", kStart + kHour, true)})});
  const ParticipantId a = accept("@alice:hs", "A", "aS", "ca");
  ctl_->handle(in::DataChannelMessage{
      a,
      R"({"type":"m.call.sdp_stream_metadata_changed","content":{"sdp_stream_metadata":{"sA":{"purpose":"m.usermedia","tracks":{"aA":{"kind":"audio"}}}}}})"});
  auto created = actionsOf<act::CreatePeer>(invite("@bob:hs", "B", "bS", "cb"));
  ASSERT_EQ(created.size(), 1u);
  const ParticipantId b = created[0].peer;
  const in::AudioSlotSpeakers speakers{b, {{"chorus-slot-0", a, "sA", "aA"}}};
  EXPECT_TRUE(actionsOf<act::SendDataChannel>(ctl_->handle(speakers)).empty()) << "no channel yet";

  auto slotsTold = [&](const Actions& acts) {
    std::vector<proto::FocusMessage> out;
    for (const auto& m : actionsOf<act::SendDataChannel>(acts)) {
      auto parsed = proto::parseFocusMessage(m.text);
      if (parsed && parsed->type == proto::FocusMessageType::AudioSlots) {
        EXPECT_EQ(m.peer, b);
        out.push_back(*parsed);
      }
    }
    return out;
  };
  auto told = slotsTold(ctl_->handle(in::PeerConnected{b}));
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].audio_slots,
            (std::vector<proto::AudioSlotSpeaker>{{"chorus-slot-0", "@alice:hs", "A", "sA", "aA"}}));
  // The same speakers again, or another metadata message to bob: nothing new to tell.
  EXPECT_TRUE(slotsTold(ctl_->handle(speakers)).empty());
  EXPECT_TRUE(
      slotsTold(
          ctl_->handle(in::DataChannelMessage{
              a,
              R"({"type":"m.call.sdp_stream_metadata_changed","content":{"sdp_stream_metadata":{"sA":{"purpose":"m.usermedia","audio_muted":true,"tracks":{"aA":{"kind":"audio"}}}}}})"}))
          .empty());
  // Nobody on the slot: told.
  told = slotsTold(ctl_->handle(in::AudioSlotSpeakers{b, {{"chorus-slot-0", 0, "", ""}}}));
  ASSERT_EQ(told.size(), 1u);
  ASSERT_EQ(told[0].audio_slots.size(), 1u);
  EXPECT_EQ(told[0].audio_slots[0].slot, "chorus-slot-0");
  EXPECT_TRUE(told[0].audio_slots[0].user_id.empty());
}

TEST_F(ControllerTest, ConferenceSizeIsBounded) {
  json::array devs;
  for (int i = 0; i < 5; ++i)
    devs.push_back(device("D" + std::to_string(i), "s" + std::to_string(i), kStart + kHour, true));
  state({member("@alice:hs", "conf", devs)});
  int accepted = 0;
  for (int i = 0; i < 5; ++i) {
    accepted += actionsOf<act::CreatePeer>(invite("@alice:hs", "D" + std::to_string(i),
                                                  "s" + std::to_string(i), "c" + std::to_string(i)))
                    .size();
  }
  EXPECT_EQ(accepted, 3);
  EXPECT_EQ(ctl_->counters().rejected_full, 2u);
}

TEST_F(ControllerTest, RoomInvitesFollowTheAllowList) {
  ControllerConfig cfg;
  cfg.user_id = "@sfu:hs";
  cfg.device_id = "SFU";
  cfg.allowed_servers = {"good.org"};
  Controller c(cfg, clock_);
  EXPECT_EQ(actionsOf<act::JoinRoom>(c.handle(in::RoomInvite{"!a:good.org", "@x:good.org"})).size(), 1u);
  EXPECT_TRUE(actionsOf<act::JoinRoom>(c.handle(in::RoomInvite{"!a:evil.org", "@x:evil.org"})).empty());
  EXPECT_EQ(c.counters().room_invites_refused, 1u);
}

TEST_F(ControllerTest, ANewSessionFromTheSameDeviceReplacesTheOldPeer) {
  state({member("@alice:hs", "conf", json::array{device("A", "aS", kStart + kHour, true)})});
  ParticipantId a = accept("@alice:hs", "A", "aS", "ca");
  state({member("@alice:hs", "conf", json::array{device("A", "aS2", kStart + kHour, true)})});
  EXPECT_EQ(ctl_->participant(a), nullptr) << "the old session's member entry is gone";
  ParticipantId a2 = accept("@alice:hs", "A", "aS2", "ca2");
  EXPECT_NE(a2, 0u);
}

class ControllerGraceTest : public ControllerTest {
 protected:
  ControllerGraceTest() : ControllerTest(5'000) {}
};

TEST_F(ControllerGraceTest, AnInviteThatArrivesBeforeTheMemberStateWaitsForIt) {
  auto acts = invite("@alice:hs", "A", "aS", "call1");
  EXPECT_TRUE(acts.empty());  // held, neither accepted nor rejected
  ASSERT_TRUE(ctl_->nextTimeout().has_value());
  EXPECT_EQ(*ctl_->nextTimeout(), kStart + 5'000);
  clock_.advance(1'000);
  acts = ctl_->handle(in::RoomStateChanged{
      "!room:hs", {member("@alice:hs", "conf", json::array{device("A", "aS", kStart + kHour, true)})}});
  auto created = actionsOf<act::CreatePeer>(acts);
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].user_id, "@alice:hs");
  EXPECT_EQ(ctl_->counters().invites_accepted, 1u);
  EXPECT_EQ(ctl_->counters().rejected_not_member, 0u);
}

TEST_F(ControllerGraceTest, AHeldInviteIsRejectedWhenTheGraceEnds) {
  EXPECT_TRUE(invite("@dave:hs", "D", "dS", "c1").empty());
  clock_.advance(4'999);
  EXPECT_TRUE(actionsOf<proto::SendToDevice>(ctl_->handle(in::Tick{})).empty());
  clock_.advance(1);
  auto sent = actionsOf<proto::SendToDevice>(ctl_->handle(in::Tick{}));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].type, "m.call.reject");
  EXPECT_EQ(sent[0].user_id, "@dave:hs");
  EXPECT_EQ(ctl_->counters().rejected_not_member, 1u);
  EXPECT_FALSE(ctl_->nextTimeout().has_value());
}

TEST_F(ControllerGraceTest, HeldInvitesAreBounded) {
  for (int i = 0; i < 100; ++i) invite("@dave:hs", "D" + std::to_string(i), "dS", "c" + std::to_string(i));
  // The first 64 wait; the rest are rejected at once.
  EXPECT_EQ(ctl_->counters().rejected_not_member, 36u);
}

TEST_F(ControllerTest, ShutdownHangsUpOnEveryone) {
  state({member("@alice:hs", "conf", json::array{device("A", "aS", kStart + kHour, true)}),
         member("@bob:hs", "conf", json::array{device("B", "bS", kStart + kHour, true)})});
  accept("@alice:hs", "A", "aS", "c1");
  accept("@bob:hs", "B", "bS", "c2");
  auto acts = ctl_->handle(in::Shutdown{});
  auto sent = actionsOf<proto::SendToDevice>(acts);
  ASSERT_EQ(sent.size(), 2u);
  for (const auto& s : sent) EXPECT_EQ(s.type, "m.call.hangup");
  EXPECT_EQ(actionsOf<act::ClosePeer>(acts).size(), 2u);
  EXPECT_TRUE(ctl_->participants().empty());
}

// ---- Conferences of rooms the focus has not joined (UnjoinedRooms) ----

// The reject (or nothing) an invite got: its "reason", "" when it was not rejected.
std::string rejectReason(const Actions& acts) {
  for (const auto& s : actionsOf<proto::SendToDevice>(acts)) {
    if (s.type == "m.call.reject") return std::string(s.content.at("reason").as_string());
  }
  return {};
}

TEST(UnjoinedRoomsPolicy, NamesServersAndChecks) {
  EXPECT_EQ(serverOfUser("@alice:example.org"), "example.org");
  EXPECT_EQ(serverOfUser("@alice:example.org:8448"), "example.org:8448");
  EXPECT_EQ(serverOfUser("alice:example.org"), "");
  EXPECT_EQ(serverOfUser("@alice"), "");
  EXPECT_EQ(serverOfUser("@:example.org"), "");
  EXPECT_EQ(serverOfUser("@alice:"), "");
  EXPECT_EQ(parseUnjoinedRooms("own-server"), UnjoinedRooms::OwnServer);
  EXPECT_EQ(parseUnjoinedRooms("allow-list"), UnjoinedRooms::AllowList);
  EXPECT_EQ(parseUnjoinedRooms("off"), UnjoinedRooms::Off);
  EXPECT_FALSE(parseUnjoinedRooms("on").has_value());
  ControllerConfig c;
  EXPECT_EQ(c.unjoined_rooms, UnjoinedRooms::OwnServer) << "the default";
  EXPECT_EQ(checkUnjoinedRooms(c), "");
  c.unjoined_rooms = UnjoinedRooms::AllowList;
  EXPECT_NE(checkUnjoinedRooms(c), "") << "an allow-list with no server";
  c.unjoined_allowed_servers = {"partner.org"};
  EXPECT_EQ(checkUnjoinedRooms(c), "");
  c.unjoined_rooms = UnjoinedRooms::Off;
  EXPECT_NE(checkUnjoinedRooms(c), "") << "servers given but not the allow-list policy";
}

TEST_F(ControllerTest, AnOwnServerSenderIsServedInARoomTheFocusHasNotJoined) {
  // "other" is a call of no room the focus is in: nobody invited it, the member events are out of its sight.
  auto acts = invite("@dave:hs", "D", "dS", "c1", "other");
  auto created = actionsOf<act::CreatePeer>(acts);
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].conf_id, "other");
  EXPECT_EQ(created[0].room_id, "");
  EXPECT_EQ(rejectReason(acts), "");
  const Participant* d = ctl_->participant(created[0].peer);
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->unjoined);
  EXPECT_EQ(ctl_->counters().invites_accepted_unjoined, 1u);
  EXPECT_EQ(ctl_->counters().invites_accepted, 1u);
  ctl_->handle(in::PeerConnected{created[0].peer});

  // A second participant of the same conference sees the first one's stream, and the answer goes out as
  // usual.
  auto e = actionsOf<act::CreatePeer>(invite("@erin:hs", "E", "eS", "c2", "other"));
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(ctl_->availableTo(*ctl_->participant(e[0].peer)).count("stream-@dave:hs"), 1u);
  auto answer = actionsOf<proto::SendToDevice>(ctl_->handle(in::PeerAnswerReady{e[0].peer, "v=0 answer"}));
  ASSERT_EQ(answer.size(), 1u);
  EXPECT_EQ(answer[0].type, "m.call.answer");
  EXPECT_EQ(answer[0].content.at("conf_id"), "other");
  // It is not mixed with the joined room's conference of the same focus.
  state({member("@alice:hs", "conf", json::array{device("A", "aS", kStart + kHour, true)})});
  ParticipantId a = accept("@alice:hs", "A", "aS", "ca");
  ASSERT_NE(a, 0u);
  EXPECT_TRUE(ctl_->availableTo(*ctl_->participant(a)).empty());
  EXPECT_EQ(ctl_->availableTo(*ctl_->participant(e[0].peer)).count("stream-@alice:hs"), 0u);
}

TEST_F(ControllerTest, UnjoinedSessionsEndByHangupOrKeepaliveNotByExpiry) {
  ParticipantId d = actionsOf<act::CreatePeer>(invite("@dave:hs", "D", "dS", "c1", "other")).at(0).peer;
  ParticipantId e = actionsOf<act::CreatePeer>(invite("@erin:hs", "E", "eS", "c2", "other")).at(0).peer;
  ctl_->handle(in::PeerConnected{d});
  ctl_->handle(in::PeerConnected{e});
  // Nothing to expire: the next timeout is the keepalive.
  EXPECT_EQ(ctl_->nextTimeout(), kStart + 30'000);
  clock_.advance(30'000);
  EXPECT_EQ(actionsOf<act::SendDataChannel>(ctl_->handle(in::Tick{})).size(), 2u);  // pings
  ctl_->handle(in::DataChannelMessage{d, R"({"type":"m.call.pong","content":{}})"});
  clock_.advance(30'000);
  ctl_->handle(in::Tick{});
  EXPECT_EQ(ctl_->participant(e), nullptr) << "no pong";
  EXPECT_EQ(ctl_->counters().removed_keepalive, 1u);
  ASSERT_NE(ctl_->participant(d), nullptr);
  // Its own hangup ends it.
  auto c = testlib::signal("c1", "other", "D", "dS", "sfu", 1);
  c["reason"] = "user_hangup";
  ctl_->handle(in::ToDevice{proto::ToDeviceMessage{"m.call.hangup", "@dave:hs", c}});
  EXPECT_EQ(ctl_->participant(d), nullptr);
  EXPECT_TRUE(ctl_->participants().empty());
}

TEST_F(ControllerTest, AForeignServerIsRejectedInARoomTheFocusHasNotJoined) {
  auto acts = invite("@eve:evil.org", "E", "eS", "c1", "other");
  EXPECT_TRUE(actionsOf<act::CreatePeer>(acts).empty());
  EXPECT_EQ(rejectReason(acts), "unknown_conf");
  auto sent = actionsOf<proto::SendToDevice>(acts);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].user_id, "@eve:evil.org");
  EXPECT_EQ(sent[0].content.at("call_id"), "c1");
  EXPECT_EQ(ctl_->counters().rejected_unknown_conf, 1u);
  EXPECT_EQ(ctl_->counters().invites_accepted_unjoined, 0u);
  // A malformed sender has no server at all.
  EXPECT_EQ(rejectReason(invite("nobody", "N", "nS", "c2", "other")), "unknown_conf");
  EXPECT_TRUE(ctl_->participants().empty());
}

TEST_F(ControllerGraceTest, AForeignServerWaitsForStateLikeToday) {
  // Its invite may still be for a call the focus is about to see: held, then rejected.
  EXPECT_TRUE(invite("@eve:evil.org", "E", "eS", "c1", "other").empty());
  clock_.advance(5'000);
  auto acts = ctl_->handle(in::Tick{});
  EXPECT_EQ(rejectReason(acts), "unknown_conf");
  EXPECT_EQ(ctl_->counters().rejected_unknown_conf, 1u);
}

TEST_F(ControllerTest, AnAllowListedForeignServerIsServed) {
  ControllerConfig cfg = baseConfig();
  cfg.unjoined_rooms = UnjoinedRooms::AllowList;
  cfg.unjoined_allowed_servers = {"partner.org"};
  reset(cfg);
  EXPECT_EQ(actionsOf<act::CreatePeer>(invite("@pat:partner.org", "P", "pS", "c1", "other")).size(), 1u);
  EXPECT_EQ(rejectReason(invite("@eve:evil.org", "E", "eS", "c2", "other")), "unknown_conf");
  // The allow-list is the whole list: the focus's own server is served only when it is on it.
  EXPECT_EQ(rejectReason(invite("@dave:hs", "D", "dS", "c3", "other")), "unknown_conf");
  EXPECT_EQ(ctl_->counters().invites_accepted_unjoined, 1u);
  EXPECT_EQ(ctl_->counters().rejected_unknown_conf, 2u);
}

TEST_F(ControllerTest, PolicyOffRejectsAsBefore) {
  ControllerConfig cfg = baseConfig();
  cfg.unjoined_rooms = UnjoinedRooms::Off;
  reset(cfg);
  auto acts = invite("@dave:hs", "D", "dS", "c1", "other");
  EXPECT_TRUE(actionsOf<act::CreatePeer>(acts).empty());
  EXPECT_EQ(rejectReason(acts), "unknown_conf");
  EXPECT_EQ(ctl_->counters().rejected_unknown_conf, 1u);
  // Joined rooms are served as before.
  state({member("@alice:hs", "conf", json::array{device("A", "aS", kStart + kHour, true)})});
  EXPECT_NE(accept("@alice:hs", "A", "aS", "ca"), 0u);
}

TEST_F(ControllerTest, JoinedRoomsStillNeedFullMembershipFromTheOwnServer) {
  // @dave:hs is of the focus's own server, but "conf" is the call of a room the focus has joined: no member
  // entry, no service.
  auto acts = invite("@dave:hs", "D", "dS", "c1", "conf");
  EXPECT_TRUE(actionsOf<act::CreatePeer>(acts).empty());
  EXPECT_EQ(rejectReason(acts), "not_member");
  state({member("@bob:hs", "conf", json::array{device("B", "bS", kStart + kHour, false)})});
  EXPECT_EQ(rejectReason(invite("@bob:hs", "B", "bS", "c2", "conf")), "not_our_focus");
  EXPECT_EQ(ctl_->counters().invites_accepted_unjoined, 0u);
  EXPECT_TRUE(ctl_->participants().empty());
}

TEST_F(ControllerTest, UnjoinedSessionsPerUserAreCapped) {
  ControllerConfig cfg = baseConfig();
  cfg.max_unjoined_per_user = 2;
  reset(cfg);
  EXPECT_EQ(actionsOf<act::CreatePeer>(invite("@dave:hs", "D1", "s1", "c1", "other")).size(), 1u);
  // Another conference counts too.
  EXPECT_EQ(actionsOf<act::CreatePeer>(invite("@dave:hs", "D2", "s2", "c2", "another")).size(), 1u);
  auto acts = invite("@dave:hs", "D3", "s3", "c3", "other");
  EXPECT_TRUE(actionsOf<act::CreatePeer>(acts).empty());
  EXPECT_EQ(rejectReason(acts), "unjoined_user_limit");
  EXPECT_EQ(ctl_->counters().rejected_unjoined_limit, 1u);
  // A new session of a device already in replaces its old one: not a third.
  auto re = invite("@dave:hs", "D1", "s1b", "c4", "other");
  EXPECT_EQ(actionsOf<act::CreatePeer>(re).size(), 1u);
  EXPECT_EQ(actionsOf<act::ClosePeer>(re).size(), 1u);
  // Other users are not affected.
  EXPECT_EQ(actionsOf<act::CreatePeer>(invite("@erin:hs", "E", "eS", "c5", "other")).size(), 1u);
  // When one of dave's sessions hangs up, there is room again.
  auto c = testlib::signal("c2", "another", "D2", "s2", "sfu", 1);
  ctl_->handle(in::ToDevice{proto::ToDeviceMessage{"m.call.hangup", "@dave:hs", c}});
  EXPECT_EQ(actionsOf<act::CreatePeer>(invite("@dave:hs", "D3", "s3", "c6", "other")).size(), 1u);
  EXPECT_EQ(ctl_->counters().rejected_unjoined_limit, 1u);
}

TEST_F(ControllerTest, UnjoinedSessionsPerServerAreCapped) {
  ControllerConfig cfg = baseConfig();
  cfg.unjoined_rooms = UnjoinedRooms::AllowList;
  cfg.unjoined_allowed_servers = {"hs", "partner.org"};
  cfg.max_unjoined_per_server = 3;
  cfg.max_participants_per_conference = 100;
  reset(cfg);
  for (int i = 0; i < 3; ++i) {
    const std::string n = std::to_string(i);
    EXPECT_EQ(
        actionsOf<act::CreatePeer>(invite("@u" + n + ":partner.org", "D", "s", "c" + n, "other")).size(), 1u);
  }
  auto acts = invite("@u9:partner.org", "D", "s", "c9", "other");
  EXPECT_TRUE(actionsOf<act::CreatePeer>(acts).empty());
  EXPECT_EQ(rejectReason(acts), "unjoined_server_limit");
  EXPECT_EQ(ctl_->counters().rejected_unjoined_limit, 1u);
  // Another server has its own budget, and joined rooms are not counted against it.
  EXPECT_EQ(actionsOf<act::CreatePeer>(invite("@dave:hs", "D", "dS", "cd", "other")).size(), 1u);
  state({member("@alice:hs", "conf", json::array{device("A", "aS", kStart + kHour, true)})});
  EXPECT_NE(accept("@alice:hs", "A", "aS", "ca"), 0u);
  EXPECT_EQ(ctl_->participants().size(), 5u);
}

TEST_F(ControllerGraceTest, WhenTheCallTurnsUpInAJoinedRoomItsMembersAreCheckedAfterAll) {
  // Two participants of "later" are served before the focus sees that call (e.g. its join is still on the
  // way).
  ParticipantId d = actionsOf<act::CreatePeer>(invite("@dave:hs", "D", "dS", "c1", "later")).at(0).peer;
  ParticipantId e = actionsOf<act::CreatePeer>(invite("@erin:hs", "E", "eS", "c2", "later")).at(0).peer;
  ctl_->handle(in::PeerConnected{d});
  ctl_->handle(in::PeerConnected{e});
  // Now the room shows it: dave's member entry names the focus, erin has none.
  auto acts = ctl_->handle(in::RoomStateChanged{
      "!room:hs",
      {testlib::joinEvent("@dave:hs"), testlib::joinEvent("@erin:hs"),
       testlib::callEvent("later", "@dave:hs", 3),
       member("@dave:hs", "later", json::array{device("D", "dS", kStart + kHour, true)})}});
  ASSERT_NE(ctl_->participant(d), nullptr);
  EXPECT_FALSE(ctl_->participant(d)->unjoined);
  EXPECT_EQ(ctl_->participant(d)->room_id, "!room:hs");
  EXPECT_EQ(ctl_->counters().promoted_unjoined, 1u);
  ASSERT_NE(ctl_->participant(e), nullptr) << "erin gets the grace for her member event";
  EXPECT_TRUE(ctl_->participant(e)->unjoined);
  EXPECT_EQ(ctl_->nextTimeout(), kStart + 5'000);
  // The conferences are now apart: dave no longer sees erin.
  EXPECT_TRUE(ctl_->availableTo(*ctl_->participant(d)).empty());
  clock_.advance(5'000);
  acts = ctl_->handle(in::Tick{});
  EXPECT_EQ(ctl_->participant(e), nullptr);
  EXPECT_EQ(ctl_->counters().removed_unverified, 1u);
  bool hung_up = false;
  for (const auto& s : actionsOf<proto::SendToDevice>(acts)) hung_up |= s.type == "m.call.hangup";
  EXPECT_TRUE(hung_up);
  // dave is now held to the room's rules: his member entry going away ends him.
  ctl_->handle(in::RoomStateChanged{"!room:hs", {member("@dave:hs", "later", json::array{}, 4)}});
  EXPECT_EQ(ctl_->participant(d), nullptr);
  EXPECT_EQ(ctl_->counters().removed_membership, 1u);
}

// Issue #14: two publishers with the same stream and track ids (old `chorus call`: webrtcbin's transceiver
// names) are told apart in the metadata each subscriber gets, under the ids the subscription then names.
TEST_F(ControllerTest, CollidingStreamAndTrackIdsReachSubscribersUnderUniqueIds) {
  const auto [a, b, c] = threeConnected();
  const std::string same =
      R"({"type":"m.call.sdp_stream_metadata_changed","content":{"sdp_stream_metadata":{"webrtc":{"purpose":"m.usermedia","tracks":{"webrtctransceiver0":{"kind":"audio"},"webrtctransceiver1":{"kind":"video","width":640,"height":360}," bad id":{"kind":"video"}}}}}})";
  ctl_->handle(in::DataChannelMessage{a, same});
  auto told = actionsOf<act::SendDataChannel>(ctl_->handle(in::DataChannelMessage{b, same}));
  ctl_->setTransportIds(b, {"webrtc"}, {"webrtctransceiver0", "webrtctransceiver1"});  // its SDP agrees
  // carol (who is told as bob changes) sees both streams, alice's under her own ids.
  const proto::SdpStreamMetadata* to_carol = nullptr;
  std::optional<proto::FocusMessage> parsed;
  for (const auto& m : told) {
    if (m.peer != c) continue;
    auto r = proto::parseFocusMessage(m.text);
    if (r) parsed = *r;
  }
  ASSERT_TRUE(parsed && parsed->metadata);
  to_carol = &*parsed->metadata;
  EXPECT_EQ(*to_carol, ctl_->availableTo(*ctl_->participant(c)));
  ASSERT_EQ(to_carol->size(), 2u);
  EXPECT_EQ(to_carol->at("webrtc").user_id, "@alice:hs");
  EXPECT_EQ(to_carol->at("webrtc~2").user_id, "@bob:hs");
  std::set<std::string> tracks;
  for (const auto& [sid, m] : *to_carol) {
    EXPECT_EQ(m.tracks.size(), 2u) << "the id with a space is never announced";
    for (const auto& [tid, t] : m.tracks) EXPECT_TRUE(tracks.insert(tid).second) << tid;
  }
  EXPECT_EQ(tracks, (std::set<std::string>{"webrtctransceiver0", "webrtctransceiver1", "webrtctransceiver0~2",
                                           "webrtctransceiver1~2"}));
  EXPECT_EQ(to_carol->at("webrtc~2").tracks.at("webrtctransceiver1~2").width, 640);
  // A subscription names what carol was told; the focus knows whose track it is.
  EXPECT_EQ(ctl_->trackIds().resolve(c, IdKind::Track, "webrtctransceiver1~2"),
            (TrackIds::Origin{b, "webrtctransceiver1"}));
  // alice and bob never see the other under their own stream id.
  EXPECT_EQ(ctl_->availableTo(*ctl_->participant(a)).count("webrtc~2"), 1u);
  EXPECT_EQ(ctl_->availableTo(*ctl_->participant(b)).count("webrtc~2"), 1u);
  EXPECT_EQ(ctl_->availableTo(*ctl_->participant(b)).at("webrtc~2").user_id, "@alice:hs");
  // alice leaves: carol keeps bob under the ids she knows him by.
  ctl_->handle(in::RoomStateChanged{"!room:hs", {member("@alice:hs", "conf", json::array{})}});
  auto after = ctl_->availableTo(*ctl_->participant(c));
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after.count("webrtc~2"), 1u);
}

// A large conference with the default metadata intervals (200 ms + 10 ms per participant).
class ControllerMetadataTest : public ControllerTest {
 protected:
  static constexpr std::size_t kN = 40;

  ControllerMetadataTest() {
    ControllerConfig cfg = baseConfig();
    cfg.max_participants_per_conference = 200;
    cfg.metadata_interval_ms = ControllerConfig{}.metadata_interval_ms;
    cfg.metadata_interval_per_participant_ms = ControllerConfig{}.metadata_interval_per_participant_ms;
    reset(cfg);
  }
  static std::string user(std::size_t i) { return "@u" + std::to_string(i) + ":hs"; }
  // Participant i: member of the room and the call, accepted and connected; what it was sent meanwhile is
  // added to `told`.
  ParticipantId join(std::size_t i, std::vector<act::SendDataChannel>* told = nullptr) {
    const std::string u = user(i), dev = "D" + std::to_string(i);
    auto keep = [&](const Actions& acts) {
      auto sent = actionsOf<act::SendDataChannel>(acts);
      if (told) told->insert(told->end(), sent.begin(), sent.end());
    };
    keep(ctl_->handle(in::RoomStateChanged{
        "!room:hs",
        {testlib::joinEvent(u),
         member(u, "conf", json::array{device(dev, "s" + dev, kStart + kHour, true)})}}));
    auto acts = invite(u, dev, "s" + dev, "c" + dev);
    keep(acts);
    auto created = actionsOf<act::CreatePeer>(acts);
    EXPECT_EQ(created.size(), 1u);
    if (created.empty()) return 0;
    keep(ctl_->handle(in::PeerConnected{created[0].peer}));
    return created[0].peer;
  }
  // Lets every interval pass: whatever is pending goes out.
  std::vector<act::SendDataChannel> settle() {
    clock_.advance(2'000);  // more than any interval here, less than the keepalive's
    return actionsOf<act::SendDataChannel>(ctl_->handle(in::Tick{}));
  }
  static std::size_t bytes(const std::vector<act::SendDataChannel>& v) {
    std::size_t n = 0;
    for (const auto& m : v) n += m.text.size();
    return n;
  }
  // What a participant knows from the metadata messages it was sent, as a client keeps it: a whole message
  // replaces it, a delta (org.chorus.metadata_delta) is merged into it.
  struct Known {
    proto::SdpStreamMetadata md;
    bool told{false};
    Known& operator=(const std::string& text) {
      auto parsed = proto::parseFocusMessage(text);
      EXPECT_TRUE(parsed && parsed->metadata) << text;
      if (!parsed || !parsed->metadata) return *this;
      if (!parsed->metadata_delta) md.clear();
      EXPECT_TRUE(told || !parsed->metadata_delta) << "the first message is whole";
      for (const auto& id : parsed->removed_streams) EXPECT_EQ(md.erase(id), 1u) << id << " was not known";
      for (auto& [id, m] : *parsed->metadata) md.insert_or_assign(id, m);
      told = true;
      return *this;
    }
  };
  // What each peer knows equals what it may receive now.
  void expectEveryoneUpToDate(const std::map<ParticipantId, Known>& last) {
    for (const Participant* p : ctl_->participants()) {
      auto it = last.find(p->id);
      ASSERT_NE(it, last.end()) << p->user_id << " was never told";
      EXPECT_EQ(it->second.md, ctl_->availableTo(*p)) << p->user_id;
      EXPECT_EQ(it->second.md.size(), ctl_->participants().size() - 1) << p->user_id;
    }
  }
};

TEST_F(ControllerMetadataTest, AJoinTellsEachParticipantOnceNotOnceForEveryChange) {
  std::map<ParticipantId, Known> last;
  std::vector<act::SendDataChannel> told;
  for (std::size_t i = 0; i < kN; ++i) join(i, &told);
  for (const auto& m : told) last[m.peer] = m.text;
  for (const auto& m : settle()) last[m.peer] = m.text;
  expectEveryoneUpToDate(last);

  // After a quiet spell, participant N+1 joins (invite, connect) and then mutes over the data channel.
  clock_.advance(2'000);
  const auto before = ctl_->counters();
  told.clear();
  const ParticipantId newcomer = join(kN, &told);
  auto more = actionsOf<act::SendDataChannel>(ctl_->handle(in::DataChannelMessage{
      newcomer,
      R"({"type":"m.call.sdp_stream_metadata_changed","content":{"sdp_stream_metadata":{"stream-@u40:hs":{"purpose":"m.usermedia","audio_muted":true}}}})"}));
  told.insert(told.end(), more.begin(), more.end());
  // Every participant is told once, at once (the first change after a quiet spell is not delayed) ...
  std::map<ParticipantId, int> per_peer;
  for (const auto& m : told) ++per_peer[m.peer];
  EXPECT_EQ(per_peer.size(), kN + 1);
  for (const auto& [peer, n] : per_peer) EXPECT_EQ(n, 1) << "peer " << peer;
  // The others learn only of the newcomer (a delta of one stream); the newcomer gets everyone.
  for (const auto& m : told) {
    auto parsed = proto::parseFocusMessage(m.text);
    ASSERT_TRUE(parsed && parsed->metadata);
    EXPECT_EQ(parsed->metadata_delta, m.peer != newcomer);
    EXPECT_EQ(parsed->metadata->size(), m.peer == newcomer ? kN : 1u);
  }
  for (const auto& m : told) last[m.peer] = m.text;
  // ... and the mute that followed within the interval goes out once, at its end, to the others only.
  clock_.advance(ControllerConfig{}.metadata_interval_ms +
                 static_cast<TimeMs>(kN + 1) * ControllerConfig{}.metadata_interval_per_participant_ms - 1);
  EXPECT_TRUE(actionsOf<act::SendDataChannel>(ctl_->handle(in::Tick{})).empty());
  ASSERT_TRUE(ctl_->nextTimeout());
  EXPECT_EQ(*ctl_->nextTimeout(), clock_.nowMs() + 1);
  clock_.advance(1);
  auto after = actionsOf<act::SendDataChannel>(ctl_->handle(in::Tick{}));
  EXPECT_EQ(after.size(), kN);
  for (const auto& m : after) {
    EXPECT_NE(m.peer, newcomer);
    last[m.peer] = m.text;
  }
  expectEveryoneUpToDate(last);
  // N + 1 messages for the join and N for the mute (a broadcast on every change sent one to everyone on each
  // of them: the connect, the metadata change and the data channel's re-send; a burst of joins one per join).
  // And linear bytes: the newcomer's whole metadata, then one stream for each of the others, twice (whole
  // snapshots cost N entries each, N^2 in all).
  const auto& c = ctl_->counters();
  EXPECT_EQ(c.metadata_messages - before.metadata_messages, 2 * kN + 1);
  EXPECT_EQ(c.metadata_bytes - before.metadata_bytes, bytes(told) + bytes(after));
  std::size_t whole = 0;
  for (const auto& m : told) {
    if (m.peer == newcomer) whole = m.text.size();
  }
  ASSERT_GT(whole, 0u);
  EXPECT_LE(bytes(told) + bytes(after), whole + 2 * kN * (whole / kN + 128));
}

TEST_F(ControllerMetadataTest, ABurstOfJoinsIsCoalescedAndEveryoneEndsWithTheSameView) {
  std::map<ParticipantId, Known> last;
  std::vector<act::SendDataChannel> told;
  for (std::size_t i = 0; i < kN; ++i) join(i, &told);
  for (const auto& m : settle()) told.push_back(m);
  for (const auto& m : told) last[m.peer] = m.text;
  // 20 more join within one interval (the clock does not move): each of the first N is told at most once
  // during the burst, and once more when the interval ends, not once per join.
  told.clear();
  for (std::size_t i = kN; i < kN + 20; ++i) join(i, &told);
  std::map<ParticipantId, int> per_peer;
  for (const auto& m : told) ++per_peer[m.peer];
  for (const auto& [peer, n] : per_peer) EXPECT_EQ(n, 1) << "peer " << peer;
  for (const auto& m : told) last[m.peer] = m.text;
  auto end = settle();
  EXPECT_LE(end.size(), kN + 20);
  for (const auto& m : end) last[m.peer] = m.text;
  expectEveryoneUpToDate(last);
  EXPECT_LE(ctl_->counters().metadata_messages, 2 * (kN + kN + 20));
  // Nothing changed: nothing more is sent, and nothing waits.
  EXPECT_TRUE(settle().empty());
  // Its own view changed (ids moved, slots): it gets its whole metadata once (here the same as it knows,
  // since after deltas the focus keeps no copy to compare with), then nothing more.
  const ParticipantId first = ctl_->participants().front()->id;
  ctl_->metadataChanged(first);
  auto again = settle();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].peer, first);
  auto parsed = proto::parseFocusMessage(again[0].text);
  ASSERT_TRUE(parsed && parsed->metadata);
  EXPECT_FALSE(parsed->metadata_delta);
  EXPECT_EQ(*parsed->metadata, last[first].md);
  EXPECT_TRUE(settle().empty());
}

// Someone leaving costs the others a delta naming its streams, not everyone's metadata.
TEST_F(ControllerMetadataTest, ALeaveIsADeltaThatRemovesItsStreams) {
  std::map<ParticipantId, Known> last;
  std::vector<act::SendDataChannel> told;
  std::vector<ParticipantId> ids;
  for (std::size_t i = 0; i < kN; ++i) ids.push_back(join(i, &told));
  for (const auto& m : told) last[m.peer] = m.text;
  for (const auto& m : settle()) last[m.peer] = m.text;
  expectEveryoneUpToDate(last);
  auto sent = actionsOf<act::SendDataChannel>(ctl_->handle(in::PeerFailed{ids[3], "gone"}));
  for (const auto& m : settle()) sent.push_back(m);
  ASSERT_EQ(sent.size(), kN - 1);
  for (const auto& m : sent) {
    auto parsed = proto::parseFocusMessage(m.text);
    ASSERT_TRUE(parsed && parsed->metadata);
    EXPECT_TRUE(parsed->metadata_delta);
    EXPECT_TRUE(parsed->metadata->empty());
    EXPECT_EQ(parsed->removed_streams, std::vector<std::string>{"stream-@u3:hs"});
    last[m.peer] = m.text;
  }
  expectEveryoneUpToDate(last);
}

// Below metadata_deltas_from participants every message is whole, as before deltas (a client that replaces
// what it knew with each message keeps working in small calls).
TEST_F(ControllerMetadataTest, SmallConferencesGetWholeMetadata) {
  std::vector<act::SendDataChannel> told;
  std::vector<ParticipantId> ids;
  for (std::size_t i = 0; i < 5; ++i) ids.push_back(join(i, &told));
  settle();
  told.clear();
  ids.push_back(join(5, &told));
  for (const auto& m : settle()) told.push_back(m);
  auto sent = actionsOf<act::SendDataChannel>(ctl_->handle(in::PeerFailed{ids[2], "gone"}));
  for (const auto& m : settle()) sent.push_back(m);
  ASSERT_FALSE(told.empty());
  ASSERT_FALSE(sent.empty());
  for (const auto* batch : {&told, &sent}) {
    for (const auto& m : *batch) {
      auto parsed = proto::parseFocusMessage(m.text);
      ASSERT_TRUE(parsed && parsed->metadata);
      EXPECT_FALSE(parsed->metadata_delta);
      EXPECT_TRUE(parsed->removed_streams.empty());
      // The join: everyone else of the six; the leave: what each may receive now.
      if (batch == &told) {
        EXPECT_EQ(parsed->metadata->size(), 5u);
      } else {
        EXPECT_EQ(*parsed->metadata, ctl_->availableTo(*ctl_->participant(m.peer)));
      }
    }
  }
}

TEST_F(ControllerMetadataTest, WhatAnOfferCarriesIsNotSentAgain) {
  std::vector<act::SendDataChannel> told;
  for (std::size_t i = 0; i < 3; ++i) join(i, &told);
  settle();
  const ParticipantId p = ctl_->participants().front()->id;
  join(3);  // p is told of the newcomer in an offer of the media plane before its interval ends
  auto md = ctl_->tellMetadata(p);
  EXPECT_EQ(md, ctl_->availableTo(*ctl_->participant(p)));
  for (const auto& m : settle()) EXPECT_NE(m.peer, p);
  EXPECT_TRUE(ctl_->tellMetadata(9999).empty());
}

TEST_F(ControllerTest, AnAnswerTooLargeForAToDeviceMessageGoesWithoutTheMetadataOrNotAtAll) {
  // alice and bob publish; carol invites the focus: the transport it asks for.
  auto carolJoins = [&] {
    state({member("@alice:hs", "conf", json::array{device("A", "aS", kStart + kHour, true)}),
           member("@bob:hs", "conf", json::array{device("B", "bS", kStart + kHour, true)}),
           member("@carol:hs", "conf", json::array{device("C", "cS", kStart + kHour, true)})});
    accept("@alice:hs", "A", "aS", "ca");
    accept("@bob:hs", "B", "bS", "cb");
    return actionsOf<act::CreatePeer>(invite("@carol:hs", "C", "cS", "cc"));
  };
  // How large carol's answer is with the metadata of alice and bob.
  std::size_t full = 0;
  {
    auto created = carolJoins();
    ASSERT_EQ(created.size(), 1u);
    auto answer =
        actionsOf<proto::SendToDevice>(ctl_->handle(in::PeerAnswerReady{created[0].peer, "v=0 answer"}));
    ASSERT_EQ(answer.size(), 1u);
    ASSERT_TRUE(answer[0].content.contains("org.matrix.msc3077.sdp_stream_metadata"));
    full = json::serialize(answer[0].content).size();
  }
  ControllerConfig cfg = baseConfig();
  cfg.max_to_device_bytes = full - 1;  // the same answer does not fit with its metadata
  reset(cfg);
  auto created = carolJoins();
  ASSERT_EQ(created.size(), 1u);
  const ParticipantId c = created[0].peer;
  auto answer = actionsOf<proto::SendToDevice>(ctl_->handle(in::PeerAnswerReady{c, "v=0 answer"}));
  ASSERT_EQ(answer.size(), 1u);
  EXPECT_EQ(answer[0].type, "m.call.answer");
  EXPECT_LT(json::serialize(answer[0].content).size(), full - 200);
  EXPECT_FALSE(answer[0].content.contains("org.matrix.msc3077.sdp_stream_metadata"));
  EXPECT_FALSE(answer[0].content.contains("sdp_stream_metadata"));
  EXPECT_EQ(ctl_->counters().answers_without_metadata, 1u);
  // Connected, it learns the others over the data channel.
  auto told = actionsOf<act::SendDataChannel>(ctl_->handle(in::PeerConnected{c}));
  bool carol_told = false;
  for (const auto& m : told) {
    if (m.peer != c) continue;
    auto parsed = proto::parseFocusMessage(m.text);
    ASSERT_TRUE(parsed && parsed->metadata);
    EXPECT_EQ(parsed->metadata->size(), 2u);
    carol_told = true;
  }
  EXPECT_TRUE(carol_told);

  // An answer that does not fit even without the metadata is not sent: the participant is hung up on.
  cfg.max_to_device_bytes = 300;
  reset(cfg);
  state({member("@alice:hs", "conf", json::array{device("A", "aS", kStart + kHour, true)})});
  created = actionsOf<act::CreatePeer>(invite("@alice:hs", "A", "aS", "ca"));
  ASSERT_EQ(created.size(), 1u);
  auto acts = ctl_->handle(in::PeerAnswerReady{created[0].peer, "v=0 " + std::string(400, 'x')});
  auto sent = actionsOf<proto::SendToDevice>(acts);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].type, "m.call.hangup");
  EXPECT_EQ(sent[0].content.at("reason"), "answer_too_large");
  EXPECT_EQ(actionsOf<act::ClosePeer>(acts).size(), 1u);
  EXPECT_EQ(ctl_->participant(created[0].peer), nullptr);
  EXPECT_EQ(ctl_->counters().answers_too_large, 1u);
}

}  // namespace
}  // namespace chorus::focus
