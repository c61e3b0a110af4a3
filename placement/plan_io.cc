#include "placement/plan_io.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <unordered_set>

#include "placement/internal/id_index.h"

namespace mei::placement {

Plan ToPlan(const Instance& instance, const Placement& placement, std::string algorithm,
            std::string created) {
  Plan plan;
  plan.created = std::move(created);
  plan.algorithm = std::move(algorithm);
  const Catalog& catalog = instance.catalog();
  const auto& fragments = instance.fragments().fragments;
  for (std::uint32_t n = 0; n < instance.node_count(); ++n) {
    const Node& node = instance.topology().nodes[n];
    PlanNode out;
    out.url = node.url;
    out.capacity = node.capacity_bytes;
    for (std::uint32_t i = 0; i < instance.model_count(); ++i) {
      if (!placement.Available(instance, n, i)) continue;
      const CatalogModel& m = catalog.models[i];
      out.models.push_back(PlanModel{m.model, m.revision, m.commit});
    }
    for (std::size_t f = 0; f < fragments.size(); ++f) {
      if (!placement.held[n][f]) continue;
      for (std::uint32_t b : fragments[f].blocks) out.blocks.push_back(catalog.blocks[b].id);
    }
    std::sort(out.blocks.begin(), out.blocks.end());
    plan.nodes.emplace(node.id, std::move(out));
  }
  FillPeers(plan);
  return plan;
}

Result<Placement> PlacementFromPlan(const Instance& instance, const Plan& plan) {
  const internal::IdIndex index(instance.topology(), instance.catalog());
  Placement placement = Placement::Empty(instance);
  for (const auto& [id, node] : plan.nodes) {
    const auto n = index.Node(id);
    if (!n) {
      return Error{
          Errc::kBadRequest,
          fmt::format("the plan is for node \"{}\", which the scenario does not have", id)};
    }
    const std::unordered_set<BlockId> blocks(node.blocks.begin(), node.blocks.end());
    for (const PlanModel& m : node.models) {
      const auto i = index.Model(m.model, m.revision);
      if (!i) {
        return Error{Errc::kBadRequest,
                     fmt::format("the plan puts {}@{} on node \"{}\", but the scenario has no such "
                                 "model",
                                 m.model, m.revision, id)};
      }
      for (std::uint32_t b : instance.catalog().models[*i].blocks) {
        if (!blocks.contains(instance.catalog().blocks[b].id)) {
          return Error{Errc::kBadRequest,
                       fmt::format("the plan puts {}@{} on node \"{}\" without its block {}",
                                   m.model, m.revision, id, instance.catalog().blocks[b].id.Hex())};
        }
      }
      placement.Add(instance, *n, *i);
    }
    const std::uint64_t used = placement.UsedBytes(instance, *n);
    const std::uint64_t capacity = instance.topology().nodes[*n].capacity_bytes;
    if (used > capacity) {
      return Error{Errc::kBadRequest,
                   fmt::format("the plan puts {} bytes on node \"{}\", over its capacity of {}",
                               used, id, capacity)};
    }
  }
  return placement;
}

std::string NowRfc3339() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(now));
}

}  // namespace mei::placement
