#include "common/store.h"

#include <fmt/format.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/metadata.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string_view>
#include <tuple>
#include <vector>

#include "common/internal/rocks_handle.h"

namespace mei {
namespace {

constexpr std::string_view kStoredBytesKey = "stored_bytes";
constexpr std::string_view kBlockCountKey = "block_count";
constexpr std::string_view kCommitPrefix = "c/";
constexpr std::string_view kRevisionPrefix = "r/";

// BlockMeta v1, little-endian: raw_size u64, stored_size u64, codec u8, last_access_ms u64,
// hits u64, pins u32. A later version appends fields, so the length tells the version apart.
constexpr std::size_t kMetaSizeV1 = 8 + 8 + 1 + 8 + 8 + 4;

rocksdb::Slice SliceOf(std::span<const std::byte> bytes) {
  return rocksdb::Slice(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

rocksdb::Slice SliceOf(std::string_view text) { return rocksdb::Slice(text.data(), text.size()); }

std::span<const std::byte> BytesOf(const rocksdb::Slice& slice) {
  return std::as_bytes(std::span<const char>(slice.data(), slice.size()));
}

std::string_view ViewOf(const rocksdb::Slice& slice) {
  return std::string_view(slice.data(), slice.size());
}

Error StorageError(std::string_view what, const rocksdb::Status& status) {
  return Error{Errc::kStorage, "RocksDB could not " + std::string(what) + ": " + status.ToString()};
}

// The error for a failed write: kStoreFull when the disk (or RocksDB's space limit) is full, so
// that callers answer 507 and keep serving reads; kStorage otherwise.
Error WriteError(std::string_view what, const rocksdb::Status& status) {
  if (status.IsNoSpace() ||
      (status.IsIOError() && status.subcode() == rocksdb::Status::kSpaceLimit)) {
    return Error{Errc::kStoreFull, "the store is full: could not " + std::string(what) + " (" +
                                       status.ToString() + ")"};
  }
  return StorageError(what, status);
}

void PutLe(std::string& out, std::uint64_t value, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) {
    out.push_back(static_cast<char>(value >> (8 * i) & 0xff));
  }
}

std::uint64_t GetLe(std::string_view in, std::size_t offset, std::size_t width) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    value |= std::uint64_t{static_cast<std::uint8_t>(in[offset + i])} << (8 * i);
  }
  return value;
}

std::string EncodeU64(std::uint64_t value) {
  std::string out;
  PutLe(out, value, 8);
  return out;
}

std::string EncodeMeta(const BlockMeta& meta) {
  std::string out;
  out.reserve(kMetaSizeV1);
  PutLe(out, meta.raw_size, 8);
  PutLe(out, meta.stored_size, 8);
  PutLe(out, static_cast<std::uint8_t>(meta.codec), 1);
  PutLe(out, meta.last_access_ms, 8);
  PutLe(out, meta.hits, 8);
  PutLe(out, meta.pins, 4);
  return out;
}

Result<BlockMeta> DecodeMeta(const BlockId& id, std::string_view value) {
  if (value.size() != kMetaSizeV1) {
    return Error{Errc::kStorage, "the stored metadata of block " + id.Hex() + " is " +
                                     std::to_string(value.size()) + " bytes long, not " +
                                     std::to_string(kMetaSizeV1)};
  }
  const std::uint64_t codec = GetLe(value, 16, 1);
  if (codec > static_cast<std::uint8_t>(Codec::kBg4Zstd)) {
    return Error{Errc::kStorage, "the stored metadata of block " + id.Hex() +
                                     " names an unknown codec " + std::to_string(codec)};
  }
  BlockMeta meta;
  meta.raw_size = GetLe(value, 0, 8);
  meta.stored_size = GetLe(value, 8, 8);
  meta.codec = static_cast<Codec>(codec);
  meta.last_access_ms = GetLe(value, 17, 8);
  meta.hits = GetLe(value, 25, 8);
  meta.pins = static_cast<std::uint32_t>(GetLe(value, 33, 4));
  return meta;
}

// What a write may still take from the store's filesystem.
struct Room {
  bool known = false;  // false when the filesystem cannot tell its free space
  std::uint64_t free_bytes = 0;
  std::uint64_t unflushed_bytes = 0;  // memtables, which a flush will write out
  std::uint64_t sst_bytes = 0;        // what a compaction may rewrite

