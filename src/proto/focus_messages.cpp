#include "proto/focus_messages.hpp"

#include "proto/event_types.hpp"
#include "proto/json_util.hpp"

namespace chorus::proto {

namespace json = boost::json;

namespace {

constexpr std::string_view kFocusTypeKey = "type";
constexpr std::string_view kContentKey = "content";
constexpr std::string_view kSubscribeKey = "subscribe";
constexpr std::string_view kUnsubscribeKey = "unsubscribe";
constexpr std::string_view kStreamIdKey = "stream_id";
constexpr std::string_view kTrackIdKey = "track_id";
constexpr std::string_view kFocusWidthKey = "width";
constexpr std::string_view kFocusHeightKey = "height";
constexpr std::string_view kFocusDescriptionKey = "description";
constexpr std::string_view kSlotsKey = "slots";
constexpr std::string_view kSlotKey = "slot";
constexpr std::string_view kFocusUserIdKey = "user_id";
constexpr std::string_view kFocusDeviceIdKey = "device_id";

Result<std::optional<std::int64_t>> optionalDimension(const json::object& o, std::string_view key,
                                                      std::string_view path) {
  auto v = optionalInt(o, key, path);
  if (!v) return v;
  if (*v && **v < 0)
    return fail(Code::InvalidArgument, fieldName(path, key) + ": expected a non-negative integer");
  return v;
}

Result<TrackRef> parseTrackRef(const json::value& v, const std::string& path) {
  const json::object* o = v.if_object();
  if (o == nullptr) return fail(Code::InvalidArgument, path + ": expected an object");
  TrackRef t;
  auto stream = requireString(*o, kStreamIdKey, path);
  if (!stream) return fail(stream.error());
  t.stream_id = std::move(*stream);
  auto track = requireString(*o, kTrackIdKey, path);
  if (!track) return fail(track.error());
  t.track_id = std::move(*track);
  auto width = optionalDimension(*o, kFocusWidthKey, path);
  if (!width) return fail(width.error());
  t.width = *width;
  auto height = optionalDimension(*o, kFocusHeightKey, path);
  if (!height) return fail(height.error());
  t.height = *height;
  return t;
}

// A missing or null list is empty.
Result<std::vector<TrackRef>> parseTrackRefs(const json::object& content, std::string_view key) {
  std::vector<TrackRef> out;
  const json::value* v = content.if_contains(key);
  if (v == nullptr || v->is_null()) return out;
  const std::string path = fieldName(kContentKey, key);
  if (!v->is_array()) return fail(Code::InvalidArgument, path + ": expected an array");
  const json::array& arr = v->get_array();
  if (arr.size() > kMaxTrackRefs) {
    return fail(Code::InvalidArgument, path + ": too many entries (" + std::to_string(arr.size()) +
                                           ", limit " + std::to_string(kMaxTrackRefs) + ")");
  }
  out.reserve(arr.size());
  for (std::size_t i = 0; i < arr.size(); ++i) {
    auto t = parseTrackRef(arr[i], path + "[" + std::to_string(i) + "]");
    if (!t) return fail(t.error());
    out.push_back(std::move(*t));
  }
  return out;
}

json::array serializeTrackRefs(const std::vector<TrackRef>& refs) {
  json::array out;
  out.reserve(refs.size());
  for (const auto& r : refs) {
    json::object o{{kStreamIdKey, r.stream_id}, {kTrackIdKey, r.track_id}};
    if (r.width) o[kFocusWidthKey] = *r.width;
    if (r.height) o[kFocusHeightKey] = *r.height;
    out.push_back(std::move(o));
  }
  return out;
}

// DC messages carry the stable key; the unstable one is accepted too.
Result<std::optional<SdpStreamMetadata>> readMetadata(const json::object& content) {
  for (std::string_view key : {kSdpStreamMetadataKeyStable, kSdpStreamMetadataKey}) {
    const json::value* v = content.if_contains(key);
    if (v == nullptr || v->is_null()) continue;
    auto m = parseSdpStreamMetadata(*v, fieldName(kContentKey, key));
    if (!m) return fail(m.error());
    return std::optional<SdpStreamMetadata>(std::move(*m));
  }
  return std::optional<SdpStreamMetadata>();
}

Result<std::vector<AudioSlotSpeaker>> parseAudioSlots(const json::object& content) {
  const std::string path = fieldName(kContentKey, kSlotsKey);
  const json::value* v = content.if_contains(kSlotsKey);
  if (v == nullptr || !v->is_array()) return fail(Code::InvalidArgument, path + ": expected an array");
  const json::array& arr = v->get_array();
  if (arr.size() > kMaxTrackRefs) return fail(Code::InvalidArgument, path + ": too many entries");
  std::vector<AudioSlotSpeaker> out;
  for (const auto& e : arr) {
    const json::object* o = e.if_object();
    if (o == nullptr) return fail(Code::InvalidArgument, path + ": expected objects");
    AudioSlotSpeaker a;
    auto slot = requireString(*o, kSlotKey, path);
    if (!slot) return fail(slot.error());
    a.slot = std::move(*slot);
    for (auto [key, field] :
         {std::pair{kFocusUserIdKey, &a.user_id}, std::pair{kFocusDeviceIdKey, &a.device_id},
          std::pair{kStreamIdKey, &a.stream_id}, std::pair{kTrackIdKey, &a.track_id}}) {
      const json::value* x = o->if_contains(key);
      if (x == nullptr || x->is_null()) continue;
      if (!x->is_string()) return fail(Code::InvalidArgument, fieldName(path, key) + ": expected a string");
      *field = std::string(x->get_string());
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

std::string_view toString(FocusMessageType t) {
  switch (t) {
    case FocusMessageType::TrackSubscription:
      return "m.call.track_subscription";
    case FocusMessageType::Negotiate:
      return "m.call.negotiate";
    case FocusMessageType::SdpStreamMetadataChanged:
      return "m.call.sdp_stream_metadata_changed";
    case FocusMessageType::Ping:
      return "m.call.ping";
    case FocusMessageType::Pong:
      return "m.call.pong";
    case FocusMessageType::AudioSlots:
      return kAudioSlotsType;
  }
  return "m.call.ping";
}

std::optional<FocusMessageType> parseFocusMessageType(std::string_view s) {
  if (s == "m.call.track_subscription") return FocusMessageType::TrackSubscription;
  if (s == "m.call.negotiate") return FocusMessageType::Negotiate;
  if (s == "m.call.sdp_stream_metadata_changed" || s == "org.matrix.call.sdp_stream_metadata_changed") {
    return FocusMessageType::SdpStreamMetadataChanged;
  }
  if (s == "m.call.ping") return FocusMessageType::Ping;
  if (s == "m.call.pong") return FocusMessageType::Pong;
  if (s == kAudioSlotsType) return FocusMessageType::AudioSlots;
  return std::nullopt;
}

Result<FocusMessage> parseFocusMessage(std::string_view text) {
  if (text.size() > kMaxFocusMessageBytes) {
    return fail(Code::InvalidArgument, "focus message too large (" + std::to_string(text.size()) +
                                           " bytes, limit " + std::to_string(kMaxFocusMessageBytes) + ")");
  }
  auto root = parseJsonObject(text);
  if (!root) return fail(root.error());
  auto type_name = requireString(*root, kFocusTypeKey);
  if (!type_name) return fail(type_name.error());
  auto type = parseFocusMessageType(*type_name);
  if (!type) {
    return fail(Code::InvalidArgument,
                "type: unknown focus message type \"" + type_name->substr(0, 64) + "\"");
  }
  FocusMessage m;
  m.type = *type;

  static const json::object kEmpty;
  const json::object* content = &kEmpty;
  if (const json::value* c = root->if_contains(kContentKey); c != nullptr && !c->is_null()) {
    if (!c->is_object())
      return fail(Code::InvalidArgument, std::string(kContentKey) + ": expected an object");
    content = &c->get_object();
  } else if (m.type != FocusMessageType::Ping && m.type != FocusMessageType::Pong) {
    return fail(Code::InvalidArgument, std::string(kContentKey) + ": required field missing");
  }

  switch (m.type) {
    case FocusMessageType::TrackSubscription: {
      auto subscribe = parseTrackRefs(*content, kSubscribeKey);
      if (!subscribe) return fail(subscribe.error());
      m.subscribe = std::move(*subscribe);
      auto unsubscribe = parseTrackRefs(*content, kUnsubscribeKey);
      if (!unsubscribe) return fail(unsubscribe.error());
      m.unsubscribe = std::move(*unsubscribe);
      break;
    }
    case FocusMessageType::Negotiate: {
      auto d = parseSessionDescription(*content, kFocusDescriptionKey);
      if (!d) {
        return fail(Code::InvalidArgument, fieldName(kContentKey, d.error().message));
      }
      if (d->type != "offer" && d->type != "answer") {
        return fail(Code::InvalidArgument,
                    "content.description.type: unexpected value \"" + d->type.substr(0, 32) + "\"");
      }
      m.description = std::move(*d);
      auto metadata = readMetadata(*content);
      if (!metadata) return fail(metadata.error());
      m.metadata = std::move(*metadata);
      break;
    }
    case FocusMessageType::SdpStreamMetadataChanged: {
      auto metadata = readMetadata(*content);
      if (!metadata) return fail(metadata.error());
      if (!*metadata) {
        return fail(Code::InvalidArgument,
                    fieldName(kContentKey, kSdpStreamMetadataKeyStable) + ": required field missing");
      }
      m.metadata = std::move(*metadata);
      if (const auto* d = content->if_contains(kMetadataDeltaKey))
        m.metadata_delta = d->is_bool() && d->as_bool();
      if (const auto* r = content->if_contains(kRemovedStreamsKey); r && m.metadata_delta) {
        if (!r->is_array() || r->as_array().size() > kMaxStreams)
          return fail(Code::InvalidArgument,
                      fieldName(kContentKey, kRemovedStreamsKey) + ": not a list of streams");
        for (const auto& id : r->as_array()) {
          if (!id.is_string())
            return fail(Code::InvalidArgument, fieldName(kContentKey, kRemovedStreamsKey) + ": not a string");
          m.removed_streams.emplace_back(id.as_string());
        }
      }
      break;
    }
    case FocusMessageType::AudioSlots: {
      auto slots = parseAudioSlots(*content);
      if (!slots) return fail(slots.error());
      m.audio_slots = std::move(*slots);
      break;
    }
    case FocusMessageType::Ping:
    case FocusMessageType::Pong:
      break;
  }
  return m;
}

std::string serializeFocusMessage(const FocusMessage& m) {
  json::object content;
  switch (m.type) {
    case FocusMessageType::TrackSubscription:
      content[kSubscribeKey] = serializeTrackRefs(m.subscribe);
      content[kUnsubscribeKey] = serializeTrackRefs(m.unsubscribe);
      break;
    case FocusMessageType::Negotiate:
      if (m.description) content[kFocusDescriptionKey] = serializeSessionDescription(*m.description);
      if (m.metadata) content[kSdpStreamMetadataKeyStable] = serializeSdpStreamMetadata(*m.metadata);
      break;
    case FocusMessageType::SdpStreamMetadataChanged:
      content[kSdpStreamMetadataKeyStable] =
          serializeSdpStreamMetadata(m.metadata.value_or(SdpStreamMetadata{}));
      if (m.metadata_delta) content[kMetadataDeltaKey] = true;
      if (m.metadata_delta && !m.removed_streams.empty()) {
        json::array removed;
        for (const auto& id : m.removed_streams) removed.emplace_back(id);
        content[kRemovedStreamsKey] = std::move(removed);
      }
      break;
    case FocusMessageType::AudioSlots: {
      json::array slots;
      for (const auto& a : m.audio_slots) {
        json::object o{{kSlotKey, a.slot}};
        for (auto [key, field] :
             {std::pair{kFocusUserIdKey, &a.user_id}, std::pair{kFocusDeviceIdKey, &a.device_id},
              std::pair{kStreamIdKey, &a.stream_id}, std::pair{kTrackIdKey, &a.track_id}}) {
          if (!field->empty()) o[key] = *field;  // nobody on it: only the slot
        }
        slots.emplace_back(std::move(o));
      }
      content[kSlotsKey] = std::move(slots);
      break;
    }
    case FocusMessageType::Ping:
    case FocusMessageType::Pong:
      break;
  }
  json::object root{{kFocusTypeKey, toString(m.type)}, {kContentKey, std::move(content)}};
  return json::serialize(root);
}

}  // namespace chorus::proto
