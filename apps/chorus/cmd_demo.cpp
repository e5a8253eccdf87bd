// `chorus demo`: a scripted group call. Until real media calls land, it runs an in-memory homeserver and fake
// media through the real core state machines (`--simulate`, the default) and prints what happens.
#include <cstdio>
#include <string>

#include "apps/chorus/commands.hpp"
#include "base/clock.hpp"
#include "sim/simulation.hpp"

namespace chorus::app {
namespace {

struct DemoOptions {
  int participants{3};
  std::uint64_t seed{1};
  bool quiet{false};
};

int runSimulatedDemo(const DemoOptions& opt) {
  FakeClock clock;
  sim::Simulation net(clock, opt.seed);
  if (!opt.quiet) net.setLogSink([](const std::string& line) { std::printf("%s\n", line.c_str()); });
  static const char* kNames[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"};
  const int n = std::max(2, std::min(opt.participants, 8));
  for (int i = 0; i < n; ++i) {
    net.addClient(std::string("@") + kNames[i] + ":localhost",
                  "DEV" + std::string(1, static_cast<char>('A' + i)));
  }
  std::printf("== chorus demo (in-memory homeserver, fake media, real core state machines)\n");
  std::printf("== %d participants join a room; %s creates the group call\n", n, kNames[0]);
  core::in::Enter enter;
  enter.feeds = {core::LocalFeed{"stream-usermedia", std::string(proto::kPurposeUserMedia), false, false}};
  enter.create_if_missing = true;
  net.input(net.client(0), enter);
  enter.create_if_missing = false;
  net.runFor(500);
  for (int i = 1; i < n; ++i) net.input(net.client(i), enter);
  const bool mesh = net.runUntil([&] { return net.allPairsConnected(); }, 30'000);
  std::printf("== full mesh: %s (%d legs)\n", mesh ? "every pair connected" : "NOT connected",
              n * (n - 1) / 2);

  std::printf("== %s mutes audio\n", kNames[1]);
  core::in::SetFeeds mute{
      {core::LocalFeed{"stream-usermedia", std::string(proto::kPurposeUserMedia), true, false}}};
  net.input(net.client(1), mute);
  net.runFor(1'000);

  std::printf("== %s leaves\n", kNames[n - 1]);
  net.input(net.client(n - 1), core::in::Leave{});
  net.runFor(2'000);

  std::printf("== %s terminates the call\n", kNames[0]);
  net.input(net.client(0), core::in::Terminate{});
  net.runFor(2'000);
  int still_in = 0;
  for (std::size_t i = 0; i < net.size(); ++i) still_in += net.client(i).call().entered() ? 1 : 0;
  std::printf("== done: %llu to-device messages, %d client(s) still in a call\n",
              static_cast<unsigned long long>(net.toDeviceSent()), still_in);
  return mesh && still_in == 0 ? 0 : 1;
}

}  // namespace

void registerDemo(CLI::App& app, Runner* runner) {
  auto opt = std::make_shared<DemoOptions>();
  auto* cmd = app.add_subcommand("demo", "Run a three-party group call and show what happens");
  cmd->add_option("--participants", opt->participants, "number of participants (2-8)")->capture_default_str();
  cmd->add_option("--seed", opt->seed, "random seed of the simulation")->capture_default_str();
  cmd->add_flag("--quiet", opt->quiet, "print only the summary lines");
  cmd->callback([opt, runner] { *runner = [opt] { return runSimulatedDemo(*opt); }; });
}

}  // namespace chorus::app
