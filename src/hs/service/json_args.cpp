#include "hs/service/json_args.hpp"

#include <cmath>

namespace chorus::hs {
namespace json = boost::json;

namespace {
MxError wrong(std::string_view key, std::string_view what) {
  return badJson("'" + std::string(key) + "' must be " + std::string(what));
}
}  // namespace

std::optional<std::int64_t> asInt(const json::value& v) {
  if (const auto* i = v.if_int64()) return *i;
  if (const auto* u = v.if_uint64()) {
    if (*u <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(*u);
    return std::nullopt;
  }
  if (const auto* d = v.if_double()) {
    if (std::isfinite(*d) && std::trunc(*d) == *d && std::fabs(*d) < 9.0e15)
      return static_cast<std::int64_t>(*d);
  }
  return std::nullopt;
}

MxResult<std::string> reqString(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return mxError(400, "M_MISSING_PARAM", "missing '" + std::string(key) + "'");
  if (!v->is_string()) return wrong(key, "a string");
  return std::string(v->get_string());
}

MxResult<std::optional<std::string>> optString(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::optional<std::string>{};
  if (!v->is_string()) return wrong(key, "a string");
  return std::optional<std::string>(std::string(v->get_string()));
}

MxResult<std::optional<std::int64_t>> optInt(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::optional<std::int64_t>{};
  auto i = asInt(*v);
  if (!i) return wrong(key, "an integer");
  return std::optional<std::int64_t>(*i);
}

MxResult<std::optional<bool>> optBool(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::optional<bool>{};
  if (!v->is_bool()) return wrong(key, "a boolean");
  return std::optional<bool>(v->get_bool());
}

MxResult<const json::object*> optObject(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return static_cast<const json::object*>(nullptr);
  if (!v->is_object()) return wrong(key, "an object");
  return &v->get_object();
}

MxResult<const json::array*> optArray(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return static_cast<const json::array*>(nullptr);
  if (!v->is_array()) return wrong(key, "an array");
  return &v->get_array();
}

}  // namespace chorus::hs
