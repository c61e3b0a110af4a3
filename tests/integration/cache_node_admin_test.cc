// `mei-cache-node` under its operator's hand, over real sockets on 127.0.0.1: capacity and
// eviction (LRU order, pins) driven block by block, and the admin API's bearer token.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/errc.h"
#include "tests/integration/served_cache_node.h"

namespace mei {
namespace {

using testing::AdminRequest;
using testing::AdminStatus;
using testing::CacheNodeTest;
using testing::ExpectJsonError;
using testing::Get;
using testing::MetricValue;
using testing::PollUntil;
using testing::ServedCacheNode;
using testing::Sha256OfString;
using testing::StoredBlockIds;
using testing::UniqueBlocks;

// acme/small's blocks whose stored size is the most common one, in file order: equal sizes make
// the capacity arithmetic of the tests exact.
std::vector<BlockId> EqualSizedBlocks(const std::vector<BlockId>& ids,
                                      std::uint64_t (*stored_size)(const BlockId&),
                                      std::uint64_t& size) {
  std::map<std::uint64_t, std::vector<BlockId>> by_size;
  for (const BlockId& id : ids) by_size[stored_size(id)].push_back(id);
  const auto most = std::max_element(
      by_size.begin(), by_size.end(),
      [](const auto& a, const auto& b) { return a.second.size() < b.second.size(); });
  size = most->first;
  return most->second;
}

std::string BlocksBody(const std::vector<BlockId>& ids) {
  boost::json::array array;
  for (const BlockId& id : ids) array.push_back(boost::json::string(id.Hex()));
  return boost::json::serialize(boost::json::object{{"blocks", std::move(array)}});
}

class CacheNodeCapacityTest : public CacheNodeTest {
 protected:
  void SetUp() override {
    CacheNodeTest::SetUp();
    if (HasFatalFailure()) return;
    blocks_ = EqualSizedBlocks(UniqueBlocks(small_), &StoredSize, block_bytes_);
    ASSERT_GE(blocks_.size(), 8u) << "acme/small needs eight blocks of one size";
  }

  // GET /v1/blocks/{id} through the node: 200 with the block's bytes, X-Cache as expected.
  static void Download(const ServedCacheNode& node, const BlockId& id, const char* cache) {
    const http::ClientResponse response = Get(node.Url("/v1/blocks/" + id.Hex()));
    EXPECT_EQ(response.status, 200) << id.Hex() << ": " << response.body;
    EXPECT_EQ(response.Header("X-Cache"), cache) << id.Hex();
    EXPECT_EQ(Sha256OfString(response.body), id);
  }

  static std::uint64_t Used(const ServedCacheNode& node) {
    const auto status = AdminStatus(node);
    return status.contains("used_bytes") ? status.at("used_bytes").to_number<std::uint64_t>() : 0;
  }

  static bool Holds(const ServedCacheNode& node, const BlockId& id) {
    const std::vector<BlockId> stored = StoredBlockIds(node);
    return std::find(stored.begin(), stored.end(), id) != stored.end();
  }

  std::vector<BlockId> blocks_;
  std::uint64_t block_bytes_ = 0;
};

TEST_F(CacheNodeCapacityTest, LruEvictsTheLeastRecentlyUsedBlockFirst) {
  auto origin = StartUpstream();
  ASSERT_TRUE(origin);
  // Room for three and a half blocks, evicting only what a new block needs.
  const std::uint64_t capacity = 3 * block_bytes_ + block_bytes_ / 2;
  auto node = StartNode("edge-1", origin->Url(),
                        {"--capacity", std::to_string(capacity), "--policy", "lru",
                         "--high-watermark", "1", "--low-watermark", "1"});
  ASSERT_FALSE(node.endpoint.empty());
  const BlockId a = blocks_[0], b = blocks_[1], c = blocks_[2], d = blocks_[3];

  Download(node, a, "MISS");
  Download(node, b, "MISS");
  Download(node, c, "MISS");
  Download(node, a, "HIT");
  EXPECT_EQ(Used(node), 3 * block_bytes_);
  Download(node, d, "MISS");

  std::vector<BlockId> expected = {a, c, d};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(StoredBlockIds(node), expected) << "B was the least recently used";
  const auto status = AdminStatus(node);
  EXPECT_EQ(status.at("evictions").to_number<std::uint64_t>(), 1u);
  EXPECT_LE(status.at("used_bytes").to_number<std::uint64_t>(), capacity);
  EXPECT_EQ(testing::MetricValue(node.Url("/metrics"), "mei_cache_evictions_total"), 1);
}

TEST_F(CacheNodeCapacityTest, DownloadingMoreThanCapacityStaysUnderItAndKeepsPinnedBlocks) {
  auto origin = StartUpstream();
  ASSERT_TRUE(origin);
  const std::uint64_t capacity = 4 * block_bytes_ + block_bytes_ / 2;
  auto node = StartNode("edge-1", origin->Url(),
                        {"--capacity", std::to_string(capacity), "--policy", "lru"});
  ASSERT_FALSE(node.endpoint.empty());
  const std::vector<BlockId> pinned = {blocks_[0], blocks_[1]};
  const http::ClientResponse pin = AdminRequest(node, "POST", "/admin/v1/pin", BlocksBody(pinned));
  ASSERT_EQ(pin.status, 200) << pin.body;

  // The pinned blocks are the oldest, so LRU would take them first if pins did not hold.
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    SCOPED_TRACE("after block " + std::to_string(i));
    Download(node, blocks_[i], "MISS");
    EXPECT_LE(Used(node), capacity);
    for (std::size_t p = 0; p < pinned.size() && p <= i; ++p) {  // the pinned ones come first
      EXPECT_TRUE(Holds(node, pinned[p])) << pinned[p].Hex() << " was evicted";
    }
  }
  const auto status = AdminStatus(node);
  EXPECT_GE(status.at("evictions").to_number<std::uint64_t>(), blocks_.size() - 4);
  EXPECT_EQ(status.at("pinned_blocks").to_number<std::uint64_t>(), pinned.size());
  for (const BlockId& id : pinned) Download(node, id, "HIT");
}

struct AuthCase {
  const char* name;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string query;
};

// Bytes of the segment files of a node's store.
std::uint64_t SegmentBytes(const std::filesystem::path& store) {
  std::uint64_t bytes = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(store / "segments", error)) {
    bytes += entry.file_size(error);
  }
  return bytes;
}

