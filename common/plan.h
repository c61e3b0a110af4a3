// Plan: which models and blocks each edge node should hold (schema "mei.plan.v1").
//
// Written by the placement optimizer (`mei-placement solve`) and read by cache nodes from
// `PUT /admin/v1/plan`. The same document goes to every node: a node takes its own entry from
// `nodes` by node id, and uses `peers` (with peer URLs from `nodes[*].url`) to fetch a block from a
// sibling before going to its parent. The JSON form:
//
//   { "schema": "mei.plan.v1", "created": "2026-11-24T12:00:00Z", "algorithm": "greedy",
//     "nodes": { "bs-0": { "url": "http://127.0.0.1:9001", "capacity": 1073741824,
//                          "models": [ {"model": "acme/tiny", "revision": "main",
//                                       "commit": "<64 hex or empty>"} ],
//                          "blocks": ["<64 hex>", ...] } },
//     "peers": { "<64 hex block id>": ["bs-0", "bs-2"] } }
//
// Invariants (ValidatePlan): schema is exactly "mei.plan.v1"; "created" and "algorithm" are
// non-empty; node ids are non-empty, printable ASCII without white space, at most 128 bytes; a
// node's url is empty (pure simulation) or starts with "http://" or "https://"; models have valid
// names and revisions and an empty or 64-hex commit, no (model, revision) twice per node; block
// ids are 64 lowercase hex digits, no block twice per node; every peer of a block is a node of the
// plan that lists that block, no node twice per block. `peers` need not mention every held block.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/block_id.h"
#include "common/errc.h"

namespace mei {

inline constexpr std::string_view kPlanSchema = "mei.plan.v1";

struct PlanModel {
  std::string model;                   // "org/name"
  std::string revision;                // "main"
  std::optional<Sha256Digest> commit;  // the manifest commit, when the planner knew it

  friend bool operator==(const PlanModel&, const PlanModel&) = default;
};

struct PlanNode {
  std::string url;             // base URL of the node's data plane; empty in a simulation
  std::uint64_t capacity = 0;  // bytes the plan assumed this node can hold
  std::vector<PlanModel> models;
  std::vector<BlockId> blocks;  // every block of every model above, each once

  friend bool operator==(const PlanNode&, const PlanNode&) = default;
};

struct Plan {
  std::string created;                                // RFC 3339 UTC
  std::string algorithm;                              // "greedy", "exact", ...
  std::map<std::string, PlanNode> nodes;              // by node id
  std::map<BlockId, std::vector<std::string>> peers;  // block -> node ids that hold it

  friend bool operator==(const Plan&, const Plan&) = default;
};

// Fills `plan.peers` from the nodes' block lists: every held block, with every node that holds it
// in node-id order. Replaces what was there.
void FillPeers(Plan& plan);

// Checks every invariant listed above. kBadRequest with one sentence naming the first problem.
[[nodiscard]] Result<void> ValidatePlan(const Plan& plan);

// Parses and validates. Unknown keys are rejected so that a typo is not silently ignored.
// kBadRequest with one sentence naming the first problem. Never throws.
[[nodiscard]] Result<Plan> ParsePlan(std::string_view json);

// The plan as one line of JSON, keys in the order of the schema above. ParsePlan(ToJson(p)) == p
// for every valid p.
[[nodiscard]] std::string ToJson(const Plan& plan);

}  // namespace mei
