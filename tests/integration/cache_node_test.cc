// `mei-cache-node` filling misses over real sockets on 127.0.0.1, from a TestUpstream that counts
// and holds block requests: coalescing of concurrent misses, refusal of corrupted blocks, an origin
// that stops and comes back, kill -9 during fills, a planned peer, and stock clients through the
// node. Capacity, eviction and the admin API's authentication are in cache_node_admin_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/digest.h"
#include "common/errc.h"
#include "tests/integration/served_cache_node.h"
#include "tests/integration/served_origin.h"

namespace mei {
namespace {

namespace fs = std::filesystem;
using testing::AdminStatus;
using testing::CacheNodeTest;
using testing::ExpectJsonError;
using testing::Get;
using testing::MetricValue;
using testing::PlanJson;
using testing::PollUntil;
using testing::ServedCacheNode;
using testing::Sha256OfString;
using testing::StoredBlockIds;
using testing::TestUpstream;
using testing::UniqueBlocks;

constexpr char kSafetensors[] = "/acme/base/resolve/main/model.safetensors";

TEST_F(CacheNodeTest, SixtyFourConcurrentColdRequestsForOneBlockMakeOneUpstreamRequest) {
  constexpr int kClients = 64;
  auto origin = StartUpstream();
  ASSERT_TRUE(origin);
  // The default workers (one per core): a request waiting for a fill holds none of them.
  auto node = StartNode("edge-1", origin->Url());
  ASSERT_FALSE(node.endpoint.empty());
  const ManifestBlock block = LargestBlock(base_);
  const std::string hex = block.id.Hex();

  origin->HoldBlocks();
  std::vector<http::ClientResponse> responses(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      // One connection per client: none may wait for another's to be free.
      auto response = testing::FetchOnce(node.Url("/v1/blocks/" + hex));
      if (response)
        responses[i] = std::move(*response);
      else
        ADD_FAILURE() << "client " << i << ": " << response.error().message;
    });
  }
  const bool fill_started = origin->WaitForBlockRequests(1);
  // Every later request joins the fill under way; the node shows that only through its metric,
  // which it serves meanwhile: 64 requests waiting for a fill hold none of its two workers.
  const bool all_joined = PollUntil([&] {
    return MetricValue(node.Url("/metrics"), "mei_cache_coalesced_waiters_total").value_or(0) >=
           kClients - 1;
  });
  origin->ReleaseBlocks();
  for (std::thread& client : clients) client.join();

  EXPECT_TRUE(fill_started);
  EXPECT_TRUE(all_joined) << "fewer than " << kClients - 1 << " requests joined the fill";
  EXPECT_EQ(origin->block_requests_for(block.id), 1u);
  EXPECT_EQ(origin->block_requests(), 1u);
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(responses[i].status, 200) << "client " << i << ": " << responses[i].body;
    EXPECT_EQ(Sha256OfString(responses[i].body), block.id) << "client " << i;
  }
  EXPECT_EQ(MetricValue(node.Url("/metrics"), "mei_cache_coalesced_waiters_total"), kClients - 1);
}

TEST_F(CacheNodeTest, CorruptBlockFromAPlannedPeerIsRefusedAndTheParentsCopyIsServed) {
  auto parent = StartUpstream("origin");
  auto peer = StartUpstream("peer-p");
  ASSERT_TRUE(parent && peer);
  peer->CorruptBlocks(true);
  auto node = StartNode("edge-1", parent->Url());
  ASSERT_FALSE(node.endpoint.empty());
  const ManifestBlock block = LargestBlock(base_);
  PutPlan(node,
          PlanJson({{"peer-p", peer->Url(), {block.id}, ""}, {"edge-1", node.Url(), {}, ""}}));

  const http::ClientResponse first = Get(node.Url("/v1/blocks/" + block.id.Hex()));
  EXPECT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(Sha256OfString(first.body), block.id);
  EXPECT_EQ(peer->block_requests_for(block.id), 1u) << "the planned peer was not asked first";
  EXPECT_EQ(parent->block_requests_for(block.id), 1u);
  EXPECT_EQ(MetricValue(node.Url("/metrics"),
                        "mei_cache_integrity_failures_total{upstream=\"peer:peer-p\"}"),
            1);
  EXPECT_EQ(StoredBlockIds(node), std::vector<BlockId>{block.id});

  const http::ClientResponse again = Get(node.Url("/v1/blocks/" + block.id.Hex()));
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.Header("X-Cache"), "HIT");
  EXPECT_EQ(peer->block_requests() + parent->block_requests(), 2u);
}

