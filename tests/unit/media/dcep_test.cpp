#include "media/sctp/dcep.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace chorus::media {
namespace {

// What Chromium sends for createDataChannel("chat") with default options.
const std::vector<std::uint8_t> kOpenChat = {0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                             0x00, 0x04, 0x00, 0x00, 'c',  'h',  'a',  't'};

TEST(Dcep, ParseOpen) {
  DcepError err{};
  EXPECT_EQ(dcepMessageType(kOpenChat), DcepMessageType::Open);
  auto o = parseDataChannelOpen(kOpenChat, &err);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->channel_type, DcepChannelType::Reliable);
  EXPECT_TRUE(o->ordered());
  EXPECT_TRUE(o->reliable());
  EXPECT_EQ(o->priority, 0);
  EXPECT_EQ(o->reliability, 0u);
  EXPECT_EQ(o->label, "chat");
  EXPECT_EQ(o->protocol, "");
}

TEST(Dcep, BuildRoundTripPartialReliableUnordered) {
  DataChannelOpen o;
  o.channel_type = DcepChannelType::PartialReliableRexmitUnordered;
  o.priority = 256;
  o.reliability = 3;
  o.label = "m.call";
  o.protocol = "matrix-json";
  std::array<std::uint8_t, 64> out{};
  auto n = buildDataChannelOpen(out, o);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 12u + 6 + 11);
  auto p = parseDataChannelOpen(ByteSpan(out.data(), *n));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->channel_type, o.channel_type);
  EXPECT_FALSE(p->ordered());
  EXPECT_FALSE(p->reliable());
  EXPECT_EQ(p->priority, 256);
  EXPECT_EQ(p->reliability, 3u);
  EXPECT_EQ(p->label, "m.call");
  EXPECT_EQ(p->protocol, "matrix-json");
  EXPECT_FALSE(buildDataChannelOpen(MutableByteSpan(out.data(), 28), o));
}

TEST(Dcep, Ack) {
  std::array<std::uint8_t, 4> out{};
  auto n = buildDataChannelAck(out);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1u);
  EXPECT_TRUE(isDataChannelAck(ByteSpan(out.data(), *n)));
  EXPECT_EQ(dcepMessageType(ByteSpan(out.data(), *n)), DcepMessageType::Ack);
  EXPECT_FALSE(isDataChannelAck(kOpenChat));
  EXPECT_FALSE(isDataChannelAck(ByteSpan()));
  EXPECT_FALSE(buildDataChannelAck(MutableByteSpan()));
}

TEST(Dcep, RejectsMalformed) {
  auto expectError = [](std::vector<std::uint8_t> v, DcepError want) {
    DcepError err = DcepError::Count;
    EXPECT_FALSE(parseDataChannelOpen(v, &err));
    EXPECT_EQ(err, want) << toString(err);
  };
  expectError({}, DcepError::Empty);
  expectError({0x02}, DcepError::UnknownMessageType);
  expectError(std::vector<std::uint8_t>(kOpenChat.begin(), kOpenChat.begin() + 11), DcepError::TooShort);
  auto v = kOpenChat;
  v[1] = 0x03;
  expectError(v, DcepError::BadChannelType);
  v = kOpenChat;
  v[9] = 5;  // label length 5, only 4 bytes
  expectError(v, DcepError::LengthOverrun);
  v = kOpenChat;
  v[11] = 1;  // protocol length 1, nothing left
  expectError(v, DcepError::LengthOverrun);
  DcepError err{};
  const std::vector<std::uint8_t> unknown = {0x07};
  EXPECT_FALSE(dcepMessageType(unknown, &err));
  EXPECT_EQ(err, DcepError::UnknownMessageType);
  // Trailing bytes are tolerated.
  v = kOpenChat;
  v.push_back(0);
  EXPECT_TRUE(parseDataChannelOpen(v));
}

TEST(Dcep, Ppids) {
  EXPECT_EQ(ppidForMessage(false, 5), SctpPpid::String);
  EXPECT_EQ(ppidForMessage(true, 5), SctpPpid::Binary);
  EXPECT_EQ(ppidForMessage(false, 0), SctpPpid::StringEmpty);
  EXPECT_EQ(ppidForMessage(true, 0), SctpPpid::BinaryEmpty);
  EXPECT_EQ(static_cast<std::uint32_t>(SctpPpid::Dcep), 50u);
  EXPECT_EQ(static_cast<std::uint32_t>(SctpPpid::BinaryEmpty), 57u);
}

}  // namespace
}  // namespace chorus::media
