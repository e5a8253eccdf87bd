#include "proto/signalling.hpp"

#include <limits>

#include "proto/event_types.hpp"
#include "proto/json_util.hpp"

namespace chorus::proto {

namespace json = boost::json;

namespace {

constexpr std::string_view kSdpStreamMetadataChangedUnstable = "org.matrix.call.sdp_stream_metadata_changed";
constexpr std::string_view kSdpStreamMetadataChangedStable = "m.call.sdp_stream_metadata_changed";

constexpr std::string_view kCallIdKey = "call_id";
constexpr std::string_view kPartyIdKey = "party_id";
constexpr std::string_view kVersionKey = "version";
constexpr std::string_view kConfIdKey = "conf_id";
constexpr std::string_view kDeviceIdKey = "device_id";
constexpr std::string_view kSenderSessionKey = "sender_session_id";
constexpr std::string_view kDestSessionKey = "dest_session_id";
constexpr std::string_view kSeqKey = "seq";
constexpr std::string_view kOfferKey = "offer";
constexpr std::string_view kAnswerKey = "answer";
constexpr std::string_view kDescriptionKey = "description";
constexpr std::string_view kLifetimeKey = "lifetime";
constexpr std::string_view kInviteeKey = "invitee";
constexpr std::string_view kCapabilitiesKey = "capabilities";
constexpr std::string_view kTransfereeKey = "m.call.transferee";
constexpr std::string_view kDtmfKey = "m.call.dtmf";
constexpr std::string_view kCandidatesKey = "candidates";
constexpr std::string_view kSelectedPartyKey = "selected_party_id";
constexpr std::string_view kReasonKey = "reason";

constexpr std::string_view kCandidateKey = "candidate";
constexpr std::string_view kSdpMidKey = "sdpMid";
constexpr std::string_view kSdpMLineIndexKey = "sdpMLineIndex";
constexpr std::string_view kUsernameFragmentKey = "usernameFragment";

constexpr std::string_view kPurposeKey = "purpose";
constexpr std::string_view kAudioMutedKey = "audio_muted";
constexpr std::string_view kVideoMutedKey = "video_muted";
constexpr std::string_view kVideoPausedKey = "org.chorus.video_paused";
constexpr std::string_view kUserIdKey = "user_id";
constexpr std::string_view kTracksKey = "tracks";
constexpr std::string_view kKindKey = "kind";
constexpr std::string_view kWidthKey = "width";
constexpr std::string_view kHeightKey = "height";

// Keys of the type-specific part of each event; everything else that is not common goes to extra.
bool isTypeKey(SignalType t, std::string_view key) {
  switch (t) {
    case SignalType::Invite:
      return key == kOfferKey || key == kLifetimeKey || key == kInviteeKey || key == kCapabilitiesKey;
    case SignalType::Answer:
      return key == kAnswerKey || key == kCapabilitiesKey;
    case SignalType::Negotiate:
      return key == kDescriptionKey || key == kLifetimeKey || key == kCapabilitiesKey;
    case SignalType::Candidates:
      return key == kCandidatesKey;
    case SignalType::SelectAnswer:
      return key == kSelectedPartyKey;
    case SignalType::Hangup:
      return key == kReasonKey;
    case SignalType::Reject:
    case SignalType::SdpStreamMetadataChanged:
      return false;
  }
  return false;
}

bool isCommonKey(std::string_view key) {
  return key == kCallIdKey || key == kPartyIdKey || key == kVersionKey || key == kConfIdKey ||
         key == kDeviceIdKey || key == kSenderSessionKey || key == kDestSessionKey || key == kSeqKey ||
         key == kSdpStreamMetadataKey || key == kSdpStreamMetadataKeyStable;
}

// The key an event's description lives under.
std::string_view descriptionKey(SignalType t) {
  switch (t) {
    case SignalType::Invite:
      return kOfferKey;
    case SignalType::Answer:
      return kAnswerKey;
    default:
      return kDescriptionKey;
  }
}

Status requireNonNegative(std::optional<std::int64_t> v, std::string_view path, std::string_view key) {
  if (v && *v < 0)
    return fail(Code::InvalidArgument, fieldName(path, key) + ": expected a non-negative integer");
  return ok();
}

Result<TrackInfo> parseTrackInfo(const json::value& v, const std::string& path) {
  const json::object* o = v.if_object();
  if (o == nullptr) return fail(Code::InvalidArgument, path + ": expected an object");
  TrackInfo t;
  auto kind = optionalString(*o, kKindKey, path);
  if (!kind) return fail(kind.error());
  t.kind = std::move(*kind);
  auto width = optionalInt(*o, kWidthKey, path);
  if (!width) return fail(width.error());
  if (auto s = requireNonNegative(*width, path, kWidthKey); !s) return fail(s.error());
  t.width = *width;
  auto height = optionalInt(*o, kHeightKey, path);
  if (!height) return fail(height.error());
  if (auto s = requireNonNegative(*height, path, kHeightKey); !s) return fail(s.error());
  t.height = *height;
  return t;
}

Result<StreamMetadata> parseStreamMetadata(const json::value& v, const std::string& path) {
  const json::object* o = v.if_object();
  if (o == nullptr) return fail(Code::InvalidArgument, path + ": expected an object");
  StreamMetadata m;
  auto purpose = requireString(*o, kPurposeKey, path);
  if (!purpose) return fail(purpose.error());
  m.purpose = std::move(*purpose);
  auto audio = optionalBool(*o, kAudioMutedKey, path);
  if (!audio) return fail(audio.error());
  m.audio_muted = audio->value_or(false);
  auto video = optionalBool(*o, kVideoMutedKey, path);
  if (!video) return fail(video.error());
  m.video_muted = video->value_or(false);
  auto user = optionalString(*o, kUserIdKey, path);
  if (!user) return fail(user.error());
  m.user_id = std::move(*user);
  auto device = optionalString(*o, kDeviceIdKey, path);
  if (!device) return fail(device.error());
  m.device_id = std::move(*device);
  if (const json::value* tracks = o->if_contains(kTracksKey); tracks != nullptr && !tracks->is_null()) {
    const std::string tracks_path = fieldName(path, kTracksKey);
    if (!tracks->is_object()) return fail(Code::InvalidArgument, tracks_path + ": expected an object");
    if (tracks->get_object().size() > kMaxTracksPerStream) {
      return fail(Code::InvalidArgument,
                  tracks_path + ": too many tracks (limit " + std::to_string(kMaxTracksPerStream) + ")");
    }
    for (const auto& kv : tracks->get_object()) {
      auto t = parseTrackInfo(kv.value(), fieldName(tracks_path, kv.key()));
      if (!t) return fail(t.error());
      m.tracks.emplace(std::string(kv.key()), std::move(*t));
    }
  }
  return m;
}

json::object serializeStreamMetadata(const StreamMetadata& m) {
  json::object out;
  out[kPurposeKey] = m.purpose;
  out[kAudioMutedKey] = m.audio_muted;
  out[kVideoMutedKey] = m.video_muted;
  if (m.video_paused) out[kVideoPausedKey] = true;
  if (m.user_id) out[kUserIdKey] = *m.user_id;
  if (m.device_id) out[kDeviceIdKey] = *m.device_id;
  if (!m.tracks.empty()) {
    json::object tracks;
    for (const auto& [id, t] : m.tracks) {
      json::object track;
      if (t.kind) track[kKindKey] = *t.kind;
      if (t.width) track[kWidthKey] = *t.width;
      if (t.height) track[kHeightKey] = *t.height;
      tracks[id] = std::move(track);
    }
    out[kTracksKey] = std::move(tracks);
  }
  return out;
}

Result<Candidate> parseCandidate(const json::value& v, const std::string& path) {
  const json::object* o = v.if_object();
  if (o == nullptr) return fail(Code::InvalidArgument, path + ": expected an object");
  Candidate c;
  auto candidate = requireString(*o, kCandidateKey, path);
  if (!candidate) return fail(candidate.error());
  c.candidate = std::move(*candidate);
  auto mid = optionalString(*o, kSdpMidKey, path);
  if (!mid) return fail(mid.error());
  c.sdp_mid = std::move(*mid);
  auto index = optionalInt(*o, kSdpMLineIndexKey, path);
  if (!index) return fail(index.error());
  if (auto s = requireNonNegative(*index, path, kSdpMLineIndexKey); !s) return fail(s.error());
  c.sdp_mline_index = *index;
  auto ufrag = optionalString(*o, kUsernameFragmentKey, path);
  if (!ufrag) return fail(ufrag.error());
  c.username_fragment = std::move(*ufrag);
  return c;
}

json::object serializeCandidate(const Candidate& c) {
  json::object out;
  out[kCandidateKey] = c.candidate;
  if (c.sdp_mid) out[kSdpMidKey] = *c.sdp_mid;
  if (c.sdp_mline_index) out[kSdpMLineIndexKey] = *c.sdp_mline_index;
  if (c.username_fragment) out[kUsernameFragmentKey] = *c.username_fragment;
  return out;
}

Result<Capabilities> parseCapabilities(const json::object& o) {
  const std::string path(kCapabilitiesKey);
  Capabilities caps;
  auto transferee = optionalBool(o, kTransfereeKey, path);
  if (!transferee) return fail(transferee.error());
  caps.transferee = transferee->value_or(false);
  auto dtmf = optionalBool(o, kDtmfKey, path);
  if (!dtmf) return fail(dtmf.error());
  caps.dtmf = dtmf->value_or(false);
  return caps;
}

// MSC2746: the number 0 means version 0; any other number (waterfall sends 1) means "1". Strings are kept.
Result<std::string> parseVersion(const json::object& o) {
  const json::value* v = o.if_contains(kVersionKey);
  if (v == nullptr || v->is_null()) return std::string("1");
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_number()) {
    auto i = asInt(*v);
    return std::string(i && *i == 0 ? "0" : "1");
  }
  return fail(Code::InvalidArgument, std::string(kVersionKey) + ": expected a string or a number");
}

Result<std::optional<std::uint64_t>> parseSeq(const json::object& o) {
  const json::value* v = o.if_contains(kSeqKey);
  if (v == nullptr || v->is_null()) return std::optional<std::uint64_t>();
  if (v->is_uint64()) return std::optional<std::uint64_t>(v->get_uint64());
  auto i = asInt(*v);
  if (!i || *i < 0)
    return fail(Code::InvalidArgument, std::string(kSeqKey) + ": expected a non-negative integer");
  return std::optional<std::uint64_t>(static_cast<std::uint64_t>(*i));
}

}  // namespace

