// SegmentFrames: the blocks whose frames are in segments, read from the block index (a scan of a
// few dozen bytes per block), for recovery at open and for compaction.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/block_id.h"
#include "common/errc.h"
#include "common/store/block_records.h"

namespace mei {

class RocksHandle;

struct IndexedFrame {
  BlockId id;
  SegmentFrame frame;
};

// Every block whose entry names a segment frame, in id order; only those in `segment` when given.
// kStorage when the index holds a key or a value that is not a block's.
[[nodiscard]] Result<std::vector<IndexedFrame>> SegmentFrames(
    const RocksHandle& db, std::optional<std::uint32_t> segment = std::nullopt);

}  // namespace mei
