#include "placement/exact.h"

#include <fmt/format.h>
#include <glpk.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <vector>

namespace mei::placement {
namespace {

struct ProblemDeleter {
  void operator()(glp_prob* p) const { glp_delete_prob(p); }
};

// Sparse rows are collected here, then handed to GLPK in one glp_load_matrix call.
class RowBuilder {
 public:
  explicit RowBuilder(glp_prob* lp) : lp_(lp) {}

  // Adds a row `sum coef * col <= upper` (GLPK's 1-based indices).
  void AddUpperRow(const std::vector<std::pair<int, double>>& terms, double upper) {
    const int row = glp_add_rows(lp_, 1);
    glp_set_row_bnds(lp_, row, GLP_UP, 0.0, upper);
    for (const auto& [col, coef] : terms) {
      rows_.push_back(row);
      cols_.push_back(col);
      values_.push_back(coef);
    }
  }

  void Load() {
    rows_.insert(rows_.begin(), 0);  // GLPK arrays start at index 1
    cols_.insert(cols_.begin(), 0);
    values_.insert(values_.begin(), 0.0);
    glp_load_matrix(lp_, static_cast<int>(rows_.size()) - 1, rows_.data(), cols_.data(),
                    values_.data());
  }

 private:
  glp_prob* lp_;
  std::vector<int> rows_, cols_;
  std::vector<double> values_;
};

int AddColumn(glp_prob* lp, int kind, double objective) {
  const int col = glp_add_cols(lp, 1);
  glp_set_col_kind(lp, col, kind);
  glp_set_col_bnds(lp, col, GLP_DB, 0.0, 1.0);
  glp_set_obj_coef(lp, col, objective);
  return col;
}

// Offers the starting placement to GLPK at the first heuristic callback of a branch and bound run.
struct StartHeuristic {
  std::vector<double> values;  // per column, 1-based as GLPK wants
  bool offered = false;

