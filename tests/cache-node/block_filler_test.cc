#include "cache-node/block_filler.h"

#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cache-node/node_metrics.h"
#include "common/run_blocking.h"
#include "tests/cache-node/upstream_fixture.h"

namespace mei::cache_node {
namespace {

using testing::RandomBytes;
using testing::SeriesValue;
using testing::WaitUntil;

class BlockFillerTest : public testing::UpstreamFixture {
 protected:
  void SetUp() override {
    UpstreamFixture::SetUp();
    if (HasFatalFailure()) return;
    for (std::uint64_t seed = 1; seed <= 5; ++seed)
      blocks_.push_back(AddBlock(RandomBytes(2000, seed)));
  }

  void TearDown() override {
    for (auto& upstream : upstreams_) upstream->ReleaseBlocks();
    filler_.reset();
    index_.reset();
    UpstreamFixture::TearDown();
  }

  // A filler over the node store that tries `order` for every block.
  void StartFiller(std::vector<Upstream> order, std::uint64_t capacity_bytes = 1 << 30,
                   std::size_t max_in_flight = 64, std::size_t concurrency = 8,
                   unsigned threads = 2) {
    CapacityOptions capacity;
    capacity.capacity_bytes = capacity_bytes;
    auto index = BlockIndex::Open(*node_.blocks, *node_.plan, capacity);
    ASSERT_TRUE(index) << index.error().message;
    index_ = std::move(*index);
    FillOptions options;
    options.concurrency = concurrency;
    options.threads = threads;
    options.max_in_flight = max_in_flight;
    options.fetch = fetch_;
    filler_ = std::make_unique<BlockFiller>(
        *node_.blocks, *index_, health_, metrics_,
        [order = std::move(order)](const BlockId&) { return order; }, options);
  }

  // The node holds `id`: stored, decoding to the upstream's bytes, and indexed.
  void ExpectHeld(const BlockId& id) {
    std::vector<std::byte> raw;
    auto read = node_.blocks->ReadRaw(id, raw);
    ASSERT_TRUE(read) << read.error().message;
    EXPECT_EQ(raw, raw_.at(id));
    EXPECT_TRUE(index_->Contains(id));
  }

  void ExpectNotHeld(const BlockId& id) {
    EXPECT_FALSE(node_.blocks->Has(id).value());
    EXPECT_FALSE(index_->Contains(id));
  }

  std::vector<BlockId> blocks_;
  UpstreamHealth health_;
  MetricsRegistry metrics_;
  std::unique_ptr<BlockIndex> index_;
  std::unique_ptr<BlockFiller> filler_;
};

TEST_F(BlockFillerTest, FillsWaitingOnUpstreamHoldNoThreadAndBeyondConcurrencyAreQueued) {
  // One filler thread carries 16 upstream requests at once; the 24 fills beyond them wait in the
  // queue and start as slots free up.
  constexpr std::size_t kConcurrency = 16;
  constexpr int kBlocks = 40;
  std::vector<BlockId> ids;
  for (int i = 0; i < kBlocks; ++i) ids.push_back(AddBlock(RandomBytes(1000, 100 + i)));
  mei::testing::TestUpstream& upstream = StartUpstream();
  StartFiller({{"parent", upstream.Url()}}, 1 << 30, kBlocks, kConcurrency, /*threads=*/1);
  upstream.HoldBlocks();
  filler_->Prefetch(ids);
  ASSERT_TRUE(upstream.WaitForBlockRequests(kConcurrency));
  EXPECT_EQ(filler_->in_flight(), static_cast<std::size_t>(kBlocks));
  // A waiter joins a queued fill; meanwhile nothing beyond the 16 reached the upstream.
  std::thread waiter([&] { EXPECT_TRUE(filler_->FillBlocking(ids.back())); });
  EXPECT_EQ(upstream.block_requests(), kConcurrency);
  upstream.ReleaseBlocks();
  waiter.join();
  ASSERT_TRUE(WaitUntil([&] { return filler_->in_flight() == 0; }));
  for (const BlockId& id : ids) ExpectHeld(id);
  EXPECT_EQ(upstream.block_requests(), static_cast<std::uint64_t>(kBlocks));
}

TEST_F(BlockFillerTest, QueuedFillsThatFailAtOnceEachWakeTheirWaiters) {
  // No upstream admitted (every circuit open): each fill ends without suspending, and the one that
  // ends launches the next queued one from the filler's own thread.
  StartFiller({}, 1 << 30, 64, /*concurrency=*/1, /*threads=*/1);
  std::vector<BlockId> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(MissingBlock(i));
  filler_->Prefetch(ids);
  for (const BlockId& id : ids) {
    auto filled = filler_->FillBlocking(id);
    // Either it was still queued (this call joined it) or it had failed already (a new fill).
    ASSERT_FALSE(filled);
    EXPECT_EQ(filled.error().code, Errc::kUpstreamFailed) << filled.error().message;
  }
  EXPECT_TRUE(WaitUntil([&] { return filler_->in_flight() == 0; }));
}

TEST_F(BlockFillerTest, ConcurrentFillsOfOneMissingBlockMakeOneUpstreamRequest) {
  constexpr int kCallers = 8;
  mei::testing::TestUpstream& upstream = StartUpstream();
  StartFiller({{"parent", upstream.Url()}});
  upstream.HoldBlocks();
  const BlockId id = blocks_[0];
  std::vector<Result<std::string>> results(kCallers, std::string("<not called>"));
  std::latch start(kCallers);
  std::vector<std::jthread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&, i] {
      start.arrive_and_wait();
      results[i] = RunBlocking(filler_->Fill(id));
    });
  }
  // The fill is held at the upstream until every other caller has joined it.
  ASSERT_TRUE(upstream.WaitForBlockRequests(1));
  ASSERT_TRUE(WaitUntil([&] {
    return SeriesValue(metrics_, kCoalescedWaitersTotal) == kCallers - 1;
  })) << metrics_.Render();
  upstream.ReleaseBlocks();
  callers.clear();

  for (const auto& result : results) {
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(*result, "parent");
  }
  EXPECT_EQ(upstream.block_requests_for(id), 1u);
  EXPECT_EQ(upstream.block_requests_from("node-a"), 1u);
  ExpectHeld(id);
  EXPECT_EQ(filler_->in_flight(), 0u);
  EXPECT_EQ(
      SeriesValue(metrics_, "mei_cache_upstream_fetches_total{upstream=\"parent\",result=\"ok\"}"),
      1);
}