TEST_F(CacheNodeTest, CorruptBlockFromTheOnlyUpstreamIs502AndNothingIsStored) {
  auto parent = StartUpstream();
  ASSERT_TRUE(parent);
  parent->CorruptBlocks(true);
  auto node = StartNode("edge-1", parent->Url());
  ASSERT_FALSE(node.endpoint.empty());
  const ManifestBlock block = LargestBlock(base_);

  const http::ClientResponse response = Get(node.Url("/v1/blocks/" + block.id.Hex()));
  EXPECT_EQ(response.status, 502);
  ExpectJsonError(response, Errc::kUpstreamFailed);
  EXPECT_EQ(parent->block_requests_for(block.id), 1u);
  EXPECT_EQ(
      MetricValue(node.Url("/metrics"), "mei_cache_integrity_failures_total{upstream=\"parent\"}"),
      1);
  EXPECT_TRUE(StoredBlockIds(node).empty());
  EXPECT_EQ(AdminStatus(node).at("used_bytes").to_number<std::uint64_t>(), 0u);
}

TEST_F(CacheNodeTest, MissWhileTheParentHangsIs504WithinTheUpstreamTimeout) {
  constexpr auto kUpstreamTimeout = std::chrono::milliseconds(1000);
  auto parent = StartUpstream();
  ASSERT_TRUE(parent);
  auto node = StartNode("edge-1", parent->Url(),
                        {"--upstream-timeout-ms", std::to_string(kUpstreamTimeout.count())});
  ASSERT_FALSE(node.endpoint.empty());
  parent->HoldBlocks();

  const auto started = std::chrono::steady_clock::now();
  const http::ClientResponse response = Get(node.Url("/v1/blocks/" + LargestBlock(base_).id.Hex()));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  parent->ReleaseBlocks();

  EXPECT_EQ(response.status, 504) << response.body;
  ExpectJsonError(response, Errc::kUpstreamTimeout);
  EXPECT_GE(elapsed, kUpstreamTimeout);
  EXPECT_LT(elapsed, kUpstreamTimeout + std::chrono::seconds(4));
  EXPECT_TRUE(StoredBlockIds(node).empty());
}

TEST_F(CacheNodeTest, StoppedParentLeavesHitsAndStaleManifestsAndBackParentFillsAgain) {
  constexpr auto kConnectTimeout = std::chrono::milliseconds(500);
  constexpr auto kUpstreamTimeout = std::chrono::milliseconds(1000);
  auto parent = StartUpstream();
  ASSERT_TRUE(parent);
  // The parent is probed for readiness only at start: the two failures below (a miss, a manifest)
  // stay under the three that would open its circuit and fail the fill after it is back.
  auto node =
      StartNode("edge-1", parent->Url(),
                {"--revision-ttl-ms", "1", "--connect-timeout-ms",
                 std::to_string(kConnectTimeout.count()), "--upstream-timeout-ms",
                 std::to_string(kUpstreamTimeout.count()), "--health-interval-ms", "3600000"});
  ASSERT_FALSE(node.endpoint.empty());
  const std::string manifest_url = node.Url("/v1/models/acme/base/revisions/main/manifest");
  const std::vector<BlockId> ids = UniqueBlocks(base_);
  ASSERT_GE(ids.size(), 2u);
  const std::string held = node.Url("/v1/blocks/" + ids[0].Hex());
  const std::string missing = node.Url("/v1/blocks/" + ids[1].Hex());
  ASSERT_EQ(Get(manifest_url).status, 200);
  ASSERT_EQ(Get(held).Header("X-Cache"), "MISS");

  parent->Stop();
  const http::ClientResponse hit = Get(held);
  EXPECT_EQ(hit.status, 200);
  EXPECT_EQ(hit.Header("X-Cache"), "HIT");
  EXPECT_EQ(Sha256OfString(hit.body), ids[0]);

  const auto started = std::chrono::steady_clock::now();
  const http::ClientResponse miss = Get(missing);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(miss.status == 502 || miss.status == 504) << miss.status << " " << miss.body;
  ExpectJsonError(miss, miss.status == 504 ? Errc::kUpstreamTimeout : Errc::kUpstreamFailed);
  EXPECT_LT(elapsed, kConnectTimeout + kUpstreamTimeout + std::chrono::seconds(2));

  // The revision name's 1 ms TTL has run out: the node must ask the parent, cannot, and serves
  // the commit it knows.
  const http::ClientResponse stale = Get(manifest_url);
  EXPECT_EQ(stale.status, 200) << stale.body;
  EXPECT_EQ(ParseManifest(stale.body).value().commit, base_.commit);
  EXPECT_GE(MetricValue(node.Url("/metrics"), "mei_cache_manifest_lookups_total{state=\"stale\"}")
                .value_or(0),
            1);

  ASSERT_TRUE(parent->Restart());
  const http::ClientResponse filled = Get(missing);
  EXPECT_EQ(filled.status, 200) << filled.body;
  EXPECT_EQ(filled.Header("X-Cache"), "MISS");
  EXPECT_EQ(Sha256OfString(filled.body), ids[1]);
  EXPECT_EQ(Get(manifest_url).status, 200);
}

