#include "cache-node/prefetcher.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/cache-node/upstream_fixture.h"

namespace mei::cache_node {
namespace {

using testing::Bf16Weights;
using testing::kModel;
using testing::RandomBytes;

class PrefetcherTest : public testing::UpstreamFixture {
 protected:
  void SetUp() override {
    UpstreamFixture::SetUp();
    if (HasFatalFailure()) return;
    for (std::uint64_t seed = 1; seed <= 3; ++seed)
      blocks_.push_back(AddBlock(RandomBytes(1500, seed)));
    blocks_.push_back(AddBlock(Bf16Weights(4096, 4), 2));
    // b.bin repeats a block of a.bin: each distinct block is fetched and counted once.
    manifest_ = AddModel(
        kModel, "main",
        {{"a.bin", {blocks_[0], blocks_[1], blocks_[3]}}, {"b.bin", {blocks_[2], blocks_[0]}}});
    AddModel("acme/second", "main", {{"c.bin", {blocks_[1]}}});
    upstream_ = &StartUpstream();

    CapacityOptions capacity;
    capacity.capacity_bytes = 1 << 30;
    auto index = BlockIndex::Open(*node_.blocks, *node_.plan, capacity);
    ASSERT_TRUE(index) << index.error().message;
    index_ = std::move(*index);
    const Upstream parent{"parent", upstream_->Url()};
    filler_ = std::make_unique<BlockFiller>(
        *node_.blocks, *index_, health_, metrics_,
        [parent](const BlockId&) { return std::vector<Upstream>{parent}; },
        FillOptions{.fetch = fetch_});
    manifests_ =
        std::make_unique<ManifestCache>(*node_.manifests, parent, fetch_, health_, metrics_);
    prefetcher_ = std::make_unique<Prefetcher>(*manifests_, *index_, *filler_, 0);
  }

  void TearDown() override {
    if (upstream_ != nullptr) upstream_->ReleaseBlocks();
    prefetcher_.reset();
    manifests_.reset();
    filler_.reset();
    index_.reset();
    UpstreamFixture::TearDown();
  }

  std::vector<BlockId> blocks_;
  Manifest manifest_;
  mei::testing::TestUpstream* upstream_ = nullptr;
  UpstreamHealth health_;
  MetricsRegistry metrics_;
  std::unique_ptr<BlockIndex> index_;
  std::unique_ptr<BlockFiller> filler_;
  std::unique_ptr<ManifestCache> manifests_;
  std::unique_ptr<Prefetcher> prefetcher_;
};

TEST_F(PrefetcherTest, AnEnqueuedModelIsHeldWholeWhenIdle) {
  prefetcher_->Enqueue(std::string(kModel), "main");
  prefetcher_->WaitIdle();

  for (const BlockId& id : blocks_) EXPECT_TRUE(index_->Contains(id)) << id.Hex();
  const std::vector<PrefetchJob> jobs = prefetcher_->Jobs();
  ASSERT_EQ(jobs.size(), 1u);
  const PrefetchJob& job = jobs[0];
  EXPECT_EQ(job.state, "done") << job.error;
  EXPECT_EQ(job.commit, manifest_.commit.Hex());
  EXPECT_EQ(job.blocks_total, blocks_.size());
  EXPECT_EQ(job.blocks_done, job.blocks_total);
  std::uint64_t raw_bytes = 0;
  for (const BlockId& id : blocks_) raw_bytes += raw_.at(id).size();
  EXPECT_EQ(job.bytes_fetched, raw_bytes);
  EXPECT_EQ(upstream_->block_requests(), blocks_.size());
  EXPECT_TRUE(job.error.empty());
}

TEST_F(PrefetcherTest, ABlockAlreadyHeldCountsAsDoneWithoutBeingFetched) {
  prefetcher_->Enqueue("acme/second", "main");
  prefetcher_->WaitIdle();
  prefetcher_->Enqueue(std::string(kModel), "main");
  prefetcher_->WaitIdle();

  const std::vector<PrefetchJob> jobs = prefetcher_->Jobs();
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[1].state, "done") << jobs[1].error;
  EXPECT_EQ(jobs[1].blocks_done, blocks_.size());
  EXPECT_EQ(jobs[1].bytes_fetched, 0u + raw_.at(blocks_[0]).size() + raw_.at(blocks_[2]).size() +
                                       raw_.at(blocks_[3]).size());
  EXPECT_EQ(upstream_->block_requests_for(blocks_[1]), 1u);
}

TEST_F(PrefetcherTest, TheSameJobEnqueuedWhilePendingRunsOnce) {
  upstream_->HoldBlocks();
  prefetcher_->Enqueue("acme/second", "main");
  ASSERT_TRUE(upstream_->WaitForBlockRequests(1));  // the first job is running, held
  prefetcher_->Enqueue("acme/second", "main");      // running
  prefetcher_->Enqueue(std::string(kModel), "main");
  prefetcher_->Enqueue(std::string(kModel), "main");  // queued
  upstream_->ReleaseBlocks();
  prefetcher_->WaitIdle();

  const std::vector<PrefetchJob> jobs = prefetcher_->Jobs();
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].model, "acme/second");
  EXPECT_EQ(jobs[1].model, kModel);
  for (const PrefetchJob& job : jobs) EXPECT_EQ(job.state, "done") << job.error;
  EXPECT_EQ(upstream_->requests("manifest"), 2u);
  EXPECT_EQ(upstream_->block_requests(), blocks_.size());
}

TEST_F(PrefetcherTest, AJobWhoseManifestFailsIsFailedWithTheReason) {
  prefetcher_->Enqueue("acme/unknown", "main");
  prefetcher_->WaitIdle();

  const std::vector<PrefetchJob> jobs = prefetcher_->Jobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state, "failed");
  EXPECT_FALSE(jobs[0].error.empty());
  EXPECT_EQ(jobs[0].blocks_total, 0u);
  EXPECT_EQ(upstream_->block_requests(), 0u);
}

TEST_F(PrefetcherTest, AJobWithABlockNoUpstreamHasIsFailedWhereItStopped) {
  ASSERT_TRUE(upstream_store_->blocks->Delete(blocks_[1]).value());  // a.bin's second block
  prefetcher_->Enqueue(std::string(kModel), "main");
  prefetcher_->WaitIdle();

  const std::vector<PrefetchJob> jobs = prefetcher_->Jobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state, "failed");
  EXPECT_NE(jobs[0].error.find(blocks_[1].Hex()), std::string::npos) << jobs[0].error;
  EXPECT_EQ(jobs[0].blocks_total, blocks_.size());
  EXPECT_EQ(jobs[0].blocks_done, 1u);
  EXPECT_TRUE(index_->Contains(blocks_[0]));
  EXPECT_FALSE(index_->Contains(blocks_[3]));
}

}  // namespace
}  // namespace mei::cache_node
