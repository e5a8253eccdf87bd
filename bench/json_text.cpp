#include "bench/json_text.hpp"

#include <cmath>
#include <cstdio>

namespace chorus::bench {

namespace json = boost::json;

std::string formatJson(const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_: {
      const double d = v.get_double();
      if (!std::isfinite(d)) return "null";
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.10g", d);
      return buf;
    }
    case json::kind::array: {
      std::string out = "[";
      for (const auto& e : v.get_array()) out += (out.size() > 1 ? "," : "") + formatJson(e);
      return out + "]";
    }
    case json::kind::object: {
      std::string out = "{";
      for (const auto& [k, e] : v.get_object()) {
        if (out.size() > 1) out += ",";
        out += json::serialize(json::string(k)) + ":" + formatJson(e);
      }
      return out + "}";
    }
    default:
      return json::serialize(v);
  }
}

}  // namespace chorus::bench
