#include "media/drop_counters.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>

#include "media/rtcp/rtcp_packet.hpp"
#include "media/rtp/rtp_packet.hpp"
#include "media/rtp/simulcast_rewriter.hpp"
#include "media/rtp/vp8_descriptor.hpp"
#include "media/sctp/dcep.hpp"
#include "media/srtp/srtp_session.hpp"
#include "media/stun/stun_message.hpp"

namespace chorus::media {
namespace {

TEST(DropCounters, CountsPerReason) {
  DropCounters<RtpError> c;
  c.count(RtpError::BadPadding);
  c.count(RtpError::BadPadding);
  c.count(RtpError::TooShort);
  c.count(RtpError::Count);  // out of range: ignored
  EXPECT_EQ(c.get(RtpError::BadPadding), 2u);
  EXPECT_EQ(c.get(RtpError::TooShort), 1u);
  EXPECT_EQ(c.get(RtpError::Count), 0u);
  EXPECT_EQ(c.total(), 3u);
  c.reset();
  EXPECT_EQ(c.total(), 0u);
}

// Every reason has its own metric label.
template <typename E>
void expectDistinctNames() {
  std::set<std::string> names;
  for (std::size_t i = 0; i < static_cast<std::size_t>(E::Count); ++i) {
    const std::string name = toString(static_cast<E>(i));
    EXPECT_NE(name, "unknown") << i;
    EXPECT_TRUE(names.insert(name).second) << name;
  }
}

TEST(DropCounters, ReasonNames) {
  expectDistinctNames<StunError>();
  expectDistinctNames<RtpError>();
  expectDistinctNames<RtcpError>();
  expectDistinctNames<DcepError>();
  expectDistinctNames<SrtpError>();
  expectDistinctNames<Vp8Error>();
  expectDistinctNames<RewriteDrop>();
}

}  // namespace
}  // namespace chorus::media
