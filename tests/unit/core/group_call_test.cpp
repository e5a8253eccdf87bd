#include "core/group_call.hpp"

#include <gtest/gtest.h>

#include "testlib/builders.hpp"

namespace chorus::core {
namespace {

using testlib::actionsOf;
using testlib::callEvent;
using testlib::joinEvent;
using testlib::memberEvent;

using testlib::kHour;
using testlib::kStart;

class GroupCallTest : public ::testing::Test {
 protected:
  GroupCallTest() : clock_(kStart) {
    CallConfig cfg;
    cfg.user_id = "@bob:hs";
    cfg.device_id = "BOB";
    cfg.session_id = "bobS";
    call_ = std::make_unique<GroupCall>(cfg, clock_, rng_);
  }

  Actions state(std::vector<StateEvent> evs) { return call_->handle(in::StateChanged{std::move(evs)}); }
  Actions toDevice(const std::string& sender, const std::string& type, boost::json::object content) {
    return call_->handle(in::ToDeviceReceived{ToDeviceMessage{type, sender, std::move(content)}});
  }
  // Room with alice, bob (us), carol joined, and call "conf1".
  void setupRoom() {
    state({joinEvent("@alice:hs"), joinEvent("@bob:hs"), joinEvent("@carol:hs"),
           callEvent("conf1", "@alice:hs", 10)});
  }
  Actions enter() {
    in::Enter e;
    e.feeds = {LocalFeed{"s1", "m.usermedia", false, false}};
    return call_->handle(e);
  }
  boost::json::object invite(const std::string& call_id, const std::string& device,
                             const std::string& session, std::uint64_t seq = 0) {
    auto c = testlib::signal(call_id, "conf1", device, session, "bobS", seq);
    c["offer"] = boost::json::object{{"type", "offer"}, {"sdp", "v=0 offer"}};
    c["lifetime"] = 60000;
    return c;
  }

  FakeClock clock_;
  FakeRng rng_{3};
  std::unique_ptr<GroupCall> call_;
};

TEST_F(GroupCallTest, LowerUserIdCallsThenLowerDeviceId) {
  EXPECT_TRUE(call_->wantsOutgoingCall("@carol:hs", "X"));   // carol > bob: bob calls
  EXPECT_FALSE(call_->wantsOutgoingCall("@alice:hs", "X"));  // alice < bob: alice calls
  EXPECT_TRUE(call_->wantsOutgoingCall("@bob:hs", "CCC"));   // same user: higher device is called
  EXPECT_FALSE(call_->wantsOutgoingCall("@bob:hs", "AAA"));
  EXPECT_FALSE(call_->wantsOutgoingCall("@bob:hs", "BOB"));  // never ourselves
  // Byte order equals JavaScript's UTF-16 order for ASCII: 'Z' < 'a'.
  EXPECT_FALSE(call_->wantsOutgoingCall("@Zed:hs", "X"));
}

TEST_F(GroupCallTest, NewestNonTerminatedCallIsTheRoomsCall) {
  state({callEvent("old", "@alice:hs", 5), callEvent("new", "@carol:hs", 20),
         callEvent("ended", "@a:hs", 30, true)});
  EXPECT_EQ(call_->callId(), "new");
  state({callEvent("new", "@carol:hs", 40, true)});
  EXPECT_EQ(call_->callId(), "old");
  // An invalid m.call is ignored.
  state({StateEvent{"org.matrix.msc3401.call", "bad", "@a:hs", "$x", 50, {{"m.intent", "m.conference"}}}});
  EXPECT_EQ(call_->callId(), "old");
  EXPECT_EQ(call_->counters().invalid_state_events, 1u);
}

TEST_F(GroupCallTest, ParticipantsAreJoinedUnexpiredDevicesOfTheCurrentCall) {
  setupRoom();
  auto acts = state({
      memberEvent("@alice:hs", "conf1", {{"A1", "s1", kStart + kHour}, {"A2", "s2", kStart - 1}}),
      memberEvent("@carol:hs", "otherCall", {{"C1", "s", kStart + kHour}}),
      memberEvent("@dave:hs", "conf1", {{"D1", "s", kStart + kHour}}),  // not joined
      testlib::memberEventRaw(
          "@erin:hs",
          {{"m.calls",
            boost::json::array{boost::json::object{
                {"m.call_id", "conf1"},
                {"m.devices", boost::json::array{boost::json::object{{"device_id", 5},
                                                                     {"session_id", "s"},
                                                                     {"expires_ts", kStart + kHour},
                                                                     {"feeds", boost::json::array{}}}}}}}}}),
  });
  state({joinEvent("@erin:hs")});
  auto ps = call_->participants();
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0].user_id, "@alice:hs");
  EXPECT_EQ(ps[0].device_id, "A1");
  EXPECT_EQ(ps[0].session_id, "s1");
  EXPECT_EQ(actionsOf<act::ParticipantsChanged>(acts).size(), 1u);
}

