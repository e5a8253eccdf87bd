// `chorus bench <name>`: benchmarks that need real sockets or processes (micro-benchmarks live in bench/).
#include <cstdio>
#include <memory>

#include "apps/chorus/commands.hpp"
#ifdef CHORUS_HAVE_HS
#include "hs/bench/load_bench.hpp"
#endif

namespace chorus::app {

#ifdef CHORUS_HAVE_HS
namespace {

struct HsBenchCli {
  hs::LoadBenchOptions opt;
  bool json{false};
};

int runHsBench(const HsBenchCli& cli) {
  auto r = hs::runLoadBench(cli.opt);
  if (!r) {
    std::fprintf(stderr, "chorus bench hs: %s\n", r.error().toString().c_str());
    return 1;
  }
  if (cli.json) {
    std::printf("%s\n", boost::json::serialize(*r).c_str());
    return 0;
  }
  for (const auto& [k, v] : *r)
    std::printf("%s: %s\n", std::string(k).c_str(), boost::json::serialize(v).c_str());
  return 0;
}

}  // namespace
#endif

void registerBench(CLI::App& app, Runner* runner) {
  auto* bench = app.add_subcommand("bench", "Benchmarks that need real sockets (see `chorus bench --help`)");
  bench->require_subcommand(1);
#ifdef CHORUS_HAVE_HS
  auto cli = std::make_shared<HsBenchCli>();
  auto* hs = bench->add_subcommand("hs", "chorus hs: to-device rate and latency, /sync fan-out");
  hs->add_option("--devices", cli->opt.devices, "Long-polling device counts, one run each (e.g. 100,1000)")
      ->delimiter(',')
      ->capture_default_str();
  hs->add_option("--messages", cli->opt.messages, "To-device messages per run")->capture_default_str();
  hs->add_option("--fanout-members", cli->opt.fanout_members, "Joined members for the fan-out run")
      ->capture_default_str();
  hs->add_option("--fanout-rounds", cli->opt.fanout_rounds, "m.call.member changes to fan out")
      ->capture_default_str();
  hs->add_option("--synchronous", cli->opt.synchronous, "SQLite synchronous mode of the server under test")
      ->check(CLI::IsMember({"full", "normal"}))
      ->capture_default_str();
  hs->add_flag("--json", cli->json, "Print one JSON object");
  hs->callback([cli, runner] { *runner = [cli] { return runHsBench(*cli); }; });
#else
  (void)runner;
#endif
}

}  // namespace chorus::app
