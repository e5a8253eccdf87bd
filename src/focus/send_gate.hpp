#pragma once
// What the focus may send one participant: only tracks its current description has (docs/focus.md,
// "Renegotiation").
//
// A subscription starts forwarding at once, but the participant learns of the track only from the offer that
// adds it, and can use it only once it answered. Until then nothing about the track goes out:
// - RTP: webrtcbin 1.22 fails the whole transport on RTP of an SSRC it cannot map;
// - sender reports: webrtcbin 1.22 records an SSRC met in a report as unmapped, keeps it so when the
//   description naming it arrives, and later hands the track's RTP out on the first m-line's transceiver.
// Other RTCP (feedback about what the participant sends, BYE for tracks that ended) always passes.
//
// Sans-IO, single-threaded.
#include <cstdint>
#include <span>
#include <vector>

namespace chorus::focus {

class SendGate {
 public:
  // The SSRCs of the tracks the last completed negotiation agreed on. Returns those that are new.
  std::vector<std::uint32_t> setLive(std::vector<std::uint32_t> ssrcs);
  bool isLive(std::uint32_t ssrc) const;
  // Whether an RTP packet (or an RTCP compound) may be sent now. Packets too short to name an SSRC pass:
  // the transport drops them.
  bool admitRtp(std::span<const std::uint8_t> packet) const;
  bool admitRtcp(std::span<const std::uint8_t> compound) const;

 private:
  std::vector<std::uint32_t> live_;  // sorted, distinct
};

}  // namespace chorus::focus