TEST_F(GroupCallTest, ParticipantsAreReevaluatedWhenTheEarliestExpiryPasses) {
  setupRoom();
  state({memberEvent("@alice:hs", "conf1", {{"A1", "s1", kStart + 1000}}),
         memberEvent("@carol:hs", "conf1", {{"C1", "s", kStart + 5000}})});
  EXPECT_EQ(call_->participants().size(), 2u);
  EXPECT_EQ(call_->nextTimeout(), kStart + 1000);
  clock_.advance(1000);
  auto acts = call_->handle(in::Tick{});
  ASSERT_EQ(call_->participants().size(), 1u);
  EXPECT_EQ(call_->participants()[0].user_id, "@carol:hs");
  EXPECT_EQ(actionsOf<act::ParticipantsChanged>(acts).size(), 1u);
  EXPECT_EQ(call_->nextTimeout(), kStart + 5000);
}

TEST_F(GroupCallTest, LeavingTheRoomRemovesTheParticipant) {
  setupRoom();
  state({memberEvent("@alice:hs", "conf1", {{"A1", "s1", kStart + kHour}})});
  EXPECT_EQ(call_->participants().size(), 1u);
  state({StateEvent{"m.room.member", "@alice:hs", "@alice:hs", "$l", 50, {{"membership", "leave"}}}});
  EXPECT_TRUE(call_->participants().empty());
}

TEST_F(GroupCallTest, EnterWritesOurDeviceAndKeepsOtherDevicesAndCalls) {
  setupRoom();
  boost::json::object mine{
      {"m.calls",
       boost::json::array{
           boost::json::object{
               {"m.call_id", "conf1"},
               {"m.devices", boost::json::array{boost::json::object{{"device_id", "PHONE"},
                                                                    {"session_id", "p"},
                                                                    {"expires_ts", kStart + kHour},
                                                                    {"feeds", boost::json::array{}}},
                                                boost::json::object{{"device_id", "STALE"},
                                                                    {"session_id", "q"},
                                                                    {"expires_ts", kStart - 5},
                                                                    {"feeds", boost::json::array{}}},
                                                boost::json::object{{"device_id", "BOB"},
                                                                    {"session_id", "oldSession"},
                                                                    {"expires_ts", kStart + 10},
                                                                    {"feeds", boost::json::array{}}}}}},
           boost::json::object{
               {"m.call_id", "elsewhere"},
               {"m.devices", boost::json::array{boost::json::object{{"device_id", "TABLET"},
                                                                    {"session_id", "t"},
                                                                    {"expires_ts", kStart + kHour},
                                                                    {"feeds", boost::json::array{}}}}}}}},
      {"custom", true}};
  state({testlib::memberEventRaw("@bob:hs", mine)});
  auto acts = enter();
  auto puts = actionsOf<act::PutState>(acts);
  ASSERT_EQ(puts.size(), 1u);
  EXPECT_EQ(puts[0].type, "org.matrix.msc3401.call.member");
  EXPECT_EQ(puts[0].state_key, "@bob:hs");
  auto parsed = proto::parseCallMemberEvent("@bob:hs", puts[0].content);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(puts[0].content.contains("custom"));
  const auto* conf = parsed->findCall("conf1");
  ASSERT_NE(conf, nullptr);
  ASSERT_EQ(conf->devices.size(), 2u);  // PHONE kept, STALE dropped, BOB rewritten
  EXPECT_EQ(conf->devices[0].device_id, "PHONE");
  EXPECT_EQ(conf->devices[1].device_id, "BOB");
  EXPECT_EQ(conf->devices[1].session_id, "bobS");
  EXPECT_EQ(conf->devices[1].expires_ts, kStart + kHour);
  ASSERT_EQ(conf->devices[1].feeds.size(), 1u);
  EXPECT_EQ(conf->devices[1].feeds[0].purpose, "m.usermedia");
  ASSERT_NE(parsed->findCall("elsewhere"), nullptr);
  // The delayed-leave content is the same event without our device.
  ASSERT_TRUE(puts[0].leave_content);
  auto leave = proto::parseCallMemberEvent("@bob:hs", *puts[0].leave_content);
  ASSERT_TRUE(leave);
  ASSERT_EQ(leave->findCall("conf1")->devices.size(), 1u);
  EXPECT_EQ(leave->findCall("conf1")->devices[0].device_id, "PHONE");
  EXPECT_TRUE(call_->entered());
}

TEST_F(GroupCallTest, MemberEventIsRefreshedAtThreeQuartersOfItsValidity) {
  setupRoom();
  enter();
  clock_.advance(2'700'000 - 1);
  EXPECT_TRUE(actionsOf<act::PutState>(call_->handle(in::Tick{})).empty());
  clock_.advance(1);
  auto puts = actionsOf<act::PutState>(call_->handle(in::Tick{}));
  ASSERT_EQ(puts.size(), 1u);
  auto parsed = proto::parseCallMemberEvent("@bob:hs", puts[0].content);
  EXPECT_EQ(parsed->findCall("conf1")->devices[0].expires_ts, kStart + 2'700'000 + kHour);
}

TEST_F(GroupCallTest, LeaveHangsUpAndRemovesOnlyOurDevice) {
  setupRoom();
  state({memberEvent("@carol:hs", "conf1", {{"C1", "cS", kStart + kHour}})});
  enter();  // we call carol
  ASSERT_NE(call_->legFor("@carol:hs", "C1"), nullptr);
  auto leg = call_->legFor("@carol:hs", "C1")->leg();
  call_->handle(in::LocalDescription{leg, {"offer", "v=0"}});
  auto acts = call_->handle(in::Leave{});
  auto sends = actionsOf<act::SendToDevice>(acts);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].type, "m.call.hangup");
  EXPECT_EQ(sends[0].content.at("reason"), "user_hangup");
  EXPECT_EQ(actionsOf<act::CloseLeg>(acts).size(), 1u);
  auto puts = actionsOf<act::PutState>(acts);
  ASSERT_EQ(puts.size(), 1u);
  EXPECT_EQ(boost::json::serialize(puts[0].content), R"({"m.calls":[]})");
  EXPECT_FALSE(call_->entered());
}