TEST_F(BlockFillerTest, ACorruptUpstreamIsCountedAndTheNextUpstreamFillsTheBlock) {
  mei::testing::TestUpstream& corrupt = StartUpstream("corrupt");
  mei::testing::TestUpstream& honest = StartUpstream("honest");
  corrupt.CorruptBlocks(true);
  StartFiller({{"peer:b", corrupt.Url()}, {"parent", honest.Url()}});

  auto filled = RunBlocking(filler_->Fill(blocks_[0]));
  ASSERT_TRUE(filled) << filled.error().message;
  EXPECT_EQ(*filled, "parent");
  ExpectHeld(blocks_[0]);
  EXPECT_EQ(corrupt.block_requests(), 1u);
  EXPECT_EQ(honest.block_requests(), 1u);
  EXPECT_EQ(SeriesValue(metrics_, "mei_cache_integrity_failures_total{upstream=\"peer:b\"}"), 1);
  EXPECT_EQ(health_.Snapshot().at("peer:b").failures, 1u);
  EXPECT_EQ(health_.Snapshot().at("parent").successes, 1u);
}

TEST_F(BlockFillerTest, ABlockNoUpstreamHasIsBlockNotFoundAndNoUpstreamFailure) {
  mei::testing::TestUpstream& peer = StartUpstream("peer");
  mei::testing::TestUpstream& parent = StartUpstream("parent");
  StartFiller({{"peer:b", peer.Url()}, {"parent", parent.Url()}});
  const BlockId missing = MissingBlock();

  auto filled = RunBlocking(filler_->Fill(missing));
  ASSERT_FALSE(filled);
  EXPECT_EQ(filled.error().code, Errc::kBlockNotFound) << filled.error().message;
  EXPECT_EQ(peer.block_requests(), 1u);
  EXPECT_EQ(parent.block_requests(), 1u);
  EXPECT_FALSE(node_.blocks->Has(missing).value());
  // A 404 is the upstream answering, not failing: a success for its health (a probe closes).
  for (const char* name : {"peer:b", "parent"}) {
    EXPECT_EQ(health_.Snapshot().at(name).failures, 0u) << name;
    EXPECT_EQ(health_.Snapshot().at(name).successes, 1u) << name;
  }
  EXPECT_EQ(SeriesValue(metrics_, "mei_cache_fill_failures_total{code=\"block_not_found\"}"), 1);
}

