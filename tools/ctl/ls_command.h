// `meictl ls`: what each node holds. GET /admin/v1/models (every model revision the node knows,
// with how much of it is held), or with --blocks GET /admin/v1/blocks (every stored block).
#pragma once

#include <span>
#include <string>

#include "tools/ctl/fan_out.h"
#include "tools/ctl/session.h"

namespace mei::tools {

// The text forms: per node that answered, a line "NAME:" and its table (ModelTable, or BLOCK,
// RAW, STORED, CODEC, HITS, PINNED with full block ids to paste into --block). Thread-safe.
[[nodiscard]] std::string RenderModels(std::span<const NodeOutcome> outcomes);
[[nodiscard]] std::string RenderBlocks(std::span<const NodeOutcome> outcomes);

// Runs the command and prints it (report.h). Returns the exit code.
[[nodiscard]] int RunLs(const Session& session, bool blocks);

}  // namespace mei::tools
