#include "placement/plan_io.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace mei::placement
