// A `mei-cache-node` whose store fills its filesystem (issue 8, fault tests): a tmpfs the test
// mounts (as root; skipped with the reason otherwise), far smaller than the node's --capacity.
// Proves that once the disk is full, fills fail with 507 and a JSON body while every block
// already held is still served whole, that the node stays up, and that after a purge through the
// admin API the same blocks fill again: the room of the purged blocks really comes back (the
// store reclaims it, common/store.h "Full disk").
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/errc.h"
#include "common/manifest.h"
#include "tests/integration/served_cache_node.h"
#include "tests/integration/served_origin.h"
#include "tests/integration/test_upstream.h"

namespace mei {
namespace {

namespace fs = std::filesystem;
using testing::ServedCacheNode;
using testing::Sha256OfString;

// The tmpfs: more than the node's memtable (16 MiB) and the store's reserve (8 MiB), so that
// frames reach the segment files before the disk fills; far less than the model.
constexpr std::uint64_t kDiskBytes = 40ull << 20;

// mei-synth's base model at 64 MiB (about 46 MB stored), ingested as acme/big and served by a
// TestUpstream; each test mounts its own tmpfs.
class DiskFullTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;  // SetUp skips every test
    dir_ = fs::path(::testing::TempDir()) / ("disk_full_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    if (!testing::Synthesize(dir_ / "models", "64MiB", "base", dir_ / "synth")) return;
    const fs::path store = dir_ / "origin-store";
    if (testing::Ingest(store, "acme/big", dir_ / "models" / "base", dir_ / "ingest").empty()) {
      return;
    }
    store_ = testing::OpenUpstreamStore(store);
    if (!store_) return;
    auto manifest = store_->manifests->Get("acme/big", "main");
    if (!manifest) {
      ADD_FAILURE() << "the upstream store lacks acme/big: " << manifest.error().message;
      store_.reset();
      return;
    }
    model_ = std::move(*manifest);
  }

  static void TearDownTestSuite() {
    store_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "mounting a small tmpfs needs root; running as uid " << ::geteuid();
    }
    ASSERT_TRUE(store_) << "the upstream store was not made (see above)";
    scratch_ = dir_ / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    disk_ = scratch_ / "disk";
    fs::create_directories(disk_);
    const std::string size = "size=" + std::to_string(kDiskBytes);
    if (::mount("tmpfs", disk_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, size.c_str()) != 0) {
      GTEST_SKIP() << "cannot mount a " << kDiskBytes << "-byte tmpfs at " << disk_ << ": "
                   << std::strerror(errno);
    }
    mounted_ = true;
  }

  void TearDown() override {
    if (mounted_ && ::umount2(disk_.c_str(), 0) != 0) {
      // Still busy (a node that did not exit): detach it, so that it goes once unused.
      EXPECT_EQ(::umount2(disk_.c_str(), MNT_DETACH), 0) << std::strerror(errno);
    }
    if (!scratch_.empty()) fs::remove_all(scratch_);
  }

  // Bytes in use on the tmpfs.
  std::uint64_t DiskUsedBytes() const {
    struct statvfs stats {};
    EXPECT_EQ(::statvfs(disk_.c_str(), &stats), 0) << std::strerror(errno);
    return static_cast<std::uint64_t>(stats.f_blocks - stats.f_bfree) * stats.f_frsize;
  }

  static inline fs::path dir_;
  static inline std::shared_ptr<Store> store_;
  static inline Manifest model_;
  fs::path scratch_;
  fs::path disk_;
  bool mounted_ = false;
};

// GET /v1/blocks/{id}: 200 with bytes whose SHA-256 is the id (EXPECTed), or whatever else came.
http::ClientResponse GetBlock(const ServedCacheNode& node, const BlockId& id) {
  http::ClientResponse reply = testing::Get(node.Url("/v1/blocks/" + id.Hex()));
  if (reply.status == 200) {
    EXPECT_EQ(Sha256OfString(reply.body), id) << "wrong bytes for " << id.Hex();
  }
  return reply;
}

