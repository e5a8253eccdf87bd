// Media packet-path benchmarks (src/media, see docs/media.md). Per packet:
//   BM_RtpParseRewrite         parse RTP, find mid + transport-cc, VP8 descriptor, simulcast rewrite
//   BM_SrtpProtect             SRTP protect: GCM (arg 0) vs AES-CM-HMAC-SHA1-80 (arg 1), 160 / 1100 B,
//                              backend libsrtp2 (third arg 0) vs OpenSSL EVP (1)
//   BM_SrtpProtectUnprotect    protect + unprotect (decrypt once, encrypt per subscriber)
//   BM_StunBindingResponse     parse + MESSAGE-INTEGRITY check + build the success response
//   BM_RtcpNackParse           compound iteration + NACK parse + lost-seq expansion
//   BM_RetransmissionStoreGet  store one 1100-byte packet and fetch an older one
//   build/default/bench/media_bench
#include <benchmark/benchmark.h>

#include <array>
#include <cstring>
#include <vector>

#include "media/rtcp/rtcp_packet.hpp"
#include "media/rtp/retransmission_buffer.hpp"
#include "media/rtp/rtp_packet.hpp"
#include "media/rtp/simulcast_rewriter.hpp"
#include "media/rtp/vp8_descriptor.hpp"
#include "media/srtp/evp_srtp_session.hpp"
#include "media/srtp/libsrtp_session.hpp"
#include "media/srtp/srtp_session.hpp"
#include "media/stun/stun_message.hpp"

using namespace chorus::media;

