// CallEachNode: one command's call on every node at once. A node that fails fails on its own;
// the others still run, and the outcomes come back in the order the nodes were given.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <functional>
#include <vector>

#include "tools/ctl/admin_client.h"
#include "tools/ctl/node_error.h"
#include "tools/ctl/session.h"

namespace mei::tools {

// At most this many nodes are talked to at once; more wait for a free thread.
inline constexpr std::size_t kMaxParallelNodes = 16;

// What one node answered for one command (its reply as the --json "reply"), or why it did not.
struct NodeOutcome {
  NodeAddress node;
  NodeResult<boost::json::value> reply;
};

// An object reply as the value a call gives CallEachNode (errors pass through).
[[nodiscard]] NodeResult<boost::json::value> AsValue(NodeResult<boost::json::object> reply);

// Runs `call` with an AdminClient for each of session.nodes, on min(nodes, kMaxParallelNodes)
// threads, and returns the outcomes in node order. `call` must be safe to run on several threads
// at once. Blocks until every call has returned.
[[nodiscard]] std::vector<NodeOutcome> CallEachNode(
    const Session& session,
    const std::function<NodeResult<boost::json::value>(const AdminClient&)>& call);

// The same, also telling `call` the index in session.nodes of the node it talks to.
[[nodiscard]] std::vector<NodeOutcome> CallEachNodeAt(
    const Session& session,
    const std::function<NodeResult<boost::json::value>(std::size_t index, const AdminClient&)>&
        call);

}  // namespace mei::tools
