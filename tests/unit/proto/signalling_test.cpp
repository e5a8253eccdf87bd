#include "proto/signalling.hpp"

#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "proto/event_types.hpp"
#include "proto/json_util.hpp"
#include "test_json.hpp"

namespace chorus::proto {
namespace {

namespace json = boost::json;
using test::dump;
using test::escapedSdp;
using test::jsonc;
using test::jsoncObject;
using test::sampleSdp;

// The payloads matrix-js-sdk 28.1.0 sent in the interop harness (interop-matrix-js-sdk.md §2.3), with
// <common> expanded: alice (DLI4IAQWL6, session IdBJrrkkVz) calls bob (DMPGE5Z76F, session UtlUltNaBV).
const std::string kAliceCommon =
    R"("version":"1","call_id":"17956739669759boJXODnzU85SMpM","party_id":"DLI4IAQWL6",
  "conf_id":"17956739666760LZKyI8U3WWJGwLV","device_id":"DLI4IAQWL6","sender_session_id":"IdBJrrkkVz",
  "dest_session_id":"UtlUltNaBV")";
const std::string kBobCommon =
    R"("version":"1","call_id":"17956739669759boJXODnzU85SMpM","party_id":"DMPGE5Z76F",
  "conf_id":"17956739666760LZKyI8U3WWJGwLV","device_id":"DMPGE5Z76F","sender_session_id":"UtlUltNaBV",
  "dest_session_id":"IdBJrrkkVz")";
const std::string kMetadata =
    R"({"3f1c8e2a-5b7d-4c9e-8a1f-2d3e4f5a6b7c":{"purpose":"m.usermedia","audio_muted":false,"video_muted":false}})";

struct Captured {
  std::string event_type;
  std::string body;
};

std::vector<Captured> jsSdkCaptures() {
  return {
      {"m.call.invite", R"({"lifetime":60000,"invitee":"@bob:localhost","offer":{"type":"offer","sdp":)" +
                            escapedSdp("offer") +
                            R"(},"capabilities":{"m.call.transferee":false,"m.call.dtmf":false},
            "org.matrix.msc3077.sdp_stream_metadata":)" +
                            kMetadata + "," + kAliceCommon +
                            R"(,"seq":0,"org.matrix.msgid":"0b7f2c64-8d55-4a8e-9f3b-6c1d2e3f4a5b"})"},
      {"m.call.candidates",
       R"({"candidates":[
           {"candidate":"candidate:982039260 1 udp 2122194687 192.0.2.2 40815 typ host generation 0 ufrag QBkQ network-id 1",
            "sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"QBkQ"},
           {"candidate":"candidate:982039260 1 udp 2122194687 192.0.2.2 52190 typ host generation 0 ufrag QBkQ network-id 1",
            "sdpMid":"1","sdpMLineIndex":1,"usernameFragment":"QBkQ"},
           {"candidate":""}],)" +
           kAliceCommon + R"(,"seq":1,"org.matrix.msgid":"5c6d7e8f-1a2b-4c3d-8e9f-0a1b2c3d4e5f"})"},
      {"m.call.answer", R"({"answer":{"sdp":)" + escapedSdp("answer") +
                            R"(,"type":"answer"},"org.matrix.msc3077.sdp_stream_metadata":{"bob-stream-6d1e":{
             "purpose":"m.usermedia","audio_muted":false,"video_muted":false}},
             "capabilities":{"m.call.transferee":false,"m.call.dtmf":false},)" +
                            kBobCommon +
                            R"(,"seq":0,"org.matrix.msgid":"9e8d7c6b-5a4f-4e3d-a2c1-b0a9f8e7d6c5"})"},
      {"m.call.select_answer", R"({"selected_party_id":"DMPGE5Z76F",)" + kAliceCommon +
                                   R"(,"seq":2,"org.matrix.msgid":"11111111-2222-4333-8444-555555555555"})"},
      {"org.matrix.call.sdp_stream_metadata_changed",
       R"({"org.matrix.msc3077.sdp_stream_metadata":{"3f1c8e2a-5b7d-4c9e-8a1f-2d3e4f5a6b7c":{"purpose":"m.usermedia",
           "audio_muted":true,"video_muted":false}},)" +
           kAliceCommon + R"(,"seq":4,"org.matrix.msgid":"22222222-3333-4444-8555-666666666666"})"},
      {"m.call.hangup", R"({"reason":"user_hangup",)" + kAliceCommon +
                            R"(,"seq":5,"org.matrix.msgid":"33333333-4444-4555-8666-777777777777"})"},
      {"m.call.negotiate", R"({"lifetime":60000,"description":{"type":"offer","sdp":)" + escapedSdp("offer") +
                               R"(},"capabilities":{"m.call.transferee":false,"m.call.dtmf":false},
            "org.matrix.msc3077.sdp_stream_metadata":)" +
                               kMetadata + "," + kAliceCommon +
                               R"(,"seq":6,"org.matrix.msgid":"44444444-5555-4666-8777-888888888888"})"},
      {"m.call.reject",
       "{" + kBobCommon + R"(,"seq":1,"org.matrix.msgid":"55555555-6666-4777-8888-999999999999"})"},
  };
}

