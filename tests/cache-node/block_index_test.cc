#include "cache-node/block_index.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <latch>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/codec.h"

namespace mei::cache_node {
namespace {

namespace fs = std::filesystem;

struct TestBlock {
  BlockId id;
  std::vector<std::byte> frame;
};

// A block of `size` random (incompressible) bytes, framed by the real encoder: its frame is the
// raw codec, kFrameHeaderSize + size bytes.
TestBlock MakeBlock(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> raw(size);
  for (std::byte& b : raw) b = static_cast<std::byte>(rng());
  TestBlock block;
  block.id = BlockIdOf(raw);
  BlockEncoder encoder;
  encoder.Encode(raw, 0, block.frame);
  return block;
}

std::vector<TestBlock> MakeBlocks(std::size_t count, std::size_t size, std::uint64_t seed) {
  std::vector<TestBlock> blocks;
  for (std::size_t i = 0; i < count; ++i) blocks.push_back(MakeBlock(size, seed + i));
  return blocks;
}

class BlockIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("mei_block_index_test_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    store_ = OpenStore(dir_).value();
  }

  void TearDown() override {
    index_.reset();
    store_ = Store{};
    fs::remove_all(dir_);
  }

  // Options with a logical clock, so that no two accesses share a time.
  CapacityOptions Options(std::uint64_t capacity_bytes, double high = 1.0, double low = 1.0,
                          EvictionPolicy policy = EvictionPolicy::kLru) {
    CapacityOptions options;
    options.capacity_bytes = capacity_bytes;
    options.high_watermark = high;
    options.low_watermark = low;
    options.policy = policy;
    options.now_ms = [this] { return ++clock_ms_; };
    return options;
  }

  void OpenIndex(CapacityOptions options) {
    auto index = BlockIndex::Open(*store_.blocks, *store_.plan, std::move(options));
    ASSERT_TRUE(index.has_value()) << index.error().message;
    index_ = std::move(*index);
  }

  // Closes the index (after a Flush) and the store, and opens both again.
  void Reopen(CapacityOptions options) {
    if (index_ != nullptr) {
      auto flushed = index_->Flush();
      ASSERT_TRUE(flushed.has_value()) << flushed.error().message;
    }
    index_.reset();
    store_ = Store{};
    store_ = OpenStore(dir_).value();
    OpenIndex(std::move(options));
  }

  // What the cache node's fill does: reserve, put, then record or release.
  Result<void> Fill(const TestBlock& block) {
    if (auto reserved = index_->Reserve(block.frame.size()); !reserved) return reserved.error();
    auto put = store_.blocks->Put(block.id, block.frame);
    if (!put || !*put) {
      index_->Release(block.frame.size());
      if (!put) return put.error();
      return {};
    }
    auto meta = store_.blocks->Meta(block.id);
    if (!meta) return meta.error();
    index_->Added(block.id, *meta);
    return {};
  }

  void FillAll(const std::vector<TestBlock>& blocks) {
    for (const TestBlock& block : blocks) {
      auto filled = Fill(block);
      ASSERT_TRUE(filled.has_value()) << filled.error().message;
    }
  }

  std::vector<BlockId> Stored() const {
    std::vector<BlockId> ids;
    EXPECT_TRUE(store_.blocks
                    ->ForEach([&](const BlockId& id, const BlockMeta&) {
                      ids.push_back(id);
                      return true;
                    })
                    .has_value());
    return ids;
  }

  // Evicts the evictable blocks one at a time, by reserving one byte more than is free, and
  // returns them in the order they went. REQUIRES: watermarks 1.0 and 1.0.
  std::vector<BlockId> DrainInEvictionOrder() {
    std::vector<BlockId> order;
    while (true) {
      const std::vector<BlockId> before = Stored();
      const BlockIndex::Stats stats = index_->stats();
      const std::uint64_t needed = stats.capacity_bytes - stats.used_bytes + 1;
      auto reserved = index_->Reserve(needed);
      if (!reserved) {
        EXPECT_EQ(reserved.error().code, Errc::kStoreFull);
        break;
      }
      index_->Release(needed);
      const std::vector<BlockId> after = Stored();
      EXPECT_EQ(after.size() + 1, before.size()) << "one block per step";
      for (const BlockId& id : before) {
        if (!std::binary_search(after.begin(), after.end(), id)) order.push_back(id);
      }
      if (after.empty()) break;
    }
    return order;
  }

