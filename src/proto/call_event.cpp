#include "proto/call_event.hpp"

#include "proto/json_util.hpp"

namespace chorus::proto {

namespace json = boost::json;

namespace {

constexpr std::string_view kIntentKey = "m.intent";
constexpr std::string_view kTypeKey = "m.type";
constexpr std::string_view kNameKey = "m.name";
constexpr std::string_view kTerminatedKey = "m.terminated";
constexpr std::string_view kCallEnded = "call_ended";

std::string quoted(std::string_view s) {
  std::string out = "\"";
  // Keep error messages short even for hostile input.
  out.append(s.substr(0, 64));
  if (s.size() > 64) out.append("...");
  out.push_back('"');
  return out;
}

}  // namespace

std::string_view toString(CallIntent intent) {
  switch (intent) {
    case CallIntent::Ring:
      return "m.ring";
    case CallIntent::Prompt:
      return "m.prompt";
    case CallIntent::Room:
      return "m.room";
  }
  return "m.prompt";
}

std::string_view toString(CallType type) {
  switch (type) {
    case CallType::Voice:
      return "m.voice";
    case CallType::Video:
      return "m.video";
  }
  return "m.video";
}

std::optional<CallIntent> parseCallIntent(std::string_view s) {
  if (s == "m.ring") return CallIntent::Ring;
  if (s == "m.prompt") return CallIntent::Prompt;
  if (s == "m.room") return CallIntent::Room;
  return std::nullopt;
}

std::optional<CallType> parseCallType(std::string_view s) {
  if (s == "m.voice") return CallType::Voice;
  if (s == "m.video") return CallType::Video;
  return std::nullopt;
}

bool isTerminatedValue(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return false;
    case json::kind::bool_:
      return v.get_bool();
    case json::kind::string:
      return !v.get_string().empty();
    case json::kind::int64:
      return v.get_int64() != 0;
    case json::kind::uint64:
      return v.get_uint64() != 0;
    case json::kind::double_:
      return v.get_double() != 0.0 && v.get_double() == v.get_double();
    default:
      return true;  // objects and arrays are truthy
  }
}

namespace {

Result<CallEvent> parseSanitizedCallEvent(std::string_view state_key, const json::object& content) {
  CallEvent ev;
  ev.call_id = std::string(state_key);

  auto intent = requireString(content, kIntentKey);
  if (!intent) return fail(intent.error());
  auto parsed_intent = parseCallIntent(*intent);
  if (!parsed_intent) {
    return fail(Code::InvalidArgument, std::string(kIntentKey) + ": unknown value " + quoted(*intent) +
                                           " (want m.ring, m.prompt or m.room)");
  }
  ev.intent = *parsed_intent;

  auto type = requireString(content, kTypeKey);
  if (!type) return fail(type.error());
  auto parsed_type = parseCallType(*type);
  if (!parsed_type) {
    return fail(Code::InvalidArgument,
                std::string(kTypeKey) + ": unknown value " + quoted(*type) + " (want m.voice or m.video)");
  }
  ev.type = *parsed_type;

  for (const auto& kv : content) {
    const std::string_view key = kv.key();
    if (key == kIntentKey || key == kTypeKey) continue;
    if (key == kNameKey && kv.value().is_string()) {
      ev.name = std::string(kv.value().get_string());
      continue;
    }
    if (key == kTerminatedKey) {
      ev.terminated_value = kv.value();
      ev.terminated = isTerminatedValue(kv.value());
      continue;
    }
    // Everything else, including a non-string m.name, is kept as is.
    ev.extra.emplace(key, kv.value());
  }
  return ev;
}

}  // namespace

Result<CallEvent> parseCallEvent(std::string_view state_key, const json::object& content) {
  if (hasNonFiniteNumbers(content)) {
    json::object copy = content;
    replaceNonFiniteNumbers(copy);
    return parseSanitizedCallEvent(state_key, copy);
  }
  return parseSanitizedCallEvent(state_key, content);
}

json::object serializeCallEvent(const CallEvent& ev) {
  json::object out = ev.extra;
  out[kIntentKey] = toString(ev.intent);
  out[kTypeKey] = toString(ev.type);
  if (ev.name) {
    out[kNameKey] = *ev.name;
  }
  if (ev.terminated) {
    if (ev.terminated_value && isTerminatedValue(*ev.terminated_value)) {
      out[kTerminatedKey] = *ev.terminated_value;
    } else {
      out[kTerminatedKey] = kCallEnded;
    }
  } else {
    // A falsy value as read (null, false, "") is re-emitted; a truthy one no longer applies.
    if (ev.terminated_value && !isTerminatedValue(*ev.terminated_value)) {
      out[kTerminatedKey] = *ev.terminated_value;
    } else {
      out.erase(kTerminatedKey);
    }
  }
  return out;
}

CallEvent terminatedCopy(const CallEvent& ev) {
  CallEvent copy = ev;
  copy.terminated = true;
  copy.terminated_value = json::value(kCallEnded);
  return copy;
}

}  // namespace chorus::proto
