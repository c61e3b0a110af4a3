#include "common/store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include <mutex>
#include <utility>
#include <vector>

#include "common/internal/rocks_access.h"
#include "common/internal/rocks_handle.h"
#include "common/store/recovery.h"
#include "common/store/store_keys.h"

namespace mei {
namespace {

using internal::GetLe;
using internal::SliceOf;
using internal::StorageError;
using internal::ViewOf;

// Syncs the segments when a flush begins, so that the index entries it writes never reach the
// disk before the frames they name (block_store.h, "Durability order", for unlogged block writes).
// The segments are attached once open; flushes before that (recovering the log at open) have
// nothing unsynced to wait for.
class SyncSegmentsBeforeFlush : public rocksdb::EventListener {
 public:
  void Attach(std::shared_ptr<SegmentLog> segments) {
    std::lock_guard lock(mu_);
    segments_ = std::move(segments);
  }

  void OnFlushBegin(rocksdb::DB* /*db*/, const rocksdb::FlushJobInfo& /*info*/) override {
    std::shared_ptr<SegmentLog> segments;
    {
      std::lock_guard lock(mu_);
      segments = segments_;
    }
    // A failed sync leaves the segments marked unsynced; the next put or flush retries, and an
    // entry whose frame a crash then lost is dropped at the next open.
    if (segments) (void)segments->Sync();
  }

 private:
  std::mutex mu_;
  std::shared_ptr<SegmentLog> segments_;
};

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
// shared by every column family, XXH3 table checksums and bloom filters everywhere. The values
// are small (entries, metadata, inline frames of less than 64 KiB), so no blob files.
rocksdb::DBOptions MakeDbOptions(const StoreOptions& options,
                                 std::shared_ptr<rocksdb::EventListener> listener) {
  rocksdb::DBOptions db_options;
  db_options.IncreaseParallelism(2);
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.max_open_files = 512;
  // Without a bound, a rarely written family (manifests) would keep every WAL file alive until it
  // flushes.
  db_options.max_total_wal_size = 64ull << 20;
  db_options.max_log_file_size = 16ull << 20;
  db_options.keep_log_file_num = 4;
  // Block writes that skip the WAL survive a crash only as far as the last flush, and only if
  // every family flushes at that same point: else a crash could keep entries whose metadata and
  // counters were lost (space nothing accounts for), or metadata without its entry.
  db_options.atomic_flush = !options.log_block_writes;
  db_options.listeners.push_back(std::move(listener));
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
  blocks.compression = rocksdb::kNoCompression;  // inline frames are compressed already
  // Stores written before segments kept large frames in blob files; they stay readable.
  blocks.enable_blob_files = false;
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
                                                const StoreOptions& options,
                                                std::shared_ptr<rocksdb::EventListener> listener) {
  std::vector<rocksdb::ColumnFamilyHandle*> families;
  rocksdb::DB* raw_db = nullptr;
  const rocksdb::Status status =
      rocksdb::DB::Open(MakeDbOptions(options, std::move(listener)), dir.string(),
                        MakeFamilies(options), &families, &raw_db);
  if (!status.ok()) return StorageError("open the store at " + dir.string(), status);
  auto handle =
      std::make_shared<RocksHandle>(std::unique_ptr<rocksdb::DB>(raw_db), std::move(families));

  auto stored_bytes = LoadCounter(handle->db(), store_keys::kStoredBytes);
  if (!stored_bytes) return stored_bytes.error();
  auto block_count = LoadCounter(handle->db(), store_keys::kBlockCount);
  if (!block_count) return block_count.error();
  handle->set_counters_at_open(BlockCounters{*stored_bytes, *block_count});
  rocksdb::WriteOptions block_writes;
  block_writes.disableWAL = !options.log_block_writes;
  handle->set_block_writes(block_writes);
  return handle;
}

}  // namespace

Result<Store> OpenStore(const std::filesystem::path& dir, StoreOptions options) {
  auto listener = std::make_shared<SyncSegmentsBeforeFlush>();
  auto handle = OpenHandle(dir, options, listener);
  if (!handle) return handle.error();
  auto segments =
      SegmentLog::Open(dir / "segments", SegmentLogOptions{.segment_bytes = options.segment_bytes});
  if (!segments) return segments.error();
  std::shared_ptr<SegmentLog> shared_segments = std::move(*segments);
  auto recovered = RecoverSegments(**handle, *shared_segments, options.verify_tail_bytes);
  if (!recovered) return recovered.error();
  listener->Attach(shared_segments);

  BlockStore::Settings settings;
  settings.inline_frame_bytes = options.inline_frame_bytes;
  settings.hot_entry_bytes = options.hot_entry_bytes;
  settings.min_free_bytes = options.min_free_bytes;
  settings.sync_before_index = options.log_block_writes;
  settings.compact_below_live_share = options.compact_below_live_share;
  settings.segment_bytes = options.segment_bytes;
  settings.on_frame_appended = std::move(options.on_frame_appended);
  Store store;
  store.blocks =
      std::make_unique<BlockStore>(*handle, std::move(shared_segments), std::move(recovered->space),
                                   std::move(recovered->report), std::move(settings));
  store.manifests = std::make_unique<ManifestStore>(*handle);
  store.plan = std::make_unique<PlanStore>(*handle);
  return store;
}

}  // namespace mei
