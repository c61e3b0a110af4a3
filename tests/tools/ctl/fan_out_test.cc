#include "tools/ctl/fan_out.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace mei::tools {
namespace {

Session SessionOf(std::size_t nodes) {
  Session session;
  for (std::size_t i = 0; i < nodes; ++i) {
    session.nodes.push_back({"edge-" + std::to_string(i), "http://10.0.0." + std::to_string(i)});
  }
  session.token = "ctl-test-token-8c1f2e7a";
  return session;
}

TEST(CtlFanOutTest, ReturnsOutcomesInNodeOrderAndKeepsFailuresApart) {
  const auto outcomes =
      CallEachNode(SessionOf(5), [](const AdminClient& client) -> NodeResult<boost::json::value> {
        if (client.node().id == "edge-2") {
          return NodeError{NodeFailure::kUnreachable, 0, "", "down"};
        }
        return boost::json::value(client.node().id);
      });
  ASSERT_EQ(outcomes.size(), 5u);
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    EXPECT_EQ(outcomes[i].node.id, "edge-" + std::to_string(i));
    if (i == 2) {
      EXPECT_FALSE(outcomes[i].reply);
    } else {
      ASSERT_TRUE(outcomes[i].reply);
      EXPECT_EQ(outcomes[i].reply->as_string(), outcomes[i].node.id);
    }
  }
}

TEST(CtlFanOutTest, TalksToTheNodesAtOnce) {
  // Every call waits until all of them have started: only concurrent calls all get through.
  constexpr std::size_t kNodes = 6;
  std::mutex mu;
  std::condition_variable arrived;
  std::size_t started = 0;
  const auto outcomes = CallEachNodeAt(
      SessionOf(kNodes),
      [&](std::size_t index, const AdminClient& client) -> NodeResult<boost::json::value> {
        std::unique_lock lock(mu);
        ++started;
        arrived.notify_all();
        const bool together =
            arrived.wait_for(lock, std::chrono::seconds(30), [&] { return started == kNodes; });
        EXPECT_EQ(client.node().id, "edge-" + std::to_string(index));
        return boost::json::value(together);
      });
  for (const NodeOutcome& outcome : outcomes) {
    ASSERT_TRUE(outcome.reply);
    EXPECT_EQ(*outcome.reply, true) << outcome.node.id << " ran alone";
  }
}

TEST(CtlFanOutTest, RunsNoMoreThanTheBoundAtOnce) {
  // Calls meet in waves of kMaxParallelNodes; one more thread would show as one more running.
  std::mutex mu;
  std::condition_variable changed;
  std::size_t running = 0, most = 0, arrived = 0, wave = 0;
  const auto outcomes = CallEachNode(SessionOf(3 * kMaxParallelNodes), [&](const AdminClient&) {
    std::unique_lock lock(mu);
    most = std::max(most, ++running);
    const std::size_t mine = wave;
    if (++arrived == kMaxParallelNodes) {
      arrived = 0;
      ++wave;
      changed.notify_all();
    }
    const bool met = changed.wait_for(lock, std::chrono::seconds(30), [&] { return wave != mine; });
    --running;
    return NodeResult<boost::json::value>(boost::json::value(met));
  });
  ASSERT_EQ(outcomes.size(), 3 * kMaxParallelNodes);
  for (const NodeOutcome& outcome : outcomes) EXPECT_EQ(*outcome.reply, true);
  EXPECT_EQ(most, kMaxParallelNodes);
}

}  // namespace
}  // namespace mei::tools
