// Exact placement: the TrimCaching integer linear program, solved with GLPK.
//
//   maximise   sum_e rate_e h_e / total_rate
//   subject to x[n,i] <= y[n,f]                 for every fragment f of model i
//              h_e    <= sum_{n in D(e)} x[n,i]  for demand entry e = (u, i), D(e) its in-deadline
//                                                nodes
//              sum_f size_f y[n,f] <= Q_n        for every node n
//              y binary; x, h in [0, 1]
// x and h need not be integral: for binary y the best x is 1 exactly when all of i's fragments
// are at n, and h is then the coverage indicator. Capacities are exact to the byte (exact.cc says
// how, given GLPK's tolerances). For small instances (tens of nodes and models) and as the oracle
// the tests compare the heuristics with.
#pragma once

#include "common/errc.h"
#include "placement/instance.h"

namespace mei::placement {

struct ExactOptions {
  double time_limit_s = 60;  // GLPK's branch and bound stops here with its best solution
  // A feasible placement (the greedy's) handed to branch and bound as its first incumbent, so a
  // run stopped by the time limit is never worse than it. Not owned; may be null.
  const Placement* start = nullptr;
};

struct ExactSolution {
  Placement placement;     // within every node's capacity
  double hit_ratio = 0;    // of `placement`
  double upper_bound = 0;  // no placement does better: the optimum, or the LP bound if stopped
  // Proven optimal. False only when the time limit stopped the search: `placement` is then the
  // better of the best GLPK found that fits (if any) and the start placement.
  bool optimal = false;
};

// kInternal when GLPK fails (it reports nothing more useful than a code).
[[nodiscard]] Result<ExactSolution> SolveExact(const Instance& instance,
                                               const ExactOptions& options);

}  // namespace mei::placement
