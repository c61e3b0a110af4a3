// `meictl plan apply FILE` and `meictl plan show`.
//
// apply: the file is read and validated here first (ParsePlan: a file that does not validate is a
// usage error and nothing is sent), then the same plan goes to every node with
// PUT /admin/v1/plan. Each node takes its own entry by its node id: it pins those blocks, unpins
// the rest and prefetches its models; a node the plan does not name is reported as not assigned.
// show: GET /admin/v1/plan on every node; a node without a plan answers, and shows "none".
#pragma once

#include <filesystem>
#include <span>
#include <string>

#include "common/errc.h"
#include "common/plan.h"
#include "tools/ctl/fan_out.h"
#include "tools/ctl/session.h"

namespace mei::tools {

// Reads and validates a plan file. kIo or kBadRequest with the file's name and the first problem.
[[nodiscard]] Result<Plan> LoadPlanFile(const std::filesystem::path& path);

// The text form of apply: NODE, ASSIGNED, MODELS, BLOCKS per node that answered. Thread-safe.
[[nodiscard]] std::string RenderPlanApply(std::span<const NodeOutcome> outcomes);

// The text form of show: NODE, ALGORITHM, CREATED, PLAN NODES, MODELS HERE (the models the plan
// gives the node, when its id is known) per node that answered. Thread-safe.
[[nodiscard]] std::string RenderPlanShow(std::span<const NodeOutcome> outcomes);

// Run the commands and print them (report.h). Return the exit code.
[[nodiscard]] int RunPlanApply(const Session& session, const Plan& plan);
[[nodiscard]] int RunPlanShow(const Session& session);

}  // namespace mei::tools
