#include "placement/popularity.h"

#include <algorithm>
#include <numeric>
#include <vector>

namespace mei::placement {

Placement SolvePopularity(const Instance& instance) {
  Placement placement = Placement::Empty(instance);
  const Demand& demand = instance.demand();
  for (std::uint32_t n = 0; n < instance.node_count(); ++n) {
    std::vector<double> requested(instance.model_count(), 0);
    for (std::uint32_t i = 0; i < instance.model_count(); ++i) {
      for (std::uint32_t e : instance.served_by(n, i)) requested[i] += demand[e].rate;
    }
    std::vector<std::uint32_t> order(instance.model_count());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::uint32_t a, std::uint32_t b) { return requested[a] > requested[b]; });
    std::uint64_t free = instance.topology().nodes[n].capacity_bytes;
    for (std::uint32_t i : order) {
      if (!(requested[i] > 0)) break;
      const std::uint64_t missing = placement.MissingBytes(instance, n, i);
      if (missing > free) continue;
      free -= placement.Add(instance, n, i);
    }
  }
  return placement;
}

}  // namespace mei::placement
