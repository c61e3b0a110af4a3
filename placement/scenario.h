// Scenario: everything a placement is computed from, in one JSON document
// (schema "mei.placement.scenario.v1"): {"schema", "topology", "catalog", "demand"}; see
// topology.h, catalog.h and demand.h for the parts. Plain values; thread-compatible.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/errc.h"
#include "placement/catalog.h"
#include "placement/demand.h"
#include "placement/topology.h"

namespace mei::placement {

inline constexpr std::string_view kScenarioSchema = "mei.placement.scenario.v1";

struct Scenario {
  Topology topology;
  Catalog catalog;
  Demand demand;
};

// Parses and validates every part. kBadRequest with one sentence naming the first problem.
[[nodiscard]] Result<Scenario> ParseScenario(std::string_view json);
[[nodiscard]] std::string ToJson(const Scenario& scenario);

}  // namespace mei::placement
