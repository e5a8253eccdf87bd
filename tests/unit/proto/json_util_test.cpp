#include "proto/json_util.hpp"

#include <limits>
#include <string>

#include <gtest/gtest.h>

namespace chorus::proto {
namespace {

namespace json = boost::json;

TEST(JsonUtilTest, ParsesObject) {
  auto o = parseJsonObject(R"({"a": 1, "b": "x"})");
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->at("a").as_int64(), 1);
  EXPECT_EQ(o->at("b").as_string(), "x");
}

TEST(JsonUtilTest, RejectsMalformedJson) {
  auto o = parseJsonObject(R"({"a": )");
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().code, Code::InvalidArgument);
  EXPECT_NE(o.error().message.find("malformed JSON"), std::string::npos) << o.error().message;
}

TEST(JsonUtilTest, RejectsTrailingGarbageAndNonObjects) {
  EXPECT_FALSE(parseJsonObject(R"({"a": 1} x)"));
  EXPECT_FALSE(parseJsonObject("[1, 2]"));
  EXPECT_FALSE(parseJsonObject("\"str\""));
  EXPECT_FALSE(parseJsonObject(""));
  auto o = parseJsonObject("[1]");
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("expected an object"), std::string::npos) << o.error().message;
}

TEST(JsonUtilTest, RejectsInvalidUtf8) {
  EXPECT_FALSE(parseJsonObject("{\"a\": \"\xff\xfe\"}"));
}

TEST(JsonUtilTest, BoundsDepth) {
  std::string ok_text =
      "{\"a\":" + std::string(kMaxJsonDepth - 2, '[') + std::string(kMaxJsonDepth - 2, ']') + "}";
  EXPECT_TRUE(parseJsonObject(ok_text)) << parseJsonObject(ok_text).error().message;
  std::string deep = "{\"a\":" + std::string(10000, '[') + std::string(10000, ']') + "}";
  auto o = parseJsonObject(deep);
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("malformed JSON"), std::string::npos) << o.error().message;
}

TEST(JsonUtilTest, BoundsSize) {
  std::string big = "{\"a\":\"" + std::string(kMaxJsonBytes, 'x') + "\"}";
  auto o = parseJsonObject(big);
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("too large"), std::string::npos) << o.error().message;
}

TEST(JsonUtilTest, FieldNames) {
  EXPECT_EQ(fieldName("", "seq"), "seq");
  EXPECT_EQ(fieldName("offer", "sdp"), "offer.sdp");
  EXPECT_EQ(indexName("", "candidates", 3), "candidates[3]");
  EXPECT_EQ(indexName("content", "subscribe", 0), "content.subscribe[0]");
}

TEST(JsonUtilTest, AsInt) {
  EXPECT_EQ(asInt(json::value(5)), 5);
  EXPECT_EQ(asInt(json::value(-5)), -5);
  EXPECT_EQ(asInt(json::value(1.0)), 1);  // JS may send 1.0
  EXPECT_EQ(asInt(json::value(1.5)), std::nullopt);
  EXPECT_EQ(asInt(json::value(1e300)), std::nullopt);
  EXPECT_EQ(asInt(json::value(9223372036854775808.0)), std::nullopt);
  EXPECT_EQ(asInt(json::value(std::uint64_t{18446744073709551615ULL})), std::nullopt);
  EXPECT_EQ(asInt(json::value(std::uint64_t{42})), 42);
  EXPECT_EQ(asInt(json::value("5")), std::nullopt);
  EXPECT_EQ(asInt(json::value(true)), std::nullopt);
}

TEST(JsonUtilTest, TypedAccessorsNameTheField) {
  json::object o{{"s", "str"},         {"n", 7},      {"b", true}, {"o", json::object{}},
                 {"a", json::array{}}, {"z", nullptr}};

  EXPECT_EQ(*requireString(o, "s"), "str");
  auto bad = requireString(o, "n", "offer");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "offer.n: expected a string");
  auto missing = requireString(o, "sdp", "offer");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "offer.sdp: required field missing");
  // null counts as missing for required fields and as absent for optional ones.
  EXPECT_FALSE(requireString(o, "z"));
  EXPECT_EQ(*optionalString(o, "z"), std::nullopt);
  EXPECT_EQ(*optionalString(o, "absent"), std::nullopt);
  EXPECT_EQ(**optionalString(o, "s"), "str");
  EXPECT_EQ(optionalString(o, "b").error().message, "b: expected a string");

  EXPECT_EQ(*requireInt(o, "n"), 7);
  EXPECT_EQ(requireInt(o, "s").error().message, "s: expected an integer");
  EXPECT_EQ(**optionalInt(o, "n"), 7);
  EXPECT_EQ(*optionalInt(o, "absent"), std::nullopt);

  EXPECT_EQ(**optionalBool(o, "b"), true);
  EXPECT_EQ(optionalBool(o, "n", "caps").error().message, "caps.n: expected a boolean");

  EXPECT_TRUE(requireObject(o, "o"));
  EXPECT_EQ(requireObject(o, "a").error().message, "a: expected an object");
  EXPECT_TRUE(requireArray(o, "a"));
  EXPECT_EQ(requireArray(o, "o").error().message, "o: expected an array");
  EXPECT_EQ(requireArray(o, "nope").error().message, "nope: required field missing");
}

TEST(JsonUtilTest, OutOfRangeNumbersBecomeNull) {
  // Boost.JSON reads 1e400 as Infinity and would write it back as the invalid token "Infinity".
  auto o = parseJsonObject(R"({"big":1e400,"neg":-1e400,"deep":[{"x":[5e999]}],"fine":1.5})");
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_TRUE(o->at("big").is_null());
  EXPECT_TRUE(o->at("neg").is_null());
  EXPECT_TRUE(o->at("deep").as_array()[0].as_object().at("x").as_array()[0].is_null());
  EXPECT_EQ(o->at("fine").as_double(), 1.5);
  EXPECT_FALSE(hasNonFiniteNumbers(*o));
  // The serialised text is valid JSON again.
  EXPECT_TRUE(parseJsonObject(json::serialize(*o)));

  json::value v = json::array{1.0, json::object{{"k", std::numeric_limits<double>::infinity()}},
                              std::numeric_limits<double>::quiet_NaN()};
  EXPECT_TRUE(hasNonFiniteNumbers(v));
  EXPECT_EQ(replaceNonFiniteNumbers(v), 2u);
  EXPECT_FALSE(hasNonFiniteNumbers(v));
  EXPECT_EQ(v, (json::array{1.0, json::object{{"k", nullptr}}, nullptr}));
}

}  // namespace
}  // namespace chorus::proto
