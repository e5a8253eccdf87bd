#include "media/rtcp/rtcp_packet.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "packet_builder.hpp"

namespace chorus::media {
namespace {

using test::put16;
using test::put32;

std::vector<std::uint8_t> header(std::uint8_t count, std::uint8_t type, std::size_t words_after_header,
                                 bool padding = false) {
  std::vector<std::uint8_t> v;
  v.push_back(static_cast<std::uint8_t>(0x80 | (padding ? 0x20 : 0) | count));
  v.push_back(type);
  put16(v, static_cast<std::uint16_t>(words_after_header));
  return v;
}

RtcpPacketView only(const std::vector<std::uint8_t>& v) {
  RtcpCompoundReader r(v);
  auto p = r.next();
  EXPECT_TRUE(p);
  EXPECT_FALSE(r.next());
  EXPECT_FALSE(r.error());
  return *p;
}

TEST(Rtcp, SenderReportWithBlock) {
  auto v = header(1, kRtcpSr, 12);
  put32(v, 0xAABBCCDD);
  put32(v, 0x01020304);
  put32(v, 0x05060708);
  put32(v, 1000);
  put32(v, 50);
  put32(v, 6000);
  put32(v, 0x11111111);  // block ssrc
  put32(v, 0x40FFFFFE);  // fraction 0x40, cumulative -2
  put32(v, 0x0001FFFF);
  put32(v, 17);
  put32(v, 0x12345678);
  put32(v, 65536);
  auto p = only(v);
  auto sr = RtcpSenderReport::parse(p);
  ASSERT_TRUE(sr);
  EXPECT_EQ(sr->ssrc, 0xAABBCCDDu);
  EXPECT_EQ(sr->ntp_timestamp, 0x0102030405060708ull);
  EXPECT_EQ(sr->rtp_timestamp, 1000u);
  EXPECT_EQ(sr->packet_count, 50u);
  EXPECT_EQ(sr->octet_count, 6000u);
  ASSERT_EQ(sr->reportCount(), 1u);
  auto b = sr->reportBlock(0);
  EXPECT_EQ(b.ssrc, 0x11111111u);
  EXPECT_EQ(b.fraction_lost, 0x40);
  EXPECT_EQ(b.cumulative_lost, -2);
  EXPECT_EQ(b.extended_highest_seq, 0x0001FFFFu);
  EXPECT_EQ(b.jitter, 17u);
  EXPECT_EQ(b.last_sr, 0x12345678u);
  EXPECT_EQ(b.delay_since_last_sr, 65536u);
  EXPECT_EQ(sr->reportBlock(1), RtcpReportBlock{});
  EXPECT_FALSE(RtcpReceiverReport::parse(p));
}

TEST(Rtcp, CountLargerThanBodyIsRejected) {
  auto v = header(2, kRtcpRr, 7);  // claims 2 blocks, has 1
  put32(v, 1);
  for (int i = 0; i < 6; ++i) put32(v, 0);
  RtcpError err{};
  EXPECT_FALSE(RtcpReceiverReport::parse(only(v), &err));
  EXPECT_EQ(err, RtcpError::BadBody);
}

TEST(Rtcp, ReceiverReportBuilderRoundTrip) {
  std::array<RtcpReportBlock, 2> blocks{};
  blocks[0] = {0x1234, 12, 100000, 70000, 30, 0xABCDEF01, 0x100};
  blocks[1] = {0x5678, 255, -5, 1, 2, 3, 4};
  std::array<std::uint8_t, 64> out{};
  auto n = buildRtcpReceiverReport(out, 0x9999, blocks);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 56u);
  RtcpCompoundReader r(ByteSpan(out.data(), *n));
  auto p = r.next();
  ASSERT_TRUE(p);
  auto rr = RtcpReceiverReport::parse(*p);
  ASSERT_TRUE(rr);
  EXPECT_EQ(rr->ssrc, 0x9999u);
  ASSERT_EQ(rr->reportCount(), 2u);
  EXPECT_EQ(rr->reportBlock(0), blocks[0]);
  EXPECT_EQ(rr->reportBlock(1), blocks[1]);
  EXPECT_FALSE(buildRtcpReceiverReport(MutableByteSpan(out.data(), 55), 0x9999, blocks));
  // Cumulative loss is clamped to 24 bits.
  std::array<RtcpReportBlock, 1> big{};
  big[0].cumulative_lost = 1 << 30;
  n = buildRtcpReceiverReport(out, 1, big);
  EXPECT_EQ(RtcpReceiverReport::parse(*RtcpCompoundReader(ByteSpan(out.data(), *n)).next())
                ->reportBlock(0)
                .cumulative_lost,
            0x7FFFFF);
}

TEST(Rtcp, ByeBuilderRoundTrip) {
  std::vector<std::uint8_t> buf(64);
  const std::uint32_t ssrcs[] = {0x11223344, 7};
  auto n = buildRtcpBye(buf, ssrcs);
  ASSERT_EQ(n, 12u);
  RtcpCompoundReader r(std::span(buf.data(), *n));
  auto p = r.next();
  ASSERT_TRUE(p);
  auto bye = RtcpBye::parse(*p);
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->ssrcCount(), 2u);
  EXPECT_EQ(bye->ssrc(0), 0x11223344u);
  EXPECT_EQ(bye->ssrc(1), 7u);
  EXPECT_FALSE(bye->reason);
  EXPECT_FALSE(buildRtcpBye(buf, {}));                                 // nothing to say
  EXPECT_FALSE(buildRtcpBye(std::span(buf.data(), 8), ssrcs));         // too small
  EXPECT_FALSE(buildRtcpBye(buf, std::vector<std::uint32_t>(32, 1)));  // count is 5 bits
}

