// libFuzzer target: RTCP compound packets (media/rtcp). Every packet goes through every typed parser; RR and
// NACK are rebuilt from what was parsed and must reparse to the same values.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "media/rtcp/rtcp_packet.hpp"

using namespace chorus::media;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteSpan in(data, size);
  (void)validateRtcpCompound(in, false);
  RtcpCompoundReader reader(in);
  std::array<std::uint8_t, 8192> out{};  // room for a NACK of 17 * 64 seqs packed one per item (4364 B)
  std::size_t sink = 0;
  while (auto p = reader.next()) {
    if (p->body.size() + 4 > p->packet.size()) __builtin_trap();
    if (auto sr = RtcpSenderReport::parse(*p)) {
      for (std::size_t i = 0; i < sr->reportCount(); ++i) sink += sr->reportBlock(i).jitter;
    }
    if (auto rr = RtcpReceiverReport::parse(*p)) {
      std::array<RtcpReportBlock, 31> blocks{};
      for (std::size_t i = 0; i < rr->reportCount(); ++i) blocks[i] = rr->reportBlock(i);
      auto n = buildRtcpReceiverReport(out, rr->ssrc, std::span(blocks.data(), rr->reportCount()));
      if (!n) __builtin_trap();
      auto again = RtcpCompoundReader(ByteSpan(out.data(), *n)).next();
      auto rr2 = again ? RtcpReceiverReport::parse(*again) : std::nullopt;
      if (!rr2 || rr2->reportCount() != rr->reportCount()) __builtin_trap();
      for (std::size_t i = 0; i < rr->reportCount(); ++i) {
        if (!(rr2->reportBlock(i) == rr->reportBlock(i))) __builtin_trap();
      }
    }
    if (p->type == kRtcpSdes) {
      RtcpSdesIterator items(*p);
      while (auto item = items.next()) sink += item->type + item->value.size();
    }
    if (auto bye = RtcpBye::parse(*p)) {
      for (std::size_t i = 0; i < bye->ssrcCount(); ++i) sink += bye->ssrc(i);
      if (bye->reason) sink += bye->reason->size();
    }
    (void)RtcpFeedback::parse(*p);
    if (auto nack = RtcpNack::parse(*p)) {
      std::array<std::uint16_t, 17 * 64> lost{};
      const std::size_t total = nack->lostSequenceNumbers(lost);
      if (total < nack->itemCount() || total > 17 * nack->itemCount()) __builtin_trap();
      const std::size_t n_lost = std::min(total, lost.size());
      auto n = buildRtcpNack(out, nack->sender_ssrc, nack->media_ssrc, std::span(lost.data(), n_lost));
      if (!n) __builtin_trap();
      // Every seq we put in must come back out (packing may differ).
      auto again = RtcpCompoundReader(ByteSpan(out.data(), *n)).next();
      auto nack2 = again ? RtcpNack::parse(*again) : std::nullopt;
      if (!nack2) __builtin_trap();
      std::array<std::uint16_t, 17 * 64 * 17> lost2{};
      const std::size_t total2 = nack2->lostSequenceNumbers(lost2);
      std::vector<bool> present(65536, false);
      for (std::size_t i = 0; i < std::min(total2, lost2.size()); ++i) present[lost2[i]] = true;
      for (std::size_t i = 0; i < n_lost; ++i) {
        if (!present[lost[i]]) __builtin_trap();
      }
    }
    if (auto tcc = RtcpTransportCc::parse(*p)) sink += tcc->base_seq + tcc->chunks.size();
    if (auto pli = RtcpPli::parse(*p)) sink += pli->media_ssrc;
    if (auto fir = RtcpFir::parse(*p)) {
      for (std::size_t i = 0; i < fir->entryCount(); ++i) sink += fir->entry(i).seq;
    }
    if (auto remb = RtcpRemb::parse(*p)) {
      for (std::size_t i = 0; i < remb->ssrcCount(); ++i) sink += remb->ssrc(i);
      sink += static_cast<std::size_t>(remb->bitrate_bps);
    }
  }
  (void)sink;
  return 0;
}