TEST_F(DiskFullTest, FullDiskFailsFillsWith507KeepsServingHitsAndAPurgeMakesRoomAgain) {
  auto origin = testing::TestUpstream::Start(store_, "origin");
  ASSERT_TRUE(origin);
  ServedCacheNode node = testing::StartCacheNode(disk_ / "store", origin->Url(), "edge-1",
                                                 scratch_ / "edge-1", {"--capacity", "1GiB"});
  ASSERT_FALSE(node.endpoint.empty());
  const std::vector<BlockId> blocks = testing::UniqueBlocks(model_);

  // Fill until the disk is full.
  std::vector<BlockId> held;
  std::optional<BlockId> refused;
  for (const BlockId& id : blocks) {
    const http::ClientResponse reply = GetBlock(node, id);
    if (reply.status == 200) {
      held.push_back(id);
      continue;
    }
    EXPECT_EQ(reply.status, 507) << reply.body;
    testing::ExpectJsonError(reply, Errc::kStoreFull);
    refused = id;
    break;
  }
  ASSERT_TRUE(refused) << "the disk never filled: " << held.size() << " blocks held, "
                       << DiskUsedBytes() << " bytes of " << kDiskBytes << " used";
  std::cout << held.size() << " blocks held when the disk filled, " << DiskUsedBytes()
            << " bytes of " << kDiskBytes << " in use\n";
  EXPECT_GT(DiskUsedBytes(), kDiskBytes / 2) << "the store refused fills long before the disk "
                                                "was full";
  const std::uint64_t held_bytes =
      testing::AdminStatus(node).at("used_bytes").to_number<std::uint64_t>();

  // Still full: the refused block again, and the next missing one.
  const http::ClientResponse again = GetBlock(node, *refused);
  EXPECT_EQ(again.status, 507) << again.body;
  testing::ExpectJsonError(again, Errc::kStoreFull);
  const auto next = std::find(blocks.begin(), blocks.end(), *refused) + 1;
  ASSERT_NE(next, blocks.end());
  EXPECT_EQ(GetBlock(node, *next).status, 507);

  // Hits go on, whole; the node is up and holds exactly what it served.
  for (const BlockId& id : held) {
    const http::ClientResponse hit = GetBlock(node, id);
    EXPECT_EQ(hit.status, 200) << id.Hex() << ": " << hit.body;
    EXPECT_EQ(hit.Header("X-Cache"), "HIT") << id.Hex();
  }
  EXPECT_EQ(testing::Get(node.Url("/healthz")).status, 200);
  EXPECT_FALSE(node.process.WaitFor(std::chrono::milliseconds(0))) << node.process.Stderr();
  std::vector<BlockId> listed = testing::StoredBlockIds(node);
  std::vector<BlockId> expected = held;
  std::sort(listed.begin(), listed.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(listed, expected);

  // A purge of everything held makes room: the refused block fills, and then about as many blocks
  // as were held before (RocksDB's own files grew a little meanwhile).
  boost::json::array ids;
  for (const BlockId& id : held) ids.push_back(boost::json::string(id.Hex()));
  const http::ClientResponse purged =
      testing::AdminRequest(node, "POST", "/admin/v1/purge",
                            boost::json::serialize(boost::json::object{{"blocks", ids}}));
  ASSERT_EQ(purged.status, 200) << purged.body;
  EXPECT_EQ(boost::json::parse(purged.body).at("purged").to_number<std::uint64_t>(), held.size());
  EXPECT_TRUE(testing::StoredBlockIds(node).empty());

  const http::ClientResponse filled = GetBlock(node, *refused);
  ASSERT_EQ(filled.status, 200) << filled.body;
  EXPECT_EQ(filled.Header("X-Cache"), "MISS");
  std::size_t refilled = 1;
  for (const BlockId& id : held) {
    const http::ClientResponse reply = GetBlock(node, id);
    if (reply.status != 200) {
      EXPECT_EQ(reply.status, 507) << reply.body;
      testing::ExpectJsonError(reply, Errc::kStoreFull);
      break;
    }
    ++refilled;
  }
  std::cout << refilled << " blocks filled after the purge\n";
  EXPECT_GE(refilled + 2, held.size()) << "the purged blocks' room did not come back";
  EXPECT_GE(testing::AdminStatus(node).at("used_bytes").to_number<std::uint64_t>(), held_bytes / 2);
  EXPECT_EQ(testing::Get(node.Url("/healthz")).status, 200);
}

}  // namespace
}  // namespace mei
