#include "matrix/sync_response.hpp"

#include <gtest/gtest.h>

namespace chorus::matrix {
namespace {

TEST(SyncResponse, ExtractsRoomStateInOrderAndToDevice) {
  auto batch = parseSyncResponse(R"({"next_batch":"s9","rooms":{"join":{"!r:hs":{
      "state":{"events":[{"type":"m.room.member","state_key":"@a:hs","sender":"@a:hs","content":{"membership":"join"},
                          "event_id":"$1","origin_server_ts":5}]},
      "timeline":{"limited":true,"events":[
          {"type":"m.room.message","sender":"@a:hs","content":{"body":"x"}},
          {"type":"org.matrix.msc3401.call","state_key":"c1","sender":"@a:hs","content":{"m.intent":"m.room","m.type":"m.voice"},"origin_server_ts":7},
          {"type":"broken","state_key":5}]}}},
      "invite":{"!i:hs":{}},"leave":{"!l:hs":{}}},
    "to_device":{"events":[{"type":"m.call.hangup","sender":"@b:hs","content":{"call_id":"x"}},{"type":3}]}})",
                                 nullptr);
  ASSERT_TRUE(batch) << batch.error().message;
  EXPECT_EQ(batch->next_batch, "s9");
  ASSERT_EQ(batch->join.count("!r:hs"), 1u);
  const auto& room = batch->join.at("!r:hs");
  EXPECT_TRUE(room.limited);
  ASSERT_EQ(room.state.size(), 2u);
  EXPECT_EQ(room.state[0].type, "m.room.member");
  EXPECT_EQ(room.state[0].origin_server_ts, 5);
  EXPECT_EQ(room.state[1].state_key, "c1");
  EXPECT_EQ(batch->invite.count("!i:hs"), 1u);
  EXPECT_EQ(batch->leave.count("!l:hs"), 1u);
  ASSERT_EQ(batch->to_device.size(), 1u);
  EXPECT_EQ(batch->to_device[0].sender, "@b:hs");
}

TEST(SyncResponse, CountsSkippedEventsAndRejectsNonJson) {
  std::size_t skipped = 0;
  auto b = parseSyncResponse(
      R"({"next_batch":"1","rooms":{"join":{"!r":{"state":{"events":[1,{"type":"t"}]}}}}})", &skipped);
  ASSERT_TRUE(b);
  EXPECT_EQ(skipped, 2u);
  EXPECT_FALSE(parseSyncResponse("not json"));
  EXPECT_FALSE(parseSyncResponse(R"({"rooms":{}})"));
}

// Issue #10: a homeserver may store a hostile client's bytes raw (an event type sent as %FF%FE) and return
// them in /sync. One such event must not make the whole reply unusable (the sync loop would retry one `since`
// forever): the bytes are decoded lossily and the other events still arrive.
TEST(SyncResponse, InvalidUtf8IsDecodedLossilyNotFatal) {
  const std::string body =
      std::string(R"({"next_batch":"s2","rooms":{"join":{"!r:hs":{"timeline":{"events":[)") + R"({"type":")" +
      "\xFF\xFE" + R"(","state_key":"","sender":"@m:hs","content":{}},)" +
      R"({"type":"x.y","state_key":"@m:hs_D)" + "\xC0\xAF" + R"(","sender":"@m:hs","content":{"body":"a)" +
      "\xED\xA0\x80" + R"(b"}},)" +
      R"({"type":"org.matrix.msc3401.call.member","state_key":"@a:hs_A","sender":"@a:hs",)" +
      R"("content":{"device_id":"A"}}]}}}},)" +
      R"("to_device":{"events":[{"type":"m.call.invite","sender":"@m:hs","content":{"x":")" +
      "\xF4\x90\x80\x80" + R"("}}]}})";
  std::size_t skipped = 0, bad = 0;
  auto batch = parseSyncResponse(body, &skipped, &bad);
  ASSERT_TRUE(batch) << batch.error().message;
  EXPECT_EQ(batch->next_batch, "s2");
  EXPECT_EQ(skipped, 0u);
  // FF, FE, C0, AF, ED A0 80 (three: ED never takes A0), F4 90 80 80 (four: F4 never takes 90).
  EXPECT_EQ(bad, 2u + 2u + 3u + 4u);
  const auto& st = batch->join.at("!r:hs").state;
  ASSERT_EQ(st.size(), 3u);
  EXPECT_EQ(st[0].type, "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(st[1].state_key, "@m:hs_D\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(st[1].content.at("body").as_string(),
            "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(st[2].type, "org.matrix.msc3401.call.member");
  EXPECT_EQ(st[2].state_key, "@a:hs_A");
  ASSERT_EQ(batch->to_device.size(), 1u);
  // Whatever we re-emit is valid UTF-8 again.
  std::string out;
  EXPECT_EQ(repairUtf8(boost::json::serialize(batch->to_device[0].content), out), 0u);
}

TEST(SyncResponse, ValidUtf8IsUntouched) {
  std::size_t bad = 7;
  auto batch = parseSyncResponse(
      std::string(
          R"({"next_batch":"1","rooms":{"join":{"!r":{"state":{"events":[{"type":"t","state_key":")") +
          "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x8E\xA4" + R"(","sender":"@a:hs","content":{}}]}}}}})",
      nullptr, &bad);
  ASSERT_TRUE(batch) << batch.error().message;
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(batch->join.at("!r").state.at(0).state_key, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x8E\xA4");
}