TEST_F(BlockFillerTest, AFailingUpstreamOutranksANotFoundInEitherOrder) {
  for (const bool failing_first : {true, false}) {
    SCOPED_TRACE(failing_first ? "failing first" : "not found first");
    mei::testing::TestUpstream& lacking = StartUpstream("lacking");
    mei::testing::TestUpstream& stopped = StartUpstream("stopped");
    stopped.Stop();
    std::vector<Upstream> order = {{"parent", lacking.Url()}, {"peer:b", stopped.Url()}};
    if (failing_first) std::swap(order[0], order[1]);
    StartFiller(order);

    auto filled = RunBlocking(filler_->Fill(MissingBlock()));
    ASSERT_FALSE(filled);
    EXPECT_EQ(filled.error().code, Errc::kUpstreamFailed) << filled.error().message;
    EXPECT_EQ(lacking.block_requests(), 1u);
    EXPECT_FALSE(node_.blocks->Has(MissingBlock()).value());
    filler_.reset();
    index_.reset();
  }
}

TEST_F(BlockFillerTest, PrefetchStartsFillsWithoutWaitingUpToMaxInFlight) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  StartFiller({{"parent", upstream.Url()}}, 1 << 30, /*max_in_flight=*/2);
  upstream.HoldBlocks();

  filler_->Prefetch(blocks_);  // returns while the upstream holds every request
  EXPECT_EQ(filler_->in_flight(), 2u);
  ASSERT_TRUE(upstream.WaitForBlockRequests(2));
  filler_->Prefetch(blocks_);  // nothing more while two are under way
  EXPECT_EQ(filler_->in_flight(), 2u);
  upstream.ReleaseBlocks();

  // Waiting for the two that were started proves they were started, not queued behind anything.
  for (std::size_t i = 0; i < 2; ++i) {
    auto filled = RunBlocking(filler_->Fill(blocks_[i]));
    ASSERT_TRUE(filled) << filled.error().message;
    ExpectHeld(blocks_[i]);
  }
  EXPECT_EQ(filler_->in_flight(), 0u);
  EXPECT_EQ(upstream.block_requests(), 2u);
  for (std::size_t i = 2; i < blocks_.size(); ++i) ExpectNotHeld(blocks_[i]);
}

TEST_F(BlockFillerTest, PrefetchSkipsBlocksAlreadyHeld) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  StartFiller({{"parent", upstream.Url()}});
  ASSERT_TRUE(RunBlocking(filler_->Fill(blocks_[0])));

  filler_->Prefetch(std::span<const BlockId>(blocks_.data(), 2));
  ASSERT_TRUE(RunBlocking(filler_->Fill(blocks_[1])));
  EXPECT_EQ(upstream.block_requests_for(blocks_[0]), 1u);
  EXPECT_EQ(upstream.block_requests_for(blocks_[1]), 1u);
}

TEST_F(BlockFillerTest, FillOfABlockAlreadyHeldReturnsNoUpstreamAndAsksNone) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  StartFiller({{"parent", upstream.Url()}});
  auto first = RunBlocking(filler_->Fill(blocks_[0]));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, "parent");

  auto second = RunBlocking(filler_->Fill(blocks_[0]));
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(*second, "");
  EXPECT_EQ(upstream.block_requests(), 1u);
}

TEST_F(BlockFillerTest, ABlockLargerThanTheCapacityIsStoreFullAndNotStored) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  StartFiller({{"parent", upstream.Url()}}, /*capacity_bytes=*/1000);

  auto filled = RunBlocking(filler_->Fill(blocks_[0]));
  ASSERT_FALSE(filled);
  EXPECT_EQ(filled.error().code, Errc::kStoreFull) << filled.error().message;
  ExpectNotHeld(blocks_[0]);
  EXPECT_EQ(node_.blocks->stored_bytes(), 0u);
  EXPECT_EQ(index_->stats().used_bytes, 0u);  // the reservation was not leaked
}

}  // namespace
}  // namespace mei::cache_node

namespace mei::cache_node {
namespace {

// Reads all of `id` through a streaming reader, chunk by chunk as the fill receives it: the bytes,
// or the first error.
Result<std::vector<std::byte>> ReadStreamed(BlockReader& reader, std::uint64_t size) {
  return RunBlocking([&]() -> boost::asio::awaitable<Result<std::vector<std::byte>>> {
    std::vector<std::byte> bytes;
    while (bytes.size() < size) {
      auto chunk = co_await reader.Read(bytes.size(), size - bytes.size());
      if (!chunk) co_return chunk.error();
      bytes.insert(bytes.end(), chunk->bytes.begin(), chunk->bytes.end());
    }
    co_return bytes;
  }());
}

TEST_F(BlockFillerTest, AReaderTakenAheadKeepsTheBytesAfterTheBlockIsStored) {
  const BlockId id = AddBlock(RandomBytes(1 << 20, 20));
  mei::testing::TestUpstream& upstream = StartUpstream();
  StartFiller({{"parent", upstream.Url()}});

  std::unique_ptr<BlockReader> reader = filler_->StreamAhead(id);
  ASSERT_NE(reader, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return filler_->in_flight() == 0; }));
  ExpectHeld(id);
  // Read only now, after the fill ended: from the fill's memory, which the reader kept.
  ASSERT_TRUE(node_.blocks->Delete(id).value());
  auto bytes = ReadStreamed(*reader, raw_.at(id).size());
  ASSERT_TRUE(bytes) << bytes.error().message;
  EXPECT_EQ(*bytes, raw_.at(id));
  EXPECT_EQ(upstream.block_requests(), 1u);
}

