#include "proto/member_event.hpp"

#include <algorithm>
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
using test::jsonc;
using test::jsoncObject;

// interop-matrix-js-sdk.md §2.2, observed body of PUT
// .../state/org.matrix.msc3401.call.member/@alice:localhost.
constexpr std::string_view kJsSdkMember = R"({"m.calls":[{"m.call_id":"17956739666760LZKyI8U3WWJGwLV",
  "m.devices":[{"device_id":"DLI4IAQWL6","session_id":"IdBJrrkkVz","expires_ts":1795677566918,
                "feeds":[{"purpose":"m.usermedia"}]}]}]})";

// msc3401.md §2.1, verbatim (comments and trailing commas as in the MSC).
constexpr std::string_view kMscFullExample = R"({
    "type": "m.call.member",
    "state_key": "@matthew:matrix.org",
    "content": {
        "m.calls": [
            {
                "m.call_id": "cvsiu2893",
                "m.devices": [
                    {
                        "device_id": "ASDUHDGFYUW", // Used to target to-device messages
                        "session_id": "GHKJFKLJLJ", // Used to resolve duplicate calls from a device
                        "expires_ts": 1654616071686,
                        "feeds": [
                            {
                                "purpose": "m.usermedia",
                                "id": "qegwy64121wqw", // WebRTC MediaStream id
                                "tracks": [
                                    {
                                        "kind": "audio",
                                        "id": "zvhjiwqsx", // WebRTC MediaStreamTrack id
                                        "label": "Sennheiser Mic",
                                        "settings": { // WebRTC MediaTrackSettings object
                                            "channelCount": 2,
                                            "sampleRate": 48000,
                                            "m.maxbr": 32000, // Matrix-specific extension to advertise the max bitrate of this track
                                        }
                                    },
                                    {
                                        "kind": "video",
                                        "id": "zbhsbdhzs",
                                        "label": "Logitech Webcam",
                                        "settings": {
                                            "width": 1280,
                                            "height": 720,
                                            "facingMode": "user",
                                            "frameRate": 30.0,
                                            "m.maxbr": 512000,
                                        }
                                    },
                                ],
                            },
                            {
                                "purpose": "m.screenshare",
                                "id": "suigv372y8378",
                                "tracks": [
                                    {
                                        "kind": "video",
                                        "id": "xbhsbdhzs",
                                        "label": "My Screenshare",
                                        "settings": {
                                            "width": 3072,
                                            "height": 1920,
                                            "cursor": "moving",
                                            "displaySurface": "monitor",
                                            "frameRate": 30.0,
                                            "m.maxbr": 768000,
                                        }
                                    },
                                ]
                            }
                        ]
                    }
                ]
            }
        ],
    }
})";

// msc3401.md §2.1, the minimal de-facto form.
constexpr std::string_view kMscMinimal =
    R"({ "type": "org.matrix.msc3401.call.member", "state_key": "@alice:example.org",
  "content": { "m.calls": [ { "m.call_id": "1670000000000abcdefghijklmnop",
      "m.devices": [ { "device_id": "ABCDEFGH", "session_id": "x7Hd9Kq2Lm",
                       "expires_ts": 1670003600000,
                       "feeds": [ { "purpose": "m.usermedia" } ] } ] } ] } })";

// msc3401.md §4.2 (MSC3898), verbatim: the device has no session_id/expires_ts/feeds and a root m.expires_ts.
constexpr std::string_view kMsc3898Example = R"({
    "type": "m.call.member",
    "state_key": "@matthew:matrix.org",
    "content": {
        "m.calls": [
            {
                "m.call_id": "cvsiu2893",
                "m.devices": [{
                    "device_id": "U738KDF9WJ",
                    "m.foci.active": [
                        { "user_id": "@sfu-lon:matrix.org", "device_id": "FS5F589EF" }
                    ],
                    "m.foci.preferred": [
                        { "user_id": "@sfu-bon:matrix.org", "device_id": "3FSF589EF" },
                        { "user_id": "@sfu-mon:matrix.org", "device_id": "GFSDH93EF" },
                    ]
                }]
            }
        ],
        "m.expires_ts":  1654616071686
    }
})";