  static std::vector<BlockId> IdsOf(const std::vector<const TestBlock*>& blocks) {
    std::vector<BlockId> ids;
    for (const TestBlock* block : blocks) ids.push_back(block->id);
    return ids;
  }

  fs::path dir_;
  Store store_;
  std::unique_ptr<BlockIndex> index_;
  std::uint64_t clock_ms_ = 1'700'000'000'000;
};

TEST(EvictionPolicyTest, ParsesLruAndSharingAndRejectsOtherNamesClearly) {
  EXPECT_EQ(ParseEvictionPolicy("lru").value(), EvictionPolicy::kLru);
  EXPECT_EQ(ParseEvictionPolicy("sharing").value(), EvictionPolicy::kSharing);
  EXPECT_EQ(NameOf(EvictionPolicy::kLru), "lru");
  EXPECT_EQ(NameOf(EvictionPolicy::kSharing), "sharing");
  for (const char* bad : {"LRU", "", "fifo", "lru "}) {
    SCOPED_TRACE(bad);
    auto parsed = ParseEvictionPolicy(bad);
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().code, Errc::kBadRequest);
    EXPECT_NE(parsed.error().message.find("\"" + std::string(bad) + "\""), std::string::npos)
        << parsed.error().message;
    EXPECT_NE(parsed.error().message.find("lru or sharing"), std::string::npos)
        << parsed.error().message;
  }
}

TEST_F(BlockIndexTest, OpenRejectsZeroCapacityAndInconsistentWatermarks) {
  EXPECT_EQ(BlockIndex::Open(*store_.blocks, *store_.plan, Options(0)).error().code,
            Errc::kBadRequest);
  for (const auto& [high, low] : std::vector<std::pair<double, double>>{
           {0.8, 0.9}, {1.1, 0.5}, {0.9, 0.0}, {0.9, -0.1}, {std::nan(""), 0.5}}) {
    SCOPED_TRACE(testing::Message() << high << " " << low);
    auto index = BlockIndex::Open(*store_.blocks, *store_.plan, Options(1000, high, low));
    ASSERT_FALSE(index.has_value());
    EXPECT_EQ(index.error().code, Errc::kBadRequest);
  }
}

TEST_F(BlockIndexTest, LruEvictsLeastRecentlyUsedFirst) {
  const std::vector<TestBlock> blocks = MakeBlocks(5, 1000, 1);
  OpenIndex(Options(5 * blocks[0].frame.size()));
  FillAll(blocks);
  index_->Touched(blocks[0].id);
  index_->Touched(blocks[2].id);
  index_->Touched(blocks[0].id);
  EXPECT_EQ(DrainInEvictionOrder(),
            IdsOf({&blocks[1], &blocks[3], &blocks[4], &blocks[2], &blocks[0]}));
  EXPECT_EQ(index_->stats().evictions, 5u);
  EXPECT_EQ(index_->stats().evicted_bytes, 5 * blocks[0].frame.size());
  EXPECT_EQ(index_->stats().blocks, 0u);
}

