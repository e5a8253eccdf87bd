#include "io/local_addresses.hpp"

#include <gtest/gtest.h>

#include "io/sdp.hpp"

namespace chorus::io {
namespace {

InterfaceAddress addr(std::string ip, bool v6, bool loopback = false, bool link_local = false,
                      bool up = true) {
  return InterfaceAddress{std::move(ip), v6, loopback, link_local, up};
}

TEST(LocalAddresses, NonLoopbackFirstIpv4BeforeIpv6LoopbackLast) {
  const std::vector<InterfaceAddress> all = {addr("::1", true, true),
                                             addr("127.0.0.1", false, true),
                                             addr("fe80::1", true, false, true),
                                             addr("2001:2::1", true),
                                             addr("198.18.0.1", false),
                                             addr("169.254.3.4", false, false, true),
                                             addr("192.0.2.9", false, false, false, /*up=*/false),
                                             addr("198.18.0.1", false)};
  EXPECT_EQ(orderHostAddresses(all, true),
            (std::vector<std::string>{"198.18.0.1", "2001:2::1", "127.0.0.1", "::1"}));
  // An IPv4-only socket advertises no IPv6.
  EXPECT_EQ(orderHostAddresses(all, false), (std::vector<std::string>{"198.18.0.1", "127.0.0.1"}));
}

TEST(LocalAddresses, AnnouncedAndConcreteBindWin) {
  EXPECT_EQ(advertisedHostAddresses({"203.0.113.7", "2001:db8::7"}, "", true),
            (std::vector<std::string>{"203.0.113.7", "2001:db8::7"}));
  EXPECT_EQ(advertisedHostAddresses({}, "198.18.0.1", false), (std::vector<std::string>{"198.18.0.1"}));
}

TEST(LocalAddresses, WildcardListsThisMachineAndNeverNothing) {
  const auto v4 = advertisedHostAddresses({}, "0.0.0.0", false);
  ASSERT_FALSE(v4.empty());
  for (const auto& a : v4) EXPECT_EQ(a.find(':'), std::string::npos) << a;
  // Whatever the machine has, loopback is there too (same-host clients), after the others.
  EXPECT_EQ(v4.back(), "127.0.0.1");
}

TEST(LocalAddresses, CandidateLinesHavePrioritiesFallingAlongTheList) {
  const std::string lines = writeCandidateLines({{"198.18.0.1", 4000, false},
                                                 {"2001:2::1", 4000, false},
                                                 {"127.0.0.1", 4000, false},
                                                 {"198.18.0.1", 4001, true}});
  EXPECT_NE(lines.find("a=candidate:1 1 udp 2130706431 198.18.0.1 4000 typ host\r\n"), std::string::npos);
  EXPECT_NE(lines.find("a=candidate:2 1 udp 2130706175 2001:2::1 4000 typ host\r\n"), std::string::npos);
  EXPECT_NE(lines.find("a=candidate:3 1 udp 2130705919 127.0.0.1 4000 typ host\r\n"), std::string::npos);
  // TCP below every UDP candidate.
  const auto tcp = lines.find(" tcp ");
  ASSERT_NE(tcp, std::string::npos);
  const auto prio = std::stoul(lines.substr(tcp + 5, 10));
  EXPECT_LT(prio, 2130705919u);
  EXPECT_NE(lines.find("198.18.0.1 4001 typ host tcptype passive\r\n"), std::string::npos);
  EXPECT_NE(lines.find("a=end-of-candidates\r\n"), std::string::npos);
}

}  // namespace
}  // namespace chorus::io
