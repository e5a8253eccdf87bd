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
  auto b = parseSyncResponse(R"({"next_batch":"1","rooms":{"join":{"!r":{"state":{"events":[1,{"type":"t"}]}}}}})",
                             &skipped);
  ASSERT_TRUE(b);
  EXPECT_EQ(skipped, 2u);
  EXPECT_FALSE(parseSyncResponse("not json"));
  EXPECT_FALSE(parseSyncResponse(R"({"rooms":{}})"));
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
