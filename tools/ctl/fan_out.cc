#include "tools/ctl/fan_out.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>

namespace mei::tools {

NodeResult<boost::json::value> AsValue(NodeResult<boost::json::object> reply) {
  if (!reply) return reply.error();
  return boost::json::value(std::move(*reply));
}

std::vector<NodeOutcome> CallEachNode(
    const Session& session,
    const std::function<NodeResult<boost::json::value>(const AdminClient&)>& call) {
  return CallEachNodeAt(session,
                        [&](std::size_t, const AdminClient& client) { return call(client); });
}

std::vector<NodeOutcome> CallEachNodeAt(
    const Session& session,
    const std::function<NodeResult<boost::json::value>(std::size_t index, const AdminClient&)>&
        call) {
  const std::size_t count = session.nodes.size();
  std::vector<std::optional<NodeResult<boost::json::value>>> replies(count);
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < count; i = next++) {
      const AdminClient client(session.nodes[i], session.token, session.client);
      replies[i].emplace(call(i, client));
    }
  };
  {
    std::vector<std::jthread> threads;
    for (std::size_t t = 1; t < std::min(count, kMaxParallelNodes); ++t) threads.emplace_back(work);
    work();
  }
  std::vector<NodeOutcome> outcomes;
  for (std::size_t i = 0; i < count; ++i) {
    outcomes.push_back({session.nodes[i], std::move(*replies[i])});
  }
  return outcomes;
}

}  // namespace mei::tools