// msc3401.md §3.4 examples (these use the stable sdp_stream_metadata key).
std::vector<Captured> mscExamples() {
  return {
      {"m.call.invite", R"({
  "call_id": "1670000000123aB3dE5fG7hJ9kL1",
  "conf_id": "cvsiu2893",
  "party_id": "ALICEDEVICE",
  "version": "1",
  "device_id": "ALICEDEVICE",
  "sender_session_id": "aliceSess1",
  "dest_session_id": "bobSess7",
  "seq": 0,
  "invitee": "@bob:example.org",
  "lifetime": 60000,
  "offer": { "type": "offer", "sdp": "v=0\r\n..." },
  "capabilities": { "m.call.transferee": false, "m.call.dtmf": false },
  "sdp_stream_metadata": {
    "stream-id-1": { "purpose": "m.usermedia", "audio_muted": false, "video_muted": true }
  },
  "m.intent": "m.prompt",
  "org.matrix.msgid": "c0a8b4d2-…"
})"},
      {"m.call.answer",
       R"({ "call_id": "1670000000123aB3dE5fG7hJ9kL1", "conf_id": "cvsiu2893", "party_id": "BOBDEVICE", "version": "1",
  "device_id": "BOBDEVICE", "sender_session_id": "bobSess7", "dest_session_id": "aliceSess1", "seq": 0,
  "answer": { "type": "answer", "sdp": "v=0\r\n..." },
  "capabilities": { "m.call.transferee": false, "m.call.dtmf": false },
  "sdp_stream_metadata": { "bob-stream": { "purpose": "m.usermedia", "audio_muted": false, "video_muted": false } } })"},
      {"m.call.candidates",
       R"({ "call_id": "…", "conf_id": "cvsiu2893", "party_id": "ALICEDEVICE", "version": "1", "device_id": "ALICEDEVICE",
  "sender_session_id": "aliceSess1", "dest_session_id": "bobSess7", "seq": 1,
  "candidates": [ { "candidate": "candidate:1 1 udp 2122260223 192.0.2.4 54321 typ host", "sdpMid": "0", "sdpMLineIndex": 0 },
                  { "candidate": "", "sdpMid": "0", "sdpMLineIndex": 0 } ] })"},
      {"m.call.select_answer",
       R"({ "call_id": "…", "conf_id": "cvsiu2893", "party_id": "ALICEDEVICE", "version": "1", "device_id": "ALICEDEVICE",
  "sender_session_id": "aliceSess1", "dest_session_id": "bobSess7", "seq": 2, "selected_party_id": "BOBDEVICE" })"},
  };
}

// Parse -> serialise -> text -> parse; both parses must agree. Returns the serialised content.
json::object signallingRoundTrip(std::string_view event_type, const json::object& content) {
  auto first = parseCallSignal(event_type, content);
  EXPECT_TRUE(first) << event_type << ": " << first.error().message;
  if (!first) return {};
  json::object wire = serializeCallSignal(*first);
  auto reparsed_obj = parseJsonObject(dump(wire));
  EXPECT_TRUE(reparsed_obj);
  // Sent under eventTypeFor(), which must map back to the same type.
  auto second = parseCallSignal(eventTypeFor(first->type), *reparsed_obj);
  EXPECT_TRUE(second) << second.error().message;
  if (second) {
    EXPECT_EQ(*first, *second) << dump(wire);
  }
  return wire;
}

