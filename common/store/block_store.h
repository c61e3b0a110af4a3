// BlockStore: blocks keyed by id, their frames appended to segment files that the store owns and
// indexed by RocksDB.
//
// Layout (under the store directory):
//   segments/NNNNNNNNNN.seg   append-only files of frames (codec.h), SegmentLog; a new one starts
//                             when the active one would pass StoreOptions::segment_bytes
//   RocksDB `blocks`          block id -> FrameEntry: where the frame is in a segment, with its
//                             codec, raw size and checksum; or, for frames smaller than
//                             StoreOptions::inline_frame_bytes, the frame itself (block_records.h)
//   RocksDB `block_meta`      block id -> BlockMeta (sizes, codec, usage)
//   RocksDB `default`         "stored_bytes", "block_count": the counters, in every block batch;
//                             "segments_clean": present while no process has the store open
// RocksDB is the store of record: a block exists when and only when its entry does. The entry, its
// metadata and the counters change together in one atomic write batch.
//
// Durability order. A put appends the frame to the active segment, then makes it durable, then
// writes the index entry, so no entry can name bytes that a crash may lose. How "durable" is
// reached depends on StoreOptions::log_block_writes: with it (the origin), entries go to RocksDB's
// write-ahead log, which may reach the disk at any moment, so each put fdatasyncs its segment
// before writing its entry (concurrent puts share one fdatasync, SegmentLog::Sync); without it (a
// cache node), entries reach the disk only when RocksDB flushes its memtables, and the store syncs
// the segments at the start of every flush (an event listener), so one fdatasync covers every
// frame the flush indexes. Either way a crash leaves at most frames with no entry.
//
// Recovery at open. A segment's bytes past the end of its last indexed frame (appends whose entry
// never made it, or copies of an unfinished compaction) are cut off; segments with no indexed frame
// are removed; an entry that names a missing segment or bytes past a segment's end is dropped (the
// block counts as missing: a cache fills it again, recovery() tells the origin which). After an
// unclean stop ("segments_clean" absent), the frames in the last segmentful of appends (the two
// newest segments, their last StoreOptions::verify_tail_bytes) are read and checksummed as well,
// and an entry whose frame fails is dropped the same way.
//
// Space. Deleting a block leaves a hole in its segment; a segment left with no live frame is
// removed at once. Compact() rewrites the live frames of segments whose live share fell below
// StoreOptions::compact_below_live_share into the active segment, syncs them, switches their
// entries in one batch (made durable before anything is removed), and removes the old segment.
// The active segment qualifies too once it holds an eighth of segment_bytes (a new one takes the
// appends first), so that holes come back on a disk smaller than a segment.
// Readers holding the old location keep reading it: a StoredBlock holds its segment open, and a
// removed segment's bytes go back to the filesystem only when its last holder lets go.
//
// Full disk. A put is refused with kStoreFull, storing nothing, when it would leave the filesystem
// with less than StoreOptions::min_free_bytes beyond RocksDB's SST files and unflushed memtables;
// a write that finds the disk full (ENOSPC in a segment, RocksDB's NoSpace) is kStoreFull too.
// Reads keep working. Before refusing, a put flushes the memtables and, when blocks were deleted
// since, compacts RocksDB's blocks family (inline frames' space). Should RocksDB stop on a full
// disk anyway (filled from elsewhere), writes fail with kStoreFull until RocksDB resumes once there
// is room.
//
// Reads. A segment frame is located by its entry and not read (stored_block.h); an inline frame
// is checksummed. The entries read are then kept in memory by HotEntries (an inline one with its
// frame; StoreOptions::hot_entry_bytes, least recently used first out), so that the next read of
// that block costs a hash lookup. A delete, or a compaction that moves a frame, drops the entry
// there after its index write.
//
// Thread-safe: index writes are serialised by one mutex (each batch carries the counters' new
// values); appends, fdatasyncs and reads take none of it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/block_id.h"
#include "common/errc.h"
#include "common/store/block_records.h"
#include "common/store/hot_entries.h"
#include "common/store/segment_log.h"
#include "common/store/segment_space.h"
#include "common/store/stored_block.h"

namespace mei {

class RocksHandle;  // internal: the shared database handle

// What opening the store found and repaired (see "Recovery at open").
struct StoreRecovery {
  bool clean = true;                  // the last process closed the store
  std::vector<BlockId> dropped;       // entries whose frame was missing or failed its checksum
  std::uint64_t truncated_bytes = 0;  // unindexed tails cut off
  std::uint32_t removed_segments = 0;
  std::uint64_t verified_frames = 0;
};

// One line for an operator's log saying what recovery checked and repaired (dropped entries named
// by id, up to a few), or "" when it had nothing to check or repair.
[[nodiscard]] std::string DescribeRecovery(const StoreRecovery& recovery);

class BlockStore {
 public:
  struct Settings {
    std::uint64_t inline_frame_bytes = 64 * 1024;
    std::uint64_t hot_entry_bytes = 32ull << 20;  // HotEntries' capacity
    std::uint64_t min_free_bytes = 8ull << 20;
    bool sync_before_index = true;  // log_block_writes: fdatasync per put (see "Durability order")
    double compact_below_live_share = 0.5;
    // SegmentLogOptions::segment_bytes: the active segment is compacted (after a roll) once it
    // holds an eighth of this.
    std::uint64_t segment_bytes = 256ull << 20;
    // Called after a frame is appended (and synced, when sync_before_index) and before its entry
    // is written: a fault-injection point for crash tests. Empty in production.
    std::function<void(const BlockId&)> on_frame_appended;
  };

