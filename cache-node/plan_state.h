// PlanState: the placement plan a cache node follows (common/plan.h), and what it means for this
// node: which models it should hold, and which peers hold which blocks. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cache-node/upstream.h"
#include "common/block_id.h"
#include "common/plan.h"

namespace mei::cache_node {

class PlanState {
 public:
  // `static_peers`: node id -> base URL from --peer, for plans that name peers without URLs.
  PlanState(std::string node_id, std::map<std::string, std::string> static_peers);

  // Replaces the plan. The caller pins, persists and prefetches.
  void Set(Plan plan);

  // The current plan, if any.
  std::optional<Plan> Get() const;

  // This node's entry of the current plan (empty when there is no plan or it names other nodes
  // only).
  PlanNode Own() const;

  // The peers the plan says hold `id`, this node excluded, with a known URL, in plan order.
  std::vector<Upstream> PeersFor(const BlockId& id) const;

 private:
  const std::string node_id_;
  const std::map<std::string, std::string> static_peers_;
  mutable std::mutex mu_;
  std::shared_ptr<const Plan> plan_;
};

}  // namespace mei::cache_node
