// libFuzzer target: DCEP (RFC 8832) DATA_CHANNEL_OPEN / ACK (media/sctp). parse -> build -> must equal the
// input's prefix.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "media/sctp/dcep.hpp"

using namespace chorus::media;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteSpan in(data, size);
  (void)dcepMessageType(in);
  (void)isDataChannelAck(in);
  auto open = parseDataChannelOpen(in);
  if (!open) return 0;
  (void)open->ordered();
  (void)open->reliable();
  if (open->encodedSize() > size) __builtin_trap();
  std::vector<std::uint8_t> out(open->encodedSize());
  auto n = buildDataChannelOpen(out, *open);
  if (!n || *n != out.size() || std::memcmp(out.data(), data, *n) != 0) __builtin_trap();
  return 0;
}
