// Cut-through over real processes and sockets (issue 18): a cache node forwards a cold block's
// bytes to the client as they arrive from upstream and stores the block only once its SHA-256
// matches. A planned peer that sends a block whose last byte is wrong, after the client has
// received the first half of it: `curl` sees its transfer cut short (never a complete wrong file),
// the mismatch is counted, a request that had received nothing yet gets the right bytes from the
// parent, the node stores only the right block, and a retry downloads the file with the right
// SHA-256 without asking the peer again. And `curl` of a cold file through a healthy parent
// yields the file's SHA-256.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/errc.h"
#include "common/http/client.h"
#include "tests/integration/process.h"
#include "tests/integration/served_cache_node.h"
#include "tests/integration/served_origin.h"
#include "tests/integration/test_upstream.h"
#include "tests/reliability/misbehaving_upstream.h"

namespace mei {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::MetricValue;
using testing::MisbehavingUpstream;
using testing::PlanJson;
using testing::PollUntil;
using testing::ServedCacheNode;
using testing::Sha256OfFile;
using testing::Sha256OfString;

// curl's exit code for a transfer that ended before the announced Content-Length.
constexpr int kCurlPartialFile = 18;

class CutThroughTest : public testing::CacheNodeTest {
 protected:
  // The file of acme/base whose first block is the largest: the block the peer corrupts.
  static const ManifestFile& FileWithLargestFirstBlock() {
    const ManifestFile* best = &base_.files.front();
    for (const ManifestFile& file : base_.files) {
      if (!file.blocks.empty() && file.blocks.front().size > best->blocks.front().size) {
        best = &file;
      }
    }
    return *best;
  }

  // `curl -sS -o out url`, started in the background.
  ChildProcess StartCurl(const std::string& url, const fs::path& out) const {
    auto curl = testing::RequireTool("curl");
    if (!curl) return ChildProcess::Start({"/bin/false"}, scratch_ / "curl");
    return ChildProcess::Start(
        {curl->string(), "-sS", "--noproxy", "*", "--max-time", "120", "-o", out.string(), url},
        scratch_ / "curl");
  }

  static std::uint64_t SizeOf(const fs::path& path) {
    std::error_code error;
    const std::uintmax_t size = fs::file_size(path, error);
    return error ? 0 : size;
  }
};

TEST_F(CutThroughTest, CorruptBlockFromAPeerCutsThePartialClientStoresNothingAndTheRetryIsRight) {
  const ManifestFile& file = FileWithLargestFirstBlock();
  const ManifestBlock& block = file.blocks.front();
  ASSERT_GE(block.size, 256u << 10) << "the test needs a first block of at least 256 KiB";

  auto bad = MisbehavingUpstream::Start(
      store_, {.fault = MisbehavingUpstream::Fault::kCorruptMidBody, .close_after_share = 0.5});
  ASSERT_TRUE(bad);
  bad->Hold();
  auto parent = StartUpstream();
  ASSERT_TRUE(parent);
  ServedCacheNode node = StartNode("edge-1", parent->Url(), {"--upstream-timeout-ms", "30000"});
  ASSERT_FALSE(node.endpoint.empty());
  // The plan says peer-b holds the file's first block: its fill asks the peer first.
  PutPlan(node, PlanJson({{"peer-b", bad->Url(), {block.id}, ""}, {"edge-1", node.Url(), {}, ""}}));

  const std::string url = node.Url("/acme/base/resolve/main/" + file.path);
  const fs::path partial = scratch_ / "partial";
  ChildProcess curl = StartCurl(url, partial);
  ASSERT_TRUE(curl.started());
  ASSERT_TRUE(bad->WaitForBlockRequests(1));
  // The client has received bytes of the block before the peer has sent all of it.
  EXPECT_TRUE(PollUntil([&] { return SizeOf(partial) > 0; }, 30s))
      << "curl received nothing while the peer held the block's second half";
  const std::uint64_t received_while_held = SizeOf(partial);
  EXPECT_LE(received_while_held, block.size / 2);

  // A request that has received nothing yet joins the same fill: it must get the right bytes.
  const std::string metrics = node.Url("/metrics");
  const double joined_before =
      MetricValue(metrics, "mei_cache_coalesced_waiters_total").value_or(0);
  Result<http::ClientResponse> whole = http::ClientResponse{};
  std::jthread waiter(
      [&] { whole = testing::FetchOnce(node.Url("/v1/blocks/" + block.id.Hex())); });
  EXPECT_TRUE(PollUntil(
      [&] {
        return MetricValue(metrics, "mei_cache_coalesced_waiters_total").value_or(0) >
               joined_before;
      },
      30s));

  bad->Release();
  const std::optional<int> exit_code = curl.WaitFor(60s);
  ASSERT_TRUE(exit_code.has_value()) << "curl did not end";
  EXPECT_EQ(*exit_code, kCurlPartialFile) << curl.Stderr();
  EXPECT_LT(SizeOf(partial), file.size);
  waiter.join();

  ASSERT_TRUE(whole) << whole.error().message;
  EXPECT_EQ(whole->status, 200) << whole->body;
  EXPECT_EQ(Sha256OfString(whole->body), block.id);
  EXPECT_EQ(MetricValue(metrics, "mei_cache_integrity_failures_total{upstream=\"peer:peer-b\"}"),
            1);
  EXPECT_EQ(parent->block_requests_for(block.id), 1u);
  // What is stored under the id is the parent's block, verified, never the peer's.
  const auto stored = testing::FetchOnce(node.Url("/v1/blocks/" + block.id.Hex()));
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(stored->Header("X-Cache"), "HIT");
  EXPECT_EQ(Sha256OfString(stored->body), block.id);

  // The retry gets the whole file, right, and the peer is not asked again.
  const fs::path retried = scratch_ / "retried";
  ChildProcess retry = StartCurl(url, retried);
  EXPECT_EQ(retry.WaitFor(120s), 0) << retry.Stderr();
  EXPECT_EQ(SizeOf(retried), file.size);
  EXPECT_EQ(Sha256OfFile(retried), file.sha256);
  EXPECT_EQ(bad->block_requests(), 1u);
}

TEST_F(CutThroughTest, CurlOfAColdFileThroughTheNodeHasTheFilesSha256) {
  auto parent = StartUpstream();
  ASSERT_TRUE(parent);
  ServedCacheNode node = StartNode("edge-1", parent->Url());
  ASSERT_FALSE(node.endpoint.empty());
  for (const ManifestFile& file : base_.files) {
    const fs::path out = scratch_ / ("cold-" + std::to_string(&file - base_.files.data()));
    ChildProcess curl = StartCurl(node.Url("/acme/base/resolve/main/" + file.path), out);
    EXPECT_EQ(curl.WaitFor(120s), 0) << file.path << ": " << curl.Stderr();
    EXPECT_EQ(SizeOf(out), file.size) << file.path;
    EXPECT_EQ(Sha256OfFile(out), file.sha256) << file.path;
  }
  // Every block was a miss, filled once.
  for (const BlockId& id : testing::UniqueBlocks(base_)) {
    EXPECT_EQ(parent->block_requests_for(id), 1u) << id.Hex();
  }
}

}  // namespace
}  // namespace mei