TEST_F(GroupCallTest, OutgoingSignallingCarriesGroupFieldsAndGaplessSeq) {
  setupRoom();
  state({memberEvent("@carol:hs", "conf1", {{"C1", "cS", kStart + kHour}})});
  auto acts = enter();
  auto creates = actionsOf<act::CreateLeg>(acts);
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_TRUE(creates[0].outgoing);
  EXPECT_EQ(actionsOf<act::CreateOffer>(acts).size(), 1u);
  const LegId leg = creates[0].leg;
  std::vector<act::SendToDevice> sent;
  auto collect = [&](const Actions& a) {
    for (auto& s : actionsOf<act::SendToDevice>(a)) sent.push_back(s);
  };
  collect(call_->handle(in::LocalCandidate{leg, {"candidate:1 1 udp 1 127.0.0.1 1 typ host", "0", 0, {}}}));
  collect(call_->handle(in::LocalDescription{leg, {"offer", "v=0 offer"}}));
  collect(call_->handle(in::GatheringComplete{leg}));
  auto answer =
      testlib::signal(sent[0].content.at("call_id").as_string().c_str(), "conf1", "C1", "cS", "bobS", 0);
  answer["answer"] = boost::json::object{{"type", "answer"}, {"sdp", "v=0 answer"}};
  auto acts2 = toDevice("@carol:hs", "m.call.answer", answer);
  collect(acts2);
  ASSERT_EQ(actionsOf<act::SetRemoteDescription>(acts2).size(), 1u);
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].type, "m.call.invite");
  EXPECT_EQ(sent[1].type, "m.call.candidates");
  EXPECT_EQ(sent[2].type, "m.call.select_answer");
  EXPECT_EQ(sent[2].content.at("selected_party_id"), "C1");
  for (std::size_t i = 0; i < sent.size(); ++i) {
    const auto& c = sent[i].content;
    EXPECT_EQ(sent[i].user_id, "@carol:hs");
    EXPECT_EQ(sent[i].device_id, "C1");
    EXPECT_EQ(c.at("seq").to_number<std::int64_t>(), static_cast<std::int64_t>(i));
    EXPECT_EQ(c.at("conf_id"), "conf1");
    EXPECT_EQ(c.at("device_id"), "BOB");
    EXPECT_EQ(c.at("party_id"), "BOB");
    EXPECT_EQ(c.at("sender_session_id"), "bobS");
    EXPECT_EQ(c.at("dest_session_id"), "cS");
    EXPECT_EQ(c.at("version"), "1");
    EXPECT_EQ(c.at("call_id"), sent[0].content.at("call_id"));
  }
  // The candidates batch ends with end-of-candidates.
  const auto& cands = sent[1].content.at("candidates").as_array();
  ASSERT_EQ(cands.size(), 2u);
  EXPECT_EQ(cands[1].at("candidate"), "");
  EXPECT_EQ(call_->legFor("@carol:hs", "C1")->state(), LegState::Connecting);
  call_->handle(in::MediaStateChanged{leg, MediaState::Connected});
  EXPECT_EQ(call_->legFor("@carol:hs", "C1")->state(), LegState::Connected);
}

TEST_F(GroupCallTest, FiltersDropAndCountForeignMessages) {
  setupRoom();
  state({memberEvent("@alice:hs", "conf1", {{"A1", "aS", kStart + kHour}})});
  enter();
  auto wrong_session = invite("c1", "A1", "aS");
  wrong_session["dest_session_id"] = "someoneElse";
  EXPECT_TRUE(actionsOf<act::CreateLeg>(toDevice("@alice:hs", "m.call.invite", wrong_session)).empty());
  EXPECT_EQ(call_->counters().wrong_session, 1u);

  auto no_device = invite("c2", "A1", "aS");
  no_device.erase("device_id");
  EXPECT_TRUE(actionsOf<act::CreateLeg>(toDevice("@alice:hs", "m.call.invite", no_device)).empty());
  EXPECT_EQ(call_->counters().malformed, 1u);

  auto wrong_conf = invite("c3", "A1", "aS");
  wrong_conf["conf_id"] = "anotherCall";
  auto acts = toDevice("@alice:hs", "m.call.invite", wrong_conf);
  EXPECT_EQ(call_->counters().wrong_conf_id, 1u);
  auto rejects = actionsOf<act::SendToDevice>(acts);
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].type, "m.call.reject");
  EXPECT_EQ(rejects[0].content.at("call_id"), "c3");
  EXPECT_EQ(rejects[0].content.at("dest_session_id"), "aS");

  toDevice("@alice:hs", "m.room.message", {{"body", "hi"}});
  EXPECT_EQ(call_->counters().not_call_event, 1u);
  EXPECT_TRUE(call_->legs().empty());
}

