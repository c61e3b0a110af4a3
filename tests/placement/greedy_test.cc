#include "placement/greedy.h"

#include <gtest/gtest.h>

#include "placement/generator.h"
#include "tests/placement/scenario_builder.h"

namespace mei::placement {
namespace {

using testing::ScenarioBuilder;

constexpr GreedyRule kRules[] = {GreedyRule::kMaxGain, GreedyRule::kGainPerByte, GreedyRule::kBest};

GreedyOptions Independent() {
  GreedyOptions o;
  o.sharing_aware = false;
  return o;
}

// One node of capacity 10; base (6 bytes) + two fine-tunes sharing the 6-byte base and each with
// 2 bytes of its own; one user wants only the fine-tunes.
Scenario TwoFineTunes() {
  return ScenarioBuilder()
      .Node("bs-0", 10)
      .User("u-0", {0})
      .Model("acme/base", {{"shared", 6}, {"head", 2}})
      .Model("acme/ft-a", {{"shared", 6}, {"a", 2}})
      .Model("acme/ft-b", {{"shared", 6}, {"b", 2}})
      .Demand(0, 1, 1.0)
      .Demand(0, 2, 1.0)
      .Build();
}

TEST(GreedyTest, HoldsTwoFineTunesWhenTheirSharedBaseCountsOnce) {
  const Scenario s = TwoFineTunes();
  const Instance instance(s);
  const Placement greedy = SolveGreedy(instance, GreedyOptions{});
  EXPECT_DOUBLE_EQ(HitRatio(instance, greedy), 1.0);
  EXPECT_TRUE(greedy.Available(instance, 0, 1));
  EXPECT_TRUE(greedy.Available(instance, 0, 2));
  EXPECT_EQ(greedy.UsedBytes(instance, 0), 10u);
}

TEST(GreedyTest, IndependentCachingMissesTheSecondFineTune) {
  const Scenario s = TwoFineTunes();
  const Instance instance(s);
  const Placement independent = SolveGreedy(instance, Independent());
  EXPECT_DOUBLE_EQ(HitRatio(instance, independent), 0.5);
}

TEST(GreedyTest, WithoutSharedBytesGreedyAndIndependentGiveEqualHitRatios) {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    GeneratorOptions o = testing::SmallOptions(seed);
    o.shared_share = 0;
    o.base_stations = 4;
    o.families = 3;
    auto s = GenerateScenario(o);
    ASSERT_TRUE(s) << s.error().message;
    const Instance instance(*s);
    for (GreedyRule rule : kRules) {
      GreedyOptions sharing{rule, true, true};
      GreedyOptions independent{rule, false, true};
      EXPECT_EQ(SolveGreedy(instance, sharing), SolveGreedy(instance, independent))
          << "seed " << seed;
      EXPECT_DOUBLE_EQ(HitRatio(instance, SolveGreedy(instance, sharing)),
                       HitRatio(instance, SolveGreedy(instance, independent)));
    }
  }
}

TEST(GreedyTest, LazyAndEagerGiveIdenticalPlacements) {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    GeneratorOptions o = testing::SmallOptions(seed);
    o.base_stations = 5;
    o.users = 60;
    o.families = 3;
    o.models_per_family = 6;
    o.shared_share = 0.1 * static_cast<double>(seed);
    auto s = GenerateScenario(o);
    ASSERT_TRUE(s) << s.error().message;
    const Instance instance(*s);
    for (GreedyRule rule : kRules) {
      for (bool sharing : {true, false}) {
        const Placement lazy = SolveGreedy(instance, GreedyOptions{rule, sharing, true});
        const Placement eager = SolveGreedy(instance, GreedyOptions{rule, sharing, false});
        EXPECT_EQ(lazy, eager) << "seed " << seed << " rule " << static_cast<int>(rule)
                               << " sharing " << sharing;
      }
    }
  }
}

// A case built so that a stale bound would be wrong: after ft-a is placed, ft-b's cost falls from
// 8 to 2 and its gain per byte rises above the model that was ahead of it before.
TEST(GreedyTest, LazyEvaluationRevisitsPairsWhoseCostFell) {
  const Scenario s = ScenarioBuilder()
                         .Node("bs-0", 12)
                         .User("u-0", {0})
                         .Model("acme/ft-a", {{"shared", 6}, {"a", 2}})
                         .Model("acme/ft-b", {{"shared", 6}, {"b", 2}})
                         .Model("other/solo", {{"solo", 4}})
                         .Demand(0, 0, 5.0)
                         .Demand(0, 1, 3.0)
                         .Demand(0, 2, 1.9)
                         .Build();
  const Instance instance(s);
  for (bool lazy : {true, false}) {
    const Placement p = SolveGreedy(instance, GreedyOptions{GreedyRule::kGainPerByte, true, lazy});
    // ft-a (5/8) first; then ft-b is 3/2 per byte against solo's 1.9/4, and both fit in 12.
    EXPECT_TRUE(p.Available(instance, 0, 0));
    EXPECT_TRUE(p.Available(instance, 0, 1));
    EXPECT_FALSE(p.Available(instance, 0, 2));
    EXPECT_EQ(p, SolveGreedy(instance, GreedyOptions{GreedyRule::kGainPerByte, true, !lazy}));
  }
}

TEST(GreedyTest, CountsDemandAnotherNodeServesOnlyOnce) {
  // Two nodes both reached by the only user: placing the model twice gains nothing, so the second
  // node takes the other model.
  const Scenario s = ScenarioBuilder()
                         .Node("bs-0", 5)
                         .Node("bs-1", 5)
                         .User("u-0", {0, 1})
                         .Model("acme/x", {{"x", 5}})
                         .Model("acme/y", {{"y", 5}})
                         .Demand(0, 0, 2.0)
                         .Demand(0, 1, 1.0)
                         .Build();
  const Instance instance(s);
  const Placement p = SolveGreedy(instance, GreedyOptions{});
  EXPECT_DOUBLE_EQ(HitRatio(instance, p), 1.0);
}

TEST(GreedyTest, BestRuleTakesTheSinglePairWhenRatioGreedyIsWorse) {
  // Ratio greedy takes the small cheap model first and then the big one no longer fits.
  const Scenario s = ScenarioBuilder()
                         .Node("bs-0", 10)
                         .User("u-0", {0})
                         .Model("acme/small", {{"s", 1}})
                         .Model("acme/big", {{"b", 10}})
                         .Demand(0, 0, 1.0)
                         .Demand(0, 1, 5.0)
                         .Build();
  const Instance instance(s);
  EXPECT_DOUBLE_EQ(
      HitRatio(instance, SolveGreedy(instance, GreedyOptions{GreedyRule::kGainPerByte})), 1 / 6.0);
  EXPECT_DOUBLE_EQ(HitRatio(instance, SolveGreedy(instance, GreedyOptions{GreedyRule::kBest})),
                   5 / 6.0);
}

TEST(GreedyTest, SameSeedGivesTheSamePlacement) {
  auto a = GenerateScenario(testing::SmallOptions(42));
  auto b = GenerateScenario(testing::SmallOptions(42));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(ToJson(*a), ToJson(*b));
  const Instance ia(*a), ib(*b);
  EXPECT_EQ(SolveGreedy(ia, GreedyOptions{}), SolveGreedy(ib, GreedyOptions{}));
}

}  // namespace
}  // namespace mei::placement
