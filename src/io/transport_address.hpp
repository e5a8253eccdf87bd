#pragma once
// A transport address (IPv4/IPv6 + port, UDP or TCP) as the packet path sees it. It is media::StunAddress, so
// the ICE agent can write it into XOR-MAPPED-ADDRESS as is; this header adds hashing and printing. A TCP
// address (`tcp` set) names one ICE-TCP connection (io/tcp_server.hpp) by its remote end.
#include <cstddef>
#include <cstdint>
#include <string>

#include "media/stun/stun_message.hpp"

namespace chorus::io {

using TransportAddress = media::StunAddress;

struct TransportAddressHash {
  std::size_t operator()(const TransportAddress& a) const noexcept {
    // FNV-1a over family, port and the address bytes in use.
    std::uint64_t h = 1469598103934665603ull;
    auto mix = [&h](std::uint8_t b) {
      h ^= b;
      h *= 1099511628211ull;
    };
    mix(static_cast<std::uint8_t>(a.family));
    mix(a.tcp ? 1 : 0);
    mix(static_cast<std::uint8_t>(a.port >> 8));
    mix(static_cast<std::uint8_t>(a.port));
    const std::size_t n = a.family == TransportAddress::Family::V4 ? 4 : 16;
    for (std::size_t i = 0; i < n; ++i) mix(a.bytes[i]);
    return static_cast<std::size_t>(h);
  }
};

// "1.2.3.4:5" or "[::1]:5"; "tcp:1.2.3.4:5" for a TCP address.
std::string toString(const TransportAddress& a);

}  // namespace chorus::io
