// libFuzzer target: the SCTP chunk tally (media/sctp/sctp_chunks), run on every SCTP packet a peer sends the
// focus. It must read only inside the packet and count each packet once.
#include <cstddef>
#include <cstdint>

#include "media/sctp/sctp_chunks.hpp"

using namespace chorus::media;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  SctpChunkTally t;
  tallySctpChunks(ByteSpan(data, size), t);
  if (t.packets != 1 || t.malformed > 1) __builtin_trap();
  if (t.data_chunks + t.sacks > size / 4) __builtin_trap();  // every chunk takes at least its 4-byte header
  return 0;
}
