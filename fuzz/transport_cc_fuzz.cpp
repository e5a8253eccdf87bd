// libFuzzer target: transport-cc feedback (media/rtcp/transport_cc_feedback.hpp) and the send-side estimator
// that consumes it (media/cc/send_side_bwe.hpp).
// - Every RTCP packet of the input that parses as RTPFB 15 is walked (status count, received count and
//   consecutive sequence numbers must agree with the header), rebuilt from its statuses, and the rebuilt
//   packet must parse to the same header and statuses; rebuilding that again gives the same bytes (canonical
//   form).
// - Each parsed feedback is fed to a SendSideBwe that sent packets around its base sequence number; the
//   estimate must stay within [min, max].
// - The input is also read as a script of (seq, arrival step) for the feedback generator: everything it emits
//   must parse, stay within its size bound, and end on a received packet (trailing losses wait).
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "media/cc/send_side_bwe.hpp"
#include "media/cc/transport_cc_feedback_generator.hpp"
#include "media/rtcp/transport_cc_feedback.hpp"

using namespace chorus::media;

namespace {

std::vector<TransportCcPacketStatus> walk(const TransportCcFeedback& f) {
  std::vector<TransportCcPacketStatus> out;
  std::size_t received = 0;
  auto it = f.packets();
  while (auto s = it.next()) {
    if (s->seq != static_cast<std::uint16_t>(f.base_seq + out.size())) __builtin_trap();
    if (s->received) ++received;
    out.push_back(*s);
  }
  if (out.size() != f.status_count || received != f.received_count) __builtin_trap();
  return out;
}

std::optional<TransportCcFeedback> parseOne(ByteSpan bytes) {
  RtcpCompoundReader reader(bytes);
  auto p = reader.next();
  if (!p) return std::nullopt;
  return TransportCcFeedback::parse(*p);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::vector<std::uint8_t> out(300'000);
  static std::vector<std::uint8_t> again(300'000);
  const ByteSpan in(data, size);

  cc::SendSideBwe::Config config;
  config.history_capacity = 1024;
  cc::SendSideBwe bwe(config);
  cc::TimeUs now = 1'000'000;
  RtcpCompoundReader reader(in);
  while (auto p = reader.next()) {
    auto f = TransportCcFeedback::parse(*p);
    if (!f) continue;
    const auto statuses = walk(*f);
    const TransportCcFeedbackHeader h{f->sender_ssrc, f->media_ssrc, f->base_seq, f->reference_time,
                                      f->feedback_count};
    auto n = buildTransportCcFeedback(out, h, statuses);
    if (!n) __builtin_trap();  // every parsed feedback is encodable
    auto f2 = parseOne(ByteSpan(out.data(), *n));
    if (!f2) __builtin_trap();
    if (f2->sender_ssrc != f->sender_ssrc || f2->media_ssrc != f->media_ssrc || f2->base_seq != f->base_seq ||
        f2->reference_time != f->reference_time || f2->feedback_count != f->feedback_count) {
      __builtin_trap();
    }
    if (walk(*f2) != statuses) __builtin_trap();
    auto n2 = buildTransportCcFeedback(again, h, walk(*f2));
    if (!n2 || *n2 != *n ||
        !std::equal(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*n), again.begin())) {
      __builtin_trap();
    }
    // Feed the estimator: pretend we sent the packets the feedback talks about, 1 ms apart.
    for (std::size_t i = 0; i < std::min<std::size_t>(statuses.size(), 2000); ++i) {
      bwe.onPacketSent(statuses[i].seq, 1200, now);
      now += 1000;
    }
    bwe.onFeedback(*f, now);
    bwe.onTick(now);
    if (bwe.targetBps() < config.min_bps || bwe.targetBps() > config.max_bps) __builtin_trap();
  }

  // Generator script: 3 bytes per packet (seq 16 bits, arrival step in 250 µs units).
  cc::TransportCcFeedbackGenerator gen(
      {.max_feedback_bytes = 300, .max_status_count = 200, .max_tracked = 512});
  cc::TimeUs t = 0;
  for (std::size_t i = 0; i + 3 <= size; i += 3) {
    const auto seq = static_cast<std::uint16_t>((data[i] << 8) | data[i + 1]);
    t += static_cast<cc::TimeUs>(data[i + 2]) * 250 - 8000;  // may go backwards
    gen.onPacket(seq, t);
    if (data[i + 2] % 8 == 0) {
      std::array<std::uint8_t, 1500> buf{};
      while (auto n = gen.nextFeedback(buf)) {
        if (*n > 300) __builtin_trap();
        auto f = parseOne(ByteSpan(buf.data(), *n));
        if (!f) __builtin_trap();
        if (!walk(*f).back().received) __builtin_trap();
      }
    }
  }
  return 0;
}
