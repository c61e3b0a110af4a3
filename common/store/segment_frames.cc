#include "common/store/segment_frames.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <memory>
#include <string>
#include <variant>

#include "common/internal/rocks_access.h"
#include "common/internal/rocks_handle.h"

namespace mei {

Result<std::vector<IndexedFrame>> SegmentFrames(const RocksHandle& db,
                                                std::optional<std::uint32_t> segment) {
  std::vector<IndexedFrame> frames;
  const std::unique_ptr<rocksdb::Iterator> it(
      db.db().NewIterator(rocksdb::ReadOptions(), db.family(RocksHandle::kBlocks)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto id = BlockId::FromBinary(internal::BytesOf(it->key()));
    if (!id) {
      return Error{Errc::kStorage, "the block index holds a key of " +
                                       std::to_string(it->key().size()) + " bytes, not an id"};
    }
    auto entry = DecodeFrameEntry(*id, internal::BytesOf(it->value()));
    if (!entry) return entry.error();
    const auto* frame = std::get_if<SegmentFrame>(&*entry);
    if (frame != nullptr && (!segment || frame->where.segment == *segment)) {
      frames.push_back(IndexedFrame{*id, *frame});
    }
  }
  if (!it->status().ok()) return internal::StorageError("list the block index", it->status());
  return frames;
}

}  // namespace mei
