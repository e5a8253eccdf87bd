#include "proto/room_state.hpp"

#include <gtest/gtest.h>

#include "testlib/builders.hpp"

namespace chorus::proto {
namespace {

using testlib::callEvent;
using testlib::joinEvent;
using testlib::memberEvent;

constexpr TimeMs kNow = 1'700'000'000'000;

TEST(RoomState, ParticipantsOfAnyCallNotOnlyTheActiveOne) {
  RoomState room;
  room.apply(joinEvent("@a:hs"));
  room.apply(joinEvent("@b:hs"));
  room.apply(callEvent("old", "@a:hs", 1));
  room.apply(callEvent("new", "@b:hs", 2));
  room.apply(memberEvent("@a:hs", "old", {{"A", "sa", kNow + 10}}));
  room.apply(memberEvent("@b:hs", "new", {{"B", "sb", kNow + 20}}));
  EXPECT_EQ(room.activeCall(), "new");
  std::optional<TimeMs> earliest;
  auto old_ps = room.participants("old", kNow, &earliest);
  ASSERT_EQ(old_ps.size(), 1u);
  EXPECT_EQ(old_ps[0].device_id, "A");
  EXPECT_EQ(earliest, kNow + 10);
  EXPECT_TRUE(room.participant("new", "@b:hs", "B", kNow));
  EXPECT_FALSE(room.participant("new", "@b:hs", "B", kNow + 20)) << "expired at expires_ts";
  EXPECT_FALSE(room.participant("new", "@a:hs", "A", kNow));
}

TEST(RoomState, MemberEventOfSomeoneElseIsRefused) {
  RoomState room;
  auto ev = memberEvent("@a:hs", "c", {{"A", "s", kNow + 10}});
  ev.sender = "@mallory:hs";
  EXPECT_EQ(room.apply(ev), RoomState::Applied::Invalid);
  EXPECT_EQ(room.memberContent("@a:hs"), nullptr);
}

TEST(RoomState, TerminatedAndInvalidCallsAreNotActive) {
  RoomState room;
  room.apply(callEvent("c1", "@a:hs", 5));
  EXPECT_EQ(room.activeCall(), "c1");
  EXPECT_EQ(room.apply(StateEvent{"org.matrix.msc3401.call", "c1", "@a:hs", "$r", 6, {}}),
            RoomState::Applied::Invalid);  // redacted: content emptied
  EXPECT_FALSE(room.activeCall());
  room.apply(callEvent("c2", "@a:hs", 7, true));
  EXPECT_FALSE(room.activeCall());
  room.apply(StateEvent{"m.room.topic", "", "@a:hs", "$t", 8, {{"topic", "x"}}});
  EXPECT_FALSE(room.activeCall());
}

}  // namespace
}  // namespace chorus::proto
