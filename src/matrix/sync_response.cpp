#include "matrix/sync_response.hpp"

#include <cstdio>

namespace chorus::matrix {

namespace json = boost::json;

namespace {

// Length of the well-formed sequence at s[i], or 0 when it is ill-formed; *subpart receives the length of
// the maximal ill-formed prefix to replace by one U+FFFD (at least 1).
std::size_t utf8SequenceAt(std::string_view s, std::size_t i, std::size_t* subpart) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  *subpart = 1;
  if (c < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;  // 0x80..0xC1, 0xF5..0xFF never start a sequence
  }
  for (std::size_t k = 1; k < len; ++k) {
    if (i + k >= s.size()) return 0;
    const unsigned char x = b(i + k);
    const bool in_range = k == 1 ? (x >= lo && x <= hi) : (x >= 0x80 && x <= 0xBF);
    if (!in_range) return 0;
    *subpart = k + 1;
  }
  return len;
}

}  // namespace

std::size_t repairUtf8(std::string_view in, std::string& out) {
  std::size_t replaced = 0;
  std::size_t i = 0;
  std::size_t copied = 0;  // in[0, copied) is already in out
  while (i < in.size()) {
    if (static_cast<unsigned char>(in[i]) < 0x80) {
      ++i;
      continue;
    }
    std::size_t subpart = 1;
    if (const std::size_t n = utf8SequenceAt(in, i, &subpart)) {
      i += n;
      continue;
    }
    if (replaced == 0) {
      out.clear();
      out.reserve(in.size() + 16);
    }
    out.append(in.substr(copied, i - copied));
    out.append("\xEF\xBF\xBD");  // U+FFFD
    ++replaced;
    i += subpart;
    copied = i;
  }
  if (replaced) out.append(in.substr(copied));
  return replaced;
}

namespace {

std::optional<unsigned> hex4(std::string_view s, std::size_t at) {
  if (at + 4 > s.size()) return std::nullopt;
  unsigned v = 0;
  for (std::size_t k = 0; k < 4; ++k) {
    const char c = s[at + k];
    v <<= 4;
    if (c >= '0' && c <= '9') {
      v |= static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      v |= static_cast<unsigned>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      v |= static_cast<unsigned>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
  }
  return v;
}

}  // namespace

std::size_t repairSurrogateEscapes(std::string_view in, std::string& out) {
  std::size_t replaced = 0;
  std::size_t copied = 0;  // in[0, copied) is already in out
  std::size_t i = 0;
  auto replace = [&](std::size_t at, std::size_t len) {
    if (replaced == 0) {
      out.clear();
      out.reserve(in.size());
    }
    out.append(in.substr(copied, at - copied));
    out.append("\\ufffd");
    ++replaced;
    copied = at + len;
  };
  while (i < in.size()) {
    if (in[i] != '\\') {
      ++i;
      continue;
    }
    // An escape: backslash + one character, or backslash-u + four hex digits.
    if (i + 1 >= in.size() || in[i + 1] != 'u') {
      i += 2;
      continue;
    }
    const auto unit = hex4(in, i + 2);
    if (!unit) {
      i += 2;  // not a valid escape; the JSON parser reports it
      continue;
    }
    if (*unit >= 0xD800 && *unit <= 0xDBFF) {
      const bool paired = i + 7 < in.size() && in[i + 6] == '\\' && in[i + 7] == 'u' &&
                          hex4(in, i + 8).value_or(0) >= 0xDC00 && hex4(in, i + 8).value_or(0) <= 0xDFFF;
      if (paired) {
        i += 12;
        continue;
      }
      replace(i, 6);
    } else if (*unit >= 0xDC00 && *unit <= 0xDFFF) {
      replace(i, 6);
    }
    i += 6;
  }
  if (replaced) out.append(in.substr(copied));
  return replaced;
}

Result<json::object> parseReply(std::string_view body, std::size_t max_bytes, std::size_t* invalid_utf8) {
  if (invalid_utf8) *invalid_utf8 = 0;
  if (body.size() > max_bytes) return fail(Code::ResourceExhausted, "reply larger than the limit");
  std::string repaired;
  if (const std::size_t bad = repairUtf8(body, repaired)) {
    if (invalid_utf8) *invalid_utf8 = bad;
    body = repaired;
  }
  std::string unpaired;
  if (const std::size_t lone = repairSurrogateEscapes(body, unpaired)) {
    if (invalid_utf8) *invalid_utf8 += lone;
    body = unpaired;
  }
  json::parse_options opt;
  opt.max_depth = kMaxSyncDepth;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec, {}, opt);
  if (ec) return fail(Code::InvalidArgument, "reply is not JSON: " + ec.message());
  if (!v.is_object()) return fail(Code::InvalidArgument, "reply is not a JSON object");
  return std::move(v.as_object());
}