  bool Fits(std::uint64_t size, std::uint64_t min_free_bytes) const {
    const std::uint64_t needed = size + unflushed_bytes + sst_bytes + min_free_bytes;
    return free_bytes >= needed;
  }
};

Result<Room> RoomOf(const RocksHandle& handle) {
  rocksdb::DB& db = handle.db();
  Room room;
  const rocksdb::Status status = db.GetEnv()->GetFreeSpace(db.GetName(), &room.free_bytes);
  if (status.IsNotSupported()) return room;
  if (!status.ok()) return StorageError("measure the free space of " + db.GetName(), status);
  room.known = true;
  if (!db.GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables,
                                   &room.unflushed_bytes) ||
      !db.GetAggregatedIntProperty(rocksdb::DB::Properties::kTotalSstFilesSize, &room.sst_bytes)) {
    return Error{Errc::kStorage, "RocksDB does not report the size of its memtables and SST files"};
  }
  return room;
}

std::uint64_t NowMs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

Result<std::uint64_t> LoadCounter(rocksdb::DB& db, std::string_view key) {
  rocksdb::PinnableSlice value;
  const rocksdb::Status status =
      db.Get(rocksdb::ReadOptions(), db.DefaultColumnFamily(), SliceOf(key), &value);
  if (status.IsNotFound()) return std::uint64_t{0};
  if (!status.ok()) return StorageError("read the " + std::string(key) + " counter", status);
  if (value.size() != 8) {
    return Error{Errc::kStorage, "the stored " + std::string(key) + " counter is " +
                                     std::to_string(value.size()) + " bytes long, not 8"};
  }
  return GetLe(ViewOf(value), 0, 8);
}

// Options for a small edge machine (two cores): bounded open files and WAL, one LRU block cache
// shared by every column family, XXH3 table checksums and bloom filters everywhere. Frames are
// already compressed, so the blocks family stores them as they are, in blob files past
// min_blob_size.
rocksdb::DBOptions MakeDbOptions(const StoreOptions& options) {
  rocksdb::DBOptions db_options;
  db_options.IncreaseParallelism(2);
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.max_open_files = 512;
  // Without a bound, a rarely written family (manifests) would keep every WAL file, and the
  // multi-MiB frames in them, alive until it flushes.
  db_options.max_total_wal_size = 256ull << 20;
  db_options.max_log_file_size = 16ull << 20;
  db_options.keep_log_file_num = 4;
  // Block writes that skip the WAL survive a crash only as far as the last flush, and only if
  // every family flushes at that same point: else a crash could keep frames whose metadata and
  // counters were lost (space nothing accounts for), or metadata without its frame.
  db_options.atomic_flush = !options.log_block_writes;
  if (options.env != nullptr) db_options.env = options.env;
  return db_options;
}

std::vector<rocksdb::ColumnFamilyDescriptor> MakeFamilies(const StoreOptions& options) {
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  table.checksum = rocksdb::kXXH3;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  const std::shared_ptr<rocksdb::TableFactory> table_factory(
      rocksdb::NewBlockBasedTableFactory(table));

  rocksdb::ColumnFamilyOptions base;
  base.table_factory = table_factory;

  rocksdb::ColumnFamilyOptions blocks = base;
  blocks.compression = rocksdb::kNoCompression;
  blocks.enable_blob_files = true;
  blocks.min_blob_size = options.min_blob_size;
  blocks.blob_compression_type = rocksdb::kNoCompression;
  // Frames are relocated only by BlockStore::CollectGarbage, when there is garbage to give back:
  // RocksDB's own collection rewrites the oldest blob files at every compaction whether or not
  // they hold any, which made every filled byte be written about twice.
  blocks.enable_blob_garbage_collection = false;
  // Frames wait in the memtable until a flush writes them to a blob file: its size bounds the
  // memory they hold (twice: one memtable filling while the last one flushes).
  blocks.write_buffer_size = options.block_memtable_bytes;
  blocks.max_write_buffer_number = 2;

  std::vector<rocksdb::ColumnFamilyDescriptor> families(RocksHandle::kFamilyCount);
  families[RocksHandle::kDefault] = {rocksdb::kDefaultColumnFamilyName, base};
  families[RocksHandle::kBlocks] = {"blocks", blocks};
  families[RocksHandle::kBlockMeta] = {"block_meta", base};
  families[RocksHandle::kManifests] = {"manifests", base};
  families[RocksHandle::kPlan] = {"plan", base};
  return families;
}