// What js-sdk requires on receive (interop-matrix-js-sdk.md §2.3).
void expectSdkRequiredFields(const json::object& wire) {
  ASSERT_TRUE(wire.contains("version")) << dump(wire);
  EXPECT_EQ(wire.at("version"), json::value("1")) << dump(wire);
  for (const char* key :
       {"call_id", "party_id", "conf_id", "device_id", "sender_session_id", "dest_session_id"}) {
    ASSERT_TRUE(wire.contains(key)) << key << " missing in " << dump(wire);
    EXPECT_TRUE(wire.at(key).is_string()) << key;
    EXPECT_FALSE(wire.at(key).as_string().empty()) << key;
  }
  ASSERT_TRUE(wire.contains("seq")) << dump(wire);
  EXPECT_TRUE(wire.at("seq").is_int64() || wire.at("seq").is_uint64());
  EXPECT_FALSE(wire.contains(kSdpStreamMetadataKeyStable)) << dump(wire);
}

TEST(SignallingTest, JsSdkCapturesRoundTripExactly) {
  for (const Captured& c : jsSdkCaptures()) {
    SCOPED_TRACE(c.event_type);
    auto content = parseJsonObject(c.body);
    ASSERT_TRUE(content) << content.error().message << "\n" << c.body;
    json::object wire = signallingRoundTrip(c.event_type, *content);
    // Re-emitted exactly as the SDK sent it, so the SDK accepts what we send.
    EXPECT_EQ(wire, *content) << dump(wire);
    expectSdkRequiredFields(wire);
  }
}

TEST(SignallingTest, JsSdkInviteFields) {
  auto content = parseJsonObject(jsSdkCaptures()[0].body);
  ASSERT_TRUE(content);
  auto s = parseCallSignal("m.call.invite", *content);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->type, SignalType::Invite);
  EXPECT_EQ(s->call_id, "17956739669759boJXODnzU85SMpM");
  EXPECT_EQ(s->party_id, "DLI4IAQWL6");
  EXPECT_EQ(s->version, "1");
  EXPECT_EQ(s->conf_id, "17956739666760LZKyI8U3WWJGwLV");
  EXPECT_EQ(s->device_id, "DLI4IAQWL6");
  EXPECT_EQ(s->sender_session_id, "IdBJrrkkVz");
  EXPECT_EQ(s->dest_session_id, "UtlUltNaBV");
  EXPECT_EQ(s->seq, 0u);
  ASSERT_TRUE(s->description);
  EXPECT_EQ(s->description->type, "offer");
  EXPECT_EQ(s->description->sdp, sampleSdp("offer"));
  EXPECT_EQ(s->lifetime, 60000);
  EXPECT_EQ(s->invitee, "@bob:localhost");
  ASSERT_TRUE(s->capabilities);
  EXPECT_FALSE(s->capabilities->transferee);
  EXPECT_FALSE(s->capabilities->dtmf);
  ASSERT_TRUE(s->metadata);
  ASSERT_EQ(s->metadata->size(), 1u);
  const StreamMetadata& m = s->metadata->at("3f1c8e2a-5b7d-4c9e-8a1f-2d3e4f5a6b7c");
  EXPECT_EQ(m.purpose, "m.usermedia");
  EXPECT_FALSE(m.audio_muted);
  EXPECT_FALSE(m.video_muted);
  ASSERT_EQ(s->extra.size(), 1u);
  EXPECT_TRUE(s->extra.contains("org.matrix.msgid"));
}

