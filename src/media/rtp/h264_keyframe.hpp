#pragma once
// Keyframe detection on H.264 RTP payloads (RFC 6184): whether a packet starts a frame a decoder can begin
// at, which is what a simulcast layer switch waits for. Looks at NAL unit headers only; never reads past the
// payload.
#include "media/bytes.hpp"

namespace chorus::media {

// True when the payload carries an IDR slice (NAL type 5) or an SPS (7): as a single NAL unit packet, as one
// of the units of a STAP-A (24), or at the start (S bit) of an FU-A (28). In a STAP-A, a unit of length 0 or
// one that runs past the payload ends the scan (false, unless an earlier unit was IDR or SPS).
bool h264KeyframeStart(ByteSpan payload) noexcept;

}  // namespace chorus::media
