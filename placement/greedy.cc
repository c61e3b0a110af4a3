#include "placement/greedy.h"

#include <algorithm>
#include <limits>
#include <queue>
#include <tuple>
#include <vector>

namespace mei::placement {
namespace {

// TrimCaching (Qu, Lin, Chen, Li, Liu, Chen, Huang, "TrimCaching: Parameter-sharing AI Model
// Caching in Wireless Edge Networks", ICDCS 2024) observes that fine-tunes of one base model share
// most of their parameters, so an edge server that stores the shared blocks once can hold many
// more models than their sizes add up to. Maximising the hit ratio is then a submodular objective
// (coverage of demand) under a submodular constraint (the size of a union of block sets, a
// set-union knapsack), and for the general case the paper places models greedily. We follow it:
// grow the placement one (node, model) pair at a time; a pair's gain is the demand it newly
// serves within the deadline (demand some other node already serves counts nothing), and its cost
// is only the bytes of the model's fragments the node does not hold yet. The rule picks either the
// largest gain, the largest gain per added byte, or (the usual knapsack safeguard) the better of
// the gain-per-byte result and the best single pair. Our kBest also keeps the max-gain result
// and, as a cheap partial enumeration, reruns the gain-per-byte greedy with each of the few best
// single pairs forced first: on small, tight nodes that recovers most of the gap to the optimum.
//
// Lazy evaluation keeps stale values in a max-heap and re-evaluates only the top. That is exact
// when stale values are upper bounds. Gains only fall as demand gets covered, but a cost can FALL
// when a sibling model brings shared fragments to the node, so a pair's gain per byte can rise.
// So whenever fragments are added to node n, every model using one of them is re-evaluated at n
// and pushed with a fresh stamp (older entries of that pair are discarded when popped); a pair
// that was dropped as too large comes back the same way. Every live entry is then an upper bound,
// and with the same total order (value, then lower node, then lower model) lazy and eager select
// the same pairs.
class Greedy {
 public:
  Greedy(const Instance& instance, const GreedyOptions& options, GreedyRule rule)
      : instance_(instance),
        options_(options),
        rule_(rule),
        models_(instance.model_count()),
        placement_(Placement::Empty(instance)),
        covered_(instance.demand().size(), false),
        chosen_(static_cast<std::size_t>(instance.node_count()) * models_, false),
        stamp_(chosen_.size(), 0),
        free_(instance.node_count()) {
    for (std::uint32_t n = 0; n < instance.node_count(); ++n) {
      free_[n] = instance.topology().nodes[n].capacity_bytes;
    }
  }

  // Places pair (n, i) before the greedy starts; false when it does not fit.
  bool Force(std::uint32_t n, std::uint32_t i) {
    if (instance_.model_size(i) > free_[n]) return false;
    Select(n, i);
    return true;
  }

  Placement Run() {
    options_.lazy ? RunLazy() : RunEager();
    return std::move(placement_);
  }

 private:
  struct Value {
    double gain = 0;
    std::uint64_t cost = 0;
    double key = 0;
  };
  struct Entry {
    double key;
    std::uint32_t node;
    std::uint32_t model;
    std::uint32_t stamp;
  };
  // Heap order: larger key first, then lower node, then lower model.
  static bool Before(double ka, std::uint32_t na, std::uint32_t ia, double kb, std::uint32_t nb,
                     std::uint32_t ib) {
    if (ka != kb) return ka > kb;
    if (na != nb) return na < nb;
    return ia < ib;
  }
  struct HeapLess {
    bool operator()(const Entry& a, const Entry& b) const {
      return Before(b.key, b.node, b.model, a.key, a.node, a.model);
    }
  };

  std::size_t Pair(std::uint32_t n, std::uint32_t i) const {
    return static_cast<std::size_t>(n) * models_ + i;
  }

  Value Evaluate(std::uint32_t n, std::uint32_t i) const {
    Value v;
    if (chosen_[Pair(n, i)]) return v;
    const Demand& demand = instance_.demand();
    for (std::uint32_t e : instance_.served_by(n, i)) {
      if (!covered_[e]) v.gain += demand[e].rate;
    }
    v.cost =
        options_.sharing_aware ? placement_.MissingBytes(instance_, n, i) : instance_.model_size(i);
    if (rule_ == GreedyRule::kMaxGain) {
      v.key = v.gain;
    } else {
      v.key = v.cost == 0 ? std::numeric_limits<double>::infinity()
                          : v.gain / static_cast<double>(v.cost);
    }
    return v;
  }

  bool Feasible(std::uint32_t n, const Value& v) const { return v.gain > 0 && v.cost <= free_[n]; }

  void Cover(std::uint32_t n, std::uint32_t i) {
    chosen_[Pair(n, i)] = true;
    for (std::uint32_t e : instance_.served_by(n, i)) covered_[e] = true;
  }

