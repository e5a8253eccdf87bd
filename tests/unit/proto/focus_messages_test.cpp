#include "proto/focus_messages.hpp"

#include <string>

#include <gtest/gtest.h>

#include "proto/json_util.hpp"
#include "test_json.hpp"

namespace chorus::proto {
namespace {

namespace json = boost::json;
using test::escapedSdp;
using test::sampleSdp;

// msc3401.md §4.2 (MSC3898), verbatim.
constexpr std::string_view kMscTrackSubscription = R"({
    "type": "m.call.track_subscription",
    "content": {
        "subscribe": [
            { "stream_id": "streamId1", "track_id": "trackId1", "width": 1920, "height": 1080 },
            { "stream_id": "streamId2", "track_id": "trackId2", "width": 256, "height": 144 }
        ],
        "unsubscribe": [
            { "stream_id": "streamId3", "track_id": "trackId4" },
            { "stream_id": "streamId4", "track_id": "trackId4" }
        ]
    }
})";

// js-sdk-sfu style metadata (interop-matrix-js-sdk.md §2.7) on the DC, stable key.
const std::string kFocusMetadata = R"({"streamId1":{"user_id":"@alice:example.org","device_id":"ALICEDEV",
    "purpose":"m.usermedia","audio_muted":false,"video_muted":true,
    "tracks":{"trackId1":{"kind":"video","width":1920,"height":1080},"trackId2":{"kind":"audio"}}}})";

FocusMessage roundTrip(std::string_view text) {
  auto first = parseFocusMessage(text);
  EXPECT_TRUE(first) << first.error().message << "\n" << text;
  if (!first) return {};
  std::string wire = serializeFocusMessage(*first);
  auto second = parseFocusMessage(wire);
  EXPECT_TRUE(second) << second.error().message << "\n" << wire;
  if (second) {
    EXPECT_EQ(*first, *second) << wire;
  }
  return *first;
}

json::value wireJson(const FocusMessage& m) {
  return json::parse(serializeFocusMessage(m));
}

TEST(FocusMessagesTest, MscTrackSubscription) {
  FocusMessage m = roundTrip(kMscTrackSubscription);
  EXPECT_EQ(m.type, FocusMessageType::TrackSubscription);
  ASSERT_EQ(m.subscribe.size(), 2u);
  EXPECT_EQ(m.subscribe[0], (TrackRef{"streamId1", "trackId1", 1920, 1080}));
  EXPECT_EQ(m.subscribe[1], (TrackRef{"streamId2", "trackId2", 256, 144}));
  ASSERT_EQ(m.unsubscribe.size(), 2u);
  EXPECT_EQ(m.unsubscribe[1], (TrackRef{"streamId4", "trackId4", std::nullopt, std::nullopt}));
  // Exactly the MSC's JSON back.
  EXPECT_EQ(wireJson(m), json::parse(kMscTrackSubscription));
}

TEST(FocusMessagesTest, MscNegotiate) {
  const std::string text = R"({ "type": "m.call.negotiate",
  "content": { "description": { "type": "offer", "sdp": "..." }, "sdp_stream_metadata": { } } })";
  FocusMessage m = roundTrip(text);
  EXPECT_EQ(m.type, FocusMessageType::Negotiate);
  EXPECT_EQ(m.description, (SessionDescription{"offer", "..."}));
  ASSERT_TRUE(m.metadata);
  EXPECT_TRUE(m.metadata->empty());
  EXPECT_EQ(wireJson(m), json::parse(text));
}

TEST(FocusMessagesTest, NegotiateWithFocusMetadata) {
  const std::string text = R"({"type":"m.call.negotiate","content":{"description":{"type":"answer","sdp":)" +
                           escapedSdp("answer") + R"(},"sdp_stream_metadata":)" + kFocusMetadata + "}}";
  FocusMessage m = roundTrip(text);
  EXPECT_EQ(m.description->sdp, sampleSdp("answer"));
  const StreamMetadata& s = m.metadata->at("streamId1");
  EXPECT_EQ(s.user_id, "@alice:example.org");
  EXPECT_EQ(s.tracks.at("trackId2").kind, "audio");
  // DC messages use the stable key (not the msc3077 one).
  EXPECT_EQ(wireJson(m), json::parse(text));
}

