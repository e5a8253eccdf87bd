// libFuzzer target: m.call.member content. parse -> getters -> serialise -> reparse must be equal; nothing is
// lost on rewrite (every m.calls / m.devices entry is written back).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_util.hpp"
#include "proto/json_util.hpp"
#include "proto/member_event.hpp"

using namespace chorus::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto content = parseJsonObject(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!content) return 0;
  auto ev = parseCallMemberEvent("@fuzz:example.org", *content);
  if (!ev) return 0;

  for (const MemberCall& call : ev->calls) {
    if (call.invalid_devices.size() != call.invalid_reasons.size()) __builtin_trap();
    if (ev->findCall(call.call_id) == nullptr) __builtin_trap();
    for (const std::string& reason : call.invalid_reasons) {
      if (reason.empty()) __builtin_trap();
    }
    for (const MemberDevice& d : call.devices) {
      // A valid device must survive on its own.
      auto alone = parseMemberDevice(serializeMemberDevice(d));
      if (!alone || !(*alone == d)) __builtin_trap();
    }
    for (const auto& bad : call.invalid_devices) {
      if (parseMemberDevice(bad)) __builtin_trap();
    }
  }

  const boost::json::object wire = serializeCallMemberEvent(*ev);
  const auto& calls = wire.at("m.calls").as_array();
  if (calls.size() != ev->calls.size() + ev->invalid_calls.size()) __builtin_trap();
  for (std::size_t i = 0; i < ev->calls.size(); ++i) {
    const auto& devices = calls[i].as_object().at("m.devices").as_array();
    if (devices.size() != ev->calls[i].devices.size() + ev->calls[i].invalid_devices.size()) __builtin_trap();
  }

  auto text_back = parseJsonObject(boost::json::serialize(wire));
  if (!text_back) __builtin_trap();
  auto again = parseCallMemberEvent("@fuzz:example.org", *text_back);
  if (!again) __builtin_trap();
  // Exact, except for doubles in preserved unknown keys (see approxEqual).
  if (!(*again == *ev) && !chorus::fuzz::approxEqual(serializeCallMemberEvent(*again), wire))
    __builtin_trap();
  return 0;
}
