// Between placements and plans (common/plan.h): what `solve` writes and `eval` reads back.
#pragma once

#include <string>

#include "common/errc.h"
#include "common/plan.h"
#include "placement/instance.h"

namespace mei::placement {

// The plan of `placement`: per node, every model available there and the blocks of every
// fragment it holds; peers for every held block. Node URLs and capacities come from the topology.
[[nodiscard]] Plan ToPlan(const Instance& instance, const Placement& placement,
                          std::string algorithm, std::string created);

// The placement a plan describes: each node holds the blocks the plan lists for it (the cache node
// pins every one), so a model is available wherever all its blocks are listed, whether or not the
// plan lists the model there. kBadRequest for a node, model or block the scenario does not know, a
// block of a listed model that the node's block list lacks, or a node whose listed blocks, each
// counted once, add up to more than its capacity in the scenario.
[[nodiscard]] Result<Placement> PlacementFromPlan(const Instance& instance, const Plan& plan);

// The current time as RFC 3339 UTC to the second, "2026-11-24T12:00:00Z".
[[nodiscard]] std::string NowRfc3339();

}  // namespace mei::placement