std::string_view eventTypeFor(SignalType t) {
  switch (t) {
    case SignalType::Invite:
      return "m.call.invite";
    case SignalType::Candidates:
      return "m.call.candidates";
    case SignalType::Answer:
      return "m.call.answer";
    case SignalType::SelectAnswer:
      return "m.call.select_answer";
    case SignalType::Reject:
      return "m.call.reject";
    case SignalType::Negotiate:
      return "m.call.negotiate";
    case SignalType::Hangup:
      return "m.call.hangup";
    case SignalType::SdpStreamMetadataChanged:
      return kSdpStreamMetadataChangedUnstable;
  }
  return "m.call.invite";
}

std::optional<SignalType> parseSignalType(std::string_view event_type) {
  if (event_type == "m.call.invite") return SignalType::Invite;
  if (event_type == "m.call.candidates") return SignalType::Candidates;
  if (event_type == "m.call.answer") return SignalType::Answer;
  if (event_type == "m.call.select_answer") return SignalType::SelectAnswer;
  if (event_type == "m.call.reject") return SignalType::Reject;
  if (event_type == "m.call.negotiate") return SignalType::Negotiate;
  if (event_type == "m.call.hangup") return SignalType::Hangup;
  if (event_type == kSdpStreamMetadataChangedUnstable || event_type == kSdpStreamMetadataChangedStable) {
    return SignalType::SdpStreamMetadataChanged;
  }
  return std::nullopt;
}

