#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>

#include "hs/api/http_server.hpp"

namespace chorus::hs {
namespace {

namespace ip = boost::asio::ip;

std::string key(const char* addr) {
  return HttpServer::clientKey(ip::make_address(addr)).to_string();
}

TEST(ClientKey, Ipv4IsItself) {
  EXPECT_EQ(key("198.18.0.7"), "198.18.0.7");
  EXPECT_EQ(key("127.0.0.1"), "127.0.0.1");
}

TEST(ClientKey, Ipv4MappedIsTheIpv4Address) {
  // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d: they must share a bucket with a.b.c.d.
  EXPECT_EQ(key("::ffff:198.18.0.7"), "198.18.0.7");
}

TEST(ClientKey, Ipv6IsGroupedByItsSlash64) {
  // One host can pick any of 2^64 addresses in its prefix: they count as one client.
  EXPECT_EQ(key("2001:2::1"), "2001:2::");
  EXPECT_EQ(key("2001:2::dead:beef:1:2"), "2001:2::");
  EXPECT_EQ(key("2001:2:0:1::5"), "2001:2:0:1::");
  EXPECT_NE(key("2001:2:0:1::5"), key("2001:2:0:2::5"));
  EXPECT_EQ(key("::1"), "::");
}

}  // namespace
}  // namespace chorus::hs
