#include "placement/popularity.h"

#include <gtest/gtest.h>

#include "tests/placement/scenario_builder.h"

namespace mei::placement {
namespace {

// Two nodes of 10 bytes. u-0 reaches both; u-1 only bs-1. ft-a and ft-b are 8 bytes each, 6 of
// them a shared base; solo is 3; big (11) fits nowhere. Requests per node, most first:
//   bs-0: big 9, ft-a 5, ft-b 4, solo 3  -> ft-a (8), ft-b (2 more: the base is there), no room
//   bs-1: big 9, solo 3 + 3, ft-a 5, ft-b 4 -> solo (3); neither fine-tune (8) fits in the 7 left
// bs-1 takes no account of bs-0 serving u-0's fine-tunes already.
TEST(PopularityTest, EachNodeTakesItsMostRequestedModelsThatStillFitCountingSharedBytesOnce) {
  const Scenario s = testing::ScenarioBuilder()
                         .Node("bs-0", 10)
                         .Node("bs-1", 10)
                         .User("u-0", {0, 1})
                         .User("u-1", {1})
                         .Model("acme/ft-a", {{"base", 6}, {"a", 2}})
                         .Model("acme/ft-b", {{"base", 6}, {"b", 2}})
                         .Model("acme/solo", {{"solo", 3}})
                         .Model("acme/big", {{"big", 11}})
                         .Demand(0, 3, 9)
                         .Demand(0, 0, 5)
                         .Demand(0, 1, 4)
                         .Demand(0, 2, 3)
                         .Demand(1, 2, 3)
                         .Build();
  const Instance instance(s);
  Placement expected = Placement::Empty(instance);
  expected.Add(instance, 0, 0);
  expected.Add(instance, 0, 1);
  expected.Add(instance, 1, 2);
  const Placement placement = SolvePopularity(instance);
  EXPECT_EQ(placement, expected);
  EXPECT_EQ(placement.UsedBytes(instance, 0), 10u);
  EXPECT_EQ(placement.UsedBytes(instance, 1), 3u);
  EXPECT_DOUBLE_EQ(HitRatio(instance, placement), (5 + 4 + 3 + 3) / 24.0);
}

}  // namespace
}  // namespace mei::placement