Result<SessionDescription> parseSessionDescription(const json::object& o, std::string_view key) {
  auto obj = requireObject(o, key);
  if (!obj) return fail(obj.error());
  SessionDescription d;
  auto type = requireString(**obj, "type", key);
  if (!type) return fail(type.error());
  d.type = std::move(*type);
  auto sdp = requireString(**obj, "sdp", key);
  if (!sdp) return fail(sdp.error());
  d.sdp = std::move(*sdp);
  return d;
}

json::object serializeSessionDescription(const SessionDescription& d) {
  return json::object{{"type", d.type}, {"sdp", d.sdp}};
}

Result<SdpStreamMetadata> parseSdpStreamMetadata(const json::value& v, std::string_view path) {
  const json::object* o = v.if_object();
  if (o == nullptr)
    return fail(Code::InvalidArgument,
                std::string(path.empty() ? "sdp_stream_metadata" : path) + ": expected an object");
  if (o->size() > kMaxStreams) {
    return fail(Code::InvalidArgument, std::string(path.empty() ? "sdp_stream_metadata" : path) +
                                           ": too many streams (limit " + std::to_string(kMaxStreams) + ")");
  }
  SdpStreamMetadata out;
  for (const auto& kv : *o) {
    auto m = parseStreamMetadata(kv.value(), fieldName(path, kv.key()));
    if (!m) return fail(m.error());
    out.emplace(std::string(kv.key()), std::move(*m));
  }
  return out;
}

