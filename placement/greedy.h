// Greedy placement over (node, model) pairs: the sharing-aware greedy of TrimCaching and the
// independent-caching baseline that ignores sharing. See greedy.cc for the algorithm.
#pragma once

#include "placement/instance.h"

namespace mei::placement {

enum class GreedyRule {
  kMaxGain,      // the pair that covers the most new demand
  kGainPerByte,  // the pair that covers the most new demand per byte it adds
  kBest,         // the best of kGainPerByte, kMaxGain, the best single pair, and `starts` reruns
};

struct GreedyOptions {
  GreedyRule rule = GreedyRule::kBest;
  // true: a pair costs only the bytes its node does not hold yet (TrimCaching); false: every model
  // costs its full size, as if nothing were shared (independent caching).
  bool sharing_aware = true;
  // true: lazy evaluation with a priority queue of stale upper bounds; false: every pair is
  // re-evaluated each step. Both give the same placement.
  bool lazy = true;
  // kBest only: also run the gain-per-byte greedy from each of this many best single pairs placed
  // first (partial enumeration), and keep the best result.
  std::size_t starts = 16;
};

// Deterministic: ties go to the lower node index, then the lower model index. The result never
// exceeds a node's capacity. O(selected pairs x log(pairs)) evaluations when lazy.
[[nodiscard]] Placement SolveGreedy(const Instance& instance, const GreedyOptions& options);

}  // namespace mei::placement
