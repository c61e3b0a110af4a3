// A `mei-cache-node` whose parent misbehaves, over real sockets and processes (issue 8, fault
// tests): a parent that trickles a block, one that stalls after the response header, one that
// closes the connection mid-body (misbehaving_upstream.h), and a real `mei-origin serve` killed
// and restarted every few seconds under steady downloads. Proves that every waiter of a coalesced
// fill gets a JSON error within the node's upstream timeout; that no partial block is ever stored
// (neither in the admin API's list nor, once the node has stopped, in its store); that the block
// then fills with the right bytes from a healthy parent; and that a flapping origin never makes
// the node serve wrong bytes or go down, and all is served once the origin stays up (and the
// parent's circuit has closed again).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/digest.h"
#include "common/errc.h"
#include "common/http/client.h"
#include "tests/integration/served_cache_node.h"
#include "tests/integration/served_origin.h"
#include "tests/reliability/misbehaving_upstream.h"

namespace mei {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::MetricValue;
using testing::MisbehavingUpstream;
using testing::PollUntil;
using testing::ServedCacheNode;
using testing::Sha256OfString;
using testing::StoredBlockIds;
using Clock = std::chrono::steady_clock;

// The node's upstream timeout in these tests, and what a reply may take beyond it on a loaded
// two-core machine.
constexpr auto kUpstreamTimeout = 3000ms;
constexpr auto kMargin = 3000ms;

std::string Millis(std::chrono::milliseconds duration) { return std::to_string(duration.count()); }

// The seed of this run's random choices: $MEI_TEST_SEED when set (to replay a run), else a fresh
// one. Printed either way.
std::uint64_t TestSeed() {
  const char* given = std::getenv("MEI_TEST_SEED");
  const std::uint64_t seed = given ? std::strtoull(given, nullptr, 10) : std::random_device{}();
  std::cout << "seed " << seed << " (set MEI_TEST_SEED=" << seed << " to replay)\n";
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  return seed;
}

struct FaultCase {
  MisbehavingUpstream::Fault fault;
  int status;
  Errc code;
  bool ends_at_timeout;  // the node's timeout ends the fill, not the upstream
};

class UpstreamFaultsTest : public testing::CacheNodeTest {
 protected:
  // Several clients ask a node whose parent misbehaves for one missing block at once: one fill,
  // whose failure every waiter gets as `expected` within the timeout, and nothing stored. Then a
  // node on the same store with a healthy parent fills the block with the right bytes.
  void ExpectWaitersFailAndNothingIsStored(const FaultCase& expected) {
    constexpr int kWaiters = 6;
    auto bad = MisbehavingUpstream::Start(store_, {.fault = expected.fault});
    ASSERT_TRUE(bad);
    if (expected.fault == MisbehavingUpstream::Fault::kCloseMidBody) bad->Hold();
    const ManifestBlock block = LargestBlock(base_);
    const fs::path store = scratch_ / "edge-store";
    {
      ServedCacheNode node = StartNode(
          "edge-1", bad->Url(),
          {"--upstream-timeout-ms", Millis(kUpstreamTimeout), "--connect-timeout-ms", "1000"},
          store);
      ASSERT_FALSE(node.endpoint.empty());
      const std::string url = node.Url("/v1/blocks/" + block.id.Hex());

      std::vector<Result<http::ClientResponse>> replies(kWaiters, http::ClientResponse{});
      std::vector<Clock::time_point> finished(kWaiters);
      const Clock::time_point started = Clock::now();
      std::vector<std::jthread> waiters;
      for (int i = 0; i < kWaiters; ++i) {
        waiters.emplace_back([&, i] {
          replies[i] = testing::FetchOnce(url);
          finished[i] = Clock::now();
        });
      }
      const bool fill_started = bad->WaitForBlockRequests(1);
      const bool all_joined = PollUntil(
          [&] {
            return MetricValue(node.Url("/metrics"), "mei_cache_coalesced_waiters_total")
                       .value_or(0) >= kWaiters - 1;
          },
          kUpstreamTimeout);
      bad->Release();
      waiters.clear();

      EXPECT_TRUE(fill_started);
      EXPECT_TRUE(all_joined) << "fewer than " << kWaiters - 1 << " requests joined the fill";
      EXPECT_EQ(bad->block_requests(), 1u) << "the waiters did not share one fill";
      for (int i = 0; i < kWaiters; ++i) {
        ASSERT_TRUE(replies[i]) << "waiter " << i << ": " << replies[i].error().message;
        EXPECT_EQ(replies[i]->status, expected.status)
            << "waiter " << i << ": " << replies[i]->body;
        testing::ExpectJsonError(*replies[i], expected.code);
        const auto elapsed = finished[i] - started;
        EXPECT_LT(elapsed, kUpstreamTimeout + kMargin) << "waiter " << i;
        if (expected.ends_at_timeout) {
          EXPECT_GE(elapsed, kUpstreamTimeout) << "waiter " << i;
        }
      }
      EXPECT_EQ(MetricValue(node.Url("/metrics"), "mei_cache_fill_failures_total{code=\"" +
                                                      std::string(CodeOf(expected.code)) + "\"}"),
                1);
      // The node let go of the upstream connection: a fill that timed out no longer reads it.
      EXPECT_TRUE(PollUntil([&] { return bad->open_connections() == 0; }, kMargin))
          << bad->open_connections() << " connection(s) still open, " << bad->body_bytes_sent()
          << " body bytes sent";
      EXPECT_LT(bad->body_bytes_sent(), block.size);

      EXPECT_TRUE(StoredBlockIds(node).empty());
      EXPECT_EQ(testing::AdminStatus(node).at("used_bytes").to_number<std::uint64_t>(), 0u);
      EXPECT_EQ(testing::Get(node.Url("/healthz")).status, 200);
      node.process.Signal(SIGTERM);
      EXPECT_EQ(node.process.WaitFor(30s), 0) << node.process.Stderr();
    }
    {
      auto stopped = testing::OpenUpstreamStore(store);
      ASSERT_TRUE(stopped);
      EXPECT_FALSE(stopped->blocks->Has(block.id).value());
      EXPECT_EQ(stopped->blocks->block_count(), 0u);
      EXPECT_EQ(stopped->blocks->stored_bytes(), 0u);
    }

    auto healthy = StartUpstream();
    ASSERT_TRUE(healthy);
    ServedCacheNode node = StartNode("edge-1", healthy->Url(), {}, store, "edge-1-healthy");
    ASSERT_FALSE(node.endpoint.empty());
    const auto filled = testing::FetchOnce(node.Url("/v1/blocks/" + block.id.Hex()));
    ASSERT_TRUE(filled) << filled.error().message;
    EXPECT_EQ(filled->status, 200) << filled->body;
    EXPECT_EQ(filled->Header("X-Cache"), "MISS");
    EXPECT_EQ(Sha256OfString(filled->body), block.id);
    EXPECT_EQ(healthy->block_requests_for(block.id), 1u);
    EXPECT_EQ(StoredBlockIds(node), std::vector<BlockId>{block.id});
  }
};

TEST_F(UpstreamFaultsTest,
       ParentTricklingABlockFailsEveryWaiterWith504AtTheTimeoutAndStoresNothing) {
  ExpectWaitersFailAndNothingIsStored(
      {MisbehavingUpstream::Fault::kTrickle, 504, Errc::kUpstreamTimeout, true});
}

TEST_F(UpstreamFaultsTest, ParentStallingAfterTheHeaderFailsEveryWaiterWith504AndStoresNothing) {
  ExpectWaitersFailAndNothingIsStored(
      {MisbehavingUpstream::Fault::kStallAfterHeaders, 504, Errc::kUpstreamTimeout, true});
}

TEST_F(UpstreamFaultsTest, ParentClosingMidBodyFailsEveryWaiterWith502AndStoresNothing) {
  ExpectWaitersFailAndNothingIsStored(
      {MisbehavingUpstream::Fault::kCloseMidBody, 502, Errc::kUpstreamFailed, false});
}

// `mei-origin serve --store STORE --listen 127.0.0.1:PORT`, started again on the port its clients
// know; nullopt when it does not say it listens there (say, the port was taken meanwhile).
std::optional<ChildProcess> StartOriginOnPort(const fs::path& store, std::uint16_t port,
                                              const fs::path& scratch) {
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  ChildProcess process =
      ChildProcess::Start({testing::BinaryPath("origin/mei-origin").string(), "serve", "--store",
                           store.string(), "--listen", listen},
                          scratch);
  if (process.ReadLine(60s) != "listening on http://" + listen) return std::nullopt;
  return process;
}

// The errors a node may answer while its parent comes and goes: the parent failed or timed out,
// or a block purged meanwhile could not be kept (store full), or the node was overloaded.
constexpr std::array kUpstreamErrors = {Errc::kUpstreamFailed, Errc::kUpstreamTimeout,
                                        Errc::kStoreFull, Errc::kOverloaded};

// What one download through the node came to.
struct Tally {
  std::mutex mu;
  int complete = 0;     // 200 with the right SHA-256
  int error_reply = 0;  // an error status with a JSON body
  int cut_short = 0;    // a body shorter than its Content-Length, detected by the client
};

// Checks one download of bytes whose SHA-256 must be `expected` and counts it in `tally`: a
// complete reply must have the right bytes, a failure must be a clear one. Whether it completed.
bool CheckDownload(const std::string& what, const Result<http::ClientResponse>& reply,
                   const Sha256Digest& expected, Tally& tally) {
  if (!reply) {
    // The node had sent its header when the origin went away: the connection ends early.
    EXPECT_EQ(reply.error().code, Errc::kUpstreamFailed) << what << ": " << reply.error().message;
    EXPECT_NE(reply.error().message.find("before its end"), std::string::npos)
        << what << ": " << reply.error().message;
    std::lock_guard lock(tally.mu);
    ++tally.cut_short;
    return false;
  }
  if (reply->status == 200) {
    EXPECT_EQ(Sha256OfString(reply->body), expected) << what << " completed with wrong bytes";
    std::lock_guard lock(tally.mu);
    ++tally.complete;
    return true;
  }
  // An error status with the JSON body of the error it stands for.
  const auto code =
      std::find_if(kUpstreamErrors.begin(), kUpstreamErrors.end(),
                   [&](Errc candidate) { return HttpStatusOf(candidate) == reply->status; });
  if (code == kUpstreamErrors.end()) {
    ADD_FAILURE() << what << ": unexpected status " << reply->status << ": " << reply->body;
  } else {
    testing::ExpectJsonError(*reply, *code);
  }
  std::lock_guard lock(tally.mu);
  ++tally.error_reply;
  return false;
}

TEST_F(UpstreamFaultsTest, FlappingOriginNeverYieldsWrongBytesAndAllDownloadsOnceItStaysUp) {
  constexpr int kClients = 4;
  constexpr auto kFlapping = 20s;
  std::mt19937_64 rng(TestSeed());
  const fs::path origin_store = scratch_ / "origin-store";
  ASSERT_FALSE(
      testing::Ingest(origin_store, "acme/base", dir_ / "models" / "base", scratch_ / "ingest")
          .empty());
  testing::ServedOrigin first = testing::StartOrigin(origin_store, scratch_ / "origin-0");
  ASSERT_NE(first.port, 0);
  const std::uint16_t port = first.port;
  std::optional<ChildProcess> origin(std::move(first.process));
  // The parent's circuit opens while it is away; a probe after at most 2 s closes it again.
  ServedCacheNode node =
      StartNode("edge-1", "http://" + first.endpoint,
                {"--upstream-timeout-ms", Millis(kUpstreamTimeout), "--connect-timeout-ms", "500",
                 "--workers", "16", "--circuit-max-backoff-ms", "2000"});
  ASSERT_FALSE(node.endpoint.empty());
  ASSERT_EQ(testing::Get(node.Url("/v1/models/acme/base/revisions/main/manifest")).status, 200);
  const std::vector<BlockId> blocks = testing::UniqueBlocks(base_);

  Tally tally;
  std::atomic<bool> flapping{true};
  std::vector<std::jthread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, client_seed = rng()] {
      std::mt19937_64 choose(client_seed);
      while (flapping.load()) {
        bool complete = false;
        if (choose() % 2 == 0) {
          const ManifestFile& file = base_.files[choose() % base_.files.size()];
          complete = CheckDownload(
              file.path, testing::FetchOnce(node.Url("/acme/base/resolve/main/" + file.path)),
              file.sha256, tally);
        } else {
          const BlockId& id = blocks[choose() % blocks.size()];
          complete =
              CheckDownload("block " + id.Hex(),
                            testing::FetchOnce(node.Url("/v1/blocks/" + id.Hex())), id, tally);
        }
        // The pace of a client that backs off before it retries, not a wait for anything.
        if (!complete) std::this_thread::sleep_for(50ms);
      }
    });
  }

  // Up for 1-3 s, down (killed, or stopped with SIGTERM) for 0.3-1.5 s. The node's copies are
  // purged just before each stop, so that fills are under way when the origin goes, and just
  // after, so that downloads miss while it is away.
  const auto between = [&](std::chrono::milliseconds low, std::chrono::milliseconds high) {
    return std::chrono::milliseconds(
        std::uniform_int_distribution<std::int64_t>(low.count(), high.count())(rng));
  };
  const auto purge = [&] {
    const http::ClientResponse purged = testing::AdminRequest(
        node, "POST", "/admin/v1/purge", R"({"model": "acme/base", "revision": "main"})");
    EXPECT_EQ(purged.status, 200) << purged.body;
  };
  int restarts = 0;
  const Clock::time_point until = Clock::now() + kFlapping;
  while (Clock::now() < until && !HasFailure()) {
    std::this_thread::sleep_for(between(1000ms, 3000ms));
    purge();
    origin->Signal(rng() % 2 == 0 ? SIGKILL : SIGTERM);
    EXPECT_TRUE(origin->WaitFor(30s)) << "the origin did not stop";
    origin.reset();
    purge();
    std::this_thread::sleep_for(between(300ms, 1500ms));
    EXPECT_FALSE(node.process.WaitFor(0ms)) << "the node went down: " << node.process.Stderr();
    EXPECT_EQ(testing::Get(node.Url("/healthz")).status, 200);
    for (int attempt = 0; !origin && attempt < 50; ++attempt) {
      origin = StartOriginOnPort(origin_store, port,
                                 scratch_ / ("origin-" + std::to_string(++restarts)));
    }
    ASSERT_TRUE(origin) << "the origin cannot listen on port " << port << " again";
  }
  flapping = false;
  clients.clear();
  std::cout << restarts << " restarts; downloads: " << tally.complete << " complete, "
            << tally.error_reply << " error replies, " << tally.cut_short << " cut short\n";
  EXPECT_GE(restarts, 3);
  EXPECT_GT(tally.complete, 0);
  EXPECT_GT(tally.error_reply + tally.cut_short, 0) << "the flapping origin never failed a fill";
  EXPECT_FALSE(node.process.WaitFor(0ms)) << "the node went down: " << node.process.Stderr();

  // The origin stays up now. Once the circuit its last absence may have opened has let a probe
  // through (a block purged and asked for again fills), every file and every block of the model
  // comes whole.
  const std::string probe = blocks.front().Hex();
  EXPECT_TRUE(PollUntil(
      [&] {
        testing::AdminRequest(node, "POST", "/admin/v1/purge",
                              R"({"blocks": [")" + probe + R"("]})");
        const auto reply = testing::FetchOnce(node.Url("/v1/blocks/" + probe));
        return reply && reply->status == 200;
      },
      30s))
      << "the node never filled from the origin again";
  for (const ManifestFile& file : base_.files) {
    const auto reply = testing::FetchOnce(node.Url("/acme/base/resolve/main/" + file.path));
    ASSERT_TRUE(reply) << file.path << ": " << reply.error().message;
    EXPECT_EQ(reply->status, 200) << file.path << ": " << reply->body;
    EXPECT_EQ(Sha256OfString(reply->body), file.sha256) << file.path;
  }
  for (const BlockId& id : blocks) {
    const auto reply = testing::FetchOnce(node.Url("/v1/blocks/" + id.Hex()));
    ASSERT_TRUE(reply) << id.Hex() << ": " << reply.error().message;
    EXPECT_EQ(reply->status, 200) << id.Hex() << ": " << reply->body;
    EXPECT_EQ(Sha256OfString(reply->body), id);
  }
}

}  // namespace
}  // namespace mei
