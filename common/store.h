// Store: the RocksDB database of an origin or a cache node, holding blocks, manifests and the
// node's settings.
//
// One RocksDB instance per store directory with column families:
//   blocks      32-byte binary block id -> stored frame (codec.h). Frames of at least
//               StoreOptions::min_blob_size live in blob files (integrated BlobDB), smaller ones in
//               the SST files. RocksDB's blob garbage collection is off: frames are relocated only
//               by BlockStore::CollectGarbage.
//   block_meta  32-byte binary block id -> BlockMeta (fixed little-endian encoding)
//   manifests   "c/" + commit hex -> manifest JSON; "r/" + model + "@" + revision -> commit hex
//   plan        the cache node's persistent settings (PlanStore): its placement plan under
//               "plan", operator pins under "pins"
//   default     "stored_bytes" and "block_count" -> u64 LE: the sum of the frames' sizes and their
//               number, updated in the same atomic write batch as every put and delete, so they
//               survive restarts and crashes.
// SST files carry XXH3 checksums. Only one process can open a store at a time (RocksDB's lock);
// within the process every method is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/block_id.h"
#include "common/codec.h"
#include "common/errc.h"
#include "common/manifest.h"

namespace rocksdb {
class Env;
class PinnableSlice;
}  // namespace rocksdb

namespace mei {

struct StoreOptions {
  bool create_if_missing = true;
  std::uint64_t min_blob_size = 64 * 1024;        // values at least this large go to blob files
  std::uint64_t block_cache_bytes = 64ull << 20;  // RocksDB block cache for SSTs (metadata)
  // Block writes (frames, their metadata and the counters) skip RocksDB's write-ahead log: a
  // cache can lose the blocks of its last seconds in a crash and fill them again, and the WAL
  // would write every frame twice (the memtable flush writes it once more to a blob file). The
  // families then flush atomically together, so after a crash blocks, metadata and counters
  // agree as of the last flush. Manifests and the plan are always logged and synced. Leave on
  // where a block must not be lost once Put returns (the origin, which publishes manifests
  // naming its blocks).
  bool log_block_writes = true;
  // Memtable of the blocks family: new frames stay in memory until it is flushed, so a node
  // with a memory budget keeps it small; ingest throughput prefers it large.
  std::uint64_t block_memtable_bytes = 64ull << 20;
  // The environment RocksDB does its file I/O through; null is the default (the local disk).
  // Tests put a fault-injecting one here. REQUIRES: outlives the store.
  rocksdb::Env* env = nullptr;
  // Free space a block put must leave on the store's filesystem, beyond the size of the SST files
  // (room for RocksDB to rewrite them all in a compaction) and what the memtables will write when
  // they are flushed: RocksDB's own metadata writes (MANIFEST, logs, flushes) must never find the
  // disk full, or it stops taking writes, deletes included (BlockStore, "Full disk").
  std::uint64_t min_free_bytes = 8ull << 20;
};

struct BlockMeta {
  std::uint64_t raw_size = 0;
  std::uint64_t stored_size = 0;  // frame size, header included
  Codec codec = Codec::kRaw;
  std::uint64_t last_access_ms = 0;  // Unix time
  std::uint64_t hits = 0;
  std::uint32_t pins = 0;

  friend bool operator==(const BlockMeta&, const BlockMeta&) = default;
};

// A stored frame, read without copying: it pins RocksDB's buffer until destroyed. Move-only.
// REQUIRES: destroyed before the Store it came from is closed.
class StoredBlock {
 public:
  StoredBlock();
  ~StoredBlock();
  StoredBlock(StoredBlock&&) noexcept;
  StoredBlock& operator=(StoredBlock&&) noexcept;

  const FrameHeader& header() const { return view_.header; }
  std::span<const std::byte> payload() const { return view_.payload; }
  std::span<const std::byte> frame() const;  // header + payload

 private:
  friend class BlockStore;
  std::unique_ptr<rocksdb::PinnableSlice> slice_;
  FrameView view_;
};

class RocksHandle;  // internal: the shared database handle

// Blocks keyed by id. Thread-safe: writes are serialised by one mutex, reads take none.
//
// Full disk. A write that finds the disk full (RocksDB's NoSpace or SpaceLimit) fails with
// kStoreFull, distinct from any other storage failure (kStorage); reads keep working. A put is
// refused with kStoreFull, storing nothing, when it would leave the filesystem with less than
// StoreOptions::min_free_bytes beyond the SST files and the unflushed memtables, so that RocksDB
// itself never runs out of space. Before refusing, the put flushes the memtables and, when blocks
// were deleted since the last time (or since the store was opened), compacts the blocks family,
// which deletes every blob file left with no live frame; so deleting blocks makes room for the
// next put. Should RocksDB stop on a full disk anyway (filled from elsewhere), writes fail with
// kStoreFull until RocksDB resumes once there is room again.
class BlockStore {
 public:
  // REQUIRES: `db` open. `min_free_bytes` as in StoreOptions.
  BlockStore(std::shared_ptr<RocksHandle> db, std::uint64_t min_free_bytes);
  ~BlockStore();

  // Stores `frame` under `id` with fresh metadata, unless the id is already stored (dedup).
  // Returns true when it stored, false when the id was already there. The frame must parse
  // (ParseFrame); kBadFrame otherwise. kStoreFull, storing nothing, when the disk has no room
  // for it (see "Full disk" above). Does not check that the frame decodes to bytes whose
  // SHA-256 is `id`: callers verify what they did not encode themselves.
  [[nodiscard]] Result<bool> Put(const BlockId& id, std::span<const std::byte> frame);

