#include "tools/get/block_sources.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <vector>

#include "tests/tools/get/download_fixture.h"

namespace mei::tools {
namespace {

using testing::RandomBytes;

class BlockSourcesTest : public testing::DownloadFixture {
 protected:
  void SetUp() override {
    DownloadFixture::SetUp();
    if (HasFatalFailure()) return;
    a_ = {AddBlock(RandomBytes(3000, 1)), 0, 3000};
    b_ = {AddBlock(RandomBytes(2000, 2)), 3000, 2000};
    blocks_ = {a_, b_};
    index_.emplace(FileIndex::Open(dir_ / "index"));
  }

  // A file `name` under the test folder holding `bytes`, indexed as `partial` or complete with
  // blocks a_ and b_.
  std::filesystem::path Indexed(const std::string& name, const std::vector<std::byte>& bytes,
                                bool partial) {
    const std::filesystem::path path = dir_ / "sources" / name;
    WriteBytes(path, bytes);
    ManifestFile file;
    file.size = bytes.size();
    file.blocks = blocks_;
    auto entry = FileIndex::EntryOf(path, file);
    EXPECT_TRUE(entry);
    entry->partial = partial;
    index_->Put(*entry);
    return path;
  }

  Result<LocalCopies> Copy(const PartialFile& into) {
    return CopyLocalBlocks(NeedsIn(into, blocks_), *index_, *local_, 2, stop_);
  }

  ManifestBlock a_, b_;
  std::vector<ManifestBlock> blocks_;
  std::optional<FileIndex> index_;
  std::atomic<bool> stop_{false};
};

TEST_F(BlockSourcesTest, EachCopyIsVerifiedAndABadCompleteFileIsReportedForTheNextSource) {
  std::vector<std::byte> damaged = BytesOf(blocks_);
  damaged[10] ^= std::byte{1};  // in a_
  const auto bad = Indexed("complete.bin", damaged, false);
  Indexed("partial.bin", BytesOf(blocks_), true);
  const PartialFile into = PartialOf("out.bin", blocks_);

  auto copies = Copy(into);
  ASSERT_TRUE(copies) << copies.error().message;
  EXPECT_EQ(copies->reused_blocks, 2u);
  EXPECT_EQ(copies->reused_bytes, 5000u);
  EXPECT_TRUE(copies->missing.empty());
  EXPECT_EQ(copies->repaired_blocks, 0u);  // found good elsewhere: nothing to fetch
  EXPECT_EQ(copies->bad_files, std::vector<std::filesystem::path>{bad});
  EXPECT_EQ(ReadBytes(into.path()), BytesOf(blocks_));
}

TEST_F(BlockSourcesTest, ABlockOnlyABadFileHeldIsMissingAndCountsAsRepaired) {
  std::vector<std::byte> damaged = BytesOf(blocks_);
  damaged[10] ^= std::byte{1};  // a_
  Indexed("complete.bin", damaged, false);
  const PartialFile into = PartialOf("out.bin", blocks_);

  auto copies = Copy(into);
  ASSERT_TRUE(copies) << copies.error().message;
  EXPECT_EQ(copies->reused_blocks, 1u);  // b_
  ASSERT_EQ(copies->missing.size(), 1u);
  EXPECT_EQ(copies->missing[0].block.id, a_.id);
  ASSERT_EQ(copies->missing[0].places.size(), 1u);
  EXPECT_EQ(copies->missing[0].places[0].offset, a_.offset);
  EXPECT_EQ(copies->repaired_blocks, 1u);
}

TEST_F(BlockSourcesTest, ABlockAPartialNeverReceivedIsMissingButNoRepair) {
  const auto partial = Indexed("partial.bin", {}, true);
  std::filesystem::resize_file(partial, 5000);  // holes where a_ and b_ go
  const PartialFile into = PartialOf("out.bin", blocks_);

  auto copies = Copy(into);
  ASSERT_TRUE(copies) << copies.error().message;
  EXPECT_EQ(copies->missing.size(), 2u);
  EXPECT_EQ(copies->repaired_blocks, 0u);
  EXPECT_TRUE(copies->bad_files.empty());
}

TEST_F(BlockSourcesTest, WithNothingOnTheDeviceEveryBlockIsMissingAndNothingIsRead) {
  const PartialFile into = PartialOf("out.bin", blocks_);
  auto copies = Copy(into);
  ASSERT_TRUE(copies);
  EXPECT_EQ(copies->missing.size(), 2u);
  EXPECT_EQ(copies->reused_blocks, 0u);
  EXPECT_EQ(copies->repaired_blocks, 0u);
}

TEST_F(BlockSourcesTest, AStopLeavesTheBlocksNotHandledMissing) {
  Indexed("complete.bin", BytesOf(blocks_), false);
  const PartialFile into = PartialOf("out.bin", blocks_);
  stop_.store(true);
  auto copies = Copy(into);
  ASSERT_TRUE(copies);
  EXPECT_EQ(copies->missing.size(), 2u);
  EXPECT_EQ(copies->reused_blocks, 0u);
}

}  // namespace
}  // namespace mei::tools
