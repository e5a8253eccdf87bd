#pragma once
// `chorus bench focus`: a synthetic load generator on our own transport stack (no codecs) drives P publishers
// and S subscribers through a real `chorus focus` process (on a real `chorus hs`) over loopback, and reports
// forwarded packets per CPU-second of the focus, added latency, loss and RSS per participant. In the same run
// it measures the floor on this machine (SRTP unprotect + S x protect and UDP receive + send of the same
// packets, no routing; bench/forwarding_floor.hpp) and prints the ratio. Figures, not a pass/fail test. See
// docs/focus.md, "Benchmark".
#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/json.hpp>

#include "base/result.hpp"

namespace chorus::focus {

struct FocusBenchOptions {
  int publishers{4};
  int subscribers{8};  // each subscribes to every publisher's audio and video
  double seconds{10};  // measurement window (after every stream flows and a 1 s warm-up)
  int video_pps{300};
  int audio_pps{50};
  std::size_t payload_bytes{1000};  // video RTP payload (audio: 100)
  std::size_t audio_payload_bytes{100};
  // Audio-only (`--audio-only`): `participants` synthetic participants each publish one audio track and
  // subscribe to every other participant's audio (as matrix-js-sdk does); `speakers` of them send
  // audio_payload_bytes at audio_pps, the others are silent and send one DTX packet every dtx_interval_ms.
  // publishers/subscribers/video are not used; the floor is not measured. Reports RSS per participant.
  bool audio_only{false};
  int participants{500};
  int speakers{3};
  int dtx_interval_ms{400};
  // Audio-only: the focus's bounded audio forwarding set (`"audio_slots": K` in the config file the bench
  // writes; 0 = off, every participant receives every other one). With K > 0 each participant should
  // receive min(K, N - 1) streams: the loudest speakers (the participants stamp the RFC 6464 audio level),
  // the remaining slots filled by silent participants' DTX.
  int audio_slots{16};  // chorus focus's own default
  // The focus's UDP GSO (`"udp_gso"` in its config; on by default): off to compare.
  bool udp_gso{true};
  // Setup timeout (joins, connections, every stream flowing); 0: 30 s + 1 s per participant.
  double setup_timeout_s{0};
  // The run stops (an error) when the focus's VmRSS exceeds this: a call the focus cannot carry must not take
  // the machine's memory.
  std::int64_t max_focus_rss_mib{4096};
  std::string chorus_binary;  // the `chorus` to spawn for hs and focus; empty: this executable
  bool keep_temp{false};      // keep the temporary directory (hs data, logs)
  bool progress{true};        // progress lines on stderr
};

// Runs the whole benchmark; the figures as one JSON object (fields: docs/focus.md).
Result<boost::json::object> runFocusLoadBench(const FocusBenchOptions& options);

}  // namespace chorus::focus
