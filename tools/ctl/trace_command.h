// `meictl trace pull [--since TIME] --out FILE`: every node's access log from TIME on (GET
// /admin/v1/trace, page after page), merged into one file of access-log JSON lines in time order,
// which `mei-placement fit --trace FILE` reads. The file is written atomically (a temporary and a
// rename) when at least one node answered; a node that failed is reported and left out.
#pragma once

#include <filesystem>
#include <span>
#include <string>

#include "tools/ctl/fan_out.h"
#include "tools/ctl/session.h"

namespace mei::tools {

// The text form: NODE, LINES, PAGES per node that answered. Thread-safe.
[[nodiscard]] std::string RenderTracePull(std::span<const NodeOutcome> outcomes);

// Runs the command and prints it (report.h), then "wrote N lines to FILE". `since` is what the
// nodes accept ("" for everything). Returns the exit code; 1 also when the file cannot be written.
[[nodiscard]] int RunTracePull(const Session& session, const std::string& since,
                               const std::filesystem::path& out);

}  // namespace mei::tools