TEST(Rtcp, CompoundSrSdesByeWithPadding) {
  std::vector<std::uint8_t> v = header(0, kRtcpRr, 1);
  put32(v, 0x01);
  // SDES: one chunk, CNAME "abc", terminator, padded to a word.
  auto sdes = header(1, kRtcpSdes, 3);
  put32(sdes, 0x01);
  sdes.insert(sdes.end(), {1, 3, 'a', 'b', 'c', 0, 0, 0});
  v.insert(v.end(), sdes.begin(), sdes.end());
  // BYE with 2 SSRCs and reason "bye", with 4 bytes of RTCP padding.
  auto bye = header(2, kRtcpBye, 4 + 0, true);
  put32(bye, 0x01);
  put32(bye, 0x02);
  bye.insert(bye.end(), {3, 'b', 'y', 'e'});
  bye.insert(bye.end(), {0, 0, 0, 4});
  bye[3] = 4;
  v.insert(v.end(), bye.begin(), bye.end());

  auto n = validateRtcpCompound(v, false);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 3u);

  RtcpCompoundReader r(v);
  auto rr = r.next();
  ASSERT_TRUE(rr);
  EXPECT_EQ(rr->type, kRtcpRr);
  EXPECT_EQ(RtcpReceiverReport::parse(*rr)->reportCount(), 0u);

  auto s = r.next();
  ASSERT_TRUE(s);
  RtcpSdesIterator items(*s);
  auto item = items.next();
  ASSERT_TRUE(item);
  EXPECT_EQ(item->ssrc, 1u);
  EXPECT_EQ(item->type, 1);
  EXPECT_EQ(item->value, "abc");
  EXPECT_FALSE(items.next());
  EXPECT_FALSE(items.malformed());

  auto b = r.next();
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->padding);
  EXPECT_EQ(b->body.size(), 12u);
  auto parsed = RtcpBye::parse(*b);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->ssrcCount(), 2u);
  EXPECT_EQ(parsed->ssrc(1), 2u);
  EXPECT_EQ(parsed->reason, "bye");
  EXPECT_FALSE(r.next());
  EXPECT_FALSE(r.error());
}

