// libFuzzer target: arbitrary bytes into the Olm boundary (src/crypto): session decrypt (both types), inbound
// session creation from a "pre-key message", and account / session unpickling. Everything must fail cleanly.
// The fixture (two accounts, an established session) is made once per process with the OS RNG.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/olm.hpp"

using namespace chorus::crypto;

namespace {

constexpr std::string_view kKey = "fuzz pickle key";

struct Fixture {
  std::string bob_account;  // pickles, so each input starts from the same state
  std::string bob_session;
  std::string alice_curve25519;
};

const Fixture& fixture() {
  static const Fixture f = [] {
    Fixture out;
    auto alice = OlmAccount::create().value();
    auto bob = OlmAccount::create().value();
    if (!bob.generateOneTimeKeys(2) || !bob.generateFallbackKey()) __builtin_trap();
    const std::string otk = bob.unpublishedOneTimeKeys()->begin()->second;
    out.alice_curve25519 = alice.identityKeys()->curve25519;
    out.bob_account = bob.pickle(kKey).value();
    auto outbound = OlmSession::createOutbound(alice, bob.identityKeys()->curve25519, otk).value();
    auto first = outbound.encrypt("hello").value();
    auto inbound = OlmSession::createInbound(bob, out.alice_curve25519, first.body).value();
    if (inbound.decrypt(0, first.body).value() != "hello") __builtin_trap();
    out.bob_session = inbound.pickle(kKey).value();
    return out;
  }();
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const Fixture& f = fixture();
  const std::uint8_t mode = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (mode % 5) {
    case 0:
    case 1: {  // decrypt with type 0 / 1 (and, rarely, an invalid type)
      auto session = OlmSession::unpickle(kKey, f.bob_session);
      if (!session) __builtin_trap();
      const std::uint64_t type = mode >= 250 ? mode : mode % 5;
      auto plain = session->decrypt(type, rest);
      if (plain && plain->size() > kMaxPlaintextBytes) __builtin_trap();
      if (plain && type > 1) __builtin_trap();
      if (!plain && plain.error().message.empty()) __builtin_trap();
      break;
    }
    case 2: {  // a pre-key message to bob's account
      auto bob = OlmAccount::unpickle(kKey, f.bob_account);
      if (!bob) __builtin_trap();
      auto session = OlmSession::createInbound(*bob, mode & 0x80 ? f.alice_curve25519 : "", rest);
      if (session) (void)session->decrypt(0, rest);
      auto existing = OlmSession::unpickle(kKey, f.bob_session);
      if (!existing) __builtin_trap();
      (void)existing->matchesInbound(mode & 0x40 ? f.alice_curve25519 : "", rest);
      break;
    }
    case 3: {
      auto session = OlmSession::unpickle(kKey, rest);
      if (session) (void)session->encrypt("x");
      break;
    }
    case 4: {
      auto account = OlmAccount::unpickle(kKey, rest);
      if (account) (void)account->identityKeys();
      break;
    }
  }
  return 0;
}
