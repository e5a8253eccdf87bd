// libFuzzer target: to-device m.call.* content. The first byte picks the event type (low 3 bits: one of the 8
// types; bit 3: the stable name of sdp_stream_metadata_changed); the rest is the JSON content.
// parse -> getters -> serialise -> reparse (under eventTypeFor) must be equal.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_util.hpp"
#include "proto/event_types.hpp"
#include "proto/json_util.hpp"
#include "proto/signalling.hpp"

using namespace chorus::proto;

namespace {

constexpr std::array<SignalType, 8> kTypes = {
    SignalType::Invite, SignalType::Candidates, SignalType::Answer, SignalType::SelectAnswer,
    SignalType::Reject, SignalType::Negotiate,  SignalType::Hangup, SignalType::SdpStreamMetadataChanged,
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const SignalType type = kTypes[data[0] & 7];
  std::string_view event_type = eventTypeFor(type);
  if (type == SignalType::SdpStreamMetadataChanged && (data[0] & 8) != 0) {
    event_type = "m.call.sdp_stream_metadata_changed";
  }
  if (parseSignalType(event_type) != type) __builtin_trap();

  auto content = parseJsonObject(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  if (!content) return 0;
  auto s = parseCallSignal(event_type, *content);
  if (!s) {
    if (s.error().message.empty()) __builtin_trap();
    return 0;
  }
  if (s->type != type) __builtin_trap();
  if (s->candidates.size() > kMaxCandidates) __builtin_trap();
  if ((type == SignalType::Invite || type == SignalType::Answer || type == SignalType::Negotiate) &&
      !s->description) {
    __builtin_trap();
  }
  if (type == SignalType::SdpStreamMetadataChanged && !s->metadata) __builtin_trap();

  const boost::json::object wire = serializeCallSignal(*s);
  // What we send always uses the js-sdk 28.1.0 key for the metadata.
  if (wire.contains(kSdpStreamMetadataKeyStable)) __builtin_trap();
  for (const char* key :
       {"call_id", "version", "conf_id", "device_id", "sender_session_id", "dest_session_id"}) {
    const auto* v = wire.if_contains(key);
    if (v == nullptr || !v->is_string()) __builtin_trap();
  }

  auto text_back = parseJsonObject(boost::json::serialize(wire));
  if (!text_back) __builtin_trap();
  auto again = parseCallSignal(eventTypeFor(type), *text_back);
  if (!again) __builtin_trap();
  // Exact, except for doubles in preserved unknown keys (see approxEqual).
  if (!(*again == *s) && !chorus::fuzz::approxEqual(serializeCallSignal(*again), wire)) __builtin_trap();
  if (s->metadata) {
    auto m = parseSdpStreamMetadata(serializeSdpStreamMetadata(*s->metadata));
    if (!m || !(*m == *s->metadata)) __builtin_trap();
  }
  return 0;
}
