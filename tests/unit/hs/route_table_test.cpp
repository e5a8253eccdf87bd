// The client API's route table and request-target parsing (src/hs/api/route_table.hpp): patterns with named
// parameters and a "*" tail, first match wins, 404 vs 405, and the UTF-8 rule for path and query parameters.
#include "hs/api/route_table.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace chorus::hs {
namespace {

using Table = RouteTable<std::string>;
using Outcome = Table::Outcome;

std::vector<std::string> segs(std::initializer_list<const char*> l) {
  return std::vector<std::string>(l.begin(), l.end());
}

Table sampleTable() {
  Table t;
  t.add("GET", "sync", "sync");
  t.add("GET", "rooms/{roomId}/state", "roomState");
  t.add("GET", "rooms/{roomId}/state/{eventType}", "stateGet");
  t.add("PUT", "rooms/{roomId}/state/{eventType}", "statePut");
  t.add("GET", "rooms/{roomId}/state/{eventType}/{stateKey}", "stateGetKey");
  t.add("POST", "rooms/{roomId}/receipt/*", "receipt");
  t.add("*", "pushrules", "pushrules");
  t.add("*", "pushrules/*", "pushrulesTail");
  t.add("GET", "delayed_events/{delayId}", "delayedGet");
  t.add("POST", "delayed_events/{delayId}", "delayedActionBody");
  t.add("POST", "delayed_events/{delayId}/{action}", "delayedAction");
  return t;
}

TEST(HsRouteTable, LiteralsAndNamedParameters) {
  const Table t = sampleTable();
  const auto path = segs({"rooms", "!r:x", "state", "m.room.name", "key"});
  auto r = t.find("GET", path);
  ASSERT_EQ(r.outcome, Outcome::Found);
  EXPECT_EQ(*r.handler, "stateGetKey");
  EXPECT_EQ(r.params["roomId"], "!r:x");
  EXPECT_EQ(r.params["eventType"], "m.room.name");
  EXPECT_EQ(r.params["stateKey"], "key");
  EXPECT_TRUE(r.params.rest().empty());

  const auto sync = segs({"sync"});
  r = t.find("GET", sync);
  ASSERT_EQ(r.outcome, Outcome::Found);
  EXPECT_EQ(*r.handler, "sync");
}

TEST(HsRouteTable, AParameterMatchesAnEmptySegment) {
  // ".../state/m.room.topic/" is the empty state key, as clients send it.
  const Table t = sampleTable();
  const auto path = segs({"rooms", "!r:x", "state", "m.room.topic", ""});
  auto r = t.find("GET", path);
  ASSERT_EQ(r.outcome, Outcome::Found);
  EXPECT_EQ(*r.handler, "stateGetKey");
  EXPECT_EQ(r.params["stateKey"], "");
}

TEST(HsRouteTable, SameLengthDifferentMethodsAndFirstMatchWins) {
  const Table t = sampleTable();
  const auto path = segs({"rooms", "!r:x", "state", "m.room.name"});
  auto get = t.find("GET", path);
  ASSERT_EQ(get.outcome, Outcome::Found);
  EXPECT_EQ(*get.handler, "stateGet");
  auto put = t.find("PUT", path);
  ASSERT_EQ(put.outcome, Outcome::Found);
  EXPECT_EQ(*put.handler, "statePut");

  Table first;
  first.add("GET", "a/{x}", "param");
  first.add("GET", "a/b", "literal");
  const auto ab = segs({"a", "b"});
  auto r = first.find("GET", ab);
  ASSERT_EQ(r.outcome, Outcome::Found);
  EXPECT_EQ(*r.handler, "param");  // added first
}

TEST(HsRouteTable, KnownPathOtherMethodIs405UnknownPathIs404) {
  const Table t = sampleTable();
  const auto state = segs({"rooms", "!r:x", "state"});
  EXPECT_EQ(t.find("PUT", state).outcome, Outcome::MethodNotAllowed);
  EXPECT_EQ(t.find("PUT", state).handler, nullptr);
  const auto sync = segs({"sync"});
  EXPECT_EQ(t.find("POST", sync).outcome, Outcome::MethodNotAllowed);
  // One segment too many or too few, a wrong literal, an empty path: not found.
  const auto longer = segs({"sync", "x"});
  EXPECT_EQ(t.find("GET", longer).outcome, Outcome::NotFound);
  const auto trailing = segs({"sync", ""});
  EXPECT_EQ(t.find("GET", trailing).outcome, Outcome::NotFound);
  const auto shorter = segs({"rooms", "!r:x"});
  EXPECT_EQ(t.find("GET", shorter).outcome, Outcome::NotFound);
  const auto other = segs({"rooms", "!r:x", "nope"});
  EXPECT_EQ(t.find("GET", other).outcome, Outcome::NotFound);
  const std::vector<std::string> none;
  EXPECT_EQ(t.find("GET", none).outcome, Outcome::NotFound);
  // Methods are case-sensitive (RFC 9110).
  EXPECT_EQ(t.find("get", sync).outcome, Outcome::MethodNotAllowed);
}

TEST(HsRouteTable, RestTakesOneOrMoreSegments) {
  const Table t = sampleTable();
  const auto three = segs({"rooms", "!r:x", "receipt"});
  EXPECT_EQ(t.find("POST", three).outcome, Outcome::NotFound);
  const auto five = segs({"rooms", "!r:x", "receipt", "m.read", "$ev"});
  auto r = t.find("POST", five);
  ASSERT_EQ(r.outcome, Outcome::Found);
  EXPECT_EQ(*r.handler, "receipt");
  ASSERT_EQ(r.params.rest().size(), 2u);
  EXPECT_EQ(r.params.rest()[0], "m.read");
  EXPECT_EQ(r.params.rest()[1], "$ev");
  EXPECT_EQ(t.find("GET", five).outcome, Outcome::MethodNotAllowed);
}

TEST(HsRouteTable, AnyMethod) {
  const Table t = sampleTable();
  const auto bare = segs({"pushrules"});
  for (const char* m : {"GET", "PUT", "DELETE", "PATCH"}) {
    auto r = t.find(m, bare);
    ASSERT_EQ(r.outcome, Outcome::Found) << m;
    EXPECT_EQ(*r.handler, "pushrules");
  }
  const auto deep = segs({"pushrules", "global", "override", ".m.rule.master"});
  auto r = t.find("PUT", deep);
  ASSERT_EQ(r.outcome, Outcome::Found);
  EXPECT_EQ(*r.handler, "pushrulesTail");
  EXPECT_EQ(r.params.rest().size(), 3u);
}

TEST(HsRouteTable, DifferentLengthsUnderOneFamily) {
  const Table t = sampleTable();
  const auto two = segs({"delayed_events", "syd_1"});
  EXPECT_EQ(*t.find("GET", two).handler, "delayedGet");
  EXPECT_EQ(*t.find("POST", two).handler, "delayedActionBody");
  EXPECT_EQ(t.find("DELETE", two).outcome, Outcome::MethodNotAllowed);
  const auto three = segs({"delayed_events", "syd_1", "cancel"});
  auto r = t.find("POST", three);
  ASSERT_EQ(r.outcome, Outcome::Found);
  EXPECT_EQ(r.params["delayId"], "syd_1");
  EXPECT_EQ(r.params["action"], "cancel");
  EXPECT_EQ(t.find("GET", three).outcome, Outcome::MethodNotAllowed);
}

TEST(HsRouteTable, FamiliesAreVisible) {
  const Table t = sampleTable();
  std::vector<std::string> first;
  t.forEachRoute([&](std::string_view f, const std::string&) { first.emplace_back(f); });
  ASSERT_EQ(first.size(), 11u);
  EXPECT_EQ(first[0], "sync");
  EXPECT_EQ(first[1], "rooms");
  EXPECT_EQ(first[6], "pushrules");
}

TEST(HsRequestTarget, VersionPrefixesAndDecoding) {
  for (const char* prefix : {"/_matrix/client/v3", "/_matrix/client/r0", "/_matrix/client/v1",
                             "/_matrix/client/unstable", "/_matrix/client/unstable/org.matrix.msc4140"}) {
    auto t =
        parseRequestTarget(std::string(prefix) + "/rooms/%21r%3Alocalhost/send/m.x%2Fy/t%201?since=s1_2");
    ASSERT_TRUE(t) << prefix;
    EXPECT_TRUE(t->client);
    EXPECT_FALSE(t->versions);
    EXPECT_EQ(t->segments, segs({"rooms", "!r:localhost", "send", "m.x/y", "t 1"})) << prefix;
    EXPECT_EQ(t->query.at("since"), "s1_2");
  }
  auto v = parseRequestTarget("/_matrix/client/versions");
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->versions);
  // Elsewhere, or an unknown version: not the client API (the caller answers 404).
  for (const char* other :
       {"/totally/elsewhere", "/_matrix/client/v9/sync", "/_matrix/media/v3/config", "/"}) {
    auto t = parseRequestTarget(other);
    ASSERT_TRUE(t) << other;
    EXPECT_FALSE(t->client) << other;
    EXPECT_TRUE(t->segments.empty()) << other;
  }
  // The first of a repeated query key; no more than kMaxQueryParams keys.
  auto q = parseRequestTarget("/_matrix/client/v3/sync?a=1&a=2&flag");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->query.at("a"), "1");
  EXPECT_EQ(q->query.at("flag"), "");
  std::string many = "/_matrix/client/v3/sync?";
  for (int i = 0; i < 100; ++i) many += "k" + std::to_string(i) + "=v&";
  auto m = parseRequestTarget(many);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->query.size(), kMaxQueryParams);
}

