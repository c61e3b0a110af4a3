// Recovery of the block store's segments at open (common/store/block_store.h, "Recovery at open"):
// torn tails, missing segments, frames damaged before an unclean stop, and a process killed
// between a frame's append and its index entry.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/store.h"

namespace mei {
namespace {

namespace fs = std::filesystem;

struct TestBlock {
  std::vector<std::byte> raw;
  BlockId id;
  std::vector<std::byte> frame;
};

// Incompressible, so that the frame is raw and lands in a segment.
TestBlock MakeBlock(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  TestBlock block;
  block.raw.resize(size);
  for (std::byte& b : block.raw) b = static_cast<std::byte>(rng());
  block.id = BlockIdOf(block.raw);
  BlockEncoder().Encode(block.raw, 0, block.frame);
  return block;
}

std::vector<fs::path> SegmentFiles(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir / "segments")) {
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Opens the store's RocksDB directly and deletes the clean mark, as a crash would have left it.
void ClearCleanMark(const fs::path& dir) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.string(), &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names)
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(
      rocksdb::DB::Open(rocksdb::DBOptions(), dir.string(), descriptors, &handles, &db).ok());
  rocksdb::WriteOptions durable;
  durable.sync = true;
  EXPECT_TRUE(db->Delete(durable, "segments_clean").ok());
  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    EXPECT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
  }
  EXPECT_TRUE(db->Close().ok());
  delete db;
}

// Flips one byte of a file, as a damaged disk would.
void FlipByte(const fs::path& file, std::uint64_t offset) {
  std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(stream.good()) << file;
  stream.seekg(static_cast<std::streamoff>(offset));
  char byte = 0;
  stream.get(byte);
  stream.seekp(static_cast<std::streamoff>(offset));
  stream.put(static_cast<char>(byte ^ 0x40));
}

class RecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info->name();
    std::replace(name.begin(), name.end(), '/', '_');  // parameterised tests' names hold a '/'
    dir_ = fs::path(::testing::TempDir()) /
           ("mei_recovery_test_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    for (std::uint64_t i = 0; i < 6; ++i) blocks_.push_back(MakeBlock(200 * 1024, 50 + i));
  }
  void TearDown() override { fs::remove_all(dir_); }

  Store Open(StoreOptions options = {}) {
    options.segment_bytes = 512 * 1024;  // two frames a segment: three segments
    return OpenStore(dir_, std::move(options)).value();
  }

  void PutAll(Store& store) {
    for (const TestBlock& block : blocks_) {
      ASSERT_TRUE(store.blocks->Put(block.id, block.frame).value());
    }
  }

  // Every block the store lists reads back whole, and the counters match the list.
  static void ExpectConsistent(Store& store) {
    std::uint64_t bytes = 0;
    std::uint64_t count = 0;
    std::vector<BlockId> ids;
    ASSERT_TRUE(store.blocks->ForEach([&](const BlockId& id, const BlockMeta& meta) {
      bytes += meta.stored_size;
      ++count;
      ids.push_back(id);
      return true;
    }));
    for (const BlockId& id : ids) {
      std::vector<std::byte> raw;
      EXPECT_TRUE(store.blocks->ReadRaw(id, raw).has_value()) << id.Hex();
    }
    EXPECT_EQ(store.blocks->stored_bytes(), bytes);
    EXPECT_EQ(store.blocks->block_count(), count);
  }

  fs::path dir_;
  std::vector<TestBlock> blocks_;
};

TEST_F(RecoveryTest, ACleanReopenFindsEveryBlockAndRepairsNothing) {
  {
    Store store = Open();
    PutAll(store);
    EXPECT_FALSE(store.blocks->recovery().dropped.size());
  }
  Store store = Open();
  const StoreRecovery& recovery = store.blocks->recovery();
  EXPECT_TRUE(recovery.clean);
  EXPECT_TRUE(recovery.dropped.empty());
  EXPECT_EQ(recovery.truncated_bytes, 0u);
  EXPECT_EQ(recovery.verified_frames, 0u);
  EXPECT_EQ(store.blocks->block_count(), blocks_.size());
  ExpectConsistent(store);
}

TEST_F(RecoveryTest, ATornTailPastTheLastIndexedFrameIsCutOff) {
  {
    Store store = Open();
    PutAll(store);
  }
  const fs::path last = SegmentFiles(dir_).back();
  const std::uint64_t size = fs::file_size(last);
  {
    std::ofstream torn(last, std::ios::binary | std::ios::app);
    torn << std::string(12345, 'x');
  }
  ClearCleanMark(dir_);
  Store store = Open();
  const StoreRecovery& recovery = store.blocks->recovery();
  EXPECT_FALSE(recovery.clean);
  EXPECT_EQ(recovery.truncated_bytes, 12345u);
  EXPECT_GT(recovery.verified_frames, 0u);
  EXPECT_TRUE(recovery.dropped.empty());
  EXPECT_EQ(fs::file_size(last), size);
  EXPECT_EQ(store.blocks->block_count(), blocks_.size());
  ExpectConsistent(store);
  // Appends go on where the last frame ended.
  const TestBlock next = MakeBlock(100 * 1024, 99);
  ASSERT_TRUE(store.blocks->Put(next.id, next.frame).value());
  EXPECT_EQ(store.blocks->Get(next.id).value().payload_file()->offset, size + kFrameHeaderSize);
}