namespace {

std::optional<proto::StateEvent> toStateEvent(const json::value& v) {
  if (!v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  const auto* type = o.if_contains("type");
  const auto* key = o.if_contains("state_key");
  const auto* sender = o.if_contains("sender");
  const auto* content = o.if_contains("content");
  if (!type || !type->is_string() || !key || !key->is_string() || !sender || !sender->is_string() ||
      !content || !content->is_object()) {
    return std::nullopt;
  }
  proto::StateEvent ev;
  ev.type = type->as_string();
  ev.state_key = key->as_string();
  ev.sender = sender->as_string();
  ev.content = content->as_object();
  if (const auto* id = o.if_contains("event_id"); id && id->is_string()) ev.event_id = id->as_string();
  if (const auto* ts = o.if_contains("origin_server_ts"); ts && ts->is_number()) {
    ev.origin_server_ts = ts->is_int64() ? ts->as_int64() : static_cast<TimeMs>(ts->to_number<double>());
  }
  return ev;
}

bool isStateEvent(const json::value& v) {
  return v.is_object() && v.as_object().contains("state_key");
}

const json::array* arrayAt(const json::object& o, std::string_view a, std::string_view b) {
  const auto* x = o.if_contains(a);
  if (!x || !x->is_object()) return nullptr;
  const auto* y = x->as_object().if_contains(b);
  if (!y || !y->is_array()) return nullptr;
  return &y->as_array();
}

}  // namespace

Result<SyncBatch> parseSyncResponse(std::string_view body, std::size_t* skipped_events,
                                    std::size_t* invalid_utf8) {
  auto parsed = parseReply(body, kMaxSyncBytes, invalid_utf8);
  if (!parsed) return fail(parsed.error());
  return parseSyncResponse(*parsed, skipped_events);
}

Result<SyncBatch> parseSyncResponse(const json::object& root, std::size_t* skipped_events) {
  std::size_t skipped = 0;
  SyncBatch batch;
  const auto* nb = root.if_contains("next_batch");
  if (!nb || !nb->is_string()) return fail(Code::InvalidArgument, "next_batch: missing or not a string");
  batch.next_batch = nb->as_string();

  if (const auto* rooms = root.if_contains("rooms"); rooms && rooms->is_object()) {
    const auto& r = rooms->as_object();
    if (const auto* join = r.if_contains("join"); join && join->is_object()) {
      for (const auto& [room_id, room_v] : join->as_object()) {
        if (!room_v.is_object()) continue;
        const auto& room = room_v.as_object();
        SyncRoom sr;
        if (const auto* st = arrayAt(room, "state", "events")) {
          for (const auto& e : *st) {
            if (auto ev = toStateEvent(e)) {
              sr.state.push_back(std::move(*ev));
            } else {
              ++skipped;
            }
          }
        }
        if (const auto* tl = arrayAt(room, "timeline", "events")) {
          for (const auto& e : *tl) {
            if (!isStateEvent(e)) continue;
            if (auto ev = toStateEvent(e)) {
              sr.state.push_back(std::move(*ev));
            } else {
              ++skipped;
            }
          }
        }
        if (const auto* tl = room.if_contains("timeline"); tl && tl->is_object()) {
          if (const auto* lim = tl->as_object().if_contains("limited"); lim && lim->is_bool()) {
            sr.limited = lim->as_bool();
          }
        }
        batch.join.emplace(std::string(room_id), std::move(sr));
      }
    }
    for (auto [key, target] : {std::pair{"invite", &batch.invite}, std::pair{"leave", &batch.leave}}) {
      if (const auto* x = r.if_contains(key); x && x->is_object()) {
        for (const auto& [room_id, v] : x->as_object()) target->insert(std::string(room_id));
      }
    }
  }
  if (const auto* td = arrayAt(root, "to_device", "events")) {
    for (const auto& e : *td) {
      if (!e.is_object()) {
        ++skipped;
        continue;
      }
      const auto& o = e.as_object();
      const auto* type = o.if_contains("type");
      const auto* sender = o.if_contains("sender");
      const auto* content = o.if_contains("content");
      if (!type || !type->is_string() || !sender || !sender->is_string() || !content ||
          !content->is_object()) {
        ++skipped;
        continue;
      }
      batch.to_device.push_back(proto::ToDeviceMessage{
          std::string(type->as_string()), std::string(sender->as_string()), content->as_object()});
    }
  }
  if (const auto* counts = root.if_contains("device_one_time_keys_count"); counts && counts->is_object()) {
    if (const auto* n = counts->as_object().if_contains("signed_curve25519"); n && n->is_int64()) {
      batch.one_time_key_count = n->as_int64();
    }
  }
  if (const auto* fb = root.if_contains("device_unused_fallback_key_types"); fb && fb->is_array()) {
    bool unused = false;
    for (const auto& t : fb->as_array())
      unused = unused || (t.is_string() && t.as_string() == "signed_curve25519");
    batch.fallback_key_unused = unused;
  }
  if (const auto* dl = root.if_contains("device_lists"); dl && dl->is_object()) {
    if (const auto* ch = dl->as_object().if_contains("changed"); ch && ch->is_array()) {
      for (const auto& u : ch->as_array()) {
        if (batch.device_lists_changed.size() >= 4096) break;
        if (u.is_string() && !u.as_string().empty() && u.as_string().size() <= 255) {
          batch.device_lists_changed.emplace_back(u.as_string());
        }
      }
    }
  }
  if (skipped_events) *skipped_events = skipped;
  return batch;
}

MatrixError parseMatrixError(long status, std::string_view body) {
  MatrixError e;
  e.status = status;
  auto parsed = parseReply(body);
  if (!parsed) {
    e.errcode = "M_UNKNOWN";
    e.error = std::string(body.substr(0, 200));
    return e;
  }
  const auto& o = *parsed;
  if (const auto* c = o.if_contains("errcode"); c && c->is_string()) e.errcode = c->as_string();
  if (const auto* m = o.if_contains("error"); m && m->is_string()) e.error = m->as_string();
  if (const auto* r = o.if_contains("retry_after_ms"); r && r->is_int64()) e.retry_after_ms = r->as_int64();
  if (e.errcode.empty()) e.errcode = "M_UNKNOWN";
  return e;
}

std::string encodePathSegment(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace chorus::matrix
