#include "placement/plan_io.h"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "placement/evaluate.h"
#include "placement/greedy.h"
#include "tests/placement/scenario_builder.h"

namespace mei::placement {
namespace {

TEST(PlanIoTest, PlanOfAPlacementReadsBackAsTheSamePlacement) {
  auto s = GenerateScenario(testing::SmallOptions(4));
  ASSERT_TRUE(s);
  const Instance instance(*s);
  const Placement placement = SolveGreedy(instance, GreedyOptions{});
  const Plan plan = ToPlan(instance, placement, "greedy", "2026-11-24T12:00:00Z");
  auto parsed = ParsePlan(ToJson(plan));
  ASSERT_TRUE(parsed) << parsed.error().message;
  auto back = PlacementFromPlan(instance, *parsed);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, placement);
  EXPECT_EQ(parsed->nodes.size(), instance.node_count());
}

TEST(PlanIoTest, RejectsAPlanForAnUnknownNodeOrModelOrOverCapacity) {
  const Scenario s = testing::ScenarioBuilder()
                         .Node("bs-0", 5)
                         .User("u-0", {0})
                         .Model("acme/x", {{"x", 5}})
                         .Model("acme/y", {{"y", 5}})
                         .Build();
  const Instance instance(s);
  Placement both = Placement::Empty(instance);
  both.Add(instance, 0, 0);
  both.Add(instance, 0, 1);
  const Plan over = ToPlan(instance, both, "hand", "now");
  auto result = PlacementFromPlan(instance, over);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("over its capacity"), std::string::npos);

  Plan unknown_node;
  unknown_node.nodes["bs-7"] = PlanNode{};
  result = PlacementFromPlan(instance, unknown_node);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message,
            "the plan is for node \"bs-7\", which the scenario does not have");

  Plan unknown_model;
  unknown_model.nodes["bs-0"].models.push_back(PlanModel{"acme/z", "main", std::nullopt});
  result = PlacementFromPlan(instance, unknown_model);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("acme/z@main"), std::string::npos);
}

// One node, one user; models x and y of one 5-byte block each, z of two 1-byte blocks.
Scenario ThreeModels(std::uint64_t capacity) {
  return testing::ScenarioBuilder()
      .Node("bs-0", capacity)
      .User("u-0", {0})
      .Model("acme/x", {{"x", 5}})
      .Model("acme/y", {{"y", 5}})
      .Model("acme/z", {{"z1", 1}, {"z2", 1}})
      .Demand(0, 0, 1)
      .Demand(0, 1, 1)
      .Demand(0, 2, 2)
      .Build();
}

BlockId Block(std::string_view name) { return BlockIdOf(std::as_bytes(std::span(name))); }

// A plan that puts model x on bs-0 with these blocks.
Plan PlanOfX(std::vector<BlockId> blocks) {
  Plan plan;
  PlanNode& node = plan.nodes["bs-0"];
  node.models.push_back(PlanModel{"acme/x", "main", std::nullopt});
  node.blocks = std::move(blocks);
  return plan;
}

// The cache node pins every block the plan lists for it, whether or not a listed model uses it.
TEST(PlanIoTest, CapacityCountsEveryListedBlockNotOnlyThoseOfTheListedModels) {
  const Scenario s = ThreeModels(10);
  const Instance instance(s);
  auto result = PlacementFromPlan(instance, PlanOfX({Block("x"), Block("y"), Block("z1")}));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message,
            "the plan puts 11 bytes on node \"bs-0\", over its capacity of 10");
  // A block listed twice is stored once.
  result = PlacementFromPlan(instance, PlanOfX({Block("x"), Block("y"), Block("x")}));
  EXPECT_TRUE(result) << result.error().message;
}

// A hit needs a reachable node that holds every block of the model, listed as a model or not.
TEST(PlanIoTest, AModelIsHeldWhereAllItsBlocksAreListedWhetherOrNotThePlanListsIt) {
  const Scenario s = ThreeModels(11);
  const Instance instance(s);
  auto placement = PlacementFromPlan(instance, PlanOfX({Block("x"), Block("y"), Block("z1")}));
  ASSERT_TRUE(placement) << placement.error().message;
  EXPECT_TRUE(placement->Available(instance, 0, 0));
  EXPECT_TRUE(placement->Available(instance, 0, 1));   // y: its one block is listed
  EXPECT_FALSE(placement->Available(instance, 0, 2));  // z: z2 is missing
  EXPECT_DOUBLE_EQ(EvaluateDemand(instance, *placement).hit_ratio, 2 / 4.0);
  EXPECT_DOUBLE_EQ(HitRatio(instance, *placement), 2 / 4.0);
}

TEST(PlanIoTest, RejectsABlockTheCatalogDoesNotHave) {
  const Scenario s = ThreeModels(10);
  const Instance instance(s);
  Plan plan;
  plan.nodes["bs-0"].blocks = {Block("x"), Block("w")};
  auto result = PlacementFromPlan(instance, plan);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message, "the plan gives node \"bs-0\" block " + Block("w").Hex() +
                                        ", which the scenario's catalog does not have");
}

}  // namespace
}  // namespace mei::placement