Result<std::shared_ptr<RocksHandle>> OpenHandle(const std::filesystem::path& dir,
                                                const StoreOptions& options) {
  std::vector<rocksdb::ColumnFamilyHandle*> families;
  rocksdb::DB* raw_db = nullptr;
  const rocksdb::Status status = rocksdb::DB::Open(MakeDbOptions(options), dir.string(),
                                                   MakeFamilies(options), &families, &raw_db);
  if (!status.ok()) return StorageError("open the store at " + dir.string(), status);
  auto handle =
      std::make_shared<RocksHandle>(std::unique_ptr<rocksdb::DB>(raw_db), std::move(families));

  auto stored_bytes = LoadCounter(handle->db(), kStoredBytesKey);
  if (!stored_bytes) return stored_bytes.error();
  auto block_count = LoadCounter(handle->db(), kBlockCountKey);
  if (!block_count) return block_count.error();
  handle->set_counters_at_open(BlockCounters{*stored_bytes, *block_count});
  rocksdb::WriteOptions block_writes;
  block_writes.disableWAL = !options.log_block_writes;
  handle->set_block_writes(block_writes);
  return handle;
}

// The value under `key`, or nullopt when there is none.
Result<std::optional<rocksdb::PinnableSlice>> Read(const RocksHandle& handle,
                                                   RocksHandle::Family family,
                                                   const rocksdb::Slice& key,
                                                   std::string_view what) {
  std::optional<rocksdb::PinnableSlice> value(std::in_place);
  const rocksdb::Status status =
      handle.db().Get(rocksdb::ReadOptions(), handle.family(family), key, &*value);
  if (status.IsNotFound()) return std::nullopt;
  if (!status.ok()) return StorageError("read " + std::string(what), status);
  return value;
}

// Whether `key` is in `family`, by a plain Get: bloom filters make a miss cheap. (KeyMayExist is
// not used: in RocksDB 7.8 it can report a value found for a key that is absent.)
Result<bool> Contains(const RocksHandle& handle, RocksHandle::Family family,
                      const rocksdb::Slice& key, std::string_view what) {
  auto read = Read(handle, family, key, what);
  if (!read) return read.error();
  return read->has_value();
}

Result<BlockMeta> ReadMeta(const RocksHandle& handle, const BlockId& id) {
  auto value = Read(handle, RocksHandle::kBlockMeta, SliceOf(id.Binary()),
                    "the metadata of block " + id.Hex());
  if (!value) return value.error();
  if (!value->has_value()) {
    return Error{Errc::kBlockNotFound, "block " + id.Hex() + " is not stored"};
  }
  return DecodeMeta(id, ViewOf(**value));
}

// Reads the frame of `id` into `frame` without checking it. RocksDB's own checksums are skipped
// for this read: every caller verifies the frame's XXH3, which covers the same bytes, and Debian's
// RocksDB computes the blob records' CRC32C in software, which halved serving throughput.
Result<void> ReadFrame(const RocksHandle& handle, const BlockId& id,
                       rocksdb::PinnableSlice& frame) {
  rocksdb::ReadOptions options;
  options.verify_checksums = false;
  const rocksdb::Status status =
      handle.db().Get(options, handle.family(RocksHandle::kBlocks), SliceOf(id.Binary()), &frame);
  if (status.IsNotFound()) {
    return Error{Errc::kBlockNotFound, "block " + id.Hex() + " is not stored"};
  }
  if (!status.ok()) return StorageError("read block " + id.Hex(), status);
  return {};
}

}  // namespace

StoredBlock::StoredBlock() = default;
StoredBlock::~StoredBlock() = default;
StoredBlock::StoredBlock(StoredBlock&&) noexcept = default;
StoredBlock& StoredBlock::operator=(StoredBlock&&) noexcept = default;

std::span<const std::byte> StoredBlock::frame() const {
  if (slice_ == nullptr) return {};
  return BytesOf(*slice_);
}