TEST_F(GroupCallTest, IncomingInviteIsAutoAnsweredAndCandidatesBeforeTheInviteWait) {
  setupRoom();
  state({memberEvent("@alice:hs", "conf1", {{"A1", "aS", kStart + kHour}})});
  enter();
  auto cands = testlib::signal("c1", "conf1", "A1", "aS", "bobS", 1);
  cands["candidates"] =
      boost::json::array{{{"candidate", "candidate:1 1 udp 1 127.0.0.1 9 typ host"}, {"sdpMid", "0"}}};
  EXPECT_TRUE(toDevice("@alice:hs", "m.call.candidates", cands).empty() ||
              actionsOf<act::AddRemoteCandidates>(toDevice("@alice:hs", "m.call.candidates", cands)).empty());
  auto acts = toDevice("@alice:hs", "m.call.invite", invite("c1", "A1", "aS"));
  auto creates = actionsOf<act::CreateLeg>(acts);
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_FALSE(creates[0].outgoing);
  EXPECT_TRUE(creates[0].media_enabled);
  ASSERT_EQ(actionsOf<act::SetRemoteDescription>(acts).size(), 1u);
  EXPECT_EQ(actionsOf<act::CreateAnswer>(acts).size(), 1u);
  auto added = actionsOf<act::AddRemoteCandidates>(acts);
  ASSERT_EQ(added.size(), 1u) << "the reordered candidates follow the invite";
  auto answer =
      actionsOf<act::SendToDevice>(call_->handle(in::LocalDescription{creates[0].leg, {"answer", "v=0 a"}}));
  ASSERT_EQ(answer.size(), 1u);
  EXPECT_EQ(answer[0].type, "m.call.answer");
  EXPECT_EQ(answer[0].content.at("seq").to_number<std::int64_t>(), 0);
  EXPECT_EQ(answer[0].content.at("answer").at("type"), "answer");
  EXPECT_TRUE(answer[0].content.contains("org.matrix.msc3077.sdp_stream_metadata"));
}

// A re-offer the media engine cannot apply or answer (webrtcbin 1.22 refusing a recycled section) leaves the
// two sides disagreeing for good: the leg ends (and who-calls-whom places a fresh one). Failures of our own
// renegotiation offers and of other commands stay non-fatal.
TEST_F(GroupCallTest, ARenegotiationWeCannotAnswerEndsTheLeg) {
  setupRoom();
  state({memberEvent("@alice:hs", "conf1", {{"A1", "aS", kStart + kHour}})});
  enter();
  auto creates = actionsOf<act::CreateLeg>(toDevice("@alice:hs", "m.call.invite", invite("c1", "A1", "aS")));
  ASSERT_EQ(creates.size(), 1u);
  const LegId leg = creates[0].leg;
  call_->handle(in::LocalDescription{leg, {"answer", "v=0 a"}});
  call_->handle(in::MediaStateChanged{leg, MediaState::Connected});
  // Not about answering: kept.
  EXPECT_TRUE(actionsOf<act::SendToDevice>(
                  call_->handle(in::MediaFailed{leg, "sendDataChannel: no open data channel"}))
                  .empty());
  auto negotiate = testlib::signal("c1", "conf1", "A1", "aS", "bobS", 1);
  negotiate["description"] = boost::json::object{{"type", "offer"}, {"sdp", "v=0 re-offer"}};
  negotiate["lifetime"] = 60000;
  auto acts = toDevice("@alice:hs", "m.call.negotiate", negotiate);
  ASSERT_EQ(actionsOf<act::CreateAnswer>(acts).size(), 1u);
  auto failed = call_->handle(in::MediaFailed{
      leg, "createAnswer: set-local-description: transceiver direction changes are not implemented"});
  auto sent = actionsOf<act::SendToDevice>(failed);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].type, "m.call.hangup");
  EXPECT_EQ(sent[0].content.at("reason"), "renegotiation_failed");
  EXPECT_EQ(actionsOf<act::CloseLeg>(failed).size(), 1u);
}

// js-sdk may invite before its member event reaches us (to-device and room state come on different streams):
// the invite is held, with no leg and no media, and answered as soon as the member event arrives; candidates
// sent meanwhile are replayed after it (issue #10).
TEST_F(GroupCallTest, InviteFromANonParticipantIsHeldWithoutALegUntilItsMemberEventArrives) {
  setupRoom();
  enter();
  auto acts = toDevice("@alice:hs", "m.call.invite", invite("c1", "A1", "aS"));
  EXPECT_TRUE(actionsOf<act::CreateLeg>(acts).empty());
  EXPECT_TRUE(actionsOf<act::SendToDevice>(acts).empty());
  EXPECT_EQ(call_->heldInvites(), 1u);
  EXPECT_LE(call_->nextTimeout().value_or(kStart + kHour), kStart + call_->config().invite_grace_ms);
  auto cands = testlib::signal("c1", "conf1", "A1", "aS", "bobS", 1);
  cands["candidates"] =
      boost::json::array{{{"candidate", "candidate:1 1 udp 1 127.0.0.1 9 typ host"}, {"sdpMid", "0"}}};
  EXPECT_TRUE(toDevice("@alice:hs", "m.call.candidates", cands).empty());
  EXPECT_EQ(call_->counters().unknown_call, 0u);

  clock_.advance(call_->config().invite_grace_ms - 1);
  EXPECT_TRUE(actionsOf<act::SendToDevice>(call_->handle(in::Tick{})).empty());
  acts = state({memberEvent("@alice:hs", "conf1", {{"A1", "aS", kStart + kHour}})});
  auto creates = actionsOf<act::CreateLeg>(acts);
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_TRUE(creates[0].media_enabled);
  EXPECT_FALSE(creates[0].outgoing);
  EXPECT_EQ(actionsOf<act::SetRemoteDescription>(acts).size(), 1u);
  EXPECT_EQ(actionsOf<act::CreateAnswer>(acts).size(), 1u);
  EXPECT_EQ(actionsOf<act::AddRemoteCandidates>(acts).size(), 1u) << "held candidates follow the invite";
  EXPECT_EQ(call_->heldInvites(), 0u);
  EXPECT_EQ(call_->counters().invites_held, 1u);
  EXPECT_EQ(call_->counters().held_invites_released, 1u);
  ASSERT_NE(call_->legFor("@alice:hs", "A1"), nullptr);
  EXPECT_TRUE(call_->legFor("@alice:hs", "A1")->confirmed());
}