// Space comes back at the node level: blocks purged from its segments leave holes, and the
// maintenance thread's compaction rewrites what is left, so the disk holds about the live blocks
// again while every remaining block is served whole.
TEST_F(CacheNodeTest, PurgedBlocksSpaceComesBackByCompactionAndTheRestIsServedWhole) {
  // acme/small's blocks whose frames go to segments (64 KiB and more; smaller ones stay inline).
  std::vector<BlockId> blocks;
  for (const BlockId& id : UniqueBlocks(small_)) {
    if (StoredSize(id) >= 64 * 1024) blocks.push_back(id);
  }
  ASSERT_GE(blocks.size(), 16u);
  auto origin = StartUpstream();
  ASSERT_TRUE(origin);
  // 64 MiB of capacity: segments of 4 MiB, so these blocks span several.
  auto node = StartNode("edge-1", origin->Url(), {"--capacity", "64MiB"});
  ASSERT_FALSE(node.endpoint.empty());
  for (const BlockId& id : blocks) {
    const http::ClientResponse response = Get(node.Url("/v1/blocks/" + id.Hex()));
    ASSERT_EQ(response.status, 200) << response.body;
  }
  const std::filesystem::path store = scratch_ / "edge-1-store";
  const std::uint64_t before = SegmentBytes(store);

  std::vector<BlockId> purged;
  std::vector<BlockId> kept;
  std::uint64_t live = 0;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (i % 4 == 0) {
      kept.push_back(blocks[i]);
      live += StoredSize(blocks[i]);
    } else {
      purged.push_back(blocks[i]);
    }
  }
  ASSERT_GT(before, 2 * live) << "three quarters of the segment bytes are about to be purged";
  const http::ClientResponse response =
      AdminRequest(node, "POST", "/admin/v1/purge", BlocksBody(purged));
  ASSERT_EQ(response.status, 200) << response.body;

  // The maintenance thread compacts every 5 s: what is left is the live frames, give or take the
  // active segment.
  const std::string metrics = node.Url("/metrics");
  EXPECT_TRUE(PollUntil([&] {
    const auto reclaimed = MetricValue(metrics, "mei_cache_store_compaction_reclaimed_bytes_total");
    return reclaimed && *reclaimed > 0 && SegmentBytes(store) <= live + (4u << 20);
  })) << "segments hold "
      << SegmentBytes(store) << " bytes of " << before << " for " << live << " live";
  EXPECT_LT(SegmentBytes(store), before);
  for (const BlockId& id : kept) {
    const http::ClientResponse hit = Get(node.Url("/v1/blocks/" + id.Hex()));
    EXPECT_EQ(hit.status, 200) << id.Hex();
    EXPECT_EQ(hit.Header("X-Cache"), "HIT") << id.Hex();
    EXPECT_EQ(Sha256OfString(hit.body), id);
  }
  const std::vector<BlockId> held = StoredBlockIds(node);
  for (const BlockId& id : purged) {
    EXPECT_EQ(std::find(held.begin(), held.end(), id), held.end()) << id.Hex();
  }
}

TEST_F(CacheNodeTest, AdminApiAnswers401WithoutTheRightBearerTokenAnd200WithIt) {
  auto origin = StartUpstream();
  ASSERT_TRUE(origin);
  auto node = StartNode("edge-1", origin->Url());
  ASSERT_FALSE(node.endpoint.empty());
  std::string wrong = node.token;
  wrong.back() = wrong.back() == 'x' ? 'y' : 'x';
  const std::vector<AuthCase> cases = {
      {"no token", {}, ""},
      {"wrong token", {{"Authorization", "Bearer " + wrong}}, ""},
      {"token without the Bearer scheme", {{"Authorization", node.token}}, ""},
      {"prefix of the token", {{"Authorization", "Bearer " + node.token.substr(0, 8)}}, ""},
      {"token in the query string", {}, "?access_token=" + node.token},
      {"token in the query string, named token", {}, "?token=" + node.token},
  };
  for (const AuthCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto response = testing::FetchOnce(node.AdminUrl("/admin/v1/status" + c.query), c.headers);
    ASSERT_TRUE(response) << response.error().message;
    EXPECT_EQ(response->status, 401) << response->body;
    ExpectJsonError(*response, Errc::kUnauthorized);
    EXPECT_EQ(response->body.find("capacity_bytes"), std::string::npos) << response->body;
  }

  const http::ClientResponse status = AdminRequest(node, "GET", "/admin/v1/status");
  EXPECT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(AdminStatus(node).at("node_id").as_string(), "edge-1");
  EXPECT_EQ(node.process.Stderr().find(node.token), std::string::npos)
      << "the token appears in the node's log";
}

}  // namespace
}  // namespace mei
