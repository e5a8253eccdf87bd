#pragma once
// Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) for path parameters, and
// a lossy repair for anything the server is about to put into JSON: an old database may hold invalid bytes.
#include <cstddef>
#include <string>
#include <string_view>

#include <boost/json.hpp>

namespace chorus::hs {

// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not one.
inline std::size_t utf8SequenceLength(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return len;
}

inline bool validUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8SequenceLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// Replaces every byte that does not start a valid sequence with U+FFFD.
inline std::string repairUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8SequenceLength(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

// Repairs every string and object key of v in place (recursively; depth is bounded by whoever built v).
inline void repairUtf8(boost::json::value& v) {
  if (auto* str = v.if_string()) {
    if (!validUtf8(*str)) *str = repairUtf8(*str);
  } else if (auto* arr = v.if_array()) {
    for (auto& e : *arr) repairUtf8(e);
  } else if (auto* obj = v.if_object()) {
    bool bad_key = false;
    for (auto& kv : *obj) {
      repairUtf8(kv.value());
      if (!validUtf8(kv.key())) bad_key = true;
    }
    if (bad_key) {
      boost::json::object fixed;
      for (auto& kv : *obj) fixed[repairUtf8(kv.key())] = std::move(kv.value());
      *obj = std::move(fixed);
    }
  }
}

}  // namespace chorus::hs
