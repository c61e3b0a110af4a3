#include "placement/trace.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "common/access_record.h"
#include "placement/demand.h"
#include "placement/requests.h"
#include "tests/placement/scenario_builder.h"

namespace mei::placement {
namespace {

TEST(TraceTest, ReadsCsvWithAHeaderAndJsonLines) {
  auto trace = ParseTrace(
      "time,user,node,model,revision\n"
      "10,u-0,bs-0,acme/x,main\n"
      "\n"
      "# a comment\n"
      "11.5,u-1,bs-1,acme/y\n"
      R"({"time": "1970-01-01T00:00:12.250Z", "cell": "c-3", "node": "bs-0", "model": "acme/x"})"
      "\n",
      {});
  ASSERT_TRUE(trace) << trace.error().message;
  ASSERT_EQ(trace->records.size(), 3u);
  EXPECT_EQ(trace->records[0].user, "u-0");
  EXPECT_EQ(trace->records[0].line, 2u);
  EXPECT_DOUBLE_EQ(trace->records[1].time_s, 11.5);
  EXPECT_EQ(trace->records[1].revision, "main");
  EXPECT_EQ(trace->records[2].user, "c-3");
  EXPECT_DOUBLE_EQ(trace->records[2].time_s, 12.25);
  EXPECT_EQ(trace->records[2].line, 6u);
}

TEST(TraceTest, ParsesRfc3339Times) {
  EXPECT_DOUBLE_EQ(*ParseTraceTime("2026-11-24T12:00:00.123Z"), 1795521600.123);
  EXPECT_DOUBLE_EQ(*ParseTraceTime("1970-01-02T00:00:00Z"), 86400);
  EXPECT_FALSE(ParseTraceTime("2026-13-24T12:00:00Z"));
  EXPECT_FALSE(ParseTraceTime("yesterday"));
}

// Lines as a cache node writes them, through the shared access-record format.
std::string AccessLine(std::string_view time, std::string_view client, std::string_view route,
                       int status) {
  AccessRecord record;
  record.time = ParseTimestamp(time).value();
  record.node = "bs-0";
  record.client = client;
  record.route = route;
  record.model = "acme/x";
  record.revision = "main";
  record.status = status;
  record.bytes = 10;
  record.cache = "HIT";
  return FormatAccessRecord(record) + "\n";
}

TEST(TraceTest, CountsAccessLogDownloadsOncePerSession) {
  const std::string log = AccessLine("2026-11-24T12:00:00.000Z", "10.0.0.1", "manifest", 200) +
                          AccessLine("2026-11-24T12:00:01.000Z", "10.0.0.1", "resolve", 200) +
                          AccessLine("2026-11-24T12:00:02.000Z", "10.0.0.1", "blocks", 200) +
                          AccessLine("2026-11-24T12:00:03.000Z", "10.0.0.2", "resolve", 404) +
                          AccessLine("2026-11-24T13:00:00.000Z", "10.0.0.1", "resolve", 200);
  auto trace = ParseTrace(log, {});
  ASSERT_TRUE(trace) << trace.error().message;
  ASSERT_EQ(trace->records.size(), 2u);  // one session at 12:00, one at 13:00
  EXPECT_EQ(trace->records[0].user, "10.0.0.1");
  EXPECT_EQ(trace->records[0].node, "bs-0");
  EXPECT_EQ(trace->records[0].model, "acme/x");
  EXPECT_DOUBLE_EQ(trace->records[0].time_s, 1795521600.0);
  EXPECT_EQ(trace->records[1].line, 5u);
}

TEST(TraceTest, AnAccessLogLineMissingAFieldIsMalformed) {
  const std::string partial =
      R"({"time":"2026-11-24T12:00:01.000Z","node":"bs-0","client":"10.0.0.1","route":"resolve","model":"acme/x","revision":"main","status":200})";
  auto trace = ParseTrace(partial + "\n", {});
  ASSERT_FALSE(trace);
  EXPECT_EQ(trace.error().message.rfind("line 1: ", 0), 0u) << trace.error().message;
}

TEST(TraceTest, AMalformedLineFailsWithItsNumber) {
  const std::string text = "1,u,bs-0,acme/x,main\n2,u,bs-0\n3,u,bs-0,acme/x,main\n";
  auto trace = ParseTrace(text, {});
  ASSERT_FALSE(trace);
  EXPECT_EQ(trace.error().message.rfind("line 2: ", 0), 0u) << trace.error().message;
  auto json = ParseTrace("{\"time\": 1, \"node\": \"bs-0\"}\n", {});
  ASSERT_FALSE(json);
  EXPECT_EQ(json.error().message.rfind("line 1: ", 0), 0u) << json.error().message;
  auto time = ParseTrace("soon,u,bs-0,acme/x,main\n", {});
  ASSERT_FALSE(time);
  EXPECT_NE(time.error().message.find("line 1: time \"soon\""), std::string::npos);
}

TEST(TraceTest, SkipBadReadsPastMalformedLinesAndCountsThem) {
  const std::string text = "1,u,bs-0,acme/x,main\n2,u,bs-0\n{broken\n3,u,bs-0,acme/x,main\n";
  auto trace = ParseTrace(text, TraceReadOptions{.skip_bad = true});
  ASSERT_TRUE(trace);
  EXPECT_EQ(trace->records.size(), 2u);
  EXPECT_EQ(trace->skipped, 2u);
  EXPECT_EQ(trace->first_skipped.rfind("line 2: ", 0), 0u);
}

Scenario TwoModels() {
  return testing::ScenarioBuilder()
      .Node("bs-0", 10)
      .User("u-0", {0})
      .Model("acme/x", {{"x", 5}})
      .Model("acme/y", {{"y", 5}})
      .Build();
}

TEST(ResolveTest, UnknownModelNodeOrUserNamesTheLine) {
  Scenario s = TwoModels();
  for (const auto& [text, says] : std::vector<std::pair<std::string, std::string>>{
           {"1,u-0,bs-0,acme/z,main\n", "line 1: unknown model acme/z@main"},
           {"1,u-0,bs-0,acme/x,main\n2,u-0,bs-9,acme/x,main\n", "line 2: unknown node \"bs-9\""},
           {"1,u-7,bs-0,acme/x,main\n", "line 1: unknown user \"u-7\""}}) {
    auto trace = ParseTrace(text, {});
    ASSERT_TRUE(trace);
    auto requests = ResolveTrace(*trace, s.catalog, s.topology, {});
    ASSERT_FALSE(requests);
    EXPECT_EQ(requests.error().message, says);
  }
}

TEST(ResolveTest, UnknownUsersBecomeCellsOfTheirNodeAndSkipBadCounts) {
  Scenario s = TwoModels();
  auto trace = ParseTrace(
      "1,10.0.0.1,bs-0,acme/x,main\n2,10.0.0.2,bs-0,acme/y,main\n"
      "3,u-0,bs-0,acme/nope,main\n",
      {});
  ASSERT_TRUE(trace);
  ResolveReport report;
  auto requests =
      ResolveTrace(*trace, s.catalog, s.topology,
                   ResolveOptions{.cell_rate_bytes_per_s = 1, .skip_bad = true}, &report);
  ASSERT_TRUE(requests) << requests.error().message;
  EXPECT_EQ(requests->size(), 2u);
  EXPECT_EQ(report.skipped, 1u);
  EXPECT_EQ(report.cells_added, 1u);
  EXPECT_EQ(s.topology.users.back().id, "cell:bs-0");
  EXPECT_EQ((*requests)[0].user, (*requests)[1].user);
}

TEST(FitTest, WindowCountsOnlyRecentRequests) {
  std::vector<Request> requests;
  for (int t = 0; t < 100; ++t) requests.push_back(Request{static_cast<double>(t), 0, 0, 0});
  for (int t = 90; t < 100; ++t) requests.push_back(Request{static_cast<double>(t), 0, 0, 1});
  auto all = FitDemand(requests, {});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_NEAR((*all)[0].rate, 100 / 99.0, 1e-9);
  auto window = FitDemand(requests, FitOptions{.window_s = 10});
  ASSERT_TRUE(window);
  ASSERT_EQ(window->size(), 2u);
  EXPECT_NEAR((*window)[0].rate, 1.0, 1e-9);  // 10 requests in the last 10 s
  EXPECT_NEAR((*window)[1].rate, 1.0, 1e-9);
}

TEST(FitTest, EwmaOfASteadyStreamIsItsRate) {
  std::vector<Request> requests;
  for (int t = 0; t < 2000; ++t) requests.push_back(Request{t * 0.5, 0, 0, 0});  // 2 per second
  auto ewma = FitDemand(requests, FitOptions{.half_life_s = 60});
  ASSERT_TRUE(ewma);
  ASSERT_EQ(ewma->size(), 1u);
  EXPECT_NEAR((*ewma)[0].rate, 2.0, 0.02);
  EXPECT_FALSE(FitDemand(requests, FitOptions{.window_s = -1}));
}

}  // namespace
}  // namespace mei::placement
