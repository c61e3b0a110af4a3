#include "common/aligned_bytes.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <utility>

namespace mei {
namespace {

bool Aligned(const void* data) {
  return reinterpret_cast<std::uintptr_t>(data) % kDirectIoAlignment == 0;
}

// The address of a buffer of `size` bytes, let go at once (into the pool).
const std::byte* LetGo(std::size_t size) {
  AlignedBytes bytes(size);
  return bytes.data();
}

TEST(AlignedBytesTest, ABufferStartsOnTheDirectIoBoundaryAndHoldsItsSize) {
  for (std::size_t size : {std::size_t{1}, std::size_t{4095}, std::size_t{5} << 20}) {
    AlignedBytes bytes(size);
    EXPECT_TRUE(Aligned(bytes.data())) << size;
    EXPECT_EQ(bytes.size(), size);
    EXPECT_EQ(bytes.span().size(), size);
    std::memset(bytes.data(), 0x5a, size);  // all of it is writable (ASan checks in CI)
  }
  EXPECT_EQ(AlignedBytes().size(), 0u);
  EXPECT_EQ(AlignedBytes(0).data(), nullptr);
}

TEST(AlignedBytesTest, ABufferLetGoIsHandedOutAgainForASimilarSize) {
  const std::byte* first = LetGo(3'000'000);
  AlignedBytes again(2'900'000);
  EXPECT_EQ(again.data(), first);
}

TEST(AlignedBytesTest, APooledBufferMoreThanTwiceTheSizeAskedIsNotHandedOut) {
  const std::byte* large = LetGo(9'000'000);
  AlignedBytes small(1'000'000);
  EXPECT_NE(small.data(), large);
  AlignedBytes fits(8'500'000);
  EXPECT_EQ(fits.data(), large);
}

TEST(AlignedBytesTest, AMovedBufferKeepsItsBytesAndTheSourceIsEmpty) {
  AlignedBytes bytes(10'000);
  std::memset(bytes.data(), 7, bytes.size());
  const std::byte* data = bytes.data();
  AlignedBytes moved(std::move(bytes));
  EXPECT_EQ(moved.data(), data);
  EXPECT_EQ(moved.size(), 10'000u);
  EXPECT_EQ(moved.data()[9'999], std::byte{7});
  AlignedBytes assigned(100);
  assigned = std::move(moved);
  EXPECT_EQ(assigned.data(), data);
  EXPECT_EQ(assigned.size(), 10'000u);
}

}  // namespace
}  // namespace mei