json::object memberRoundTrip(std::string_view user, const json::object& content) {
  auto first = parseCallMemberEvent(user, content);
  EXPECT_TRUE(first) << first.error().message;
  if (!first) return {};
  json::object wire = serializeCallMemberEvent(*first);
  auto reparsed_obj = parseJsonObject(dump(wire));
  EXPECT_TRUE(reparsed_obj);
  auto second = parseCallMemberEvent(user, *reparsed_obj);
  EXPECT_TRUE(second) << second.error().message;
  if (second) {
    EXPECT_EQ(*first, *second) << dump(wire);
  }
  return wire;
}

TEST(MemberEventTest, JsSdkBody) {
  auto content = parseJsonObject(kJsSdkMember);
  ASSERT_TRUE(content);
  auto ev = parseCallMemberEvent("@alice:localhost", *content);
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_EQ(ev->user_id, "@alice:localhost");
  ASSERT_EQ(ev->calls.size(), 1u);
  const MemberCall* call = ev->findCall("17956739666760LZKyI8U3WWJGwLV");
  ASSERT_NE(call, nullptr);
  EXPECT_EQ(ev->findCall("other"), nullptr);
  ASSERT_EQ(call->devices.size(), 1u);
  EXPECT_TRUE(call->invalid_devices.empty());
  const MemberDevice& d = call->devices[0];
  EXPECT_EQ(d.device_id, "DLI4IAQWL6");
  EXPECT_EQ(d.session_id, "IdBJrrkkVz");
  EXPECT_EQ(d.expires_ts, 1795677566918);
  ASSERT_EQ(d.feeds.size(), 1u);
  EXPECT_EQ(d.feeds[0].purpose, kPurposeUserMedia);
  EXPECT_FALSE(d.feeds[0].id);
  EXPECT_FALSE(d.feeds[0].tracks);
  EXPECT_TRUE(d.foci_active.empty());

  // What we write is what the SDK wrote, so the SDK's reader (string ids, numeric expires_ts, array feeds)
  // accepts it.
  EXPECT_EQ(memberRoundTrip("@alice:localhost", *content), *content);
}

TEST(MemberEventTest, MscFullExampleKeepsFeedDetails) {
  json::object content = contentOf(kMscFullExample);
  auto ev = parseCallMemberEvent("@matthew:matrix.org", content);
  ASSERT_TRUE(ev);
  ASSERT_EQ(ev->calls.size(), 1u);
  ASSERT_EQ(ev->calls[0].devices.size(), 1u);
  const MemberDevice& d = ev->calls[0].devices[0];
  ASSERT_EQ(d.feeds.size(), 2u);
  EXPECT_EQ(d.feeds[0].id, "qegwy64121wqw");
  ASSERT_TRUE(d.feeds[0].tracks);
  EXPECT_EQ(d.feeds[0].tracks->size(), 2u);
  EXPECT_EQ(d.feeds[1].purpose, kPurposeScreenshare);
  EXPECT_EQ(memberRoundTrip("@matthew:matrix.org", content), content);
}

TEST(MemberEventTest, MscMinimalExample) {
  json::object content = contentOf(kMscMinimal);
  auto ev = parseCallMemberEvent("@alice:example.org", content);
  ASSERT_TRUE(ev);
  ASSERT_NE(ev->findCall("1670000000000abcdefghijklmnop"), nullptr);
  EXPECT_EQ(ev->calls[0].devices.at(0).expires_ts, 1670003600000);
  EXPECT_EQ(memberRoundTrip("@alice:example.org", content), content);
}

TEST(MemberEventTest, Msc3898ExampleDeviceIsInvalidButKept) {
  json::object content = contentOf(kMsc3898Example);
  auto ev = parseCallMemberEvent("@matthew:matrix.org", content);
  ASSERT_TRUE(ev);
  ASSERT_EQ(ev->calls.size(), 1u);
  const MemberCall& call = ev->calls[0];
  EXPECT_TRUE(call.devices.empty());
  ASSERT_EQ(call.invalid_devices.size(), 1u);
  ASSERT_EQ(call.invalid_reasons.size(), 1u);
  EXPECT_EQ(call.invalid_reasons[0], "session_id: required field missing");
  // Legacy root m.expires_ts is tolerated and preserved.
  EXPECT_EQ(ev->extra.at("m.expires_ts").as_int64(), 1654616071686);
  EXPECT_EQ(memberRoundTrip("@matthew:matrix.org", content), content);
}