TEST(SignallingTest, JsSdkCandidatesFields) {
  auto content = parseJsonObject(jsSdkCaptures()[1].body);
  ASSERT_TRUE(content);
  auto s = parseCallSignal("m.call.candidates", *content);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->candidates.size(), 3u);
  EXPECT_EQ(s->candidates[0].sdp_mid, "0");
  EXPECT_EQ(s->candidates[1].sdp_mline_index, 1);
  EXPECT_EQ(s->candidates[0].username_fragment, "QBkQ");
  // End-of-candidates.
  EXPECT_EQ(s->candidates[2], (Candidate{"", std::nullopt, std::nullopt, std::nullopt}));
  EXPECT_EQ(s->seq, 1u);
}

TEST(SignallingTest, JsSdkOtherTypes) {
  auto caps = jsSdkCaptures();
  auto answer = parseCallSignal("m.call.answer", *parseJsonObject(caps[2].body));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->description, (SessionDescription{"answer", sampleSdp("answer")}));
  EXPECT_FALSE(answer->lifetime);
  auto select = parseCallSignal("m.call.select_answer", *parseJsonObject(caps[3].body));
  ASSERT_TRUE(select);
  EXPECT_EQ(select->selected_party_id, "DMPGE5Z76F");
  auto changed =
      parseCallSignal("org.matrix.call.sdp_stream_metadata_changed", *parseJsonObject(caps[4].body));
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->type, SignalType::SdpStreamMetadataChanged);
  EXPECT_TRUE(changed->metadata->begin()->second.audio_muted);
  auto hangup = parseCallSignal("m.call.hangup", *parseJsonObject(caps[5].body));
  ASSERT_TRUE(hangup);
  EXPECT_EQ(hangup->reason, "user_hangup");
  auto negotiate = parseCallSignal("m.call.negotiate", *parseJsonObject(caps[6].body));
  ASSERT_TRUE(negotiate);
  EXPECT_EQ(negotiate->description->type, "offer");
  EXPECT_EQ(negotiate->lifetime, 60000);
  auto reject = parseCallSignal("m.call.reject", *parseJsonObject(caps[7].body));
  ASSERT_TRUE(reject);
  EXPECT_EQ(reject->type, SignalType::Reject);
  EXPECT_EQ(reject->party_id, "DMPGE5Z76F");
}

TEST(SignallingTest, MscExamplesRoundTrip) {
  for (const Captured& c : mscExamples()) {
    SCOPED_TRACE(c.event_type);
    json::object content = jsoncObject(c.body);
    json::object wire = signallingRoundTrip(c.event_type, content);
    expectSdkRequiredFields(wire);
    // Same content except that sdp_stream_metadata moves to the key js-sdk 28.1.0 uses.
    json::object expected = content;
    if (auto it = expected.find(kSdpStreamMetadataKeyStable); it != expected.end()) {
      json::value m = it->value();
      expected.erase(it);
      expected[kSdpStreamMetadataKey] = m;
    }
    EXPECT_EQ(wire, expected) << dump(wire);
  }
}

TEST(SignallingTest, MscInviteKeepsIntentAndReadsStableMetadata) {
  auto s = parseCallSignal("m.call.invite", jsoncObject(mscExamples()[0].body));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->extra.at("m.intent"), json::value("m.prompt"));
  ASSERT_TRUE(s->metadata);
  EXPECT_TRUE(s->metadata->at("stream-id-1").video_muted);
}

TEST(SignallingTest, BuiltFromScratchCarriesEverythingTheSdkNeeds) {
  CallSignal s;
  s.type = SignalType::Invite;
  s.call_id = "1795673999000abcdefghijklmnop";
  s.party_id = "CPPDEVICE";
  s.conf_id = "17956739666760LZKyI8U3WWJGwLV";
  s.device_id = "CPPDEVICE";
  s.sender_session_id = "cppSession";
  s.dest_session_id = "IdBJrrkkVz";
  s.seq = 0;
  s.description = SessionDescription{"offer", sampleSdp("offer")};
  s.lifetime = 60000;
  s.invitee = "@alice:localhost";
  s.capabilities = Capabilities{};
  s.metadata = SdpStreamMetadata{{"stream", StreamMetadata{"m.usermedia", false, true, {}, {}, {}}}};
  json::object wire = serializeCallSignal(s);
  expectSdkRequiredFields(wire);
  EXPECT_EQ(wire.at("offer"), jsonc(R"({"type":"offer","sdp":)" + escapedSdp("offer") + "}"));
  EXPECT_EQ(wire.at(kSdpStreamMetadataKey),
            jsonc(R"({"stream":{"purpose":"m.usermedia","audio_muted":false,"video_muted":true}})"));
  EXPECT_EQ(wire.at("capabilities"), jsonc(R"({"m.call.transferee":false,"m.call.dtmf":false})"));
  EXPECT_EQ(wire.at("invitee"), json::value("@alice:localhost"));
  auto back = parseCallSignal(eventTypeFor(s.type), wire);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, s);
}