TEST_F(BlockIndexTest, RebuildAfterReopenKeepsUsedBytesMetadataAndLruOrder) {
  const std::vector<TestBlock> blocks = MakeBlocks(6, 2000, 10);
  const std::uint64_t capacity = 6 * blocks[0].frame.size();
  OpenIndex(Options(capacity));
  FillAll(blocks);
  for (int i : {3, 1, 3, 5, 0}) index_->Touched(blocks[i].id);
  const std::vector<std::pair<BlockId, BlockMeta>> listed = index_->List();
  const BlockIndex::Stats stats = index_->stats();
  ASSERT_EQ(listed.size(), 6u);
  EXPECT_TRUE(std::is_sorted(listed.begin(), listed.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; }));

  Reopen(Options(capacity));
  EXPECT_EQ(index_->stats().used_bytes, stats.used_bytes);
  EXPECT_EQ(index_->stats().used_bytes, store_.blocks->stored_bytes());
  EXPECT_EQ(index_->stats().blocks, 6u);
  EXPECT_EQ(index_->List(), listed);
  for (const auto& [id, meta] : listed) {
    EXPECT_EQ(store_.blocks->Meta(id).value(), meta);
    EXPECT_TRUE(index_->Contains(id));
  }
  // Never hit, in fill order; then hit, in order of their last hit.
  EXPECT_EQ(DrainInEvictionOrder(),
            IdsOf({&blocks[2], &blocks[4], &blocks[1], &blocks[3], &blocks[5], &blocks[0]}));
}

TEST_F(BlockIndexTest, FlushPersistsLastAccessHitsAndPins) {
  const std::vector<TestBlock> blocks = MakeBlocks(2, 1000, 20);
  OpenIndex(Options(1 << 20));
  FillAll(blocks);
  index_->Touched(blocks[0].id);
  index_->Touched(blocks[0].id);
  const std::uint64_t last_hit_ms = clock_ms_;
  ASSERT_TRUE(index_->Pin(std::vector<BlockId>{blocks[1].id, blocks[1].id}).has_value());
  index_->SetPlanPins({blocks[1].id});
  EXPECT_EQ(store_.blocks->Meta(blocks[0].id).value().hits, 0u);  // not before the Flush

  ASSERT_TRUE(index_->Flush().has_value());
  const BlockMeta hit = store_.blocks->Meta(blocks[0].id).value();
  EXPECT_EQ(hit.hits, 2u);
  EXPECT_EQ(hit.last_access_ms, last_hit_ms);
  EXPECT_EQ(hit.pins, 0u);
  EXPECT_EQ(store_.blocks->Meta(blocks[1].id).value().pins, 3u);  // two operator pins, the plan
  EXPECT_EQ(store_.blocks->Meta(blocks[1].id).value().hits, 0u);
}

TEST_F(BlockIndexTest, StoredBytesNeverExceedCapacityOverManyAdmissions) {
  constexpr std::uint64_t kCapacity = 64 * 1024;
  OpenIndex(Options(kCapacity, 0.9, 0.7));
  std::mt19937_64 rng(7);
  std::vector<BlockId> filled;
  for (std::uint64_t i = 0; i < 300; ++i) {
    const TestBlock block = MakeBlock(200 + rng() % 6000, 1000 + i);
    auto result = Fill(block);
    ASSERT_TRUE(result.has_value()) << i << ": " << result.error().message;
    filled.push_back(block.id);
    index_->Touched(filled[rng() % filled.size()]);
    ASSERT_LE(store_.blocks->stored_bytes(), kCapacity * 9 / 10) << i;
    ASSERT_EQ(index_->stats().used_bytes, store_.blocks->stored_bytes()) << i;
    ASSERT_EQ(index_->stats().blocks, store_.blocks->block_count()) << i;
  }
  EXPECT_GT(index_->stats().evictions, 0u);
  EXPECT_EQ(index_->stats().evictions + index_->stats().blocks, 300u);
}

