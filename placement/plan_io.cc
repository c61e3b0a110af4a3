#include "placement/plan_io.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <unordered_map>
#include <vector>

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
  const Catalog& catalog = instance.catalog();
  std::unordered_map<BlockId, std::uint32_t> block_index;
  for (std::uint32_t b = 0; b < catalog.blocks.size(); ++b) {
    block_index.emplace(catalog.blocks[b].id, b);
  }
  const auto& fragments = instance.fragments().fragments;
  Placement placement = Placement::Empty(instance);
  for (const auto& [id, node] : plan.nodes) {
    const auto n = index.Node(id);
    if (!n) {
      return Error{
          Errc::kBadRequest,
          fmt::format("the plan is for node \"{}\", which the scenario does not have", id)};
    }
    std::vector<bool> holds(catalog.blocks.size(), false);
    std::uint64_t used = 0;
    for (const BlockId& block : node.blocks) {
      const auto b = block_index.find(block);
      if (b == block_index.end()) {
        return Error{Errc::kBadRequest,
                     fmt::format("the plan gives node \"{}\" block {}, which the scenario's "
                                 "catalog does not have",
                                 id, block.Hex())};
      }
      if (holds[b->second]) continue;
      holds[b->second] = true;
      used += catalog.blocks[b->second].size;
    }
    for (const PlanModel& m : node.models) {
      const auto i = index.Model(m.model, m.revision);
      if (!i) {
        return Error{Errc::kBadRequest,
                     fmt::format("the plan puts {}@{} on node \"{}\", but the scenario has no such "
                                 "model",
                                 m.model, m.revision, id)};
      }
      for (std::uint32_t b : catalog.models[*i].blocks) {
        if (!holds[b]) {
          return Error{Errc::kBadRequest,
                       fmt::format("the plan puts {}@{} on node \"{}\" without its block {}",
                                   m.model, m.revision, id, catalog.blocks[b].id.Hex())};
        }
      }
    }
    const std::uint64_t capacity = instance.topology().nodes[*n].capacity_bytes;
    if (used > capacity) {
      return Error{Errc::kBadRequest,
                   fmt::format("the plan puts {} bytes on node \"{}\", over its capacity of {}",
                               used, id, capacity)};
    }
    for (std::size_t f = 0; f < fragments.size(); ++f) {
      placement.held[*n][f] = std::all_of(fragments[f].blocks.begin(), fragments[f].blocks.end(),
                                          [&](std::uint32_t b) { return holds[b]; });
    }
  }
  return placement;
}

std::string NowRfc3339() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(now));
}

}  // namespace mei::placement
