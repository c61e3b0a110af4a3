// HotEntries: the block index entries read lately, kept in memory, so that a block asked for again
// costs a hash lookup instead of a RocksDB read: where its frame is in a segment, or, for a frame
// held inline, the frame itself, verified once.
//
// Why: a whole file is tens to hundreds of blocks, each located through its entry, and its small
// blocks (norms, biases, headers) are inline frames whose XXH3 is computed at every read. Under
// load that took a fifth of a cache node's CPU (perf, 256 connections downloading one 16 MiB
// file; docs/PERFORMANCE.md).
//
// Bounded: at most `capacity_bytes` (an inline frame counts its size, a segment entry
// kEntryCost), the least recently used going first. An entry is kept only while it is the one in
// the index: BlockStore calls Forget after every index write that deletes an entry or moves a
// frame (compaction), and an entry read before such a write but offered after it is turned away
// (Offer compares the number of Forget calls the reader saw before reading with the current one),
// so no cached entry outlives the one it copies. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/block_id.h"
#include "common/codec.h"
#include "common/store/block_records.h"

namespace mei {

// One entry held in memory: a frame in a segment, or an inline frame's bytes with its parsed
// (verified) view over them.
struct HotEntry {
  std::optional<SegmentFrame> in_segment;
  std::vector<std::byte> bytes;  // inline frames
  FrameView view;                // inline frames: over `bytes`
};

class HotEntries {
 public:
  // What a segment entry counts against the capacity: the entry and its bookkeeping.
  static constexpr std::uint64_t kEntryCost = 256;

  // capacity_bytes 0: nothing is kept.
  explicit HotEntries(std::uint64_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

  // The entry of `id` if held (it becomes the most recently used), else null.
  [[nodiscard]] std::shared_ptr<const HotEntry> Find(const BlockId& id);

  // What a reader takes before it reads an entry from the index, to hand to Offer.
  [[nodiscard]] std::uint64_t forgotten() const;

  // Keeps the inline frame `frame` (whose parsed view is `view`, over `frame`), copied, or the
  // segment entry `in_segment`, under `id`, unless Forget was called since the reader took
  // `forgotten_before` or it alone passes the capacity. Returns what is kept (an entry another
  // reader kept first, if any), or null.
  std::shared_ptr<const HotEntry> OfferInline(const BlockId& id, std::span<const std::byte> frame,
                                              const FrameView& view,
                                              std::uint64_t forgotten_before);
  std::shared_ptr<const HotEntry> OfferInSegment(const BlockId& id, const SegmentFrame& in_segment,
                                                 std::uint64_t forgotten_before);

  // Drops `id`'s entry. Called after an index write that deletes it or moves its frame.
  void Forget(const BlockId& id);

  std::uint64_t held_bytes() const;

 private:
  struct Slot {
    std::shared_ptr<const HotEntry> entry;
    std::uint64_t cost;
    std::list<BlockId>::iterator use;  // its place in uses_
  };

  std::shared_ptr<const HotEntry> Keep(const BlockId& id, std::shared_ptr<const HotEntry> entry,
                                       std::uint64_t cost, std::uint64_t forgotten_before);
  void EraseLocked(std::unordered_map<BlockId, Slot>::iterator slot);

  const std::uint64_t capacity_bytes_;
  mutable std::mutex mu_;
  std::unordered_map<BlockId, Slot> slots_;
  std::list<BlockId> uses_;  // most recently used first
  std::uint64_t held_bytes_ = 0;
  std::uint64_t forgotten_ = 0;  // Forget calls so far
};

}  // namespace mei
