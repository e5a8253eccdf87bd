// libFuzzer target: a homeserver's /sync reply, as the Matrix shell parses it. Must never crash; what it extracts
// must be well-formed enough to feed core.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "matrix/sync_response.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::size_t skipped = 0;
  auto batch = chorus::matrix::parseSyncResponse(text, &skipped);
  if (!batch) {
    if (batch.error().message.empty()) __builtin_trap();
  } else {
    for (const auto& [room, r] : batch->join) {
      if (room.empty() && r.state.size() > size) __builtin_trap();
    }
  }
  (void)chorus::matrix::parseMatrixError(400, text);
  const std::string enc = chorus::matrix::encodePathSegment(text.substr(0, 256));
  for (char c : enc) {
    if (c == '/' || c == '?' || c == '#' || c == ' ') __builtin_trap();
  }
  return 0;
}
