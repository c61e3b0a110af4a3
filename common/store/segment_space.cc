#include "common/store/segment_space.h"

#include <algorithm>
#include <utility>

namespace mei {

std::uint64_t SegmentSpace::Release(const FrameLocation& where) {
  const auto it = live_.find(where.segment);
  if (it == live_.end()) return 0;
  it->second -= std::min(it->second, where.length);
  const std::uint64_t left = it->second;
  if (left == 0) live_.erase(it);
  return left;
}

std::uint64_t SegmentSpace::live(std::uint32_t segment) const {
  const auto it = live_.find(segment);
  return it == live_.end() ? 0 : it->second;
}

std::vector<std::uint32_t> SegmentSpace::Sparse(
    const std::vector<SegmentLog::SegmentInfo>& segments, double live_share,
    std::uint64_t active_min_bytes) const {
  std::vector<std::pair<double, std::uint32_t>> sparse;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const SegmentLog::SegmentInfo& segment = segments[i];
    const bool active = i + 1 == segments.size();
    if (segment.bytes == 0 || (active && segment.bytes < active_min_bytes)) continue;
    const double share =
        static_cast<double>(live(segment.number)) / static_cast<double>(segment.bytes);
    if (share < live_share) sparse.emplace_back(share, segment.number);
  }
  std::sort(sparse.begin(), sparse.end());
  std::vector<std::uint32_t> numbers;
  numbers.reserve(sparse.size());
  for (const auto& [share, number] : sparse) numbers.push_back(number);
  return numbers;
}

}  // namespace mei
