#include "cache-node/upstream.h"

#include <utility>

namespace mei::cache_node {

void UpstreamHealth::Record(const std::string& upstream, const Result<void>& outcome) {
  std::lock_guard lock(mu_);
  Entry& entry = entries_[upstream];
  const auto now = std::chrono::system_clock::now();
  if (outcome) {
    ++entry.successes;
    entry.consecutive_failures = 0;
    entry.last_error.clear();
    entry.last_success = now;
  } else {
    ++entry.failures;
    ++entry.consecutive_failures;
    entry.last_error = outcome.error().message;
    entry.last_failure = now;
  }
}

std::map<std::string, UpstreamHealth::Entry> UpstreamHealth::Snapshot() const {
  std::lock_guard lock(mu_);
  return entries_;
}

std::optional<UpstreamHealth::Entry> UpstreamHealth::Of(const std::string& upstream) const {
  std::lock_guard lock(mu_);
  const auto found = entries_.find(upstream);
  if (found == entries_.end()) return std::nullopt;
  return found->second;
}

bool UpstreamHealth::Reachable(const std::string& upstream, std::uint64_t threshold) const {
  std::lock_guard lock(mu_);
  const auto found = entries_.find(upstream);
  return found == entries_.end() || found->second.consecutive_failures < threshold;
}

}  // namespace mei::cache_node
