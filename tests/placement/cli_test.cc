// mei-placement as a process: input errors give one sentence with the line and a non-zero exit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/integration/process.h"

namespace mei::placement {
namespace {

namespace fs = std::filesystem;
using mei::testing::ProcessResult;

// Two nodes of 3 GiB, bs-short one byte short of it, each with one user at 1e9 bytes/s; origin
// 1e8 bytes/s, deadline 10 s. Models a (7 units of 256 MiB), b, c, d (4 units each) and e (12
// units), requested by both users at rates 80, 42, 42, 42 and 125 (662 in all). The optimum holds
// a + b at bs-short (neither e nor b + c + d fits there) and b + c + d at bs-exact: 248 / 662 =
// 0.3746. Greedy holds e at bs-exact instead: 247 / 662 = 0.3731.
std::string OneByteShortScenario() {
  namespace json = boost::json;
  struct Model {
    char name;
    std::uint64_t units;
    int rate;
  };
  constexpr std::uint64_t kUnit = 256ull << 20;
  const Model models[] = {{'a', 7, 80}, {'b', 4, 42}, {'c', 4, 42}, {'d', 4, 42}, {'e', 12, 125}};
  json::array blocks, catalog, demand;
  for (std::size_t k = 0; k < std::size(models); ++k) {
    const std::string name = std::string("acme/") + models[k].name;
    blocks.push_back(
        json::object{{"id", std::string(64, models[k].name)}, {"size", models[k].units * kUnit}});
    catalog.push_back(json::object{{"model", name}, {"blocks", json::array{k}}});
    for (const char* user : {"u-short", "u-exact"}) {
      demand.push_back(json::object{{"user", user}, {"model", name}, {"rate", models[k].rate}});
    }
  }
  const auto node = [](const char* id, std::uint64_t capacity) {
    return json::object{{"id", id}, {"capacity", capacity}};
  };
  const auto user = [](const char* id, const char* node) {
    return json::object{{"id", id},
                        {"links", json::array{json::object{{"node", node}, {"rate", 1e9}}}}};
  };
  const json::object topology{
      {"deadline_s", 10},
      {"origin_rate", 1e8},
      {"nodes", json::array{node("bs-short", 12 * kUnit - 1), node("bs-exact", 12 * kUnit)}},
      {"users", json::array{user("u-short", "bs-short"), user("u-exact", "bs-exact")}}};
  return json::serialize(
      json::object{{"schema", "mei.placement.scenario.v1"},
                   {"topology", topology},
                   {"catalog", json::object{{"blocks", blocks}, {"models", catalog}}},
                   {"demand", demand}});
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mei-placement-cli-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ASSERT_EQ(Run({"gen", "--out", Path("s.json"), "--base-stations", "2", "--users", "6",
                   "--families", "1", "--models-per-family", "3", "--capacity", "3GiB"})
                  .exit_code,
              0);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  void Write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
  }

  ProcessResult Run(std::vector<std::string> args) const {
    args.insert(args.begin(), mei::testing::BinaryPath("placement/mei-placement").string());
    return mei::testing::RunProcess(args, dir_);
  }