json::object serializeSdpStreamMetadata(const SdpStreamMetadata& m) {
  json::object out;
  for (const auto& [id, meta] : m) out[id] = serializeStreamMetadata(meta);
  return out;
}

namespace {

Result<CallSignal> parseSanitizedCallSignal(std::string_view event_type, const json::object& content) {
  auto type = parseSignalType(event_type);
  if (!type) {
    return fail(Code::InvalidArgument,
                "unknown call event type \"" + std::string(event_type.substr(0, 64)) + "\"");
  }
  CallSignal s;
  s.type = *type;

  // Common fields.
  auto call_id = requireString(content, kCallIdKey);
  if (!call_id) return fail(call_id.error());
  s.call_id = std::move(*call_id);
  auto version = parseVersion(content);
  if (!version) return fail(version.error());
  s.version = std::move(*version);
  if (s.version == "0") {
    auto party = optionalString(content, kPartyIdKey);
    if (!party) return fail(party.error());
    s.party_id = party->value_or("");
  } else {
    auto party = requireString(content, kPartyIdKey);
    if (!party) return fail(party.error());
    s.party_id = std::move(*party);
  }
  for (auto [key, field] :
       {std::pair{kConfIdKey, &s.conf_id}, std::pair{kDeviceIdKey, &s.device_id},
        std::pair{kSenderSessionKey, &s.sender_session_id}, std::pair{kDestSessionKey, &s.dest_session_id}}) {
    auto value = requireString(content, key);
    if (!value) return fail(value.error());
    *field = std::move(*value);
  }
  auto seq = parseSeq(content);
  if (!seq) return fail(seq.error());
  s.seq = *seq;

  // sdp_stream_metadata: the unstable key (what js-sdk 28.1.0 sends) wins over the stable one.
  for (std::string_view key : {kSdpStreamMetadataKey, kSdpStreamMetadataKeyStable}) {
    const json::value* v = content.if_contains(key);
    if (v == nullptr || v->is_null()) continue;
    auto metadata = parseSdpStreamMetadata(*v, key);
    if (!metadata) return fail(metadata.error());
    s.metadata = std::move(*metadata);
    break;
  }

  // Type-specific fields.
  switch (s.type) {
    case SignalType::Invite:
    case SignalType::Answer:
    case SignalType::Negotiate: {
      const std::string_view key = descriptionKey(s.type);
      auto d = parseSessionDescription(content, key);
      if (!d) return fail(d.error());
      const bool type_ok = s.type == SignalType::Invite   ? d->type == "offer"
                           : s.type == SignalType::Answer ? d->type == "answer"
                                                          : (d->type == "offer" || d->type == "answer");
      if (!type_ok) {
        return fail(Code::InvalidArgument,
                    fieldName(key, "type") + ": unexpected value \"" + d->type.substr(0, 32) + "\"");
      }
      s.description = std::move(*d);
      if (const json::value* caps = content.if_contains(kCapabilitiesKey);
          caps != nullptr && !caps->is_null()) {
        if (!caps->is_object()) {
          return fail(Code::InvalidArgument, std::string(kCapabilitiesKey) + ": expected an object");
        }
        auto parsed = parseCapabilities(caps->get_object());
        if (!parsed) return fail(parsed.error());
        s.capabilities = *parsed;
      }
      if (s.type != SignalType::Answer) {
        auto lifetime = optionalInt(content, kLifetimeKey);
        if (!lifetime) return fail(lifetime.error());
        s.lifetime = *lifetime;
      }
      if (s.type == SignalType::Invite) {
        auto invitee = optionalString(content, kInviteeKey);
        if (!invitee) return fail(invitee.error());
        s.invitee = std::move(*invitee);
      }
      break;
    }
    case SignalType::Candidates: {
      auto arr = requireArray(content, kCandidatesKey);
      if (!arr) return fail(arr.error());
      if ((*arr)->size() > kMaxCandidates) {
        return fail(Code::InvalidArgument, std::string(kCandidatesKey) + ": too many candidates (limit " +
                                               std::to_string(kMaxCandidates) + ")");
      }
      s.candidates.reserve((*arr)->size());
      for (std::size_t i = 0; i < (*arr)->size(); ++i) {
        auto c = parseCandidate((**arr)[i], indexName({}, kCandidatesKey, i));
        if (!c) return fail(c.error());
        s.candidates.push_back(std::move(*c));
      }
      break;
    }
    case SignalType::SelectAnswer: {
      auto selected = requireString(content, kSelectedPartyKey);
      if (!selected) return fail(selected.error());
      s.selected_party_id = std::move(*selected);
      break;
    }
    case SignalType::Hangup: {
      auto reason = optionalString(content, kReasonKey);
      if (!reason) return fail(reason.error());
      s.reason = std::move(*reason);
      break;
    }
    case SignalType::SdpStreamMetadataChanged:
      if (!s.metadata) {
        return fail(Code::InvalidArgument, std::string(kSdpStreamMetadataKey) +
                                               ": required field missing (or " +
                                               std::string(kSdpStreamMetadataKeyStable) + ")");
      }
      break;
    case SignalType::Reject:
      break;
  }

  for (const auto& kv : content) {
    const std::string_view key = kv.key();
    if (isCommonKey(key) || isTypeKey(s.type, key)) continue;
    s.extra.emplace(key, kv.value());
  }
  return s;
}

}  // namespace

