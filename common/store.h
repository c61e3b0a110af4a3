// Store: the store directory of an origin or a cache node: blocks, manifests and the node's
// settings, over one RocksDB database and the block store's segment files.
//
//   <dir>/             RocksDB, column families:
//     blocks           block id -> where its frame is (block_store.h, block_records.h)
//     block_meta       block id -> BlockMeta
//     manifests        manifests and revision names (manifest_store.h)
//     plan             the cache node's persistent settings (plan_store.h)
//     default          the block counters and the clean mark (store_keys.h)
//   <dir>/segments/    the frames themselves (segment_log.h)
// SST files carry XXH3 checksums, frames their own. Only one process can open a store at a time
// (RocksDB's lock); within the process every method is thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>

#include "common/block_id.h"
#include "common/errc.h"
#include "common/store/block_store.h"
#include "common/store/manifest_store.h"
#include "common/store/plan_store.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace mei {

struct StoreOptions {
  bool create_if_missing = true;
  // Frames smaller than this stay inline in RocksDB (headers, tokenizer and config chunks, small
  // tensors): one RocksDB read serves them, and segments hold only what is worth a sendfile.
  std::uint64_t inline_frame_bytes = 64 * 1024;
  // The block index entries read lately (with their frames, for inline ones) are kept in memory,
  // up to this many bytes, so that a hot block costs no RocksDB read (store/hot_entries.h); 0
  // keeps none.
  std::uint64_t hot_entry_bytes = 32ull << 20;
  // A segment file takes appends until the next frame would take it past this.
  std::uint64_t segment_bytes = 256ull << 20;
  // Compact() rewrites segments whose live bytes fell below this share of their size.
  double compact_below_live_share = 0.5;
  // After an unclean stop, frames ending within this many bytes of the end of the two newest
  // segments are checksummed at open (block_store.h, "Recovery at open").
  std::uint64_t verify_tail_bytes = 64ull << 20;
  std::uint64_t block_cache_bytes = 64ull << 20;  // RocksDB block cache (index and metadata)
  // Block index writes (entries, their metadata and the counters) go through RocksDB's write-ahead
  // log, and each put fdatasyncs its frame first: a block is durable once Put returns, and the
  // manifest that names it is synced. Off (a cache node), they skip the log and reach the disk when
  // RocksDB flushes its memtables (the families flush atomically together, after the segments are
  // synced): a crash loses the blocks of the last seconds, which a cache fills again, and a put
  // costs no fdatasync. Manifests and the plan are always logged and synced.
  bool log_block_writes = true;
  // Memtable of the blocks family (inline frames and entries wait there until a flush).
  std::uint64_t block_memtable_bytes = 64ull << 20;
  // The environment RocksDB does its file I/O through; null is the default (the local disk).
  // Tests put a fault-injecting one here. REQUIRES: outlives the store.
  rocksdb::Env* env = nullptr;
  // Free space a block put must leave on the store's filesystem, beyond the size of the SST files
  // (room for RocksDB to rewrite them all in a compaction) and what the memtables will write when
  // they are flushed: RocksDB's own metadata writes (MANIFEST, logs, flushes) must never find the
  // disk full, or it stops taking writes, deletes included (block_store.h, "Full disk").
  std::uint64_t min_free_bytes = 8ull << 20;
  // Fault injection for crash tests: BlockStore::Settings::on_frame_appended. Empty in production.
  std::function<void(const BlockId&)> on_frame_appended;
};

// An open store directory: the views over one database and its segments.
struct Store {
  std::unique_ptr<BlockStore> blocks;
  std::unique_ptr<ManifestStore> manifests;
  std::unique_ptr<PlanStore> plan;
};

// Opens (creating when allowed) the store at `dir`, and recovers its segments
// (BlockStore::recovery() says what that found). kStorage with RocksDB's reason otherwise, e.g.
// when another process holds it; kIo when the segments cannot be opened.
[[nodiscard]] Result<Store> OpenStore(const std::filesystem::path& dir, StoreOptions options = {});

}  // namespace mei
