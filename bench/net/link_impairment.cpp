#include "bench/net/link_impairment.hpp"

#include <algorithm>
#include <cmath>

namespace chorus::bench {

namespace {

constexpr std::size_t kIpUdpHeaderBytes = 28;
constexpr TimeUs kUsPerSecond = 1'000'000;
// Bounds of what a caller may ask for: a day of delay or 10 Gbit/s mean a typo, not a test.
constexpr double kMaxDelayMs = 60'000;
constexpr double kMaxRateKbps = 10'000'000;

Result<double> number(const boost::json::value& v, const char* field, double lo, double hi) {
  double d = 0;
  if (v.is_int64()) {
    d = static_cast<double>(v.as_int64());
  } else if (v.is_uint64()) {
    d = static_cast<double>(v.as_uint64());
  } else if (v.is_double()) {
    d = v.as_double();
  } else {
    return fail(Code::InvalidArgument, std::string(field) + " must be a number");
  }
  if (!std::isfinite(d) || d < lo || d > hi) {
    return fail(Code::InvalidArgument, std::string(field) + " out of range");
  }
  return d;
}

}  // namespace

Status ImpairmentParams::update(const boost::json::object& o) {
  ImpairmentParams p = *this;
  for (const auto& [key, value] : o) {
    if (key == "rate_kbps") {
      auto v = number(value, "rate_kbps", 0, kMaxRateKbps);
      if (!v) return fail(v.error());
      p.rate_bps = static_cast<std::int64_t>(*v * 1000);
    } else if (key == "loss") {
      auto v = number(value, "loss", 0, 1);
      if (!v) return fail(v.error());
      p.loss = *v;
    } else if (key == "delay_ms") {
      auto v = number(value, "delay_ms", 0, kMaxDelayMs);
      if (!v) return fail(v.error());
      p.delay_us = static_cast<TimeUs>(*v * 1000);
    } else if (key == "jitter_ms") {
      auto v = number(value, "jitter_ms", 0, kMaxDelayMs);
      if (!v) return fail(v.error());
      p.jitter_us = static_cast<TimeUs>(*v * 1000);
    } else if (key == "queue_ms") {
      auto v = number(value, "queue_ms", 0, kMaxDelayMs);
      if (!v) return fail(v.error());
      p.max_queue_us = static_cast<TimeUs>(*v * 1000);
    } else if (key == "reorder") {
      if (!value.is_bool()) return fail(Code::InvalidArgument, "reorder must be true or false");
      p.reorder = value.as_bool();
    } else {
      return fail(Code::InvalidArgument, "unknown field " + std::string(key));
    }
  }
  *this = p;
  return ok();
}

boost::json::object ImpairmentParams::toJson() const {
  return {{"rate_kbps", static_cast<double>(rate_bps) / 1000.0},
          {"loss", loss},
          {"delay_ms", static_cast<double>(delay_us) / 1000.0},
          {"jitter_ms", static_cast<double>(jitter_us) / 1000.0},
          {"reorder", reorder},
          {"queue_ms", static_cast<double>(max_queue_us) / 1000.0}};
}

LinkImpairment::LinkImpairment(ImpairmentParams params, std::uint64_t seed) : params_(params), rng_(seed) {}

std::optional<TimeUs> LinkImpairment::offer(std::size_t bytes, TimeUs now) {
  ++counters_.offered;
  if (params_.loss > 0 && uniform() < params_.loss) {
    ++counters_.lost;
    return std::nullopt;
  }
  TimeUs departs = now;
  if (params_.rate_bps > 0) {
    const TimeUs start = std::max(now, link_free_);
    const TimeUs serialisation =
        static_cast<TimeUs>((bytes + kIpUdpHeaderBytes) * 8 * kUsPerSecond / params_.rate_bps);
    if (start - now > params_.max_queue_us) {
      ++counters_.queue_drops;
      return std::nullopt;
    }
    departs = start + serialisation;
    link_free_ = departs;
    counters_.max_queue_delay_us = std::max(counters_.max_queue_delay_us, start - now);
  }
  TimeUs arrives = departs + params_.delay_us;
  if (params_.jitter_us > 0) {
    arrives += static_cast<TimeUs>(uniform() * static_cast<double>(params_.jitter_us));
  }
  if (!params_.reorder) arrives = std::max(arrives, last_arrival_);
  last_arrival_ = std::max(last_arrival_, arrives);
  ++counters_.delivered;
  counters_.bytes_delivered += bytes;
  return arrives;
}

}  // namespace chorus::bench