TEST_F(CacheNodeTest, KillNineDuringFillsThenRestartLeavesOnlyWholeVerifiedBlocks) {
  auto origin = StartUpstream();
  ASSERT_TRUE(origin);
  const fs::path store = scratch_ / "edge-store";
  const std::vector<BlockId> ids = UniqueBlocks(base_);
  {
    // One block made durable first: block writes skip the write-ahead log (StoreOptions::
    // log_block_writes), so only what a flush wrote survives a kill; a clean stop flushes.
    auto first = StartNode("edge-1", origin->Url(), {}, store);
    ASSERT_FALSE(first.endpoint.empty());
    ASSERT_EQ(Get(first.Url("/v1/blocks/" + ids.front().Hex())).status, 200);
    first.process.Signal(SIGTERM);
    ASSERT_EQ(first.process.WaitFor(std::chrono::seconds(30)), 0);
  }
  auto node = StartNode("edge-1", origin->Url(), {}, store, "killed");
  ASSERT_FALSE(node.endpoint.empty());

  origin->HoldBlocks();
  const std::uint64_t before = origin->block_requests();
  std::thread download([url = node.Url(kSafetensors)] { (void)testing::FetchOnce(url); });
  const bool in_flight = origin->WaitForBlockRequests(before + 2);
  // The held fills now receive their blocks, and the node dies while they arrive and are stored.
  origin->ReleaseBlocks();
  node.process.Signal(SIGKILL);
  EXPECT_EQ(node.process.WaitFor(std::chrono::seconds(30)), 128 + SIGKILL);
  download.join();
  ASSERT_TRUE(in_flight);

  auto restarted = StartNode("edge-1", origin->Url(), {}, store, "restarted");
  ASSERT_FALSE(restarted.endpoint.empty()) << "the node does not start on its killed store";
  const std::vector<BlockId> stored = StoredBlockIds(restarted);
  EXPECT_NE(std::find(stored.begin(), stored.end(), ids.front()), stored.end())
      << "the block stored before a clean stop was lost";
  EXPECT_EQ(AdminStatus(restarted).at("blocks").to_number<std::uint64_t>(), stored.size());
  for (const BlockId& id : stored) {
    const http::ClientResponse block = Get(restarted.Url("/v1/blocks/" + id.Hex()));
    EXPECT_EQ(block.status, 200) << id.Hex() << ": " << block.body;
    EXPECT_EQ(block.Header("X-Cache"), "HIT") << id.Hex();
    EXPECT_EQ(Sha256OfString(block.body), id) << "stored block " << id.Hex() << " is damaged";
  }
  const http::ClientResponse file = Get(restarted.Url(kSafetensors));
  EXPECT_EQ(file.status, 200);
  EXPECT_EQ(Sha256OfString(file.body), testing::Sha256OfFile(Source("model.safetensors")));
}

