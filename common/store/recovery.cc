#include "common/store/recovery.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/internal/rocks_access.h"
#include "common/internal/rocks_handle.h"
#include "common/store/block_records.h"
#include "common/store/segment_frames.h"
#include "common/store/store_keys.h"

namespace mei {
namespace {

using internal::Contains;
using internal::PutLe;
using internal::Read;
using internal::SliceOf;
using internal::StorageError;
using internal::ViewOf;
using internal::WriteError;

std::uint64_t EndOf(const FrameLocation& where) { return where.offset + where.length; }

// Whether the frame at `frame.where` parses and carries the header its entry recorded.
bool FrameVerifies(const SegmentLog& segments, const SegmentFrame& frame) {
  std::vector<std::byte> bytes;
  if (!segments.Read(frame.where, bytes)) return false;
  auto view = ParseFrame(bytes);
  return view && view->header.codec == frame.header.codec &&
         view->header.raw_size == frame.header.raw_size &&
         view->header.checksum == frame.header.checksum;
}

// Deletes the entries and metadata of `dropped` and takes them off the counters, durably.
Result<void> DropEntries(RocksHandle& db, const std::vector<BlockId>& dropped) {
  BlockCounters counters = db.counters_at_open();
  rocksdb::WriteBatch batch;
  for (const BlockId& id : dropped) {
    const rocksdb::Slice key = SliceOf(id.Binary());
    auto meta = Read(db, RocksHandle::kBlockMeta, key, "the metadata of block " + id.Hex());
    if (!meta) return meta.error();
    if (meta->has_value()) {
      auto decoded = DecodeMeta(id, ViewOf(**meta));
      if (!decoded) return decoded.error();
      counters.stored_bytes -= std::min(counters.stored_bytes, decoded->stored_size);
      counters.block_count -= std::min<std::uint64_t>(counters.block_count, 1);
    }
    batch.Delete(db.family(RocksHandle::kBlocks), key).PermitUncheckedError();
    batch.Delete(db.family(RocksHandle::kBlockMeta), key).PermitUncheckedError();
  }
  std::string stored_bytes;
  std::string block_count;
  PutLe(stored_bytes, counters.stored_bytes, 8);
  PutLe(block_count, counters.block_count, 8);
  batch.Put(SliceOf(store_keys::kStoredBytes), stored_bytes).PermitUncheckedError();
  batch.Put(SliceOf(store_keys::kBlockCount), block_count).PermitUncheckedError();
  rocksdb::WriteOptions durable;
  durable.sync = true;
  if (const rocksdb::Status status = db.db().Write(durable, &batch); !status.ok()) {
    return WriteError("drop the index entries of missing frames", status);
  }
  db.set_counters_at_open(counters);
  return {};
}

}  // namespace

Result<RecoveredSegments> RecoverSegments(RocksHandle& db, SegmentLog& segments,
                                          std::uint64_t verify_tail_bytes) {
  RecoveredSegments recovered;
  StoreRecovery& report = recovered.report;
  auto clean = Contains(db, RocksHandle::kDefault, SliceOf(store_keys::kSegmentsClean),
                        "the store's clean mark");
  if (!clean) return clean.error();
  report.clean = *clean;

  auto frames = SegmentFrames(db);
  if (!frames) return frames.error();
  const std::vector<SegmentLog::SegmentInfo> listed = segments.List();
  std::map<std::uint32_t, std::uint64_t> sizes;
  for (const SegmentLog::SegmentInfo& info : listed) sizes[info.number] = info.bytes;

  // Entries naming bytes that are not there.
  std::vector<IndexedFrame> kept;
  kept.reserve(frames->size());
  for (IndexedFrame& indexed : *frames) {
    const auto size = sizes.find(indexed.frame.where.segment);
    if (size == sizes.end() || EndOf(indexed.frame.where) > size->second) {
      report.dropped.push_back(indexed.id);
    } else {
      kept.push_back(std::move(indexed));
    }
  }
  std::map<std::uint32_t, std::uint64_t> ends;  // end of the last indexed frame per segment
  for (const IndexedFrame& indexed : kept) {
    std::uint64_t& end = ends[indexed.frame.where.segment];
    end = std::max(end, EndOf(indexed.frame.where));
  }

  // After a crash, the newest frames: the ones a disk that reorders or loses writes would hurt.
  if (!report.clean) {
    std::vector<std::uint32_t> newest;
    for (auto it = listed.rbegin(); it != listed.rend() && newest.size() < 2; ++it) {
      newest.push_back(it->number);
    }
    std::vector<IndexedFrame> verified;
    verified.reserve(kept.size());
    for (IndexedFrame& indexed : kept) {
      const FrameLocation& where = indexed.frame.where;
      const std::uint64_t end = ends[where.segment];
      const bool recent = std::find(newest.begin(), newest.end(), where.segment) != newest.end() &&
                          EndOf(where) + verify_tail_bytes > end;
      if (recent) {
        ++report.verified_frames;
        if (!FrameVerifies(segments, indexed.frame)) {
          report.dropped.push_back(indexed.id);
          continue;
        }
      }
      verified.push_back(std::move(indexed));
    }
    kept = std::move(verified);
  }
  if (!report.dropped.empty()) {
    if (auto dropped = DropEntries(db, report.dropped); !dropped) return dropped.error();
  }

  // Cut what no entry names off the end of each segment; remove segments no entry names.
  ends.clear();
  for (const IndexedFrame& indexed : kept) {
    recovered.space.Add(indexed.frame.where);
    std::uint64_t& end = ends[indexed.frame.where.segment];
    end = std::max(end, EndOf(indexed.frame.where));
  }
  const std::uint32_t active = segments.active();
  for (const SegmentLog::SegmentInfo& info : listed) {
    const auto end = ends.find(info.number);
    if (end == ends.end() && info.number != active) {
      if (auto removed = segments.Remove(info.number); !removed) return removed.error();
      report.truncated_bytes += info.bytes;
      ++report.removed_segments;
      continue;
    }
    const std::uint64_t keep = end == ends.end() ? 0 : end->second;
    if (keep < info.bytes) {
      if (auto cut = segments.Truncate(info.number, keep); !cut) return cut.error();
      report.truncated_bytes += info.bytes - keep;
    }
  }
  if (auto synced = segments.Sync(); !synced) return synced.error();

  rocksdb::WriteOptions durable;
  durable.sync = true;
  if (const rocksdb::Status status = db.db().Delete(durable, SliceOf(store_keys::kSegmentsClean));
      !status.ok()) {
    return WriteError("clear the store's clean mark", status);
  }
  return recovered;
}

}  // namespace mei