// Writes are serialised by one mutex: each batch carries the new counter values, so batches must
// commit in the order their values were computed. Reads take no lock.
struct BlockStore::Counters {
  std::mutex write_mutex;
  std::atomic<std::uint64_t> stored_bytes{0};
  std::atomic<std::uint64_t> block_count{0};
  // Whether blocks may have been deleted since the last reclaim; under write_mutex. True at
  // open: what earlier processes deleted is not known.
  bool reclaim_pending = true;
  // CollectGarbage's estimate of garbage below which it does nothing: raised after a collection
  // found no blob file worth relocating, so it waits for more deletes instead of flushing and
  // compacting again every time it is called.
  std::atomic<std::uint64_t> garbage_floor{0};
};

BlockStore::BlockStore(std::shared_ptr<RocksHandle> db, std::uint64_t min_free_bytes)
    : db_(std::move(db)), min_free_bytes_(min_free_bytes), counters_(std::make_unique<Counters>()) {
  const BlockCounters at_open = db_->counters_at_open();
  counters_->stored_bytes.store(at_open.stored_bytes);
  counters_->block_count.store(at_open.block_count);
}

BlockStore::~BlockStore() = default;

Result<bool> BlockStore::Put(const BlockId& id, std::span<const std::byte> frame) {
  auto view = ParseFrame(frame);
  if (!view) return view.error();
  BlockMeta meta;
  meta.raw_size = view->header.raw_size;
  meta.stored_size = frame.size();
  meta.codec = view->header.codec;
  meta.last_access_ms = NowMs();
  const rocksdb::Slice key = SliceOf(id.Binary());

  std::lock_guard lock(counters_->write_mutex);
  auto present = Contains(*db_, RocksHandle::kBlockMeta, key, "the metadata of block " + id.Hex());
  if (!present) return present.error();
  if (*present) return false;
  if (auto room = MakeRoomLocked(frame.size()); !room) {
    return Error{room.error().code,
                 "could not store block " + id.Hex() + ": " + room.error().message};
  }

  const std::uint64_t stored_bytes = counters_->stored_bytes.load() + frame.size();
  const std::uint64_t block_count = counters_->block_count.load() + 1;
  rocksdb::WriteBatch batch;
  rocksdb::Status status = batch.Put(db_->family(RocksHandle::kBlocks), key, SliceOf(frame));
  if (status.ok()) {
    status = batch.Put(db_->family(RocksHandle::kBlockMeta), key, EncodeMeta(meta));
  }
  if (status.ok()) status = batch.Put(SliceOf(kStoredBytesKey), EncodeU64(stored_bytes));
  if (status.ok()) status = batch.Put(SliceOf(kBlockCountKey), EncodeU64(block_count));
  if (status.ok()) status = db_->db().Write(db_->block_writes(), &batch);
  if (!status.ok()) return WriteError("store block " + id.Hex(), status);
  counters_->stored_bytes.store(stored_bytes);
  counters_->block_count.store(block_count);
  return true;
}

Result<StoredBlock> BlockStore::Get(const BlockId& id) const {
  StoredBlock block;
  block.slice_ = std::make_unique<rocksdb::PinnableSlice>();
  if (auto read = ReadFrame(*db_, id, *block.slice_); !read) return read.error();
  auto view = ParseFrame(block.frame());
  if (!view) {
    return Error{Errc::kBadFrame,
                 "stored block " + id.Hex() + " is damaged: " + view.error().message};
  }
  block.view_ = *view;
  return block;
}

Result<void> BlockStore::ReadRaw(const BlockId& id, std::vector<std::byte>& raw) const {
  rocksdb::PinnableSlice frame;
  if (auto read = ReadFrame(*db_, id, frame); !read) return read.error();
  // Decoded into a per-thread buffer and swapped in, so that `raw` is untouched on error and a
  // caller that reuses its buffer causes no allocation.
  thread_local BlockDecoder decoder;
  thread_local std::vector<std::byte> decoded;
  decoded.clear();
  if (auto result = decoder.Decode(BytesOf(frame), decoded); !result) {
    return Error{result.error().code,
                 "stored block " + id.Hex() + " is damaged: " + result.error().message};
  }
  const BlockId actual = BlockIdOf(decoded);
  if (actual != id) {
    return Error{Errc::kIntegrity,
                 "stored block " + id.Hex() + " decodes to bytes whose SHA-256 is " + actual.Hex()};
  }
  raw.swap(decoded);
  return {};
}

Result<bool> BlockStore::Has(const BlockId& id) const {
  return Contains(*db_, RocksHandle::kBlockMeta, SliceOf(id.Binary()),
                  "the metadata of block " + id.Hex());
}

