#include "placement/instance.h"

#include <gtest/gtest.h>

#include "tests/placement/scenario_builder.h"

namespace mei::placement {
namespace {

// u-0 reaches bs-0 at 1 byte/s and bs-1 at 0.001 (a 2-byte model takes 2000 s there, past the
// 1000 s deadline); u-1 reaches bs-1 only. y and z share a 1-byte block. Demand: u-0 x 1, u-0 y 2,
// u-1 x 3, u-1 z 4 (10 in all).
Scenario TwoUsers() {
  return testing::ScenarioBuilder()
      .Node("bs-0", 10)
      .Node("bs-1", 10)
      .LinkedUser("u-0", {Link{0, 1}, Link{1, 0.001}})
      .User("u-1", {1})
      .Model("acme/x", {{"x", 2}})
      .Model("acme/y", {{"shared", 1}, {"y", 1}})
      .Model("acme/z", {{"shared", 1}, {"z", 1}})
      .Demand(0, 0, 1)
      .Demand(0, 1, 2)
      .Demand(1, 0, 3)
      .Demand(1, 2, 4)
      .Build();
}

TEST(HitRatioTest, CountsTheDemandAReachableNodeHoldsWholeWithinTheDeadline) {
  const Scenario s = TwoUsers();
  const Instance instance(s);
  Placement p = Placement::Empty(instance);
  p.Add(instance, 1, 0);  // x at bs-1: a hit for u-1 (3); for u-0 it is past the deadline
  p.Add(instance, 0, 2);  // z at bs-0, which u-1 does not reach; y's shared block with it
  EXPECT_TRUE(p.Available(instance, 1, 0));
  EXPECT_FALSE(p.Available(instance, 0, 1));  // y lacks its own block
  EXPECT_DOUBLE_EQ(HitRatio(instance, p), 3 / 10.0);
  p.Add(instance, 0, 1);  // now y is whole at bs-0: u-0's 2 more
  EXPECT_DOUBLE_EQ(HitRatio(instance, p), 5 / 10.0);
  p.Add(instance, 0, 0);  // x at bs-0 too: u-0's 1 more
  EXPECT_DOUBLE_EQ(HitRatio(instance, p), 6 / 10.0);
}

TEST(HitRatioTest, IsZeroWithoutDemand) {
  Scenario s = TwoUsers();
  s.demand.clear();
  const Instance instance(s);
  Placement p = Placement::Empty(instance);
  p.Add(instance, 0, 0);
  EXPECT_EQ(HitRatio(instance, p), 0);
}

}  // namespace
}  // namespace mei::placement