// Any room member can read our conf_id/device/session and invent device ids: such invites never get a leg,
// and after the grace they are rejected, as the focus does.
TEST_F(GroupCallTest, InviteFromADeviceThatNeverJoinsIsRejectedAfterTheGraceWithoutALeg) {
  setupRoom();
  enter();
  toDevice("@carol:hs", "m.call.invite", invite("fake1", "NOPE", "nS"));
  clock_.advance(call_->config().invite_grace_ms);
  auto acts = call_->handle(in::Tick{});
  auto rejects = actionsOf<act::SendToDevice>(acts);
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].type, "m.call.reject");
  EXPECT_EQ(rejects[0].user_id, "@carol:hs");
  EXPECT_EQ(rejects[0].device_id, "NOPE");
  EXPECT_EQ(rejects[0].content.at("call_id"), "fake1");
  EXPECT_EQ(rejects[0].content.at("reason"), "not_member");
  EXPECT_EQ(call_->counters().held_invites_expired, 1u);
  EXPECT_EQ(call_->heldInvites(), 0u);
  // A member event naming that device later does not revive the rejected call_id.
  acts = state({memberEvent("@carol:hs", "conf1", {{"NOPE", "nS", kStart + kHour}})});
  for (const auto& c : actionsOf<act::CreateLeg>(acts)) EXPECT_TRUE(c.outgoing);  // bob calls carol himself
  EXPECT_TRUE(actionsOf<act::CreateAnswer>(acts).empty());
  EXPECT_TRUE(
      actionsOf<act::CreateAnswer>(toDevice("@carol:hs", "m.call.invite", invite("fake1", "NOPE", "nS", 0)))
          .empty());
}

TEST_F(GroupCallTest, HeldInviteWithdrawnByItsCallerIsForgotten) {
  setupRoom();
  enter();
  toDevice("@alice:hs", "m.call.invite", invite("c1", "A1", "aS"));
  auto hangup = testlib::signal("c1", "conf1", "A1", "aS", "bobS", 1);
  hangup["reason"] = "user_hangup";
  EXPECT_TRUE(toDevice("@alice:hs", "m.call.hangup", hangup).empty());
  EXPECT_EQ(call_->heldInvites(), 0u);
  EXPECT_EQ(call_->counters().held_invites_withdrawn, 1u);
  auto acts = state({memberEvent("@alice:hs", "conf1", {{"A1", "aS", kStart + kHour}})});
  EXPECT_TRUE(actionsOf<act::CreateLeg>(acts).empty());
}

// The attack of issue #10: 255 invites from invented devices. Nothing is built, the hold stays bounded per
// user and in total, and a genuine newcomer whose member event is late still gets its leg.
TEST_F(GroupCallTest, FakeInvitesAreBoundedAndNeverKeepOutAGenuineNewcomer) {
  std::vector<StateEvent> joins{joinEvent("@alice:hs"), joinEvent("@bob:hs"),
                                callEvent("conf1", "@alice:hs", 10)};
  for (int u = 0; u < 40; ++u) joins.push_back(joinEvent("@m" + std::to_string(u) + ":hs"));
  state(joins);
  enter();
  const CallConfig& cfg = call_->config();
  std::size_t creates = 0, rejects = 0;
  for (int i = 0; i < 255; ++i) {
    auto acts =
        toDevice("@m0:hs", "m.call.invite", invite("f" + std::to_string(i), "D" + std::to_string(i), "x"));
    creates += actionsOf<act::CreateLeg>(acts).size();
    rejects += actionsOf<act::SendToDevice>(acts).size();
  }
  EXPECT_EQ(creates, 0u);
  EXPECT_EQ(call_->heldInvites(), cfg.max_held_invites_per_user);
  EXPECT_EQ(rejects, 0u) << "beyond the hold: dropped unanswered (no request per invented invite)";
  EXPECT_EQ(call_->counters().held_invites_overflow, 255u - cfg.max_held_invites_per_user);
  // Many members together fill the whole hold.
  for (int u = 1; u < 40; ++u) {
    for (int i = 0; i < 10; ++i) {
      const std::string id = std::to_string(u) + "_" + std::to_string(i);
      creates += actionsOf<act::CreateLeg>(toDevice("@m" + std::to_string(u) + ":hs", "m.call.invite",
                                                    invite("g" + id, "E" + id, "x")))
                     .size();
    }
  }
  EXPECT_EQ(creates, 0u);
  EXPECT_EQ(call_->heldInvites(), cfg.max_held_invites);
  EXPECT_TRUE(call_->legs().empty());
  // Alice's invite comes before her member event: it still gets a place (it evicts one of a heavy holder).
  clock_.advance(1000);
  auto acts = toDevice("@alice:hs", "m.call.invite", invite("real", "A1", "aS"));
  EXPECT_TRUE(actionsOf<act::SendToDevice>(acts).empty()) << "one fake invite evicted, silently";
  EXPECT_EQ(call_->heldInvites(), cfg.max_held_invites);
  acts = state({memberEvent("@alice:hs", "conf1", {{"A1", "aS", kStart + kHour}})});
  ASSERT_EQ(actionsOf<act::CreateLeg>(acts).size(), 1u);
  EXPECT_EQ(call_->legFor("@alice:hs", "A1")->callId(), "real");
  // Everything else is rejected after the grace; nothing is left held.
  clock_.advance(cfg.invite_grace_ms);
  acts = call_->handle(in::Tick{});
  EXPECT_EQ(actionsOf<act::SendToDevice>(acts).size(), cfg.max_held_invites - 1);
  EXPECT_EQ(call_->heldInvites(), 0u);
  EXPECT_EQ(call_->legs().size(), 1u);
}

