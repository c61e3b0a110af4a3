#include "placement/algorithm.h"

#include <gtest/gtest.h>

#include "tests/placement/scenario_builder.h"

namespace mei::placement {
namespace {

AlgorithmOptions Options() {
  AlgorithmOptions o;
  o.sampled_requests = 3000;
  o.seed = 7;
  return o;
}

TEST(AlgorithmTest, NoAlgorithmExceedsAnyNodesCapacity) {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    for (std::uint64_t capacity : {0ull, 700ull, 1800ull, 4000ull}) {
      GeneratorOptions g = testing::SmallOptions(seed);
      g.capacity_bytes = capacity;
      auto s = GenerateScenario(g);
      ASSERT_TRUE(s) << s.error().message;
      const Instance instance(*s);
      for (std::string_view name : AlgorithmNames()) {
        auto algorithm = MakeAlgorithm(name, Options());
        ASSERT_TRUE(algorithm);
        auto solution = (*algorithm)->Solve(instance);
        ASSERT_TRUE(solution) << name << ": " << solution.error().message;
        EXPECT_TRUE(WithinCapacity(instance, solution->placement))
            << name << " seed " << seed << " capacity " << capacity;
        if (capacity == 0) {
          EXPECT_EQ(HitRatio(instance, solution->placement), 0) << name;
        }
      }
    }
  }
}

TEST(AlgorithmTest, EveryAlgorithmIsDeterministicForASeed) {
  auto a = GenerateScenario(testing::SmallOptions(11));
  auto b = GenerateScenario(testing::SmallOptions(11));
  ASSERT_TRUE(a && b);
  const Instance ia(*a), ib(*b);
  for (std::string_view name : AlgorithmNames()) {
    auto sa = (*MakeAlgorithm(name, Options()))->Solve(ia);
    auto sb = (*MakeAlgorithm(name, Options()))->Solve(ib);
    ASSERT_TRUE(sa && sb) << name;
    EXPECT_EQ(sa->placement, sb->placement) << name;
    if (sa->replay) {
      EXPECT_DOUBLE_EQ(sa->replay->hit_ratio, sb->replay->hit_ratio) << name;
    }
  }
}

TEST(AlgorithmTest, UnknownNameListsTheKnownOnes) {
  auto algorithm = MakeAlgorithm("belady", Options());
  ASSERT_FALSE(algorithm);
  EXPECT_NE(algorithm.error().message.find("greedy"), std::string::npos);
}

TEST(AlgorithmTest, OfflineAlgorithmsBeatNothingAndExactIsAnUpperBound) {
  auto s = GenerateScenario(testing::SmallOptions(5));
  ASSERT_TRUE(s);
  const Instance instance(*s);
  auto exact = (*MakeAlgorithm("exact", Options()))->Solve(instance);
  ASSERT_TRUE(exact && exact->upper_bound);
  for (std::string_view name : {"greedy", "independent", "popularity"}) {
    auto solution = (*MakeAlgorithm(name, Options()))->Solve(instance);
    ASSERT_TRUE(solution);
    const double hit = HitRatio(instance, solution->placement);
    EXPECT_GT(hit, 0) << name;
    EXPECT_LE(hit, *exact->upper_bound + 1e-9) << name;
  }
}

}  // namespace
}  // namespace mei::placement