TEST(SignallingTest, EventTypeNames) {
  EXPECT_EQ(eventTypeFor(SignalType::SdpStreamMetadataChanged),
            "org.matrix.call.sdp_stream_metadata_changed");
  EXPECT_EQ(parseSignalType("m.call.sdp_stream_metadata_changed"), SignalType::SdpStreamMetadataChanged);
  EXPECT_EQ(parseSignalType("org.matrix.call.sdp_stream_metadata_changed"),
            SignalType::SdpStreamMetadataChanged);
  for (auto t : {SignalType::Invite, SignalType::Candidates, SignalType::Answer, SignalType::SelectAnswer,
                 SignalType::Reject, SignalType::Negotiate, SignalType::Hangup,
                 SignalType::SdpStreamMetadataChanged}) {
    EXPECT_EQ(parseSignalType(eventTypeFor(t)), t);
  }
  EXPECT_EQ(eventTypeFor(SignalType::Invite), "m.call.invite");
  EXPECT_EQ(eventTypeFor(SignalType::SelectAnswer), "m.call.select_answer");
  EXPECT_FALSE(parseSignalType("m.call.replaces"));
  EXPECT_FALSE(parseSignalType("m.room.message"));
}

TEST(SignallingTest, StableMetadataChangedTypeAndKey) {
  // hydrogen / waterfall style: stable event type, stable metadata key.
  std::string body = R"({"sdp_stream_metadata":{"s":{"purpose":"m.screenshare","video_muted":true}},)" +
                     kAliceCommon + R"(,"seq":9})";
  auto s = parseCallSignal("m.call.sdp_stream_metadata_changed", *parseJsonObject(body));
  ASSERT_TRUE(s) << s.error().message;
  const StreamMetadata& m = s->metadata->at("s");
  EXPECT_EQ(m.purpose, "m.screenshare");
  EXPECT_FALSE(m.audio_muted);  // default
  EXPECT_TRUE(m.video_muted);
  json::object wire = serializeCallSignal(*s);
  EXPECT_TRUE(wire.contains(kSdpStreamMetadataKey));
  EXPECT_FALSE(wire.contains(kSdpStreamMetadataKeyStable));
}

TEST(SignallingTest, UnstableMetadataKeyWinsOverStable) {
  std::string body = R"({"sdp_stream_metadata":{"stable":{"purpose":"m.usermedia"}},
      "org.matrix.msc3077.sdp_stream_metadata":{"unstable":{"purpose":"m.usermedia"}},)" +
                     kAliceCommon + "}";
  auto s = parseCallSignal("m.call.sdp_stream_metadata_changed", *parseJsonObject(body));
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->metadata->contains("unstable"));
  EXPECT_FALSE(s->metadata->contains("stable"));
  EXPECT_FALSE(s->extra.contains("sdp_stream_metadata"));
}

TEST(SignallingTest, WaterfallStyleVersionNumberAndNoSeq) {
  // waterfall: version as JSON number 1, no seq, sender_session_id "sfu", one candidate per message.
  auto content = jsoncObject(R"({"call_id":"c1","conf_id":"conf","device_id":"SFUDEV","party_id":"SFUDEV",
      "sender_session_id":"sfu","dest_session_id":"IdBJrrkkVz","version":1,
      "candidates":[{"candidate":"candidate:1 1 udp 2130706431 198.51.100.7 3478 typ host","sdpMid":"0","sdpMLineIndex":0}]})");
  auto s = parseCallSignal("m.call.candidates", content);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->version, "1");
  EXPECT_FALSE(s->seq);
  EXPECT_EQ(s->sender_session_id, kFocusSessionId);
  json::object wire = signallingRoundTrip("m.call.candidates", content);
  EXPECT_EQ(wire.at("version"), json::value("1"));  // always sent as a string
  EXPECT_FALSE(wire.contains("seq"));
}