TEST_F(GroupCallTest, InviteWithAnSdpThatIsNoOfferIsRejectedBeforeAnyLeg) {
  setupRoom();
  state({memberEvent("@alice:hs", "conf1", {{"A1", "aS", kStart + kHour}})});
  enter();
  auto bad = invite("c1", "A1", "aS");
  bad["offer"] = boost::json::object{{"type", "offer"}, {"sdp", "\x01garbage"}};
  auto acts = toDevice("@alice:hs", "m.call.invite", bad);
  EXPECT_TRUE(actionsOf<act::CreateLeg>(acts).empty());
  auto rejects = actionsOf<act::SendToDevice>(acts);
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].type, "m.call.reject");
  EXPECT_EQ(call_->counters().invalid_offer, 1u);
}

TEST(GroupCallLimits, LegsPerUserAreCapped) {
  FakeClock clock(kStart);
  FakeRng rng{1};
  CallConfig cfg;
  cfg.user_id = "@bob:hs";
  cfg.device_id = "BOB";
  cfg.session_id = "bobS";
  cfg.max_legs_per_user = 2;
  GroupCall call(cfg, clock, rng);
  call.handle(in::StateChanged{
      {joinEvent("@alice:hs"), joinEvent("@bob:hs"), callEvent("conf1", "@alice:hs", 10),
       memberEvent(
           "@alice:hs", "conf1",
           {{"A1", "s1", kStart + kHour}, {"A2", "s2", kStart + kHour}, {"A3", "s3", kStart + kHour}})}});
  in::Enter e;
  call.handle(e);
  std::size_t legs = 0, busy = 0;
  for (int i = 1; i <= 3; ++i) {
    auto c = testlib::signal("c" + std::to_string(i), "conf1", "A" + std::to_string(i),
                             "s" + std::to_string(i), "bobS", 0);
    c["offer"] = boost::json::object{{"type", "offer"}, {"sdp", "v=0 offer"}};
    auto acts = call.handle(in::ToDeviceReceived{ToDeviceMessage{"m.call.invite", "@alice:hs", c}});
    legs += actionsOf<act::CreateLeg>(acts).size();
    for (const auto& s : actionsOf<act::SendToDevice>(acts)) busy += s.content.at("reason") == "user_busy";
  }
  EXPECT_EQ(legs, 2u);
  EXPECT_EQ(busy, 1u);
  EXPECT_EQ(call.counters().too_many_legs_per_user, 1u);
}

TEST_F(GroupCallTest, InviteGlareKeepsTheLowerCallId) {
  setupRoom();
  state({memberEvent("@carol:hs", "conf1", {{"C1", "cS", kStart + kHour}})});
  auto acts = enter();
  const LegId ours = actionsOf<act::CreateLeg>(acts).at(0).leg;
  auto sent = actionsOf<act::SendToDevice>(call_->handle(in::LocalDescription{ours, {"offer", "v=0"}}));
  const std::string our_call_id(sent.at(0).content.at("call_id").as_string());

  // Carol (wrongly) invites us too, with a greater call_id: we keep ours and hang up hers as replaced.
  acts = toDevice("@carol:hs", "m.call.invite", [&] {
    auto c = testlib::signal(our_call_id + "z", "conf1", "C1", "cS", "bobS", 0);
    c["offer"] = boost::json::object{{"type", "offer"}, {"sdp", "v=0"}};
    return c;
  }());
  auto hangups = actionsOf<act::SendToDevice>(acts);
  ASSERT_EQ(hangups.size(), 1u);
  EXPECT_EQ(hangups[0].type, "m.call.hangup");
  EXPECT_EQ(hangups[0].content.at("reason"), "replaced");
  EXPECT_EQ(hangups[0].content.at("call_id"), boost::json::value(our_call_id + "z"));
  EXPECT_EQ(call_->legFor("@carol:hs", "C1")->callId(), our_call_id);

  // With a lower call_id, hers wins: ours is hung up and hers answered.
  acts = toDevice("@carol:hs", "m.call.invite", [&] {
    auto c = testlib::signal("0lower", "conf1", "C1", "cS", "bobS", 0);
    c["offer"] = boost::json::object{{"type", "offer"}, {"sdp", "v=0"}};
    return c;
  }());
  auto s = actionsOf<act::SendToDevice>(acts);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].content.at("call_id"), boost::json::value(our_call_id));
  EXPECT_EQ(s[0].content.at("reason"), "replaced");
  EXPECT_EQ(actionsOf<act::CreateAnswer>(acts).size(), 1u);
  EXPECT_EQ(call_->legFor("@carol:hs", "C1")->callId(), "0lower");
  EXPECT_EQ(call_->counters().glare_resolved, 2u);
}

