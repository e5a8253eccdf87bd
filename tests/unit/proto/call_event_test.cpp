#include "proto/call_event.hpp"

#include <limits>

#include <gtest/gtest.h>

#include "proto/event_types.hpp"
#include "proto/json_util.hpp"
#include "test_json.hpp"

namespace chorus::proto {
namespace {

namespace json = boost::json;
using test::contentOf;
using test::dump;
using test::jsoncObject;

// interop-matrix-js-sdk.md §2.1: the observed PUT
// .../state/org.matrix.msc3401.call/17956739666760LZKyI8U3WWJGwLV.
constexpr std::string_view kJsSdkCallId = "17956739666760LZKyI8U3WWJGwLV";
constexpr std::string_view kJsSdkCallBody =
    R"({"m.intent":"m.prompt","m.type":"m.video","io.element.ptt":false,"dataChannelsEnabled":false})";

// msc3401.md §1.1, verbatim.
constexpr std::string_view kMscExample = R"({
    "type": "m.call",
    "state_key": "cvsiu2893",
    "content": {
        "m.intent": "m.room",
        "m.type": "m.voice",
        "m.name": "Voice room"
    }
})";

// Parse -> serialise -> parse; both parses must agree. Returns the serialised form.
json::object callEventRoundTrip(std::string_view state_key, const json::object& content) {
  auto first = parseCallEvent(state_key, content);
  EXPECT_TRUE(first) << first.error().message;
  if (!first) return {};
  json::object wire = serializeCallEvent(*first);
  // Through text too, as it goes over HTTP.
  auto reparsed_obj = parseJsonObject(dump(wire));
  EXPECT_TRUE(reparsed_obj);
  auto second = parseCallEvent(state_key, *reparsed_obj);
  EXPECT_TRUE(second) << second.error().message;
  if (second) {
    EXPECT_EQ(*first, *second) << dump(wire);
  }
  return wire;
}

TEST(CallEventTest, JsSdkCreateBody) {
  auto content = parseJsonObject(kJsSdkCallBody);
  ASSERT_TRUE(content);
  auto ev = parseCallEvent(kJsSdkCallId, *content);
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_EQ(ev->call_id, kJsSdkCallId);
  EXPECT_EQ(ev->intent, CallIntent::Prompt);
  EXPECT_EQ(ev->type, CallType::Video);
  EXPECT_FALSE(ev->name);
  EXPECT_FALSE(ev->terminated);
  EXPECT_EQ(ev->extra.size(), 2u);
  EXPECT_EQ(ev->extra.at("io.element.ptt"), json::value(false));

  // Re-emitted exactly as the SDK wrote it.
  json::object wire = callEventRoundTrip(kJsSdkCallId, *content);
  EXPECT_EQ(wire, *content) << dump(wire);
}

TEST(CallEventTest, MscExample) {
  json::object content = contentOf(kMscExample);
  auto ev = parseCallEvent("cvsiu2893", content);
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_EQ(ev->intent, CallIntent::Room);
  EXPECT_EQ(ev->type, CallType::Voice);
  EXPECT_EQ(ev->name, "Voice room");
  EXPECT_TRUE(ev->extra.empty());
  EXPECT_EQ(callEventRoundTrip("cvsiu2893", content), content);
}

TEST(CallEventTest, PreSplitFociKeyIsPreserved) {
  // msc3401.md §1.2: the obsolete m.foci key is ignored but kept on rewrite.
  json::object content = jsoncObject(R"({ "m.intent": "m.room", "m.type": "m.voice", "m.name": "Voice room",
               "m.foci": ["@sfu-lon:matrix.org", "@sfu-nyc:matrix.org"] })");
  auto ev = parseCallEvent("cvsiu2893", content);
  ASSERT_TRUE(ev);
  EXPECT_TRUE(ev->extra.contains("m.foci"));
  EXPECT_EQ(callEventRoundTrip("cvsiu2893", content), content);
}

TEST(CallEventTest, TerminateKeepsOtherKeys) {
  auto content = parseJsonObject(kJsSdkCallBody);
  ASSERT_TRUE(content);
  auto ev = parseCallEvent(kJsSdkCallId, *content);
  ASSERT_TRUE(ev);
  CallEvent ended = terminatedCopy(*ev);
  EXPECT_TRUE(ended.terminated);
  json::object wire = serializeCallEvent(ended);
  // js-sdk terminate(): {...existingContent, "m.terminated": "call_ended"}.
  json::object expected = *content;
  expected["m.terminated"] = "call_ended";
  EXPECT_EQ(wire, expected) << dump(wire);
  auto back = parseCallEvent(kJsSdkCallId, wire);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->terminated);
  EXPECT_EQ(*back, ended);
}

TEST(CallEventTest, TerminatedValues) {
  struct Case {
    const char* value;
    bool terminated;
  };
  for (const Case& c :
       {Case{R"("call_ended")", true}, Case{"true", true}, Case{R"("")", false}, Case{"false", false},
        Case{"null", false}, Case{"0", false}, Case{"1", true}, Case{"{}", true}}) {
    std::string text =
        std::string(R"({"m.intent":"m.room","m.type":"m.voice","m.terminated":)") + c.value + "}";
    auto content = parseJsonObject(text);
    ASSERT_TRUE(content) << text;
    auto ev = parseCallEvent("c", *content);
    ASSERT_TRUE(ev) << text;
    EXPECT_EQ(ev->terminated, c.terminated) << text;
    // The raw value is re-emitted as read.
    EXPECT_EQ(callEventRoundTrip("c", *content), *content) << text;
  }
}