TEST_F(BlockIndexTest, ConcurrentFillsNeverPushStoredBytesPastCapacity) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 40;
  const std::vector<TestBlock> blocks = MakeBlocks(kThreads * kPerThread, 3000, 5000);
  const std::uint64_t capacity = 20 * blocks[0].frame.size();
  OpenIndex(Options(capacity, 0.9, 0.6));
  std::latch start(kThreads);
  std::atomic<std::uint64_t> max_stored{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        const TestBlock& block = blocks[t * kPerThread + i];
        if (!Fill(block)) ++failures;
        index_->Touched(blocks[t * kPerThread].id);
        std::uint64_t seen = max_stored.load();
        const std::uint64_t now = store_.blocks->stored_bytes();
        while (now > seen && !max_stored.compare_exchange_weak(seen, now)) {
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(max_stored.load(), capacity * 9 / 10);
  EXPECT_EQ(index_->stats().used_bytes, store_.blocks->stored_bytes());
  EXPECT_EQ(index_->stats().blocks, store_.blocks->block_count());
  EXPECT_EQ(index_->stats().evictions + index_->stats().blocks,
            static_cast<std::uint64_t>(kThreads * kPerThread));
}

TEST_F(BlockIndexTest, WatermarksEvictDownToTheLowWatermarkInOneGo) {
  const std::vector<TestBlock> blocks = MakeBlocks(10, 1000, 30);
  const std::uint64_t frame = blocks[0].frame.size();
  OpenIndex(Options(10 * frame, 0.9, 0.5));
  FillAll(std::vector<TestBlock>(blocks.begin(), blocks.begin() + 9));  // 9 of 10: at high
  EXPECT_EQ(index_->stats().evictions, 0u);
  EXPECT_EQ(store_.blocks->stored_bytes(), 9 * frame);

  ASSERT_TRUE(Fill(blocks[9]).has_value());  // would pass high: evict until 4 + 1 fit in 5
  EXPECT_EQ(index_->stats().evictions, 5u);
  EXPECT_EQ(store_.blocks->stored_bytes(), 5 * frame);
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(index_->Contains(blocks[i].id), i >= 5) << i;
    EXPECT_EQ(store_.blocks->Has(blocks[i].id).value(), i >= 5) << i;
  }
  ASSERT_TRUE(Fill(MakeBlock(1000, 40)).has_value());  // below high again: no eviction
  EXPECT_EQ(index_->stats().evictions, 5u);
}

TEST_F(BlockIndexTest, PinnedBlocksAreNeverEvictedIncludingPinsNamedBeforeArrival) {
  const std::vector<TestBlock> blocks = MakeBlocks(4, 1000, 50);
  const std::uint64_t frame = blocks[0].frame.size();
  OpenIndex(Options(8 * frame, 0.9, 0.5));
  // blocks[0] and [1] stored before they are pinned; [2] and [3] pinned before they arrive.
  FillAll({blocks[0], blocks[1]});
  index_->SetPlanPins({blocks[0].id, blocks[2].id});
  ASSERT_TRUE(index_->Pin(std::vector<BlockId>{blocks[1].id, blocks[3].id}).has_value());
  FillAll({blocks[2], blocks[3]});
  EXPECT_EQ(index_->stats().pinned_blocks, 4u);
  for (const TestBlock& block : blocks) EXPECT_TRUE(index_->IsPinned(block.id));

  for (std::uint64_t i = 0; i < 100; ++i) {
    auto filled = Fill(MakeBlock(1000, 100 + i));
    ASSERT_TRUE(filled.has_value()) << i << ": " << filled.error().message;
    for (const TestBlock& block : blocks) ASSERT_TRUE(store_.blocks->Has(block.id).value()) << i;
  }
  EXPECT_GT(index_->stats().evictions, 50u);
  EXPECT_LE(store_.blocks->stored_bytes(), 8 * frame);

  // Replacing the plan unpins what it no longer names.
  index_->SetPlanPins({});
  EXPECT_FALSE(index_->IsPinned(blocks[0].id));
  EXPECT_TRUE(index_->IsPinned(blocks[1].id));
  EXPECT_EQ(index_->stats().pinned_blocks, 2u);
}

