// SegmentSpace: how many bytes of each segment still belong to a block, the figure compaction
// decides by. Counts a frame from its append (before its index entry exists, so a segment that a
// put is about to index never looks empty) until its block is deleted, its put loses a race, or
// compaction moves it. Not thread-safe: the block store guards it with its write mutex.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "common/store/segment_log.h"

namespace mei {

class SegmentSpace {
 public:
  void Add(const FrameLocation& where) { live_[where.segment] += where.length; }

  // Returns the segment's live bytes left.
  std::uint64_t Release(const FrameLocation& where);

  [[nodiscard]] std::uint64_t live(std::uint32_t segment) const;

  // The segments worth compacting among `segments` (SegmentLog::List; the last is the active one):
  // those holding bytes of which less than `live_share` still live, emptiest first. The active
  // segment is among them only once it holds at least `active_min_bytes` (a caller rolls it
  // before compacting it): on a disk smaller than a segment, holes in the active one would
  // otherwise never come back.
  [[nodiscard]] std::vector<std::uint32_t> Sparse(
      const std::vector<SegmentLog::SegmentInfo>& segments, double live_share,
      std::uint64_t active_min_bytes) const;

 private:
  std::map<std::uint32_t, std::uint64_t> live_;
};

}  // namespace mei