TEST_F(BlockFillerTest, StreamAheadJoinsFillsUnderWayAndStartsNoneBeyondMaxInFlight) {
  mei::testing::TestUpstream& upstream = StartUpstream();
  StartFiller({{"parent", upstream.Url()}}, 1 << 30, /*max_in_flight=*/1);
  ASSERT_TRUE(RunBlocking(filler_->Fill(blocks_[0])));
  EXPECT_EQ(filler_->StreamAhead(blocks_[0]), nullptr);  // held: read it from the store

  upstream.HoldBlocks();
  std::unique_ptr<BlockReader> first = filler_->StreamAhead(blocks_[1]);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(filler_->StreamAhead(blocks_[2]), nullptr);  // one fill under way is the most
  std::unique_ptr<BlockReader> joined = filler_->StreamAhead(blocks_[1]);
  ASSERT_NE(joined, nullptr);
  EXPECT_EQ(filler_->in_flight(), 1u);
  upstream.ReleaseBlocks();

  for (BlockReader* reader : {first.get(), joined.get()}) {
    auto bytes = ReadStreamed(*reader, raw_.at(blocks_[1]).size());
    ASSERT_TRUE(bytes) << bytes.error().message;
    EXPECT_EQ(*bytes, raw_.at(blocks_[1]));
  }
  EXPECT_EQ(upstream.block_requests_for(blocks_[1]), 1u);
  EXPECT_EQ(upstream.block_requests_for(blocks_[2]), 0u);
}

TEST_F(BlockFillerTest, StreamingReadersOnManyThreadsNeverCompleteAWrongBlock) {
  // Large raw blocks, so that each arrives in many pieces while readers take them.
  std::vector<BlockId> large;
  for (std::uint64_t seed = 10; seed < 13; ++seed) {  // fewer than the failures opening a circuit
    large.push_back(AddBlock(RandomBytes(3 << 20, seed)));
  }
  mei::testing::TestUpstream& corrupt = StartUpstream("corrupt");
  mei::testing::TestUpstream& honest = StartUpstream("honest");
  corrupt.CorruptBlocks(true);
  StartFiller({{"peer:b", corrupt.Url()}, {"parent", honest.Url()}});

  constexpr int kReaders = 8;
  std::vector<std::jthread> readers;
  std::vector<int> right(kReaders, 0);
  std::vector<int> cut(kReaders, 0);
  std::latch start(kReaders);
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      start.arrive_and_wait();
      for (const BlockId& id : large) {
        std::unique_ptr<BlockReader> reader = filler_->Stream(id);
        if (!reader) {  // filled already: read from the store
          ExpectHeld(id);
          ++right[r];
          continue;
        }
        auto bytes = ReadStreamed(*reader, raw_.at(id).size());
        if (bytes) {
          EXPECT_EQ(*bytes, raw_.at(id)) << "reader " << r << " completed a wrong block";
          ++right[r];
        } else {
          // Only a reader that took bytes of the corrupt answer is cut, and it is told why.
          EXPECT_EQ(bytes.error().code, Errc::kIntegrity) << bytes.error().message;
          ++cut[r];
        }
      }
    });
  }
  readers.clear();
  // Readers that were cut stop reading; the fills go on to the honest parent and store each block.
  ASSERT_TRUE(WaitUntil([&] { return filler_->in_flight() == 0; }));
  for (const BlockId& id : large) ExpectHeld(id);
  int completed = 0;
  for (int r = 0; r < kReaders; ++r) completed += right[r] + cut[r];
  EXPECT_EQ(completed, kReaders * static_cast<int>(large.size()));
  EXPECT_EQ(SeriesValue(metrics_, "mei_cache_integrity_failures_total{upstream=\"peer:b\"}"),
            static_cast<double>(large.size()));
  EXPECT_EQ(honest.block_requests(), large.size());
}

}  // namespace
}  // namespace mei::cache_node
