#pragma once
// Helpers shared by the fuzz targets.
#include <cmath>

#include <boost/json.hpp>

namespace chorus::fuzz {

// Structural JSON equality where doubles may differ in the last bits: Boost.JSON 1.81 does not parse every
// serialised double back to the same bits (e.g. 1.654618888888889E76), so unknown keys holding huge doubles
// can drift by an ulp on a text round trip. Everything else must be identical.
inline bool approxEqual(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() && b.is_double()) {
    const double x = a.get_double();
    const double y = b.get_double();
    if (x == y) return true;
    return std::fabs(x - y) <= 1e-12 * std::fmax(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto& xa = a.get_array();
    const auto& ya = b.get_array();
    if (xa.size() != ya.size()) return false;
    for (std::size_t i = 0; i < xa.size(); ++i) {
      if (!approxEqual(xa[i], ya[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const auto& xo = a.get_object();
    const auto& yo = b.get_object();
    if (xo.size() != yo.size()) return false;
    for (const auto& kv : xo) {
      const boost::json::value* other = yo.if_contains(kv.key());
      if (other == nullptr || !approxEqual(kv.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace chorus::fuzz
