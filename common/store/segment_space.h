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

  // The segments worth compacting among `segments` (SegmentLog::List; the last, active one is
  // never chosen): those holding bytes of which less than `live_share` still live, emptiest first.
  [[nodiscard]] std::vector<std::uint32_t> Sparse(
      const std::vector<SegmentLog::SegmentInfo>& segments, double live_share) const;

 private:
  std::map<std::uint32_t, std::uint64_t> live_;
};

}  // namespace mei