TEST_F(BlockIndexTest, StoreFullWhenEverythingIsPinnedAndNothingIsEvicted) {
  const std::vector<TestBlock> blocks = MakeBlocks(3, 1000, 60);
  const std::uint64_t frame = blocks[0].frame.size();
  OpenIndex(Options(3 * frame));
  FillAll(blocks);
  index_->SetPlanPins({blocks[0].id, blocks[1].id});
  ASSERT_TRUE(index_->Pin(std::vector<BlockId>{blocks[2].id}).has_value());

  const TestBlock extra = MakeBlock(1000, 70);
  auto filled = Fill(extra);
  ASSERT_FALSE(filled.has_value());
  EXPECT_EQ(filled.error().code, Errc::kStoreFull);
  EXPECT_NE(filled.error().message.find("the store is full"), std::string::npos)
      << filled.error().message;
  EXPECT_EQ(index_->stats().evictions, 0u);
  EXPECT_EQ(index_->stats().used_bytes, 3 * frame);  // the failed reservation is not kept
  EXPECT_EQ(Stored().size(), 3u);

  // A block larger than the whole capacity never fits.
  index_->SetPlanPins({});
  ASSERT_TRUE(index_->Unpin(std::vector<BlockId>{blocks[2].id}).has_value());
  EXPECT_EQ(index_->Reserve(3 * frame + 1).error().code, Errc::kStoreFull);
  EXPECT_EQ(Stored().size(), 3u);

  // Unpinned, they make room.
  ASSERT_TRUE(Fill(extra).has_value());
  EXPECT_EQ(index_->stats().evictions, 1u);
  EXPECT_EQ(store_.blocks->Has(blocks[0].id).value(), false);
}

TEST_F(BlockIndexTest, OperatorPinsAreCountedAndSurviveReopenButPlanPinsDoNot) {
  const std::vector<TestBlock> blocks = MakeBlocks(3, 1000, 80);
  const TestBlock later = MakeBlock(1000, 90);
  const std::uint64_t capacity = 3 * blocks[0].frame.size();
  OpenIndex(Options(capacity));
  FillAll(blocks);
  ASSERT_TRUE(index_->Pin(std::vector<BlockId>{blocks[0].id, blocks[0].id, later.id}).has_value());
  ASSERT_TRUE(index_->Unpin(std::vector<BlockId>{blocks[0].id}).has_value());
  ASSERT_TRUE(index_->Unpin(std::vector<BlockId>{blocks[2].id}).has_value());  // no pin: no-op
  index_->SetPlanPins({blocks[1].id});
  EXPECT_TRUE(store_.plan->Get("pins").value().has_value());

  Reopen(Options(capacity));
  EXPECT_TRUE(index_->IsPinned(blocks[0].id));
  EXPECT_TRUE(index_->IsPinned(later.id));
  EXPECT_FALSE(index_->IsPinned(blocks[1].id));  // the caller sets plan pins from its plan
  EXPECT_EQ(index_->stats().pinned_blocks, 1u);
  const auto listed = index_->List();
  const auto it = std::find_if(listed.begin(), listed.end(),
                               [&](const auto& entry) { return entry.first == blocks[0].id; });
  ASSERT_NE(it, listed.end());
  EXPECT_EQ(it->second.pins, 1u);

  // The pinned block outlives everything else; one more Unpin frees it.
  const std::vector<BlockId> order = DrainInEvictionOrder();
  EXPECT_EQ(order, IdsOf({&blocks[1], &blocks[2]}));
  EXPECT_TRUE(store_.blocks->Has(blocks[0].id).value());
  ASSERT_TRUE(index_->Unpin(std::vector<BlockId>{blocks[0].id}).has_value());
  EXPECT_FALSE(index_->IsPinned(blocks[0].id));
  EXPECT_EQ(DrainInEvictionOrder(), IdsOf({&blocks[0]}));
}

TEST_F(BlockIndexTest, DamagedStoredPinsFailOpenWithStorageError) {
  ASSERT_TRUE(store_.plan->Put("pins", R"({"not-an-id": 1})").has_value());
  auto index = BlockIndex::Open(*store_.blocks, *store_.plan, Options(1000));
  ASSERT_FALSE(index.has_value());
  EXPECT_EQ(index.error().code, Errc::kStorage);
  EXPECT_NE(index.error().message.find("pins"), std::string::npos) << index.error().message;
}