  static void Callback(glp_tree* tree, void* info) {
    auto* self = static_cast<StartHeuristic*>(info);
    if (glp_ios_reason(tree) != GLP_IHEUR || self->offered || self->values.empty()) return;
    self->offered = true;
    glp_ios_heur_sol(tree, self->values.data());
  }
};

using ColumnMap = std::map<std::pair<std::uint32_t, std::uint32_t>, int>;  // (node, item) -> col

// GLPK's placement, keeping only the fragments that complete a model (the others serve nothing).
Placement ReadPlacement(const Instance& instance, glp_prob* lp, const ColumnMap& y) {
  Placement held = Placement::Empty(instance);
  for (const auto& [key, col] : y) {
    if (glp_mip_col_val(lp, col) > 0.5) held.held[key.first][key.second] = true;
  }
  Placement trimmed = Placement::Empty(instance);
  for (std::uint32_t n = 0; n < instance.node_count(); ++n) {
    for (std::uint32_t i = 0; i < instance.model_count(); ++i) {
      if (held.Available(instance, n, i)) trimmed.Add(instance, n, i);
    }
  }
  return trimmed;
}

std::vector<std::uint32_t> NodesOverCapacity(const Instance& instance, const Placement& placement) {
  std::vector<std::uint32_t> over;
  for (std::uint32_t n = 0; n < instance.node_count(); ++n) {
    if (placement.UsedBytes(instance, n) > instance.topology().nodes[n].capacity_bytes) {
      over.push_back(n);
    }
  }
  return over;
}

// GLPK accepts a binary within 1e-5 of an integer and a row within a relative tolerance, so with
// capacities of gigabytes a relaxation that holds a set of fragments a few bytes (up to about 1e-5
// of the capacity) over a node's capacity passes for an integral, feasible placement. Tightening
// the node's bound cannot separate "exactly full" from "one byte over" within that tolerance, so
// instead the solve is repeated with a cover row for each node that the rounded placement
// overfills (Balas, "Facets of the knapsack polytope", Math. Programming 8, 1975): the fragments
// C it holds there add up to more than the capacity, so no placement that fits holds all of C,
// and sum_{f in C} y[n,f] <= |C| - 1. Its coefficients are integers, which GLPK's tolerances
// cannot round past, and it removes that placement while keeping every one that fits; the
// rounded placement is checked in bytes each time.
//
// Adds the cover row sum_{f in C} y[n,f] <= |C| - 1, where C is the largest fragments `placement`
// holds at node n, taken until their sizes add up to more than n's capacity.
void AddCoverRow(glp_prob* lp, const Instance& instance, const Placement& placement,
                 std::uint32_t n, const ColumnMap& y) {
  const auto& fragments = instance.fragments().fragments;
  std::vector<std::uint32_t> held;
  for (std::uint32_t f = 0; f < fragments.size(); ++f) {
    if (placement.held[n][f]) held.push_back(f);
  }
  std::stable_sort(held.begin(), held.end(), [&](std::uint32_t a, std::uint32_t b) {
    return fragments[a].size > fragments[b].size;
  });
  std::vector<int> cols = {0};  // GLPK arrays start at index 1
  std::uint64_t bytes = 0;
  for (std::uint32_t f : held) {
    cols.push_back(y.at({n, f}));
    bytes += fragments[f].size;
    if (bytes > instance.topology().nodes[n].capacity_bytes) break;
  }
  const std::vector<double> ones(cols.size(), 1.0);
  const int row = glp_add_rows(lp, 1);
  glp_set_row_bnds(lp, row, GLP_UP, 0.0, static_cast<double>(cols.size() - 2));
  glp_set_mat_row(lp, row, static_cast<int>(cols.size()) - 1, cols.data(), ones.data());
}

}  // namespace

Result<ExactSolution> SolveExact(const Instance& instance, const ExactOptions& options) {
  ExactSolution out;
  out.placement = Placement::Empty(instance);
  if (!(instance.total_rate() > 0)) {
    out.optimal = true;
    return out;
  }
  glp_term_out(GLP_OFF);
  std::unique_ptr<glp_prob, ProblemDeleter> lp(glp_create_prob());
  glp_set_obj_dir(lp.get(), GLP_MAX);
  RowBuilder rows(lp.get());
  const Fragments& fragments = instance.fragments();
  const Demand& demand = instance.demand();

  ColumnMap y;  // (node, fragment) -> column
  ColumnMap x;  // (node, model) -> column
  for (std::uint32_t n = 0; n < instance.node_count(); ++n) {
    for (std::uint32_t i = 0; i < instance.model_count(); ++i) {
      if (instance.served_by(n, i).empty()) continue;
      const int xc = AddColumn(lp.get(), GLP_CV, 0.0);
      x[{n, i}] = xc;
      for (std::uint32_t f : fragments.of_model[i]) {
        auto [it, added] = y.emplace(std::make_pair(n, f), 0);
        if (added) it->second = AddColumn(lp.get(), GLP_BV, 0.0);
        rows.AddUpperRow({{xc, 1.0}, {it->second, -1.0}}, 0.0);
      }
    }
  }
  std::vector<std::pair<std::size_t, int>> h;  // (demand entry, column)
  for (std::size_t e = 0; e < demand.size(); ++e) {
    if (instance.in_deadline(e).empty()) continue;
    const int hc = AddColumn(lp.get(), GLP_CV, demand[e].rate / instance.total_rate());
    h.emplace_back(e, hc);
    std::vector<std::pair<int, double>> terms = {{hc, 1.0}};
    for (std::uint32_t n : instance.in_deadline(e))
      terms.emplace_back(x[{n, demand[e].model}], -1.0);
    rows.AddUpperRow(terms, 0.0);
  }
  // Capacity rows in units of the node's capacity keep the coefficients near 1.
  std::vector<std::vector<std::pair<int, double>>> capacity(instance.node_count());
  for (const auto& [key, col] : y) {
    const double q = static_cast<double>(instance.topology().nodes[key.first].capacity_bytes);
    const double size = static_cast<double>(fragments.fragments[key.second].size);
    capacity[key.first].emplace_back(col, q > 0 ? size / q : size);
  }
  for (std::uint32_t n = 0; n < instance.node_count(); ++n) {
    if (capacity[n].empty()) continue;
    const bool zero = instance.topology().nodes[n].capacity_bytes == 0;
    rows.AddUpperRow(capacity[n], zero ? 0.0 : 1.0);
  }
  rows.Load();

  glp_scale_prob(lp.get(), GLP_SF_AUTO);
  StartHeuristic start;
  if (options.start != nullptr) {
    const Placement& p = *options.start;
    start.values.assign(static_cast<std::size_t>(glp_get_num_cols(lp.get())) + 1, 0.0);
    for (const auto& [key, col] : y) start.values[col] = p.held[key.first][key.second] ? 1 : 0;
    for (const auto& [key, col] : x) {
      start.values[col] = p.Available(instance, key.first, key.second) ? 1 : 0;
    }
    for (const auto& [e, col] : h) {
      for (std::uint32_t n : instance.in_deadline(e)) {
        if (p.Available(instance, n, demand[e].model)) start.values[col] = 1;
      }
    }
  }
  // Branch and bound, re-run with a cover row for every node GLPK's placement overfills (see
  // AddCoverRow), until a placement fits or the time is up.
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                         std::clamp(options.time_limit_s, 0.0, 2.0e6)));
  out.upper_bound = 1;
  for (;;) {
    glp_smcp simplex;
    glp_init_smcp(&simplex);
    simplex.msg_lev = GLP_MSG_OFF;
    if (const int rc = glp_simplex(lp.get(), &simplex); rc != 0) {
      return Error{Errc::kInternal, fmt::format("GLPK simplex failed with code {}", rc)};
    }
    out.upper_bound = std::min(out.upper_bound, glp_get_obj_val(lp.get()));
    glp_iocp mip;
    glp_init_iocp(&mip);
    mip.msg_lev = GLP_MSG_OFF;
    const double left_ms =
        std::chrono::duration<double, std::milli>(deadline - Clock::now()).count();
    mip.tm_lim = static_cast<int>(std::clamp(left_ms, 0.0, 2.0e9));
    mip.mip_gap = 0.0;
    if (!start.values.empty()) {
      start.offered = false;
      mip.cb_func = &StartHeuristic::Callback;
      mip.cb_info = &start;
    }
    const int rc = glp_intopt(lp.get(), &mip);
    const int status = glp_mip_status(lp.get());
    const bool timed_out = rc == GLP_ETMLIM;
    const bool found = status == GLP_OPT || status == GLP_FEAS;
    if (!timed_out && (rc != 0 || !found)) {
      return Error{Errc::kInternal,
                   fmt::format("GLPK branch and bound failed (code {}, status {})", rc, status)};
    }
    Placement placement = found ? ReadPlacement(instance, lp.get(), y) : Placement::Empty(instance);
    const std::vector<std::uint32_t> over = NodesOverCapacity(instance, placement);
    if (found && over.empty()) {
      out.placement = std::move(placement);
      out.optimal = status == GLP_OPT;
      break;
    }
    if (timed_out || Clock::now() >= deadline) break;
    for (std::uint32_t n : over) AddCoverRow(lp.get(), instance, placement, n, y);
  }
  out.hit_ratio = HitRatio(instance, out.placement);
  // Stopped by the time limit before GLPK had a placement that fits and beats the start.
  if (!out.optimal && options.start != nullptr &&
      HitRatio(instance, *options.start) > out.hit_ratio) {
    out.placement = *options.start;
    out.hit_ratio = HitRatio(instance, out.placement);
  }
  if (out.optimal) out.upper_bound = out.hit_ratio;
  return out;
}

}  // namespace mei::placement
