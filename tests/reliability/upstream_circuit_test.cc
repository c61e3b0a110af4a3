// Upstream circuits over real processes and sockets (issue 18, "upstream health drives the
// choice"): a planned peer that accepts connections and never answers costs the node a few
// upstream timeouts, then its circuit opens and misses go straight to the parent without touching
// it (the peer's own connection count proves it), and once the peer answers again a probe after
// the backoff closes the circuit and the node fills from it again. And with every upstream's
// circuit open, a miss fails at once instead of waiting for a timeout.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "common/errc.h"
#include "common/http/client.h"
#include "tests/integration/served_cache_node.h"
#include "tests/integration/test_upstream.h"
#include "tests/reliability/misbehaving_upstream.h"

namespace mei {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using testing::AdminStatus;
using testing::Get;
using testing::MetricValue;
using testing::MisbehavingUpstream;
using testing::PlanJson;
using testing::PollUntil;
using testing::ServedCacheNode;
using testing::Sha256OfString;
using testing::UniqueBlocks;
using Clock = std::chrono::steady_clock;

constexpr auto kConnectTimeout = 500ms;
constexpr auto kUpstreamTimeout = 1000ms;
// The first open period; with the default jitter of 0.2 it lasts at least 2.4 s, more than the
// misses the test makes while it is open take.
constexpr auto kBackoff = 3000ms;
constexpr int kFailures = 3;

std::string Millis(std::chrono::milliseconds duration) { return std::to_string(duration.count()); }

std::vector<std::string> CircuitFlags() {
  return {"--connect-timeout-ms",     Millis(kConnectTimeout),
          "--upstream-timeout-ms",    Millis(kUpstreamTimeout),
          "--circuit-failures",       std::to_string(kFailures),
          "--circuit-backoff-ms",     Millis(kBackoff),
          "--circuit-max-backoff-ms", "10000"};
}

std::uint64_t UintOf(const json::object& object, const char* key) {
  const json::value* value = object.if_contains(key);
  return value != nullptr && value->is_number() ? value->to_number<std::uint64_t>() : 0;
}

std::string StringOf(const json::object& object, const char* key) {
  const json::value* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : "";
}

// The admin status's entry for `name` among the node's upstreams; empty when it is not there.
json::object UpstreamStatus(const ServedCacheNode& node, const std::string& name) {
  const json::object status = AdminStatus(node);
  if (const json::value* upstreams = status.if_contains("upstreams");
      upstreams != nullptr && upstreams->is_array()) {
    for (const json::value& upstream : upstreams->as_array()) {
      if (upstream.is_object() && StringOf(upstream.as_object(), "name") == name) {
        return upstream.as_object();
      }
    }
  }
  return {};
}

// The value of a node's per-upstream series `name{upstream="UPSTREAM"}`, -1 when absent.
double UpstreamMetric(const ServedCacheNode& node, std::string_view name,
                      const std::string& upstream) {
  return MetricValue(node.Url("/metrics"), std::string(name) + "{upstream=\"" + upstream + "\"}")
      .value_or(-1);
}

class UpstreamCircuitTest : public testing::CacheNodeTest {};

TEST_F(UpstreamCircuitTest, SilentPeerIsSkippedOnceItsCircuitOpensAndUsedAgainAfterItRecovers) {
  const std::string peer_name = "peer:peer-b";
  auto parent = StartUpstream("origin");
  auto silent = MisbehavingUpstream::Start(store_, {.fault = MisbehavingUpstream::Fault::kSilent});
  ASSERT_TRUE(parent && silent);
  const std::uint16_t peer_port = silent->port();
  ServedCacheNode node = StartNode("edge-1", parent->Url(), CircuitFlags());
  ASSERT_FALSE(node.endpoint.empty());
  // The plan says peer-b holds every block of acme/small (and gives its URL): each miss asks it
  // first.
  const std::vector<BlockId> ids = UniqueBlocks(small_);
  ASSERT_GE(ids.size(), 16u);
  PutPlan(node, PlanJson({{"peer-b", silent->Url(), ids, ""}, {"edge-1", node.Url(), {}, ""}}));
  std::size_t next = 0;  // the next block of `ids` no request has asked for yet
  const auto miss = [&](std::chrono::milliseconds* took = nullptr) {
    const BlockId& id = ids.at(next++);
    const Clock::time_point started = Clock::now();
    const http::ClientResponse reply = Get(node.Url("/v1/blocks/" + id.Hex()));
    if (took != nullptr) {
      *took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    }
    EXPECT_EQ(reply.status, 200) << reply.body;
    EXPECT_EQ(reply.Header("X-Cache"), "MISS");
    EXPECT_EQ(Sha256OfString(reply.body), id);
  };

  // Each of the first misses waits for the silent peer's timeout, then fills from the parent.
  for (int i = 0; i < kFailures; ++i) {
    std::chrono::milliseconds took{};
    miss(&took);
    EXPECT_GE(took, kUpstreamTimeout) << "miss " << i << " did not wait for the peer";
  }
  const Clock::time_point opened = Clock::now();
  EXPECT_TRUE(silent->WaitForBlockRequests(kFailures));
  EXPECT_EQ(silent->connections(), static_cast<std::uint64_t>(kFailures));
  json::object peer = UpstreamStatus(node, peer_name);
  EXPECT_EQ(StringOf(peer, "circuit"), "open") << json::serialize(peer);
  EXPECT_EQ(StringOf(peer, "url"), silent->Url());
  EXPECT_EQ(UintOf(peer, "consecutive_failures"), static_cast<std::uint64_t>(kFailures));
  EXPECT_EQ(UintOf(peer, "opens"), 1u);
  EXPECT_NE(StringOf(peer, "open_until"), "");
  EXPECT_EQ(StringOf(UpstreamStatus(node, "parent"), "circuit"), "closed");

  // While its circuit is open the peer is not contacted at all, and misses do not wait for it.
  constexpr int kSkipped = 5;
  for (int i = 0; i < kSkipped; ++i) {
    std::chrono::milliseconds took{};
    miss(&took);
    EXPECT_LT(took, kUpstreamTimeout) << "skipped miss " << i << " waited for the peer";
  }
  EXPECT_EQ(silent->connections(), static_cast<std::uint64_t>(kFailures));
  EXPECT_EQ(silent->block_requests(), static_cast<std::uint64_t>(kFailures));
  EXPECT_EQ(parent->block_requests_from("edge-1"), static_cast<std::uint64_t>(next));
  peer = UpstreamStatus(node, peer_name);
  EXPECT_EQ(StringOf(peer, "circuit"), "open") << json::serialize(peer);
  EXPECT_EQ(UintOf(peer, "skips"), static_cast<std::uint64_t>(kSkipped));
  EXPECT_EQ(UpstreamMetric(node, "mei_cache_upstream_circuit_state", peer_name), 1);
  EXPECT_EQ(UpstreamMetric(node, "mei_cache_upstream_circuit_opens_total", peer_name), 1);
  EXPECT_EQ(UpstreamMetric(node, "mei_cache_upstream_skips_total", peer_name), kSkipped);
  EXPECT_EQ(UpstreamMetric(node, "mei_cache_upstream_circuit_state", "parent"), 0);
  EXPECT_EQ(UpstreamMetric(node, "mei_cache_upstream_skips_total", "parent"), 0);

  // The peer comes back as a real data plane on the same port. One block is purged and asked for
  // again until a miss reaches the peer: the probe the circuit admits once its period is over.
  silent.reset();
  auto peer_back = testing::TestUpstream::Start(store_, "peer-b", peer_port);
  ASSERT_TRUE(peer_back);
  const BlockId probe_block = ids.at(next++);
  const std::string purge_body = "{\"blocks\": [\"" + probe_block.Hex() + "\"]}";
  const Clock::time_point waiting = Clock::now();
  EXPECT_TRUE(PollUntil(
      [&] {
        EXPECT_EQ(testing::AdminRequest(node, "POST", "/admin/v1/purge", purge_body).status, 200);
        const http::ClientResponse reply = Get(node.Url("/v1/blocks/" + probe_block.Hex()));
        EXPECT_EQ(reply.status, 200) << reply.body;
        return peer_back->block_requests_from("edge-1") > 0;
      },
      10 * kBackoff))
      << "the recovered peer was never probed";
  const auto since = [](Clock::time_point then) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - then).count();
  };
  std::cout << "the probe reached the peer " << since(waiting) << " ms after it came back, "
            << since(opened) << " ms after its circuit opened\n";
  EXPECT_EQ(peer_back->block_requests_from("edge-1"), 1u);
  peer = UpstreamStatus(node, peer_name);
  EXPECT_EQ(StringOf(peer, "circuit"), "closed") << json::serialize(peer);
  EXPECT_EQ(UintOf(peer, "consecutive_failures"), 0u);
  EXPECT_EQ(StringOf(peer, "open_until"), "");
  EXPECT_EQ(UpstreamMetric(node, "mei_cache_upstream_circuit_state", peer_name), 0);
  EXPECT_EQ(UpstreamMetric(node, "mei_cache_upstream_circuit_opens_total", peer_name), 1);

  // Used again: every further miss fills from the peer, none from the parent.
  const std::uint64_t parent_before = parent->block_requests_from("edge-1");
  constexpr int kFromPeer = 3;
  for (int i = 0; i < kFromPeer; ++i) miss();
  EXPECT_EQ(peer_back->block_requests_from("edge-1"), 1u + kFromPeer);
  EXPECT_EQ(parent->block_requests_from("edge-1"), parent_before);
}

