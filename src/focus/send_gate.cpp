#include "focus/send_gate.hpp"

#include <algorithm>
#include <iterator>

namespace chorus::focus {
namespace {

std::uint32_t load32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

constexpr std::uint8_t kRtcpSenderReport = 200;

}  // namespace

std::vector<std::uint32_t> SendGate::setLive(std::vector<std::uint32_t> ssrcs) {
  std::sort(ssrcs.begin(), ssrcs.end());
  ssrcs.erase(std::unique(ssrcs.begin(), ssrcs.end()), ssrcs.end());
  std::vector<std::uint32_t> added;
  std::set_difference(ssrcs.begin(), ssrcs.end(), live_.begin(), live_.end(), std::back_inserter(added));
  live_ = std::move(ssrcs);
  return added;
}

bool SendGate::isLive(std::uint32_t ssrc) const {
  return std::binary_search(live_.begin(), live_.end(), ssrc);
}

bool SendGate::admitRtp(std::span<const std::uint8_t> packet) const {
  if (packet.size() < 12) return true;
  return isLive(load32(packet.data() + 8));
}

bool SendGate::admitRtcp(std::span<const std::uint8_t> compound) const {
  // Every sender report in the compound must be about a live track (the focus sends them one per datagram).
  std::size_t pos = 0;
  while (pos + 8 <= compound.size()) {
    const std::uint8_t* p = compound.data() + pos;
    const std::size_t length = (std::size_t{p[2]} << 8 | p[3]) * 4 + 4;
    if (p[1] == kRtcpSenderReport && !isLive(load32(p + 4))) return false;
    pos += length;
  }
  return true;
}

}  // namespace chorus::focus
