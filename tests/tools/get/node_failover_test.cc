#include "tools/get/node_failover.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <latch>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace mei::tools {
namespace {

using Order = std::vector<std::size_t>;

std::vector<http::RemoteNode> Nodes(std::size_t count) {
  std::vector<http::RemoteNode> nodes;
  for (std::size_t i = 0; i < count; ++i) {
    const std::string url = "http://127.0.0.1:" + std::to_string(9090 + i);
    nodes.push_back({"node" + std::to_string(i), url});
  }
  return nodes;
}

// What a report counts, comparable and printable.
auto CountsOf(const NodeFailover::NodeReport& r) {
  return std::tuple(r.blocks, r.wire_bytes, r.failures, r.bad_blocks, r.down, r.last_error);
}

const Error kTimeout{Errc::kUpstreamTimeout, "node sent nothing for 10 s"};
const Error kRefused{Errc::kUpstreamFailed, "connection refused"};
const Error kBadBlock{Errc::kIntegrity, "node sent bytes whose SHA-256 is wrong"};

TEST(NodeFailoverTest, OrderIsTheGivenOrderWhileEveryNodeIsInGoodStanding) {
  const NodeFailover nodes(Nodes(3));
  EXPECT_EQ(nodes.Order(), (Order{0, 1, 2}));
  EXPECT_EQ(nodes.size(), 3u);
  EXPECT_EQ(nodes.node(1).name, "node1");
  EXPECT_EQ(nodes.node(2).base_url, "http://127.0.0.1:9092");
}

TEST(NodeFailoverTest, KFailuresInARowOrOneBadBlockDemoteANodeToTheEnd) {
  static_assert(NodeFailover::kFailuresToDemote > 1);
  struct Case {
    const char* name;
    std::vector<Error> failures;  // of node 1, in order
    bool down;
  };
  std::vector<Error> mixed(NodeFailover::kFailuresToDemote - 1, kTimeout);
  mixed.push_back(kRefused);
  const std::vector<Case> cases = {
      {"one_timeout", {kTimeout}, false},
      {"one_fewer_than_needed", std::vector<Error>(NodeFailover::kFailuresToDemote - 1, kRefused),
       false},
      {"failures_to_demote", std::vector<Error>(NodeFailover::kFailuresToDemote, kRefused), true},
      {"mixed_failures_in_a_row", mixed, true},
      {"one_bad_block", {kBadBlock}, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    NodeFailover nodes(Nodes(3));
    for (const Error& error : c.failures) nodes.Failed(1, error);
    EXPECT_EQ(nodes.Order(), (c.down ? Order{0, 2, 1} : Order{0, 1, 2}));
    EXPECT_EQ(nodes.Reports()[1].down, c.down);
  }
}

TEST(NodeFailoverTest, ASuccessBetweenFailuresStartsTheCountAgain) {
  NodeFailover nodes(Nodes(2));
  for (std::uint64_t i = 0; i + 1 < NodeFailover::kFailuresToDemote; ++i) nodes.Failed(0, kTimeout);
  nodes.Succeeded(0, 1, 100);
  for (std::uint64_t i = 0; i + 1 < NodeFailover::kFailuresToDemote; ++i) nodes.Failed(0, kTimeout);
  EXPECT_EQ(nodes.Order(), (Order{0, 1}));
  EXPECT_FALSE(nodes.Reports()[0].down);
}

TEST(NodeFailoverTest, ASuccessRestoresADownNode) {
  NodeFailover nodes(Nodes(2));
  nodes.Failed(0, kBadBlock);
  ASSERT_EQ(nodes.Order(), (Order{1, 0}));
  nodes.Succeeded(0, 0, 0);  // a manifest counts too
  EXPECT_EQ(nodes.Order(), (Order{0, 1}));
  EXPECT_FALSE(nodes.Reports()[0].down);
  // And it takes kFailuresToDemote failures again, not one, to put it down.
  nodes.Failed(0, kTimeout);
  EXPECT_EQ(nodes.Order(), (Order{0, 1}));
}

TEST(NodeFailoverTest, DownNodesStayInOrderKeepingTheirGivenOrder) {
  NodeFailover nodes(Nodes(4));
  nodes.Failed(2, kBadBlock);
  nodes.Failed(0, kBadBlock);
  EXPECT_EQ(nodes.Order(), (Order{1, 3, 0, 2}));
  nodes.Failed(1, kBadBlock);
  nodes.Failed(3, kBadBlock);
  EXPECT_EQ(nodes.Order(), (Order{0, 1, 2, 3}));  // every node down: still every node
}

TEST(NodeFailoverTest, ReportsCountWhatEachNodeDid) {
  NodeFailover nodes(Nodes(2));
  nodes.Succeeded(0, 1, 1000);
  nodes.Succeeded(0, 2, 500);
  nodes.Failed(0, kTimeout);
  nodes.Failed(1, kBadBlock);
  nodes.Failed(1, kRefused);

  const std::vector<NodeFailover::NodeReport> reports = nodes.Reports();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].node.name, "node0");
  EXPECT_EQ(reports[1].node.base_url, "http://127.0.0.1:9091");
  // blocks, wire_bytes, failures, bad_blocks, down, last_error
  EXPECT_EQ(CountsOf(reports[0]), std::tuple(3u, 1500u, 1u, 0u, false, kTimeout.message));
  EXPECT_EQ(CountsOf(reports[1]), std::tuple(0u, 0u, 2u, 1u, true, kRefused.message));
}

TEST(NodeFailoverTest, ANodeThatNeverFailedHasNoLastError) {
  NodeFailover nodes(Nodes(1));
  nodes.Succeeded(0, 1, 10);
  EXPECT_EQ(nodes.Reports()[0].last_error, "");
  EXPECT_EQ(nodes.Reports()[0].failures, 0u);
}

TEST(NodeFailoverTest, ReportsFromManyThreadsAtOnceAreAllCounted) {
  constexpr int kThreads = 8;
  constexpr int kEach = 1000;
  NodeFailover nodes(Nodes(2));
  std::latch start(kThreads);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        for (int i = 0; i < kEach; ++i) {
          nodes.Succeeded(0, 1, 3);
          nodes.Failed(1, kTimeout);
          (void)nodes.Order();
        }
      });
    }
  }
  const std::vector<NodeFailover::NodeReport> reports = nodes.Reports();
  EXPECT_EQ(reports[0].blocks, std::uint64_t{kThreads} * kEach);
  EXPECT_EQ(reports[0].wire_bytes, std::uint64_t{kThreads} * kEach * 3);
  EXPECT_EQ(reports[1].failures, std::uint64_t{kThreads} * kEach);
  EXPECT_EQ(nodes.Order(), (Order{0, 1}));
}

}  // namespace
}  // namespace mei::tools