TEST(SignallingTest, VersionZeroNumber) {
  auto content = jsoncObject(R"({"call_id":"c1","conf_id":"conf","device_id":"D","sender_session_id":"a",
      "dest_session_id":"b","version":0,"reason":"ice_failed"})");
  auto s = parseCallSignal("m.call.hangup", content);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->version, "0");
  EXPECT_EQ(s->party_id, "");  // optional for version-0 peers
  json::object wire = signallingRoundTrip("m.call.hangup", content);
  EXPECT_EQ(wire.at("version"), json::value("0"));
  EXPECT_FALSE(wire.contains("party_id"));
}

TEST(SignallingTest, VersionOtherNumbersMeanOne) {
  for (const char* v : {"1", "1.0", "2", "0.0"}) {
    std::string body = std::string(R"({"call_id":"c","party_id":"p","conf_id":"k","device_id":"d",
        "sender_session_id":"s","dest_session_id":"t","version":)") +
                       v + "}";
    auto s = parseCallSignal("m.call.reject", *parseJsonObject(body));
    ASSERT_TRUE(s) << v;
    EXPECT_EQ(s->version, std::string_view(v) == "0.0" ? "0" : "1") << v;
  }
}

TEST(SignallingTest, HangupWithoutReason) {
  std::string body = "{" + kAliceCommon + R"(,"seq":3})";
  auto s = parseCallSignal("m.call.hangup", *parseJsonObject(body));
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->reason);  // treated as user_hangup by the caller
  EXPECT_FALSE(serializeCallSignal(*s).contains("reason"));
}

TEST(SignallingTest, NullOptionalCandidateFieldsAreAbsent) {
  // RTCIceCandidate.toJSON() may carry nulls.
  std::string body =
      R"({"candidates":[{"candidate":"","sdpMid":null,"sdpMLineIndex":null,"usernameFragment":null}],)" +
      kAliceCommon + R"(,"seq":7})";
  auto s = parseCallSignal("m.call.candidates", *parseJsonObject(body));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->candidates.at(0), (Candidate{"", std::nullopt, std::nullopt, std::nullopt}));
  EXPECT_EQ(serializeCallSignal(*s).at("candidates"), jsonc(R"([{"candidate":""}])"));
}

TEST(SignallingTest, FocusModeMetadataWithTracks) {
  // js-sdk-sfu / waterfall per-stream metadata (msc3401.md §4.2, interop §2.7).
  json::value v = jsonc(R"({
    "streamId1": {"purpose": "m.usermedia", "audio_muted": false, "video_muted": true,
                  "user_id": "@alice:example.org", "device_id": "ALICEDEV",
                  "tracks": {"trackId1": {"kind": "video", "width": 1920, "height": 1080}, "trackId2": {}}},
    "streamId2": {"purpose": "m.screenshare", "tracks": {}}
  })");
  auto m = parseSdpStreamMetadata(v);
  ASSERT_TRUE(m) << m.error().message;
  const StreamMetadata& s1 = m->at("streamId1");
  EXPECT_EQ(s1.user_id, "@alice:example.org");
  EXPECT_EQ(s1.device_id, "ALICEDEV");
  ASSERT_EQ(s1.tracks.size(), 2u);
  EXPECT_EQ(s1.tracks.at("trackId1"), (TrackInfo{"video", 1920, 1080}));
  EXPECT_EQ(s1.tracks.at("trackId2"), TrackInfo{});
  json::object wire = serializeSdpStreamMetadata(*m);
  // Empty track maps are omitted.
  EXPECT_FALSE(wire.at("streamId2").as_object().contains("tracks"));
  EXPECT_EQ(wire.at("streamId1").at("tracks"),
            jsonc(R"({"trackId1":{"kind":"video","width":1920,"height":1080},"trackId2":{}})"));
  auto back = parseSdpStreamMetadata(wire);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, *m);
}