TEST_F(CacheNodeTest, BlocksAPlanPlacesOnAPeerComeFromThePeerNotTheOrigin) {
  auto origin = StartUpstream();
  ASSERT_TRUE(origin);
  auto peer = StartNode("edge-b", origin->Url());
  auto node = StartNode("edge-a", origin->Url());
  ASSERT_FALSE(peer.endpoint.empty() || node.endpoint.empty());

  const http::ClientResponse queued = testing::AdminRequest(
      peer, "POST", "/admin/v1/prefetch", R"({"model": "acme/base", "revision": "main"})");
  ASSERT_EQ(queued.status, 202) << queued.body;
  // The prefetch runs in the background; its progress is only visible in the admin status.
  std::string state;
  PollUntil([&] {
    const boost::json::object status = AdminStatus(peer);
    const boost::json::value* jobs = status.if_contains("prefetch");
    if (jobs == nullptr || !jobs->is_array()) return false;
    for (const auto& job : jobs->get_array()) {
      if (job.at("model").as_string() == "acme/base") state = job.at("state").as_string();
    }
    return state == "done" || state == "failed";
  });
  ASSERT_EQ(state, "done");
  const std::vector<BlockId> ids = UniqueBlocks(base_);
  ASSERT_EQ(StoredBlockIds(peer).size(), ids.size());

  PutPlan(node,
          PlanJson({{"edge-b", peer.Url(), ids, "acme/base"}, {"edge-a", node.Url(), {}, ""}}));
  const http::ClientResponse file = Get(node.Url(kSafetensors));
  EXPECT_EQ(file.status, 200);
  EXPECT_EQ(Sha256OfString(file.body), testing::Sha256OfFile(Source("model.safetensors")));

  EXPECT_EQ(origin->block_requests_from("edge-a"), 0u);
  EXPECT_EQ(origin->block_requests_from("edge-b"), ids.size());
  EXPECT_GT(
      MetricValue(node.Url("/metrics"), "mei_cache_upstream_bytes_total{upstream=\"peer:edge-b\"}")
          .value_or(0),
      0);
  EXPECT_FALSE(
      MetricValue(node.Url("/metrics"), "mei_cache_upstream_bytes_total{upstream=\"parent\"}"));
}

// A plan that places a block on two nodes makes each the other's peer for it. Neither holds it yet:
// each asks the other only-if-cached (a 504, not a fill of its own from its peer, which would wait
// on the first fill: a loop until the upstream timeout), then the parent.
TEST_F(CacheNodeTest, PeersThatEachExpectTheOtherToHoldABlockFillItFromTheParentAtOnce) {
  auto origin = StartUpstream();
  ASSERT_TRUE(origin);
  // An upstream timeout far above the client's: a loop between the peers would show as a timeout.
  auto a = StartNode("edge-a", origin->Url(), {"--upstream-timeout-ms", "60000"});
  auto b = StartNode("edge-b", origin->Url(), {"--upstream-timeout-ms", "60000"});
  ASSERT_FALSE(a.endpoint.empty() || b.endpoint.empty());
  const std::vector<BlockId> ids = UniqueBlocks(base_);
  const std::string plan =
      PlanJson({{"edge-a", a.Url(), ids, "acme/base"}, {"edge-b", b.Url(), ids, "acme/base"}});
  PutPlan(a, plan);
  PutPlan(b, plan);

  const BlockId id = LargestBlock(base_).id;
  http::ClientRequest request;
  request.url = a.Url("/v1/blocks/" + id.Hex());
  http::ClientOptions options;
  options.idle_timeout = std::chrono::seconds(10);
  auto reply = http::Fetch(request, options);
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(Sha256OfString(reply->body), id);
  EXPECT_GE(origin->block_requests_for(id), 1u);

  // And a peer asked only-if-cached for what it lacks says 504 without filling it.
  // (A block of acme/small that acme/base, which the plan makes both nodes prefetch, lacks.)
  const std::vector<BlockId> small_ids = UniqueBlocks(small_);
  const auto lacking = std::find_if(small_ids.begin(), small_ids.end(), [&](const BlockId& x) {
    return std::find(ids.begin(), ids.end(), x) == ids.end();
  });
  ASSERT_NE(lacking, small_ids.end());
  const BlockId other = *lacking;
  const auto misses_before =
      MetricValue(b.Url("/metrics"), "mei_cache_requests_total{result=\"miss\"}").value_or(0);
  auto refused =
      testing::FetchOnce(b.Url("/v1/blocks/" + other.Hex()), {{"Cache-Control", "only-if-cached"}});
  ASSERT_TRUE(refused) << refused.error().message;
  EXPECT_EQ(refused->status, 504);
  testing::ExpectJsonError(*refused, Errc::kUpstreamTimeout);
  EXPECT_EQ(origin->block_requests_for(other), 0u);
  // A refused probe is no client's miss: the node's hit ratio does not count it.
  EXPECT_EQ(MetricValue(b.Url("/metrics"), "mei_cache_requests_total{result=\"miss\"}").value_or(0),
            misses_before);
}

