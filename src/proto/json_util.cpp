#include "proto/json_util.hpp"

#include <cmath>
#include <exception>
#include <limits>
#include <vector>

namespace chorus::proto {

namespace json = boost::json;

namespace {

Unexpected typeError(std::string_view path, std::string_view key, std::string_view expected) {
  return fail(Code::InvalidArgument, fieldName(path, key) + ": expected " + std::string(expected));
}

Unexpected missing(std::string_view path, std::string_view key) {
  return fail(Code::InvalidArgument, fieldName(path, key) + ": required field missing");
}

// Present and not null.
const json::value* present(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return nullptr;
  return v;
}

}  // namespace

Result<json::object> parseJsonObject(std::string_view text) {
  if (text.size() > kMaxJsonBytes) {
    return fail(Code::InvalidArgument, "JSON text too large (" + std::to_string(text.size()) +
                                           " bytes, limit " + std::to_string(kMaxJsonBytes) + ")");
  }
  try {
    json::parse_options opts;
    opts.max_depth = kMaxJsonDepth;
    boost::system::error_code ec;
    json::value v = json::parse(json::string_view(text.data(), text.size()), ec, json::storage_ptr(), opts);
    if (ec) return fail(Code::InvalidArgument, "malformed JSON: " + ec.message());
    if (!v.is_object()) return fail(Code::InvalidArgument, "malformed JSON: expected an object at top level");
    replaceNonFiniteNumbers(v);
    return std::move(v.as_object());
  } catch (const std::exception& e) {
    return fail(Code::InvalidArgument, std::string("malformed JSON: ") + e.what());
  }
}

namespace {

bool isNonFinite(const json::value& v) {
  return v.is_double() && !std::isfinite(v.get_double());
}

// Iterative walks (no recursion: values handed to us may be deeper than parseJsonObject allows).
template <typename Value, typename Visit>
void walk(Value& root, Visit&& visit) {
  std::vector<Value*> stack{&root};
  while (!stack.empty()) {
    Value* v = stack.back();
    stack.pop_back();
    if (!visit(*v)) return;
    if (auto* a = v->if_array()) {
      for (auto& item : *a) stack.push_back(&item);
    } else if (auto* o = v->if_object()) {
      for (auto& kv : *o) stack.push_back(&kv.value());
    }
  }
}

}  // namespace

bool hasNonFiniteNumbers(const json::value& v) {
  bool found = false;
  walk(v, [&](const json::value& x) {
    found = isNonFinite(x);
    return !found;
  });
  return found;
}

bool hasNonFiniteNumbers(const json::object& o) {
  for (const auto& kv : o) {
    if (hasNonFiniteNumbers(kv.value())) return true;
  }
  return false;
}

std::size_t replaceNonFiniteNumbers(json::value& v) {
  std::size_t n = 0;
  walk(v, [&](json::value& x) {
    if (isNonFinite(x)) {
      x = nullptr;
      ++n;
    }
    return true;
  });
  return n;
}

std::size_t replaceNonFiniteNumbers(json::object& o) {
  std::size_t n = 0;
  for (auto& kv : o) n += replaceNonFiniteNumbers(kv.value());
  return n;
}

std::string fieldName(std::string_view path, std::string_view key) {
  std::string out;
  out.reserve(path.size() + key.size() + 1);
  out.append(path);
  if (!path.empty() && !key.empty()) out.push_back('.');
  out.append(key);
  return out;
}

std::optional<std::int64_t> asInt(const json::value& v) {
  switch (v.kind()) {
    case json::kind::int64:
      return v.get_int64();
    case json::kind::uint64:
      if (v.get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return std::nullopt;
      }
      return static_cast<std::int64_t>(v.get_uint64());
    case json::kind::double_: {
      const double d = v.get_double();
      // [-2^63, 2^63) converts without overflow.
      if (!std::isfinite(d) || d != std::trunc(d) || d < -9223372036854775808.0 ||
          d >= 9223372036854775808.0) {
        return std::nullopt;
      }
      return static_cast<std::int64_t>(d);
    }
    default:
      return std::nullopt;
  }
}

Result<std::string> requireString(const json::object& o, std::string_view key, std::string_view path) {
  const json::value* v = present(o, key);
  if (v == nullptr) return missing(path, key);
  if (!v->is_string()) return typeError(path, key, "a string");
  return std::string(v->get_string());
}

Result<std::optional<std::string>> optionalString(const json::object& o, std::string_view key,
                                                  std::string_view path) {
  const json::value* v = present(o, key);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return typeError(path, key, "a string");
  return std::optional<std::string>(std::string(v->get_string()));
}

Result<std::int64_t> requireInt(const json::object& o, std::string_view key, std::string_view path) {
  const json::value* v = present(o, key);
  if (v == nullptr) return missing(path, key);
  auto i = asInt(*v);
  if (!i) return typeError(path, key, "an integer");
  return *i;
}

Result<std::optional<std::int64_t>> optionalInt(const json::object& o, std::string_view key,
                                                std::string_view path) {
  const json::value* v = present(o, key);
  if (v == nullptr) return std::optional<std::int64_t>();
  auto i = asInt(*v);
  if (!i) return typeError(path, key, "an integer");
  return i;
}

Result<std::optional<bool>> optionalBool(const json::object& o, std::string_view key, std::string_view path) {
  const json::value* v = present(o, key);
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_bool()) return typeError(path, key, "a boolean");
  return std::optional<bool>(v->get_bool());
}

Result<const json::object*> requireObject(const json::object& o, std::string_view key,
                                          std::string_view path) {
  const json::value* v = present(o, key);
  if (v == nullptr) return missing(path, key);
  if (!v->is_object()) return typeError(path, key, "an object");
  return &v->get_object();
}

Result<const json::array*> requireArray(const json::object& o, std::string_view key, std::string_view path) {
  const json::value* v = present(o, key);
  if (v == nullptr) return missing(path, key);
  if (!v->is_array()) return typeError(path, key, "an array");
  return &v->get_array();
}

std::string indexName(std::string_view path, std::string_view key, std::size_t index) {
  return fieldName(path, key) + "[" + std::to_string(index) + "]";
}

}  // namespace chorus::proto