TEST(HsRequestTarget, InvalidUtf8OrNulInAnyParameterIs400InvalidParam) {
  for (const char* bad : {
           "/_matrix/client/v3/rooms/%21r%3Ax/send/%FF%FE/txn",   // event type
           "/_matrix/client/v3/rooms/%21r%3Ax/state/m.x/%C0%AF",  // overlong '/' as a state key
           "/_matrix/client/v3/profile/%ED%A0%80",                // a UTF-16 surrogate
           "/_matrix/client/v3/sendToDevice/m.x/%F4%90%80%80",    // above U+10FFFF
           "/_matrix/client/v3/join/a%00b",                       // NUL
           "/_matrix/client/v3/sync?since=%FF",                   // a query value
           "/_matrix/client/v3/sync?%FF=1",                       // a query key
           "/_matrix/client/v3/no/such/%FF",                      // also on paths no route matches
           "/elsewhere/%FF",
       }) {
    auto t = parseRequestTarget(bad);
    ASSERT_FALSE(t) << bad;
    EXPECT_EQ(t.error().status, 400) << bad;
    EXPECT_EQ(t.error().errcode, "M_INVALID_PARAM") << bad;
  }
  // Valid multi-byte UTF-8 is fine.
  auto ok = parseRequestTarget("/_matrix/client/v3/rooms/%21r%3Ax/send/m.%C3%A9%F0%9F%8E%89/txn");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->segments[3], "m.\xC3\xA9\xF0\x9F\x8E\x89");
}

TEST(HsRequestTarget, MalformedTargetIs400Unrecognized) {
  for (const char* bad : {"http://example.org/_matrix/client/v3/sync", "*", "/a b", ""}) {
    auto t = parseRequestTarget(bad);
    ASSERT_FALSE(t) << bad;
    EXPECT_EQ(t.error().status, 400) << bad;
    EXPECT_EQ(t.error().errcode, "M_UNRECOGNIZED") << bad;
  }
}

}  // namespace
}  // namespace chorus::hs
