#pragma once
// The client-server API's routing, apart from what the routes do: a request target split into its
// percent-decoded path segments (after the version prefix) and query parameters, checked once for valid
// UTF-8; and RouteTable<Handler>, (method, path pattern) -> handler. Pure and single-threaded; tested on its
// own (tests/unit/hs/route_table_test.cpp).
//
// A pattern is '/'-separated segments: a literal ("rooms"), a named parameter ("{roomId}": any one segment,
// also an empty one) or, last only, "*" (one or more remaining segments). Routes are tried in the order they
// were added; the first whose pattern and method match wins. A path some pattern matches but none with the
// request's method is MethodNotAllowed (405 M_UNRECOGNIZED); a path no pattern matches is NotFound
// (404 M_UNRECOGNIZED).
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/assert.hpp"
#include "hs/mx_error.hpp"

namespace chorus::hs {

// An origin-form request target ("/_matrix/client/v3/rooms/%21r%3Ax/state?x=1"), decoded.
struct RequestTarget {
  // Path segments after "/_matrix/client/{v3|r0|v1|unstable[/org.matrix.*]}"; empty when not client API.
  std::vector<std::string> segments;
  std::unordered_map<std::string, std::string> query;  // at most kMaxQueryParams; the first of a repeated key
  bool client{false};                                  // under /_matrix/client/ with a known version prefix
  bool versions{false};                                // exactly /_matrix/client/versions
};
inline constexpr std::size_t kMaxQueryParams = 64;

// 400 M_UNRECOGNIZED when the target is not origin-form; 400 M_INVALID_PARAM when a path segment or a query
// key or value is not valid UTF-8 (RFC 3629) or holds NUL after percent-decoding, on any path (issue #10).
MxResult<RequestTarget> parseRequestTarget(std::string_view target);

// A parsed pattern; parse() CHORUS_CHECKs its syntax (patterns are written in the source, not received).
class PathPattern {
 public:
  static PathPattern parse(std::string_view pattern);

  // True when the segments fit; then `named` holds (parameter name, segment) pairs and `rest` what "*" took.
  bool match(const std::vector<std::string>& segments,
             std::vector<std::pair<std::string_view, const std::string*>>& named,
             std::span<const std::string>& rest) const;
  // The first segment when it is a literal ("" otherwise).
  std::string_view firstLiteral() const;

 private:
  struct Part {
    std::string text;  // the literal, or the parameter's name
    bool param{false};
  };
  std::vector<Part> parts_;
  bool rest_{false};  // ends with "*"
};

// The named parameters and the "*" tail of one match; views into the route table and the RequestTarget.
class PathParams {
 public:
  // The parameter `name`; CHORUS_CHECKs that the pattern has it.
  const std::string& operator[](std::string_view name) const;
  // Segments matched by a final "*" (empty when the pattern has none).
  std::span<const std::string> rest() const { return rest_; }

 private:
  template <typename H>
  friend class RouteTable;
  std::vector<std::pair<std::string_view, const std::string*>> named_;  // name -> segment (borrowed)
  std::span<const std::string> rest_;
};

template <typename Handler>
class RouteTable {
 public:
  // method: "GET", "PUT", ... or "*" (any method).
  void add(std::string method, std::string_view pattern, Handler handler) {
    routes_.push_back(Route{std::move(method), PathPattern::parse(pattern), std::move(handler)});
  }

  enum class Outcome { Found, NotFound, MethodNotAllowed };
  struct Lookup {
    Outcome outcome{Outcome::NotFound};
    const Handler* handler{nullptr};  // set when Found; points into the table
    PathParams params;
  };

  Lookup find(std::string_view method, const std::vector<std::string>& segments) const {
    Lookup out;
    std::vector<std::pair<std::string_view, const std::string*>> named;
    std::span<const std::string> rest;
    for (const Route& r : routes_) {
      named.clear();
      if (!r.pattern.match(segments, named, rest)) continue;
      if (r.method != "*" && r.method != method) {
        out.outcome = Outcome::MethodNotAllowed;
        continue;
      }
      out.outcome = Outcome::Found;
      out.handler = &r.handler;
      out.params.named_ = std::move(named);
      out.params.rest_ = rest;
      return out;
    }
    return out;
  }

  // Visits each route's first literal segment (a route family such as "rooms" or "keys").
  template <typename F>
  void forEachRoute(F&& f) const {
    for (const Route& r : routes_) f(r.pattern.firstLiteral(), r.handler);
  }

 private:
  struct Route {
    std::string method;
    PathPattern pattern;
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace chorus::hs
