#include "placement/algorithm.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <chrono>
#include <functional>

#include "placement/exact.h"
#include "placement/online.h"
#include "placement/popularity.h"

namespace mei::placement {
namespace {

constexpr std::array<std::string_view, 7> kNames = {"greedy", "independent", "popularity", "exact",
                                                    "lru",    "lfu",         "sharing"};

class Timed {
 public:
  Timed() : start_(std::chrono::steady_clock::now()) {}
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

class OfflineAlgorithm final : public Algorithm {
 public:
  using Body = std::function<Result<Solution>(const Instance&)>;
  OfflineAlgorithm(std::string_view name, Body body) : name_(name), body_(std::move(body)) {}
  std::string_view name() const override { return name_; }
  bool online() const override { return false; }
  Result<Solution> Solve(const Instance& instance) const override {
    Timed timed;
    auto solution = body_(instance);
    if (solution) solution->seconds = timed.Seconds();
    return solution;
  }

 private:
  std::string_view name_;
  Body body_;
};

class OnlineAlgorithm final : public Algorithm {
 public:
  OnlineAlgorithm(std::string_view name, OnlinePolicy policy, AlgorithmOptions options)
      : name_(name), policy_(policy), options_(std::move(options)) {}
  std::string_view name() const override { return name_; }
  bool online() const override { return true; }
  Result<Solution> Solve(const Instance& instance) const override {
    Timed timed;
    std::vector<Request> sampled;
    if (options_.requests.empty()) {
      sampled = SampleRequests(instance.demand(), instance.topology(), options_.sampled_requests,
                               options_.seed);
    }
    const auto& requests = options_.requests.empty() ? sampled : options_.requests;
    Replay replay = ReplayOnline(instance, policy_, requests);
    Solution s;
    s.placement = std::move(replay.final);
    s.replay = replay.metrics;
    s.seconds = timed.Seconds();
    return s;
  }

 private:
  std::string_view name_;
  OnlinePolicy policy_;
  AlgorithmOptions options_;
};

Result<Solution> Heuristic(Placement placement) {
  Solution s;
  s.placement = std::move(placement);
  return s;
}

}  // namespace

std::span<const std::string_view> AlgorithmNames() { return kNames; }

Result<std::unique_ptr<Algorithm>> MakeAlgorithm(std::string_view name, AlgorithmOptions options) {
  const GreedyOptions greedy{options.rule, true, options.lazy};
  if (name == "greedy") {
    return std::make_unique<OfflineAlgorithm>(kNames[0], [greedy](const Instance& instance) {
      return Heuristic(SolveGreedy(instance, greedy));
    });
  }
  if (name == "independent") {
    GreedyOptions independent = greedy;
    independent.sharing_aware = false;
    return std::make_unique<OfflineAlgorithm>(kNames[1], [independent](const Instance& instance) {
      return Heuristic(SolveGreedy(instance, independent));
    });
  }
  if (name == "popularity") {
    return std::make_unique<OfflineAlgorithm>(
        kNames[2], [](const Instance& instance) { return Heuristic(SolvePopularity(instance)); });
  }
  if (name == "exact") {
    return std::make_unique<OfflineAlgorithm>(
        kNames[3],
        [greedy, limit = options.time_limit_s](const Instance& instance) -> Result<Solution> {
          const Placement start = SolveGreedy(instance, greedy);
          auto solved = SolveExact(instance, ExactOptions{limit, &start});
          if (!solved) return solved.error();
          Solution s;
          s.placement = std::move(solved->placement);
          s.upper_bound = solved->upper_bound;
          s.optimal = solved->optimal;
          return s;
        });
  }
  if (name == "lru") {
    return std::make_unique<OnlineAlgorithm>(kNames[4], OnlinePolicy::kLru, std::move(options));
  }
  if (name == "lfu") {
    return std::make_unique<OnlineAlgorithm>(kNames[5], OnlinePolicy::kLfu, std::move(options));
  }
  if (name == "sharing") {
    return std::make_unique<OnlineAlgorithm>(kNames[6], OnlinePolicy::kSharing, std::move(options));
  }
  return Error{Errc::kBadRequest,
               fmt::format("unknown algorithm \"{}\" (known: {})", name, fmt::join(kNames, ", "))};
}

}  // namespace mei::placement