TEST(CallEventTest, HydrogenTerminatedTrueIsReEmitted) {
  auto content = parseJsonObject(R"({"m.intent":"m.ring","m.type":"m.voice","m.terminated":true})");
  ASSERT_TRUE(content);
  auto ev = parseCallEvent("conf-0123456789abcd", *content);
  ASSERT_TRUE(ev);
  EXPECT_TRUE(ev->terminated);
  EXPECT_EQ(ev->intent, CallIntent::Ring);
  EXPECT_EQ(serializeCallEvent(*ev).at("m.terminated"), json::value(true));
}

TEST(CallEventTest, UnterminatingDropsTruthyValue) {
  auto content = parseJsonObject(R"({"m.intent":"m.room","m.type":"m.voice","m.terminated":"call_ended"})");
  ASSERT_TRUE(content);
  auto ev = parseCallEvent("c", *content);
  ASSERT_TRUE(ev);
  ev->terminated = false;
  EXPECT_FALSE(serializeCallEvent(*ev).contains("m.terminated"));
  // And terminating a fresh event writes "call_ended".
  CallEvent fresh;
  fresh.terminated = true;
  EXPECT_EQ(serializeCallEvent(fresh).at("m.terminated"), json::value("call_ended"));
}

TEST(CallEventTest, RejectsUnknownIntentWithFieldName) {
  auto content = parseJsonObject(R"({"m.intent":"m.conference","m.type":"m.video"})");
  ASSERT_TRUE(content);
  auto ev = parseCallEvent("c", *content);
  ASSERT_FALSE(ev);
  EXPECT_EQ(ev.error().code, Code::InvalidArgument);
  EXPECT_EQ(ev.error().message.rfind("m.intent: unknown value \"m.conference\"", 0), 0u)
      << ev.error().message;
}

TEST(CallEventTest, RejectsBadType) {
  auto content = parseJsonObject(R"({"m.intent":"m.prompt","m.type":"m.screen"})");
  ASSERT_TRUE(content);
  auto ev = parseCallEvent("c", *content);
  ASSERT_FALSE(ev);
  EXPECT_EQ(ev.error().message.rfind("m.type: unknown value \"m.screen\"", 0), 0u) << ev.error().message;
}

TEST(CallEventTest, RequiresIntentAndType) {
  auto no_intent = parseCallEvent("c", json::object{{"m.type", "m.video"}});
  ASSERT_FALSE(no_intent);
  EXPECT_EQ(no_intent.error().message, "m.intent: required field missing");
  auto no_type = parseCallEvent("c", json::object{{"m.intent", "m.ring"}});
  ASSERT_FALSE(no_type);
  EXPECT_EQ(no_type.error().message, "m.type: required field missing");
  auto number_type = parseCallEvent("c", json::object{{"m.intent", "m.ring"}, {"m.type", 3}});
  ASSERT_FALSE(number_type);
  EXPECT_EQ(number_type.error().message, "m.type: expected a string");
}

TEST(CallEventTest, NonStringNameIsKeptButNotUsed) {
  json::object content{{"m.intent", "m.room"}, {"m.type", "m.voice"}, {"m.name", 42}};
  auto ev = parseCallEvent("c", content);
  ASSERT_TRUE(ev);
  EXPECT_FALSE(ev->name);
  EXPECT_EQ(callEventRoundTrip("c", content), content);
}

TEST(CallEventTest, NonFiniteValuesBecomeNull) {
  json::object content{{"m.intent", "m.room"},
                       {"m.type", "m.voice"},
                       {"m.terminated", std::numeric_limits<double>::infinity()},
                       {"x", json::array{std::numeric_limits<double>::infinity()}}};
  auto ev = parseCallEvent("c", content);
  ASSERT_TRUE(ev);
  EXPECT_FALSE(ev->terminated);  // null after sanitising
  EXPECT_TRUE(parseJsonObject(dump(serializeCallEvent(*ev))));
}

TEST(CallEventTest, EnumNames) {
  for (auto i : {CallIntent::Ring, CallIntent::Prompt, CallIntent::Room})
    EXPECT_EQ(parseCallIntent(toString(i)), i);
  for (auto t : {CallType::Voice, CallType::Video}) EXPECT_EQ(parseCallType(toString(t)), t);
  EXPECT_EQ(toString(CallIntent::Ring), "m.ring");
  EXPECT_EQ(toString(CallType::Voice), "m.voice");
  EXPECT_FALSE(parseCallIntent("m.immersive"));
  EXPECT_TRUE(isCallEventType(kCallEventType));
  EXPECT_TRUE(isCallEventType("m.call"));
  EXPECT_FALSE(isCallEventType("m.call.member"));
}

}  // namespace
}  // namespace chorus::proto
