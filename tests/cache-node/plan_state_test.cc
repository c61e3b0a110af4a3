#include "cache-node/plan_state.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mei::cache_node {
namespace {

const BlockId kBlock = BlockIdOf(std::as_bytes(std::span<const char>("block", 5)));
const BlockId kOtherBlock = BlockIdOf(std::as_bytes(std::span<const char>("other", 5)));

PlanNode NodeAt(std::string url) {
  PlanNode node;
  node.url = std::move(url);
  node.blocks = {kBlock};
  return node;
}

// Peers in the order the planner wrote them (not sorted): "self", then nodes whose URL comes from
// the plan, from --peer, or from nowhere.
Plan MakePlan() {
  Plan plan;
  plan.created = "2026-11-24T12:00:00Z";
  plan.algorithm = "greedy";
  plan.nodes["self"] = NodeAt("http://self:9000");
  plan.nodes["planned"] = NodeAt("http://planned:9001/");
  plan.nodes["static"] = NodeAt("");
  plan.nodes["both"] = NodeAt("http://both-from-plan:9002");
  plan.nodes["nowhere"] = NodeAt("");
  plan.peers[kBlock] = {"static", "self", "nowhere", "planned", "both"};
  return plan;
}

PlanState MakeState() {
  return PlanState("self", {{"static", "http://static:9003"}, {"both", "http://both-static:9004"}});
}

std::vector<std::pair<std::string, std::string>> NamesAndUrls(const std::vector<Upstream>& peers) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Upstream& peer : peers) out.emplace_back(peer.name, peer.base_url);
  return out;
}

TEST(PlanStateTest, PeersForListsPlanPeersInPlanOrderWithoutSelfOrUnknownUrls) {
  PlanState state = MakeState();
  state.Set(MakePlan());
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"peer:static", "http://static:9003"},
      {"peer:planned", "http://planned:9001"},      // trailing '/' dropped
      {"peer:both", "http://both-from-plan:9002"},  // the plan's URL wins over --peer
  };
  EXPECT_EQ(NamesAndUrls(state.PeersFor(kBlock)), expected);
}

TEST(PlanStateTest, PeersForIsEmptyWithoutAPlanOrForABlockNoPeerHolds) {
  PlanState state = MakeState();
  EXPECT_TRUE(state.PeersFor(kBlock).empty());
  state.Set(MakePlan());
  EXPECT_TRUE(state.PeersFor(kOtherBlock).empty());
}

TEST(PlanStateTest, OwnIsTheNodesEntryOfThePlan) {
  PlanState state = MakeState();
  EXPECT_EQ(state.Own(), PlanNode{});
  EXPECT_FALSE(state.Get().has_value());

  const Plan plan = MakePlan();
  state.Set(plan);
  EXPECT_EQ(state.Own(), plan.nodes.at("self"));
  EXPECT_EQ(state.Get(), plan);
}

TEST(PlanStateTest, OwnIsEmptyWhenThePlanNamesOtherNodesOnly) {
  PlanState state("absent", {});
  state.Set(MakePlan());
  EXPECT_EQ(state.Own(), PlanNode{});
}

TEST(PlanStateTest, SetReplacesThePlan) {
  PlanState state = MakeState();
  state.Set(MakePlan());
  Plan next = MakePlan();
  next.peers[kBlock] = {"planned"};
  state.Set(next);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"peer:planned", "http://planned:9001"}};
  EXPECT_EQ(NamesAndUrls(state.PeersFor(kBlock)), expected);
}

}  // namespace
}  // namespace mei::cache_node
