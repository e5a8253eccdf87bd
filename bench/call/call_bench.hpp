#pragma once
// `chorus bench call`: how fast a participant entering a mesh call gets connected. Starts `chorus hs` and
// N `chorus call` participants in one mesh call, waits until they are all connected to each other, then
// starts one more (the newcomer) and measures, from its own JSON lines, when each of its legs was created,
// when the answer of each leg was there (outgoing leg: the peer's answer arrived; incoming leg: our answer
// was sent — both are the leg's "connecting" event) and when each leg was connected. Repeated for --rounds
// newcomers (each one leaves before the next enters). Needs real interfaces: run it inside
// tests/netns/run.sh.
#include <string>

#include <boost/json.hpp>

#include "base/result.hpp"

namespace chorus::call {

struct CallBenchOptions {
  std::string chorus_binary;  // runs hs and the participants
  int participants{3};        // already in the call when the newcomer enters
  int rounds{3};              // newcomers, one after the other
  double timeout_s{30};       // per phase (initial mesh, each newcomer)
  // "event": the engine's event-driven leg setup; "legacy": the old one (blocking wait for send caps, tee
  // allocation queries into connecting legs: `chorus call --legacy-leg-setup`); "both": one run of each.
  std::string mode{"both"};
  // true: the newcomer's user id sorts first, so it places the calls (it sends the offers, as js-sdk's rule
  // has it: the lower user id calls); false: the others call the newcomer (it answers).
  bool newcomer_offers{true};
  bool keep_temp{false};
};

// One JSON object: {"aim_s", "modes": {"event": {...}, "legacy": {...}}}. Each mode has "rounds" (legs with
// their times in seconds) and the maxima. An error only when nothing could be started.
Result<boost::json::object> runCallBench(const CallBenchOptions& options);

// The human-readable table of a runCallBench() result.
std::string formatCallBench(const boost::json::object& result);

}  // namespace chorus::call
