#pragma once
// Typed field access on boost::json objects that produces errors naming the field.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "base/result.hpp"

namespace chorus::proto {

// Parses text into an object; errors say where the JSON is malformed. Depth and size are bounded.
Result<boost::json::object> parseJsonObject(std::string_view text);

Result<std::string> requireString(const boost::json::object& o, std::string_view key, std::string_view path = {});
Result<std::optional<std::string>> optionalString(const boost::json::object& o, std::string_view key,
                                                  std::string_view path = {});
// Accepts integral JSON numbers (and doubles with an integral value, as JS may send 1.0).
Result<std::int64_t> requireInt(const boost::json::object& o, std::string_view key, std::string_view path = {});
Result<std::optional<std::int64_t>> optionalInt(const boost::json::object& o, std::string_view key,
                                                std::string_view path = {});
Result<std::optional<bool>> optionalBool(const boost::json::object& o, std::string_view key,
                                         std::string_view path = {});
Result<const boost::json::object*> requireObject(const boost::json::object& o, std::string_view key,
                                                 std::string_view path = {});
Result<const boost::json::array*> requireArray(const boost::json::object& o, std::string_view key,
                                               std::string_view path = {});

// "path.key" or "key".
std::string fieldName(std::string_view path, std::string_view key);
std::optional<std::int64_t> asInt(const boost::json::value& v);

}  // namespace chorus::proto
