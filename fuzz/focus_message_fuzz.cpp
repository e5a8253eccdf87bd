// libFuzzer target: MSC3898 data-channel messages. parse -> getters -> serialise -> reparse must be equal.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/focus_messages.hpp"

using namespace chorus::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto m = parseFocusMessage(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!m) {
    if (m.error().message.empty()) __builtin_trap();
    return 0;
  }
  if (parseFocusMessageType(toString(m->type)) != m->type) __builtin_trap();
  if (m->subscribe.size() > kMaxTrackRefs || m->unsubscribe.size() > kMaxTrackRefs) __builtin_trap();
  if (m->type == FocusMessageType::Negotiate && !m->description) __builtin_trap();
  if (m->type == FocusMessageType::SdpStreamMetadataChanged && !m->metadata) __builtin_trap();
  if (m->type != FocusMessageType::TrackSubscription && (!m->subscribe.empty() || !m->unsubscribe.empty())) {
    __builtin_trap();
  }
  if (m->audio_slots.size() > kMaxTrackRefs) __builtin_trap();
  if (m->type != FocusMessageType::AudioSlots && !m->audio_slots.empty()) __builtin_trap();

  const std::string wire = serializeFocusMessage(*m);
  auto again = parseFocusMessage(wire);
  if (!again) {
    // Only acceptable if re-serialising grew the text past the bound (e.g. 1e9 -> 1000000000).
    if (wire.size() <= kMaxFocusMessageBytes) __builtin_trap();
    return 0;
  }
  if (!(*again == *m)) __builtin_trap();
  if (serializeFocusMessage(*again) != wire) __builtin_trap();
  return 0;
}
