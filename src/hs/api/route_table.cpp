#include "hs/api/route_table.hpp"

#include <algorithm>

#include <boost/url.hpp>

#include "hs/api/utf8.hpp"

namespace chorus::hs {

namespace {

bool acceptableParam(std::string_view s) {
  return validUtf8(s) && s.find('\0') == std::string_view::npos;
}

}  // namespace

MxResult<RequestTarget> parseRequestTarget(std::string_view target) {
  auto r = boost::urls::parse_origin_form(target);
  if (!r) return mxError(400, "M_UNRECOGNIZED", "Malformed request target");
  RequestTarget t;
  bool bad = false;
  std::vector<std::string> all;
  for (auto s : r->segments()) {
    all.emplace_back(s);
    if (!acceptableParam(all.back())) bad = true;
  }
  for (auto param : r->params()) {
    if (t.query.size() >= kMaxQueryParams) break;
    std::string key(param.key);
    std::string value = param.has_value ? std::string(param.value) : std::string();
    if (!acceptableParam(key) || !acceptableParam(value)) bad = true;
    t.query.emplace(std::move(key), std::move(value));
  }
  if (bad) return invalidParam("Path and query parameters must be valid UTF-8 without NUL");
  if (all.size() < 3 || all[0] != "_matrix" || all[1] != "client") return t;
  if (all[2] == "versions" && all.size() == 3) {
    t.client = true;
    t.versions = true;
    return t;
  }
  std::size_t start = 3;
  if (all[2] == "unstable") {
    if (all.size() > 3 && all[3].rfind("org.matrix.", 0) == 0) start = 4;
  } else if (all[2] != "v3" && all[2] != "r0" && all[2] != "v1") {
    return t;
  }
  t.client = true;
  t.segments.assign(
      std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(std::min(start, all.size()))),
      std::make_move_iterator(all.end()));
  return t;
}

PathPattern PathPattern::parse(std::string_view pattern) {
  PathPattern p;
  std::size_t pos = 0;
  while (pos <= pattern.size()) {
    const std::size_t slash = std::min(pattern.find('/', pos), pattern.size());
    const std::string_view seg = pattern.substr(pos, slash - pos);
    CHORUS_CHECK(!p.rest_, "\"*\" must be the last segment of a route pattern");
    if (seg == "*") {
      p.rest_ = true;
    } else if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
      p.parts_.push_back(Part{std::string(seg.substr(1, seg.size() - 2)), true});
    } else {
      CHORUS_CHECK(!seg.empty() && seg.find_first_of("{}*") == std::string_view::npos,
                   "bad route pattern segment");
      p.parts_.push_back(Part{std::string(seg), false});
    }
    pos = slash + 1;
  }
  return p;
}

bool PathPattern::match(const std::vector<std::string>& segments,
                        std::vector<std::pair<std::string_view, const std::string*>>& named,
                        std::span<const std::string>& rest) const {
  if (rest_ ? segments.size() <= parts_.size() : segments.size() != parts_.size()) return false;
  for (std::size_t i = 0; i < parts_.size(); ++i) {
    if (!parts_[i].param && parts_[i].text != segments[i]) return false;
  }
  for (std::size_t i = 0; i < parts_.size(); ++i) {
    if (parts_[i].param) named.emplace_back(parts_[i].text, &segments[i]);
  }
  rest =
      rest_ ? std::span<const std::string>(segments).subspan(parts_.size()) : std::span<const std::string>();
  return true;
}

std::string_view PathPattern::firstLiteral() const {
  return parts_.empty() || parts_[0].param ? std::string_view() : std::string_view(parts_[0].text);
}

const std::string& PathParams::operator[](std::string_view name) const {
  for (const auto& [n, v] : named_) {
    if (n == name) return *v;
  }
  CHORUS_CHECK(false, "the route pattern has no such parameter");
  static const std::string kNone;
  return kNone;
}

}  // namespace chorus::hs
