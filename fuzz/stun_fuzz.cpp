// libFuzzer target: STUN (media/stun). parse -> every field -> integrity check; a parsed binding request is
// answered with buildStunBindingSuccess, which must reparse and verify.
#include <array>
#include <cstddef>
#include <cstdint>

#include "media/demux.hpp"
#include "media/stun/stun_message.hpp"

using namespace chorus::media;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteSpan in(data, size);
  (void)classifyPacket(in);
  StunError error{};
  auto m = parseStun(in, &error);
  if (!m) {
    if (static_cast<std::size_t>(error) >= static_cast<std::size_t>(StunError::Count)) __builtin_trap();
    return 0;
  }
  std::size_t sink = m->method() + m->messageClass() + m->unknown_comprehension_required;
  if (m->username) sink += m->username->size();
  if (m->software) sink += m->software->size();
  if (m->priority) sink += *m->priority;
  if (m->ice_controlling) sink += *m->ice_controlling;
  if (m->ice_controlled) sink += *m->ice_controlled;
  if (m->xor_mapped_address) sink += m->xor_mapped_address->port;
  if (m->error_code) sink += *m->error_code;
  (void)sink;
  if (m->hasIntegrity() && m->integrity_offset + 24 > size) __builtin_trap();
  if (m->hasFingerprint() && m->fingerprint_offset + 8 != size) __builtin_trap();
  (void)verifyStunIntegrity(*m, "VOkJxbRl1RmTxUk/WvJxBt");
  (void)matchIceUsername(*m, "evtj");

  if (m->isBindingRequest()) {
    std::array<std::uint8_t, kStunMaxBindingResponse> out{};
    const auto mapped = m->xor_mapped_address.value_or(StunAddress::v6({}, 9));
    auto n = buildStunBindingSuccess(out, m->transaction_id, mapped, "fuzz-password");
    if (!n) __builtin_trap();
    auto r = parseStun(ByteSpan(out.data(), *n));
    if (!r || !verifyStunIntegrity(*r, "fuzz-password") || !r->hasFingerprint()) __builtin_trap();
    if (r->transaction_id != m->transaction_id || r->xor_mapped_address != mapped) __builtin_trap();
  }
  return 0;
}