TEST_F(UpstreamCircuitTest, WithEveryUpstreamsCircuitOpenAMissFailsAtOnceUntilAProbeWorks) {
  auto parent = StartUpstream("origin");
  ASSERT_TRUE(parent);
  // No readiness probe of the parent after the first: only the test's misses count.
  std::vector<std::string> flags = CircuitFlags();
  flags.insert(flags.end(), {"--health-interval-ms", "3600000"});
  ServedCacheNode node = StartNode("edge-1", parent->Url(), flags);
  ASSERT_FALSE(node.endpoint.empty());
  const std::vector<BlockId> ids = UniqueBlocks(small_);
  ASSERT_GE(ids.size(), 2u);
  const std::string url = node.Url("/v1/blocks/" + ids[0].Hex());

  // The node probes its parent once at start, on a thread of its own: that probe must be answered
  // before the parent stops, or its failure would count towards the circuit with the misses'.
  ASSERT_TRUE(PollUntil([&] { return UintOf(UpstreamStatus(node, "parent"), "successes") >= 1; }));
  parent->Stop();
  for (int i = 0; i < kFailures; ++i) {
    const http::ClientResponse refused = Get(url);
    EXPECT_TRUE(refused.status == 502 || refused.status == 504)
        << refused.status << " " << refused.body;
    testing::ExpectJsonError(
        refused, refused.status == 504 ? Errc::kUpstreamTimeout : Errc::kUpstreamFailed);
  }
  EXPECT_EQ(StringOf(UpstreamStatus(node, "parent"), "circuit"), "open");

  // The parent is back, but its circuit is open: a miss fails at once, without asking it.
  ASSERT_TRUE(parent->Restart());
  const std::uint64_t asked = parent->block_requests();
  const http::ClientResponse skipped = Get(url);
  EXPECT_EQ(skipped.status, 502) << skipped.body;
  testing::ExpectJsonError(skipped, Errc::kUpstreamFailed);
  EXPECT_EQ(parent->block_requests(), asked);
  EXPECT_EQ(UpstreamMetric(node, "mei_cache_upstream_skips_total", "parent"), 1);

  // After the open period, the next miss is the probe: it fills, and the circuit closes.
  EXPECT_TRUE(PollUntil([&] { return Get(url).status == 200; }, 10 * kBackoff));
  EXPECT_EQ(StringOf(UpstreamStatus(node, "parent"), "circuit"), "closed");
  const http::ClientResponse next = Get(node.Url("/v1/blocks/" + ids[1].Hex()));
  EXPECT_EQ(next.status, 200) << next.body;
  EXPECT_EQ(Sha256OfString(next.body), ids[1]);
}

}  // namespace
}  // namespace mei
