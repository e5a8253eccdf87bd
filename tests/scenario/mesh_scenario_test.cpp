// Multi-party calls through the real core machines, an in-memory room + to-device bus and fake media, on a
// fake clock. No sockets, no sleeps.
#include <gtest/gtest.h>

#include "sim/simulation.hpp"

namespace chorus {
namespace {

using sim::SimClient;
using sim::Simulation;

const char* kUsers[] = {"@alice:hs", "@bob:hs", "@carol:hs", "@dave:hs", "@erin:hs", "@frank:hs"};

core::in::Enter enterInput(bool create) {
  core::in::Enter e;
  e.feeds = {core::LocalFeed{"usermedia", "m.usermedia", false, false}};
  e.create_if_missing = create;
  return e;
}

// n clients; the first creates the call, the rest enter it.
void startCall(Simulation& net, int n) {
  for (int i = 0; i < n; ++i) net.addClient(kUsers[i], "DEV" + std::to_string(i));
  net.input(net.client(0), enterInput(true));
  net.runFor(200);
  for (int i = 1; i < n; ++i) net.input(net.client(i), enterInput(false));
}

std::size_t liveLegs(const SimClient& c) {
  std::size_t n = 0;
  for (const auto* leg : c.call().legs()) n += leg->ended() ? 0 : 1;
  return n;
}

class MeshSizes : public ::testing::TestWithParam<int> {};

TEST_P(MeshSizes, AllPairsConnectAndEveryoneSeesEveryone) {
  const int n = GetParam();
  FakeClock clock;
  Simulation net(clock, 7);
  startCall(net, n);
  ASSERT_TRUE(net.runUntil([&] { return net.allPairsConnected(); }, 10'000));
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(net.client(i).call().participants().size(), static_cast<std::size_t>(n - 1));
    EXPECT_EQ(liveLegs(net.client(i)), static_cast<std::size_t>(n - 1));
    EXPECT_EQ(net.client(i).call().callId(), net.client(0).call().callId());
  }
  // Exactly one leg per pair: n(n-1)/2 invites, placed by the lower user id.
  EXPECT_EQ(net.toDeviceSentOfType("m.call.invite"), static_cast<std::uint64_t>(n * (n - 1) / 2));
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) {
      const auto* leg = net.client(i).call().legFor(kUsers[j], "DEV" + std::to_string(j));
      ASSERT_NE(leg, nullptr);
      EXPECT_TRUE(leg->outgoing()) << kUsers[i] << " must call " << kUsers[j];
    }
  }
  // Stable: nothing is torn down over a minute of quiet.
  net.runFor(60'000, 100);
  EXPECT_TRUE(net.allPairsConnected());
}

INSTANTIATE_TEST_SUITE_P(ThreeToSix, MeshSizes, ::testing::Values(3, 4, 5, 6));

TEST(MeshScenario, LeaveHangsUpWithinTwoSecondsAndOthersStayConnected) {
  FakeClock clock;
  Simulation net(clock, 3);
  startCall(net, 4);
  ASSERT_TRUE(net.runUntil([&] { return net.allPairsConnected(); }, 10'000));
  SimClient& carol = net.client(2);
  net.input(carol, core::in::Leave{});
  const bool gone = net.runUntil(
      [&] {
        for (int i : {0, 1, 3}) {
          if (net.client(i).call().legFor(carol.userId(), carol.deviceId())) return false;
          if (net.client(i).call().participants().size() != 2) return false;
        }
        return true;
      },
      2'000);
  EXPECT_TRUE(gone);
  EXPECT_FALSE(carol.call().entered());
  EXPECT_EQ(liveLegs(carol), 0u);
  // Carol's member event no longer lists her device.
  const auto& ev = net.roomState().at({"org.matrix.msc3401.call.member", carol.userId()});
  EXPECT_EQ(boost::json::serialize(ev.content), R"({"m.calls":[]})");
  for (int i : {0, 1, 3}) {
    for (int j : {0, 1, 3}) {
      if (i < j) {
        EXPECT_TRUE(net.pairConnected(net.client(i), net.client(j)));
      }
    }
  }
}

TEST(MeshScenario, RejoinWithNewSessionReplacesTheOldLeg) {
  FakeClock clock;
  Simulation net(clock, 5);
  startCall(net, 3);
  ASSERT_TRUE(net.runUntil([&] { return net.allPairsConnected(); }, 10'000));
  SimClient& bob = net.client(1);
  const std::string old_call_to_bob = net.client(0).call().legFor(bob.userId(), bob.deviceId())->callId();
  net.restart(bob, "newSession42");
  net.input(bob, enterInput(false));
  ASSERT_TRUE(net.runUntil([&] { return net.allPairsConnected(); }, 20'000));
  const auto* leg = net.client(0).call().legFor(bob.userId(), bob.deviceId());
  ASSERT_NE(leg, nullptr);
  EXPECT_EQ(leg->sessionId(), "newSession42");
  EXPECT_NE(leg->callId(), old_call_to_bob);
  const auto* from_carol = net.client(2).call().legFor(bob.userId(), bob.deviceId());
  ASSERT_NE(from_carol, nullptr);
  EXPECT_EQ(from_carol->sessionId(), "newSession42");
}

TEST(MeshScenario, CrashedClientIsDroppedAtExpiryAndRetriesAreBounded) {
  FakeClock clock;
  Simulation net(clock, 11);
  startCall(net, 3);
  ASSERT_TRUE(net.runUntil([&] { return net.allPairsConnected(); }, 10'000));
  SimClient& carol = net.client(2);
  const auto invites_before = net.toDeviceSentOfType("m.call.invite");
  net.crash(carol);
  // ICE notices within seconds: the legs go (ice_failed after 30 s) but carol is still a participant.
  net.runFor(40'000, 100);
  EXPECT_EQ(net.client(0).call().participants().size(), 2u);
  // Until her member event expires (1 h), alice and bob retry, at most 3 times each.
  net.runFor(3'600'000, 1'000);
  for (int i : {0, 1}) {
    EXPECT_EQ(net.client(i).call().participants().size(), 1u) << "carol's device expired";
    EXPECT_EQ(net.client(i).call().legFor(carol.userId(), carol.deviceId()), nullptr);
  }
  // Each caller of carol (alice and bob) re-invites after the ICE failure, at most max_retries times.
  const auto reinvites = net.toDeviceSentOfType("m.call.invite") - invites_before;
  EXPECT_GE(reinvites, 2u);
  EXPECT_LE(reinvites, 2u * 3u);
  EXPECT_TRUE(net.pairConnected(net.client(0), net.client(1)));
}

TEST(MeshScenario, SimultaneousCallCreationConvergesOnOneCall) {
  FakeClock clock;
  Simulation net(clock, 13);
  for (int i = 0; i < 4; ++i) net.addClient(kUsers[i], "DEV" + std::to_string(i));
  // alice and carol both start a call in the same instant, before either sees the other's.
  net.input(net.client(0), enterInput(true));
  clock.advance(1);
  net.input(net.client(2), enterInput(true));
  net.input(net.client(1), enterInput(false));
  net.input(net.client(3), enterInput(false));
  ASSERT_TRUE(net.runUntil([&] { return net.allPairsConnected(); }, 30'000));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(net.client(i).call().callId(), net.client(2).call().callId());
  // The losing call was terminated by its creator, so there is exactly one live call in the room.
  int live_calls = 0;
  for (const auto& [key, ev] : net.roomState()) {
    if (key.first == "org.matrix.msc3401.call" && !ev.content.contains("m.terminated")) ++live_calls;
  }
  EXPECT_EQ(live_calls, 1);
}

TEST(MeshScenario, ReorderedAndDuplicatedDeliveryStillConnects) {
  FakeClock clock;
  Simulation net(clock, 17);
  net.setPolicy(sim::DeliveryPolicy{0.0, 0.3, true});
  startCall(net, 5);
  ASSERT_TRUE(net.runUntil([&] { return net.allPairsConnected(); }, 30'000));
  std::uint64_t dups = 0;
  for (std::size_t i = 0; i < net.size(); ++i) dups += net.client(i).call().counters().seq_duplicate;
  EXPECT_GT(dups, 0u) << "duplicates were delivered and recognised";
}

TEST(MeshScenario, DroppedDeliveryRecoversThroughTimeoutsAndRetries) {
  FakeClock clock;
  Simulation net(clock, 23);
  net.setPolicy(sim::DeliveryPolicy{0.15, 0.0, true});
  startCall(net, 4);
  ASSERT_TRUE(net.runUntil([&] { return net.allPairsConnected(); }, 10 * 60'000, 50));
  EXPECT_GT(net.toDeviceDropped(), 0u);
}

TEST(MeshScenario, AdversarialSeqPatternsKeepMemoryBounded) {
  FakeClock clock;
  core::CallConfig cfg;
  cfg.seq.window = 64;
  cfg.seq.max_buffered_per_key = 32;
  cfg.seq.max_bytes_per_key = 64 * 1024;
  cfg.seq.max_keys = 128;
  cfg.seq.max_total_bytes = 1024 * 1024;
  Simulation net(clock, 29, cfg);
  startCall(net, 3);
  ASSERT_TRUE(net.runUntil([&] { return net.allPairsConnected(); }, 10'000));
  SimClient& alice = net.client(0);
  const std::string conf = *alice.call().callId();
  auto msg = [&](const std::string& call_id, std::uint64_t seq) {
    return boost::json::object{
        {"call_id", call_id},
        {"party_id", "EVIL"},
        {"version", "1"},
        {"conf_id", conf},
        {"device_id", "EVIL"},
        {"sender_session_id", "evil"},
        {"dest_session_id", alice.sessionId()},
        {"seq", seq},
        {"candidates", boost::json::array{{{"candidate", std::string(900, 'x')}, {"sdpMid", "0"}}}}};
  };
  // The attack from the MSC review: seq=1, then 99999999999, 99999999998, ... on one call_id.
  net.injectToDevice("@mallory:hs", alice, "m.call.candidates", msg("evilcall", 1));
  for (std::uint64_t i = 0; i < 5'000; ++i) {
    net.injectToDevice("@mallory:hs", alice, "m.call.candidates", msg("evilcall", 99'999'999'999ULL - i));
  }
  // And gapped seqs inside the window on many call_ids.
  for (int k = 0; k < 1'000; ++k) {
    for (std::uint64_t s = 2; s < 60; s += 2) {
      net.injectToDevice("@mallory:hs", alice, "m.call.candidates", msg("gap" + std::to_string(k), s));
    }
  }
  net.runFor(100);
  const auto& seq = alice.call().seqReorderer();
  EXPECT_LE(seq.keyCount(), cfg.seq.max_keys);
  EXPECT_LE(seq.bufferedBytes(), cfg.seq.max_total_bytes);
  EXPECT_LE(seq.bufferedCount(), cfg.seq.max_keys * cfg.seq.max_buffered_per_key);
  const auto& c = alice.call().counters();
  EXPECT_GE(c.seq_beyond_window, 5'000u);
  EXPECT_GT(c.seq_buffer_full + c.seq_too_many_keys, 0u);
  // After the gap timeout the buffers drain (to unknown calls, which are counted and dropped).
  net.runFor(cfg.seq.gap_timeout_ms + 1'000, 100);
  EXPECT_EQ(seq.bufferedCount(), 0u);
  EXPECT_GT(c.unknown_call, 0u);
  EXPECT_TRUE(net.allPairsConnected());
}

// js-sdk may invite before its member event reaches the callee (room state and to-device come on different
// streams). Core holds such an invite, without a leg, for its member event (CallConfig::invite_grace_ms).
TEST(MeshScenario, InvitesThatOvertakeTheMemberEventStillConnect) {
  FakeClock clock;
  Simulation net(clock, 31);
  net.setPolicy(sim::DeliveryPolicy{0.0, 0.0, false, 3'000});
  for (int i = 0; i < 4; ++i) net.addClient(kUsers[i], "DEV" + std::to_string(i));
  // The higher user ids are in the call first; the lowest enters last and calls them at once, while its own
  // member event is still on its way to them.
  net.input(net.client(3), enterInput(true));
  net.runFor(4'000);
  net.input(net.client(2), enterInput(false));
  net.input(net.client(1), enterInput(false));
  net.runFor(8'000);
  net.input(net.client(0), enterInput(false));
  ASSERT_TRUE(net.runUntil([&] { return net.allPairsConnected(); }, 30'000));
  std::uint64_t held = 0, released = 0, expired = 0;
  for (std::size_t i = 0; i < net.size(); ++i) {
    const auto& c = net.client(i).call().counters();
    held += c.invites_held;
    released += c.held_invites_released;
    expired += c.held_invites_expired;
  }
  EXPECT_GT(held, 0u) << "the lag made invites arrive first";
  EXPECT_EQ(released, held);
  EXPECT_EQ(expired, 0u);
}

// Issue #10: a room member reads a participant's conf_id/device/session and sends it 255 invites from
// invented devices. None gets a leg (no media pipeline), all are rejected after the grace, the call is
// undisturbed, and a genuine newcomer still connects.
TEST(MeshScenario, FakeInvitesGetNoLegAndDoNotDisturbTheCall) {
  FakeClock clock;
  Simulation net(clock, 37);
  startCall(net, 3);
  ASSERT_TRUE(net.runUntil([&] { return net.allPairsConnected(); }, 10'000));
  SimClient& alice = net.client(0);
  const std::size_t media_before = alice.media().size();
  const std::string conf = *alice.call().callId();
  for (int i = 0; i < 255; ++i) {
    const std::string dev = "FAKE" + std::to_string(i);
    net.injectToDevice(
        "@mallory:hs", alice, "m.call.invite",
        boost::json::object{{"call_id", "fake" + std::to_string(i)},
                            {"party_id", dev},
                            {"version", "1"},
                            {"conf_id", conf},
                            {"device_id", dev},
                            {"sender_session_id", "ms"},
                            {"dest_session_id", alice.sessionId()},
                            {"seq", 0},
                            {"lifetime", 60000},
                            {"offer", boost::json::object{{"type", "offer"}, {"sdp", "v=0"}}}});
  }
  net.runFor(100);
  EXPECT_EQ(alice.media().size(), media_before) << "no media leg for a device that is not in the call";
  EXPECT_LE(alice.call().heldInvites(), alice.call().config().max_held_invites_per_user);
  net.runFor(alice.call().config().invite_grace_ms + 1'000, 100);
  EXPECT_EQ(alice.call().heldInvites(), 0u);
  const auto& c = alice.call().counters();
  EXPECT_EQ(c.held_invites_expired + c.held_invites_overflow, 255u);
  EXPECT_EQ(alice.media().size(), media_before);
  EXPECT_TRUE(net.allPairsConnected());
  net.addClient(kUsers[3], "DEV3");
  net.input(net.client(3), enterInput(false));
  EXPECT_TRUE(net.runUntil([&] { return net.allPairsConnected(); }, 10'000));
}

}  // namespace
}  // namespace chorus