// Each case: event type, body, the exact error message expected.
struct ErrorCase {
  std::string event_type;
  std::string body;
  std::string message;
};

TEST(SignallingTest, ErrorsNameTheField) {
  const std::string common = kAliceCommon;
  std::vector<ErrorCase> cases = {
      {"m.call.invite", R"({"offer":{"type":"offer","sdp":5},)" + common + "}",
       "offer.sdp: expected a string"},
      {"m.call.invite", "{" + common + "}", "offer: required field missing"},
      {"m.call.invite", R"({"offer":"v=0",)" + common + "}", "offer: expected an object"},
      {"m.call.invite", R"({"offer":{"type":"answer","sdp":""},)" + common + "}",
       "offer.type: unexpected value \"answer\""},
      {"m.call.answer", R"({"answer":{"sdp":"v=0"},)" + common + "}", "answer.type: required field missing"},
      {"m.call.negotiate", R"({"description":{"type":"pranswer","sdp":""},)" + common + "}",
       "description.type: unexpected value \"pranswer\""},
      {"m.call.invite", R"({"offer":{"type":"offer","sdp":""},"lifetime":"60s",)" + common + "}",
       "lifetime: expected an integer"},
      {"m.call.invite", R"({"offer":{"type":"offer","sdp":""},"invitee":1,)" + common + "}",
       "invitee: expected a string"},
      {"m.call.invite",
       R"({"offer":{"type":"offer","sdp":""},"capabilities":{"m.call.dtmf":"yes"},)" + common + "}",
       "capabilities.m.call.dtmf: expected a boolean"},
      {"m.call.answer", R"({"answer":{"type":"answer","sdp":""},"capabilities":[],)" + common + "}",
       "capabilities: expected an object"},
      {"m.call.candidates", "{" + common + "}", "candidates: required field missing"},
      {"m.call.candidates", R"({"candidates":{},)" + common + "}", "candidates: expected an array"},
      {"m.call.candidates", R"({"candidates":[{"candidate":""},{"sdpMid":"0"}],)" + common + "}",
       "candidates[1].candidate: required field missing"},
      {"m.call.candidates", R"({"candidates":[{"candidate":"","sdpMLineIndex":"0"}],)" + common + "}",
       "candidates[0].sdpMLineIndex: expected an integer"},
      {"m.call.candidates", R"({"candidates":[{"candidate":"","sdpMLineIndex":-1}],)" + common + "}",
       "candidates[0].sdpMLineIndex: expected a non-negative integer"},
      {"m.call.candidates", R"({"candidates":[7],)" + common + "}", "candidates[0]: expected an object"},
      {"m.call.select_answer", "{" + common + "}", "selected_party_id: required field missing"},
      {"m.call.hangup", R"({"reason":false,)" + common + "}", "reason: expected a string"},
      {"org.matrix.call.sdp_stream_metadata_changed", "{" + common + "}",
       "org.matrix.msc3077.sdp_stream_metadata: required field missing (or sdp_stream_metadata)"},
      {"org.matrix.call.sdp_stream_metadata_changed",
       R"({"org.matrix.msc3077.sdp_stream_metadata":{"s1":{"audio_muted":true}},)" + common + "}",
       "org.matrix.msc3077.sdp_stream_metadata.s1.purpose: required field missing"},
      {"m.call.sdp_stream_metadata_changed", R"({"sdp_stream_metadata":{"s1":{"purpose":"m.usermedia",
          "video_muted":"no"}},)" + common + "}",
       "sdp_stream_metadata.s1.video_muted: expected a boolean"},
      {"m.call.sdp_stream_metadata_changed", R"({"sdp_stream_metadata":[],)" + common + "}",
       "sdp_stream_metadata: expected an object"},
      {"m.call.sdp_stream_metadata_changed",
       R"({"sdp_stream_metadata":{"s":{"purpose":"m.usermedia",
          "tracks":{"t":{"width":"wide"}}}},)" +
           common + "}",
       "sdp_stream_metadata.s.tracks.t.width: expected an integer"},
      {"m.call.reject", R"({"seq":-1,)" + common + "}", "seq: expected a non-negative integer"},
      {"m.call.reject", R"({"seq":1.5,)" + common + "}", "seq: expected a non-negative integer"},
      {"m.call.reject",
       R"({"version":"1","party_id":"p","conf_id":"c","device_id":"d","sender_session_id":"s",
          "dest_session_id":"t"})",
       "call_id: required field missing"},
      {"m.call.reject", R"({"call_id":"x","version":"1","conf_id":"c","device_id":"d","sender_session_id":"s",
          "dest_session_id":"t"})",
       "party_id: required field missing"},
      {"m.call.reject",
       R"({"call_id":"x","version":"1","party_id":"p","device_id":"d","sender_session_id":"s",
          "dest_session_id":"t"})",
       "conf_id: required field missing"},
      {"m.call.reject", R"({"call_id":"x","version":"1","party_id":"p","conf_id":"c","sender_session_id":"s",
          "dest_session_id":"t"})",
       "device_id: required field missing"},
      {"m.call.reject", R"({"call_id":"x","version":"1","party_id":"p","conf_id":"c","device_id":"d",
          "dest_session_id":"t"})",
       "sender_session_id: required field missing"},
      {"m.call.reject", R"({"call_id":"x","version":"1","party_id":"p","conf_id":"c","device_id":"d",
          "sender_session_id":"s","dest_session_id":7})",
       "dest_session_id: expected a string"},
      {"m.call.reject", R"({"call_id":"x","version":true,"party_id":"p","conf_id":"c","device_id":"d",
          "sender_session_id":"s","dest_session_id":"t"})",
       "version: expected a string or a number"},
      {"m.call.replaces", "{" + common + "}", "unknown call event type \"m.call.replaces\""},
  };
  for (const ErrorCase& c : cases) {
    auto content = parseJsonObject(c.body);
    ASSERT_TRUE(content) << c.body;
    auto s = parseCallSignal(c.event_type, *content);
    ASSERT_FALSE(s) << c.event_type << " " << c.body;
    EXPECT_EQ(s.error().code, Code::InvalidArgument);
    EXPECT_EQ(s.error().message, c.message) << c.body;
  }
}

