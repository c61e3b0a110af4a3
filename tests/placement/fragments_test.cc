#include "placement/fragments.h"

#include <gtest/gtest.h>

#include "tests/placement/scenario_builder.h"

namespace mei::placement {
namespace {

using testing::ScenarioBuilder;

TEST(FragmentsTest, GroupsBlocksByTheExactSetOfModelsUsingThem) {
  // base = {s1, s2, b}, ft1 = {s1, s2, p1}, ft2 = {s1, p2}, other = {o}; unused block none.
  Scenario s = ScenarioBuilder()
                   .Model("f/base", {{"s1", 10}, {"s2", 20}, {"b", 5}})
                   .Model("f/ft1", {{"s1", 10}, {"s2", 20}, {"p1", 7}})
                   .Model("f/ft2", {{"s1", 10}, {"p2", 3}})
                   .Model("g/other", {{"o", 100}, {"o", 100}})
                   .Build();
  const Fragments f = ComputeFragments(s.catalog);
  // Blocks in catalog order: s1(0) s2(1) b(2) p1(3) p2(4) o(5).
  ASSERT_EQ(f.fragments.size(), 6u);
  EXPECT_EQ(f.fragments[0].models, (std::vector<std::uint32_t>{0, 1, 2}));  // s1
  EXPECT_EQ(f.fragments[0].blocks, (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(f.fragments[1].models, (std::vector<std::uint32_t>{0, 1}));  // s2
  EXPECT_EQ(f.fragments[1].size, 20u);
  EXPECT_EQ(f.fragments[2].models, (std::vector<std::uint32_t>{0}));  // b
  EXPECT_EQ(f.fragments[3].models, (std::vector<std::uint32_t>{1}));  // p1
  EXPECT_EQ(f.fragments[4].models, (std::vector<std::uint32_t>{2}));  // p2
  EXPECT_EQ(f.fragments[5].models, (std::vector<std::uint32_t>{3}));  // o, counted once
  EXPECT_EQ(f.fragments[5].size, 100u);
  EXPECT_EQ(f.of_model[0], (std::vector<std::uint32_t>{0, 1, 2}));
  EXPECT_EQ(f.of_model[1], (std::vector<std::uint32_t>{0, 1, 3}));
  EXPECT_EQ(f.of_model[2], (std::vector<std::uint32_t>{0, 4}));
  EXPECT_EQ(f.of_model[3], (std::vector<std::uint32_t>{5}));
}

TEST(FragmentsTest, MergesBlocksWithTheSameUsersIntoOneFragment) {
  Scenario s = ScenarioBuilder()
                   .Model("f/a", {{"x", 1}, {"shared1", 2}, {"shared2", 4}, {"y", 8}})
                   .Model("f/b", {{"shared2", 4}, {"shared1", 2}, {"z", 16}})
                   .Build();
  const Fragments f = ComputeFragments(s.catalog);
  ASSERT_EQ(f.fragments.size(), 3u);
  EXPECT_EQ(f.fragments[0].blocks, (std::vector<std::uint32_t>{0, 3}));  // x and y: only a
  EXPECT_EQ(f.fragments[0].size, 9u);
  EXPECT_EQ(f.fragments[1].blocks, (std::vector<std::uint32_t>{1, 2}));  // shared by a and b
  EXPECT_EQ(f.fragments[1].size, 6u);
  EXPECT_EQ(f.fragments[2].size, 16u);
}

TEST(FragmentsTest, SizesOfAModelsFragmentsAddUpToTheModel) {
  auto s = GenerateScenario(testing::SmallOptions(3));
  ASSERT_TRUE(s) << s.error().message;
  const Fragments f = ComputeFragments(s->catalog);
  for (std::uint32_t i = 0; i < s->catalog.models.size(); ++i) {
    std::uint64_t sum = 0;
    for (std::uint32_t k : f.of_model[i]) sum += f.fragments[k].size;
    EXPECT_EQ(sum, s->catalog.SizeOf(i)) << s->catalog.NameOf(i);
  }
  // Per family: base-only, shared (all models), and one per fine-tune.
  EXPECT_EQ(f.fragments.size(), 2u * (1 + 1 + 3));
}

}  // namespace
}  // namespace mei::placement
