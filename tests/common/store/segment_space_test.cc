#include "common/store/segment_space.h"

#include <gtest/gtest.h>

#include <vector>

namespace mei {
namespace {

using Info = SegmentLog::SegmentInfo;

TEST(SegmentSpaceTest, CountsLiveBytesFromAppendToRelease) {
  SegmentSpace space;
  space.Add({1, 0, 100});
  space.Add({1, 100, 50});
  space.Add({2, 0, 10});
  EXPECT_EQ(space.live(1), 150u);
  EXPECT_EQ(space.Release({1, 0, 100}), 50u);
  EXPECT_EQ(space.Release({2, 0, 10}), 0u);
  EXPECT_EQ(space.live(2), 0u);
  EXPECT_EQ(space.Release({9, 0, 10}), 0u) << "an unknown segment has nothing live";
}

TEST(SegmentSpaceTest, SparseSegmentsComeEmptiestFirstAndTheActiveOneOnlyOnceLargeEnough) {
  SegmentSpace space;
  space.Add({1, 0, 40});  // 40% live
  space.Add({2, 0, 90});  // 90% live
  space.Add({3, 0, 10});  // 10% live
  space.Add({4, 0, 10});  // the active one: 20% live of 50 bytes
  const std::vector<Info> segments = {{1, 100}, {2, 100}, {3, 100}, {4, 50}};
  EXPECT_EQ(space.Sparse(segments, 0.5, 64), (std::vector<std::uint32_t>{3, 1}));
  EXPECT_EQ(space.Sparse(segments, 0.5, 50), (std::vector<std::uint32_t>{3, 4, 1}));
  EXPECT_EQ(space.Sparse(segments, 0.05, 0), std::vector<std::uint32_t>{});
  EXPECT_EQ(space.Sparse({{5, 0}}, 0.5, 0), std::vector<std::uint32_t>{}) << "empty segments";
}

}  // namespace
}  // namespace mei