  // Commits pair (n, i); returns the models at n whose cost may have fallen.
  std::vector<std::uint32_t> Select(std::uint32_t n, std::uint32_t i) {
    const Fragments& fragments = instance_.fragments();
    std::vector<std::uint32_t> added;
    for (std::uint32_t f : fragments.of_model[i]) {
      if (!placement_.held[n][f]) added.push_back(f);
    }
    const std::uint64_t bytes = placement_.Add(instance_, n, i);
    free_[n] -= options_.sharing_aware ? bytes : instance_.model_size(i);
    Cover(n, i);
    std::vector<std::uint32_t> touched;
    if (!options_.sharing_aware) return touched;
    for (std::uint32_t f : added) {
      for (std::uint32_t k : fragments.fragments[f].models) touched.push_back(k);
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    // Models whose fragments are now all here are available for free.
    for (std::uint32_t k : touched) {
      if (!chosen_[Pair(n, k)] && placement_.Available(instance_, n, k)) Cover(n, k);
    }
    return touched;
  }

  void RunEager() {
    for (;;) {
      bool found = false;
      double best_key = 0;
      std::uint32_t best_n = 0, best_i = 0;
      for (std::uint32_t n = 0; n < instance_.node_count(); ++n) {
        for (std::uint32_t i = 0; i < models_; ++i) {
          if (instance_.served_by(n, i).empty()) continue;
          const Value v = Evaluate(n, i);
          if (!Feasible(n, v)) continue;
          if (!found || Before(v.key, n, i, best_key, best_n, best_i)) {
            found = true;
            best_key = v.key;
            best_n = n;
            best_i = i;
          }
        }
      }
      if (!found) return;
      Select(best_n, best_i);
    }
  }

  void Push(std::uint32_t n, std::uint32_t i) {
    const Value v = Evaluate(n, i);
    if (v.gain <= 0) return;
    heap_.push(Entry{v.key, n, i, ++stamp_[Pair(n, i)]});
  }

  void RunLazy() {
    for (std::uint32_t n = 0; n < instance_.node_count(); ++n) {
      for (std::uint32_t i = 0; i < models_; ++i) {
        if (!instance_.served_by(n, i).empty()) Push(n, i);
      }
    }
    while (!heap_.empty()) {
      const Entry top = heap_.top();
      heap_.pop();
      if (top.stamp != stamp_[Pair(top.node, top.model)]) continue;
      const Value v = Evaluate(top.node, top.model);
      if (!Feasible(top.node, v)) continue;  // a later cost drop pushes it again
      if (!heap_.empty()) {
        const Entry& next = heap_.top();
        if (!Before(v.key, top.node, top.model, next.key, next.node, next.model)) {
          heap_.push(Entry{v.key, top.node, top.model, ++stamp_[Pair(top.node, top.model)]});
          continue;
        }
      }
      for (std::uint32_t k : Select(top.node, top.model)) Push(top.node, k);
    }
  }

  const Instance& instance_;
  GreedyOptions options_;
  GreedyRule rule_;
  std::uint32_t models_;
  Placement placement_;
  std::vector<bool> covered_;         // per demand entry
  std::vector<bool> chosen_;          // per (node, model): selected or available for free
  std::vector<std::uint32_t> stamp_;  // per (node, model): the stamp of its live heap entry
  std::vector<std::uint64_t> free_;   // per node: capacity left
  std::priority_queue<Entry, std::vector<Entry>, HeapLess> heap_;
};

// The (node, model) pairs that serve the most demand on their own and fit, best first.
std::vector<std::pair<std::uint32_t, std::uint32_t>> TopSinglePairs(const Instance& instance,
                                                                    std::size_t count) {
  struct Scored {
    double gain;
    std::uint32_t n, i;
  };
  std::vector<Scored> all;
  const Demand& demand = instance.demand();
  for (std::uint32_t n = 0; n < instance.node_count(); ++n) {
    for (std::uint32_t i = 0; i < instance.model_count(); ++i) {
      if (instance.model_size(i) > instance.topology().nodes[n].capacity_bytes) continue;
      double gain = 0;
      for (std::uint32_t e : instance.served_by(n, i)) gain += demand[e].rate;
      if (gain > 0) all.push_back(Scored{gain, n, i});
    }
  }
  const std::size_t keep = std::min(count, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(),
                    [](const Scored& a, const Scored& b) {
                      if (a.gain != b.gain) return a.gain > b.gain;
                      return std::tie(a.n, a.i) < std::tie(b.n, b.i);
                    });
  std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
  for (std::size_t k = 0; k < keep; ++k) out.emplace_back(all[k].n, all[k].i);
  return out;
}

}  // namespace

Placement SolveGreedy(const Instance& instance, const GreedyOptions& options) {
  if (options.rule != GreedyRule::kBest) return Greedy(instance, options, options.rule).Run();
  Placement best = Greedy(instance, options, GreedyRule::kGainPerByte).Run();
  double best_ratio = HitRatio(instance, best);
  auto consider = [&](Placement candidate) {
    const double ratio = HitRatio(instance, candidate);
    if (ratio > best_ratio) {
      best_ratio = ratio;
      best = std::move(candidate);
    }
  };
  consider(Greedy(instance, options, GreedyRule::kMaxGain).Run());
  const auto top = TopSinglePairs(instance, std::max<std::size_t>(1, options.starts));
  if (!top.empty()) {
    Placement single = Placement::Empty(instance);
    single.Add(instance, top.front().first, top.front().second);
    consider(std::move(single));
  }
  for (std::size_t k = 0; k < top.size() && k < options.starts; ++k) {
    Greedy greedy(instance, options, GreedyRule::kGainPerByte);
    if (greedy.Force(top[k].first, top[k].second)) consider(greedy.Run());
  }
  return best;
}

}  // namespace mei::placement
