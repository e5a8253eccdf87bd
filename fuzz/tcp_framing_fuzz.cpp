// libFuzzer target: RFC 4571 reassembly for ICE-TCP (io/tcp_framing.hpp). The first input byte picks the read
// size and the next two the frame limit; the rest is the byte stream, fed in reads of that size. Every frame
// must match what a plain reference parser of the whole stream finds, in order, none over the limit; the
// reader fails exactly when the reference meets a frame over the limit, and never buffers more than one
// frame.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "io/tcp_framing.hpp"

using namespace chorus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::size_t chunk = 1 + data[0];
  const std::size_t max_frame = 1 + ((std::size_t{data[1]} << 8 | data[2]) % 4096);
  const media::ByteSpan stream(data + 3, size - 3);

  // Reference: walk the whole stream at once.
  std::vector<media::ByteSpan> expected;
  bool expect_fail = false;
  for (std::size_t at = 0; at + 2 <= stream.size();) {
    const std::size_t n = std::size_t{stream[at]} << 8 | stream[at + 1];
    if (n > max_frame) {
      expect_fail = true;
      break;
    }
    if (at + 2 + n > stream.size()) break;
    if (n > 0) expected.push_back(stream.subspan(at + 2, n));
    at += 2 + n;
  }

  io::TcpFrameReader reader(max_frame);
  std::size_t got = 0;
  bool ok = true;
  for (std::size_t at = 0; at < stream.size() && ok; at += chunk) {
    const std::size_t n = chunk < stream.size() - at ? chunk : stream.size() - at;
    ok = reader.feed(stream.subspan(at, n), [&](media::MutableByteSpan f) {
      if (f.size() > max_frame || got >= expected.size()) __builtin_trap();
      const auto& e = expected[got++];
      if (e.size() != f.size()) __builtin_trap();
      for (std::size_t i = 0; i < f.size(); ++i) {
        if (e[i] != f[i]) __builtin_trap();
      }
    });
    if (reader.buffered() > max_frame + io::kTcpFrameHeader) __builtin_trap();
  }
  if (ok == expect_fail) __builtin_trap();
  if (got != expected.size()) __builtin_trap();
  return 0;
}
