#pragma once
// Which addresses the focus advertises as ICE host candidates.
//
// With a wildcard bind the focus is reachable on every address of the machine, so it offers a host candidate
// for each usable one (RFC 8445 §5.1.1.1): non-loopback IPv4 first, then global IPv6, then loopback (so
// clients on the same host can still pair with it; libnice skips loopback, Chromium does not). Link-local
// IPv6 is left out (it needs a zone id, which SDP cannot carry). The list is read again for every description
// the focus writes, so an interface that comes up (or a DHCP renumbering) is used by the next negotiation.
#include <string>
#include <vector>

namespace chorus::io {

struct InterfaceAddress {
  std::string ip;  // numeric literal, no zone id
  bool v6{false};
  bool loopback{false};
  bool link_local{false};  // fe80::/10 or 169.254/16
  bool up{true};
};

// The machine's interface addresses (getifaddrs); empty on failure.
std::vector<InterfaceAddress> listInterfaceAddresses();

// The advertised order of `all`: usable addresses only, IPv4 before IPv6 within non-loopback and loopback,
// without duplicates. `with_v6`: false drops IPv6 (an IPv4-only socket).
std::vector<std::string> orderHostAddresses(const std::vector<InterfaceAddress>& all, bool with_v6);

// What the focus advertises:
//   - `announced` non-empty (--public-ip, 1:1 NAT): exactly those, in the given order;
//   - `bind_ip` a concrete address: that address;
//   - `bind_ip` a wildcard ("", "0.0.0.0", "::"): orderHostAddresses(listInterfaceAddresses()) — IPv6 only
//   for
//     "" and "::" (a dual-stack socket). Never empty: falls back to the loopback address of the family.
std::vector<std::string> advertisedHostAddresses(const std::vector<std::string>& announced,
                                                 const std::string& bind_ip, bool socket_v6);

}  // namespace chorus::io
