#include "placement/evaluate.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/placement/scenario_builder.h"

namespace mei::placement {
namespace {

// u-0 reaches bs-0 at 2 bytes/s (its home: the fastest) and bs-1 at 1; the origin sends 1 byte/s;
// deadline 1000 s. x is 600 bytes, held at bs-1 only: a hit in 600 s. y is 300 shared with w + 300
// of its own, and bs-0 holds w: a miss fetched through bs-0 from the origin, 300 bytes in 600 s.
// z is 3000 bytes at bs-0: 1500 s, past the deadline, yet faster than the origin's 3000 s, so a
// miss that costs no origin bytes.
class EvaluateTest : public ::testing::Test {
 protected:
  EvaluateTest()
      : scenario_(testing::ScenarioBuilder()
                      .Node("bs-0", 10000)
                      .Node("bs-1", 10000)
                      .LinkedUser("u-0", {Link{0, 2}, Link{1, 1}})
                      .Model("acme/x", {{"x", 600}})
                      .Model("acme/y", {{"shared", 300}, {"y", 300}})
                      .Model("acme/w", {{"shared", 300}, {"w", 300}})
                      .Model("acme/z", {{"z", 3000}})
                      .Demand(0, 0, 1)
                      .Demand(0, 1, 2)
                      .Demand(0, 3, 1)
                      .Build()),
        instance_(scenario_),
        placement_(Placement::Empty(instance_)) {
    placement_.Add(instance_, 1, 0);
    placement_.Add(instance_, 0, 2);
    placement_.Add(instance_, 0, 3);
  }

  Scenario scenario_;
  Instance instance_;
  Placement placement_;
};

TEST_F(EvaluateTest, ServeTakesTheFastestHolderOrTheOriginAndCountsOnlyMissingBytes) {
  const Outcome x = Serve(instance_, placement_, 0, 0, 0);
  EXPECT_TRUE(x.hit);
  EXPECT_DOUBLE_EQ(x.download_s, 600);
  EXPECT_DOUBLE_EQ(x.origin_bytes, 0);
  const Outcome y = Serve(instance_, placement_, 0, 0, 1);
  EXPECT_FALSE(y.hit);
  EXPECT_DOUBLE_EQ(y.download_s, 600);
  EXPECT_DOUBLE_EQ(y.origin_bytes, 300);
  const Outcome y_via_bs1 = Serve(instance_, placement_, 0, 1, 1);
  EXPECT_DOUBLE_EQ(y_via_bs1.download_s, 600);
  EXPECT_DOUBLE_EQ(y_via_bs1.origin_bytes, 600);  // bs-1 holds none of y
  const Outcome z = Serve(instance_, placement_, 0, 0, 3);
  EXPECT_FALSE(z.hit);
  EXPECT_DOUBLE_EQ(z.download_s, 1500);
  EXPECT_DOUBLE_EQ(z.origin_bytes, 0);
}

// Demand x 1, y 2, z 1: times 600 (weight 3) and 1500 (weight 1); 95% of 4 is 3.8, past 3.
TEST_F(EvaluateTest, DemandMetricsAreRateWeightedByHand) {
  const Metrics m = EvaluateDemand(instance_, placement_);
  EXPECT_DOUBLE_EQ(m.requests, 4);
  EXPECT_DOUBLE_EQ(m.hit_ratio, 1 / 4.0);
  EXPECT_DOUBLE_EQ(m.origin_bytes, 2 * 300);
  EXPECT_DOUBLE_EQ(m.mean_download_s, (600 + 2 * 600 + 1500) / 4.0);
  EXPECT_DOUBLE_EQ(m.p95_download_s, 1500);
}

// Twenty requests: x through bs-0 (600 s) nineteen times, then y through bs-1 (600 s, 600 origin
// bytes); one z (1500 s) would be 1 of 21, under 5%, so p95 stays at 600.
TEST_F(EvaluateTest, RequestMetricsCountEachRequestThroughItsNode) {
  std::vector<Request> requests(19, Request{0, 0, 0, 0});
  requests.push_back(Request{0, 0, 1, 1});
  Metrics m = EvaluateRequests(instance_, placement_, requests);
  EXPECT_DOUBLE_EQ(m.requests, 20);
  EXPECT_DOUBLE_EQ(m.hit_ratio, 19 / 20.0);
  EXPECT_DOUBLE_EQ(m.origin_bytes, 600);
  EXPECT_DOUBLE_EQ(m.mean_download_s, 600);
  EXPECT_DOUBLE_EQ(m.p95_download_s, 600);
  requests.push_back(Request{0, 0, 0, 3});
  m = EvaluateRequests(instance_, placement_, requests);
  EXPECT_DOUBLE_EQ(m.mean_download_s, (20 * 600 + 1500) / 21.0);
  EXPECT_DOUBLE_EQ(m.p95_download_s, 600);
  requests.push_back(Request{0, 0, 0, 3});
  m = EvaluateRequests(instance_, placement_, requests);  // 2 of 22: past 5%
  EXPECT_DOUBLE_EQ(m.p95_download_s, 1500);
}

}  // namespace
}  // namespace mei::placement