// curl through the node: the whole file (a miss, then a hit) and a range, byte for byte, with the
// cache headers a client can see.
TEST_F(CacheNodeTest, CurlThroughTheNodeIsByteIdenticalWithMissThenHitHeaders) {
  auto curl = testing::RequireTool("curl");
  ASSERT_TRUE(curl);
  auto origin = StartUpstream();
  ASSERT_TRUE(origin);
  auto node = StartNode("edge-1", origin->Url());
  ASSERT_FALSE(node.endpoint.empty());
  const fs::path source = Source("model.safetensors");
  auto run_curl = [&](const std::vector<std::string>& args, const std::string& name) {
    std::vector<std::string> argv = {curl->string(),
                                     "-sS",
                                     "--fail",
                                     "--noproxy",
                                     "*",
                                     "--max-time",
                                     "120",
                                     "-D",
                                     (scratch_ / (name + ".head")).string(),
                                     "-o",
                                     (scratch_ / name).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(node.Url(kSafetensors));
    auto run = testing::RunProcess(argv, scratch_ / "curl", testing::LoopbackEnvironment());
    EXPECT_EQ(run.exit_code, 0) << run.err;
    std::ifstream head_file(scratch_ / (name + ".head"));
    std::ostringstream head;
    head << head_file.rdbuf();
    return testing::ParseHeadDump(head.str());
  };

  const auto cold = run_curl({}, "cold.bin");
  EXPECT_EQ(cold.status, 200);
  EXPECT_EQ(cold.Find("X-Cache"), "MISS");
  EXPECT_EQ(cold.Find("X-Served-By"), "edge-1");
  EXPECT_EQ(testing::Sha256OfFile(scratch_ / "cold.bin"), testing::Sha256OfFile(source));

  const auto hot = run_curl({}, "hot.bin");
  EXPECT_EQ(hot.status, 200);
  EXPECT_EQ(hot.Find("X-Cache"), "HIT");
  EXPECT_EQ(hot.Find("X-Served-By"), "edge-1");
  EXPECT_EQ(testing::Sha256OfFile(scratch_ / "hot.bin"), testing::Sha256OfFile(source));

  constexpr std::uint64_t kFirst = 1'000'003;
  constexpr std::uint64_t kLast = 9'876'543;
  const auto range =
      run_curl({"-r", std::to_string(kFirst) + "-" + std::to_string(kLast)}, "range.bin");
  EXPECT_EQ(range.status, 206);
  EXPECT_EQ(range.Find("X-Cache"), "HIT");
  EXPECT_EQ(fs::file_size(scratch_ / "range.bin"), kLast - kFirst + 1);
  EXPECT_EQ(testing::Sha256OfFile(scratch_ / "range.bin"),
            testing::Sha256OfFile(source, kFirst, kLast - kFirst + 1));
}

// The status code of GET `url` as curl reports it ("000" when it could not connect).
std::string CurlStatus(const fs::path& curl, const std::string& url, const fs::path& scratch) {
  const testing::ProcessResult run =
      testing::RunProcess({curl.string(), "-s", "--noproxy", "*", "--max-time", "10", "-o",
                           "/dev/null", "-w", "%{http_code}", url},
                          scratch, testing::LoopbackEnvironment());
  return run.out;
}

// /readyz: a node with nothing pinned is ready while its parent answers, 503 within a health
// interval of the parent going away, and ready again once it is back; a node that holds every
// block its plan pins stays ready without the parent.
TEST_F(CacheNodeTest,
       ReadyzIs503WithTheParentDownAndNothingPinnedAnd200OtherwiseOrWithThePlanHeld) {
  constexpr auto kInterval = std::chrono::milliseconds(1000);
  // Probes come once an interval; polling, curl and a loaded 2-core machine add to that. The
  // elapsed time is printed; the bound only catches a node that does not notice at all.
  constexpr auto kGrace = std::chrono::milliseconds(4000);
  auto curl = testing::RequireTool("curl");
  ASSERT_TRUE(curl);
  auto parent = StartUpstream();
  ASSERT_TRUE(parent);
  const std::vector<std::string> flags = {"--health-interval-ms", std::to_string(kInterval.count()),
                                          "--connect-timeout-ms", "500"};
  auto bare = StartNode("edge-bare", parent->Url(), flags);
  auto planned = StartNode("edge-planned", parent->Url(), flags);
  ASSERT_FALSE(bare.endpoint.empty() || planned.endpoint.empty());
  const std::vector<BlockId> ids = UniqueBlocks(small_);
  PutPlan(planned, PlanJson({{"edge-planned", planned.Url(), ids, "acme/small"}}));
  ASSERT_TRUE(PollUntil([&] { return StoredBlockIds(planned).size() == ids.size(); }));

  const auto ready = [&](const ServedCacheNode& node) {
    return CurlStatus(*curl, node.Url("/readyz"), scratch_ / "curl");
  };
  ASSERT_TRUE(PollUntil([&] { return ready(bare) == "200"; }, kInterval + kGrace));
  EXPECT_EQ(ready(planned), "200");

  parent->Stop();
  const auto stopped = std::chrono::steady_clock::now();
  ASSERT_TRUE(PollUntil([&] { return ready(bare) == "503"; }, kInterval + kGrace));
  std::cout << "503 came "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - stopped)
                   .count()
            << " ms after the parent stopped (health interval " << kInterval.count() << " ms)\n";
  const http::ClientResponse not_ready = Get(bare.Url("/readyz"));
  EXPECT_EQ(not_ready.status, 503);
  ExpectJsonError(not_ready, Errc::kUpstreamFailed);
  EXPECT_NE(not_ready.body.find("no plan"), std::string::npos) << not_ready.body;
  // Once the planned node's own probes have failed twice, it is still ready and serves its plan.
  const auto parent_failures = [&](const ServedCacheNode& node) -> std::uint64_t {
    const boost::json::object status = AdminStatus(node);
    for (const auto& upstream : status.at("upstreams").as_array()) {
      if (upstream.at("name") == "parent") {
        return upstream.at("consecutive_failures").to_number<std::uint64_t>();
      }
    }
    return 0;
  };
  ASSERT_TRUE(PollUntil([&] { return parent_failures(planned) >= 2; }, 3 * kInterval + kGrace));
  EXPECT_EQ(ready(planned), "200");
  EXPECT_EQ(ready(bare), "503");
  EXPECT_EQ(Get(planned.Url("/acme/small/resolve/main/model.safetensors")).status, 200);

  ASSERT_TRUE(parent->Restart());
  EXPECT_TRUE(PollUntil([&] { return ready(bare) == "200"; }, kInterval + kGrace));
}