TEST_F(BlockIndexTest, SharingEvictsLowestHitsTimesUseOverSizeFirst) {
  const TestBlock a = MakeBlock(1000, 200);  // 3 hits x 1 model / ~1 KB
  const TestBlock b = MakeBlock(1000, 201);  // 1 hit x 5 models / ~1 KB
  const TestBlock c = MakeBlock(4000, 202);  // 8 hits x 1 model / ~4 KB
  const TestBlock d = MakeBlock(1000, 203);  // 10 hits, no held model uses it: 0
  const TestBlock e = MakeBlock(1000, 204);  // never hit: 0, and filled before d's last hit
  const std::vector<TestBlock> blocks = {a, b, c, d, e};
  std::uint64_t capacity = 0;
  for (const TestBlock& block : blocks) capacity += block.frame.size();

  for (EvictionPolicy policy : {EvictionPolicy::kSharing, EvictionPolicy::kLru}) {
    SCOPED_TRACE(NameOf(policy));
    index_.reset();
    for (const TestBlock& block : blocks) ASSERT_TRUE(store_.blocks->Delete(block.id).has_value());
    OpenIndex(Options(capacity, 1.0, 1.0, policy));
    FillAll(blocks);
    for (int i = 0; i < 8; ++i) index_->Touched(c.id);
    for (int i = 0; i < 3; ++i) index_->Touched(a.id);
    index_->Touched(b.id);
    for (int i = 0; i < 10; ++i) index_->Touched(d.id);
    index_->SetModelUse({{a.id, 1}, {b.id, 5}, {c.id, 1}, {e.id, 4}});
    if (policy == EvictionPolicy::kSharing) {
      EXPECT_EQ(DrainInEvictionOrder(), IdsOf({&e, &d, &c, &a, &b}));
    } else {
      EXPECT_EQ(DrainInEvictionOrder(), IdsOf({&e, &c, &a, &b, &d}));
    }
  }
}

TEST_F(BlockIndexTest, DeletedBlockIsForgottenWithoutCountingAnEviction) {
  const std::vector<TestBlock> blocks = MakeBlocks(2, 1000, 300);
  OpenIndex(Options(1 << 20));
  FillAll(blocks);
  EXPECT_TRUE(index_->Delete(blocks[0].id).value());
  EXPECT_FALSE(index_->Delete(blocks[0].id).value());  // no longer stored
  EXPECT_FALSE(index_->Contains(blocks[0].id));
  EXPECT_TRUE(index_->Contains(blocks[1].id));
  EXPECT_EQ(index_->stats().blocks, 1u);
  EXPECT_EQ(index_->stats().used_bytes, blocks[1].frame.size());
  EXPECT_EQ(index_->stats().evictions, 0u);
  ASSERT_TRUE(index_->Flush().has_value());
  EXPECT_EQ(store_.blocks->Has(blocks[0].id).value(), false);  // Flush does not bring it back
}

TEST_F(BlockIndexTest, ReconcileDropsAnEntryWhoseBlockIsGoneButNeverAStoredBlock) {
  const std::vector<TestBlock> blocks = MakeBlocks(2, 1000, 310);
  OpenIndex(Options(1 << 20));
  FillAll(blocks);
  // The index outlived a deletion made behind its back.
  ASSERT_TRUE(store_.blocks->Delete(blocks[0].id).value());
  ASSERT_TRUE(index_->Contains(blocks[0].id));
  ASSERT_TRUE(index_->Reconcile(blocks[0].id).has_value());
  EXPECT_FALSE(index_->Contains(blocks[0].id));
  ASSERT_TRUE(index_->Reconcile(blocks[1].id).has_value());
  EXPECT_TRUE(index_->Contains(blocks[1].id));
  EXPECT_EQ(index_->stats().blocks, store_.blocks->block_count());
}

TEST_F(BlockIndexTest, ReconcileIndexesAStoredBlockTheIndexLacksAsEvictable) {
  const TestBlock block = MakeBlock(1000, 320);
  OpenIndex(Options(1 << 20));
  ASSERT_TRUE(store_.blocks->Put(block.id, block.frame).value());  // stored, never Added
  EXPECT_FALSE(index_->Touched(block.id));
  ASSERT_TRUE(index_->Reconcile(block.id).has_value());
  EXPECT_TRUE(index_->Contains(block.id));
  EXPECT_TRUE(index_->Touched(block.id));
  EXPECT_EQ(index_->stats().blocks, 1u);
  EXPECT_EQ(DrainInEvictionOrder(), std::vector<BlockId>{block.id});
}