  fs::path dir_;
};

TEST_F(CliTest, UnknownModelInATraceNamesTheLineAndFails) {
  Write("t.csv",
        "time,user,node,model,revision\n1,u-0,bs-0,family-0/base,main\n"
        "2,u-1,bs-1,acme/nope,main\n");
  const ProcessResult r =
      Run({"fit", "--scenario", Path("s.json"), "--trace", Path("t.csv"), "--out", Path("o.json")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("line 3: unknown model acme/nope@main"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(Path("o.json")));
}

TEST_F(CliTest, MalformedLineNamesTheLineAndSkipBadCountsIt) {
  Write("t.csv", "1,u-0,bs-0,family-0/base,main\n2,u-0\n3,u-1,bs-1,family-0/ft-1,main\n");
  ProcessResult r =
      Run({"fit", "--scenario", Path("s.json"), "--trace", Path("t.csv"), "--out", Path("o.json")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("t.csv: line 2: expected 5 comma-separated fields"), std::string::npos)
      << r.err;
  r = Run({"fit", "--scenario", Path("s.json"), "--trace", Path("t.csv"), "--skip-bad", "--out",
           Path("o.json")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("skipped 1 bad line(s)"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("2 requests"), std::string::npos) << r.out;
}

TEST_F(CliTest, NegativeCapacityIsRejected) {
  ProcessResult r = Run({"solve", "--scenario", Path("s.json"), "--capacity=-5GiB"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("capacity -5GiB is negative"), std::string::npos) << r.err;

  std::ifstream in(Path("s.json"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string from = "\"capacity\":3221225472";
  ASSERT_NE(text.find(from), std::string::npos);
  text.replace(text.find(from), from.size(), "\"capacity\":-1");
  Write("bad.json", text);
  r = Run({"solve", "--scenario", Path("bad.json")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("node \"bs-0\" has a negative capacity"), std::string::npos) << r.err;
}

TEST_F(CliTest, PlanForAnUnknownNodeIsRejected) {
  ASSERT_EQ(Run({"solve", "--scenario", Path("s.json"), "--out", Path("plan.json")}).exit_code, 0);
  std::ifstream in(Path("plan.json"));
  std::string plan((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (std::size_t at; (at = plan.find("\"bs-1\"")) != std::string::npos;) {
    plan.replace(at, 6, "\"bs-9\"");
  }
  Write("plan.json", plan);
  const ProcessResult r = Run({"eval", "--scenario", Path("s.json"), "--plan", Path("plan.json")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("the plan is for node \"bs-9\", which the scenario does not have"),
            std::string::npos)
      << r.err;
}

TEST_F(CliTest, ExactReportsTheOptimumWhenANodeIsOneByteShortOfAModel) {
  Write("short.json", OneByteShortScenario());
  ProcessResult r = Run({"solve", "--scenario", Path("short.json"), "--algo", "exact"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("exact: hit ratio 0.3746 over the demand, ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(", optimal (bound 0.3746)"), std::string::npos) << r.out;
  r = Run({"solve", "--scenario", Path("short.json"), "--algo", "greedy"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("greedy: hit ratio 0.3731 over the demand, ", 0), 0u) << r.out;
}

// Greedy's plan for OneByteShortScenario: a + b at bs-short, e at bs-exact. In units of 2^28
// bytes and of 2^28 / 1e9 s (a unit's download at 1e9 bytes/s), u-short misses c, d (4 units each
// from the origin at 1e8 bytes/s: 40) and e (120); u-exact misses a (70) and b, c, d (40 each).
TEST_F(CliTest, EvalOfASolvedPlanReportsItsHitRatioOriginBytesAndDownloadTimes) {
  Write("short.json", OneByteShortScenario());
  ASSERT_EQ(Run({"solve", "--scenario", Path("short.json"), "--out", Path("plan.json")}).exit_code,
            0);
  const ProcessResult r =
      Run({"eval", "--scenario", Path("short.json"), "--plan", Path("plan.json"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(r.out, ec);
  ASSERT_FALSE(ec) << r.out;
  const boost::json::object& m = v.as_object();
  constexpr double kUnit = 1 << 28;
  constexpr double kSecond = kUnit / 1e9;
  EXPECT_EQ(m.at("algorithm").as_string(), "greedy");
  EXPECT_DOUBLE_EQ(m.at("requests").to_number<double>(), 662);
  EXPECT_DOUBLE_EQ(m.at("hit_ratio").to_number<double>(), (80 + 42 + 125) / 662.0);
  EXPECT_DOUBLE_EQ(m.at("origin_bytes").to_number<double>(),
                   (42 * 4 * 2 + 125 * 12 + 80 * 7 + 3 * 42 * 4) * kUnit);
  const double short_time = 80 * 7 + 42 * 4 + 2 * 42 * 40 + 125 * 120;
  const double exact_time = 80 * 70 + 3 * 42 * 40 + 125 * 12;
  EXPECT_NEAR(m.at("mean_download_s").to_number<double>(),
              (short_time + exact_time) / 662 * kSecond, 1e-9);
  // 95% of 662 is 628.9; the 125 misses of e by u-short (120 units each) are the last 125.
  EXPECT_DOUBLE_EQ(m.at("p95_download_s").to_number<double>(), 120 * kSecond);
}

TEST_F(CliTest, SameSeedWritesTheSameScenario) {
  ASSERT_EQ(Run({"gen", "--out", Path("a.json"), "--seed", "9"}).exit_code, 0);
  ASSERT_EQ(Run({"gen", "--out", Path("b.json"), "--seed", "9"}).exit_code, 0);
  ASSERT_EQ(Run({"gen", "--out", Path("c.json"), "--seed", "10"}).exit_code, 0);
  auto read = [&](const std::string& name) {
    std::ifstream in(Path(name));
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(read("a.json"), read("b.json"));
  EXPECT_NE(read("a.json"), read("c.json"));
}

TEST_F(CliTest, SweepWritesACsvRowPerValueAndAPlot) {
  const ProcessResult r = Run({"sweep",
                               "--base-stations",
                               "2",
                               "--users",
                               "6",
                               "--families",
                               "1",
                               "--models-per-family",
                               "3",
                               "--from",
                               "1GiB",
                               "--to",
                               "3GiB",
                               "--steps",
                               "3",
                               "--requests",
                               "200",
                               "--algos",
                               "greedy,independent,lru",
                               "--csv",
                               Path("c.csv"),
                               "--png",
                               Path("c.png")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(Path("c.csv"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "capacity_gib,greedy,independent,lru");
  EXPECT_EQ(lines[1].rfind("1,", 0), 0u) << lines[1];
  EXPECT_EQ(lines[3].rfind("3,", 0), 0u) << lines[3];
  EXPECT_GT(fs::file_size(Path("c.png")), 1000u);
}

TEST_F(CliTest, AccessLogClientsBecomeCellsWithCellRate) {
  Write(
      "access.log",
      R"({"time":"2026-11-24T12:00:00.123Z","node":"bs-0","client":"10.1.2.3","route":"resolve","model":"family-0/base","revision":"main","commit":"","path":"model.safetensors","block":"","bytes":123,"status":200,"cache":"HIT","upstream":"","duration_ms":1.5})"
      "\n");
  ProcessResult r = Run({"fit", "--scenario", Path("s.json"), "--trace", Path("access.log"),
                         "--out", Path("o.json")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("line 1: unknown user \"10.1.2.3\""), std::string::npos) << r.err;
  r = Run({"fit", "--scenario", Path("s.json"), "--trace", Path("access.log"), "--cell-rate", "1e8",
           "--out", Path("o.json")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1 requests -> 1 demand entries"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace mei::placement