TEST_F(RecoveryTest, EntriesOfAMissingSegmentAreDroppedWithTheirCounts) {
  {
    Store store = Open();
    PutAll(store);
  }
  const std::vector<fs::path> files = SegmentFiles(dir_);
  ASSERT_EQ(files.size(), 3u);
  fs::remove(files[1]);
  Store store = Open();
  const StoreRecovery& recovery = store.blocks->recovery();
  EXPECT_EQ(recovery.dropped.size(), 2u);
  EXPECT_EQ(store.blocks->block_count(), blocks_.size() - 2);
  for (const BlockId& id : recovery.dropped) EXPECT_FALSE(store.blocks->Has(id).value());
  ExpectConsistent(store);
}

TEST_F(RecoveryTest, AFrameDamagedBeforeAnUncleanStopIsDroppedAtOpen) {
  {
    Store store = Open();
    PutAll(store);
  }
  const fs::path last = SegmentFiles(dir_).back();
  FlipByte(last, fs::file_size(last) - 10);  // inside the last frame's payload
  ClearCleanMark(dir_);
  Store store = Open();
  const StoreRecovery& recovery = store.blocks->recovery();
  ASSERT_EQ(recovery.dropped.size(), 1u);
  EXPECT_EQ(recovery.dropped[0], blocks_.back().id);
  EXPECT_FALSE(store.blocks->Has(blocks_.back().id).value());
  EXPECT_EQ(store.blocks->block_count(), blocks_.size() - 1);
  ExpectConsistent(store);
  // The block can be stored again.
  ASSERT_TRUE(store.blocks->Put(blocks_.back().id, blocks_.back().frame).value());
  ExpectConsistent(store);
}

TEST_F(RecoveryTest, AFrameDamagedAfterACleanStopIsFoundWhenItIsRead) {
  {
    Store store = Open();
    PutAll(store);
  }
  const fs::path last = SegmentFiles(dir_).back();
  FlipByte(last, fs::file_size(last) - 10);
  Store store = Open();
  EXPECT_TRUE(store.blocks->recovery().dropped.empty());
  StoredBlock located = store.blocks->Get(blocks_.back().id).value();
  EXPECT_EQ(located.Load().error().code, Errc::kBadFrame);
  std::vector<std::byte> raw;
  EXPECT_EQ(store.blocks->ReadRaw(blocks_.back().id, raw).error().code, Errc::kBadFrame);
}

// A real process (a fork of the test, which holds no store open then), killed by SIGKILL after its
// frame was appended (and synced) and before the
// index entry was written: the next open cuts the frame off, and everything indexed before stays.
void PutThenDieBeforeIndexing(const fs::path& dir, const std::vector<TestBlock>& blocks,
                              bool log_block_writes) {
  StoreOptions options;
  options.segment_bytes = 512 * 1024;
  options.log_block_writes = log_block_writes;
  const BlockId victim = blocks.back().id;
  options.on_frame_appended = [victim](const BlockId& id) {
    if (id == victim) ::raise(SIGKILL);
  };
  auto store = OpenStore(dir, std::move(options));
  if (!store) std::_Exit(3);
  for (const TestBlock& block : blocks) {
    if (!store->blocks->Put(block.id, block.frame)) std::_Exit(4);
  }
  std::_Exit(0);  // not reached
}

class KillBetweenAppendAndIndexTest : public RecoveryTest,
                                      public ::testing::WithParamInterface<bool> {};

TEST_P(KillBetweenAppendAndIndexTest, TheUnindexedFrameIsCutOffAndEveryIndexedBlockReads) {
  const bool log_block_writes = GetParam();
  EXPECT_EXIT(PutThenDieBeforeIndexing(dir_, blocks_, log_block_writes),
              ::testing::KilledBySignal(SIGKILL), "");
  // The victim's frame is the last bytes written to the last segment.
  const fs::path last = SegmentFiles(dir_).back();
  EXPECT_GE(fs::file_size(last), blocks_.back().frame.size());

  StoreOptions options;
  options.log_block_writes = log_block_writes;
  Store store = Open(options);
  const StoreRecovery& recovery = store.blocks->recovery();
  EXPECT_FALSE(recovery.clean);
  EXPECT_GE(recovery.truncated_bytes, blocks_.back().frame.size());
  EXPECT_FALSE(store.blocks->Has(blocks_.back().id).value());
  if (log_block_writes) {
    // Logged puts survive the kill: all but the victim.
    EXPECT_EQ(store.blocks->block_count(), blocks_.size() - 1);
  }
  ExpectConsistent(store);
  // Nothing is left past the last indexed frame of any segment.
  std::uint64_t indexed_end = 0;
  for (const TestBlock& block : blocks_) {
    auto located = store.blocks->Get(block.id);
    if (!located) continue;
    const SegmentRegion region = *located->payload_file();
    if (region.segment->path() == last) {
      indexed_end = std::max(indexed_end, region.offset + region.length);
    }
  }
  if (fs::exists(last)) {
    EXPECT_EQ(fs::file_size(last), indexed_end);
  }
  ASSERT_TRUE(store.blocks->Put(blocks_.back().id, blocks_.back().frame).value());
  ExpectConsistent(store);
}

INSTANTIATE_TEST_SUITE_P(LoggedAndUnlogged, KillBetweenAppendAndIndexTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Logged" : "Unlogged"; });

}  // namespace
}  // namespace mei
