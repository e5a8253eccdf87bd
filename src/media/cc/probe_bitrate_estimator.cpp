#include "media/cc/probe_bitrate_estimator.hpp"

#include <algorithm>

namespace chorus::media::cc {

std::optional<std::int64_t> ProbeBitrateEstimator::onAcked(int cluster, const PacketResult& r) noexcept {
  if (cluster < 0 || !r.received) return std::nullopt;
  ++tick_;
  Cluster* c = nullptr;
  for (auto& k : clusters_) {
    if (k.id == cluster) c = &k;
  }
  if (c == nullptr) {  // a new cluster takes the oldest slot
    c = &*std::min_element(clusters_.begin(), clusters_.end(),
                           [](const Cluster& a, const Cluster& b) { return a.age < b.age; });
    *c = Cluster{};
    c->id = cluster;
    c->first_send = c->last_send = r.send_us;
    c->first_arrival = c->last_arrival = r.arrival_us;
    c->last_send_size = c->first_arrival_size = static_cast<std::int64_t>(r.size);
  }
  c->age = tick_;
  if (c->done) return std::nullopt;
  const auto size = static_cast<std::int64_t>(r.size);
  if (c->packets > 0) {
    if (r.send_us < c->first_send) c->first_send = r.send_us;
    if (r.send_us >= c->last_send) {
      c->last_send = r.send_us;
      c->last_send_size = size;
    }
    if (r.arrival_us < c->first_arrival) {
      c->first_arrival = r.arrival_us;
      c->first_arrival_size = size;
    }
    c->last_arrival = std::max(c->last_arrival, r.arrival_us);
  }
  c->bytes += size;
  ++c->packets;
  if (c->packets < kMinPackets) return std::nullopt;
  const TimeUs send_span = c->last_send - c->first_send;
  const TimeUs recv_span = c->last_arrival - c->first_arrival;
  if (send_span <= 0 || recv_span <= 0 || send_span > kMaxClusterSpanUs || recv_span > kMaxClusterSpanUs) {
    return std::nullopt;  // wait for more packets (or never: a cluster that is not a probe)
  }
  c->done = true;
  const double send_bps =
      static_cast<double>(c->bytes - c->last_send_size) * 8e6 / static_cast<double>(send_span);
  const double recv_bps =
      static_cast<double>(c->bytes - c->first_arrival_size) * 8e6 / static_cast<double>(recv_span);
  ++results_;
  if (recv_bps < 0.9 * send_bps) return static_cast<std::int64_t>(0.95 * recv_bps);
  return static_cast<std::int64_t>(std::min(send_bps, recv_bps));
}

}  // namespace chorus::media::cc
