// RecoverSegments: brings a store's segment files and its frame index into agreement when the
// store is opened, after a clean stop or a crash (block_store.h, "Recovery at open").
#pragma once

#include <cstdint>

#include "common/errc.h"
#include "common/store/block_store.h"
#include "common/store/segment_log.h"
#include "common/store/segment_space.h"

namespace mei {

class RocksHandle;

struct RecoveredSegments {
  SegmentSpace space;  // live bytes per segment, from the entries kept
  StoreRecovery report;
};

// Drops entries that name missing bytes (and, after an unclean stop, entries in the newest
// `verify_tail_bytes` of the two newest segments whose frames fail their checksum), with their
// metadata and the counters in one synced batch (the handle's counters_at_open follow); cuts every
// segment back to the end of its last indexed frame and removes segments with none; then clears
// the clean mark, so that a crash from here on is found by the next open. REQUIRES: nothing else
// uses `db` or `segments` yet. kStorage or kIo when reading or repairing fails.
[[nodiscard]] Result<RecoveredSegments> RecoverSegments(RocksHandle& db, SegmentLog& segments,
                                                        std::uint64_t verify_tail_bytes);

}  // namespace mei
