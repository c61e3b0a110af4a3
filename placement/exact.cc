#include "placement/exact.h"

#include <fmt/format.h>
#include <glpk.h>

#include <algorithm>
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

// Offers the starting placement to GLPK once, at the first heuristic callback.
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

  std::map<std::pair<std::uint32_t, std::uint32_t>, int> y;  // (node, fragment) -> column
  std::map<std::pair<std::uint32_t, std::uint32_t>, int> x;  // (node, model) -> column
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

  glp_smcp simplex;
  glp_init_smcp(&simplex);
  simplex.msg_lev = GLP_MSG_OFF;
  glp_scale_prob(lp.get(), GLP_SF_AUTO);
  if (const int rc = glp_simplex(lp.get(), &simplex); rc != 0) {
    return Error{Errc::kInternal, fmt::format("GLPK simplex failed with code {}", rc)};
  }
  out.upper_bound = glp_get_obj_val(lp.get());
  glp_iocp mip;
  glp_init_iocp(&mip);
  mip.msg_lev = GLP_MSG_OFF;
  mip.tm_lim = static_cast<int>(std::min(options.time_limit_s * 1000.0, 2.0e9));
  mip.mip_gap = 0.0;
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
    mip.cb_func = &StartHeuristic::Callback;
    mip.cb_info = &start;
  }
  const int rc = glp_intopt(lp.get(), &mip);
  const int status = glp_mip_status(lp.get());
  if ((rc != 0 && rc != GLP_ETMLIM) || (status != GLP_OPT && status != GLP_FEAS)) {
    return Error{Errc::kInternal,
                 fmt::format("GLPK branch and bound failed (code {}, status {})", rc, status)};
  }
  out.optimal = status == GLP_OPT;
  for (const auto& [key, col] : y) {
    if (glp_mip_col_val(lp.get(), col) > 0.5) out.placement.held[key.first][key.second] = true;
  }
  // Keep only fragments that complete a model: the others serve nothing.
  Placement trimmed = Placement::Empty(instance);
  for (std::uint32_t n = 0; n < instance.node_count(); ++n) {
    for (std::uint32_t i = 0; i < instance.model_count(); ++i) {
      if (out.placement.Available(instance, n, i)) trimmed.Add(instance, n, i);
    }
  }
  out.placement = std::move(trimmed);
  if (!WithinCapacity(instance, out.placement)) {
    // GLPK checks rows to a relative tolerance; with byte counts in the billions a solution can
    // overshoot a node by a few bytes. The starting placement is exact; without one, say so.
    if (options.start == nullptr) {
      return Error{Errc::kInternal, "GLPK returned a placement over a node's capacity"};
    }
    out.placement = *options.start;
    out.optimal = false;
  }
  out.hit_ratio = HitRatio(instance, out.placement);
  if (out.optimal) out.upper_bound = out.hit_ratio;
  return out;
}

}  // namespace mei::placement
