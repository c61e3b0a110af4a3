#include "placement/online.h"

#include <limits>
#include <vector>

namespace mei::placement {
namespace {

class OnlineCache {
 public:
  OnlineCache(const Instance& instance, OnlinePolicy policy)
      : instance_(instance),
        policy_(policy),
        placement_(Placement::Empty(instance)),
        last_use_(instance.node_count(),
                  std::vector<std::uint64_t>(instance.fragments().fragments.size(), 0)),
        uses_(last_use_),
        used_(instance.node_count(), 0) {}

  void Handle(const Request& r, MetricsAccumulator& acc) {
    ++clock_;
    const Outcome outcome = Serve(instance_, placement_, r.user, r.node, r.model);
    acc.Add(outcome, 1.0);
    if (outcome.hit) {
      Touch(ServingNode(r), r.model);
      return;
    }
    Admit(r.node, r.model);
  }

  Placement Finish() { return std::move(placement_); }

 private:
  std::uint32_t ServingNode(const Request& r) const {
    const double size = static_cast<double>(instance_.model_size(r.model));
    for (const Link& link : instance_.topology().users[r.user].links) {  // fastest first
      if (size / link.rate_bytes_per_s <= instance_.topology().deadline_s &&
          placement_.Available(instance_, link.node, r.model)) {
        return link.node;
      }
    }
    return r.node;
  }

  void Touch(std::uint32_t n, std::uint32_t model) {
    for (std::uint32_t f : instance_.fragments().of_model[model]) {
      last_use_[n][f] = clock_;
      ++uses_[n][f];
    }
  }

  double Score(std::uint32_t n, std::uint32_t f) const {
    switch (policy_) {
      case OnlinePolicy::kLru:
        return static_cast<double>(last_use_[n][f]);
      case OnlinePolicy::kLfu:
        return static_cast<double>(uses_[n][f]);
      case OnlinePolicy::kSharing: {
        const Fragment& fragment = instance_.fragments().fragments[f];
        double held = 0;
        for (std::uint32_t k : fragment.models) held += placement_.Available(instance_, n, k);
        return static_cast<double>(uses_[n][f]) * held / static_cast<double>(fragment.size);
      }
    }
    return 0;
  }

  void Admit(std::uint32_t n, std::uint32_t model) {
    if (n >= instance_.node_count()) return;
    const std::uint64_t capacity = instance_.topology().nodes[n].capacity_bytes;
    if (instance_.model_size(model) > capacity) return;
    const auto& own = instance_.fragments().of_model[model];
    std::vector<bool> keep(instance_.fragments().fragments.size(), false);
    for (std::uint32_t f : own) keep[f] = true;
    const std::uint64_t missing = placement_.MissingBytes(instance_, n, model);
    while (used_[n] + missing > capacity) {
      std::uint32_t victim = 0;
      double victim_score = std::numeric_limits<double>::infinity();
      std::uint64_t victim_time = 0;
      for (std::uint32_t f = 0; f < keep.size(); ++f) {
        if (!placement_.held[n][f] || keep[f]) continue;
        const double score = Score(n, f);
        if (score < victim_score || (score == victim_score && last_use_[n][f] < victim_time)) {
          victim = f;
          victim_score = score;
          victim_time = last_use_[n][f];
        }
      }
      placement_.held[n][victim] = false;
      used_[n] -= instance_.fragments().fragments[victim].size;
      uses_[n][victim] = 0;
    }
    used_[n] += placement_.Add(instance_, n, model);
    Touch(n, model);
  }

  const Instance& instance_;
  OnlinePolicy policy_;
  Placement placement_;
  std::vector<std::vector<std::uint64_t>> last_use_;  // [node][fragment]: clock of last use
  std::vector<std::vector<std::uint64_t>> uses_;      // [node][fragment]: uses since admitted
  std::vector<std::uint64_t> used_;                   // [node]: bytes held
  std::uint64_t clock_ = 0;
};

}  // namespace

Replay ReplayOnline(const Instance& instance, OnlinePolicy policy,
                    std::span<const Request> requests) {
  OnlineCache cache(instance, policy);
  MetricsAccumulator acc;
  for (const Request& r : requests) cache.Handle(r, acc);
  Replay out{cache.Finish(), acc.Finish()};
  return out;
}

}  // namespace mei::placement