TEST(MemberEventTest, FociStablePrefixReadUnstableWritten) {
  json::object content = jsoncObject(R"({"m.calls":[{"m.call_id":"c1","m.devices":[{
      "device_id":"U738KDF9WJ","session_id":"s1","expires_ts":1700000000000,"feeds":[],
      "m.foci.active":[{"user_id":"@sfu-lon:matrix.org","device_id":"FS5F589EF"}],
      "m.foci.preferred":[{"user_id":"@sfu-bon:matrix.org","device_id":"3FSF589EF"},
                          {"user_id":"@sfu-mon:matrix.org","device_id":"GFSDH93EF"}]}]}]})");
  auto ev = parseCallMemberEvent("@matthew:matrix.org", content);
  ASSERT_TRUE(ev);
  const MemberDevice& d = ev->calls.at(0).devices.at(0);
  ASSERT_EQ(d.foci_active.size(), 1u);
  EXPECT_EQ(d.foci_active[0], (FocusInfo{"@sfu-lon:matrix.org", "FS5F589EF"}));
  ASSERT_EQ(d.foci_preferred.size(), 2u);
  EXPECT_EQ(d.foci_preferred[1], (FocusInfo{"@sfu-mon:matrix.org", "GFSDH93EF"}));
  EXPECT_TRUE(d.extra.empty());

  json::object wire = memberRoundTrip("@matthew:matrix.org", content);
  const json::object& dev =
      wire.at("m.calls").as_array()[0].as_object().at("m.devices").as_array()[0].as_object();
  EXPECT_TRUE(dev.contains(kFociActiveKey));
  EXPECT_TRUE(dev.contains(kFociPreferredKey));
  EXPECT_FALSE(dev.contains(kFociActiveKeyStable));
  EXPECT_FALSE(dev.contains(kFociPreferredKeyStable));
  EXPECT_EQ(dev.at(kFociActiveKey), jsonc(R"([{"user_id":"@sfu-lon:matrix.org","device_id":"FS5F589EF"}])"));
}

TEST(MemberEventTest, FociUnstablePrefixAsJsSdkSfuWritesIt) {
  json::object content = jsoncObject(R"({"m.calls":[{"m.call_id":"c1","m.devices":[{
      "device_id":"DEV","session_id":"s1","expires_ts":1700000000000,"feeds":[{"purpose":"m.usermedia"}],
      "org.matrix.msc3898.foci.active":[{"user_id":"@sfu:example.org","device_id":"SFUDEV"}],
      "org.matrix.msc3898.foci.preferred":[],
      "m.foci.active":[{"user_id":"@ignored:example.org","device_id":"X"}]}]}]})");
  auto ev = parseCallMemberEvent("@a:example.org", content);
  ASSERT_TRUE(ev);
  const MemberDevice& d = ev->calls.at(0).devices.at(0);
  // The unstable key wins when both are present.
  ASSERT_EQ(d.foci_active.size(), 1u);
  EXPECT_EQ(d.foci_active[0].user_id, "@sfu:example.org");
  EXPECT_TRUE(d.foci_preferred.empty());
  memberRoundTrip("@a:example.org", content);
}

TEST(MemberEventTest, InvalidFocusEntriesSkipped) {
  json::object content = jsoncObject(R"({"m.calls":[{"m.call_id":"c1","m.devices":[{
      "device_id":"DEV","session_id":"s1","expires_ts":1,"feeds":[],
      "org.matrix.msc3898.foci.active":[{"user_id":5,"device_id":"X"}, "junk", {"user_id":"@f:x","device_id":"F"}]}]}]})");
  auto ev = parseCallMemberEvent("@a:x", content);
  ASSERT_TRUE(ev);
  const MemberDevice& d = ev->calls.at(0).devices.at(0);
  ASSERT_EQ(d.foci_active.size(), 1u);
  EXPECT_EQ(d.foci_active[0], (FocusInfo{"@f:x", "F"}));
  memberRoundTrip("@a:x", content);
}

TEST(MemberEventTest, NonArrayCallsIsEmpty) {
  for (const char* text : {R"({"m.calls":{}})", R"({"m.calls":"x"})", R"({"m.calls":null})", R"({})"}) {
    auto content = parseJsonObject(text);
    ASSERT_TRUE(content);
    auto ev = parseCallMemberEvent("@a:x", *content);
    ASSERT_TRUE(ev) << text;
    EXPECT_TRUE(ev->calls.empty()) << text;
    EXPECT_TRUE(ev->invalid_calls.empty()) << text;
    EXPECT_EQ(serializeCallMemberEvent(*ev), jsoncObject(R"({"m.calls":[]})")) << text;
  }
}

