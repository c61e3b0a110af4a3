#include "common/store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <latch>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace mei {
namespace {

namespace fs = std::filesystem;

std::vector<std::byte> RandomBytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> bytes(size);
  for (std::byte& b : bytes) b = static_cast<std::byte>(rng());
  return bytes;
}

std::vector<std::byte> TextBytes(std::size_t size) {
  const std::string_view text = "the quick brown fox jumps over the lazy dog; ";
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<std::byte>(text[i % text.size()]);
  return bytes;
}

std::vector<std::byte> Encode(const std::vector<std::byte>& raw) {
  BlockEncoder encoder;
  std::vector<std::byte> frame;
  encoder.Encode(raw, 0, frame);
  return frame;
}

struct TestBlock {
  std::vector<std::byte> raw;
  BlockId id;
  std::vector<std::byte> frame;
};

TestBlock MakeBlock(std::vector<std::byte> raw) {
  TestBlock block;
  block.id = BlockIdOf(raw);
  block.frame = Encode(raw);
  block.raw = std::move(raw);
  return block;
}

std::string AsString(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Opens the store directory with plain RocksDB and overwrites one value, as a damaged disk would.
void OverwriteRaw(const fs::path& dir, const std::string& family_name, const std::string& key,
                  const std::string& value) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.string(), &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names)
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(
      rocksdb::DB::Open(rocksdb::DBOptions(), dir.string(), descriptors, &handles, &db).ok());
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == family_name) {
      EXPECT_TRUE(db->Put(rocksdb::WriteOptions(), handles[i], key, value).ok());
    }
  }
  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    EXPECT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
  }
  EXPECT_TRUE(db->Close().ok());
  delete db;
}

std::string ReadRawValue(const fs::path& dir, const std::string& family_name,
                         const std::string& key) {
  std::vector<std::string> names;
  EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.string(), &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names)
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  std::string value;
  if (!rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir.string(), descriptors, &handles, &db)
           .ok()) {
    ADD_FAILURE() << "cannot open " << dir;
    return value;
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == family_name) {
      EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), handles[i], key, &value).ok());
    }
  }
  for (rocksdb::ColumnFamilyHandle* handle : handles) db->DestroyColumnFamilyHandle(handle);
  delete db;
  return value;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ =
        fs::path(::testing::TempDir()) / ("mei_store_test_" + std::string(info->test_suite_name()) +
                                          "_" + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }

  void TearDown() override { fs::remove_all(dir_); }

  Store Open(StoreOptions options = {}) { return OpenStore(dir_, options).value(); }

  fs::path dir_;
};

using BlockStoreTest = StoreTest;
using ManifestStoreTest = StoreTest;
using PlanStoreTest = StoreTest;
using FullDiskTest = StoreTest;

TEST_F(BlockStoreTest, PutThenGetReadRawHasAndMetaRoundTrip) {
  Store store = Open();
  for (TestBlock block : {MakeBlock(TextBytes(100'000)), MakeBlock(RandomBytes(5'000, 1))}) {
    SCOPED_TRACE(block.raw.size());
    ASSERT_EQ(store.blocks->Has(block.id).value(), false);
    ASSERT_EQ(store.blocks->Put(block.id, block.frame).value(), true);
    EXPECT_EQ(store.blocks->Has(block.id).value(), true);

    auto stored = store.blocks->Get(block.id);
    ASSERT_TRUE(stored.has_value()) << stored.error().message;
    EXPECT_EQ(AsString(stored->frame()), AsString(block.frame));
    EXPECT_EQ(stored->header().raw_size, block.raw.size());

    std::vector<std::byte> raw;
    ASSERT_TRUE(store.blocks->ReadRaw(block.id, raw).has_value());
    EXPECT_EQ(raw, block.raw);

    auto meta = store.blocks->Meta(block.id);
    ASSERT_TRUE(meta.has_value()) << meta.error().message;
    EXPECT_EQ(meta->raw_size, block.raw.size());
    EXPECT_EQ(meta->stored_size, block.frame.size());
    EXPECT_EQ(meta->codec, stored->header().codec);
    EXPECT_GT(meta->last_access_ms, 1'700'000'000'000u);
    EXPECT_EQ(meta->hits, 0u);
    EXPECT_EQ(meta->pins, 0u);
  }
}

