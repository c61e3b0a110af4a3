// `meictl status`: GET /admin/v1/status on every node. The text form is one summary table with a
// row per node (capacity, use, blocks, pins, hit ratio, plan, upstream reachability), then for
// each node the models it knows with how complete each is, and its prefetch jobs if any.
#pragma once

#include <span>
#include <string>

#include "tools/ctl/fan_out.h"
#include "tools/ctl/session.h"

namespace mei::tools {

// The text form of the nodes that answered (failed ones are left to the failure lines).
// Thread-safe.
[[nodiscard]] std::string RenderStatus(std::span<const NodeOutcome> outcomes);

// Runs the command and prints it (report.h). Returns the exit code.
[[nodiscard]] int RunStatus(const Session& session);

}  // namespace mei::tools