Result<BlockMeta> BlockStore::Meta(const BlockId& id) const { return ReadMeta(*db_, id); }

Result<bool> BlockStore::Delete(const BlockId& id) {
  std::lock_guard lock(counters_->write_mutex);
  auto meta = ReadMeta(*db_, id);
  if (!meta) {
    if (meta.error().code == Errc::kBlockNotFound) return false;
    return meta.error();
  }
  const std::uint64_t before = counters_->stored_bytes.load();
  const std::uint64_t stored_bytes = before - std::min(before, meta->stored_size);
  const std::uint64_t count_before = counters_->block_count.load();
  const std::uint64_t block_count = count_before - std::min<std::uint64_t>(count_before, 1);

  const rocksdb::Slice key = SliceOf(id.Binary());
  rocksdb::WriteBatch batch;
  rocksdb::Status status = batch.Delete(db_->family(RocksHandle::kBlocks), key);
  if (status.ok()) status = batch.Delete(db_->family(RocksHandle::kBlockMeta), key);
  if (status.ok()) status = batch.Put(SliceOf(kStoredBytesKey), EncodeU64(stored_bytes));
  if (status.ok()) status = batch.Put(SliceOf(kBlockCountKey), EncodeU64(block_count));
  if (status.ok()) status = db_->db().Write(db_->block_writes(), &batch);
  if (!status.ok()) return WriteError("delete block " + id.Hex(), status);
  counters_->stored_bytes.store(stored_bytes);
  counters_->block_count.store(block_count);
  counters_->reclaim_pending = true;
  return true;
}

Result<void> BlockStore::MakeRoomLocked(std::uint64_t size) {
  auto room = RoomOf(*db_);
  if (!room) return room.error();
  if (!room->known || room->Fits(size, min_free_bytes_)) return {};
  if (auto reclaimed = ReclaimLocked(); !reclaimed) return reclaimed.error();
  room = RoomOf(*db_);
  if (!room) return room.error();
  if (room->Fits(size, min_free_bytes_)) return {};
  return Error{Errc::kStoreFull,
               fmt::format("the store is full: its filesystem has {} bytes free, and {} must stay "
                           "free after this {}-byte frame (RocksDB's files need room to work)",
                           room->free_bytes,
                           room->unflushed_bytes + room->sst_bytes + min_free_bytes_, size)};
}

Result<void> BlockStore::ReclaimLocked() {
  rocksdb::DB& db = db_->db();
  std::vector<rocksdb::ColumnFamilyHandle*> families;
  for (std::size_t family = 0; family < RocksHandle::kFamilyCount; ++family) {
    families.push_back(db_->family(static_cast<RocksHandle::Family>(family)));
  }
  rocksdb::FlushOptions flush;
  flush.wait = true;
  flush.allow_write_stall = true;
  if (const rocksdb::Status status = db.Flush(flush, families); !status.ok()) {
    return WriteError("flush the memtables to make room", status);
  }
  if (!counters_->reclaim_pending) return {};
  // Without blob garbage collection: relocating the live frames of partly deleted blob files
  // would need the room that is missing. Files with no live frame left are deleted outright.
  rocksdb::CompactRangeOptions compact;
  compact.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kDisable;
  const rocksdb::Status status =
      db.CompactRange(compact, db_->family(RocksHandle::kBlocks), nullptr, nullptr);
  if (!status.ok()) return WriteError("compact the deleted blocks away to make room", status);
  // The blob files the compaction left with no live frame are out of the database now, but
  // RocksDB may delete them only after CompactRange has returned, at the end of its background
  // job; enabling file deletions scans for such files and deletes them before the room is measured.
  if (const rocksdb::Status disabled = db.DisableFileDeletions(); !disabled.ok()) {
    return StorageError("pause file deletions", disabled);
  }
  if (const rocksdb::Status enabled = db.EnableFileDeletions(/*force=*/false); !enabled.ok()) {
    return StorageError("delete the files of the deleted blocks", enabled);
  }
  counters_->reclaim_pending = false;
  return {};
}

namespace {

// The blocks family's blob files, oldest first.
std::vector<rocksdb::BlobMetaData> BlobFilesOf(const RocksHandle& handle) {
  rocksdb::ColumnFamilyMetaData meta;
  handle.db().GetColumnFamilyMetaData(handle.family(RocksHandle::kBlocks), &meta);
  std::vector<rocksdb::BlobMetaData> files = std::move(meta.blob_files);
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.blob_file_number < b.blob_file_number; });
  return files;
}

