#include "proto/member_event.hpp"

#include "proto/event_types.hpp"
#include "proto/json_util.hpp"

namespace chorus::proto {

namespace json = boost::json;

namespace {

constexpr std::string_view kCallsKey = "m.calls";
constexpr std::string_view kMemberCallIdKey = "m.call_id";
constexpr std::string_view kDevicesKey = "m.devices";
constexpr std::string_view kMemberDeviceIdKey = "device_id";
constexpr std::string_view kSessionIdKey = "session_id";
constexpr std::string_view kExpiresTsKey = "expires_ts";
constexpr std::string_view kFeedsKey = "feeds";
constexpr std::string_view kMemberPurposeKey = "purpose";
constexpr std::string_view kIdKey = "id";
constexpr std::string_view kMemberTracksKey = "tracks";
constexpr std::string_view kMemberUserIdKey = "user_id";

bool isFociKey(std::string_view key) {
  return key == kFociActiveKey || key == kFociActiveKeyStable || key == kFociPreferredKey ||
         key == kFociPreferredKeyStable;
}

// Entries that are not {user_id: string, device_id: string} are skipped.
std::vector<FocusInfo> parseFoci(const json::array& a) {
  std::vector<FocusInfo> out;
  for (const auto& item : a) {
    const json::object* o = item.if_object();
    if (o == nullptr) continue;
    const json::value* user = o->if_contains(kMemberUserIdKey);
    const json::value* device = o->if_contains(kMemberDeviceIdKey);
    if (user == nullptr || device == nullptr || !user->is_string() || !device->is_string()) continue;
    out.push_back(FocusInfo{std::string(user->get_string()), std::string(device->get_string())});
  }
  return out;
}

// The unstable key wins when it holds an array; otherwise the stable one.
std::vector<FocusInfo> readFoci(const json::object& o, std::string_view unstable, std::string_view stable) {
  if (const json::value* v = o.if_contains(unstable); v != nullptr && v->is_array())
    return parseFoci(v->get_array());
  if (const json::value* v = o.if_contains(stable); v != nullptr && v->is_array())
    return parseFoci(v->get_array());
  return {};
}

json::array serializeFoci(const std::vector<FocusInfo>& foci) {
  json::array out;
  out.reserve(foci.size());
  for (const auto& f : foci) {
    out.push_back(json::object{{kMemberUserIdKey, f.user_id}, {kMemberDeviceIdKey, f.device_id}});
  }
  return out;
}

Result<Feed> parseFeed(const json::value& v, const std::string& path) {
  const json::object* o = v.if_object();
  if (o == nullptr) return fail(Code::InvalidArgument, path + ": expected an object");
  auto purpose = requireString(*o, kMemberPurposeKey, path);
  if (!purpose) return fail(purpose.error());
  Feed feed;
  feed.purpose = std::move(*purpose);
  for (const auto& kv : *o) {
    const std::string_view key = kv.key();
    if (key == kMemberPurposeKey) continue;
    if (key == kIdKey && kv.value().is_string()) {
      feed.id = std::string(kv.value().get_string());
    } else if (key == kMemberTracksKey && kv.value().is_array()) {
      feed.tracks = kv.value().get_array();
    } else {
      feed.extra.emplace(key, kv.value());
    }
  }
  return feed;
}

json::object serializeFeed(const Feed& f) {
  json::object out = f.extra;
  out[kMemberPurposeKey] = f.purpose;
  if (f.id) out[kIdKey] = *f.id;
  if (f.tracks) out[kMemberTracksKey] = *f.tracks;
  return out;
}

json::object serializeMemberCall(const MemberCall& c) {
  json::object out = c.extra;
  out[kMemberCallIdKey] = c.call_id;
  json::array devices;
  devices.reserve(c.devices.size() + c.invalid_devices.size());
  for (const auto& d : c.devices) devices.push_back(serializeMemberDevice(d));
  for (const auto& d : c.invalid_devices) devices.push_back(d);
  out[kDevicesKey] = std::move(devices);
  return out;
}

Result<MemberDevice> parseSanitizedMemberDevice(const json::value& v);

MemberCall parseMemberCall(const json::object& o, std::string call_id) {
  MemberCall call;
  call.call_id = std::move(call_id);
  for (const auto& kv : o) {
    const std::string_view key = kv.key();
    if (key == kMemberCallIdKey) continue;
    if (key == kDevicesKey) {
      // A non-array m.devices counts as no devices (js-sdk).
      if (!kv.value().is_array()) continue;
      for (const auto& dv : kv.value().get_array()) {
        auto device = parseSanitizedMemberDevice(dv);
        if (device) {
          call.devices.push_back(std::move(*device));
        } else {
          call.invalid_devices.push_back(dv);
          call.invalid_reasons.push_back(device.error().message);
        }
      }
      continue;
    }
    call.extra.emplace(key, kv.value());
  }
  return call;
}

}  // namespace

const MemberCall* CallMemberEvent::findCall(std::string_view call_id) const {
  for (const auto& c : calls) {
    if (c.call_id == call_id) return &c;
  }
  return nullptr;
}

MemberCall* CallMemberEvent::findCall(std::string_view call_id) {
  for (auto& c : calls) {
    if (c.call_id == call_id) return &c;
  }
  return nullptr;
}

namespace {

Result<MemberDevice> parseSanitizedMemberDevice(const json::value& v) {
  const json::object* o = v.if_object();
  if (o == nullptr) return fail(Code::InvalidArgument, "device entry: expected an object");
  MemberDevice d;
  auto device_id = requireString(*o, kMemberDeviceIdKey);
  if (!device_id) return fail(device_id.error());
  d.device_id = std::move(*device_id);
  auto session_id = requireString(*o, kSessionIdKey);
  if (!session_id) return fail(session_id.error());
  d.session_id = std::move(*session_id);
  auto expires = requireInt(*o, kExpiresTsKey);
  if (!expires) return fail(expires.error());
  d.expires_ts = *expires;
  auto feeds = requireArray(*o, kFeedsKey);
  if (!feeds) return fail(feeds.error());
  d.feeds.reserve((*feeds)->size());
  for (std::size_t i = 0; i < (*feeds)->size(); ++i) {
    auto feed = parseFeed((**feeds)[i], indexName({}, kFeedsKey, i));
    if (!feed) return fail(feed.error());
    d.feeds.push_back(std::move(*feed));
  }
  d.foci_active = readFoci(*o, kFociActiveKey, kFociActiveKeyStable);
  d.foci_preferred = readFoci(*o, kFociPreferredKey, kFociPreferredKeyStable);
  for (const auto& kv : *o) {
    const std::string_view key = kv.key();
    if (key == kMemberDeviceIdKey || key == kSessionIdKey || key == kExpiresTsKey || key == kFeedsKey ||
        isFociKey(key)) {
      continue;
    }
    d.extra.emplace(key, kv.value());
  }
  return d;
}

Result<CallMemberEvent> parseSanitizedCallMemberEvent(std::string_view state_key,
                                                      const json::object& content) {
  CallMemberEvent ev;
  ev.user_id = std::string(state_key);
  for (const auto& kv : content) {
    const std::string_view key = kv.key();
    if (key != kCallsKey) {
      ev.extra.emplace(key, kv.value());
      continue;
    }
    // A non-array m.calls is treated as empty (js-sdk).
    if (!kv.value().is_array()) continue;
    for (const auto& item : kv.value().get_array()) {
      const json::object* o = item.if_object();
      const json::value* id = o != nullptr ? o->if_contains(kMemberCallIdKey) : nullptr;
      if (id == nullptr || !id->is_string()) {
        ev.invalid_calls.push_back(item);
        continue;
      }
      ev.calls.push_back(parseMemberCall(*o, std::string(id->get_string())));
    }
  }
  return ev;
}

}  // namespace

Result<MemberDevice> parseMemberDevice(const json::value& v) {
  if (hasNonFiniteNumbers(v)) {
    json::value copy = v;
    replaceNonFiniteNumbers(copy);
    return parseSanitizedMemberDevice(copy);
  }
  return parseSanitizedMemberDevice(v);
}

json::object serializeMemberDevice(const MemberDevice& d) {
  json::object out = d.extra;
  out[kMemberDeviceIdKey] = d.device_id;
  out[kSessionIdKey] = d.session_id;
  out[kExpiresTsKey] = d.expires_ts;
  json::array feeds;
  feeds.reserve(d.feeds.size());
  for (const auto& f : d.feeds) feeds.push_back(serializeFeed(f));
  out[kFeedsKey] = std::move(feeds);
  if (!d.foci_active.empty()) out[kFociActiveKey] = serializeFoci(d.foci_active);
  if (!d.foci_preferred.empty()) out[kFociPreferredKey] = serializeFoci(d.foci_preferred);
  return out;
}

Result<CallMemberEvent> parseCallMemberEvent(std::string_view state_key, const json::object& content) {
  if (hasNonFiniteNumbers(content)) {
    json::object copy = content;
    replaceNonFiniteNumbers(copy);
    return parseSanitizedCallMemberEvent(state_key, copy);
  }
  return parseSanitizedCallMemberEvent(state_key, content);
}

json::object serializeCallMemberEvent(const CallMemberEvent& ev) {
  json::object out = ev.extra;
  json::array calls;
  calls.reserve(ev.calls.size() + ev.invalid_calls.size());
  for (const auto& c : ev.calls) calls.push_back(serializeMemberCall(c));
  for (const auto& c : ev.invalid_calls) calls.push_back(c);
  out[kCallsKey] = std::move(calls);
  return out;
}

}  // namespace chorus::proto
