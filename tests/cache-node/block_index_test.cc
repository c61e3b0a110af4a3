#include "cache-node/block_index.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <latch>
#include <mutex>
#include <optional>
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

// A gate a test hook waits at until the test opens it. Wait gives up after a minute, so that a
// regression (the test's thread waiting for the held one) fails the test instead of hanging it,
// and says whether the gate was opened.
class Gate {
 public:
  void Open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    opened_.notify_all();
  }
  bool Wait() {
    std::unique_lock lock(mutex_);
    return opened_.wait_for(lock, std::chrono::minutes(1), [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
};

// The index's store deletes, seen through CapacityOptions::before_delete: holds the hold_at-th
// at the gate (`reached` counts down when it gets there) and fails those from fail_from on.
// Both are set before the index deletes anything.
struct DeleteHook {
  Result<void> Before() {
    const int call = ++calls;
    if (call == hold_at) {
      reached.count_down();
      if (!gate.Wait()) gate_timed_out = true;
    }
    if (fail_from != 0 && call >= fail_from) {
      return Error{Errc::kStorage, "injected deletion failure"};
    }
    return {};
  }

  int hold_at = 0;    // 0: none held
  int fail_from = 0;  // 0: none fail
  std::atomic<int> calls{0};
  std::latch reached{1};
  Gate gate;
  std::atomic<bool> gate_timed_out{false};
};

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
    if (evictor_.joinable()) {  // a test that stopped early
      hook_.gate.Open();
      evictor_.join();
    }
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
    options.before_delete = [this](const BlockId&) { return hook_.Before(); };
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

  // What BlockFiller::Store does: reserve, put, then Added also when the store already had the
  // block (Release when the put failed).
  Result<void> FillLikeTheNode(const TestBlock& block) {
    auto view = ParseFrame(block.frame);
    if (!view) return view.error();
    if (auto reserved = index_->Reserve(block.frame.size()); !reserved) return reserved.error();
    auto put = store_.blocks->Put(block.id, block.frame);
    if (!put) {
      index_->Release(block.frame.size());
      return put.error();
    }
    BlockMeta meta;
    meta.raw_size = view->header.raw_size;
    meta.stored_size = block.frame.size();
    meta.codec = view->header.codec;
    index_->Added(block.id, meta);
    return {};
  }

  // What a hit does (NodeContent::TryGetBlock, then GetBlock's Reconcile when the index lacks the
  // block): the stored frame, or nullopt when the store has none.
  std::optional<StoredBlock> Read(const BlockId& id) {
    auto stored = store_.blocks->Get(id);
    if (!stored) return std::nullopt;
    if (!index_->Touched(id)) {
      EXPECT_TRUE(index_->Reconcile(id).has_value());
    }
    return std::move(*stored);
  }

  // Index and store agree: the same blocks, each of its stored size, and used bytes are the
  // stored bytes (no reservation left).
  void ExpectIndexMatchesStore() {
    std::vector<BlockId> indexed;
    std::uint64_t indexed_bytes = 0;
    for (const auto& [id, meta] : index_->List()) {
      indexed.push_back(id);
      indexed_bytes += meta.stored_size;
      auto stored = store_.blocks->Meta(id);
      ASSERT_TRUE(stored.has_value()) << id.Hex() << " is indexed but not stored";
      EXPECT_EQ(meta.stored_size, stored->stored_size) << id.Hex();
    }
    std::vector<BlockId> stored = Stored();
    std::sort(indexed.begin(), indexed.end());
    std::sort(stored.begin(), stored.end());
    EXPECT_EQ(indexed, stored);
    EXPECT_EQ(indexed_bytes, store_.blocks->stored_bytes());
    EXPECT_EQ(index_->stats().used_bytes, store_.blocks->stored_bytes());
    EXPECT_EQ(index_->stats().blocks, store_.blocks->block_count());
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

  // An eviction held at its first store delete: `count` blocks of `size` bytes fill an index of
  // that capacity (watermarks 1.0 and 0.5), then a fill of one more, on evictor_, evicts the
  // count / 2 + 1 least recently used. Returns the blocks once that delete is held.
  std::vector<TestBlock> StartHeldEviction(std::size_t count, std::size_t size,
                                           std::uint64_t seed) {
    std::vector<TestBlock> blocks = MakeBlocks(count, size, seed);
    hook_.hold_at = 1;
    OpenIndex(Options(count * blocks[0].frame.size(), 1.0, 0.5));
    FillAll(blocks);
    evictor_ = std::thread([this, size, seed] { held_fill_ = Fill(MakeBlock(size, seed - 1)); });
    hook_.reached.wait();
    return blocks;
  }

  // Lets the held eviction go on; its fill's outcome.
  Result<void> FinishHeldEviction() {
    hook_.gate.Open();
    evictor_.join();
    EXPECT_FALSE(hook_.gate_timed_out) << "a call on the index waited for the held delete";
    return held_fill_;
  }

  static std::vector<BlockId> IdsOf(const std::vector<const TestBlock*>& blocks) {
    std::vector<BlockId> ids;
    for (const TestBlock* block : blocks) ids.push_back(block->id);
    return ids;
  }

  fs::path dir_;
  Store store_;
  DeleteHook hook_;
  std::unique_ptr<BlockIndex> index_;
  std::thread evictor_;
  Result<void> held_fill_;
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

// An eviction's store deletes run outside the index's mutex: while one is held, hits, listings,
// pins and flushes of the index return (had any waited for the held delete, the gate would have
// timed out), and the victims have already left the index.
TEST_F(BlockIndexTest, HitsListingsPinsAndFlushesGoOnWhileAnEvictionsDeleteIsHeld) {
  const std::vector<TestBlock> blocks = StartHeldEviction(10, 1000, 500);
  const std::uint64_t frame = blocks[0].frame.size();

  // 10 + 1 blocks evict down to 5: the 6 least recently used left the index, still stored.
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_FALSE(index_->Contains(blocks[i].id)) << i;
    EXPECT_FALSE(index_->Touched(blocks[i].id)) << i;
    EXPECT_TRUE(store_.blocks->Has(blocks[i].id).value()) << i;
  }
  for (std::size_t i = 6; i < 10; ++i) {
    EXPECT_TRUE(index_->Contains(blocks[i].id)) << i;
    EXPECT_TRUE(index_->Touched(blocks[i].id)) << i;
  }
  EXPECT_EQ(index_->stats().blocks, 4u);
  EXPECT_EQ(index_->List().size(), 4u);
  index_->SetPlanPins({blocks[9].id});
  EXPECT_TRUE(index_->IsPinned(blocks[9].id));
  EXPECT_EQ(index_->stats().pinned_blocks, 1u);
  EXPECT_TRUE(index_->Flush().has_value());

  auto filled = FinishHeldEviction();
  ASSERT_TRUE(filled.has_value()) << filled.error().message;
  EXPECT_EQ(index_->stats().evictions, 6u);
  EXPECT_EQ(index_->stats().evicted_bytes, 6 * frame);
  for (std::size_t i = 0; i < 6; ++i) EXPECT_FALSE(store_.blocks->Has(blocks[i].id).value()) << i;
  ExpectIndexMatchesStore();
}

// Fills (some of the same blocks at once), hits, purges, pins and evictions from many threads:
// no put passes the high watermark, and once they are done the index and the store agree.
TEST_F(BlockIndexTest, ConcurrentFillsHitsPurgesAndEvictionsLeaveIndexAndStoreInAgreement) {
  constexpr int kRounds = 120;
  const std::vector<TestBlock> blocks = MakeBlocks(40, 2000, 600);
  const std::uint64_t capacity = 12 * blocks[0].frame.size();
  OpenIndex(Options(capacity, 0.9, 0.6));
  std::latch start(5);
  std::atomic<std::uint64_t> max_stored{0};
  std::atomic<int> failures{0};
  const auto pick = [&](std::mt19937_64& rng) -> const TestBlock& {
    return blocks[rng() % blocks.size()];
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      start.arrive_and_wait();
      for (int i = 0; i < kRounds; ++i) {
        const TestBlock& block = pick(rng);
        if (!index_->Contains(block.id) && !FillLikeTheNode(block)) ++failures;
        std::uint64_t seen = max_stored.load();
        const std::uint64_t now = store_.blocks->stored_bytes();
        while (now > seen && !max_stored.compare_exchange_weak(seen, now)) {
        }
      }
    });
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      start.arrive_and_wait();
      for (int i = 0; i < 2 * kRounds; ++i) (void)Read(pick(rng).id);
    });
  }
  threads.emplace_back([&] {
    std::mt19937_64 rng(200);
    start.arrive_and_wait();
    for (int i = 0; i < kRounds / 4; ++i) {
      if (!index_->Purge(pick(rng).id)) ++failures;
      const std::vector<BlockId> pinned = {pick(rng).id};
      if (!index_->Pin(pinned) || !index_->Unpin(pinned)) ++failures;
    }
  });
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(max_stored.load(), capacity * 9 / 10);
  EXPECT_GT(index_->stats().evictions, 0u);
  ExpectIndexMatchesStore();
}