Result<CallSignal> parseCallSignal(std::string_view event_type, const json::object& content) {
  if (hasNonFiniteNumbers(content)) {
    json::object copy = content;
    replaceNonFiniteNumbers(copy);
    return parseSanitizedCallSignal(event_type, copy);
  }
  return parseSanitizedCallSignal(event_type, content);
}

json::object serializeCallSignal(const CallSignal& s) {
  json::object out = s.extra;
  out[kCallIdKey] = s.call_id;
  if (!(s.party_id.empty() && s.version == "0")) out[kPartyIdKey] = s.party_id;
  out[kVersionKey] = s.version;
  out[kConfIdKey] = s.conf_id;
  out[kDeviceIdKey] = s.device_id;
  out[kSenderSessionKey] = s.sender_session_id;
  out[kDestSessionKey] = s.dest_session_id;
  if (s.seq) out[kSeqKey] = *s.seq;
  if (s.metadata) out[kSdpStreamMetadataKey] = serializeSdpStreamMetadata(*s.metadata);

  switch (s.type) {
    case SignalType::Invite:
    case SignalType::Answer:
    case SignalType::Negotiate:
      if (s.description) out[descriptionKey(s.type)] = serializeSessionDescription(*s.description);
      if (s.capabilities) {
        out[kCapabilitiesKey] =
            json::object{{kTransfereeKey, s.capabilities->transferee}, {kDtmfKey, s.capabilities->dtmf}};
      }
      if (s.type != SignalType::Answer && s.lifetime) out[kLifetimeKey] = *s.lifetime;
      if (s.type == SignalType::Invite && s.invitee) out[kInviteeKey] = *s.invitee;
      break;
    case SignalType::Candidates: {
      json::array arr;
      arr.reserve(s.candidates.size());
      for (const auto& c : s.candidates) arr.push_back(serializeCandidate(c));
      out[kCandidatesKey] = std::move(arr);
      break;
    }
    case SignalType::SelectAnswer:
      out[kSelectedPartyKey] = s.selected_party_id;
      break;
    case SignalType::Hangup:
      if (s.reason) out[kReasonKey] = *s.reason;
      break;
    case SignalType::Reject:
    case SignalType::SdpStreamMetadataChanged:
      break;
  }
  return out;
}

}  // namespace chorus::proto
