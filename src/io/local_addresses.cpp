#include "io/local_addresses.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>

namespace chorus::io {

std::vector<InterfaceAddress> listInterfaceAddresses() {
  std::vector<InterfaceAddress> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr) continue;
    InterfaceAddress a;
    a.up = (it->ifa_flags & IFF_UP) != 0 && (it->ifa_flags & IFF_RUNNING) != 0;
    a.loopback = (it->ifa_flags & IFF_LOOPBACK) != 0;
    char text[INET6_ADDRSTRLEN] = {};
    if (it->ifa_addr->sa_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
      if (inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text) == nullptr) continue;
      const std::uint32_t host = ntohl(sin->sin_addr.s_addr);
      a.link_local = (host >> 16) == 0xA9FE;  // 169.254/16
      a.loopback = a.loopback || (host >> 24) == 127;
    } else if (it->ifa_addr->sa_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(it->ifa_addr);
      if (inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text) == nullptr) continue;
      a.v6 = true;
      a.link_local = IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) != 0;
      a.loopback = a.loopback || IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) != 0;
      if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) != 0) continue;
    } else {
      continue;
    }
    a.ip = text;
    out.push_back(std::move(a));
  }
  freeifaddrs(list);
  return out;
}

std::vector<std::string> orderHostAddresses(const std::vector<InterfaceAddress>& all, bool with_v6) {
  std::vector<std::string> out;
  // Rank: 0 non-loopback IPv4, 1 non-loopback IPv6, 2 loopback IPv4, 3 loopback IPv6.
  for (int rank = 0; rank < 4; ++rank) {
    const bool want_loopback = rank >= 2;
    const bool want_v6 = rank % 2 == 1;
    if (want_v6 && !with_v6) continue;
    for (const auto& a : all) {
      if (!a.up || a.link_local || a.ip.empty() || a.loopback != want_loopback || a.v6 != want_v6) continue;
      if (std::find(out.begin(), out.end(), a.ip) == out.end()) out.push_back(a.ip);
    }
  }
  return out;
}

namespace {
bool isWildcard(const std::string& ip) {
  return ip.empty() || ip == "0.0.0.0" || ip == "::" || ip == "[::]";
}
}  // namespace

std::vector<std::string> advertisedHostAddresses(const std::vector<std::string>& announced,
                                                 const std::string& bind_ip, bool socket_v6) {
  if (!announced.empty()) return announced;
  if (!isWildcard(bind_ip)) return {bind_ip};
  const bool with_v6 = socket_v6 && bind_ip != "0.0.0.0";
  auto out = orderHostAddresses(listInterfaceAddresses(), with_v6);
  if (out.empty()) out.push_back(bind_ip == "::" ? "::1" : "127.0.0.1");
  return out;
}

}  // namespace chorus::io
