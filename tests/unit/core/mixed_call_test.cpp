// Mixed calls (docs/focus.md "Mixed calls"): a participant in focus mode also holds mesh legs with the
// devices whose member entry names no focus (mesh-only clients such as matrix-js-sdk 28.1.0), per
// who-calls-whom, up to CallConfig::max_mesh_peers; devices that use a focus are reached through the focus
// only.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/group_call.hpp"
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
const proto::FocusInfo kFocus{"@sfu:hs", "CHORUSFOCUS"};

// A member event of one device; with `focus`, the device publishes to it (foci.active).
StateEvent member(const std::string& user, const std::string& device, const std::string& session,
                  std::optional<proto::FocusInfo> focus = std::nullopt) {
  auto ev = memberEvent(user, "conf1", {{device, session, kStart + kHour}});
  if (focus) {
    ev.content.at("m.calls")
        .as_array()
        .at(0)
        .at("m.devices")
        .as_array()
        .at(0)
        .as_object()["org.matrix.msc3898.foci.active"] =
        json::array{json::object{{"user_id", focus->user_id}, {"device_id", focus->device_id}}};
  }
  return ev;
}
// The user left the call (no device left in its member event).
StateEvent left(const std::string& user) {
  return testlib::memberEventRaw(user, json::object{{"m.calls", json::array{}}}, 2);
}

class MixedCallTest : public ::testing::Test {
 protected:
  MixedCallTest() : clock_(kStart) {}

  void make(std::size_t max_mesh_peers = 8) {
    CallConfig cfg;
    cfg.user_id = "@bob:hs";
    cfg.device_id = "BOB";
    cfg.session_id = "bobS";
    cfg.focus = kFocus;
    cfg.max_mesh_peers = max_mesh_peers;
    call_ = std::make_unique<GroupCall>(cfg, clock_, rng_);
    state({joinEvent("@alice:hs"), joinEvent("@bob:hs"), joinEvent("@carol:hs"), joinEvent("@dave:hs"),
           callEvent("conf1", "@alice:hs", 10)});
  }
  Actions state(std::vector<StateEvent> evs) { return call_->handle(in::StateChanged{std::move(evs)}); }
  Actions enter() {
    in::Enter e;
    e.feeds = {LocalFeed{"s1", "m.usermedia", false, false}};
    return call_->handle(e);
  }
  Actions toDevice(const std::string& sender, const std::string& type, json::object content) {
    return call_->handle(in::ToDeviceReceived{ToDeviceMessage{type, sender, std::move(content)}});
  }
  static json::object invite(const std::string& call_id, const std::string& device,
                             const std::string& session) {
    auto c = testlib::signal(call_id, "conf1", device, session, "bobS", 0);
    c["offer"] = json::object{{"type", "offer"}, {"sdp", "v=0 offer"}};
    c["lifetime"] = 60000;
    return c;
  }
  static std::vector<act::CreateLeg> meshLegs(const Actions& acts) {
    auto v = actionsOf<act::CreateLeg>(acts);
    std::erase_if(v, [](const act::CreateLeg& l) { return l.focus; });
    return v;
  }
  static std::vector<act::SendToDevice> sendsOf(const Actions& acts, const std::string& type) {
    auto v = actionsOf<act::SendToDevice>(acts);
    std::erase_if(v, [&](const act::SendToDevice& s) { return s.type != type; });
    return v;
  }

  FakeClock clock_;
  FakeRng rng_{7};
  std::unique_ptr<GroupCall> call_;
};

