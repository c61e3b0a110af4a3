#include "cache-node/node_content.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cache-node/block_filler.h"
#include "cache-node/block_index.h"
#include "cache-node/manifest_cache.h"
#include "common/run_blocking.h"
#include "tests/cache-node/upstream_fixture.h"

namespace mei::cache_node {
namespace {

using testing::RandomBytes;
using testing::WaitUntil;

class NodeContentTest : public testing::UpstreamFixture {
 protected:
  void SetUp() override {
    UpstreamFixture::SetUp();
    if (HasFatalFailure()) return;
    block_ = AddBlock(RandomBytes(5000, 41));
    upstream_ = &StartUpstream();
    CapacityOptions capacity;
    capacity.capacity_bytes = 1 << 30;
    auto index = BlockIndex::Open(*node_.blocks, *node_.plan, capacity);
    ASSERT_TRUE(index) << index.error().message;
    index_ = std::move(*index);
    const Upstream parent{"parent", upstream_->Url()};
    FillOptions fill;
    fill.fetch = fetch_;
    filler_ = std::make_unique<BlockFiller>(
        *node_.blocks, *index_, health_, metrics_,
        [parent](const BlockId&) { return std::vector<Upstream>{parent}; }, fill);
    manifests_ =
        std::make_unique<ManifestCache>(*node_.manifests, parent, fetch_, health_, metrics_);
    content_ = std::make_unique<NodeContent>(
        *node_.blocks, *index_, *filler_, *manifests_,
        [](const BlockId&) { return std::string("parent"); }, [] { return Result<void>(); },
        [this](const BlockId& id) {
          ++misses_;
          if (on_miss_) on_miss_(id);
        });
  }

  void TearDown() override {
    content_.reset();
    manifests_.reset();
    filler_.reset();
    index_.reset();
    UpstreamFixture::TearDown();
  }

  // The block was served whole, the index and the store agree on it, and on how many blocks
  // there are.
  void ExpectServedAndIndexed(const Result<StoredBlock>& served) {
    ASSERT_TRUE(served) << served.error().message;
    EXPECT_EQ(served->header().raw_size, raw_.at(block_).size());
    EXPECT_TRUE(node_.blocks->Has(block_).value());
    EXPECT_TRUE(index_->Contains(block_));
    EXPECT_EQ(index_->stats().blocks, node_.blocks->block_count());
  }

  BlockId block_;
  mei::testing::TestUpstream* upstream_ = nullptr;
  UpstreamHealth health_;
  MetricsRegistry metrics_;
  std::unique_ptr<BlockIndex> index_;
  std::unique_ptr<BlockFiller> filler_;
  std::unique_ptr<ManifestCache> manifests_;
  std::unique_ptr<NodeContent> content_;
  std::function<void(const BlockId&)> on_miss_;
  int misses_ = 0;
};

// A read-ahead (or another request) stores the block after this request's read missed and before
// it asks for the fill, which then answers "already held". The stored block must stay indexed.
TEST_F(NodeContentTest, ABlockStoredBetweenTheReadAndTheFillStaysIndexed) {
  bool first = true;
  on_miss_ = [this, &first](const BlockId& id) {
    if (!std::exchange(first, false)) return;
    filler_->Prefetch(std::vector<BlockId>{id});
    ASSERT_TRUE(WaitUntil([&] { return index_->Contains(id) && filler_->in_flight() == 0; }));
  };
  ExpectServedAndIndexed(RunBlocking(content_->GetBlock(block_)));
  EXPECT_EQ(misses_, 1);
  EXPECT_EQ(upstream_->block_requests_for(block_), 1u);

  ExpectServedAndIndexed(RunBlocking(content_->GetBlock(block_)));  // a hit
  EXPECT_EQ(misses_, 1);
  EXPECT_EQ(upstream_->block_requests_for(block_), 1u);
}

TEST_F(NodeContentTest, AnIndexEntryWhoseBlockWasDeletedBehindItsBackIsFilledAgain) {
  ExpectServedAndIndexed(RunBlocking(content_->GetBlock(block_)));
  ASSERT_TRUE(node_.blocks->Delete(block_).value());  // not through the index
  ASSERT_TRUE(index_->Contains(block_));

  ExpectServedAndIndexed(RunBlocking(content_->GetBlock(block_)));
  EXPECT_EQ(upstream_->block_requests_for(block_), 2u);
}

TEST_F(NodeContentTest, AStoredBlockTheIndexLacksIsIndexedWhenItIsRead) {
  std::vector<std::byte> frame;
  BlockEncoder().Encode(raw_.at(block_), 0, frame);
  ASSERT_TRUE(node_.blocks->Put(block_, frame).value());  // stored, never indexed
  ASSERT_FALSE(index_->Contains(block_));

  ExpectServedAndIndexed(RunBlocking(content_->GetBlock(block_)));
  EXPECT_EQ(misses_, 0);
  EXPECT_EQ(upstream_->block_requests(), 0u);
}

}  // namespace
}  // namespace mei::cache_node
