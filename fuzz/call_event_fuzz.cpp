// libFuzzer target: m.call content. parse -> getters -> serialise -> reparse must be equal.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_util.hpp"
#include "proto/call_event.hpp"
#include "proto/json_util.hpp"

using namespace chorus::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto content = parseJsonObject(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!content) return 0;
  auto ev = parseCallEvent("fuzz-call-id", *content);
  if (!ev) {
    if (ev.error().message.empty()) __builtin_trap();
    return 0;
  }
  if (parseCallIntent(toString(ev->intent)) != ev->intent) __builtin_trap();
  if (parseCallType(toString(ev->type)) != ev->type) __builtin_trap();
  if (ev->terminated_value && isTerminatedValue(*ev->terminated_value) != ev->terminated) __builtin_trap();

  const boost::json::object wire = serializeCallEvent(*ev);
  auto text_back = parseJsonObject(boost::json::serialize(wire));
  if (!text_back) __builtin_trap();
  auto again = parseCallEvent("fuzz-call-id", *text_back);
  if (!again) __builtin_trap();
  // Exact, except for doubles in preserved unknown keys (see approxEqual).
  if (!(*again == *ev) && !chorus::fuzz::approxEqual(serializeCallEvent(*again), wire)) __builtin_trap();

  // Terminating keeps every other key and reads back as terminated.
  const CallEvent ended = terminatedCopy(*ev);
  auto ended_back = parseCallEvent("fuzz-call-id", serializeCallEvent(ended));
  if (!ended_back || !ended_back->terminated || !(ended_back->extra == ev->extra)) __builtin_trap();
  return 0;
}
