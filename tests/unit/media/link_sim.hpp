#pragma once
// Test helper: a simulated downlink for the send-side estimator. A sender paced at a rate (by default the
// estimate), a bottleneck link (rate cap, tail-drop queue, propagation delay, jitter with or without
// reordering, random loss), the receive-side feedback generator every 100 ms, and a return path that can lose
// or drop all feedback. Runs on a simulated microsecond clock, one step per millisecond.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <vector>

#include "media/cc/send_side_bwe.hpp"
#include "media/cc/transport_cc_feedback_generator.hpp"

namespace chorus::media::cc::test {

struct LinkSim {
  // Link (forward direction).
  std::int64_t capacity_bps{2'500'000};
  TimeUs delay_us{40'000};
  TimeUs jitter_us{0};
  bool jitter_reorders{false};  // independent jitter per packet (reordering) or monotone arrivals
  double loss{0};
  TimeUs max_queue_us{400'000};  // tail drop beyond this queueing delay
  // Feedback path.
  TimeUs feedback_interval_us{100'000};
  double feedback_loss{0};
  bool feedback_enabled{true};
  std::size_t packet_size{1200};
  // What the sender sends (bps); by default exactly the estimate (media + padding up to it).
  std::function<std::int64_t()> send_rate;

  SendSideBwe bwe;
  TransportCcFeedbackGenerator gen;
  std::mt19937 rng{7};
  TimeUs now{0};
  TimeUs next_send{0};
  TimeUs link_free{0};
  TimeUs last_arrival{0};
  TimeUs next_feedback{0};
  std::uint16_t seq{0};
  std::multimap<TimeUs, std::uint16_t> in_flight;
  std::multimap<TimeUs, std::vector<std::uint8_t>> feedback_in_flight;
  std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(1500);
  TimeUs max_queue_seen_us{0};
  static constexpr TimeUs kReceiverClockOffset = 5'000'000'123;  // only differences of arrivals matter

  explicit LinkSim(SendSideBwe::Config c = {}) : bwe(c) {}

  double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng); }

  // Probe cluster in progress (ProbeController / ProbeBitrateEstimator).
  int probe_cluster{-1};
  std::size_t probe_packets_left{0};
  std::int64_t probe_rate_bps{0};
  void startProbe(int cluster, std::int64_t rate_bps, std::size_t packets) {
    probe_cluster = cluster;
    probe_rate_bps = rate_bps;
    probe_packets_left = packets;
    next_send = std::min(next_send, now);
  }

  void step() {
    while (next_send <= now) {
      const bool probing = probe_packets_left > 0;
      bwe.onPacketSent(seq, packet_size, now, probing ? probe_cluster : -1);
      if (probing) --probe_packets_left;
      if (uniform() >= loss) {
        const TimeUs start = std::max(now, link_free);
        const TimeUs depart = start + static_cast<TimeUs>(packet_size) * 8 * kUsPerSecond / capacity_bps;
        if (depart - now <= max_queue_us) {
          link_free = depart;
          max_queue_seen_us = std::max(max_queue_seen_us, depart - now);
          TimeUs arrival = depart + delay_us;
          if (jitter_us > 0) arrival += static_cast<TimeUs>(uniform() * static_cast<double>(jitter_us));
          if (!jitter_reorders) arrival = std::max(arrival, last_arrival);
          last_arrival = std::max(last_arrival, arrival);
          in_flight.emplace(arrival, seq);
        }
      }
      ++seq;
      const std::int64_t rate = probe_packets_left > 0 ? probe_rate_bps
                                : send_rate            ? send_rate()
                                                       : bwe.targetBps();
      next_send += static_cast<TimeUs>(packet_size) * 8 * kUsPerSecond / std::max<std::int64_t>(rate, 1);
    }
    while (!in_flight.empty() && in_flight.begin()->first <= now) {
      gen.onPacket(in_flight.begin()->second, in_flight.begin()->first + kReceiverClockOffset);
      in_flight.erase(in_flight.begin());
    }
    if (now >= next_feedback) {
      next_feedback += feedback_interval_us;
      while (auto n = gen.nextFeedback(buf)) {
        if (feedback_enabled && uniform() >= feedback_loss) {
          feedback_in_flight.emplace(now + delay_us,
                                     std::vector<std::uint8_t>(buf.begin(), buf.begin() + *n));
        }
      }
    }
    while (!feedback_in_flight.empty() && feedback_in_flight.begin()->first <= now) {
      const auto& bytes = feedback_in_flight.begin()->second;
      RtcpCompoundReader reader(bytes);
      auto p = reader.next();
      auto fb = p ? TransportCcFeedback::parse(*p) : std::nullopt;
      EXPECT_TRUE(fb);
      if (fb) bwe.onFeedback(*fb, now);
      feedback_in_flight.erase(feedback_in_flight.begin());
    }
    bwe.onTick(now);
  }

  // Runs until `until_s`, calling `each_ms` every millisecond.
  template <typename F>
  void runUntil(double until_s, F each_ms) {
    const auto until = static_cast<TimeUs>(until_s * 1e6);
    for (; now < until; now += 1000) {
      step();
      each_ms();
    }
  }
  void runUntil(double until_s) {
    runUntil(until_s, [] {});
  }
  double estimateMbps() const { return static_cast<double>(bwe.targetBps()) / 1e6; }
};

}  // namespace chorus::media::cc::test
