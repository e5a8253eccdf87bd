#pragma once
// Typed access to untrusted request JSON; every error is an M_BAD_JSON naming the field.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "hs/mx_error.hpp"

namespace chorus::hs {

MxResult<std::string> reqString(const boost::json::object& o, std::string_view key);
MxResult<std::optional<std::string>> optString(const boost::json::object& o, std::string_view key);
MxResult<std::optional<std::int64_t>> optInt(const boost::json::object& o, std::string_view key);
MxResult<std::optional<bool>> optBool(const boost::json::object& o, std::string_view key);
// nullptr when absent or null; error when present with another type.
MxResult<const boost::json::object*> optObject(const boost::json::object& o, std::string_view key);
MxResult<const boost::json::array*> optArray(const boost::json::object& o, std::string_view key);
// JSON integer (or integral double) -> int64.
std::optional<std::int64_t> asInt(const boost::json::value& v);

}  // namespace chorus::hs