TEST_F(GroupCallTest, UnansweredInviteTimesOutAndIsRetriedAtMostThreeTimes) {
  setupRoom();
  state({memberEvent("@carol:hs", "conf1", {{"C1", "cS", kStart + 10 * kHour}})});
  int invites = 0, timeouts = 0;
  auto run = [&](const Actions& acts) {
    for (const auto& c : actionsOf<act::CreateLeg>(acts)) {
      for (const auto& s :
           actionsOf<act::SendToDevice>(call_->handle(in::LocalDescription{c.leg, {"offer", "v"}}))) {
        invites += s.type == "m.call.invite";
      }
    }
    for (const auto& s : actionsOf<act::SendToDevice>(acts)) {
      if (s.type == "m.call.hangup" && s.content.at("reason") == "invite_timeout") ++timeouts;
    }
  };
  run(enter());
  for (int i = 0; i < 600; ++i) {
    clock_.advance(1000);
    run(call_->handle(in::Tick{}));
  }
  EXPECT_EQ(invites, 4);  // the first call and three retries
  EXPECT_EQ(timeouts, 4);
}

TEST_F(GroupCallTest, PeerSessionChangeHangsUpWithNewSessionAndCallsAgain) {
  setupRoom();
  state({memberEvent("@carol:hs", "conf1", {{"C1", "cS", kStart + kHour}})});
  enter();
  const auto* leg = call_->legFor("@carol:hs", "C1");
  call_->handle(in::LocalDescription{leg->leg(), {"offer", "v"}});
  auto acts = state({memberEvent("@carol:hs", "conf1", {{"C1", "cS2", kStart + kHour}})});
  auto sends = actionsOf<act::SendToDevice>(acts);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].type, "m.call.hangup");
  EXPECT_EQ(sends[0].content.at("reason"), "new_session");
  auto creates = actionsOf<act::CreateLeg>(acts);
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0].session_id, "cS2");
}

TEST_F(GroupCallTest, TerminatedCallMakesEveryoneLeave) {
  setupRoom();
  enter();
  ASSERT_TRUE(call_->entered());
  auto acts = state({callEvent("conf1", "@alice:hs", 100, true)});
  EXPECT_FALSE(call_->entered());
  EXPECT_FALSE(call_->callId());
  auto puts = actionsOf<act::PutState>(acts);
  ASSERT_EQ(puts.size(), 1u);
  EXPECT_EQ(boost::json::serialize(puts[0].content), R"({"m.calls":[]})");
}

TEST_F(GroupCallTest, TerminateWritesCallEndedAndKeepsOtherKeys) {
  state({joinEvent("@bob:hs"),
         StateEvent{"org.matrix.msc3401.call",
                    "conf1",
                    "@bob:hs",
                    "$c",
                    5,
                    {{"m.intent", "m.room"}, {"m.type", "m.voice"}, {"io.element.ptt", false}}}});
  enter();
  auto puts = actionsOf<act::PutState>(call_->handle(in::Terminate{}));
  ASSERT_EQ(puts.size(), 2u);
  EXPECT_EQ(puts[0].type, "org.matrix.msc3401.call");
  EXPECT_EQ(puts[0].content.at("m.terminated"), "call_ended");
  EXPECT_EQ(puts[0].content.at("io.element.ptt"), false);
  EXPECT_EQ(puts[0].content.at("m.intent"), "m.room");
}

TEST_F(GroupCallTest, MuteSendsMetadataChangedToConnectedPeers) {
  setupRoom();
  state({memberEvent("@carol:hs", "conf1", {{"C1", "cS", kStart + kHour}})});
  auto leg = actionsOf<act::CreateLeg>(enter()).at(0).leg;
  auto invite_sent = actionsOf<act::SendToDevice>(call_->handle(in::LocalDescription{leg, {"offer", "v"}}));
  auto answer = testlib::signal(std::string(invite_sent[0].content.at("call_id").as_string()), "conf1", "C1",
                                "cS", "bobS", 0);
  answer["answer"] = boost::json::object{{"type", "answer"}, {"sdp", "v=0 answer"}};
  toDevice("@carol:hs", "m.call.answer", answer);
  auto acts = call_->handle(in::SetFeeds{{LocalFeed{"s1", "m.usermedia", true, false}}});
  auto sends = actionsOf<act::SendToDevice>(acts);
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0].type, "org.matrix.call.sdp_stream_metadata_changed");
  EXPECT_EQ(sends[0].content.at("org.matrix.msc3077.sdp_stream_metadata").at("s1").at("audio_muted"), true);
  EXPECT_TRUE(actionsOf<act::PutState>(acts).empty()) << "same feeds: no member rewrite";
}

