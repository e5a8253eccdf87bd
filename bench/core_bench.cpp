// Core benchmarks. The baseline in the same run is parsing the same to-device content with proto alone; the
// GroupCall benchmark adds filtering, seq reordering and the per-leg machine on top, so the ratio of the two
// is what core itself costs per message.
//   build/default/bench/core_bench
#include <benchmark/benchmark.h>

#include "core/group_call.hpp"
#include "proto/signalling.hpp"
#include "sim/simulation.hpp"

namespace {

using namespace chorus;

boost::json::object candidatesContent(std::uint64_t seq, const std::string& call_id) {
  return boost::json::object{
      {"call_id", call_id},
      {"party_id", "A"},
      {"version", "1"},
      {"conf_id", "conf"},
      {"device_id", "A"},
      {"sender_session_id", "aS"},
      {"dest_session_id", "bobS"},
      {"seq", seq},
      {"candidates", boost::json::array{boost::json::object{
                         {"candidate", "candidate:1 1 udp 2122260223 127.0.0.1 40000 typ host"},
                         {"sdpMid", "0"},
                         {"sdpMLineIndex", 0}}}}};
}

// Baseline: proto parse of one m.call.candidates content.
void BM_ParseCandidates(benchmark::State& state) {
  auto content = candidatesContent(1, "c1");
  for (auto _ : state) {
    auto sig = proto::parseCallSignal("m.call.candidates", content);
    benchmark::DoNotOptimize(sig);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseCandidates);

// A GroupCall in a call with alice, receiving her candidates on an established leg, in order.
void BM_GroupCallCandidates(benchmark::State& state) {
  FakeClock clock(1'700'000'000'000);
  FakeRng rng(1);
  core::CallConfig cfg;
  cfg.user_id = "@bob:hs";
  cfg.device_id = "BOB";
  cfg.session_id = "bobS";
  core::GroupCall call(cfg, clock, rng);
  boost::json::object dev{{"device_id", "A"},
                          {"session_id", "aS"},
                          {"expires_ts", 1'700'003'600'000},
                          {"feeds", boost::json::array{}}};
  (void)call.handle(core::in::StateChanged{{
      {"m.room.member", "@alice:hs", "@alice:hs", "$a", 1, {{"membership", "join"}}},
      {"m.room.member", "@bob:hs", "@bob:hs", "$b", 1, {{"membership", "join"}}},
      {"org.matrix.msc3401.call",
       "conf",
       "@alice:hs",
       "$c",
       1,
       {{"m.intent", "m.prompt"}, {"m.type", "m.video"}}},
      {"org.matrix.msc3401.call.member",
       "@alice:hs",
       "@alice:hs",
       "$m",
       1,
       {{"m.calls", boost::json::array{boost::json::object{{"m.call_id", "conf"},
                                                           {"m.devices", boost::json::array{dev}}}}}}},
  }});
  (void)call.handle(core::in::Enter{});
  auto invite = candidatesContent(0, "c1");
  invite.erase("candidates");
  invite["offer"] = boost::json::object{{"type", "offer"}, {"sdp", "v=0"}};
  (void)call.handle(core::in::ToDeviceReceived{{"m.call.invite", "@alice:hs", invite}});
  std::uint64_t seq = 1;
  for (auto _ : state) {
    auto acts = call.handle(
        core::in::ToDeviceReceived{{"m.call.candidates", "@alice:hs", candidatesContent(seq++, "c1")}});
    benchmark::DoNotOptimize(acts);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GroupCallCandidates);

// Wall time for a whole N-party mesh to form in the simulation (all machines, fake media).
void BM_SimulatedMeshSetup(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    FakeClock clock;
    sim::Simulation net(clock, 7);
    static const char* kUsers[] = {"@a:hs", "@b:hs", "@c:hs", "@d:hs", "@e:hs", "@f:hs", "@g:hs", "@h:hs"};
    for (int i = 0; i < n; ++i) net.addClient(kUsers[i], "D" + std::to_string(i));
    core::in::Enter e;
    e.feeds = {core::LocalFeed{"s", "m.usermedia", false, false}};
    e.create_if_missing = true;
    net.input(net.client(0), e);
    net.runFor(100);
    e.create_if_missing = false;
    for (int i = 1; i < n; ++i) net.input(net.client(i), e);
    if (!net.runUntil([&] { return net.allPairsConnected(); }, 60'000))
      state.SkipWithError("mesh did not form");
  }
  state.counters["legs"] = n * (n - 1) / 2;
}
BENCHMARK(BM_SimulatedMeshSetup)->Arg(4)->Arg(8)->Unit(benchmark::kMillisecond);

}  // namespace

// Prints the core-over-parse ratio after the normal report.
int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  struct Collect : benchmark::ConsoleReporter {
    double parse_ns = 0, call_ns = 0;
    void ReportRuns(const std::vector<Run>& runs) override {
      ConsoleReporter::ReportRuns(runs);
      for (const auto& r : runs) {
        if (r.benchmark_name() == "BM_ParseCandidates") parse_ns = r.GetAdjustedRealTime();
        if (r.benchmark_name() == "BM_GroupCallCandidates") call_ns = r.GetAdjustedRealTime();
      }
    }
  } reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  if (reporter.parse_ns > 0 && reporter.call_ns > 0) {
    std::printf(
        "ratio: one to-device message through GroupCall costs %.2fx its proto parse (%.0f ns vs %.0f ns)\n",
        reporter.call_ns / reporter.parse_ns, reporter.call_ns, reporter.parse_ns);
  }
  benchmark::Shutdown();
  return 0;
}
