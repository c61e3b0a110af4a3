// `meictl status`: GET /admin/v1/status on every node. The text form is one summary table with a
// row per node (capacity, use, blocks, pins, hit ratio, plan, each upstream's circuit), then for
// each node the models it knows with how complete each is, its prefetch jobs if any, and its
// upstreams in full (failures in a row, opens, skips, open until, last error) when a circuit is
// not closed or has opened.
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
