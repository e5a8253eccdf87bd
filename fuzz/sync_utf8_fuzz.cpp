// libFuzzer target: arbitrary bytes (usually ill-formed UTF-8) inside the strings of an otherwise valid /sync
// reply, where a homeserver that stored a hostile client's bytes raw would put them: an event type, a state
// key, content strings, a to-device type. Issue #10: the reply must still parse (never stall the sync loop),
// every other event must still arrive, and every string we extract must be valid UTF-8 again.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "matrix/sync_response.hpp"

namespace {

// JSON requires only '"', '\\' and control characters to be escaped; every other byte goes in raw.
std::string jsonStringBody(std::string_view raw) {
  std::string out;
  for (unsigned char c : raw) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      static const char* hex = "0123456789abcdef";
      out += "\\u00";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

bool validUtf8(std::string_view s) {
  std::string scratch;
  return chorus::matrix::repairUtf8(s, scratch) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  // repairUtf8 on its own: the output is valid, idempotent, and untouched input stays untouched.
  std::string repaired;
  const std::size_t bad = chorus::matrix::repairUtf8(raw, repaired);
  if (bad) {
    if (!validUtf8(repaired)) __builtin_trap();
    if (repaired.size() > raw.size() * 3) __builtin_trap();
  }

  // Split the input into four strings at the first three 0x00 bytes (so the fuzzer controls each).
  std::string_view parts[4];
  std::string_view rest = raw;
  for (int i = 0; i < 3; ++i) {
    const auto z = rest.find('\0');
    parts[i] = rest.substr(0, z);
    rest = z == std::string_view::npos ? std::string_view() : rest.substr(z + 1);
  }
  parts[3] = rest;
  const std::string type = jsonStringBody(parts[0]), key = jsonStringBody(parts[1]),
                    body = jsonStringBody(parts[2]), td_type = jsonStringBody(parts[3]);
  const std::string reply =
      R"({"next_batch":"n1","rooms":{"join":{"!r:hs":{"timeline":{"events":[)"
      R"({"type":")" +
      type + R"(","state_key":")" + key + R"(","sender":"@m:hs","content":{"body":")" + body + R"(","k)" +
      key +
      R"(":1}},)"
      R"({"type":"org.matrix.msc3401.call.member","state_key":"@a:hs_A","sender":"@a:hs","content":{}}]}}}},)"
      R"("to_device":{"events":[{"type":")" +
      td_type +
      R"(","sender":"@m:hs","content":{}},)"
      R"({"type":"m.call.hangup","sender":"@b:hs","content":{"call_id":"c"}}]}})";
  std::size_t skipped = 0, invalid = 0;
  auto batch = chorus::matrix::parseSyncResponse(reply, &skipped, &invalid);
  if (!batch) __builtin_trap();  // nothing inside a string may make the reply unusable
  if (batch->next_batch != "n1" || skipped != 0) __builtin_trap();
  const auto room = batch->join.find("!r:hs");
  if (room == batch->join.end() || room->second.state.size() != 2) __builtin_trap();
  if (batch->to_device.size() != 2) __builtin_trap();
  const auto& ev = room->second.state[0];
  if (!validUtf8(ev.type) || !validUtf8(ev.state_key) || !validUtf8(batch->to_device[0].type))
    __builtin_trap();
  if (!validUtf8(boost::json::serialize(ev.content))) __builtin_trap();
  if (room->second.state[1].state_key != "@a:hs_A" || batch->to_device[1].type != "m.call.hangup")
    __builtin_trap();
  // Well-formed input passes unchanged.
  if (bad == 0 && invalid == 0 && ev.type != parts[0]) __builtin_trap();
  return 0;
}