TEST(FocusMessagesTest, MetadataChanged) {
  const std::string text =
      R"({"type":"m.call.sdp_stream_metadata_changed","content":{"sdp_stream_metadata":)" + kFocusMetadata +
      "}}";
  FocusMessage m = roundTrip(text);
  EXPECT_EQ(m.type, FocusMessageType::SdpStreamMetadataChanged);
  EXPECT_TRUE(m.metadata->at("streamId1").video_muted);
  EXPECT_EQ(wireJson(m), json::parse(text));
}

TEST(FocusMessagesTest, MetadataDeltaIsMarked) {
  const std::string text =
      R"({"type":"m.call.sdp_stream_metadata_changed","content":{"sdp_stream_metadata":)" + kFocusMetadata +
      R"(,"org.chorus.metadata_delta":true}})";
  FocusMessage m = roundTrip(text);
  EXPECT_TRUE(m.metadata_delta);
  EXPECT_EQ(wireJson(m), json::parse(text));
  // Streams that went away ride with a delta.
  const std::string removed =
      R"({"type":"m.call.sdp_stream_metadata_changed","content":{"sdp_stream_metadata":{},"org.chorus.metadata_delta":true,"org.chorus.removed_streams":["a","b"]}})";
  FocusMessage r = roundTrip(removed);
  EXPECT_EQ(r.removed_streams, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(wireJson(r), json::parse(removed));
  EXPECT_FALSE(parseFocusMessage(
      R"({"type":"m.call.sdp_stream_metadata_changed","content":{"sdp_stream_metadata":{},"org.chorus.metadata_delta":true,"org.chorus.removed_streams":[1]}})"));
  EXPECT_FALSE(parseFocusMessage(
      R"({"type":"m.call.sdp_stream_metadata_changed","content":{"sdp_stream_metadata":{},"org.chorus.metadata_delta":true,"org.chorus.removed_streams":"a"}})"));
  // Absent, or anything but true: the whole metadata (and the key is not written).
  for (const char* v : {"false", "1", "\"yes\""}) {
    auto other = parseFocusMessage(
        R"({"type":"m.call.sdp_stream_metadata_changed","content":{"sdp_stream_metadata":{},"org.chorus.metadata_delta":)" +
        std::string(v) + "}}");
    ASSERT_TRUE(other) << v;
    EXPECT_FALSE(other->metadata_delta) << v;
    EXPECT_EQ(json::parse(serializeFocusMessage(*other))
                  .at("content")
                  .as_object()
                  .count("org.chorus.metadata_delta"),
              0u);
  }
}

TEST(FocusMessagesTest, AudioSlotsNameWhoIsOnEachSlot) {
  const std::string text =
      R"({"type":"org.chorus.audio_slots","content":{"slots":[{"slot":"chorus-slot-0","user_id":"@a:hs","device_id":"DA","stream_id":"sa","track_id":"ta"},{"slot":"chorus-slot-1"}]}})";
  FocusMessage m = roundTrip(text);
  EXPECT_EQ(m.type, FocusMessageType::AudioSlots);
  ASSERT_EQ(m.audio_slots.size(), 2u);
  EXPECT_EQ(m.audio_slots[0], (AudioSlotSpeaker{"chorus-slot-0", "@a:hs", "DA", "sa", "ta"}));
  EXPECT_EQ(m.audio_slots[1], (AudioSlotSpeaker{"chorus-slot-1", "", "", "", ""}));  // nobody on it
  EXPECT_EQ(wireJson(m), json::parse(text));
  EXPECT_EQ(toString(FocusMessageType::AudioSlots), "org.chorus.audio_slots");
  // Malformed: no list, an entry without its slot, a non-string field.
  for (const char* bad :
       {R"({"type":"org.chorus.audio_slots","content":{}})",
        R"({"type":"org.chorus.audio_slots","content":{"slots":{}}})",
        R"({"type":"org.chorus.audio_slots","content":{"slots":[{"user_id":"@a:hs"}]}})",
        R"({"type":"org.chorus.audio_slots","content":{"slots":[{"slot":"s","user_id":7}]}})",
        R"({"type":"org.chorus.audio_slots","content":{"slots":[1]}})"}) {
    EXPECT_FALSE(parseFocusMessage(bad)) << bad;
  }
  std::string many = R"({"type":"org.chorus.audio_slots","content":{"slots":[)";
  for (std::size_t i = 0; i <= kMaxTrackRefs; ++i) many += std::string(i ? "," : "") + R"({"slot":"s"})";
  EXPECT_FALSE(parseFocusMessage(many + "]}}"));
}

TEST(FocusMessagesTest, MetadataChangedUnstableKeyAccepted) {
  const std::string text =
      R"({"type":"m.call.sdp_stream_metadata_changed","content":{"org.matrix.msc3077.sdp_stream_metadata":{"s":{"purpose":"m.usermedia"}}}})";
  auto m = parseFocusMessage(text);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_TRUE(m->metadata->contains("s"));
  EXPECT_EQ(json::parse(serializeFocusMessage(*m)).at("content").as_object().count("sdp_stream_metadata"),
            1u);
}

// The focus marks a stream whose video it paused for the receiver's downlink; a participant cannot claim it.
TEST(FocusMessagesTest, VideoPausedIsWrittenNotRead) {
  FocusMessage m;
  m.type = FocusMessageType::SdpStreamMetadataChanged;
  StreamMetadata paused;
  paused.purpose = "m.usermedia";
  paused.video_muted = true;
  paused.video_paused = true;
  StreamMetadata plain;
  plain.purpose = "m.usermedia";
  m.metadata = SdpStreamMetadata{{"p", paused}, {"q", plain}};
  const json::value wire = json::parse(serializeFocusMessage(m));
  const auto& md = wire.at("content").at("sdp_stream_metadata").as_object();
  EXPECT_EQ(md.at("p").at("org.chorus.video_paused"), true);
  EXPECT_TRUE(md.at("p").at("video_muted").as_bool());
  EXPECT_FALSE(md.at("q").as_object().contains("org.chorus.video_paused"));
  auto back = parseFocusMessage(serializeFocusMessage(m));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_FALSE(back->metadata->at("p").video_paused);  // never read from the wire
  EXPECT_TRUE(back->metadata->at("p").video_muted);
}

TEST(FocusMessagesTest, PingPong) {
  FocusMessage ping = roundTrip(R"({"type":"m.call.ping","content":{}})");
  EXPECT_EQ(ping.type, FocusMessageType::Ping);
  FocusMessage pong;
  pong.type = FocusMessageType::Pong;
  EXPECT_EQ(serializeFocusMessage(pong), R"({"type":"m.call.pong","content":{}})");
  // A missing content is tolerated for ping/pong.
  auto bare = parseFocusMessage(R"({"type":"m.call.ping"})");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->type, FocusMessageType::Ping);
}