TEST(SignallingTest, TooManyCandidatesRejected) {
  json::array candidates;
  for (std::size_t i = 0; i <= kMaxCandidates; ++i) candidates.push_back(json::object{{"candidate", ""}});
  json::object content = *parseJsonObject("{" + kAliceCommon + "}");
  content["candidates"] = candidates;
  auto s = parseCallSignal("m.call.candidates", content);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("candidates: too many candidates"), std::string::npos)
      << s.error().message;
  candidates.pop_back();
  content["candidates"] = candidates;
  EXPECT_TRUE(parseCallSignal("m.call.candidates", content));
}

TEST(SignallingTest, ForeignTypeKeysGoToExtra) {
  // A hangup that carries an offer keeps it verbatim but does not interpret it.
  std::string body = R"({"offer":{"bogus":1},"reason":"replaced",)" + kAliceCommon + R"(,"seq":0})";
  auto s = parseCallSignal("m.call.hangup", *parseJsonObject(body));
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->description);
  EXPECT_EQ(s->extra.at("offer"), jsonc(R"({"bogus":1})"));
  EXPECT_EQ(serializeCallSignal(*s), *parseJsonObject(body));
}

TEST(SignallingTest, NonFiniteExtraBecomesNull) {
  json::object content = *parseJsonObject("{" + kAliceCommon + "}");
  content["x.big"] = std::numeric_limits<double>::infinity();
  auto s = parseCallSignal("m.call.reject", content);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->extra.at("x.big").is_null());
  EXPECT_TRUE(parseJsonObject(dump(serializeCallSignal(*s))));
}

TEST(SignallingTest, LargeSeqKept) {
  std::string body = "{" + kAliceCommon + R"(,"seq":18446744073709551615})";
  auto s = parseCallSignal("m.call.reject", *parseJsonObject(body));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->seq, 18446744073709551615ULL);
  signallingRoundTrip("m.call.reject", *parseJsonObject(body));
}

}  // namespace
}  // namespace chorus::proto