TEST_F(MixedCallTest, MeshOnlyDevicesGetMeshLegsPerWhoCallsWhomFocusUsersOnlyTheFocus) {
  make();
  // alice and carol name no focus (mesh-only), dave publishes to our focus.
  state({member("@alice:hs", "A1", "aS"), member("@carol:hs", "C1", "cS"),
         member("@dave:hs", "D1", "dS", kFocus)});
  auto acts = enter();
  ASSERT_TRUE(call_->focus());
  auto creates = actionsOf<act::CreateLeg>(acts);
  ASSERT_EQ(creates.size(), 2u);
  EXPECT_TRUE(creates[0].focus);  // the focus leg, as before
  EXPECT_EQ(creates[0].user_id, "@sfu:hs");
  // carol > bob: we call her, in mesh (no data channel); alice < bob calls us; dave only through the focus.
  EXPECT_EQ(creates[1].user_id, "@carol:hs");
  EXPECT_EQ(creates[1].device_id, "C1");
  EXPECT_FALSE(creates[1].focus);
  EXPECT_FALSE(creates[1].data_channel);
  EXPECT_TRUE(creates[1].outgoing);
  EXPECT_EQ(actionsOf<act::CreateOffer>(acts).size(), 2u);
  // Our offer to carol goes to her device as an ordinary mesh invite.
  auto sent =
      actionsOf<act::SendToDevice>(call_->handle(in::LocalDescription{creates[1].leg, {"offer", "v=0 o"}}));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].type, "m.call.invite");
  EXPECT_EQ(sent[0].user_id, "@carol:hs");
  EXPECT_EQ(sent[0].content.at("dest_session_id"), "cS");

  // alice's invite is answered on a mesh leg.
  acts = toDevice("@alice:hs", "m.call.invite", invite("fromalice", "A1", "aS"));
  auto mesh = meshLegs(acts);
  ASSERT_EQ(mesh.size(), 1u);
  EXPECT_EQ(mesh[0].user_id, "@alice:hs");
  EXPECT_FALSE(mesh[0].outgoing);
  EXPECT_TRUE(mesh[0].media_enabled);
  EXPECT_EQ(actionsOf<act::CreateAnswer>(acts).size(), 1u);
  EXPECT_TRUE(sendsOf(acts, "m.call.reject").empty());

  // A mesh invite from dave (who uses a focus) is still rejected: we reach him through the focus.
  acts = toDevice("@dave:hs", "m.call.invite", invite("fromdave", "D1", "dS"));
  EXPECT_TRUE(actionsOf<act::CreateLeg>(acts).empty());
  EXPECT_EQ(sendsOf(acts, "m.call.reject").size(), 1u);

  EXPECT_EQ(call_->meshLegCount(), 2u);
  EXPECT_NE(call_->focusLeg(), nullptr);
  EXPECT_EQ(call_->legFor("@dave:hs", "D1"), nullptr);
  EXPECT_EQ(call_->counters().mesh_peer_legs, 2u);
  EXPECT_EQ(call_->counters().mesh_invites_in_focus_mode, 1u);
  EXPECT_EQ(call_->counters().mesh_peers_over_cap, 0u);
}

TEST_F(MixedCallTest, InvitesBeyondTheCapAreRejectedWithAReason) {
  make(1);
  state({member("@alice:hs", "A1", "aS"), member("@carol:hs", "C1", "cS")});
  auto acts = enter();
  ASSERT_EQ(meshLegs(acts).size(), 1u);  // carol takes the one mesh slot
  EXPECT_EQ(meshLegs(acts)[0].user_id, "@carol:hs");

  acts = toDevice("@alice:hs", "m.call.invite", invite("fromalice", "A1", "aS"));
  EXPECT_TRUE(actionsOf<act::CreateLeg>(acts).empty());
  auto rejects = sendsOf(acts, "m.call.reject");
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].user_id, "@alice:hs");
  EXPECT_EQ(rejects[0].device_id, "A1");
  EXPECT_EQ(rejects[0].content.at("call_id"), "fromalice");
  EXPECT_EQ(rejects[0].content.at("reason"), "mesh_peer_limit");
  EXPECT_EQ(call_->counters().mesh_peers_over_cap, 1u);
  EXPECT_EQ(call_->meshLegCount(), 1u);

  // carol leaves: the slot is free and alice's next invite (js-sdk's retry loop) is answered.
  state({left("@carol:hs")});
  EXPECT_EQ(call_->meshLegCount(), 0u);
  acts = toDevice("@alice:hs", "m.call.invite", invite("fromalice2", "A1", "aS"));
  ASSERT_EQ(meshLegs(acts).size(), 1u);
  EXPECT_EQ(meshLegs(acts)[0].user_id, "@alice:hs");
  EXPECT_EQ(call_->counters().mesh_peers_over_cap, 1u);
}

TEST_F(MixedCallTest, CallsBeyondTheCapAreNotPlacedUntilASlotFrees) {
  make(1);
  state({member("@alice:hs", "A1", "aS")});
  enter();
  ASSERT_EQ(meshLegs(toDevice("@alice:hs", "m.call.invite", invite("fromalice", "A1", "aS"))).size(), 1u);

  // carol (mesh-only, ours to call) joins while the slot is taken: not called, one warning, counted once.
  auto acts = state({member("@carol:hs", "C1", "cS")});
  EXPECT_TRUE(meshLegs(acts).empty());
  auto warnings = actionsOf<act::Warning>(acts);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].message.find("mesh peer limit"), std::string::npos);
  for (int i = 0; i < 4; ++i) {
    clock_.advance(5'000);
    EXPECT_TRUE(meshLegs(call_->handle(in::Tick{})).empty());
  }
  EXPECT_EQ(call_->counters().mesh_peers_over_cap, 1u);

  // alice leaves: carol is called at once.
  acts = state({left("@alice:hs")});
  auto mesh = meshLegs(acts);
  ASSERT_EQ(mesh.size(), 1u);
  EXPECT_EQ(mesh[0].user_id, "@carol:hs");
  EXPECT_TRUE(mesh[0].outgoing);
}