namespace {

std::vector<std::uint8_t> makeRtp(std::size_t total_size, std::uint16_t seq) {
  std::vector<std::uint8_t> v(total_size, 0x55);
  // V=2, X=1, PT 96, one-byte extensions: mid (id 1) "0", transport-cc (id 5), abs-send-time (id 3).
  const std::uint8_t hdr[] = {0x90, 96,   0,    0,    0,    0,    0x10, 0,   0x11, 0x22,
                              0x33, 0x44, 0xBE, 0xDE, 0x00, 0x03, 0x10, '0', 0x51, 0x00,
                              0x01, 0x32, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00};
  std::memcpy(v.data(), hdr, sizeof(hdr));
  v[2] = static_cast<std::uint8_t>(seq >> 8);
  v[3] = static_cast<std::uint8_t>(seq);
  // VP8 descriptor: X, I (15-bit picture id), L, T; start of a key frame.
  const std::uint8_t vp8[] = {0x90, 0xE0, 0x92, 0x34, 0x56, 0xA0, 0x10, 0x02,
                              0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0x68, 0x01};
  std::memcpy(v.data() + sizeof(hdr), vp8, sizeof(vp8));
  return v;
}

std::vector<std::uint8_t> keyingMaterial(SrtpProfile p) {
  std::vector<std::uint8_t> km(srtpKeyingMaterialSize(p));
  for (std::size_t i = 0; i < km.size(); ++i) km[i] = static_cast<std::uint8_t>(i * 7 + 1);
  return km;
}

void BM_RtpParseRewrite(benchmark::State& state) {
  auto pkt = makeRtp(static_cast<std::size_t>(state.range(0)), 0);
  SimulcastRewriter rw({90000, 0xABCDEF, 1000, 0});
  rw.selectLayer(0x11223344);
  std::uint16_t seq = 0;
  chorus::TimeMs now = 0;
  for (auto _ : state) {
    pkt[2] = static_cast<std::uint8_t>(seq >> 8);
    pkt[3] = static_cast<std::uint8_t>(seq);
    pkt[8] = 0x11;  // restore the source SSRC the rewriter replaced
    pkt[9] = 0x22;
    pkt[10] = 0x33;
    pkt[11] = 0x44;
    ++seq;
    auto m = MutableRtpPacketView::parse(pkt);
    auto mid = m->findExtension(1);
    auto tcc = m->findExtension(5);
    auto d = parseVp8Descriptor(m->payload());
    auto out = rw.rewrite(*m, d && d->keyframe, now++);
    benchmark::DoNotOptimize(mid);
    benchmark::DoNotOptimize(tcc);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RtpParseRewrite)->Arg(160)->Arg(1100);

void srtpBench(benchmark::State& state, bool unprotect_too) {
  const auto profile = static_cast<SrtpProfile>(state.range(0));
  const auto size = static_cast<std::size_t>(state.range(1));
  const bool evp = state.range(2) != 0;
  auto km = keyingMaterial(profile);
  const auto create = evp ? &createEvpSrtpSession : &createLibSrtpSession;
  auto client = create(profile, DtlsRole::Client, km);
  auto server = create(profile, DtlsRole::Server, km);
  auto plain = makeRtp(size, 0);
  std::vector<std::uint8_t> buf(size + srtpRtpOverhead(profile));
  std::uint16_t seq = 0;
  for (auto _ : state) {
    std::memcpy(buf.data(), plain.data(), size);
    buf[2] = static_cast<std::uint8_t>(seq >> 8);
    buf[3] = static_cast<std::uint8_t>(seq);
    ++seq;
    auto n = client->protectRtp(buf, size);
    if (unprotect_too) {
      auto m = server->unprotectRtp(MutableByteSpan(buf.data(), *n));
      benchmark::DoNotOptimize(m);
    }
    benchmark::DoNotOptimize(n);
  }
  state.SetLabel((evp ? "evp " : "libsrtp ") + std::string(srtpProfileName(profile)));
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}
void BM_SrtpProtect(benchmark::State& state) {
  srtpBench(state, false);
}
void BM_SrtpProtectUnprotect(benchmark::State& state) {
  srtpBench(state, true);
}
BENCHMARK(BM_SrtpProtect)->ArgsProduct({{0, 1}, {160, 1100}, {0, 1}});
BENCHMARK(BM_SrtpProtectUnprotect)->ArgsProduct({{0, 1}, {160, 1100}, {0, 1}});

void BM_StunBindingResponse(benchmark::State& state) {
  static const std::uint8_t req[] = {
      0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
      0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
      0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
      0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
      0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
      0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
      0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf};
  std::array<std::uint8_t, kStunMaxBindingResponse> out{};
  const auto mapped = StunAddress::v4({192, 0, 2, 1}, 32853);
  for (auto _ : state) {
    auto m = parseStun(req);
    const bool ok = verifyStunIntegrity(*m, "VOkJxbRl1RmTxUk/WvJxBt");
    auto n = buildStunBindingSuccess(out, m->transaction_id, mapped, "VOkJxbRl1RmTxUk/WvJxBt");
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StunBindingResponse);

void BM_RtcpNackParse(benchmark::State& state) {
  std::array<std::uint8_t, 256> buf{};
  std::vector<std::uint16_t> lost;
  for (std::uint16_t s = 100; s < 160; s += 3) lost.push_back(s);
  auto n = buildRtcpNack(buf, 1, 2, lost);
  std::array<std::uint16_t, 64> seqs{};
  for (auto _ : state) {
    RtcpCompoundReader r(ByteSpan(buf.data(), *n));
    std::size_t total = 0;
    while (auto p = r.next()) {
      if (auto nack = RtcpNack::parse(*p)) total += nack->lostSequenceNumbers(seqs);
    }
    benchmark::DoNotOptimize(total);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RtcpNackParse);

void BM_RetransmissionStoreGet(benchmark::State& state) {
  RetransmissionBuffer b({1024, 1500, 2000});
  auto pkt = makeRtp(1100, 0);
  std::uint16_t seq = 0;
  for (auto _ : state) {
    b.store(seq, pkt, 0);
    auto got = b.get(static_cast<std::uint16_t>(seq - 100), 0);
    benchmark::DoNotOptimize(got);
    ++seq;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RetransmissionStoreGet);

}  // namespace

BENCHMARK_MAIN();