TEST(RepairUtf8, ReplacesMaximalSubparts) {
  std::string out;
  EXPECT_EQ(repairUtf8("plain", out), 0u);
  EXPECT_TRUE(out.empty());
  // A truncated 3-byte sequence is one maximal subpart; a lone continuation byte is one; a truncated sequence
  // at the end is one.
  EXPECT_EQ(repairUtf8("a\xE2\x82z\x80\xF0\x9F\x8E", out), 3u);
  EXPECT_EQ(out, "a\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBD");
  // Overlong forms and out-of-range lead bytes.
  EXPECT_EQ(repairUtf8("\xC1\xBF\xE0\x80\x80\xF5", out), 6u);
}

TEST(RepairSurrogateEscapes, ReplacesLoneSurrogatesOnly) {
  std::string out;
  // A valid pair, a BMP escape and an escaped backslash followed by "ud800" are untouched.
  EXPECT_EQ(repairSurrogateEscapes(R"({"a":"\ud83c\udfa4 \u00e9 \\ud800"})", out), 0u);
  EXPECT_TRUE(out.empty());
  // A lone high surrogate, a lone low one, a high one at the end of the text, a high one before a non-low.
  EXPECT_EQ(repairSurrogateEscapes(R"(["\ud800","\udc00x","\uD800\u0041","\udbff)", out), 4u);
  EXPECT_EQ(out, R"(["\ufffd","\ufffdx","\ufffd\u0041","\ufffd)");
}

TEST(SyncResponse, LoneSurrogateInOneEventDoesNotFailTheReply) {
  std::size_t bad = 0;
  auto batch = parseSyncResponse(
      std::string(
          R"({"next_batch":"2","rooms":{"join":{"!r":{"state":{"events":[)"
          R"({"type":"t","state_key":"\ud800","sender":"@m:hs","content":{"x":"\udfff"}},)"
          R"({"type":"org.matrix.msc3401.call","state_key":"c","sender":"@a:hs","content":{}}]}}}}})"),
      nullptr, &bad);
  ASSERT_TRUE(batch) << batch.error().message;
  EXPECT_EQ(bad, 2u);
  ASSERT_EQ(batch->join.at("!r").state.size(), 2u);
  EXPECT_EQ(batch->join.at("!r").state.at(0).state_key, "\xEF\xBF\xBD");
  EXPECT_EQ(batch->join.at("!r").state.at(1).type, "org.matrix.msc3401.call");
}

TEST(SyncResponse, BrokenStructureIsStillRejected) {
  // Invalid bytes outside strings are not JSON after repair either: the reply fails (and the loop backs off).
  EXPECT_FALSE(parseSyncResponse(std::string("{\"next_batch\":\"1\"\xFF}")));
}

TEST(MatrixError, ParsesErrcodeAndRetryAfter) {
  auto e = parseMatrixError(429, R"({"errcode":"M_LIMIT_EXCEEDED","error":"slow","retry_after_ms":1500})");
  EXPECT_EQ(e.errcode, "M_LIMIT_EXCEEDED");
  EXPECT_EQ(e.retry_after_ms, 1500);
  EXPECT_EQ(parseMatrixError(502, "<html>").errcode, "M_UNKNOWN");
}

TEST(EncodePathSegment, EncodesMatrixIds) {
  EXPECT_EQ(encodePathSegment("@alice:example.org"), "%40alice%3Aexample.org");
  EXPECT_EQ(encodePathSegment("!room:hs/x y"), "%21room%3Ahs%2Fx%20y");
  EXPECT_EQ(encodePathSegment("org.matrix.msc3401.call.member"), "org.matrix.msc3401.call.member");
}

}  // namespace
}  // namespace chorus::matrix
