// One interface for every placement algorithm, offline and online.
//
// Offline algorithms (greedy, independent, popularity, exact) compute a placement from the
// instance's demand. Online policies (lru, lfu, sharing) have no plan of their own: they replay a
// request stream (the given requests, or a stream sampled from the demand) from empty caches, and
// their solution is what the caches hold at the end, with the metrics of the replay.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/errc.h"
#include "placement/evaluate.h"
#include "placement/greedy.h"
#include "placement/instance.h"
#include "placement/requests.h"

namespace mei::placement {

struct AlgorithmOptions {
  GreedyRule rule = GreedyRule::kBest;  // greedy and independent
  bool lazy = true;                     // greedy and independent
  double time_limit_s = 60;             // exact
  // Online policies replay these when not empty; otherwise `sampled_requests` drawn from the
  // demand with `seed`.
  std::vector<Request> requests;
  std::size_t sampled_requests = 20000;
  std::uint64_t seed = 1;
};

struct Solution {
  Placement placement;
  double seconds = 0;  // wall time of Solve
  // exact: no placement does better than this hit ratio; nullopt for the heuristics.
  std::optional<double> upper_bound;
  bool optimal = false;           // exact, proven within the time limit
  std::optional<Metrics> replay;  // online policies: the metrics of their replay
};

// Implementations are immutable after construction; Solve may be called from several threads.
class Algorithm {
 public:
  virtual ~Algorithm() = default;
  [[nodiscard]] virtual std::string_view name() const = 0;
  [[nodiscard]] virtual bool online() const = 0;
  // REQUIRES: the instance's scenario outlives the call. kInternal if a solver fails.
  [[nodiscard]] virtual Result<Solution> Solve(const Instance& instance) const = 0;
};

// Every algorithm name MakeAlgorithm knows, offline first.
[[nodiscard]] std::span<const std::string_view> AlgorithmNames();

// kBadRequest naming the known algorithms when `name` is not one of them.
[[nodiscard]] Result<std::unique_ptr<Algorithm>> MakeAlgorithm(std::string_view name,
                                                               AlgorithmOptions options);

}  // namespace mei::placement
