#include "common/store/block_store.h"

#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <variant>

#include "common/internal/rocks_access.h"
#include "common/internal/rocks_handle.h"
#include "common/store/store_keys.h"

namespace mei {
namespace {

using internal::BytesOf;
using internal::Contains;
using internal::PutLe;
using internal::Read;
using internal::SliceOf;
using internal::StorageError;
using internal::ViewOf;
using internal::WriteError;

std::string EncodeU64(std::uint64_t value) {
  std::string out;
  PutLe(out, value, 8);
  return out;
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

Result<BlockMeta> ReadMeta(const RocksHandle& handle, const BlockId& id) {
  auto value = Read(handle, RocksHandle::kBlockMeta, SliceOf(id.Binary()),
                    "the metadata of block " + id.Hex());
  if (!value) return value.error();
  if (!value->has_value()) {
    return Error{Errc::kBlockNotFound, "block " + id.Hex() + " is not stored"};
  }
  return DecodeMeta(id, ViewOf(**value));
}

// Reads the frame entry of `id` into `value`. RocksDB's own checksums are skipped for this read:
// an inline frame is verified by its XXH3, which covers the same bytes, and Debian's RocksDB
// computes CRC32C in software.
Result<void> ReadEntry(const RocksHandle& handle, const BlockId& id,
                       rocksdb::PinnableSlice& value) {
  rocksdb::ReadOptions options;
  options.verify_checksums = false;
  const rocksdb::Status status =
      handle.db().Get(options, handle.family(RocksHandle::kBlocks), SliceOf(id.Binary()), &value);
  if (status.IsNotFound()) {
    return Error{Errc::kBlockNotFound, "block " + id.Hex() + " is not stored"};
  }
  if (!status.ok()) return StorageError("read block " + id.Hex(), status);
  return {};
}

Error Damaged(const BlockId& id, const Error& error) {
  return Error{error.code, "stored block " + id.Hex() + " is damaged: " + error.message};
}

}  // namespace

std::string DescribeRecovery(const StoreRecovery& recovery) {
  if (recovery.dropped.empty() && recovery.truncated_bytes == 0 && recovery.removed_segments == 0 &&
      recovery.verified_frames == 0) {
    return "";  // also a new store, which no process closed yet
  }
  std::string line = fmt::format(
      "store recovery after {} stop: {} frames checksummed, {} unindexed bytes cut off, {} empty "
      "segments removed, {} blocks dropped (their frames were missing or damaged)",
      recovery.clean ? "a clean" : "an unclean", recovery.verified_frames, recovery.truncated_bytes,
      recovery.removed_segments, recovery.dropped.size());
  constexpr std::size_t kNamed = 5;
  for (std::size_t i = 0; i < recovery.dropped.size() && i < kNamed; ++i) {
    line += (i == 0 ? ": " : ", ") + recovery.dropped[i].Hex();
  }
  if (recovery.dropped.size() > kNamed) line += ", ...";
  return line;
}

BlockStore::BlockStore(std::shared_ptr<RocksHandle> db, std::shared_ptr<SegmentLog> segments,
                       SegmentSpace space, StoreRecovery recovery, Settings settings)
    : db_(std::move(db)),
      segments_(std::move(segments)),
      settings_(std::move(settings)),
      recovery_(std::move(recovery)),
      state_(std::make_unique<State>()),
      hot_(std::make_unique<HotEntries>(settings_.hot_entry_bytes)) {
  const BlockCounters at_open = db_->counters_at_open();
  state_->stored_bytes.store(at_open.stored_bytes);
  state_->block_count.store(at_open.block_count);
  state_->space = std::move(space);
}

BlockStore::~BlockStore() {
  // A failed sync leaves the mark off, so the next open checks the newest frames.
  if (!segments_->Sync()) return;
  rocksdb::WriteOptions durable;
  durable.sync = true;
  db_->db().Put(durable, SliceOf(store_keys::kSegmentsClean), "1").PermitUncheckedError();
}

Result<bool> BlockStore::Put(const BlockId& id, std::span<const std::byte> frame) {
  auto view = ParseFrame(frame);
  if (!view) return view.error();
  return Put(id, frame, view->header);
}

Result<bool> BlockStore::Put(const BlockId& id, std::span<const std::byte> frame,
                             const FrameHeader& header) {
  if (frame.size() < kFrameHeaderSize ||
      (header.codec == Codec::kRaw && frame.size() - kFrameHeaderSize != header.raw_size)) {
    return Error{Errc::kBadFrame, fmt::format("frame of {} bytes for block {} does not fit its "
                                              "header's raw size of {}",
                                              frame.size(), id.Hex(), header.raw_size)};
  }
  BlockMeta meta;
  meta.raw_size = header.raw_size;
  meta.stored_size = frame.size();
  meta.codec = header.codec;
  meta.last_access_ms = NowMs();
  auto stored = frame.size() < settings_.inline_frame_bytes ? PutInline(id, frame, meta)
                                                            : PutInSegment(id, frame, header, meta);
  if (!stored && stored.error().code == Errc::kStoreFull &&
      stored.error().message.find(id.Hex()) == std::string::npos) {
    return Error{Errc::kStoreFull,
                 "could not store block " + id.Hex() + ": " + stored.error().message};
  }
  return stored;
}

Result<bool> BlockStore::PutInline(const BlockId& id, std::span<const std::byte> frame,
                                   const BlockMeta& meta) {
  std::lock_guard lock(state_->write_mutex);
  auto admitted = AdmitLocked(id, frame.size());
  if (!admitted || !*admitted) return admitted;
  if (auto indexed = IndexLocked(id, frame, meta); !indexed) return indexed.error();
  return true;
}

Result<bool> BlockStore::AdmitLocked(const BlockId& id, std::uint64_t size) {
  auto present = Has(id);
  if (!present) return present.error();
  if (*present) return false;
  if (auto room = MakeRoomLocked(size); !room) return room.error();
  return true;
}

Result<bool> BlockStore::PutInSegment(const BlockId& id, std::span<const std::byte> frame,
                                      const FrameHeader& header, const BlockMeta& meta) {
  FrameLocation where;
  {
    std::lock_guard lock(state_->write_mutex);
    auto admitted = AdmitLocked(id, frame.size());
    if (!admitted || !*admitted) return admitted;
    auto appended = segments_->Append(frame);
    if (!appended) return appended.error();
    where = *appended;
    state_->space.Add(where);
  }
  // Outside the write mutex: other puts append (and share this fdatasync) meanwhile.
  Result<void> synced = settings_.sync_before_index ? segments_->Sync() : Result<void>();
  if (synced && settings_.on_frame_appended) settings_.on_frame_appended(id);

  std::lock_guard lock(state_->write_mutex);
  if (!synced) {
    ReleaseLocked(where);
    return synced.error();
  }
  // The write mutex was let go meanwhile: a concurrent put of the id may have won the race.
  auto present = Has(id);
  if (!present || *present) {
    ReleaseLocked(where);
    if (!present) return present.error();
    return false;
  }
  const std::string value = EncodeSegmentEntry(SegmentFrame{where, header});
  if (auto indexed = IndexLocked(id, std::as_bytes(std::span(value)), meta); !indexed) {
    ReleaseLocked(where);
    return indexed.error();
  }
  return true;
}

Result<void> BlockStore::IndexLocked(const BlockId& id, std::span<const std::byte> entry,
                                     const BlockMeta& meta) {
  const rocksdb::Slice key = SliceOf(id.Binary());
  const std::uint64_t stored_bytes = state_->stored_bytes.load() + meta.stored_size;
  const std::uint64_t block_count = state_->block_count.load() + 1;
  rocksdb::WriteBatch batch;
  rocksdb::Status status = batch.Put(db_->family(RocksHandle::kBlocks), key, SliceOf(entry));
  if (status.ok()) {
    status = batch.Put(db_->family(RocksHandle::kBlockMeta), key, EncodeMeta(meta));
  }
  if (status.ok()) status = batch.Put(SliceOf(store_keys::kStoredBytes), EncodeU64(stored_bytes));
  if (status.ok()) status = batch.Put(SliceOf(store_keys::kBlockCount), EncodeU64(block_count));
  if (status.ok()) status = db_->db().Write(db_->block_writes(), &batch);
  if (!status.ok()) return WriteError("store block " + id.Hex(), status);
  state_->stored_bytes.store(stored_bytes);
  state_->block_count.store(block_count);
  return {};
}

Result<StoredBlock> BlockStore::Get(const BlockId& id) const {
  if (std::shared_ptr<const HotEntry> hot = hot_->Find(id)) {
    if (!hot->in_segment) return StoredBlock::Hot(std::move(hot));
    if (auto segment = segments_->Hold(hot->in_segment->where)) {
      return StoredBlock::InSegment(std::move(*segment), hot->in_segment->where,
                                    hot->in_segment->header);
    }
    hot_->Forget(id);  // its segment is gone: the index says where the frame is now
  }
  const std::uint64_t forgotten = hot_->forgotten();
  // A frame whose segment went between reading its entry and holding the segment was moved by a
  // compaction (or its block deleted): the entry is read again.
  constexpr int kAttempts = 3;
  Error last{Errc::kBadFrame, ""};
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto value = std::make_unique<rocksdb::PinnableSlice>();
    if (auto read = ReadEntry(*db_, id, *value); !read) return read.error();
    auto entry = DecodeFrameEntry(id, BytesOf(*value));
    if (!entry) return entry.error();
    if (std::holds_alternative<std::span<const std::byte>>(*entry)) {
      auto block = StoredBlock::Inline(std::move(value));
      if (!block) return Damaged(id, block.error());
      FrameView view{block->header(), block->payload()};
      if (auto hot = hot_->OfferInline(id, block->frame(), view, forgotten)) {
        return StoredBlock::Hot(std::move(hot));
      }
      return block;
    }
    const SegmentFrame& frame = std::get<SegmentFrame>(*entry);
    auto segment = segments_->Hold(frame.where);
    if (segment) {
      hot_->OfferInSegment(id, frame, forgotten);
      return StoredBlock::InSegment(std::move(*segment), frame.where, frame.header);
    }
    last = Damaged(id, segment.error());
  }
  return last;
}

Result<void> BlockStore::ReadRaw(const BlockId& id, std::vector<std::byte>& raw) const {
  auto block = Get(id);
  if (!block) return block.error();
  if (auto loaded = block->Load(); !loaded) return Damaged(id, loaded.error());
  // Decoded into a per-thread buffer and swapped in, so that `raw` is untouched on error and a
  // caller that reuses its buffer causes no allocation.
  thread_local BlockDecoder decoder;
  thread_local std::vector<std::byte> decoded;
  decoded.clear();
  if (auto result = decoder.Decode(block->frame(), decoded); !result) {
    return Damaged(id, result.error());
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
  std::lock_guard lock(state_->write_mutex);
  auto meta = ReadMeta(*db_, id);
  if (!meta) {
    if (meta.error().code == Errc::kBlockNotFound) return false;
    return meta.error();
  }
  std::optional<FrameLocation> where;
  rocksdb::PinnableSlice value;
  if (auto read = ReadEntry(*db_, id, value); read) {
    if (auto entry = DecodeFrameEntry(id, BytesOf(value));
        entry && std::holds_alternative<SegmentFrame>(*entry)) {
      where = std::get<SegmentFrame>(*entry).where;
    }
  } else if (read.error().code != Errc::kBlockNotFound) {
    return read.error();
  }
  const std::uint64_t before = state_->stored_bytes.load();
  const std::uint64_t stored_bytes = before - std::min(before, meta->stored_size);
  const std::uint64_t count_before = state_->block_count.load();
  const std::uint64_t block_count = count_before - std::min<std::uint64_t>(count_before, 1);

  const rocksdb::Slice key = SliceOf(id.Binary());
  rocksdb::WriteBatch batch;
  rocksdb::Status status = batch.Delete(db_->family(RocksHandle::kBlocks), key);
  if (status.ok()) status = batch.Delete(db_->family(RocksHandle::kBlockMeta), key);
  if (status.ok()) status = batch.Put(SliceOf(store_keys::kStoredBytes), EncodeU64(stored_bytes));
  if (status.ok()) status = batch.Put(SliceOf(store_keys::kBlockCount), EncodeU64(block_count));
  if (status.ok()) status = db_->db().Write(db_->block_writes(), &batch);
  if (!status.ok()) return WriteError("delete block " + id.Hex(), status);
  hot_->Forget(id);
  state_->stored_bytes.store(stored_bytes);
  state_->block_count.store(block_count);
  if (where) {
    ReleaseLocked(*where);
  } else {
    state_->reclaim_pending = true;
  }
  return true;
}

void BlockStore::ReleaseLocked(const FrameLocation& where) {
  if (state_->space.Release(where) > 0) return;
  // Nothing in the segment lives: its file goes (the active one too: the next one starts). An
  // entry that a crash brings back (unlogged deletes) names a missing segment and is dropped at
  // the next open, which is what its delete meant.
  (void)segments_->Remove(where.segment);
}

Result<void> BlockStore::MakeRoomLocked(std::uint64_t size) {
  auto room = RoomOf(*db_);
  if (!room) return room.error();
  if (!room->known || room->Fits(size, settings_.min_free_bytes)) return {};

  rocksdb::DB& db = db_->db();
  if (const rocksdb::Status status = internal::FlushAll(*db_); !status.ok()) {
    return WriteError("flush the memtables to make room", status);
  }
  if (state_->reclaim_pending) {
    const rocksdb::Status status = db.CompactRange(
        rocksdb::CompactRangeOptions(), db_->family(RocksHandle::kBlocks), nullptr, nullptr);
    if (!status.ok()) return WriteError("compact the deleted blocks away to make room", status);
    state_->reclaim_pending = false;
  }
  room = RoomOf(*db_);
  if (!room) return room.error();
  if (room->Fits(size, settings_.min_free_bytes)) return {};
  return Error{
      Errc::kStoreFull,
      fmt::format("the store is full: its filesystem has {} bytes free, and {} must stay "
                  "free after this {}-byte frame (RocksDB's files need room to work)",
                  room->free_bytes,
                  room->unflushed_bytes + room->sst_bytes + settings_.min_free_bytes, size)};
}

Result<void> BlockStore::UpdateMeta(std::span<const std::pair<BlockId, BlockMeta>> updates) {
  if (updates.empty()) return {};
  rocksdb::WriteBatch batch;
  // Under the write mutex, so that a block deleted meanwhile cannot get its metadata back
  // without its frame.
  std::lock_guard lock(state_->write_mutex);
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

std::uint64_t BlockStore::stored_bytes() const { return state_->stored_bytes.load(); }

std::uint64_t BlockStore::block_count() const { return state_->block_count.load(); }

}  // namespace mei