std::uint64_t BlobBytesOf(const std::vector<rocksdb::BlobMetaData>& files) {
  std::uint64_t bytes = 0;
  for (const rocksdb::BlobMetaData& file : files) bytes += file.blob_file_size;
  return bytes;
}

}  // namespace

Result<std::uint64_t> BlockStore::CollectGarbage() {
  rocksdb::DB& db = db_->db();
  rocksdb::ColumnFamilyHandle* blocks = db_->family(RocksHandle::kBlocks);
  const std::uint64_t before = BlobBytesOf(BlobFilesOf(*db_));
  // The live frames are at most stored_bytes; what the blob files hold beyond that is garbage
  // (an underestimate: small frames live in SST files, and unflushed ones in memtables).
  const std::uint64_t garbage = before - std::min(before, stored_bytes());
  if (before == 0 || garbage * 4 < before || garbage < counters_->garbage_floor.load()) return 0;

  // RocksDB counts a blob file's garbage only when a compaction drops the deleted keys: flush
  // the deletes and compact them away, relocating nothing yet (this alone deletes the blob files
  // left with no live frame).
  rocksdb::FlushOptions flush;
  flush.allow_write_stall = true;
  if (const rocksdb::Status status = db.Flush(flush, blocks); !status.ok()) {
    return WriteError("flush the deleted blocks before collecting their space", status);
  }
  rocksdb::CompactRangeOptions count;
  count.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kDisable;
  if (const rocksdb::Status status = db.CompactRange(count, blocks, nullptr, nullptr);
      !status.ok()) {
    return WriteError("compact the deleted blocks away", status);
  }

  // The oldest files up to the newest one that is at least half garbage, and their live bytes.
  const std::vector<rocksdb::BlobMetaData> files = BlobFilesOf(*db_);
  std::size_t relocate = 0;
  std::uint64_t live_bytes = 0;
  std::uint64_t live_so_far = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const rocksdb::BlobMetaData& file = files[i];
    live_so_far += file.total_blob_bytes - std::min(file.total_blob_bytes, file.garbage_blob_bytes);
    if (file.total_blob_bytes > 0 && file.garbage_blob_bytes * 2 >= file.total_blob_bytes) {
      relocate = i + 1;
      live_bytes = live_so_far;
    }
  }
  // Garbage spread thinly over every file: wait until an eighth of the store more is garbage.
  counters_->garbage_floor.store(relocate == 0 ? garbage + before / 8 : 0);
  if (relocate > 0) {
    auto room = RoomOf(*db_);
    if (!room) return room.error();
    if (!room->known || room->Fits(live_bytes, min_free_bytes_)) {
      rocksdb::CompactRangeOptions collect;
      collect.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
      // Also the files already at the bottom level, which a range compaction skips by default.
      collect.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
      // A file is "old" by its position among all the blob files, oldest first.
      collect.blob_garbage_collection_age_cutoff =
          static_cast<double>(relocate) / static_cast<double>(files.size());
      if (const rocksdb::Status status = db.CompactRange(collect, blocks, nullptr, nullptr);
          !status.ok()) {
        return WriteError("relocate the live frames of partly deleted blob files", status);
      }
    }
  }
  const std::uint64_t after = BlobBytesOf(BlobFilesOf(*db_));
  return before - std::min(before, after);
}

Result<void> BlockStore::UpdateMeta(std::span<const std::pair<BlockId, BlockMeta>> updates) {
  if (updates.empty()) return {};
  rocksdb::WriteBatch batch;
  // Under the write mutex, so that a block deleted meanwhile cannot get its metadata back
  // without its frame.
  std::lock_guard lock(counters_->write_mutex);
  for (const auto& [id, update] : updates) {
    auto stored = ReadMeta(*db_, id);
    if (!stored) {
      if (stored.error().code == Errc::kBlockNotFound) continue;
      return stored.error();
    }
    BlockMeta meta = *stored;
    meta.last_access_ms = update.last_access_ms;
    meta.hits = update.hits;
    meta.pins = update.pins;
    if (meta == *stored) continue;
    const rocksdb::Status status =
        batch.Put(db_->family(RocksHandle::kBlockMeta), SliceOf(id.Binary()), EncodeMeta(meta));
    if (!status.ok()) return StorageError("prepare a block metadata update", status);
  }
  if (batch.Count() == 0) return {};
  const rocksdb::Status status = db_->db().Write(db_->block_writes(), &batch);
  if (!status.ok()) {
    return WriteError("update the metadata of " + std::to_string(batch.Count()) + " blocks",
                      status);
  }
  return {};
}

