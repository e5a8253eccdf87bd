#pragma once
// Typed field access on boost::json objects that produces errors naming the field.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "base/result.hpp"

namespace chorus::proto {

// Bounds applied by parseJsonObject to untrusted text.
inline constexpr std::size_t kMaxJsonBytes = 1024 * 1024;
inline constexpr std::size_t kMaxJsonDepth = 32;

// Parses text into an object; errors say where the JSON is malformed. Depth and size are bounded.
// Never throws. Optional* accessors treat a JSON null like an absent key.
Result<boost::json::object> parseJsonObject(std::string_view text);

Result<std::string> requireString(const boost::json::object& o, std::string_view key,
                                  std::string_view path = {});
Result<std::optional<std::string>> optionalString(const boost::json::object& o, std::string_view key,
                                                  std::string_view path = {});
// Accepts integral JSON numbers (and doubles with an integral value, as JS may send 1.0).
Result<std::int64_t> requireInt(const boost::json::object& o, std::string_view key,
                                std::string_view path = {});
Result<std::optional<std::int64_t>> optionalInt(const boost::json::object& o, std::string_view key,
                                                std::string_view path = {});
Result<std::optional<bool>> optionalBool(const boost::json::object& o, std::string_view key,
                                         std::string_view path = {});
Result<const boost::json::object*> requireObject(const boost::json::object& o, std::string_view key,
                                                 std::string_view path = {});
Result<const boost::json::array*> requireArray(const boost::json::object& o, std::string_view key,
                                               std::string_view path = {});

// Boost.JSON 1.81 parses an out-of-range number such as 1e400 as Infinity and would serialise it as the
// invalid token "Infinity". These find such doubles (and NaN) and replace them with null, as JSON.stringify
// does. parseJsonObject and the typed parsers apply this, so nothing we re-emit can be invalid JSON.
bool hasNonFiniteNumbers(const boost::json::value& v);
bool hasNonFiniteNumbers(const boost::json::object& o);
// Returns how many were replaced.
std::size_t replaceNonFiniteNumbers(boost::json::value& v);
std::size_t replaceNonFiniteNumbers(boost::json::object& o);

// "path.key" or "key".
std::string fieldName(std::string_view path, std::string_view key);
// "path.key[index]".
std::string indexName(std::string_view path, std::string_view key, std::size_t index);
std::optional<std::int64_t> asInt(const boost::json::value& v);

}  // namespace chorus::proto