TEST(MemberEventTest, LeavingWritesEmptyCalls) {
  // interop-matrix-js-sdk.md §2.2: leaving with a single device is {"m.calls":[]}.
  auto ev = parseCallMemberEvent("@carol:localhost", jsoncObject(R"({"m.calls":[]})"));
  ASSERT_TRUE(ev);
  EXPECT_TRUE(ev->calls.empty());
  EXPECT_EQ(dump(serializeCallMemberEvent(*ev)), R"({"m.calls":[]})");
}

TEST(MemberEventTest, InvalidDevicesKeptWithReasons) {
  json::object content = jsoncObject(R"({"m.calls":[{"m.call_id":"c1","m.devices":[
      {"device_id":"GOOD","session_id":"s","expires_ts":1700000000000,"feeds":[]},
      {"device_id":42,"session_id":"s","expires_ts":1,"feeds":[]},
      {"device_id":"D","session_id":"s","expires_ts":"soon","feeds":[]},
      {"device_id":"D","session_id":"s","expires_ts":1.5,"feeds":[]},
      {"device_id":"D","session_id":"s","feeds":[]},
      {"device_id":"D","session_id":"s","expires_ts":1,"feeds":{}},
      {"device_id":"D","session_id":"s","expires_ts":1,"feeds":[{"id":"no-purpose"}]},
      {"device_id":"D","session_id":"s","expires_ts":1,"feeds":["x"]},
      "not an object"
  ]}]})");
  auto ev = parseCallMemberEvent("@a:x", content);
  ASSERT_TRUE(ev);
  const MemberCall& call = ev->calls.at(0);
  ASSERT_EQ(call.devices.size(), 1u);
  EXPECT_EQ(call.devices[0].device_id, "GOOD");
  ASSERT_EQ(call.invalid_devices.size(), 8u);
  EXPECT_EQ(call.invalid_reasons, (std::vector<std::string>{
                                      "device_id: expected a string",
                                      "expires_ts: expected an integer",
                                      "expires_ts: expected an integer",
                                      "expires_ts: required field missing",
                                      "feeds: expected an array",
                                      "feeds[0].purpose: required field missing",
                                      "feeds[0]: expected an object",
                                      "device entry: expected an object",
                                  }));
  // A rewrite keeps every entry verbatim.
  json::object wire = memberRoundTrip("@a:x", content);
  const json::array& devices = wire.at("m.calls").as_array()[0].as_object().at("m.devices").as_array();
  ASSERT_EQ(devices.size(), 9u);
  for (const auto& bad : call.invalid_devices) {
    EXPECT_NE(std::find(devices.begin(), devices.end(), bad), devices.end()) << dump(bad);
  }
}

TEST(MemberEventTest, JsNumberExpiresTsAccepted) {
  // JS may serialise an integral timestamp as 1.7e12.
  auto content = parseJsonObject(
      R"({"m.calls":[{"m.call_id":"c","m.devices":[{"device_id":"D","session_id":"s","expires_ts":1.7e12,"feeds":[]}]}]})");
  ASSERT_TRUE(content);
  auto ev = parseCallMemberEvent("@a:x", *content);
  ASSERT_TRUE(ev);
  ASSERT_EQ(ev->calls.at(0).devices.size(), 1u);
  EXPECT_EQ(ev->calls[0].devices[0].expires_ts, 1700000000000);
}

TEST(MemberEventTest, InvalidCallsKept) {
  json::object content = jsoncObject(R"({"m.calls":[5, {"m.devices":[]}, {"m.call_id":7},
      {"m.call_id":"ok","m.devices":"nope","x-custom":1}], "m.expires_ts": 3})");
  auto ev = parseCallMemberEvent("@a:x", content);
  ASSERT_TRUE(ev);
  ASSERT_EQ(ev->calls.size(), 1u);
  EXPECT_EQ(ev->calls[0].call_id, "ok");
  EXPECT_TRUE(ev->calls[0].devices.empty());  // non-array m.devices counts as none
  EXPECT_EQ(ev->calls[0].extra.at("x-custom").as_int64(), 1);
  EXPECT_EQ(ev->invalid_calls.size(), 3u);
  json::object wire = memberRoundTrip("@a:x", content);
  EXPECT_EQ(wire.at("m.calls").as_array().size(), 4u);
  EXPECT_EQ(wire.at("m.expires_ts").as_int64(), 3);
}