TEST(Rtcp, SdesMissingTerminatorIsMalformed) {
  auto v = header(1, kRtcpSdes, 2);
  put32(v, 7);
  v.insert(v.end(), {1, 2, 'x', 'y'});  // no null item
  RtcpSdesIterator it(only(v));
  EXPECT_TRUE(it.next());
  EXPECT_FALSE(it.next());
  EXPECT_TRUE(it.malformed());
}

TEST(Rtcp, CompoundErrors) {
  RtcpError err{};
  std::vector<std::uint8_t> v = {0x80, 201, 0x00};
  EXPECT_FALSE(validateRtcpCompound(v, true, &err));
  EXPECT_EQ(err, RtcpError::TooShort);
  v = {0x40, 201, 0x00, 0x00};
  EXPECT_FALSE(validateRtcpCompound(v, true, &err));
  EXPECT_EQ(err, RtcpError::BadVersion);
  v = {0x80, 201, 0x00, 0x01, 0, 0, 0};
  EXPECT_FALSE(validateRtcpCompound(v, true, &err));
  EXPECT_EQ(err, RtcpError::LengthOverrun);
  v = {0xA0, 201, 0x00, 0x01, 0, 0, 0, 9};
  EXPECT_FALSE(validateRtcpCompound(v, true, &err));
  EXPECT_EQ(err, RtcpError::BadPadding);
  v = {0xA0, 201, 0x00, 0x01, 0, 0, 0, 0};
  EXPECT_FALSE(validateRtcpCompound(v, true, &err));
  EXPECT_EQ(err, RtcpError::BadPadding);
  EXPECT_FALSE(validateRtcpCompound(ByteSpan(), true, &err));
  // Reduced-size (a lone PLI) is fine unless disallowed.
  std::array<std::uint8_t, 12> pli{};
  ASSERT_TRUE(buildRtcpPli(pli, 1, 2));
  EXPECT_TRUE(validateRtcpCompound(pli, true));
  EXPECT_FALSE(validateRtcpCompound(pli, false, &err));
  EXPECT_EQ(err, RtcpError::BadBody);
}

TEST(Rtcp, NackBuildAndParse) {
  const std::vector<std::uint16_t> lost = {100, 101, 105, 116, 117, 200, 65535, 0, 3};
  std::array<std::uint8_t, 64> out{};
  auto n = buildRtcpNack(out, 0xA, 0xB, lost);
  ASSERT_TRUE(n);
  // Items: 100 (+101,105,116), 117, 200, 65535 (+0,+3)
  EXPECT_EQ(*n, 12u + 4 * 4);
  auto p = *RtcpCompoundReader(ByteSpan(out.data(), *n)).next();
  auto nack = RtcpNack::parse(p);
  ASSERT_TRUE(nack);
  EXPECT_EQ(nack->sender_ssrc, 0xAu);
  EXPECT_EQ(nack->media_ssrc, 0xBu);
  EXPECT_EQ(nack->itemCount(), 4u);
  EXPECT_EQ(nack->pid(0), 100);
  EXPECT_EQ(nack->blp(0), (1 << 0) | (1 << 4) | (1 << 15));
  std::array<std::uint16_t, 32> seqs{};
  const std::size_t count = nack->lostSequenceNumbers(seqs);
  ASSERT_EQ(count, lost.size());
  EXPECT_TRUE(std::equal(lost.begin(), lost.end(), seqs.begin()));
  // A short output span is filled as far as it goes; the total is still reported.
  std::array<std::uint16_t, 2> few{};
  EXPECT_EQ(nack->lostSequenceNumbers(few), lost.size());
  EXPECT_EQ(few[1], 101);
  // Duplicates of the PID are folded; too small a buffer fails.
  const std::vector<std::uint16_t> dup = {5, 5, 6};
  n = buildRtcpNack(out, 1, 2, dup);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 16u);
  EXPECT_FALSE(buildRtcpNack(MutableByteSpan(out.data(), 15), 1, 2, dup));
  EXPECT_FALSE(buildRtcpNack(out, 1, 2, {}));
}

