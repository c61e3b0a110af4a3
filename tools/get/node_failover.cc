#include "tools/get/node_failover.h"

#include <cassert>
#include <utility>

namespace mei::tools {

NodeFailover::NodeFailover(std::vector<http::RemoteNode> nodes)
    : consecutive_failures_(nodes.size(), 0) {
  assert(!nodes.empty());
  reports_.reserve(nodes.size());
  for (http::RemoteNode& node : nodes) {
    NodeReport report;
    report.node = std::move(node);
    reports_.push_back(std::move(report));
  }
}

std::vector<std::size_t> NodeFailover::Order() const {
  std::lock_guard lock(mu_);
  std::vector<std::size_t> order;
  order.reserve(reports_.size());
  for (std::size_t i = 0; i < reports_.size(); ++i) {
    if (!reports_[i].down) order.push_back(i);
  }
  for (std::size_t i = 0; i < reports_.size(); ++i) {
    if (reports_[i].down) order.push_back(i);
  }
  return order;
}

const http::RemoteNode& NodeFailover::node(std::size_t index) const {
  return reports_.at(index).node;  // the node list never changes after construction
}

bool NodeFailover::down(std::size_t index) const {
  std::lock_guard lock(mu_);
  return reports_.at(index).down;
}

void NodeFailover::Succeeded(std::size_t index, std::uint64_t blocks, std::uint64_t wire_bytes) {
  std::lock_guard lock(mu_);
  NodeReport& report = reports_.at(index);
  report.blocks += blocks;
  report.wire_bytes += wire_bytes;
  report.down = false;
  consecutive_failures_[index] = 0;
}

void NodeFailover::Failed(std::size_t index, const Error& error) {
  std::lock_guard lock(mu_);
  NodeReport& report = reports_.at(index);
  ++report.failures;
  report.last_error = error.message;
  if (error.code == Errc::kIntegrity) {
    ++report.bad_blocks;
    report.down = true;
  }
  if (++consecutive_failures_[index] >= kFailuresToDemote) report.down = true;
}

std::vector<NodeFailover::NodeReport> NodeFailover::Reports() const {
  std::lock_guard lock(mu_);
  return reports_;
}

}  // namespace mei::tools
