#include "placement/online.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "tests/placement/scenario_builder.h"

namespace mei::placement {
namespace {

std::vector<Request> RequestsFor(std::initializer_list<std::uint32_t> models) {
  std::vector<Request> requests;
  for (std::uint32_t model : models) requests.push_back(Request{0, 0, 0, model});
  return requests;
}

// One node of 12 bytes holding three fine-tunes of one base (6 shared + 2 each); then a 2-byte
// model needs room. The sharing policy values the base at uses x 3 held models / 6 bytes and
// evicts the least valuable fine-tune's own 2 bytes; every policy stays within capacity.
TEST(OnlineTest, SharingEvictionKeepsTheBaseThatHeldFineTunesNeed) {
  const Scenario s = testing::ScenarioBuilder()
                         .Node("bs-0", 12)
                         .User("u-0", {0})
                         .Model("acme/ft-a", {{"shared", 6}, {"a", 2}})
                         .Model("acme/ft-b", {{"shared", 6}, {"b", 2}})
                         .Model("acme/ft-c", {{"shared", 6}, {"c", 2}})
                         .Model("other/solo", {{"solo", 2}})
                         .Build();
  const Instance instance(s);
  const std::vector<Request> requests = RequestsFor({0, 1, 2, 1, 2, 1, 2, 3});
  for (OnlinePolicy policy : {OnlinePolicy::kLru, OnlinePolicy::kLfu, OnlinePolicy::kSharing}) {
    const Replay replay = ReplayOnline(instance, policy, requests);
    EXPECT_TRUE(WithinCapacity(instance, replay.final));
    EXPECT_EQ(replay.metrics.requests, 8);
    EXPECT_DOUBLE_EQ(replay.metrics.hit_ratio, 4 / 8.0);  // the first of each model misses
  }
  const Replay sharing = ReplayOnline(instance, OnlinePolicy::kSharing, requests);
  EXPECT_FALSE(sharing.final.Available(instance, 0, 0));  // ft-a: used once, evicted
  EXPECT_TRUE(sharing.final.Available(instance, 0, 1));
  EXPECT_TRUE(sharing.final.Available(instance, 0, 2));
  EXPECT_TRUE(sharing.final.Available(instance, 0, 3));
}

// One node of 2 bytes, models a, b, c of 1 byte each; requests a a a b c b. At c the cache holds
// a (last used 3rd, used 3 times) and b (4th, once): LRU evicts a, LFU evicts b. So b's second
// request hits under LRU only, and then LFU evicts c (1 use) for b while a stays.
TEST(OnlineTest, LruEvictsTheLeastRecentlyUsedAndLfuTheLeastUsed) {
  const Scenario s = testing::ScenarioBuilder()
                         .Node("bs-0", 2)
                         .User("u-0", {0})
                         .Model("acme/a", {{"a", 1}})
                         .Model("acme/b", {{"b", 1}})
                         .Model("acme/c", {{"c", 1}})
                         .Build();
  const Instance instance(s);
  const std::vector<Request> requests = RequestsFor({0, 0, 0, 1, 2, 1});

  const Replay lru = ReplayOnline(instance, OnlinePolicy::kLru, requests);
  EXPECT_DOUBLE_EQ(lru.metrics.hit_ratio, 3 / 6.0);  // a, a, b
  EXPECT_DOUBLE_EQ(lru.metrics.origin_bytes, 3);     // a, b, c once each
  EXPECT_FALSE(lru.final.Available(instance, 0, 0));
  EXPECT_TRUE(lru.final.Available(instance, 0, 1));
  EXPECT_TRUE(lru.final.Available(instance, 0, 2));

  const Replay lfu = ReplayOnline(instance, OnlinePolicy::kLfu, requests);
  EXPECT_DOUBLE_EQ(lfu.metrics.hit_ratio, 2 / 6.0);  // a, a
  EXPECT_DOUBLE_EQ(lfu.metrics.origin_bytes, 4);     // a, b, c, then b again
  EXPECT_TRUE(lfu.final.Available(instance, 0, 0));
  EXPECT_TRUE(lfu.final.Available(instance, 0, 1));
  EXPECT_FALSE(lfu.final.Available(instance, 0, 2));
}

}  // namespace
}  // namespace mei::placement
