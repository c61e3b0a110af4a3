// Instance: a scenario prepared for the optimizers, and Placement, what they produce.
//
// The instance precomputes the fragments, each model's size, and for every demand entry (u, i)
// the nodes that can serve it within the deadline: the nodes u reaches with
// size(i) / rate(u, n) <= deadline. A placement says which fragments each node holds; a model is
// available at a node when all its fragments are there, and a demand entry is a hit when one of
// its in-deadline nodes has the model available. Thread-compatible; Instance keeps a reference to
// its scenario.
#pragma once

#include <cstdint>
#include <vector>

#include "placement/fragments.h"
#include "placement/scenario.h"

namespace mei::placement {

class Instance {
 public:
  // REQUIRES: `scenario` is valid (as parsed) and outlives the instance.
  explicit Instance(const Scenario& scenario);

  const Scenario& scenario() const { return scenario_; }
  const Topology& topology() const { return scenario_.topology; }
  const Catalog& catalog() const { return scenario_.catalog; }
  const Demand& demand() const { return scenario_.demand; }
  const Fragments& fragments() const { return fragments_; }

  std::uint32_t node_count() const { return static_cast<std::uint32_t>(topology().nodes.size()); }
  std::uint32_t model_count() const { return static_cast<std::uint32_t>(catalog().models.size()); }
  std::uint64_t model_size(std::uint32_t model) const { return model_size_[model]; }
  double total_rate() const { return total_rate_; }

  // The nodes that serve demand entry `e` within the deadline, fastest first.
  const std::vector<std::uint32_t>& in_deadline(std::size_t e) const { return in_deadline_[e]; }
  // The demand entries node `n` can serve for model `i` within the deadline, in demand order.
  const std::vector<std::uint32_t>& served_by(std::uint32_t n, std::uint32_t i) const {
    return served_by_[static_cast<std::size_t>(n) * model_count() + i];
  }

 private:
  const Scenario& scenario_;
  Fragments fragments_;
  std::vector<std::uint64_t> model_size_;
  double total_rate_ = 0;
  std::vector<std::vector<std::uint32_t>> in_deadline_;
  std::vector<std::vector<std::uint32_t>> served_by_;
};

struct Placement {
  std::vector<std::vector<bool>> held;  // held[n][f]: node n stores fragment f

  // An empty placement for `instance`.
  static Placement Empty(const Instance& instance);

  // Bytes node `n` stores: each held fragment once.
  std::uint64_t UsedBytes(const Instance& instance, std::uint32_t n) const;
  // Whether all of model i's fragments are at node n.
  bool Available(const Instance& instance, std::uint32_t n, std::uint32_t i) const;
  // Adds model i's fragments to node n; returns the bytes added.
  std::uint64_t Add(const Instance& instance, std::uint32_t n, std::uint32_t i);
  // The bytes Add(n, i) would add.
  std::uint64_t MissingBytes(const Instance& instance, std::uint32_t n, std::uint32_t i) const;

  friend bool operator==(const Placement&, const Placement&) = default;
};

// The share of the demand (by rate) that `placement` serves within the deadline. 0 when there is
// no demand.
[[nodiscard]] double HitRatio(const Instance& instance, const Placement& placement);

// Whether every node stores at most its capacity.
[[nodiscard]] bool WithinCapacity(const Instance& instance, const Placement& placement);

}  // namespace mei::placement