TEST_F(GroupCallTest, NoCallYetJoinsWhenOneStarts) {
  state({joinEvent("@bob:hs"), joinEvent("@alice:hs")});
  auto acts = enter();
  EXPECT_EQ(actionsOf<act::Warning>(acts).size(), 1u);
  EXPECT_FALSE(call_->entered());
  acts = state({callEvent("conf9", "@alice:hs", 10)});
  EXPECT_TRUE(call_->entered());
  ASSERT_EQ(actionsOf<act::PutState>(acts).size(), 1u);
}

TEST_F(GroupCallTest, ScheduleWakeupAnnouncesTheNextDeadline) {
  setupRoom();
  auto acts = enter();
  auto wake = actionsOf<act::ScheduleWakeup>(acts);
  ASSERT_EQ(wake.size(), 1u);
  EXPECT_EQ(wake[0].at, call_->nextTimeout());
  EXPECT_EQ(wake[0].at, kStart + 5000);  // the retry loop
}

TEST_F(GroupCallTest, DisconnectedCallerLegIsReplacedByANewCallWhenIceCannotRestart) {
  CallConfig cfg = call_->config();
  cfg.ice_restart_by_new_call = true;
  call_ = std::make_unique<GroupCall>(cfg, clock_, rng_);
  setupRoom();
  state({memberEvent("@carol:hs", "conf1", {{"C1", "cS", kStart + kHour}})});
  auto leg = actionsOf<act::CreateLeg>(enter()).at(0).leg;
  auto sent = actionsOf<act::SendToDevice>(call_->handle(in::LocalDescription{leg, {"offer", "v"}}));
  const std::string first_call(sent.at(0).content.at("call_id").as_string());
  auto answer = testlib::signal(first_call, "conf1", "C1", "cS", "bobS", 0);
  answer["answer"] = boost::json::object{{"type", "answer"}, {"sdp", "v=0 answer"}};
  toDevice("@carol:hs", "m.call.answer", answer);
  call_->handle(in::MediaStateChanged{leg, MediaState::Connected});
  call_->handle(in::MediaStateChanged{leg, MediaState::Disconnected});
  clock_.advance(2'000);
  auto acts = call_->handle(in::Tick{});
  bool hung_up = false;
  for (const auto& s : actionsOf<act::SendToDevice>(acts)) {
    hung_up |= s.type == "m.call.hangup" && s.content.at("reason") == "ice_failed";
  }
  EXPECT_TRUE(hung_up);
  EXPECT_TRUE(actionsOf<act::CreateOffer>(acts).size() == 1 &&
              !actionsOf<act::CreateOffer>(acts)[0].ice_restart);
  auto creates = actionsOf<act::CreateLeg>(acts);
  ASSERT_EQ(creates.size(), 1u) << "a new call to carol at once, not after the retry interval";
  EXPECT_EQ(creates[0].device_id, "C1");
  EXPECT_NE(call_->legFor("@carol:hs", "C1")->leg(), leg);
}

TEST_F(GroupCallTest, DisconnectedCallerRestartsIceByDefault) {
  setupRoom();
  state({memberEvent("@carol:hs", "conf1", {{"C1", "cS", kStart + kHour}})});
  auto leg = actionsOf<act::CreateLeg>(enter()).at(0).leg;
  auto sent = actionsOf<act::SendToDevice>(call_->handle(in::LocalDescription{leg, {"offer", "v"}}));
  auto answer = testlib::signal(std::string(sent.at(0).content.at("call_id").as_string()), "conf1", "C1",
                                "cS", "bobS", 0);
  answer["answer"] = boost::json::object{{"type", "answer"}, {"sdp", "v=0 answer"}};
  toDevice("@carol:hs", "m.call.answer", answer);
  call_->handle(in::MediaStateChanged{leg, MediaState::Connected});
  call_->handle(in::MediaStateChanged{leg, MediaState::Disconnected});
  clock_.advance(2'000);
  auto offers = actionsOf<act::CreateOffer>(call_->handle(in::Tick{}));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_TRUE(offers[0].ice_restart);
  EXPECT_EQ(call_->legFor("@carol:hs", "C1")->leg(), leg);
}

TEST_F(GroupCallTest, OurDeviceRemovedByADelayedLeaveIsPublishedAgain) {
  setupRoom();
  enter();
  // The homeserver sent our delayed leave (we were unreachable): our member event lost our device.
  auto acts = state({testlib::memberEventRaw("@bob:hs", {{"m.calls", boost::json::array{}}}, 50)});
  auto puts = actionsOf<act::PutState>(acts);
  ASSERT_EQ(puts.size(), 1u);
  auto parsed = proto::parseCallMemberEvent("@bob:hs", puts[0].content);
  ASSERT_TRUE(parsed && parsed->findCall("conf1"));
  EXPECT_EQ(parsed->findCall("conf1")->devices.at(0).device_id, "BOB");
  // Not again within the retry interval, whatever the server sends.
  EXPECT_TRUE(actionsOf<act::PutState>(
                  state({testlib::memberEventRaw("@bob:hs", {{"m.calls", boost::json::array{}}}, 51)}))
                  .empty());
  clock_.advance(5'000);
  EXPECT_EQ(actionsOf<act::PutState>(
                state({testlib::memberEventRaw("@bob:hs", {{"m.calls", boost::json::array{}}}, 52)}))
                .size(),
            1u);
}

}  // namespace
}  // namespace chorus::core
