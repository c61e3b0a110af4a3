// Pushing a plan to the cache nodes: PUT /admin/v1/plan on each node's admin API
// (docs/ARCHITECTURE.md, "Admin APIs"). Kept out of the mei::placement library, which does no I/O
// over the network: only the mei-placement binary (and its test) links this.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "common/errc.h"
#include "common/http/client.h"
#include "common/plan.h"

namespace mei::placement {

// A node of the plan and the base URL of its admin API ("http://10.0.0.5:9090").
struct PushTarget {
  std::string node_id;
  std::string admin_url;
};

// What one node answered: its JSON reply on success, or the reason it failed.
struct PushOutcome {
  std::string node_id;
  Result<std::string> reply;
};

// Parses "ID=URL". kBadRequest unless both parts are there and the URL is http://.
[[nodiscard]] Result<PushTarget> ParsePushTarget(std::string_view text);

// Checks that every target names a node of the plan, and every node of the plan has a target.
// kBadRequest naming the first node that does not match.
[[nodiscard]] Result<void> CheckPushTargets(const Plan& plan, std::span<const PushTarget> targets);

// Sends the whole plan to every target (each node takes its own entry), one after another, with
// `token` as the bearer token. A node that is unreachable or refuses the plan fails on its own;
// the others are still pushed. Blocking; never throws.
[[nodiscard]] std::vector<PushOutcome> PushPlan(const Plan& plan,
                                                std::span<const PushTarget> targets,
                                                const std::string& token,
                                                const http::ClientOptions& options = {});

}  // namespace mei::placement