TEST_F(BlockIndexTest, APurgeBetweenAFillsPutAndItsAddedLeavesNoEntry) {
  const TestBlock block = MakeBlock(1000, 340);
  OpenIndex(Options(1 << 20));
  ASSERT_TRUE(index_->Reserve(block.frame.size()).has_value());
  ASSERT_TRUE(store_.blocks->Put(block.id, block.frame).value());
  const BlockMeta meta = store_.blocks->Meta(block.id).value();
  ASSERT_EQ(index_->Purge(block.id).value(), BlockIndex::Purged::kDeleted);
  index_->Added(block.id, meta);
  EXPECT_FALSE(index_->Contains(block.id));
  EXPECT_EQ(index_->stats().blocks, store_.blocks->block_count());
  EXPECT_EQ(index_->stats().used_bytes, 0u);  // the reservation came back
}

TEST_F(BlockIndexTest, PurgeTakesUnpinnedBlocksAndLeavesPinnedOnes) {
  const std::vector<TestBlock> blocks = MakeBlocks(3, 1000, 350);
  OpenIndex(Options(1 << 20));
  FillAll(blocks);
  index_->SetPlanPins({blocks[0].id});
  ASSERT_TRUE(index_->Pin(std::vector<BlockId>{blocks[1].id}).has_value());
  EXPECT_EQ(index_->Purge(blocks[0].id).value(), BlockIndex::Purged::kPinned);
  EXPECT_EQ(index_->Purge(blocks[1].id).value(), BlockIndex::Purged::kPinned);
  EXPECT_EQ(index_->Purge(blocks[2].id).value(), BlockIndex::Purged::kDeleted);
  EXPECT_EQ(index_->Purge(blocks[2].id).value(), BlockIndex::Purged::kNotStored);
  EXPECT_EQ(Stored().size(), 2u);
  EXPECT_EQ(index_->stats().blocks, 2u);
}

TEST_F(BlockIndexTest, PlanCoverageCountsThePlannedBlocksThatAreHeld) {
  const std::vector<TestBlock> blocks = MakeBlocks(3, 1000, 330);
  OpenIndex(Options(1 << 20));
  EXPECT_EQ(index_->plan_coverage().planned, 0u);
  index_->SetPlanPins({blocks[0].id, blocks[1].id, blocks[2].id});
  FillAll({blocks[0], blocks[2]});
  EXPECT_EQ(index_->plan_coverage().planned, 3u);
  EXPECT_EQ(index_->plan_coverage().held, 2u);
  FillAll({blocks[1]});
  EXPECT_EQ(index_->plan_coverage().held, 3u);
  EXPECT_TRUE(index_->Delete(blocks[1].id).value());
  EXPECT_EQ(index_->plan_coverage().held, 2u);
}

TEST_F(BlockIndexTest, ReservationsCountAsUsedUntilAddedOrReleased) {
  const TestBlock block = MakeBlock(1000, 400);
  const std::uint64_t frame = block.frame.size();
  OpenIndex(Options(2 * frame));
  ASSERT_TRUE(index_->Reserve(frame).has_value());
  ASSERT_TRUE(index_->Reserve(frame).has_value());
  EXPECT_EQ(index_->stats().used_bytes, 2 * frame);
  EXPECT_EQ(index_->Reserve(1).error().code, Errc::kStoreFull);  // reservations cannot be evicted
  index_->Release(frame);
  EXPECT_EQ(index_->stats().used_bytes, frame);
  ASSERT_TRUE(store_.blocks->Put(block.id, block.frame).value());
  index_->Added(block.id, store_.blocks->Meta(block.id).value());
  EXPECT_EQ(index_->stats().used_bytes, frame);
  EXPECT_EQ(index_->stats().blocks, 1u);
}

}  // namespace
}  // namespace mei::cache_node