TEST_F(BlockStoreTest, CompressibleBlockIsStoredCompressedAndRawBlockAsIs) {
  Store store = Open();
  const TestBlock text = MakeBlock(TextBytes(100'000));
  const TestBlock noise = MakeBlock(RandomBytes(100'000, 2));
  ASSERT_TRUE(store.blocks->Put(text.id, text.frame).value());
  ASSERT_TRUE(store.blocks->Put(noise.id, noise.frame).value());
  EXPECT_NE(store.blocks->Meta(text.id).value().codec, Codec::kRaw);
  EXPECT_LT(store.blocks->Meta(text.id).value().stored_size, 100'000u);
  EXPECT_EQ(store.blocks->Meta(noise.id).value().codec, Codec::kRaw);
}

TEST_F(BlockStoreTest, DeleteRemovesBlockAndMetadata) {
  Store store = Open();
  const TestBlock block = MakeBlock(RandomBytes(1000, 3));
  ASSERT_TRUE(store.blocks->Put(block.id, block.frame).value());
  EXPECT_EQ(store.blocks->Delete(block.id).value(), true);
  EXPECT_EQ(store.blocks->Has(block.id).value(), false);
  EXPECT_EQ(store.blocks->Get(block.id).error().code, Errc::kBlockNotFound);
  EXPECT_EQ(store.blocks->Meta(block.id).error().code, Errc::kBlockNotFound);
  std::vector<std::byte> raw;
  EXPECT_EQ(store.blocks->ReadRaw(block.id, raw).error().code, Errc::kBlockNotFound);
  EXPECT_EQ(store.blocks->Delete(block.id).value(), false);
  EXPECT_EQ(store.blocks->stored_bytes(), 0u);
  EXPECT_EQ(store.blocks->block_count(), 0u);
}

// Reads keep the entries they read in memory (block_store.h, "Reads"): a delete must drop them,
// with or without that memory, and a block put again is read from its new entry.
TEST_F(BlockStoreTest, ABlockReadThenDeletedIsNotFoundAndOnePutAgainIsReadAgain) {
  for (const std::uint64_t hot_bytes : {std::uint64_t{32} << 20, std::uint64_t{0}}) {
    SCOPED_TRACE(hot_bytes);
    fs::remove_all(dir_);
    StoreOptions options;
    options.hot_entry_bytes = hot_bytes;
    Store store = Open(options);
    const TestBlock small = MakeBlock(RandomBytes(1000, 31));     // inline
    const TestBlock large = MakeBlock(RandomBytes(200'000, 32));  // in a segment
    for (const TestBlock* block : {&small, &large}) {
      ASSERT_TRUE(store.blocks->Put(block->id, block->frame).value());
      for (int read = 0; read < 2; ++read) {
        StoredBlock stored = store.blocks->Get(block->id).value();
        ASSERT_TRUE(stored.Load());
        EXPECT_EQ(AsString(stored.frame()), AsString(block->frame));
      }
      ASSERT_TRUE(store.blocks->Delete(block->id).value());
      EXPECT_EQ(store.blocks->Get(block->id).error().code, Errc::kBlockNotFound);
      ASSERT_TRUE(store.blocks->Put(block->id, block->frame).value());
      StoredBlock again = store.blocks->Get(block->id).value();
      ASSERT_TRUE(again.Load());
      EXPECT_EQ(AsString(again.frame()), AsString(block->frame));
    }
  }
}

// Bytes of the segment files in a store directory, as the filesystem sees them.
std::uint64_t SegmentFileBytes(const fs::path& dir) {
  std::uint64_t bytes = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir / "segments")) {
    if (entry.path().extension() == ".seg") bytes += entry.file_size();
  }
  return bytes;
}

// 32 incompressible blocks of 128 KiB in segments of 1 MiB: several segments.
std::vector<TestBlock> PutSpreadOverSegments(Store& store) {
  std::vector<TestBlock> blocks;
  for (std::uint64_t i = 0; i < 32; ++i) {
    blocks.push_back(MakeBlock(RandomBytes(128 * 1024, 100 + i)));
    EXPECT_TRUE(store.blocks->Put(blocks.back().id, blocks.back().frame).value());
  }
  return blocks;
}

StoreOptions SmallSegments() {
  StoreOptions options;
  options.segment_bytes = 1 << 20;
  return options;
}

TEST_F(BlockStoreTest, CompactRewritesTheLiveFramesOfMostlyDeletedSegments) {
  {
    Store store = Open(SmallSegments());
    const std::vector<TestBlock> blocks = PutSpreadOverSegments(store);
    EXPECT_EQ(store.blocks->Compact().value(), 0u) << "nothing was deleted";
    const std::uint64_t before = SegmentFileBytes(dir_);
    // Three of every four blocks go: every segment keeps a live frame, so none can simply be
    // removed; only rewriting the live ones gives the space back.
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      if (i % 4 != 0) {
        ASSERT_TRUE(store.blocks->Delete(blocks[i].id).value());
      }
    }
    EXPECT_EQ(SegmentFileBytes(dir_), before) << "holes alone give nothing back";
    const std::uint64_t deleted_bytes = 24 * blocks[0].frame.size();
    EXPECT_GE(store.blocks->Compact().value(), deleted_bytes * 3 / 4);
    EXPECT_LE(SegmentFileBytes(dir_), before - deleted_bytes * 3 / 4);
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      if (i % 4 != 0) {
        EXPECT_FALSE(store.blocks->Has(blocks[i].id).value());
        continue;
      }
      std::vector<std::byte> raw;
      ASSERT_TRUE(store.blocks->ReadRaw(blocks[i].id, raw).has_value()) << "block " << i;
      EXPECT_EQ(raw, blocks[i].raw);
    }
    EXPECT_EQ(store.blocks->Compact().value(), 0u) << "nothing sparse left";
  }
  // Reopened: the moves were durable, and the disk holds about the live frames.
  Store store = Open(SmallSegments());
  EXPECT_TRUE(store.blocks->recovery().dropped.empty());
  EXPECT_EQ(store.blocks->block_count(), 8u);
  EXPECT_LE(SegmentFileBytes(dir_), store.blocks->stored_bytes() * 2);
}

TEST_F(BlockStoreTest, CompactLeavesSegmentsThatAreMostlyLiveAlone) {
  Store store = Open(SmallSegments());
  const std::vector<TestBlock> blocks = PutSpreadOverSegments(store);
  for (std::size_t i = 0; i < 4; ++i) ASSERT_TRUE(store.blocks->Delete(blocks[i * 8].id).value());
  EXPECT_EQ(store.blocks->Compact().value(), 0u) << "an eighth of holes is not compacted";
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    EXPECT_EQ(store.blocks->Has(blocks[i].id).value(), i % 8 != 0) << "block " << i;
  }
}

TEST_F(BlockStoreTest, ASegmentLeftWithNoLiveFrameIsRemovedAtOnce) {
  Store store = Open(SmallSegments());
  const std::vector<TestBlock> blocks = PutSpreadOverSegments(store);
  const std::uint64_t before = SegmentFileBytes(dir_);
  for (std::size_t i = 0; i < 8; ++i) ASSERT_TRUE(store.blocks->Delete(blocks[i].id).value());
  // The first 8 frames filled the first segment (7 frames of 128 KiB and a bit fit in 1 MiB).
  EXPECT_LT(SegmentFileBytes(dir_), before);
  for (std::size_t i = 8; i < blocks.size(); ++i) {
    std::vector<std::byte> raw;
    ASSERT_TRUE(store.blocks->ReadRaw(blocks[i].id, raw).has_value()) << "block " << i;
  }
}

// A reader that located a block before a compaction moved it keeps reading the old bytes, and the
// old segment's space comes back when it lets go.
TEST_F(BlockStoreTest, AReaderHoldingAFrameReadsItWholeWhileCompactionMovesIt) {
  Store store = Open(SmallSegments());
  const std::vector<TestBlock> blocks = PutSpreadOverSegments(store);
  StoredBlock held = store.blocks->Get(blocks[0].id).value();
  ASSERT_FALSE(held.in_memory());
  for (std::size_t i = 1; i < blocks.size(); ++i) {
    if (i % 4 != 0) {
      ASSERT_TRUE(store.blocks->Delete(blocks[i].id).value());
    }
  }
  ASSERT_GT(store.blocks->Compact().value(), 0u);
  StoredBlock moved = store.blocks->Get(blocks[0].id).value();
  EXPECT_NE(moved.payload_file()->segment->number(), held.payload_file()->segment->number());
  EXPECT_FALSE(fs::exists(held.payload_file()->segment->path()));
  ASSERT_TRUE(held.Load()) << "the held segment is unlinked but still open";
  EXPECT_EQ(AsString(held.frame()), AsString(blocks[0].frame));
  ASSERT_TRUE(moved.Load());
  EXPECT_EQ(AsString(moved.frame()), AsString(blocks[0].frame));
}

TEST_F(BlockStoreTest, PutOfStoredIdReturnsFalseAndKeepsCounters) {
  Store store = Open();
  const TestBlock block = MakeBlock(RandomBytes(1000, 4));
  ASSERT_TRUE(store.blocks->Put(block.id, block.frame).value());
  const std::uint64_t stored_bytes = store.blocks->stored_bytes();
  EXPECT_EQ(stored_bytes, block.frame.size());

  const std::vector<std::byte> other_frame = Encode(RandomBytes(500, 5));
  EXPECT_EQ(store.blocks->Put(block.id, other_frame).value(), false);
  EXPECT_EQ(store.blocks->stored_bytes(), stored_bytes);
  EXPECT_EQ(store.blocks->block_count(), 1u);
  EXPECT_EQ(AsString(store.blocks->Get(block.id).value().frame()), AsString(block.frame));
}

TEST_F(BlockStoreTest, PutRejectsFrameThatDoesNotParse) {
  Store store = Open();
  TestBlock block = MakeBlock(RandomBytes(1000, 6));
  std::vector<std::byte> truncated(block.frame.begin(), block.frame.end() - 1);
  EXPECT_EQ(store.blocks->Put(block.id, truncated).error().code, Errc::kBadFrame);
  block.frame[kFrameHeaderSize + 10] ^= std::byte{1};
  EXPECT_EQ(store.blocks->Put(block.id, block.frame).error().code, Errc::kBadFrame);
  EXPECT_EQ(store.blocks->Has(block.id).value(), false);
  EXPECT_EQ(store.blocks->block_count(), 0u);
}

TEST_F(BlockStoreTest, CountersAreExactAfterPutsAndDeletesAndSurviveReopen) {
  std::vector<TestBlock> blocks;
  for (std::uint64_t i = 0; i < 10; ++i) blocks.push_back(MakeBlock(RandomBytes(1000 + i, 10 + i)));
  std::uint64_t expected_bytes = 0;
  {
    Store store = Open();
    for (const TestBlock& block : blocks) {
      ASSERT_TRUE(store.blocks->Put(block.id, block.frame).value());
      expected_bytes += block.frame.size();
    }
    for (std::size_t i = 0; i < 3; ++i) {
      ASSERT_TRUE(store.blocks->Delete(blocks[i].id).value());
      expected_bytes -= blocks[i].frame.size();
    }
    EXPECT_EQ(store.blocks->stored_bytes(), expected_bytes);
    EXPECT_EQ(store.blocks->block_count(), 7u);
  }
  Store store = Open();
  EXPECT_EQ(store.blocks->stored_bytes(), expected_bytes);
  EXPECT_EQ(store.blocks->block_count(), 7u);
  EXPECT_EQ(store.blocks->Has(blocks[0].id).value(), false);
  EXPECT_EQ(store.blocks->Has(blocks[9].id).value(), true);
}

TEST_F(BlockStoreTest, UnloggedBlockWritesSurviveACleanCloseWithExactCounters) {
  StoreOptions unlogged;
  unlogged.log_block_writes = false;
  std::vector<TestBlock> blocks;
  for (std::uint64_t i = 0; i < 6; ++i) blocks.push_back(MakeBlock(RandomBytes(200'000 + i, i)));
  std::uint64_t expected_bytes = 0;
  {
    Store store = Open(unlogged);
    for (const TestBlock& block : blocks) {
      ASSERT_TRUE(store.blocks->Put(block.id, block.frame).value());
      expected_bytes += block.frame.size();
    }
    ASSERT_TRUE(store.blocks->Delete(blocks[0].id).value());
    expected_bytes -= blocks[0].frame.size();
  }
  // Nothing of the blocks went to the write-ahead log: closing flushed the memtables.
  Store store = Open(unlogged);
  EXPECT_EQ(store.blocks->stored_bytes(), expected_bytes);
  EXPECT_EQ(store.blocks->block_count(), 5u);
  EXPECT_FALSE(store.blocks->Has(blocks[0].id).value());
  for (std::size_t i = 1; i < blocks.size(); ++i) {
    std::vector<std::byte> raw;
    ASSERT_TRUE(store.blocks->ReadRaw(blocks[i].id, raw).has_value());
    EXPECT_EQ(raw, blocks[i].raw);
  }
}

// Regression: RocksDB's KeyMayExist reported absent ids as present once the store had been
// reopened with data in SST files, which made ingest skip blocks it never stored.
TEST_F(BlockStoreTest, HasIsExactForAbsentIdsAfterReopen) {
  std::vector<TestBlock> present;
  for (std::uint64_t cycle = 0; cycle < 5; ++cycle) {
    Store store = Open();
    for (std::uint64_t i = 0; i < 100; ++i) {
      present.push_back(MakeBlock(RandomBytes(70000, cycle * 1000 + i)));
      ASSERT_TRUE(store.blocks->Put(present.back().id, present.back().frame).value());
    }
  }
  Store store = Open();
  for (const TestBlock& block : present) ASSERT_TRUE(store.blocks->Has(block.id).value());
  for (std::uint64_t i = 0; i < 1000; ++i) {
    const TestBlock absent = MakeBlock(RandomBytes(100, 100000 + i));
    ASSERT_FALSE(store.blocks->Has(absent.id).value()) << i;
    ASSERT_TRUE(store.blocks->Put(absent.id, absent.frame).value()) << i;
  }
}

TEST_F(BlockStoreTest, LargeBlockLivesInASegmentAndSmallOneInline) {
  const TestBlock block = MakeBlock(RandomBytes(8 << 20, 7));
  const TestBlock small = MakeBlock(RandomBytes(1000, 17));
  {
    Store store = Open();
    ASSERT_TRUE(store.blocks->Put(block.id, block.frame).value());
    ASSERT_TRUE(store.blocks->Put(small.id, small.frame).value());
  }
  Store store = Open();
  EXPECT_TRUE(store.blocks->recovery().clean);
  EXPECT_EQ(SegmentFileBytes(dir_), block.frame.size());
  auto stored = store.blocks->Get(block.id);
  ASSERT_TRUE(stored.has_value()) << stored.error().message;
  ASSERT_FALSE(stored->in_memory());
  const std::optional<SegmentRegion> region = stored->payload_file();
  ASSERT_TRUE(region.has_value());
  EXPECT_EQ(region->offset, kFrameHeaderSize);
  EXPECT_EQ(region->length, block.raw.size());
  EXPECT_EQ(stored->header().raw_size, block.raw.size());
  ASSERT_TRUE(stored->Load());
  EXPECT_EQ(stored->frame().size(), block.frame.size());
  EXPECT_TRUE(AsString(stored->frame()) == AsString(block.frame));
  std::vector<std::byte> raw;
  ASSERT_TRUE(store.blocks->ReadRaw(block.id, raw).has_value());
  EXPECT_TRUE(raw == block.raw);
}

TEST_F(BlockStoreTest, DamagedStoredFrameIsDetectedOnRead) {
  const TestBlock block = MakeBlock(RandomBytes(1000, 8));
  const std::string key = AsString(block.id.Binary());
  {
    Store store = Open();
    ASSERT_TRUE(store.blocks->Put(block.id, block.frame).value());
  }
  std::string damaged = AsString(block.frame);
  damaged[kFrameHeaderSize + 100] ^= 0x20;
  OverwriteRaw(dir_, "blocks", key, damaged);

  Store store = Open();
  EXPECT_EQ(store.blocks->Get(block.id).error().code, Errc::kBadFrame);
  std::vector<std::byte> raw = {std::byte{42}};
  auto read = store.blocks->ReadRaw(block.id, raw);
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code, Errc::kBadFrame);
  EXPECT_EQ(raw, std::vector<std::byte>{std::byte{42}});
}

TEST_F(BlockStoreTest, MalformedMetadataIsStorageError) {
  const TestBlock block = MakeBlock(RandomBytes(1000, 9));
  {
    Store store = Open();
    ASSERT_TRUE(store.blocks->Put(block.id, block.frame).value());
  }
  OverwriteRaw(dir_, "block_meta", AsString(block.id.Binary()), "abc");
  Store store = Open();
  EXPECT_EQ(store.blocks->Meta(block.id).error().code, Errc::kStorage);
  auto visited = store.blocks->ForEach([](const BlockId&, const BlockMeta&) { return true; });
  ASSERT_FALSE(visited.has_value());
  EXPECT_EQ(visited.error().code, Errc::kStorage);
}

TEST_F(BlockStoreTest, BlockMetaIsStoredInFixedLittleEndianLayout) {
  const TestBlock block = MakeBlock(RandomBytes(1000, 10));
  {
    Store store = Open();
    ASSERT_TRUE(store.blocks->Put(block.id, block.frame).value());
  }
  const std::string value = ReadRawValue(dir_, "block_meta", AsString(block.id.Binary()));
  ASSERT_EQ(value.size(), 37u);
  EXPECT_EQ(value.substr(0, 8), std::string("\xe8\x03\0\0\0\0\0\0", 8));  // raw_size 1000
  EXPECT_EQ(static_cast<std::uint8_t>(value[16]), 0u);                    // codec raw
  EXPECT_EQ(value.substr(25), std::string(12, '\0'));                     // hits, pins
}

TEST_F(BlockStoreTest, ReadRawRejectsBytesWhoseShaIsNotTheId) {
  Store store = Open();
  const TestBlock block = MakeBlock(RandomBytes(1000, 11));
  const BlockId wrong_id = BlockIdOf(RandomBytes(10, 12));
  ASSERT_TRUE(store.blocks->Put(wrong_id, block.frame).value());
  EXPECT_TRUE(store.blocks->Get(wrong_id).has_value());
  std::vector<std::byte> raw;
  auto read = store.blocks->ReadRaw(wrong_id, raw);
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code, Errc::kIntegrity);
  EXPECT_TRUE(raw.empty());
}

TEST_F(BlockStoreTest, ForEachVisitsInIdOrderAndStopsWhenAsked) {
  Store store = Open();
  std::map<BlockId, std::uint64_t> expected;
  for (std::uint64_t i = 0; i < 20; ++i) {
    const TestBlock block = MakeBlock(RandomBytes(100 + i, 100 + i));
    ASSERT_TRUE(store.blocks->Put(block.id, block.frame).value());
    expected[block.id] = block.raw.size();
  }
  std::vector<BlockId> visited;
  ASSERT_TRUE(store.blocks
                  ->ForEach([&](const BlockId& id, const BlockMeta& meta) {
                    EXPECT_EQ(meta.raw_size, expected[id]);
                    visited.push_back(id);
                    return true;
                  })
                  .has_value());
  std::vector<BlockId> in_order;
  for (const auto& [id, size] : expected) in_order.push_back(id);
  EXPECT_EQ(visited, in_order);

  visited.clear();
  ASSERT_TRUE(store.blocks
                  ->ForEach([&](const BlockId& id, const BlockMeta&) {
                    visited.push_back(id);
                    return visited.size() < 5;
                  })
                  .has_value());
  EXPECT_EQ(visited, std::vector<BlockId>(in_order.begin(), in_order.begin() + 5));
}

// Racing puts of the same ids into segments: each id is indexed once, the losers' frames are
// released, and the counters are exact.
TEST_F(BlockStoreTest, ConcurrentSegmentPutsOfSameIdsStoreEachOnce) {
  std::vector<TestBlock> blocks;
  std::uint64_t expected_bytes = 0;
  for (std::uint64_t i = 0; i < 12; ++i) {
    blocks.push_back(MakeBlock(RandomBytes(100 * 1024 + i, 300 + i)));
    expected_bytes += blocks.back().frame.size();
  }
  Store store = Open(SmallSegments());
  std::latch start(3);
  std::atomic<int> stored{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (const TestBlock& block : blocks) {
        auto put = store.blocks->Put(block.id, block.frame);
        EXPECT_TRUE(put.has_value()) << put.error().message;
        if (put && *put) ++stored;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(stored.load(), 12);
  EXPECT_EQ(store.blocks->stored_bytes(), expected_bytes);
  for (const TestBlock& block : blocks) {
    std::vector<std::byte> raw;
    ASSERT_TRUE(store.blocks->ReadRaw(block.id, raw).has_value());
    EXPECT_EQ(raw, block.raw);
  }
}

// Compaction runs while other threads put, read (located and loaded) and delete: every read of a
// block still stored returns its bytes, and the store ends consistent.
TEST_F(BlockStoreTest, CompactionWhilePutsReadsAndDeletesGoOn) {
  Store store = Open(SmallSegments());
  std::vector<TestBlock> blocks;
  for (std::uint64_t i = 0; i < 40; ++i)
    blocks.push_back(MakeBlock(RandomBytes(96 * 1024, 400 + i)));
  for (std::size_t i = 0; i < 20; ++i) {
    ASSERT_TRUE(store.blocks->Put(blocks[i].id, blocks[i].frame).value());
  }
  std::atomic<bool> done{false};
  std::atomic<int> bad_reads{0};
  std::thread compactor([&] {
    while (!done) EXPECT_TRUE(store.blocks->Compact().has_value());
  });
  std::thread reader([&] {
    while (!done) {
      for (std::size_t i = 0; i < 20; i += 2) {  // the blocks nobody deletes
        auto located = store.blocks->Get(blocks[i].id);
        if (!located || !located->Load() ||
            AsString(located->frame()) != AsString(blocks[i].frame)) {
          ++bad_reads;
        }
      }
    }
  });
  std::thread writer([&] {
    for (std::size_t i = 20; i < 40; ++i) {
      EXPECT_TRUE(store.blocks->Put(blocks[i].id, blocks[i].frame).has_value());
    }
    for (std::size_t i = 1; i < 40; i += 2) {
      EXPECT_TRUE(store.blocks->Delete(blocks[i].id).has_value());
    }
  });
  writer.join();
  for (int round = 0; round < 3; ++round) EXPECT_TRUE(store.blocks->Compact().has_value());
  done = true;
  compactor.join();
  reader.join();
  EXPECT_EQ(bad_reads.load(), 0);
  EXPECT_EQ(store.blocks->block_count(), 20u);
  for (std::size_t i = 0; i < 40; ++i) {
    std::vector<std::byte> raw;
    const auto read = store.blocks->ReadRaw(blocks[i].id, raw);
    EXPECT_EQ(read.has_value(), i % 2 == 0) << "block " << i;
  }
  // Only the live frames and at most the active segment's holes are left on disk.
  EXPECT_LE(SegmentFileBytes(dir_), store.blocks->stored_bytes() + (2u << 20));
}

TEST_F(BlockStoreTest, ConcurrentPutsOfSameIdsStoreEachOnce) {
  std::vector<TestBlock> blocks;
  std::uint64_t expected_bytes = 0;
  for (std::uint64_t i = 0; i < 32; ++i) {
    blocks.push_back(MakeBlock(RandomBytes(2000 + i, 200 + i)));
    expected_bytes += blocks.back().frame.size();
  }
  constexpr int kThreads = 4;
  {
    Store store = Open();
    std::latch start(kThreads);
    std::atomic<int> stored{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        for (std::size_t i = 0; i < blocks.size(); ++i) {
          const TestBlock& block = blocks[(i + t * 8) % blocks.size()];
          auto put = store.blocks->Put(block.id, block.frame);
          if (!put) {
            ++failed;
          } else if (*put) {
            ++stored;
          }
          auto has = store.blocks->Has(block.id);
          if (!has || !*has) ++failed;
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(stored.load(), 32);
    EXPECT_EQ(store.blocks->block_count(), 32u);
    EXPECT_EQ(store.blocks->stored_bytes(), expected_bytes);
  }
  Store store = Open();
  EXPECT_EQ(store.blocks->block_count(), 32u);
  EXPECT_EQ(store.blocks->stored_bytes(), expected_bytes);
}

TEST_F(BlockStoreTest, SecondOpenOfOpenStoreFailsWithStorageError) {
  {
    Store store = Open();
    auto second = OpenStore(dir_);
    ASSERT_FALSE(second.has_value());
    EXPECT_EQ(second.error().code, Errc::kStorage);
    EXPECT_NE(second.error().message.find(dir_.string()), std::string::npos)
        << second.error().message;
  }
  EXPECT_TRUE(OpenStore(dir_).has_value());  // the lock goes with the last owner
}

TEST_F(BlockStoreTest, OpenWithoutCreateIfMissingFailsOnMissingStore) {
  StoreOptions options;
  options.create_if_missing = false;
  auto store = OpenStore(dir_, options);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, Errc::kStorage);
}

Manifest MakeManifest(std::string model, std::string revision, std::uint64_t seed) {
  const std::vector<std::byte> first = RandomBytes(300, seed);
  const std::vector<std::byte> second = RandomBytes(200, seed + 1);
  std::vector<std::byte> whole = first;
  whole.insert(whole.end(), second.begin(), second.end());

  ManifestFile file;
  file.path = "config.json";
  file.size = whole.size();
  file.sha256 = Sha256Of(whole);
  file.format = "other";
  file.blocks = {ManifestBlock{BlockIdOf(first), 0, first.size()},
                 ManifestBlock{BlockIdOf(second), first.size(), second.size()}};

  Manifest manifest;
  manifest.model = std::move(model);
  manifest.revision = std::move(revision);
  manifest.created = "2026-11-23T12:00:00Z";
  manifest.files.push_back(std::move(file));
  manifest.commit = CommitOf(manifest);
  return manifest;
}

TEST_F(BlockStoreTest, UpdateMetaPersistsUsageKeepsSizesAndSkipsAbsentIds) {
  const TestBlock kept = MakeBlock(TextBytes(50'000));
  const TestBlock deleted = MakeBlock(RandomBytes(1000, 13));
  {
    Store store = Open();
    ASSERT_TRUE(store.blocks->Put(kept.id, kept.frame).value());
    ASSERT_TRUE(store.blocks->Put(deleted.id, deleted.frame).value());
    ASSERT_TRUE(store.blocks->Delete(deleted.id).value());
    const BlockMeta before = store.blocks->Meta(kept.id).value();

    BlockMeta update;
    update.raw_size = 1;  // sizes and codec in an update are ignored
    update.stored_size = 2;
    update.codec = Codec::kBg4Zstd;
    update.last_access_ms = 1'800'000'000'123;
    update.hits = 42;
    update.pins = 3;
    const std::vector<std::pair<BlockId, BlockMeta>> updates = {{kept.id, update},
                                                                {deleted.id, update}};
    auto updated = store.blocks->UpdateMeta(updates);
    ASSERT_TRUE(updated.has_value()) << updated.error().message;
    EXPECT_TRUE(store.blocks->UpdateMeta({}).has_value());

    BlockMeta expected = before;
    expected.last_access_ms = update.last_access_ms;
    expected.hits = 42;
    expected.pins = 3;
    EXPECT_EQ(store.blocks->Meta(kept.id).value(), expected);
    EXPECT_EQ(store.blocks->Has(deleted.id).value(), false);
    EXPECT_EQ(store.blocks->Meta(deleted.id).error().code, Errc::kBlockNotFound);
    EXPECT_EQ(store.blocks->stored_bytes(), kept.frame.size());
    EXPECT_EQ(store.blocks->block_count(), 1u);
  }
  Store store = Open();
  const BlockMeta meta = store.blocks->Meta(kept.id).value();
  EXPECT_EQ(meta.last_access_ms, 1'800'000'000'123u);
  EXPECT_EQ(meta.hits, 42u);
  EXPECT_EQ(meta.pins, 3u);
  EXPECT_EQ(meta.stored_size, kept.frame.size());
  EXPECT_EQ(meta.raw_size, kept.raw.size());
  std::size_t visited = 0;
  ASSERT_TRUE(store.blocks
                  ->ForEach([&](const BlockId& id, const BlockMeta&) {
                    EXPECT_EQ(id, kept.id);
                    ++visited;
                    return true;
                  })
                  .has_value());
  EXPECT_EQ(visited, 1u);
  std::vector<std::byte> raw;
  ASSERT_TRUE(store.blocks->ReadRaw(kept.id, raw).has_value());
  EXPECT_TRUE(raw == kept.raw);
}

TEST_F(PlanStoreTest, PutThenGetRoundTripsOverwritesAndSurvivesReopen) {
  const std::string binary("a\0b\xff", 4);
  {
    Store store = Open();
    auto absent = store.plan->Get("plan");
    ASSERT_TRUE(absent.has_value()) << absent.error().message;
    EXPECT_EQ(*absent, std::nullopt);

    ASSERT_TRUE(store.plan->Put("plan", R"({"version":1})").has_value());
    ASSERT_TRUE(store.plan->Put("plan", R"({"version":2})").has_value());
    ASSERT_TRUE(store.plan->Put("pins", "{}").has_value());
    ASSERT_TRUE(store.plan->Put("empty", "").has_value());
    ASSERT_TRUE(store.plan->Put("binary", binary).has_value());
    EXPECT_EQ(store.plan->Get("plan").value(), std::optional<std::string>(R"({"version":2})"));
  }
  Store store = Open();
  EXPECT_EQ(store.plan->Get("plan").value(), std::optional<std::string>(R"({"version":2})"));
  EXPECT_EQ(store.plan->Get("pins").value(), std::optional<std::string>("{}"));
  EXPECT_EQ(store.plan->Get("empty").value(), std::optional<std::string>(""));
  EXPECT_EQ(store.plan->Get("binary").value(), std::optional<std::string>(binary));
  EXPECT_EQ(store.plan->Get("plans").value(), std::nullopt);
  // The plan family is its own: a manifest listing does not see its keys.
  EXPECT_TRUE(store.manifests->List().value().empty());
}

// A file system whose writable files fail every append with ENOSPC while `full` is set, as a disk
// with no space left does.
class DiskFullFileSystem : public rocksdb::FileSystemWrapper {
 public:
  DiskFullFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}

  const char* Name() const override { return "DiskFullFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* debug) override {
    rocksdb::IOStatus status = target()->NewWritableFile(name, options, file, debug);
    if (status.ok()) *file = std::make_unique<File>(std::move(*file), full);
    return status;
  }

  std::atomic<bool> full{false};

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> file, const std::atomic<bool>& full)
        : FSWritableFileOwnerWrapper(std::move(file)), full_(full) {}

    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* debug) override {
      if (full_) return rocksdb::IOStatus::NoSpace("No space left on device");
      return target()->Append(data, options, debug);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* debug) override {
      if (full_) return rocksdb::IOStatus::NoSpace("No space left on device");
      return target()->Append(data, options, info, debug);
    }

   private:
    const std::atomic<bool>& full_;
  };
};

TEST_F(FullDiskTest, WritesFailWithStoreFullWhileReadsKeepWorking) {
  const auto file_system = std::make_shared<DiskFullFileSystem>();
  const std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(file_system);
  StoreOptions options;
  options.env = env.get();
  const TestBlock stored = MakeBlock(RandomBytes(5000, 14));
  const TestBlock refused = MakeBlock(RandomBytes(5000, 15));
  const Manifest manifest = MakeManifest("acme/tiny-llama", "main", 1);
  {
    Store store = Open(options);
    ASSERT_TRUE(store.blocks->Put(stored.id, stored.frame).value());
    file_system->full = true;

    auto put = store.blocks->Put(refused.id, refused.frame);
    ASSERT_FALSE(put.has_value());
    EXPECT_EQ(put.error().code, Errc::kStoreFull);
    EXPECT_EQ(HttpStatusOf(put.error().code), 507);
    EXPECT_NE(put.error().message.find("the store is full"), std::string::npos)
        << put.error().message;
    EXPECT_NE(put.error().message.find(refused.id.Hex()), std::string::npos) << put.error().message;
    // Later writes fail the same way, whichever family they go to.
    EXPECT_EQ(store.manifests->Put(manifest).error().code, Errc::kStoreFull);
    EXPECT_EQ(store.plan->Put("pins", "{}").error().code, Errc::kStoreFull);
    EXPECT_EQ(store.blocks->Delete(stored.id).error().code, Errc::kStoreFull);

    // Hits are still served, and nothing was half stored.
    EXPECT_EQ(store.blocks->Has(refused.id).value(), false);
    EXPECT_EQ(store.blocks->stored_bytes(), stored.frame.size());
    std::vector<std::byte> raw;
    ASSERT_TRUE(store.blocks->ReadRaw(stored.id, raw).has_value());
    EXPECT_TRUE(raw == stored.raw);
    file_system->full = false;
  }
  Store store = Open(options);
  EXPECT_EQ(store.blocks->Has(refused.id).value(), false);
  EXPECT_EQ(store.blocks->Has(stored.id).value(), true);
  EXPECT_EQ(store.blocks->stored_bytes(), stored.frame.size());
  EXPECT_TRUE(store.blocks->Put(refused.id, refused.frame).value());
}

// A disk of `capacity_bytes` holding only the store: its free space is the capacity less the
// bytes of the files under `dir`, as a small filesystem of its own would report.
class SmallDiskFileSystem : public rocksdb::FileSystemWrapper {
 public:
  SmallDiskFileSystem(fs::path dir, std::uint64_t capacity_bytes)
      : FileSystemWrapper(rocksdb::FileSystem::Default()),
        dir_(std::move(dir)),
        capacity_bytes_(capacity_bytes) {}

  const char* Name() const override { return "SmallDiskFileSystem"; }

  rocksdb::IOStatus GetFreeSpace(const std::string& /*path*/, const rocksdb::IOOptions& /*options*/,
                                 std::uint64_t* free_bytes,
                                 rocksdb::IODebugContext* /*debug*/) override {
    const std::uint64_t used = UsedBytes();
    *free_bytes = used >= capacity_bytes_ ? 0 : capacity_bytes_ - used;
    return rocksdb::IOStatus::OK();
  }

  std::uint64_t UsedBytes() const {
    std::uint64_t used = 0;
    std::error_code error;
    for (const auto& entry : fs::recursive_directory_iterator(dir_, error)) {
      if (entry.is_regular_file(error)) used += entry.file_size(error);
    }
    return used;
  }

 private:
  const fs::path dir_;
  const std::uint64_t capacity_bytes_;
};

// A cache node's store settings on a 12 MiB disk: unlogged block writes, a 1 MiB memtable (so
// that frames reach blob files as they come), 2 MiB kept free.
class SmallDiskTest : public StoreTest {
 protected:
  static constexpr std::uint64_t kCapacity = 12ull << 20;
  static constexpr std::size_t kBlockBytes = 256 * 1024;

  void SetUp() override {
    StoreTest::SetUp();
    file_system_ = std::make_shared<SmallDiskFileSystem>(dir_, kCapacity);
    env_ = rocksdb::NewCompositeEnv(file_system_);
    options_.env = env_.get();
    options_.log_block_writes = false;
    options_.block_memtable_bytes = 1ull << 20;
    options_.min_free_bytes = 2ull << 20;
  }

  // Puts fresh random blocks until one is refused: the blocks stored, and the refusal.
  std::vector<TestBlock> FillUntilFull(Store& store, std::uint64_t seed, Error& refusal) {
    std::vector<TestBlock> stored;
    for (int i = 0; i < 200; ++i) {
      TestBlock block = MakeBlock(RandomBytes(kBlockBytes, seed + i));
      auto put = store.blocks->Put(block.id, block.frame);
      if (!put) {
        refusal = put.error();
        EXPECT_FALSE(store.blocks->Has(block.id).value());
        return stored;
      }
      EXPECT_TRUE(*put);
      stored.push_back(std::move(block));
    }
    ADD_FAILURE() << "200 blocks of " << kBlockBytes << " bytes fit on a disk of " << kCapacity;
    return stored;
  }

  std::shared_ptr<SmallDiskFileSystem> file_system_;
  std::unique_ptr<rocksdb::Env> env_;
  StoreOptions options_;
};

TEST_F(SmallDiskTest, PutThatWouldLeaveLessThanTheReserveFreeIsStoreFullAndReadsGoOn) {
  Store store = Open(options_);
  Error refusal;
  const std::vector<TestBlock> stored = FillUntilFull(store, 100, refusal);
  EXPECT_EQ(refusal.code, Errc::kStoreFull) << refusal.message;
  EXPECT_NE(refusal.message.find("the store is full"), std::string::npos) << refusal.message;
  // Most of the disk was used before the refusal, and the disk never filled.
  EXPECT_GT(stored.size() * kBlockBytes, kCapacity / 2);
  EXPECT_LT(file_system_->UsedBytes(), kCapacity);
  std::uint64_t frames = 0;
  for (const TestBlock& block : stored) {
    std::vector<std::byte> raw;
    ASSERT_TRUE(store.blocks->ReadRaw(block.id, raw).has_value());
    EXPECT_TRUE(raw == block.raw);
    frames += block.frame.size();
  }
  EXPECT_EQ(store.blocks->stored_bytes(), frames);
  EXPECT_EQ(store.blocks->block_count(), stored.size());
  // RocksDB never hit the full disk: the other families and deletes still write.
  EXPECT_TRUE(store.plan->Put("pins", "{}").has_value());
  EXPECT_TRUE(store.blocks->Delete(stored.front().id).value());
}

TEST_F(SmallDiskTest, DeletingBlocksOnAFullDiskMakesRoomForAsManyAgain) {
  Store store = Open(options_);
  Error refusal;
  const std::vector<TestBlock> first = FillUntilFull(store, 100, refusal);
  ASSERT_EQ(refusal.code, Errc::kStoreFull) << refusal.message;
  for (const TestBlock& block : first) EXPECT_TRUE(store.blocks->Delete(block.id).value());

  const std::vector<TestBlock> second = FillUntilFull(store, 1000, refusal);
  EXPECT_EQ(refusal.code, Errc::kStoreFull) << refusal.message;
  // The deleted frames' blob files went: as many blocks fit again, give or take one memtable.
  EXPECT_GE(second.size() + 4, first.size());
  EXPECT_LT(file_system_->UsedBytes(), kCapacity);
  EXPECT_EQ(store.blocks->block_count(), second.size());
  for (const TestBlock& block : second) {
    std::vector<std::byte> raw;
    ASSERT_TRUE(store.blocks->ReadRaw(block.id, raw).has_value());
    EXPECT_TRUE(raw == block.raw);
  }
}

TEST_F(SmallDiskTest, DeletedBlocksSurviveAReopenDeletedAndTheirRoomComesBack) {
  Error refusal;
  std::vector<TestBlock> first;
  {
    Store store = Open(options_);
    first = FillUntilFull(store, 100, refusal);
    ASSERT_EQ(refusal.code, Errc::kStoreFull) << refusal.message;
    for (const TestBlock& block : first) EXPECT_TRUE(store.blocks->Delete(block.id).value());
  }
  Store store = Open(options_);
  EXPECT_EQ(store.blocks->block_count(), 0u);
  EXPECT_EQ(store.blocks->stored_bytes(), 0u);
  EXPECT_FALSE(store.blocks->Has(first.front().id).value());
  // A new process knows of no deletion to reclaim, yet the deleted frames' room comes back.
  const std::vector<TestBlock> second = FillUntilFull(store, 1000, refusal);
  EXPECT_GE(second.size() + 4, first.size());
}

// RocksDB stopped by a full disk (here the failure is made by the file system, so the store's
// own reserve cannot see it coming) resumes by itself once there is room: the same store takes
// writes again without being reopened.
TEST_F(FullDiskTest, StoreStoppedByAFullDiskTakesWritesAgainOnceThereIsRoom) {
  const auto file_system = std::make_shared<DiskFullFileSystem>();
  const std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(file_system);
  StoreOptions options;
  options.env = env.get();
  Store store = Open(options);
  const TestBlock stored = MakeBlock(RandomBytes(5000, 21));
  ASSERT_TRUE(store.blocks->Put(stored.id, stored.frame).value());
  file_system->full = true;
  const TestBlock refused = MakeBlock(RandomBytes(5000, 22));
  EXPECT_EQ(store.blocks->Put(refused.id, refused.frame).error().code, Errc::kStoreFull);
  EXPECT_EQ(store.blocks->Delete(stored.id).error().code, Errc::kStoreFull);
  file_system->full = false;

  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  Result<bool> put = store.blocks->Put(refused.id, refused.frame);
  while (!put && std::chrono::steady_clock::now() < until) {
    EXPECT_EQ(put.error().code, Errc::kStoreFull) << put.error().message;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    put = store.blocks->Put(refused.id, refused.frame);
  }
  ASSERT_TRUE(put) << "still refused 20 s after the disk had room: " << put.error().message;
  EXPECT_TRUE(*put);
  EXPECT_TRUE(store.blocks->Delete(stored.id).value());
  EXPECT_EQ(store.blocks->block_count(), 1u);
  EXPECT_EQ(store.blocks->stored_bytes(), refused.frame.size());
}

TEST_F(ManifestStoreTest, PutThenGetByNameAndByCommit) {
  const Manifest manifest = MakeManifest("acme/tiny-llama", "main", 1);
  {
    Store store = Open();
    ASSERT_TRUE(store.manifests->Put(manifest).has_value());
  }
  Store store = Open();
  auto by_name = store.manifests->Get("acme/tiny-llama", "main");
  ASSERT_TRUE(by_name.has_value()) << by_name.error().message;
  EXPECT_EQ(*by_name, manifest);

  const std::string commit = manifest.commit.Hex();
  auto by_commit = store.manifests->Get("acme/tiny-llama", commit);
  ASSERT_TRUE(by_commit.has_value()) << by_commit.error().message;
  EXPECT_EQ(by_commit->revision, commit);
  EXPECT_EQ(by_commit->commit, manifest.commit);
  EXPECT_EQ(by_commit->files, manifest.files);
}

TEST_F(ManifestStoreTest, AManifestReadAgainIsTheOneParsedBeforeUntilItsNameMoves) {
  Store store = Open();
  const Manifest old_main = MakeManifest("acme/tiny-llama", "main", 1);
  const Manifest new_main = MakeManifest("acme/tiny-llama", "main", 2);
  ASSERT_TRUE(store.manifests->Put(old_main).has_value());
  auto first = store.manifests->GetShared("acme/tiny-llama", "main");
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(**first, old_main);
  EXPECT_EQ(store.manifests->GetShared("acme/tiny-llama", "main").value(), *first);
  // By commit: the same manifest, named by its commit.
  auto by_commit = store.manifests->GetShared("acme/tiny-llama", old_main.commit.Hex());
  ASSERT_TRUE(by_commit.has_value()) << by_commit.error().message;
  EXPECT_EQ((*by_commit)->revision, old_main.commit.Hex());
  EXPECT_EQ((*by_commit)->files, old_main.files);
  // Another model never gets it, though its commit is kept parsed.
  EXPECT_EQ(store.manifests->GetShared("acme/other", old_main.commit.Hex()).error().code,
            Errc::kModelNotFound);

  ASSERT_TRUE(store.manifests->Put(new_main).has_value());
  auto moved = store.manifests->GetShared("acme/tiny-llama", "main");
  ASSERT_TRUE(moved.has_value()) << moved.error().message;
  EXPECT_EQ(**moved, new_main);
  EXPECT_EQ(**first, old_main);  // still whole for whoever holds it
}

TEST_F(ManifestStoreTest, ManifestPutUnderItsCommitIsFoundByCommitButListsNoRevision) {
  Store store = Open();
  Manifest manifest = MakeManifest("acme/tiny", "main", 1);
  manifest.revision = manifest.commit.Hex();  // as a commit lookup returns it
  ASSERT_TRUE(store.manifests->Put(manifest).has_value());
  EXPECT_EQ(store.manifests->Get("acme/tiny", manifest.commit.Hex()).value().commit,
            manifest.commit);
  EXPECT_TRUE(store.manifests->List().value().empty());
}

TEST_F(ManifestStoreTest, RevisionOverwritePointsAtNewCommit) {
  Store store = Open();
  const Manifest old_main = MakeManifest("acme/tiny-llama", "main", 1);
  const Manifest new_main = MakeManifest("acme/tiny-llama", "main", 2);
  ASSERT_NE(old_main.commit, new_main.commit);
  ASSERT_TRUE(store.manifests->Put(old_main).has_value());
  ASSERT_TRUE(store.manifests->Put(new_main).has_value());
  EXPECT_EQ(store.manifests->Get("acme/tiny-llama", "main").value().commit, new_main.commit);
  auto old_by_commit = store.manifests->Get("acme/tiny-llama", old_main.commit.Hex());
  ASSERT_TRUE(old_by_commit.has_value());
  EXPECT_EQ(old_by_commit->files, old_main.files);
}

TEST_F(ManifestStoreTest, UnknownModelAndUnknownRevisionHaveDistinctCodes) {
  Store store = Open();
  const Manifest llama = MakeManifest("acme/tiny-llama", "main", 1);
  const Manifest other = MakeManifest("acme/other", "main", 3);
  ASSERT_TRUE(store.manifests->Put(llama).has_value());
  ASSERT_TRUE(store.manifests->Put(other).has_value());

  EXPECT_EQ(store.manifests->Get("acme/unknown", "main").error().code, Errc::kModelNotFound);
  EXPECT_EQ(store.manifests->Get("acme/tiny", "main").error().code, Errc::kModelNotFound);
  EXPECT_EQ(store.manifests->Get("acme/tiny-llama", "v2").error().code, Errc::kRevisionNotFound);
  EXPECT_EQ(store.manifests->Get("acme/tiny-llama", std::string(64, 'a')).error().code,
            Errc::kRevisionNotFound);
  EXPECT_EQ(store.manifests->Get("acme/tiny-llama", other.commit.Hex()).error().code,
            Errc::kRevisionNotFound);
  EXPECT_EQ(store.manifests->Get("acme/unknown", llama.commit.Hex()).error().code,
            Errc::kModelNotFound);
}

TEST_F(ManifestStoreTest, ListReturnsEveryRevisionSortedWithItsCommit) {
  Store store = Open();
  const Manifest a = MakeManifest("acme/b-model", "main", 1);
  const Manifest b = MakeManifest("acme/b", "v1.0", 2);
  const Manifest c = MakeManifest("acme/b", "main", 3);
  for (const Manifest* m : {&a, &b, &c}) ASSERT_TRUE(store.manifests->Put(*m).has_value());
  auto list = store.manifests->List();
  ASSERT_TRUE(list.has_value()) << list.error().message;
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].model, "acme/b");
  EXPECT_EQ((*list)[0].revision, "main");
  EXPECT_EQ((*list)[0].commit, c.commit.Hex());
  EXPECT_EQ((*list)[1].model, "acme/b");
  EXPECT_EQ((*list)[1].revision, "v1.0");
  EXPECT_EQ((*list)[1].commit, b.commit.Hex());
  EXPECT_EQ((*list)[2].model, "acme/b-model");
  EXPECT_EQ((*list)[2].revision, "main");
  EXPECT_EQ((*list)[2].commit, a.commit.Hex());
}

TEST_F(ManifestStoreTest, PutRejectsInvalidManifest) {
  Store store = Open();
  Manifest wrong_commit = MakeManifest("acme/tiny-llama", "main", 1);
  wrong_commit.created = "2026-11-24T12:00:00Z";
  EXPECT_EQ(store.manifests->Put(wrong_commit).error().code, Errc::kBadManifest);

  Manifest gap = MakeManifest("acme/tiny-llama", "main", 1);
  gap.files[0].blocks[1].offset += 1;
  gap.commit = CommitOf(gap);
  EXPECT_EQ(store.manifests->Put(gap).error().code, Errc::kBadManifest);

  Manifest bad_path = MakeManifest("acme/tiny-llama", "main", 1);
  bad_path.files[0].path = "../config.json";
  bad_path.commit = CommitOf(bad_path);
  EXPECT_EQ(store.manifests->Put(bad_path).error().code, Errc::kBadManifest);

  EXPECT_EQ(store.manifests->Get("acme/tiny-llama", "main").error().code, Errc::kModelNotFound);
  EXPECT_TRUE(store.manifests->List().value().empty());
}

TEST_F(ManifestStoreTest, DamagedStoredManifestIsStorageError) {
  const Manifest manifest = MakeManifest("acme/tiny-llama", "main", 1);
  {
    Store store = Open();
    ASSERT_TRUE(store.manifests->Put(manifest).has_value());
  }
  OverwriteRaw(dir_, "manifests", "c/" + manifest.commit.Hex(), "{\"schema\":");
  Store store = Open();
  EXPECT_EQ(store.manifests->Get("acme/tiny-llama", "main").error().code, Errc::kStorage);
}

}  // namespace
}  // namespace mei