TEST(MemberEventTest, RewriteOwnDeviceKeepsOthers) {
  // Read-modify-write (msc3401.md §2.4): replace our own entry, leave the other device and the other call
  // alone.
  json::object content = jsoncObject(R"({"m.calls":[
      {"m.call_id":"c1","m.devices":[
          {"device_id":"MINE","session_id":"old","expires_ts":100,"feeds":[{"purpose":"m.usermedia"}]},
          {"device_id":"PHONE","session_id":"p","expires_ts":200,"feeds":[{"purpose":"m.usermedia"}],"x.extra":true}]},
      {"m.call_id":"c2","m.devices":[{"device_id":"MINE","session_id":"z","expires_ts":300,"feeds":[]}]}]})");
  auto ev = parseCallMemberEvent("@a:x", content);
  ASSERT_TRUE(ev);
  MemberCall* call = ev->findCall("c1");
  ASSERT_NE(call, nullptr);
  std::erase_if(call->devices, [](const MemberDevice& d) { return d.device_id == "MINE"; });
  MemberDevice mine;
  mine.device_id = "MINE";
  mine.session_id = "new";
  mine.expires_ts = 3700000;
  mine.feeds.push_back(Feed{std::string(kPurposeUserMedia), std::nullopt, std::nullopt, {}});
  mine.foci_active.push_back(FocusInfo{"@sfu:x", "SFU"});
  call->devices.push_back(mine);

  json::object wire = serializeCallMemberEvent(*ev);
  EXPECT_EQ(wire, jsoncObject(R"({"m.calls":[
      {"m.call_id":"c1","m.devices":[
          {"device_id":"PHONE","session_id":"p","expires_ts":200,"feeds":[{"purpose":"m.usermedia"}],"x.extra":true},
          {"device_id":"MINE","session_id":"new","expires_ts":3700000,"feeds":[{"purpose":"m.usermedia"}],
           "org.matrix.msc3898.foci.active":[{"user_id":"@sfu:x","device_id":"SFU"}]}]},
      {"m.call_id":"c2","m.devices":[{"device_id":"MINE","session_id":"z","expires_ts":300,"feeds":[]}]}]})"))
      << dump(wire);
}

TEST(MemberEventTest, ParseMemberDeviceDirect) {
  auto d = parseMemberDevice(jsonc(R"({"device_id":"D","session_id":"S","expires_ts":5,"feeds":[]})"));
  ASSERT_TRUE(d);
  EXPECT_EQ(serializeMemberDevice(*d),
            jsoncObject(R"({"device_id":"D","session_id":"S","expires_ts":5,"feeds":[]})"));
  EXPECT_FALSE(parseMemberDevice(json::value(nullptr)));
  EXPECT_EQ(parseMemberDevice(jsonc("[]")).error().message, "device entry: expected an object");
}

TEST(MemberEventTest, NonFiniteNumbersFromOtherParsersAreNotReEmitted) {
  // Content that did not come through parseJsonObject (e.g. a sync response parsed elsewhere) may hold
  // Infinity.
  const double inf = std::numeric_limits<double>::infinity();
  json::object content{
      {"m.calls", json::array{json::object{
                      {"m.call_id", "c"},
                      {"m.devices", json::array{json::object{{"device_id", "D"},
                                                             {"session_id", "s"},
                                                             {"expires_ts", 5},
                                                             {"feeds", json::array{}},
                                                             {"x.weird", inf}},
                                                json::object{{"device_id", "E"}, {"expires_ts", inf}}}},
                  }}},
      {"top", json::array{-inf}}};
  auto ev = parseCallMemberEvent("@a:x", content);
  ASSERT_TRUE(ev);
  const MemberCall& call = ev->calls.at(0);
  ASSERT_EQ(call.devices.size(), 1u);
  EXPECT_TRUE(call.devices[0].extra.at("x.weird").is_null());
  ASSERT_EQ(call.invalid_devices.size(), 1u);
  const std::string text = dump(serializeCallMemberEvent(*ev));
  EXPECT_EQ(text.find("Infinity"), std::string::npos) << text;
  EXPECT_TRUE(parseJsonObject(text)) << text;
}

TEST(MemberEventTest, EventTypeNames) {
  EXPECT_TRUE(isCallMemberEventType("org.matrix.msc3401.call.member"));
  EXPECT_TRUE(isCallMemberEventType("m.call.member"));
  EXPECT_FALSE(isCallMemberEventType("org.matrix.msc3401.call"));
}

}  // namespace
}  // namespace chorus::proto
