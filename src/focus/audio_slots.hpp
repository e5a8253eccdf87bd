#pragma once
// The bounded audio forwarding set of a large call (docs/focus.md, "Audio slots"), sans-IO.
//
// Past RouterConfig::audio_slots audio subscriptions, a subscriber no longer gets one outgoing stream per
// publisher: it gets K fixed outgoing audio streams, its slots, and the focus puts the loudest K of the audio
// tracks it subscribed to on them (a browser mixes only the loudest few anyway: libwebrtc's AudioMixer plays
// at most three sources at a time). Then its SDP, its SRTP streams and the focus's per-subscription state
// stop growing with the size of the call.
//
// This file holds the two decisions, so they can be tested on their own: how loud a track is (SpeechActivity,
// from the RFC 6464 audio level each packet carries, or its payload size when it carries none), and which
// track goes on which slot (assignAudioSlots: the K loudest, with a hold time so a slot does not flap between
// two speakers). The Router owns the slots and forwards through them.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/clock.hpp"

namespace chorus::focus {

// The slots' msid stream and track ids are this + their index ("chorus-slot-0" ...). No publisher's id with
// this prefix is forwarded (TrackIds::isUsableId), so a slot's id never collides with a publisher's.
inline constexpr std::string_view kAudioSlotIdPrefix = "chorus-slot-";

// How loud one audio track has been lately. Every packet adds its loudness: 127 − its RFC 6464 level (the
// level is −dBov, 0 loudest, 127 silence), or, without the extension, half its payload size (capped at 127:
// Opus speech runs at 60–120 bytes a packet, silence and DTX at a few). Once per interval roll() folds what
// the interval brought into score(), which halves each interval: a track that speaks scores ~ 50 packets/s
// × its loudness, a silent or DTX track ~ 0, and a speaker who stopped fades within a few intervals.
class SpeechActivity {
 public:
  void onPacket(std::optional<std::uint8_t> audio_level, std::size_t payload_size) noexcept {
    std::uint32_t loud = 0;
    if (audio_level) {
      loud = 127u - (*audio_level & 0x7Fu);
    } else {
      loud = static_cast<std::uint32_t>(payload_size < 254 ? payload_size / 2 : 127);
    }
    pending_ += loud;
  }
  void roll() noexcept {
    score_ = score_ / 2 + pending_;
    pending_ = 0;
  }
  std::uint64_t score() const noexcept { return score_; }

 private:
  std::uint64_t pending_{0};
  std::uint64_t score_{0};
};

// A track that may go on a slot, in the order of the call's ranking (loudest first). `key` names the track
// (unique, never 0); `score` is its SpeechActivity::score(), 0 for a muted or silent one.
struct RankedAudio {
  std::uint64_t key{0};
  std::uint64_t score{0};
};

// One slot as it is: the track on it (0: none), since when, and that track's score now.
struct AudioSlotState {
  std::uint64_t holder{0};
  TimeMs since{0};
  std::uint64_t score{0};
};

struct AudioSlotMove {
  std::size_t slot{0};
  std::uint64_t key{0};  // the track that goes on it
  bool operator==(const AudioSlotMove&) const = default;
};

// Which of `ranked` (loudest first) go on which of `slots` for one subscriber, given which tracks it
// subscribed to (`subscribed`). The wanted set is the first K subscribed tracks of the ranking, K the number
// of slots. A wanted track already on a slot stays there. A wanted track that is not on one goes on an empty
// slot, or, if it is speaking (score > 0), replaces the holder of a slot that is not wanted any more and has
// been held for at least `hold_ms` (or whose holder is silent); the quietest such holder goes first. A silent
// wanted track never displaces another (no churn among the silent). Returns the moves, in slot order of the
// slots filled.
std::vector<AudioSlotMove> assignAudioSlots(std::span<const RankedAudio> ranked,
                                            const std::function<bool(std::uint64_t)>& subscribed,
                                            std::span<const AudioSlotState> slots, TimeMs now,
                                            TimeMs hold_ms);

}  // namespace chorus::focus
