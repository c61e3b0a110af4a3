// Most-popular-first placement: each node, on its own, holds the models most requested by the
// users it serves within the deadline, in order, skipping those that no longer fit (bytes shared
// with a model already there are not counted twice). Ignores what neighbouring nodes hold.
#pragma once

#include "placement/instance.h"

namespace mei::placement {

// Deterministic: ties go to the lower model index. Never exceeds a node's capacity.
[[nodiscard]] Placement SolvePopularity(const Instance& instance);

}  // namespace mei::placement