// A hit that located a victim's frame before its delete is served whole (the frame stays
// readable), but does not put the victim back in the index: after the delete, neither has it.
TEST_F(BlockIndexTest, AHitOnAVictimWhoseDeleteIsPendingIsServedWholeButNotIndexedAgain) {
  const std::vector<TestBlock> blocks = StartHeldEviction(4, 70'000, 700);  // segment frames

  // Victims: blocks[0], [1], [2]; the delete of [0] is held.
  std::optional<StoredBlock> served = Read(blocks[0].id);
  ASSERT_TRUE(served.has_value());
  EXPECT_FALSE(index_->Contains(blocks[0].id));
  EXPECT_TRUE(index_->Contains(blocks[3].id));
  EXPECT_EQ(index_->stats().blocks, 1u);

  auto filled = FinishHeldEviction();
  ASSERT_TRUE(filled.has_value()) << filled.error().message;
  EXPECT_FALSE(index_->Contains(blocks[0].id));
  EXPECT_FALSE(store_.blocks->Has(blocks[0].id).value());
  ASSERT_TRUE(served->Load().has_value());
  EXPECT_TRUE(std::ranges::equal(served->frame(), blocks[0].frame));
  EXPECT_EQ(index_->stats().evictions, 3u);
  ExpectIndexMatchesStore();
}

// A fill of a victim during its eviction: a copy put after the victim's delete is indexed when
// the batch ends; a put that found the victim's copy still stored kept nothing, so nothing is
// indexed; a read in between indexes nothing yet. Reservations are exact throughout.
TEST_F(BlockIndexTest, AFillOfAVictimIsIndexedOnlyWhenItsCopyOutlivesTheEviction) {
  const std::vector<TestBlock> blocks = MakeBlocks(8, 1000, 800);
  const std::uint64_t frame = blocks[0].frame.size();
  hook_.hold_at = 4;  // victims [0] to [6]; [0], [1], [2] deleted, [3] held
  OpenIndex(Options(10 * frame, 0.8, 0.2));
  FillAll(blocks);
  evictor_ = std::thread([&] { held_fill_ = index_->Reserve(frame); });
  hook_.reached.wait();
  EXPECT_EQ(store_.blocks->stored_bytes(), 5 * frame);

  ASSERT_TRUE(FillLikeTheNode(blocks[0]).has_value());  // put again after its delete
  EXPECT_TRUE(store_.blocks->Has(blocks[0].id).value());
  EXPECT_FALSE(index_->Contains(blocks[0].id));
  ASSERT_TRUE(index_->Reconcile(blocks[1].id).has_value());  // deleted: nothing to index
  ASSERT_TRUE(Read(blocks[4].id).has_value());               // not yet deleted
  ASSERT_TRUE(FillLikeTheNode(blocks[5]).has_value());       // the put finds the victim's copy
  EXPECT_FALSE(index_->Contains(blocks[5].id));
  EXPECT_EQ(index_->stats().used_bytes, store_.blocks->stored_bytes() + frame);

  auto reserved = FinishHeldEviction();
  ASSERT_TRUE(reserved.has_value()) << reserved.error().message;
  index_->Release(frame);
  // The copy of [0] put again counts too: one more eviction ([7]) brings use down to low.
  EXPECT_EQ(index_->stats().evictions, 8u);
  EXPECT_TRUE(index_->Contains(blocks[0].id));
  for (std::size_t i = 1; i < 8; ++i) {
    EXPECT_FALSE(index_->Contains(blocks[i].id)) << i;
    EXPECT_FALSE(store_.blocks->Has(blocks[i].id).value()) << i;
  }
  EXPECT_EQ(index_->stats().blocks, 1u);
  ExpectIndexMatchesStore();
}

// Two fillers need room at once: the second waits for the first one's eviction and takes the
// room it made, evicting nothing more, and neither returns before its room is in the store.
TEST_F(BlockIndexTest, TwoReservationsAtOnceShareOneEvictionAndReturnWithRoomInTheStore) {
  const std::vector<TestBlock> blocks = StartHeldEviction(10, 1000, 900);
  const std::uint64_t frame = blocks[0].frame.size();
  Result<void> second;
  std::uint64_t stored_after_second = 0;
  std::latch second_started(1);
  std::thread second_filler([&] {
    second_started.count_down();
    second = index_->Reserve(frame);
    stored_after_second = store_.blocks->stored_bytes();
  });
  second_started.wait();  // most often in Reserve before the first one's deletes end; either way
  auto first = FinishHeldEviction();
  second_filler.join();
  ASSERT_TRUE(first.has_value()) << first.error().message;
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_EQ(index_->stats().evictions, 6u);
  EXPECT_LE(stored_after_second + frame, 10 * frame);
  index_->Release(frame);
  ExpectIndexMatchesStore();
}

// A purge of a victim whose eviction delete is held deletes it (once: the eviction does not count
// it); a pin of a victim comes after its eviction and pins it when it is stored again.
TEST_F(BlockIndexTest, APurgeOrAPinOfAVictimDuringItsEvictionKeepsTheCountsExact) {
  const std::vector<TestBlock> blocks = StartHeldEviction(10, 1000, 1000);
  const std::uint64_t frame = blocks[0].frame.size();

  EXPECT_EQ(index_->Purge(blocks[0].id).value(), BlockIndex::Purged::kDeleted);  // the held one
  EXPECT_EQ(index_->Purge(blocks[1].id).value(), BlockIndex::Purged::kDeleted);
  ASSERT_TRUE(index_->Pin(std::vector<BlockId>{blocks[2].id}).has_value());
  EXPECT_FALSE(index_->Contains(blocks[2].id));

  auto filled = FinishHeldEviction();
  ASSERT_TRUE(filled.has_value()) << filled.error().message;
  EXPECT_EQ(index_->stats().evictions, 4u);
  EXPECT_EQ(index_->stats().evicted_bytes, 4 * frame);
  EXPECT_FALSE(store_.blocks->Has(blocks[2].id).value());
  ExpectIndexMatchesStore();
  ASSERT_TRUE(Fill(blocks[2]).has_value());
  EXPECT_TRUE(index_->IsPinned(blocks[2].id));
  EXPECT_EQ(index_->stats().pinned_blocks, 1u);
  ExpectIndexMatchesStore();
}

// A fill that lands while a purge's delete is held finds the purged copy still stored and keeps
// nothing: the purge wins, and no entry names the deleted block.
TEST_F(BlockIndexTest, AFillDuringAPurgesHeldDeleteLeavesNoEntry) {
  const std::vector<TestBlock> blocks = MakeBlocks(2, 1000, 1100);
  hook_.hold_at = 1;
  OpenIndex(Options(1 << 20));
  FillAll(blocks);
  Result<BlockIndex::Purged> purged = BlockIndex::Purged::kPinned;
  std::thread purger([&] { purged = index_->Purge(blocks[0].id); });
  hook_.reached.wait();
  EXPECT_FALSE(index_->Contains(blocks[0].id));
  EXPECT_TRUE(index_->Touched(blocks[1].id));
  EXPECT_TRUE(FillLikeTheNode(blocks[0]).has_value());
  EXPECT_FALSE(index_->Contains(blocks[0].id));
  hook_.gate.Open();
  purger.join();
  EXPECT_EQ(purged.value(), BlockIndex::Purged::kDeleted);
  EXPECT_FALSE(index_->Contains(blocks[0].id));
  EXPECT_FALSE(store_.blocks->Has(blocks[0].id).value());
  ExpectIndexMatchesStore();
}

// A store delete that fails stops the eviction with its error: the victims not deleted are
// indexed again in their place in the eviction order, and a failed Delete changes nothing.
TEST_F(BlockIndexTest, AFailedDeleteLeavesTheVictimsItDidNotTakeIndexedInOrder) {
  const std::vector<TestBlock> blocks = MakeBlocks(10, 1000, 1200);
  const std::uint64_t frame = blocks[0].frame.size();
  hook_.fail_from = 3;
  OpenIndex(Options(10 * frame));
  FillAll(blocks);
  auto reserved = index_->Reserve(6 * frame);  // victims [0] to [5]; the delete of [2] fails
  ASSERT_FALSE(reserved.has_value());
  EXPECT_EQ(reserved.error().code, Errc::kStorage);
  EXPECT_EQ(index_->stats().evictions, 2u);
  for (std::size_t i = 2; i < 10; ++i) EXPECT_TRUE(index_->Contains(blocks[i].id)) << i;
  ExpectIndexMatchesStore();
  auto deleted = index_->Delete(blocks[9].id);
  ASSERT_FALSE(deleted.has_value());
  EXPECT_TRUE(index_->Contains(blocks[9].id));
  ExpectIndexMatchesStore();

  hook_.fail_from = 0;
  EXPECT_EQ(DrainInEvictionOrder(), IdsOf({&blocks[2], &blocks[3], &blocks[4], &blocks[5],
                                           &blocks[6], &blocks[7], &blocks[8], &blocks[9]}));
}

}  // namespace
}  // namespace mei::cache_node