Result<void> BlockStore::ForEach(
    const std::function<bool(const BlockId&, const BlockMeta&)>& visit) const {
  const std::unique_ptr<rocksdb::Iterator> it(
      db_->db().NewIterator(rocksdb::ReadOptions(), db_->family(RocksHandle::kBlockMeta)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto id = BlockId::FromBinary(BytesOf(it->key()));
    if (!id) {
      return Error{Errc::kStorage, "the block metadata holds a key of " +
                                       std::to_string(it->key().size()) + " bytes, not an id"};
    }
    auto meta = DecodeMeta(*id, ViewOf(it->value()));
    if (!meta) return meta.error();
    if (!visit(*id, *meta)) return {};
  }
  if (!it->status().ok()) return StorageError("list the stored blocks", it->status());
  return {};
}

std::uint64_t BlockStore::stored_bytes() const { return counters_->stored_bytes.load(); }

std::uint64_t BlockStore::block_count() const { return counters_->block_count.load(); }

namespace {

std::string RevisionKey(std::string_view model, std::string_view revision) {
  return std::string(kRevisionPrefix) + std::string(model) + "@" + std::string(revision);
}

// kRevisionNotFound when `model` has some revision, kModelNotFound when it has none.
Error NotFound(const RocksHandle& handle, std::string_view model, std::string_view revision) {
  const std::string prefix = RevisionKey(model, "");
  const std::unique_ptr<rocksdb::Iterator> it(
      handle.db().NewIterator(rocksdb::ReadOptions(), handle.family(RocksHandle::kManifests)));
  it->Seek(prefix);
  if (it->Valid() && it->key().starts_with(prefix)) {
    return Error{Errc::kRevisionNotFound,
                 "model " + std::string(model) + " has no revision " + std::string(revision)};
  }
  if (!it->status().ok()) return StorageError("look up model " + std::string(model), it->status());
  return Error{Errc::kModelNotFound, "model " + std::string(model) + " is not known here"};
}

// The manifest stored under `commit_hex`, or nullopt when there is none.
Result<std::optional<Manifest>> ReadCommit(const RocksHandle& handle, std::string_view commit_hex) {
  const std::string key = std::string(kCommitPrefix) + std::string(commit_hex);
  auto value =
      Read(handle, RocksHandle::kManifests, key, "the manifest of commit " + key.substr(2));
  if (!value) return value.error();
  if (!value->has_value()) return std::nullopt;
  auto manifest = ParseManifest(ViewOf(**value));
  if (!manifest) {
    return Error{Errc::kStorage, "the stored manifest of commit " + std::string(commit_hex) +
                                     " is damaged: " + manifest.error().message};
  }
  if (manifest->commit.Hex() != commit_hex) {
    return Error{Errc::kStorage, "the manifest stored under commit " + std::string(commit_hex) +
                                     " is commit " + manifest->commit.Hex()};
  }
  return std::optional<Manifest>(std::move(*manifest));
}

}  // namespace

ManifestStore::ManifestStore(std::shared_ptr<RocksHandle> db) : db_(std::move(db)) {}

Result<void> ManifestStore::Put(const Manifest& manifest) {
  if (auto valid = ValidateManifest(manifest); !valid) {
    return Error{Errc::kBadManifest, valid.error().message};
  }
  const Sha256Digest commit = CommitOf(manifest);
  if (manifest.commit != commit) {
    return Error{Errc::kBadManifest, "the manifest names commit " + manifest.commit.Hex() +
                                         " but its content is commit " + commit.Hex()};
  }
  const std::string commit_hex = commit.Hex();
  rocksdb::ColumnFamilyHandle* family = db_->family(RocksHandle::kManifests);
  rocksdb::WriteBatch batch;
  rocksdb::Status status =
      batch.Put(family, std::string(kCommitPrefix) + commit_hex, ToJson(manifest));
  // A manifest fetched by its commit (a cache filling a commit lookup) names no revision: the
  // commit is stored, and no revision called after it.
  if (status.ok() && manifest.revision != commit_hex) {
    status = batch.Put(family, RevisionKey(manifest.model, manifest.revision), commit_hex);
  }
  // Synced: publishing is the commit point of an ingest, and the sync also makes durable every
  // block written before it (they precede it in the same write-ahead log).
  rocksdb::WriteOptions durable;
  durable.sync = true;
  if (status.ok()) status = db_->db().Write(durable, &batch);
  if (!status.ok()) {
    return WriteError("store the manifest of " + manifest.model + "@" + manifest.revision, status);
  }
  return {};
}

Result<Manifest> ManifestStore::Get(std::string_view model, std::string_view revision) const {
  if (IsCommitHex(revision)) {
    auto by_commit = ReadCommit(*db_, revision);
    if (!by_commit) return by_commit.error();
    if (by_commit->has_value()) {
      Manifest& manifest = **by_commit;
      if (manifest.model != model) return NotFound(*db_, model, revision);
      manifest.revision = std::string(revision);
      return std::move(manifest);
    }
  }
  auto commit = Read(*db_, RocksHandle::kManifests, RevisionKey(model, revision),
                     "revision " + std::string(revision) + " of " + std::string(model));
  if (!commit) return commit.error();
  if (!commit->has_value()) return NotFound(*db_, model, revision);
  const std::string commit_hex(ViewOf(**commit));
  auto by_commit = ReadCommit(*db_, commit_hex);
  if (!by_commit) return by_commit.error();
  if (!by_commit->has_value() || (*by_commit)->model != model) {
    return Error{Errc::kStorage, "revision " + std::string(revision) + " of " + std::string(model) +
                                     " points at commit " + commit_hex +
                                     ", which is not stored for that model"};
  }
  Manifest& manifest = **by_commit;
  manifest.revision = std::string(revision);
  return std::move(manifest);
}

Result<std::vector<ManifestStore::RevisionEntry>> ManifestStore::List() const {
  std::vector<RevisionEntry> entries;
  const std::unique_ptr<rocksdb::Iterator> it(
      db_->db().NewIterator(rocksdb::ReadOptions(), db_->family(RocksHandle::kManifests)));
  for (it->Seek(SliceOf(kRevisionPrefix)); it->Valid() && it->key().starts_with(kRevisionPrefix);
       it->Next()) {
    const std::string_view name = ViewOf(it->key()).substr(kRevisionPrefix.size());
    const std::size_t at = name.find('@');
    const std::string_view commit = ViewOf(it->value());
    if (at == std::string_view::npos || !IsCommitHex(commit)) {
      return Error{Errc::kStorage,
                   "the stored revision entry " + std::string(name) + " is malformed"};
    }
    entries.push_back(RevisionEntry{std::string(name.substr(0, at)),
                                    std::string(name.substr(at + 1)), std::string(commit)});
  }
  if (!it->status().ok()) return StorageError("list the stored revisions", it->status());
  std::sort(entries.begin(), entries.end(), [](const RevisionEntry& a, const RevisionEntry& b) {
    return std::tie(a.model, a.revision) < std::tie(b.model, b.revision);
  });
  return entries;
}

PlanStore::PlanStore(std::shared_ptr<RocksHandle> db) : db_(std::move(db)) {}

Result<std::optional<std::string>> PlanStore::Get(std::string_view key) const {
  auto value = Read(*db_, RocksHandle::kPlan, SliceOf(key), "setting " + std::string(key));
  if (!value) return value.error();
  if (!value->has_value()) return std::nullopt;
  return std::optional<std::string>(ViewOf(**value));
}

Result<void> PlanStore::Put(std::string_view key, std::string_view value) {
  rocksdb::WriteOptions durable;
  durable.sync = true;
  const rocksdb::Status status =
      db_->db().Put(durable, db_->family(RocksHandle::kPlan), SliceOf(key), SliceOf(value));
  if (!status.ok()) return WriteError("store setting " + std::string(key), status);
  return {};
}

Result<Store> OpenStore(const std::filesystem::path& dir, StoreOptions options) {
  auto handle = OpenHandle(dir, options);
  if (!handle) return handle.error();
  Store store;
  store.blocks = std::make_unique<BlockStore>(*handle, options.min_free_bytes);
  store.manifests = std::make_unique<ManifestStore>(*handle);
  store.plan = std::make_unique<PlanStore>(*handle);
  return store;
}

}  // namespace mei
