#include "cache-node/plan_state.h"

#include <utility>

namespace mei::cache_node {

PlanState::PlanState(std::string node_id, std::map<std::string, std::string> static_peers)
    : node_id_(std::move(node_id)), static_peers_(std::move(static_peers)) {}

void PlanState::Set(Plan plan) {
  auto shared = std::make_shared<const Plan>(std::move(plan));
  std::lock_guard lock(mu_);
  plan_ = std::move(shared);
}

std::optional<Plan> PlanState::Get() const {
  std::lock_guard lock(mu_);
  if (!plan_) return std::nullopt;
  return *plan_;
}

PlanNode PlanState::Own() const {
  std::lock_guard lock(mu_);
  if (!plan_) return {};
  const auto own = plan_->nodes.find(node_id_);
  return own == plan_->nodes.end() ? PlanNode{} : own->second;
}

std::vector<Upstream> PlanState::PeersFor(const BlockId& id) const {
  std::shared_ptr<const Plan> plan;
  {
    std::lock_guard lock(mu_);
    plan = plan_;
  }
  std::vector<Upstream> peers;
  if (!plan) return peers;
  const auto holders = plan->peers.find(id);
  if (holders == plan->peers.end()) return peers;
  for (const std::string& peer : holders->second) {
    if (peer == node_id_) continue;
    std::string url;
    if (const auto node = plan->nodes.find(peer); node != plan->nodes.end()) url = node->second.url;
    if (url.empty()) {
      if (const auto known = static_peers_.find(peer); known != static_peers_.end()) {
        url = known->second;
      }
    }
    while (!url.empty() && url.back() == '/') url.pop_back();
    if (!url.empty()) peers.push_back(Upstream{"peer:" + peer, std::move(url)});
  }
  return peers;
}

}  // namespace mei::cache_node
