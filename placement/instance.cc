#include "placement/instance.h"

namespace mei::placement {

Instance::Instance(const Scenario& scenario)
    : scenario_(scenario), fragments_(ComputeFragments(scenario.catalog)) {
  const std::uint32_t models = model_count();
  model_size_.resize(models);
  for (std::uint32_t i = 0; i < models; ++i) model_size_[i] = catalog().SizeOf(i);
  served_by_.resize(static_cast<std::size_t>(node_count()) * models);
  const Demand& d = demand();
  in_deadline_.resize(d.size());
  for (std::size_t e = 0; e < d.size(); ++e) {
    total_rate_ += d[e].rate;
    const double size = static_cast<double>(model_size_[d[e].model]);
    for (const Link& link : topology().users[d[e].user].links) {
      if (size / link.rate_bytes_per_s > topology().deadline_s) continue;
      in_deadline_[e].push_back(link.node);
      served_by_[static_cast<std::size_t>(link.node) * models + d[e].model].push_back(
          static_cast<std::uint32_t>(e));
    }
  }
}

Placement Placement::Empty(const Instance& instance) {
  Placement p;
  p.held.assign(instance.node_count(),
                std::vector<bool>(instance.fragments().fragments.size(), false));
  return p;
}

std::uint64_t Placement::UsedBytes(const Instance& instance, std::uint32_t n) const {
  std::uint64_t used = 0;
  const auto& fragments = instance.fragments().fragments;
  for (std::size_t f = 0; f < fragments.size(); ++f) {
    if (held[n][f]) used += fragments[f].size;
  }
  return used;
}

bool Placement::Available(const Instance& instance, std::uint32_t n, std::uint32_t i) const {
  for (std::uint32_t f : instance.fragments().of_model[i]) {
    if (!held[n][f]) return false;
  }
  return true;
}

std::uint64_t Placement::MissingBytes(const Instance& instance, std::uint32_t n,
                                      std::uint32_t i) const {
  std::uint64_t missing = 0;
  for (std::uint32_t f : instance.fragments().of_model[i]) {
    if (!held[n][f]) missing += instance.fragments().fragments[f].size;
  }
  return missing;
}

std::uint64_t Placement::Add(const Instance& instance, std::uint32_t n, std::uint32_t i) {
  const std::uint64_t added = MissingBytes(instance, n, i);
  for (std::uint32_t f : instance.fragments().of_model[i]) held[n][f] = true;
  return added;
}

double HitRatio(const Instance& instance, const Placement& placement) {
  if (!(instance.total_rate() > 0)) return 0;
  double hit = 0;
  const Demand& d = instance.demand();
  for (std::size_t e = 0; e < d.size(); ++e) {
    for (std::uint32_t n : instance.in_deadline(e)) {
      if (placement.Available(instance, n, d[e].model)) {
        hit += d[e].rate;
        break;
      }
    }
  }
  return hit / instance.total_rate();
}

bool WithinCapacity(const Instance& instance, const Placement& placement) {
  for (std::uint32_t n = 0; n < instance.node_count(); ++n) {
    if (placement.UsedBytes(instance, n) > instance.topology().nodes[n].capacity_bytes) {
      return false;
    }
  }
  return true;
}

}  // namespace mei::placement
