// `chorus bench <name>`: benchmarks that need real sockets or processes; flags only. The benchmarks are in
// chorus::bench (bench/hs, bench/focus, bench/call, bench/net); micro-benchmarks (Google Benchmark):
// bench/*_bench.cpp.
#include <cstdio>
#include <memory>

#include "apps/chorus/commands.hpp"
#include "bench/json_text.hpp"
#include "bench/net/impair_relay.hpp"
#include "bench/net/wakeup_floor.hpp"
#ifdef CHORUS_BENCH_HS
#include "bench/hs/load_bench.hpp"
#endif
#ifdef CHORUS_BENCH_FOCUS
#include <boost/json.hpp>

#include "bench/focus/load_bench.hpp"
#endif
#ifdef CHORUS_BENCH_CALL
#include <boost/json.hpp>

#include "bench/call/call_bench.hpp"
#endif

namespace chorus::app {

namespace {

// --up-rate-kbps and friends: one direction's ImpairmentParams from flags.
void addImpairmentFlags(CLI::App* app, const std::string& dir, bench::ImpairmentParams& p) {
  auto* rate = app->add_option_function<double>(
      "--" + dir + "-rate-kbps", [&p](double v) { p.rate_bps = static_cast<std::int64_t>(v * 1000); },
      "Bottleneck rate " + dir + " in kbit/s (0: unlimited)");
  rate->check(CLI::Range(0.0, 10'000'000.0));
  app->add_option("--" + dir + "-loss", p.loss, "Random loss " + dir + " (0..1)")
      ->check(CLI::Range(0.0, 1.0));
  app->add_option_function<double>(
         "--" + dir + "-delay-ms", [&p](double v) { p.delay_us = static_cast<bench::TimeUs>(v * 1000); },
         "One-way delay " + dir + " in ms")
      ->check(CLI::Range(0.0, 60'000.0));
  app->add_option_function<double>(
         "--" + dir + "-jitter-ms", [&p](double v) { p.jitter_us = static_cast<bench::TimeUs>(v * 1000); },
         "Extra uniform delay " + dir + " in [0, ms]")
      ->check(CLI::Range(0.0, 60'000.0));
  app->add_flag("--" + dir + "-reorder", p.reorder, "Jitter may reorder datagrams " + dir);
  app->add_option_function<double>(
         "--" + dir + "-queue-ms", [&p](double v) { p.max_queue_us = static_cast<bench::TimeUs>(v * 1000); },
         "Tail drop beyond this queueing delay " + dir + " (ms)")
      ->check(CLI::Range(0.0, 60'000.0));
}

}  // namespace

#ifdef CHORUS_BENCH_HS
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

#ifdef CHORUS_BENCH_FOCUS
namespace {

struct FocusBenchCli {
  focus::FocusBenchOptions opt;
  bool json{false};
};

void printFocusAudioOnlyTable(const boost::json::object& r) {
  auto num = [&](const char* k) -> std::string {
    const auto* v = r.if_contains(k);
    if (!v) return "-";
    return v->is_string() ? std::string(v->get_string()) : bench::formatJson(*v);
  };
  const auto& lat = r.at("latency_us").as_object();
  std::printf(
      "chorus bench focus --audio-only: %s participants (%s speaking at %s pps, the rest DTX every %s ms), "
      "%s subscriptions, audio slots %s, SRTP %s\n",
      num("participants").c_str(), num("speakers").c_str(), num("audio_pps").c_str(),
      num("dtx_interval_ms").c_str(), num("subscriptions").c_str(), num("audio_slots").c_str(),
      num("srtp_profile").c_str());
  std::printf("  window                         %s s (setup %s s)\n", num("window_s").c_str(),
              num("setup_s").c_str());
  std::printf(
      "  subscriptions flowing          %s of %s expected (per participant %s..%s; %s in the window)\n",
      num("subscriptions_flowing").c_str(), num("streams_expected").c_str(),
      num("streams_per_participant_min").c_str(), num("streams_per_participant_max").c_str(),
      num("streams_in_window").c_str());
  std::printf(
      "  forwarded (received)           %s packets, %s pps (expected %s pps; the focus counted %s pps)\n",
      num("forwarded_packets").c_str(), num("forwarded_pps").c_str(), num("expected_forwarded_pps").c_str(),
      num("focus_reported_forwarded_pps").c_str());
  std::printf("  focus CPU                      %s s (%s %%), %s us per forwarded packet\n",
              num("focus_cpu_s").c_str(), num("focus_cpu_percent").c_str(),
              num("focus_cpu_us_per_forwarded").c_str());
  std::printf("  latency one-way us             p50 %s  p90 %s  p99 %s  max %s (%s samples)\n",
              bench::formatJson(lat.at("p50")).c_str(), bench::formatJson(lat.at("p90")).c_str(),
              bench::formatJson(lat.at("p99")).c_str(), bench::formatJson(lat.at("max")).c_str(),
              bench::formatJson(lat.at("samples")).c_str());
  std::printf("  loss                           %s %%\n", num("loss_percent").c_str());
  std::printf("  focus RSS                      %s KiB idle, %s KiB flowing, %s KiB at the end\n",
              num("focus_rss_idle_kib").c_str(), num("focus_rss_flowing_kib").c_str(),
              num("focus_rss_kib").c_str());
  std::printf("  RSS per participant            %s KiB (aim <= 256: %s), %s B per subscription\n",
              num("focus_rss_kib_per_participant").c_str(), num("aim_rss_met").c_str(),
              num("focus_rss_bytes_per_subscription").c_str());
  if (const auto* inc = r.if_contains("incomplete")) {
    std::printf("  incomplete                     %s\n", bench::formatJson(*inc).c_str());
  }
}

void printFocusTable(const boost::json::object& r) {
  if (r.contains("mode")) {
    printFocusAudioOnlyTable(r);
    return;
  }
  auto num = [&](const char* k) -> std::string {
    const auto* v = r.if_contains(k);
    if (!v) return "-";
    return v->is_string() ? std::string(v->get_string()) : bench::formatJson(*v);
  };
  const auto& lat = r.at("latency_us").as_object();
  const auto& fl = r.at("floor").as_object();
  std::printf(
      "chorus bench focus: %s publishers x %s subscribers, audio %s pps, video %s pps (%s B), SRTP %s\n",
      num("publishers").c_str(), num("subscribers").c_str(), num("audio_pps").c_str(),
      num("video_pps").c_str(), num("payload_bytes").c_str(), num("srtp_profile").c_str());
  std::printf("  window                         %s s (setup %s s)\n", num("window_s").c_str(),
              num("setup_s").c_str());
  std::printf("  forwarded (received by subs)   %s packets, %s pps (expected %s pps)\n",
              num("forwarded_packets").c_str(), num("forwarded_pps").c_str(),
              num("expected_forwarded_pps").c_str());
  std::printf("  focus CPU                      %s s (%s %%)\n", num("focus_cpu_s").c_str(),
              num("focus_cpu_percent").c_str());
  std::printf("  forwarded per CPU-second       %s (%s us per packet)\n", num("forwarded_per_cpu_s").c_str(),
              num("focus_cpu_us_per_forwarded").c_str());
  std::printf("  floor (no routing, fan-out %s) %s per CPU-second (%s us per packet)\n",
              bench::formatJson(fl.at("fanout")).c_str(), bench::formatJson(fl.at("out_per_cpu_s")).c_str(),
              bench::formatJson(fl.at("cpu_us_per_out")).c_str());
  std::printf("  ratio focus / floor            %s\n", num("ratio").c_str());
  if (const auto* fb = r.if_contains("floor_batched")) {
    std::printf("  batched floor (recvmmsg/sendmmsg) %s per CPU-second (%s us per packet), ratio %s\n",
                bench::formatJson(fb->as_object().at("out_per_cpu_s")).c_str(),
                bench::formatJson(fb->as_object().at("cpu_us_per_out")).c_str(),
                num("ratio_batched").c_str());
  }
  std::printf("  latency one-way us             p50 %s  p90 %s  p99 %s  max %s (%s samples)\n",
              bench::formatJson(lat.at("p50")).c_str(), bench::formatJson(lat.at("p90")).c_str(),
              bench::formatJson(lat.at("p99")).c_str(), bench::formatJson(lat.at("max")).c_str(),
              bench::formatJson(lat.at("samples")).c_str());
  std::printf("  loss                           %s %%\n", num("loss_percent").c_str());
  std::printf(
      "  focus RSS                      %s KiB idle, %s KiB loaded, %s KiB per participant (+%s added)\n",
      num("focus_rss_idle_kib").c_str(), num("focus_rss_kib").c_str(),
      num("focus_rss_kib_per_participant").c_str(), num("focus_rss_added_kib_per_participant").c_str());
  std::printf("  aim                            >= 250000 per CPU-second: %s; >= 1.0 x the floor: %s\n",
              num("aim_per_cpu_s_met").c_str(), num("aim_ratio_met").c_str());
  if (const auto* inc = r.if_contains("incomplete")) {
    std::printf("  incomplete                     %s\n", bench::formatJson(*inc).c_str());
  }
}

int runFocusBench(const FocusBenchCli& cli) {
  auto r = focus::runFocusLoadBench(cli.opt);
  if (!r) {
    std::fprintf(stderr, "chorus bench focus: %s\n", r.error().toString().c_str());
    return 1;
  }
  if (cli.json) {
    std::printf("%s\n", bench::formatJson(*r).c_str());
  } else {
    printFocusTable(*r);
  }
  return 0;
}

}  // namespace
#endif

#ifdef CHORUS_BENCH_CALL
namespace {

struct CallBenchCli {
  call::CallBenchOptions opt;
  bool json{false};
};

int runCallBenchCli(const CallBenchCli& cli) {
  auto r = call::runCallBench(cli.opt);
  if (!r) {
    std::fprintf(stderr, "chorus bench call: %s\n", r.error().toString().c_str());
    return 1;
  }
  if (cli.json) {
    std::printf("%s\n", boost::json::serialize(*r).c_str());
  } else {
    std::fputs(call::formatCallBench(*r).c_str(), stdout);
  }
  return 0;
}

}  // namespace
#endif

void registerBench(CLI::App& app, Runner* runner) {
  auto* bench = app.add_subcommand("bench", "Benchmarks that need real sockets (see `chorus bench --help`)");
  bench->require_subcommand(1);
  auto icli = std::make_shared<bench::ImpairRelayOptions>();
  auto* ib = bench->add_subcommand(
      "impair",
      "A UDP relay with rate cap, loss, delay and jitter per direction between clients and one server "
      "(tests, benchmarks; docs/congestion-control.md)");
  ib->add_option("--listen", icli->listen, "IP:PORT clients send to")->capture_default_str();
  ib->add_option("--target", icli->target, "IP:PORT of the server")->required();
  ib->add_option("--upstream-bind", icli->upstream_bind,
                 "IP to send to the target from (default: --listen's)");
  addImpairmentFlags(ib, "up", icli->up);
  addImpairmentFlags(ib, "down", icli->down);
  ib->add_option("--seed", icli->seed, "Random seed")->capture_default_str();
  ib->add_flag(
      "--per-client", icli->per_client,
      "Each client address gets its own link per direction (own rate cap); default: one shared link");
  ib->add_option("--max-clients", icli->max_clients, "Client addresses at once")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  ib->add_option("--stats-interval", icli->stats_interval_s, "Seconds between stats lines (0: on request)")
      ->check(CLI::Range(0.0, 3600.0));
  ib->callback([icli, runner] { *runner = [icli] { return bench::runImpairRelay(*icli); }; });
  auto wcli = std::make_shared<bench::WakeupFloorOptions>();
  auto wjson = std::make_shared<bool>(false);
  auto* wb = bench->add_subcommand(
      "wakeups",
      "The floor under a focus in a small call: wake up for each burst of datagrams, read it and send copies "
      "on, no other work; prints this thread's CPU (bench/focus_browsers.js runs it beside the call)");
  wb->add_option("--datagrams-per-s", wcli->datagrams_per_s, "Datagrams per second in")
      ->check(CLI::Range(1.0, 1e6))
      ->capture_default_str();
  wb->add_option("--wakeups-per-s", wcli->wakeups_per_s, "Bursts per second (Poisson); 0: one per datagram")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  wb->add_option("--fanout", wcli->fanout, "Datagrams out per datagram in")
      ->check(CLI::Range(0.0, 64.0))
      ->capture_default_str();
  wb->add_option("--payload-bytes", wcli->payload_bytes, "Datagram size")
      ->check(CLI::Range(1, 1500))
      ->capture_default_str();
  wb->add_option("--seconds", wcli->seconds, "Measurement window")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  wb->add_option("--seed", wcli->seed, "Random seed")->capture_default_str();
  wb->add_flag("--json", *wjson, "Print one JSON object");
  wb->callback(
      [wcli, wjson, runner] { *runner = [wcli, wjson] { return bench::runWakeupFloorCli(*wcli, *wjson); }; });
#ifdef CHORUS_BENCH_HS
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
#endif
#ifdef CHORUS_BENCH_FOCUS
  auto fcli = std::make_shared<FocusBenchCli>();
  auto* fb = bench->add_subcommand(
      "focus",
      "chorus focus: P publishers x S subscribers of synthetic RTP through a real focus; vs the floor");
  fb->add_option("--publishers", fcli->opt.publishers, "Synthetic publishers (audio + video each)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  fb->add_option("--subscribers", fcli->opt.subscribers, "Synthetic subscribers (each takes every track)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  fb->add_option("--seconds", fcli->opt.seconds, "Measurement window")
      ->check(CLI::Range(0.5, 600.0))
      ->capture_default_str();
  fb->add_option("--video-pps", fcli->opt.video_pps, "Video packets per second per publisher")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  fb->add_option("--audio-pps", fcli->opt.audio_pps, "Audio packets per second per publisher")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  fb->add_option("--payload-bytes", fcli->opt.payload_bytes, "Video RTP payload size (audio: 100)")
      ->check(CLI::Range(32, 1200))
      ->capture_default_str();
  fb->add_flag("--audio-only", fcli->opt.audio_only,
               "A large audio call: --participants each publish audio and take everyone else's audio");
  fb->add_option("--participants", fcli->opt.participants, "Participants (with --audio-only)")
      ->check(CLI::Range(2, 1000))
      ->capture_default_str();
  fb->add_option("--speakers", fcli->opt.speakers,
                 "Participants sending --audio-pps; the others send Opus DTX (with --audio-only)")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  fb->add_option("--dtx-interval-ms", fcli->opt.dtx_interval_ms,
                 "A silent participant's packet interval (Opus DTX: 400; with --audio-only)")
      ->check(CLI::Range(20, 10000))
      ->capture_default_str();
  fb->add_option("--audio-slots", fcli->opt.audio_slots,
                 "The focus forwards each participant only the loudest K audio streams (\"audio_slots\" in "
                 "its config; 0: off, every participant receives every other one; with --audio-only)")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  fb->add_flag(
      "--no-gso", [fcli](std::int64_t) { fcli->opt.udp_gso = false; },
      "Run the focus without UDP GSO (\"udp_gso\": false), to compare");
  fb->add_option("--setup-timeout", fcli->opt.setup_timeout_s,
                 "Seconds for every stream to flow before measuring anyway (0: 30 + 1 per participant)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  fb->add_option("--max-focus-rss-mib", fcli->opt.max_focus_rss_mib,
                 "Stop the run when the focus's RSS exceeds this (bounded memory)")
      ->check(CLI::Range(std::int64_t{64}, std::int64_t{1} << 20))
      ->capture_default_str();
  fb->add_option("--chorus-binary", fcli->opt.chorus_binary,
                 "chorus executable to run hs/focus (default: this one)");
  fb->add_flag("--keep-temp", fcli->opt.keep_temp, "Keep the temporary directory (hs data, logs)");
  fb->add_flag("--json", fcli->json, "Print one JSON object");
  fb->callback([fcli, runner] {
    if (fcli->opt.audio_only && fcli->opt.speakers > fcli->opt.participants) {
      throw CLI::ValidationError("--speakers", "more speakers than participants");
    }
    if (!fcli->opt.audio_only && fcli->opt.audio_pps + fcli->opt.video_pps <= 0) {
      throw CLI::ValidationError("--video-pps", "some traffic is needed");
    }
    *runner = [fcli] { return runFocusBench(*fcli); };
  });
#endif
#ifdef CHORUS_BENCH_CALL
  auto ccli = std::make_shared<CallBenchCli>();
  auto* cb = bench->add_subcommand(
      "call",
      "chorus call: a newcomer entering a mesh call; its legs' answer->connected times (run in a netns)");
  cb->add_option("--participants", ccli->opt.participants, "Participants already in the call")
      ->check(CLI::Range(1, 8))
      ->capture_default_str();
  cb->add_option("--rounds", ccli->opt.rounds, "Newcomers, one after the other")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  cb->add_option(
        "--mode", ccli->opt.mode,
        "event (leg setup as shipped), legacy (the old one: chorus call --legacy-leg-setup), or both")
      ->check(CLI::IsMember({"event", "legacy", "both"}))
      ->capture_default_str();
  cb->add_option("--timeout", ccli->opt.timeout_s, "Seconds per phase before giving up")
      ->check(CLI::Range(1.0, 600.0))
      ->capture_default_str();
  cb->add_option("--chorus-binary", ccli->opt.chorus_binary,
                 "chorus executable to run hs/call (default: this one)");
  cb->add_flag("!--newcomer-answers", ccli->opt.newcomer_offers,
               "The others call the newcomer (default: the newcomer calls them, sending the offers)");
  cb->add_flag("--keep-temp", ccli->opt.keep_temp, "Keep the temporary directory (hs data, logs)");
  cb->add_flag("--json", ccli->json, "Print one JSON object");
  cb->callback([ccli, runner] { *runner = [ccli] { return runCallBenchCli(*ccli); }; });
#endif
}

}  // namespace chorus::app
