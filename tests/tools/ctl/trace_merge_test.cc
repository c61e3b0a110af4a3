#include "tools/ctl/trace_merge.h"

#include <gtest/gtest.h>

#include "common/access_record.h"

namespace mei::tools {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::system_clock;

const Clock::time_point kStart = Clock::time_point(milliseconds(1'795'521'600'000));

// A real access-log line of `node` at kStart + `ms`, for `client`.
std::string Line(std::string node, int ms, std::string client = "phone-1") {
  AccessRecord record;
  record.time = kStart + milliseconds(ms);
  record.node = std::move(node);
  record.client = std::move(client);
  record.route = "file";
  record.model = "acme/base";
  record.revision = "main";
  record.path = "model.safetensors";
  record.status = 200;
  record.cache = "HIT";
  return FormatAccessRecord(record);
}

std::vector<TraceLine> Timed(const std::vector<std::string>& lines) {
  TracePager pager("");
  auto more = pager.Add({lines, false});
  EXPECT_TRUE(more && !*more);
  return pager.TakeLines();
}

TEST(CtlTraceMergeTest, MergesNodesIntoTimeOrderKeepingNodeOrderForEqualTimes) {
  const std::vector<std::string> a = {Line("edge-a", 0), Line("edge-a", 20), Line("edge-a", 30)};
  const std::vector<std::string> b = {Line("edge-b", 10), Line("edge-b", 20), Line("edge-b", 40)};
  const std::vector<std::string> merged = MergeByTime({Timed(a), Timed(b)});
  EXPECT_EQ(merged, (std::vector<std::string>{a[0], b[0], a[1], b[1], a[2], b[2]}));
}

TEST(CtlTraceMergeTest, PutsANodesOutOfOrderLinesInTimeOrder) {
  // Concurrent writers may log a later request before an earlier one.
  const std::vector<std::string> a = {Line("edge-a", 50), Line("edge-a", 40), Line("edge-a", 60)};
  EXPECT_EQ(MergeByTime({Timed(a), {}}), (std::vector<std::string>{a[1], a[0], a[2]}));
}

TEST(CtlTraceMergeTest, PagerDropsLinesThatDoNotParse) {
  TracePager pager("");
  auto more =
      pager.Add({{Line("edge-a", 0), "not json", R"({"time":"x"})", Line("edge-a", 5)}, false});
  ASSERT_TRUE(more);
  EXPECT_FALSE(*more);
  EXPECT_EQ(pager.lines().size(), 2u);
  EXPECT_EQ(pager.skipped(), 2u);
}

TEST(CtlTraceMergeTest, PagerContinuesFromTheLastTimeWithoutRepeatingLines) {
  // Three requests in the millisecond at 20; the first reply was cut after two of them.
  const std::string t0 = Line("edge-a", 0), t20a = Line("edge-a", 20, "phone-1"),
                    t20b = Line("edge-a", 20, "phone-2"), t20c = Line("edge-a", 20, "phone-3"),
                    t30 = Line("edge-a", 30);
  TracePager pager("2026-11-24T00:00:00Z");
  EXPECT_EQ(pager.since(), "2026-11-24T00:00:00Z");
  auto more = pager.Add({{t0, t20a, t20b}, true});
  ASSERT_TRUE(more);
  EXPECT_TRUE(*more);
  EXPECT_EQ(pager.since(), FormatTimestamp(kStart + milliseconds(20)));
  // The node answers from 20 on: the two lines of 20 again, then what is new.
  more = pager.Add({{t20a, t20b, t20c, t30}, false});
  ASSERT_TRUE(more);
  EXPECT_FALSE(*more);
  std::vector<std::string> texts;
  for (const TraceLine& line : pager.lines()) texts.push_back(line.text);
  EXPECT_EQ(texts, (std::vector<std::string>{t0, t20a, t20b, t20c, t30}));
  EXPECT_EQ(pager.pages(), 2u);
}

TEST(CtlTraceMergeTest, PagerKeepsIdenticalLinesTheNodeLoggedTwice) {
  // Two identical requests in one millisecond are two lines; the second reply repeats one.
  const std::string same = Line("edge-a", 20);
  TracePager pager("");
  ASSERT_TRUE(pager.Add({{Line("edge-a", 0), same}, true}));
  auto more = pager.Add({{same, same, Line("edge-a", 25)}, false});
  ASSERT_TRUE(more);
  EXPECT_EQ(pager.lines().size(), 4u);
}

TEST(CtlTraceMergeTest, PagerFailsWhenATruncatedReplyBringsNothingNew) {
  const std::string t20 = Line("edge-a", 20);
  TracePager pager("");
  ASSERT_TRUE(pager.Add({{Line("edge-a", 0), t20}, true}));
  auto stuck = pager.Add({{t20}, true});
  ASSERT_FALSE(stuck);
  EXPECT_NE(stuck.error().message.find("no new line"), std::string::npos);
}

}  // namespace
}  // namespace mei::tools
