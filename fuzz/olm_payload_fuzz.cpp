// libFuzzer target: the Olm to-device path of crypto::OlmMachine on hostile input (issue #13).
// Mode byte 0: the rest is a decrypted Olm plaintext for validateOlmPayload (the spec's sender / recipient /
// recipient_keys / keys checks). Mode 1: the rest is an m.room.encrypted content for OlmMachine::decrypt.
// Mode 2: the rest is the body of a ciphertext addressed to our key (type from the next byte), so decrypt
// reaches the session and inbound-session code. Mode 3: the rest is a /keys/query reply, then a /keys/claim
// reply. Nothing may crash; every refusal is counted.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "crypto/olm_machine.hpp"

using namespace chorus::crypto;
namespace json = boost::json;

namespace {

OlmMachine& machine() {
  static std::unique_ptr<OlmMachine> m = [] {
    OlmMachineConfig cfg;
    cfg.max_peers = 8;
    cfg.max_devices = 64;
    cfg.replay_window = 64;
    auto made = OlmMachine::create("@bob:hs", "BOB", cfg).value();
    (void)made->keysToUpload(std::nullopt);
    made->keysUploaded();
    return made;
  }();
  return *m;
}

std::optional<json::object> parseObject(std::string_view s) {
  std::error_code ec;
  json::parse_options po;
  po.max_depth = 32;
  json::value v = json::parse(json::string_view(s.data(), s.size()), ec, {}, po);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  OlmMachine& m = machine();
  const std::uint8_t mode = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto before = m.counters().olm_failures;
  switch (mode % 4) {
    case 0: {
      auto p = validateOlmPayload(rest, "@alice:hs", "@bob:hs", m.identityKeys().ed25519);
      if (p && (p->sender != "@alice:hs" || p->type.empty())) __builtin_trap();
      break;
    }
    case 1: {
      if (auto o = parseObject(rest)) {
        auto d = m.decrypt("@alice:hs", *o);
        if (!d && m.counters().olm_failures != before + 1) __builtin_trap();
        if (d) (void)m.accept(std::move(*d));
      }
      break;
    }
    case 2: {
      const int type = rest[0] % 3;  // 2 is invalid on purpose
      json::object content{
          {"algorithm", kOlmAlgorithm},
          {"sender_key", std::string(43, 'A')},
          {"ciphertext",
           json::object{{m.identityKeys().curve25519,
                         json::object{{"type", type}, {"body", std::string(rest.substr(1))}}}}}};
      auto d = m.decrypt("@alice:hs", content);
      if (!d && m.counters().olm_failures != before + 1) __builtin_trap();
      break;
    }
    case 3: {
      if (auto o = parseObject(rest)) {
        (void)m.addQueryResult(*o);
        (void)m.addClaimResult(*o);
        if (m.deviceCount() > 64) __builtin_trap();
      }
      break;
    }
  }
  return 0;
}
