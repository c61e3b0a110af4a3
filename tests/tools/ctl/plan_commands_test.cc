#include "tools/ctl/plan_commands.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

namespace mei::tools {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

const std::string kBlock = "03a2963de0400c237742863df5b366f732e87e77404c4198b19ffa06f165eeff";
const std::string kPlan =
    R"({"schema":"mei.plan.v1","created":"2026-11-24T12:00:00Z","algorithm":"greedy","nodes":{)"
    R"("bs-0":{"url":"http://127.0.0.1:1","capacity":1073741824,"models":[{"model":"acme/base",)"
    R"("revision":"main","commit":""}],"blocks":[")" +
    kBlock + R"("]}},"peers":{}})";

fs::path WriteFile(const std::string& name, const std::string& text) {
  const fs::path dir = fs::path(::testing::TempDir()) / "ctl_plan_commands";
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::trunc) << text;
  return dir / name;
}

TEST(CtlPlanCommandsTest, LoadsAValidPlanFile) {
  auto plan = LoadPlanFile(WriteFile("plan.json", kPlan));
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->algorithm, "greedy");
  ASSERT_TRUE(plan->nodes.contains("bs-0"));
  EXPECT_EQ(plan->nodes.at("bs-0").blocks.at(0).Hex(), kBlock);
}

TEST(CtlPlanCommandsTest, RefusesAPlanThatDoesNotValidateNamingTheFile) {
  struct Case {
    const char* name;
    std::string text;
  };
  const Case cases[] = {
      {"not-json.json", "{"},
      {"no-schema.json", "{}"},
      {"typo.json", kPlan.substr(0, kPlan.size() - 1) + R"(,"peer":{}})"},
      {"bad-block.json", R"({"schema":"mei.plan.v1","created":"x","algorithm":"greedy","nodes":{)"
                         R"("bs-0":{"url":"","capacity":1,"models":[],"blocks":["abc"]}},)"
                         R"("peers":{}})"},
  };
  for (const Case& c : cases) {
    const fs::path file = WriteFile(c.name, c.text);
    auto plan = LoadPlanFile(file);
    ASSERT_FALSE(plan) << c.name;
    EXPECT_TRUE(plan.error().message.starts_with(file.string() + ": ")) << plan.error().message;
  }
  auto missing = LoadPlanFile(WriteFile("x", "") / ".." / "missing.json");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kIo);
}

TEST(CtlPlanCommandsTest, RendersWhetherEachNodeIsAssigned) {
  // PUT /admin/v1/plan replies of two real nodes, one named in the plan and one not.
  const std::vector<NodeOutcome> outcomes = {
      {{"bs-0", "http://h:1"}, json::parse(R"({"assigned":true,"models":1,"blocks":1})")},
      {{"bs-1", "http://h:2"}, json::parse(R"({"assigned":false,"models":0,"blocks":0})")},
  };
  EXPECT_EQ(RenderPlanApply(outcomes),
            "NODE  ASSIGNED                                       MODELS  BLOCKS\n"
            "bs-0  yes                                                 1       1\n"
            "bs-1  no (the plan has no entry for this node's id)       0       0\n");
}

TEST(CtlPlanCommandsTest, RendersThePlanEachNodeHolds) {
  const std::vector<NodeOutcome> outcomes = {
      {{"bs-0", "http://h:1"}, json::parse(kPlan)},
      {{"bs-1", "http://h:2"}, json::parse(kPlan)},
      {{"bs-2", "http://h:3"}, json::value(nullptr)},
  };
  EXPECT_EQ(RenderPlanShow(outcomes),
            "NODE  ALGORITHM  CREATED               PLAN NODES  MODELS HERE\n"
            "bs-0  greedy     2026-11-24T12:00:00Z           1  acme/base@main\n"
            "bs-1  greedy     2026-11-24T12:00:00Z           1  -\n"
            "bs-2  none       -                              -  -\n");
}

}  // namespace
}  // namespace mei::tools