TEST_F(MixedCallTest, AMeshOnlyMemberLeavingTearsItsLegDown) {
  make();
  state({member("@carol:hs", "C1", "cS")});
  auto acts = enter();
  auto mesh = meshLegs(acts);
  ASSERT_EQ(mesh.size(), 1u);
  call_->handle(in::LocalDescription{mesh[0].leg, {"offer", "v=0 o"}});
  ASSERT_NE(call_->legFor("@carol:hs", "C1"), nullptr);

  acts = state({left("@carol:hs")});
  auto hangups = sendsOf(acts, "m.call.hangup");
  ASSERT_EQ(hangups.size(), 1u);
  EXPECT_EQ(hangups[0].user_id, "@carol:hs");
  auto closes = actionsOf<act::CloseLeg>(acts);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].leg, mesh[0].leg);
  EXPECT_EQ(call_->legFor("@carol:hs", "C1"), nullptr);
  EXPECT_NE(call_->focusLeg(), nullptr);  // the focus leg is untouched
  EXPECT_EQ(call_->meshLegCount(), 0u);
}

TEST_F(MixedCallTest, AMemberThatMovesToTheFocusLosesItsMeshLegAndBack) {
  make();
  state({member("@carol:hs", "C1", "cS")});
  auto mesh = meshLegs(enter());
  ASSERT_EQ(mesh.size(), 1u);
  call_->handle(in::LocalDescription{mesh[0].leg, {"offer", "v=0 o"}});

  // carol now publishes to the focus (same session): the mesh leg is hung up, no new mesh call.
  auto acts = state({member("@carol:hs", "C1", "cS", kFocus)});
  auto hangups = sendsOf(acts, "m.call.hangup");
  ASSERT_EQ(hangups.size(), 1u);
  EXPECT_EQ(hangups[0].content.at("reason"), "replaced");
  EXPECT_EQ(actionsOf<act::CloseLeg>(acts).size(), 1u);
  EXPECT_TRUE(meshLegs(acts).empty());
  EXPECT_EQ(call_->counters().mesh_legs_to_focus_user, 1u);
  clock_.advance(5'000);
  EXPECT_TRUE(meshLegs(call_->handle(in::Tick{})).empty());  // the retry loop leaves her alone
  EXPECT_EQ(call_->meshLegCount(), 0u);

  // ...and back to mesh-only: called again.
  acts = state({member("@carol:hs", "C1", "cS2")});
  mesh = meshLegs(acts);
  ASSERT_EQ(mesh.size(), 1u);
  EXPECT_EQ(mesh[0].user_id, "@carol:hs");
  EXPECT_EQ(mesh[0].session_id, "cS2");
}

TEST_F(MixedCallTest, AnInviteBeforeTheMemberEventIsHeldThenAnswered) {
  make();
  enter();
  // js-sdk may invite before its member event reaches us: held (no leg), answered when it arrives.
  auto acts = toDevice("@alice:hs", "m.call.invite", invite("early", "A1", "aS"));
  EXPECT_TRUE(actionsOf<act::CreateLeg>(acts).empty());
  EXPECT_TRUE(actionsOf<act::SendToDevice>(acts).empty());
  EXPECT_EQ(call_->heldInvites(), 1u);
  acts = state({member("@alice:hs", "A1", "aS")});
  auto mesh = meshLegs(acts);
  ASSERT_EQ(mesh.size(), 1u);
  EXPECT_EQ(mesh[0].user_id, "@alice:hs");
  EXPECT_EQ(call_->counters().held_invites_released, 1u);
}

TEST_F(MixedCallTest, CapZeroMeansFocusOnly) {
  make(0);
  state({member("@alice:hs", "A1", "aS"), member("@carol:hs", "C1", "cS")});
  auto acts = enter();
  EXPECT_TRUE(meshLegs(acts).empty());
  acts = toDevice("@alice:hs", "m.call.invite", invite("fromalice", "A1", "aS"));
  ASSERT_EQ(sendsOf(acts, "m.call.reject").size(), 1u);
  EXPECT_EQ(call_->counters().mesh_peers_over_cap, 2u);  // carol not called, alice rejected
}

TEST(MixedCallMeshMode, AMeshClientCallsEveryoneIncludingFocusUsers) {
  // Without a focus (and adoption off, like js-sdk 28.1.0 that knows no foci) the mesh is unchanged: the
  // focus-mode devices are called too, and (tests above) they answer because we name no focus.
  FakeClock clock(kStart);
  FakeRng rng(1);
  CallConfig cfg;
  cfg.user_id = "@alice:hs";
  cfg.device_id = "A1";
  cfg.session_id = "aS";
  cfg.adopt_focus = false;
  GroupCall call(cfg, clock, rng);
  call.handle(
      in::StateChanged{{joinEvent("@alice:hs"), joinEvent("@bob:hs"), callEvent("conf1", "@alice:hs", 10),
                        member("@bob:hs", "BOB", "bobS", kFocus)}});
  in::Enter e;
  e.feeds = {LocalFeed{"a1", "m.usermedia", false, false}};
  auto creates = actionsOf<act::CreateLeg>(call.handle(e));
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0].user_id, "@bob:hs");
  EXPECT_FALSE(creates[0].focus);
  EXPECT_FALSE(call.focus());
}

}  // namespace
}  // namespace chorus::core