TEST(Rtcp, NackWithEmptyOrRaggedFciIsRejected) {
  auto v = header(kRtpfbNack, kRtcpRtpfb, 2);
  put32(v, 1);
  put32(v, 2);
  EXPECT_FALSE(RtcpNack::parse(only(v)));
  EXPECT_FALSE(RtcpPli::parse(only(v)));
}

TEST(Rtcp, PliAndFir) {
  std::array<std::uint8_t, 64> out{};
  auto n = buildRtcpPli(out, 0x10, 0x20);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 12u);
  auto pli = RtcpPli::parse(*RtcpCompoundReader(ByteSpan(out.data(), *n)).next());
  ASSERT_TRUE(pli);
  EXPECT_EQ(pli->sender_ssrc, 0x10u);
  EXPECT_EQ(pli->media_ssrc, 0x20u);

  const std::array<RtcpFirEntry, 2> entries = {RtcpFirEntry{0x30, 7}, RtcpFirEntry{0x31, 255}};
  n = buildRtcpFir(out, 0x10, entries);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 28u);
  auto p = *RtcpCompoundReader(ByteSpan(out.data(), *n)).next();
  EXPECT_EQ(RtcpFeedback::parse(p)->media_ssrc, 0u);
  auto fir = RtcpFir::parse(p);
  ASSERT_TRUE(fir);
  ASSERT_EQ(fir->entryCount(), 2u);
  EXPECT_EQ(fir->entry(0), entries[0]);
  EXPECT_EQ(fir->entry(1), entries[1]);
  EXPECT_FALSE(RtcpPli::parse(p));
  EXPECT_FALSE(buildRtcpFir(out, 1, {}));
  EXPECT_FALSE(buildRtcpPli(MutableByteSpan(out.data(), 11), 1, 2));
}

TEST(Rtcp, RembRoundTripAndSaturation) {
  std::array<std::uint8_t, 64> out{};
  const std::array<std::uint32_t, 2> ssrcs = {0xA, 0xB};
  auto n = buildRtcpRemb(out, 0x1, 2'500'000, ssrcs);
  ASSERT_TRUE(n);
  auto remb = RtcpRemb::parse(*RtcpCompoundReader(ByteSpan(out.data(), *n)).next());
  ASSERT_TRUE(remb);
  // Mantissa is 18 bits: 2.5 Mbps needs exp 4 -> 156250 << 4 exactly.
  EXPECT_EQ(remb->bitrate_bps, 2'500'000u);
  EXPECT_EQ(remb->ssrcCount(), 2u);
  EXPECT_EQ(remb->ssrc(1), 0xBu);

  auto v = header(kPsfbAfb, kRtcpPsfb, 4);
  put32(v, 1);
  put32(v, 0);
  v.insert(v.end(), {'R', 'E', 'M', 'B', 0, 0xFF, 0xFF, 0xFF});  // exp 63, mantissa 0x3FFFF
  auto sat = RtcpRemb::parse(only(v));
  ASSERT_TRUE(sat);
  EXPECT_EQ(sat->bitrate_bps, UINT64_MAX);

  v[12] = 'X';
  EXPECT_FALSE(RtcpRemb::parse(only(v)));
  v[12] = 'R';
  v[16] = 1;  // claims one SSRC that is not there
  EXPECT_FALSE(RtcpRemb::parse(only(v)));
}

TEST(Rtcp, TransportCcHeader) {
  auto v = header(kRtpfbTransportCc, kRtcpRtpfb, 5);
  put32(v, 0x1);
  put32(v, 0x2);
  put16(v, 65530);
  put16(v, 12);
  v.insert(v.end(), {0xFF, 0xFF, 0xFE, 9});  // reference time -2, fb count 9
  put32(v, 0x20010000);
  auto t = RtcpTransportCc::parse(only(v));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->base_seq, 65530);
  EXPECT_EQ(t->status_count, 12);
  EXPECT_EQ(t->reference_time, -2);
  EXPECT_EQ(t->feedback_count, 9);
  EXPECT_EQ(t->chunks.size(), 4u);
  EXPECT_FALSE(RtcpNack::parse(only(v)));
}

}  // namespace
}  // namespace chorus::media