  // REQUIRES: `db` open, `segments` open on the store's segment directory, and RecoverSegments
  // (recovery.h) run on both; `space` is what it counted.
  BlockStore(std::shared_ptr<RocksHandle> db, std::shared_ptr<SegmentLog> segments,
             SegmentSpace space, StoreRecovery recovery, Settings settings);
  // Syncs the segments and marks the store clean.
  ~BlockStore();

  // Stores `frame` under `id` with fresh metadata, unless the id is already stored (dedup).
  // Returns true when it stored, false when the id was already there. The frame must parse
  // (ParseFrame); kBadFrame otherwise. kStoreFull, storing nothing, when the disk has no room
  // for it (see "Full disk" above). Does not check that the frame decodes to bytes whose
  // SHA-256 is `id`: callers verify what they did not encode themselves.
  [[nodiscard]] Result<bool> Put(const BlockId& id, std::span<const std::byte> frame);
  // Put of a frame whose header the caller has just written over the payload it holds
  // (WriteFrameHeader, with the checksum computed as the payload arrived): `header` is trusted
  // and the checksum is not computed again; only that a raw payload is raw_size long is checked
  // (kBadFrame). REQUIRES: header is what ParseFrame(frame) would return.
  [[nodiscard]] Result<bool> Put(const BlockId& id, std::span<const std::byte> frame,
                                 const FrameHeader& header);

  // The stored frame, without copying: an inline frame in memory, its checksum verified (kBadFrame
  // when it fails) when it was read from RocksDB; or a frame in a segment, located by its entry
  // and not read (see stored_block.h). The entry is kept for the next reads (see "Reads").
  // kBlockNotFound if absent; kBadFrame when the entry names bytes no segment holds.
  [[nodiscard]] Result<StoredBlock> Get(const BlockId& id) const;

  // The raw bytes, read, decoded and verified: frame checksum (kBadFrame), raw size and
  // SHA-256 == id (kIntegrity). Appends nothing to `raw` on error.
  [[nodiscard]] Result<void> ReadRaw(const BlockId& id, std::vector<std::byte>& raw) const;

  [[nodiscard]] Result<bool> Has(const BlockId& id) const;
  [[nodiscard]] Result<BlockMeta> Meta(const BlockId& id) const;

  // Removes the block and its metadata; false when it was not there. A segment left without a
  // live frame is removed at once; other holes wait for Compact().
  [[nodiscard]] Result<bool> Delete(const BlockId& id);

  // Gives back the space of deleted frames in segments whose live share fell below the threshold
  // (see "Space"), emptiest first, as long as the filesystem has room for the frames it moves plus
  // min_free_bytes. Returns the bytes given back (segment bytes removed less bytes rewritten).
  // Thread-safe, meant for one maintenance thread: puts and reads go on meanwhile.
  [[nodiscard]] Result<std::uint64_t> Compact();

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

  // What the open found and repaired.
  const StoreRecovery& recovery() const { return recovery_; }

 private:
  struct State {
    std::mutex write_mutex;
    std::atomic<std::uint64_t> stored_bytes{0};
    std::atomic<std::uint64_t> block_count{0};
    SegmentSpace space;  // guarded by write_mutex
    // Whether blocks may have been deleted since RocksDB's blocks family was last compacted to
    // make room; under write_mutex. True at open: what earlier processes deleted is not known.
    bool reclaim_pending = true;
  };

  [[nodiscard]] Result<bool> PutInline(const BlockId& id, std::span<const std::byte> frame,
                                       const BlockMeta& meta);
  [[nodiscard]] Result<bool> PutInSegment(const BlockId& id, std::span<const std::byte> frame,
                                          const FrameHeader& header, const BlockMeta& meta);
  // REQUIRES: the write mutex held. Whether a put of a `size`-byte frame under `id` goes ahead:
  // false when the id is stored already, kStoreFull when it does not fit.
  [[nodiscard]] Result<bool> AdmitLocked(const BlockId& id, std::uint64_t size);
  // REQUIRES: the write mutex held, and `id` not stored. Writes `entry` for the new block with its
  // metadata and the counters.
  [[nodiscard]] Result<void> IndexLocked(const BlockId& id, std::span<const std::byte> entry,
                                         const BlockMeta& meta);
  // REQUIRES: the write mutex held. Whether a frame of `size` bytes fits (see "Full disk"),
  // flushing and compacting RocksDB when the estimate says it does not.
  [[nodiscard]] Result<void> MakeRoomLocked(std::uint64_t size);
  // REQUIRES: the write mutex held. Releases `where` and removes its segment once nothing in it
  // lives. Errors of the removal are ignored: the segment stays, to be removed by a later open.
  void ReleaseLocked(const FrameLocation& where);
  // Moves the live frames of `segment` (Compact); the bytes given back.
  [[nodiscard]] Result<std::uint64_t> CompactSegment(std::uint32_t segment);

  std::shared_ptr<RocksHandle> db_;
  std::shared_ptr<SegmentLog> segments_;
  const Settings settings_;
  const StoreRecovery recovery_;
  std::unique_ptr<State> state_;
  std::unique_ptr<HotEntries> hot_;  // index entries read lately
};

}  // namespace mei