TEST(FocusMessagesTest, TypeNames) {
  for (auto t :
       {FocusMessageType::TrackSubscription, FocusMessageType::Negotiate,
        FocusMessageType::SdpStreamMetadataChanged, FocusMessageType::Ping, FocusMessageType::Pong}) {
    EXPECT_EQ(parseFocusMessageType(toString(t)), t);
  }
  EXPECT_EQ(toString(FocusMessageType::TrackSubscription), "m.call.track_subscription");
  EXPECT_FALSE(parseFocusMessageType("m.call.connect_to_focus"));
}

TEST(FocusMessagesTest, EmptySubscriptionListsAreOptional) {
  auto m = parseFocusMessage(
      R"({"type":"m.call.track_subscription","content":{"subscribe":[{"stream_id":"s","track_id":"t"}]}})");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->subscribe.size(), 1u);
  EXPECT_TRUE(m->unsubscribe.empty());
}

TEST(FocusMessagesTest, Errors) {
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {R"({"type":"m.call.track_subscription","content":{"subscribe":[{"stream_id":"s"}]}})",
       "content.subscribe[0].track_id: required field missing"},
      {R"({"type":"m.call.track_subscription","content":{"unsubscribe":[{"stream_id":"s","track_id":"t","width":"w"}]}})",
       "content.unsubscribe[0].width: expected an integer"},
      {R"({"type":"m.call.track_subscription","content":{"subscribe":[{"stream_id":"s","track_id":"t","height":-1}]}})",
       "content.subscribe[0].height: expected a non-negative integer"},
      {R"({"type":"m.call.track_subscription","content":{"subscribe":{}}})",
       "content.subscribe: expected an array"},
      {R"({"type":"m.call.track_subscription","content":{"subscribe":[1]}})",
       "content.subscribe[0]: expected an object"},
      {R"({"type":"m.call.track_subscription"})", "content: required field missing"},
      {R"({"type":"m.call.ping","content":[]})", "content: expected an object"},
      {R"({"type":"m.call.negotiate","content":{}})", "content.description: required field missing"},
      {R"({"type":"m.call.negotiate","content":{"description":{"type":"offer","sdp":1}}})",
       "content.description.sdp: expected a string"},
      {R"({"type":"m.call.negotiate","content":{"description":{"type":"rollback","sdp":""}}})",
       "content.description.type: unexpected value \"rollback\""},
      {R"({"type":"m.call.negotiate","content":{"description":{"type":"offer","sdp":""},"sdp_stream_metadata":{"s":{}}}})",
       "content.sdp_stream_metadata.s.purpose: required field missing"},
      {R"({"type":"m.call.sdp_stream_metadata_changed","content":{}})",
       "content.sdp_stream_metadata: required field missing"},
      {R"({"type":"m.call.connect_to_focus","content":{}})",
       "type: unknown focus message type \"m.call.connect_to_focus\""},
      {R"({"content":{}})", "type: required field missing"},
      {R"({"type":5,"content":{}})", "type: expected a string"},
  };
  for (const Case& c : cases) {
    auto m = parseFocusMessage(c.text);
    ASSERT_FALSE(m) << c.text;
    EXPECT_EQ(m.error().code, Code::InvalidArgument);
    EXPECT_EQ(m.error().message, c.message) << c.text;
  }
  auto not_json = parseFocusMessage("hello");
  ASSERT_FALSE(not_json);
  EXPECT_NE(not_json.error().message.find("malformed JSON"), std::string::npos);
}

TEST(FocusMessagesTest, SizeBound) {
  std::string big =
      R"({"type":"m.call.ping","content":{"pad":")" + std::string(kMaxFocusMessageBytes, 'x') + "\"}}";
  auto m = parseFocusMessage(big);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("too large"), std::string::npos) << m.error().message;
}

TEST(FocusMessagesTest, SubscribeListBound) {
  json::array subs;
  for (std::size_t i = 0; i <= kMaxTrackRefs; ++i)
    subs.push_back(json::object{{"stream_id", "s"}, {"track_id", "t"}});
  json::object root{{"type", "m.call.track_subscription"}, {"content", json::object{{"subscribe", subs}}}};
  auto m = parseFocusMessage(json::serialize(root));
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("content.subscribe: too many entries"), std::string::npos)
      << m.error().message;
  subs.pop_back();
  root["content"].as_object()["subscribe"] = subs;
  auto ok_msg = parseFocusMessage(json::serialize(root));
  ASSERT_TRUE(ok_msg) << ok_msg.error().message;
  EXPECT_EQ(ok_msg->subscribe.size(), kMaxTrackRefs);
}

}  // namespace
}  // namespace chorus::proto
