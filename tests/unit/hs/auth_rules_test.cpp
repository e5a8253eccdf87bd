// Power-level rules of chorus hs as pure functions (service/auth_rules.hpp).
#include "hs/service/auth_rules.hpp"

#include <gtest/gtest.h>

namespace chorus::hs {
namespace {
namespace json = boost::json;

TEST(AuthRules, LevelsWithoutPowerLevelsEvent) {
  EXPECT_EQ(userLevel(nullptr, "@c:x", "@c:x"), 100);
  EXPECT_EQ(userLevel(nullptr, "@u:x", "@c:x"), 0);
  EXPECT_EQ(eventLevel(nullptr, "m.room.message", false), 0);
  EXPECT_EQ(eventLevel(nullptr, "m.custom", true), 50);
  EXPECT_EQ(namedLevel(nullptr, "invite"), 0);
  EXPECT_EQ(namedLevel(nullptr, "kick"), 50);
}

TEST(AuthRules, DefaultsLetMembersJoinCallsAndCreatorStartThem) {
  const json::object pl = defaultPowerLevels("@c:x");
  EXPECT_EQ(userLevel(&pl, "@c:x", "@c:x"), 100);
  EXPECT_EQ(userLevel(&pl, "@u:x", "@c:x"), 0);
  EXPECT_EQ(eventLevel(&pl, "org.matrix.msc3401.call.member", true), 0);
  EXPECT_EQ(eventLevel(&pl, "m.call.member", true), 0);
  EXPECT_EQ(eventLevel(&pl, "org.matrix.msc3401.call", true), 100);
  EXPECT_EQ(eventLevel(&pl, "m.room.name", true), 50);
  EXPECT_EQ(eventLevel(&pl, "m.other", true), 50);
  EXPECT_EQ(eventLevel(&pl, "m.room.message", false), 0);
  EXPECT_TRUE(validatePowerLevels(pl));
}

TEST(AuthRules, StringLevelsOfOldRoomsAreRead) {
  const json::object pl = json::parse(R"({"users":{"@a:x":"75"},"state_default":"20"})").as_object();
  EXPECT_EQ(userLevel(&pl, "@a:x", ""), 75);
  EXPECT_EQ(eventLevel(&pl, "m.x", true), 20);
}

TEST(AuthRules, ValidateRejectsWrongTypes) {
  EXPECT_FALSE(validatePowerLevels(json::parse(R"({"ban":"high"})").as_object()));
  EXPECT_FALSE(validatePowerLevels(json::parse(R"({"users":[]})").as_object()));
  EXPECT_FALSE(validatePowerLevels(json::parse(R"({"users":{"bob":10}})").as_object()));
  EXPECT_FALSE(validatePowerLevels(json::parse(R"({"events":{"m.x":1.5}})").as_object()));
  EXPECT_TRUE(validatePowerLevels(json::parse(R"({"events":{"m.x":1.0},"users":{"@b:x":10}})").as_object()));
}

TEST(AuthRules, CannotGrantOrRemoveMoreThanOwnLevel) {
  const json::object old_pl =
      json::parse(R"({"users":{"@a:x":100,"@m:x":50,"@n:x":50},"state_default":50})").as_object();
  auto with = [&](const char* patch) {
    json::object pl = old_pl;
    const json::value parsed = json::parse(patch);
    for (const auto& [k, v] : parsed.as_object()) pl[k] = v;
    return pl;
  };
  // @m (50) may raise @u to 50 but not 51, and may not touch @n (also 50) or @a (100).
  EXPECT_TRUE(checkPowerLevelsChange(&old_pl, with(R"({"users":{"@a:x":100,"@m:x":50,"@n:x":50,"@u:x":50}})"),
                                     "@m:x", 50));
  EXPECT_FALSE(checkPowerLevelsChange(
      &old_pl, with(R"({"users":{"@a:x":100,"@m:x":50,"@n:x":50,"@u:x":51}})"), "@m:x", 50));
  EXPECT_FALSE(
      checkPowerLevelsChange(&old_pl, with(R"({"users":{"@a:x":100,"@m:x":50,"@n:x":0}})"), "@m:x", 50));
  EXPECT_FALSE(checkPowerLevelsChange(&old_pl, with(R"({"users":{"@m:x":50,"@n:x":50}})"), "@m:x", 50));
  // Lowering yourself is fine; top-level keys above your level are not.
  EXPECT_TRUE(
      checkPowerLevelsChange(&old_pl, with(R"({"users":{"@a:x":100,"@m:x":10,"@n:x":50}})"), "@m:x", 50));
  EXPECT_FALSE(checkPowerLevelsChange(&old_pl, with(R"({"state_default":60})"), "@m:x", 50));
  EXPECT_TRUE(checkPowerLevelsChange(&old_pl, with(R"({"state_default":40})"), "@m:x", 50));
  EXPECT_FALSE(checkPowerLevelsChange(&old_pl, with(R"({"events":{"m.x":70}})"), "@m:x", 50));
  // The first power levels event of a room is not a change.
  EXPECT_TRUE(checkPowerLevelsChange(nullptr, with(R"({"state_default":100})"), "@m:x", 0));
}

}  // namespace
}  // namespace chorus::hs