  // The stored frame, its checksum verified (kBadFrame when it fails); kBlockNotFound if absent.
  [[nodiscard]] Result<StoredBlock> Get(const BlockId& id) const;

  // The raw bytes, decoded and verified: frame checksum, raw size and SHA-256 == id
  // (kIntegrity). Appends nothing to `raw` on error.
  [[nodiscard]] Result<void> ReadRaw(const BlockId& id, std::vector<std::byte>& raw) const;

  [[nodiscard]] Result<bool> Has(const BlockId& id) const;
  [[nodiscard]] Result<BlockMeta> Meta(const BlockId& id) const;

  // Removes the block and its metadata; false when it was not there. The frame's disk space comes
  // back once a compaction leaves its blob file with no live frame (a put that finds the disk full
  // forces one), or when CollectGarbage relocates the file's other frames.
  [[nodiscard]] Result<bool> Delete(const BlockId& id);

  // Gives back the disk space of deleted frames that share blob files with live ones; the only
  // place frames are relocated. Does nothing unless more than a quarter of the blob bytes is
  // garbage (bytes beyond the live frames'). Then it compacts the deletes away and relocates the
  // live frames of the oldest blob files, up to the newest one that is at least half garbage, so
  // that those files are deleted; the relocation is skipped when the filesystem lacks room for
  // the frames plus min_free_bytes. After a call that found no file half garbage, calls do nothing
  // until an eighth of the store more is garbage. Returns the blob bytes given back (0 when it
  // did nothing). Thread-safe, but meant for one maintenance thread: it runs as long as writing
  // the relocated frames takes, while puts and reads go on.
  [[nodiscard]] Result<std::uint64_t> CollectGarbage();

  // Persists the usage fields of stored blocks' metadata (last_access_ms, hits, pins) in one
  // atomic write batch, without touching the frames. The other fields (sizes, codec) are kept
  // as stored, whatever `updates` says, so the byte counters stay exact. Ids that are not
  // stored (evicted or purged meanwhile) are skipped. Not synced: after a crash the last
  // updates may be lost, which costs usage history, never consistency.
  [[nodiscard]] Result<void> UpdateMeta(std::span<const std::pair<BlockId, BlockMeta>> updates);

  // Calls `visit` for every block, in id order, until it returns false.
  [[nodiscard]] Result<void> ForEach(
      const std::function<bool(const BlockId&, const BlockMeta&)>& visit) const;

  // Sum of stored frame sizes and number of blocks; kept exact across restarts.
  std::uint64_t stored_bytes() const;
  std::uint64_t block_count() const;

 private:
  struct Counters;
  // REQUIRES: counters_->write_mutex held (both).
  // Whether a frame of `size` bytes fits (see "Full disk"), flushing and reclaiming when the
  // estimate says it does not; kStoreFull saying how much room there is otherwise.
  [[nodiscard]] Result<void> MakeRoomLocked(std::uint64_t size);
  // Flushes the memtables and, when blocks may have been deleted since the last time (or since
  // the store was opened), compacts the blocks family so that blob files holding only deleted
  // frames are deleted.
  [[nodiscard]] Result<void> ReclaimLocked();

  std::shared_ptr<RocksHandle> db_;
  const std::uint64_t min_free_bytes_;
  std::unique_ptr<Counters> counters_;
};

// Manifests by commit, and revision names pointing at commits. Thread-safe.
class ManifestStore {
 public:
  explicit ManifestStore(std::shared_ptr<RocksHandle> db);

  // Stores the manifest under its commit and points model@revision at it, in one atomic write
  // (no revision pointer when `revision` is the commit hex itself: a manifest fetched by commit).
  // REQUIRES: ValidateManifest passes and manifest.commit == CommitOf(manifest) (checked:
  // kBadManifest). kStoreFull when the disk is full.
  [[nodiscard]] Result<void> Put(const Manifest& manifest);

  // `revision` is a name or a 64-hex commit. kModelNotFound when the model has no revision at
  // all, kRevisionNotFound when it has others. A commit lookup returns the manifest with
  // `revision` set to the commit hex.
  [[nodiscard]] Result<Manifest> Get(std::string_view model, std::string_view revision) const;

  // Every (model, revision name) with its commit hex, sorted.
  struct RevisionEntry {
    std::string model;
    std::string revision;
    std::string commit;
  };
  [[nodiscard]] Result<std::vector<RevisionEntry>> List() const;

 private:
  std::shared_ptr<RocksHandle> db_;
};

// Small documents (JSON, by convention) under string keys: the cache node's persistent settings,
// such as its placement plan ("plan") and operator pins ("pins"). Not meant for bulk data: each
// Put is a synced write. Thread-safe; a Put of a key replaces its value atomically.
class PlanStore {
 public:
  explicit PlanStore(std::shared_ptr<RocksHandle> db);

  // The value under `key`, or nullopt when nothing was ever put there.
  [[nodiscard]] Result<std::optional<std::string>> Get(std::string_view key) const;

  // Stores `value` under `key`, durable (synced) when it returns. kStoreFull when the disk is.
  [[nodiscard]] Result<void> Put(std::string_view key, std::string_view value);

 private:
  std::shared_ptr<RocksHandle> db_;
};

// An open store directory: the views over one database.
struct Store {
  std::unique_ptr<BlockStore> blocks;
  std::unique_ptr<ManifestStore> manifests;
  std::unique_ptr<PlanStore> plan;
};

// Opens (creating when allowed) the store at `dir`. kStorage with RocksDB's reason otherwise,
// e.g. when another process holds it.
[[nodiscard]] Result<Store> OpenStore(const std::filesystem::path& dir, StoreOptions options = {});

}  // namespace mei
