#include "placement/evaluate.h"

#include <algorithm>
#include <limits>

namespace mei::placement {

Outcome Serve(const Instance& instance, const Placement& placement, std::uint32_t user,
              std::uint32_t node, std::uint32_t model) {
  const Topology& topology = instance.topology();
  const double size = static_cast<double>(instance.model_size(model));
  double best = std::numeric_limits<double>::infinity();
  double home_rate = 0;
  for (const Link& link : topology.users[user].links) {
    if (link.node == node) home_rate = link.rate_bytes_per_s;
    if (placement.Available(instance, link.node, model)) {
      best = std::min(best, size / link.rate_bytes_per_s);
    }
  }
  Outcome out;
  out.hit = best <= topology.deadline_s;
  const double via_origin_rate = home_rate > 0
                                     ? std::min(home_rate, topology.origin_rate_bytes_per_s)
                                     : topology.origin_rate_bytes_per_s;
  const double via_origin = size / via_origin_rate;
  if (out.hit || best <= via_origin) {
    out.download_s = best;
  } else {
    out.download_s = via_origin;
    out.origin_bytes = node < instance.node_count()
                           ? static_cast<double>(placement.MissingBytes(instance, node, model))
                           : size;
  }
  return out;
}

void MetricsAccumulator::Add(const Outcome& outcome, double weight) {
  weight_ += weight;
  if (outcome.hit) hits_ += weight;
  origin_ += outcome.origin_bytes * weight;
  time_ += outcome.download_s * weight;
  times_.emplace_back(outcome.download_s, weight);
}

Metrics MetricsAccumulator::Finish() {
  Metrics m;
  m.requests = weight_;
  m.origin_bytes = origin_;
  if (!(weight_ > 0)) return m;
  m.hit_ratio = hits_ / weight_;
  m.mean_download_s = time_ / weight_;
  std::sort(times_.begin(), times_.end());
  double seen = 0;
  for (const auto& [time, weight] : times_) {
    seen += weight;
    if (seen >= 0.95 * weight_) {
      m.p95_download_s = time;
      break;
    }
  }
  return m;
}

Metrics EvaluateDemand(const Instance& instance, const Placement& placement) {
  MetricsAccumulator acc;
  for (const DemandEntry& e : instance.demand()) {
    const auto& links = instance.topology().users[e.user].links;
    const std::uint32_t home = links.empty() ? instance.node_count() : links.front().node;
    acc.Add(Serve(instance, placement, e.user, home, e.model), e.rate);
  }
  return acc.Finish();
}

Metrics EvaluateRequests(const Instance& instance, const Placement& placement,
                         std::span<const Request> requests) {
  MetricsAccumulator acc;
  for (const Request& r : requests) {
    acc.Add(Serve(instance, placement, r.user, r.node, r.model), 1.0);
  }
  return acc.Finish();
}

}  // namespace mei::placement
