// BlockStore::Compact: the live frames of sparse segments move to the active one, and the old
// segments go (block_store.h, "Space").
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <mutex>
#include <variant>
#include <vector>

#include "common/internal/rocks_access.h"
#include "common/internal/rocks_handle.h"
#include "common/store/block_store.h"
#include "common/store/segment_frames.h"

namespace mei {
namespace {

using internal::BytesOf;
using internal::SliceOf;
using internal::StorageError;
using internal::WriteError;

struct Moved {
  BlockId id;
  SegmentFrame from;
  FrameLocation to;
};

}  // namespace

Result<std::uint64_t> BlockStore::Compact() {
  std::vector<std::uint32_t> sparse;
  {
    std::lock_guard lock(state_->write_mutex);
    sparse = state_->space.Sparse(segments_->List(), settings_.compact_below_live_share,
                                  settings_.segment_bytes / 8);
    // A sparse active segment stops taking appends first: its live frames move to the next one.
    if (std::find(sparse.begin(), sparse.end(), segments_->active()) != sparse.end()) {
      if (auto rolled = segments_->Roll(); !rolled) return rolled.error();
    }
  }
  std::uint64_t given_back = 0;
  for (const std::uint32_t segment : sparse) {
    auto freed = CompactSegment(segment);
    if (!freed) return freed.error();
    given_back += *freed;
  }
  return given_back;
}

Result<std::uint64_t> BlockStore::CompactSegment(std::uint32_t segment) {
  std::uint64_t segment_bytes = 0;
  {
    std::lock_guard lock(state_->write_mutex);
    for (const SegmentLog::SegmentInfo& info : segments_->List()) {
      if (info.number == segment) segment_bytes = info.bytes;
    }
    if (segment_bytes == 0) return 0;  // removed meanwhile
    // Room for the live frames it will copy, plus the reserve.
    if (auto room = MakeRoomLocked(state_->space.live(segment)); !room) return 0;
  }
  auto held = segments_->Get(segment);
  if (!held) return 0;
  auto frames = SegmentFrames(*db_, segment);
  if (!frames) return frames.error();

  // Copy each live frame to the active segment, verifying it on the way.
  std::vector<Moved> moved;
  std::vector<BlockId> damaged;
  std::vector<std::byte> bytes;
  std::uint64_t copied = 0;
  for (const auto& [id, frame] : *frames) {
    bytes.resize(frame.where.length);
    if (auto read = (*held)->Read(frame.where.offset, bytes); !read) return read.error();
    auto view = ParseFrame(bytes);
    if (!view || view->header.checksum != frame.header.checksum) {
      damaged.push_back(id);
      continue;
    }
    std::lock_guard lock(state_->write_mutex);
    auto appended = segments_->Append(bytes);
    if (!appended) return appended.error();
    state_->space.Add(*appended);
    moved.push_back(Moved{id, frame, *appended});
    copied += appended->length;
  }
  if (auto synced = segments_->Sync(); !synced) return synced.error();

  // Switch the entries that still name the old place (a block deleted or replaced meanwhile
  // keeps what it has; its copy is garbage).
  std::vector<FrameLocation> switched;
  const rocksdb::WriteOptions writes = db_->block_writes();
  {
    std::lock_guard lock(state_->write_mutex);
    rocksdb::WriteBatch batch;
    for (const Moved& move : moved) {
      rocksdb::PinnableSlice value;
      const rocksdb::Status read =
          db_->db().Get(rocksdb::ReadOptions(), db_->family(RocksHandle::kBlocks),
                        SliceOf(move.id.Binary()), &value);
      if (!read.ok() && !read.IsNotFound()) {
        return StorageError("read block " + move.id.Hex(), read);
      }
      auto entry = read.ok() ? DecodeFrameEntry(move.id, BytesOf(value))
                             : Result<FrameEntry>(Error{Errc::kBlockNotFound, ""});
      const auto* frame = entry ? std::get_if<SegmentFrame>(&*entry) : nullptr;
      if (frame != nullptr && frame->where == move.from.where) {
        batch
            .Put(db_->family(RocksHandle::kBlocks), SliceOf(move.id.Binary()),
                 EncodeSegmentEntry(SegmentFrame{move.to, move.from.header}))
            .PermitUncheckedError();
        switched.push_back(move.from.where);
      } else {
        ReleaseLocked(move.to);
      }
    }
    // Durable before the old segment can go: synced through the log here, or flushed below when
    // block writes skip the log.
    rocksdb::WriteOptions options = writes;
    options.sync = !options.disableWAL;
    if (batch.Count() > 0) {
      if (const rocksdb::Status status = db_->db().Write(options, &batch); !status.ok()) {
        return WriteError("switch the entries of compacted frames", status);
      }
    }
    for (const Moved& move : moved) hot_->Forget(move.id);
  }
  if (writes.disableWAL && !switched.empty()) {
    if (const rocksdb::Status status = internal::FlushAll(*db_); !status.ok()) {
      return WriteError("flush the entries of compacted frames", status);
    }
  }
  {
    std::lock_guard lock(state_->write_mutex);
    for (const FrameLocation& where : switched) ReleaseLocked(where);
  }
  // Frames that failed their checksum: the blocks count as missing, to be filled again.
  for (const BlockId& id : damaged) {
    if (auto deleted = Delete(id); !deleted) return deleted.error();
  }
  const std::uint64_t left = [&] {
    std::lock_guard lock(state_->write_mutex);
    return state_->space.live(segment);
  }();
  return left == 0 && segment_bytes > copied ? segment_bytes - copied : 0;
}

}  // namespace mei
