// `chorus demo`: a real three-party call on an embedded homeserver (src/call/demo.cpp); `--simulate` runs the
// core state machines on an in-memory homeserver with fake media instead and prints every step.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <string>

#include "apps/chorus/commands.hpp"
#include "base/clock.hpp"
#include "sim/simulation.hpp"
#ifdef CHORUS_HAVE_CALL
#include "call/demo.hpp"
#endif

namespace chorus::app {
namespace {

struct DemoOptions {
  int participants{3};
  std::uint64_t seed{1};
  bool quiet{false};
  bool simulate{false};
  double duration_s{0};  // until Ctrl-C: time to join from a browser
  std::string listen{"127.0.0.1:8008"};
  std::string data_dir;
  bool loopback_only{false};
  bool mesh{false};
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

std::string selfPath() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "chorus";
  return std::string(buf, static_cast<std::size_t>(n));
}

int runDemo(const DemoOptions& opt) {
#ifdef CHORUS_HAVE_CALL
  if (!opt.simulate) {
    call::DemoOptions d;
    d.chorus_binary = selfPath();
    d.listen = opt.listen;
    d.data_dir = opt.data_dir;
    d.duration_s = opt.duration_s;
    d.participants = opt.participants;
    d.loopback_only = opt.loopback_only;
    d.use_focus = !opt.mesh;
    return call::runDemo(d);
  }
#endif
  return runSimulatedDemo(opt);
}

void registerDemo(CLI::App& app, Runner* runner) {
  auto opt = std::make_shared<DemoOptions>();
  auto* cmd =
      app.add_subcommand("demo", "Run a three-party group call on an embedded homeserver and show it");
  cmd->add_option("--participants", opt->participants, "number of bots (1-6; the simulation: 2-8)")
      ->capture_default_str();
  cmd->add_option("--duration", opt->duration_s, "seconds to run (0: until Ctrl-C)")->capture_default_str();
  cmd->add_option("--listen", opt->listen, "where chorus hs listens (a free port if taken)")
      ->capture_default_str();
  cmd->add_option("--data", opt->data_dir, "homeserver data directory (default: a new temporary one)");
  cmd->add_flag("--loopback-only", opt->loopback_only, "bots gather only 127.0.0.1 ICE candidates");
  cmd->add_flag("--mesh", opt->mesh, "full mesh instead of going through a chorus focus");
  cmd->add_flag("--simulate", opt->simulate,
                "in-memory homeserver and fake media: show the core state machines");
  cmd->add_option("--seed", opt->seed, "random seed of the simulation")->capture_default_str();
  cmd->add_flag("--quiet", opt->quiet, "simulation: print only the summary lines");
  cmd->callback([opt, runner] { *runner = [opt] { return runDemo(*opt); }; });
}

}  // namespace chorus::app
