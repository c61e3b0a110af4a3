#include "common/plan.h"

#include <gtest/gtest.h>

#include <string>

namespace mei {
namespace {

BlockId IdOf(std::string_view text) { return BlockIdOf(std::as_bytes(std::span(text))); }

Plan SamplePlan() {
  Plan plan;
  plan.created = "2026-11-24T12:00:00Z";
  plan.algorithm = "greedy";
  PlanNode a;
  a.url = "http://127.0.0.1:9001";
  a.capacity = 1073741824;
  a.models = {{"acme/tiny", "main", IdOf("commit")}, {"acme/tiny-chat", "v2", std::nullopt}};
  a.blocks = {IdOf("base"), IdOf("chat")};
  PlanNode b;
  b.capacity = 10;
  b.blocks = {IdOf("base")};
  b.models = {{"acme/tiny", "main", std::nullopt}};
  plan.nodes = {{"bs-0", a}, {"bs-2", b}, {"bs-9", PlanNode{}}};
  FillPeers(plan);
  return plan;
}

// The sample as text, with `from` replaced by `to` once.
std::string SampleWith(std::string_view from, std::string_view to) {
  std::string json = ToJson(SamplePlan());
  const auto at = json.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) json.replace(at, from.size(), to);
  return json;
}

TEST(PlanTest, JsonRoundTripGivesTheSamePlan) {
  const Plan plan = SamplePlan();
  auto parsed = ParsePlan(ToJson(plan));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, plan);
}

TEST(PlanTest, FillPeersListsEveryHolderInNodeOrder) {
  const Plan plan = SamplePlan();
  ASSERT_EQ(plan.peers.size(), 2u);
  EXPECT_EQ(plan.peers.at(IdOf("base")), (std::vector<std::string>{"bs-0", "bs-2"}));
  EXPECT_EQ(plan.peers.at(IdOf("chat")), (std::vector<std::string>{"bs-0"}));
}

TEST(PlanTest, JsonHasTheSchemaFieldsInOrder) {
  const std::string json = ToJson(SamplePlan());
  EXPECT_EQ(json.find("{\"schema\":\"mei.plan.v1\",\"created\":"), 0u);
  EXPECT_NE(json.find("\"commit\":\"\""), std::string::npos);
}

TEST(PlanTest, EmptyPlanIsValid) {
  auto parsed = ParsePlan(
      R"({"schema":"mei.plan.v1","created":"x","algorithm":"exact","nodes":{},"peers":{}})");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_TRUE(parsed->nodes.empty());
}

struct Rejection {
  std::string from;
  std::string to;
  std::string says;  // part of the message
};

TEST(PlanTest, RejectsEveryBrokenInvariantWithOneSentence) {
  const std::string base = IdOf("base").Hex();
  const std::vector<Rejection> table = {
      {"mei.plan.v1", "mei.plan.v2", "schema"},
      {"\"greedy\"", "\"\"", "algorithm"},
      {"\"bs-2\":{", "\"\":{", "empty id"},
      {"\"bs-2\":{", "\"bs 2\":{", "printable"},
      {"http://127.0.0.1:9001", "ftp://x", "url"},
      {"\"capacity\":10,", "\"capacity\":-10,", "capacity"},
      {"\"capacity\":10,", "\"capacity\":\"10\",", "capacity"},
      {"acme/tiny-chat", "acme", "model"},
      {"\"v2\"", "\"..\"", "revision"},
      {IdOf("commit").Hex(), "abc", "commit"},
      {"[\"" + base, "[\"" + base.substr(0, 63) + "G", "block id"},
      {"[\"" + base, "[\"" + std::string(64, 'A'), "block id"},
      {"\"bs-2\"]", "\"bs-7\"]", "not a node"},
      {"\"bs-2\"]", "\"bs-9\"]", "does not hold"},
      {"\"bs-2\"]", "\"bs-0\"]", "twice"},
      {"\"peers\":{", "\"peers\":{\"zz\":[],", "block id"},
      {"\"algorithm\"", "\"algo\"", "unknown key"},
      {"\"url\":\"\"", "\"url\":\"\",\"extra\":1", "unknown key"},
  };
  for (const Rejection& row : table) {
    auto parsed = ParsePlan(SampleWith(row.from, row.to));
    ASSERT_FALSE(parsed) << row.from << " -> " << row.to;
    EXPECT_EQ(parsed.error().code, Errc::kBadRequest);
    EXPECT_NE(parsed.error().message.find(row.says), std::string::npos)
        << parsed.error().message << " (expected to mention " << row.says << ")";
  }
}

TEST(PlanTest, RejectsADuplicateBlockOnOneNode) {
  Plan plan = SamplePlan();
  plan.nodes["bs-2"].blocks.push_back(IdOf("base"));
  auto ok = ValidatePlan(plan);
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message.find("twice"), std::string::npos);
}

TEST(PlanTest, RejectsTextThatIsNotJson) {
  EXPECT_FALSE(ParsePlan("{"));
  EXPECT_FALSE(ParsePlan("[]"));
  EXPECT_FALSE(ParsePlan(""));
}

}  // namespace
}  // namespace mei