// A whole-file download reads ahead: fills started for later blocks race the request's own reads.
// Every block stored must stay indexed, so a second download is a HIT, every round.
TEST_F(CacheNodeTest, TwentyColdThenHotDownloadsOfAMultiBlockFileAreHitsTheSecondTime) {
  constexpr int kRounds = 20;
  constexpr char kFile[] = "/acme/small/resolve/main/model.safetensors";
  auto origin = StartUpstream();
  ASSERT_TRUE(origin);
  auto node = StartNode("edge-1", origin->Url());
  ASSERT_FALSE(node.endpoint.empty());
  const Sha256Digest expected = testing::Sha256OfFile(Source("model.safetensors"));
  ASSERT_GT(UniqueBlocks(small_).size(), 16u);

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const http::ClientResponse cold = Get(node.Url(kFile));
    ASSERT_EQ(cold.status, 200);
    EXPECT_EQ(Sha256OfString(cold.body), expected);
    const boost::json::object after_cold = AdminStatus(node);
    EXPECT_EQ(after_cold.at("blocks"), after_cold.at("stored_blocks"));

    const http::ClientResponse hot = Get(node.Url(kFile));
    ASSERT_EQ(hot.status, 200);
    EXPECT_EQ(hot.Header("X-Cache"), "HIT");
    EXPECT_EQ(Sha256OfString(hot.body), expected);

    const http::ClientResponse purged = testing::AdminRequest(
        node, "POST", "/admin/v1/purge", R"({"model": "acme/small", "revision": "main"})");
    ASSERT_EQ(purged.status, 200) << purged.body;
    const boost::json::object after_purge = AdminStatus(node);
    EXPECT_EQ(after_purge.at("blocks"), 0);
    EXPECT_EQ(after_purge.at("stored_blocks"), 0);
  }
}

}  // namespace
}  // namespace mei
