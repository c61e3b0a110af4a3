#include "common/fastcdc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace mei {
namespace {

using Bytes = std::vector<std::byte>;

Bytes RandomBytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(size);
  for (std::byte& b : out) b = static_cast<std::byte>(rng());
  return out;
}

// Chunk boundaries (end offsets) of a whole buffer, cutting chunk after chunk.
std::vector<std::size_t> Boundaries(const Bytes& data, const FastCdcParams& params) {
  std::vector<std::size_t> ends;
  std::size_t at = 0;
  while (at < data.size()) {
    const std::size_t size = FastCdcCut(std::span<const std::byte>(data).subspan(at), params);
    EXPECT_GT(size, 0u);
    if (size == 0) break;
    at += size;
    ends.push_back(at);
  }
  return ends;
}

const FastCdcParams kSmall = {.min_size = 2 * 1024, .avg_size = 8 * 1024, .max_size = 32 * 1024};

TEST(FastCdcTest, DataNoLongerThanMinSizeIsOneChunk) {
  const Bytes data = RandomBytes(kSmall.min_size, 1);
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, kSmall.min_size - 1, kSmall.min_size}) {
    EXPECT_EQ(FastCdcCut(std::span<const std::byte>(data).first(size), kSmall), size);
  }
}

TEST(FastCdcTest, CutsLieBetweenMinAndMaxSize) {
  struct Case {
    std::string name;
    Bytes data;
  };
  const Case cases[] = {
      {"random", RandomBytes(1 << 20, 2)},
      {"zeros", Bytes(1 << 20)},  // no content cut ever fires: every chunk is max_size
      {"short_random", RandomBytes(kSmall.min_size + 100, 3)},
  };
  for (const FastCdcParams& params : {kSmall, FastCdcParams{}}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(c.name + " avg " + std::to_string(params.avg_size));
      std::size_t at = 0;
      while (at < c.data.size()) {
        const auto rest = std::span<const std::byte>(c.data).subspan(at);
        const std::size_t size = FastCdcCut(rest, params);
        ASSERT_LE(size, params.max_size);
        ASSERT_LE(size, rest.size());
        if (rest.size() > params.min_size) {
          ASSERT_GT(size, params.min_size);
        } else {
          ASSERT_EQ(size, rest.size());
        }
        at += size;
      }
    }
  }
}

TEST(FastCdcTest, ZerosAreCutAtMaxSize) {
  const Bytes zeros(3 * kSmall.max_size + 5);
  const std::vector<std::size_t> expected = {kSmall.max_size, 2 * kSmall.max_size,
                                             3 * kSmall.max_size, zeros.size()};
  EXPECT_EQ(Boundaries(zeros, kSmall), expected);
}

TEST(FastCdcTest, CutDependsOnlyOnTheFirstMaxSizeBytes) {
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const Bytes data = RandomBytes(kSmall.max_size, seed);
    const std::size_t cut = FastCdcCut(data, kSmall);
    Bytes longer = data;
    const Bytes tail = RandomBytes(5000, seed + 100);
    longer.insert(longer.end(), tail.begin(), tail.end());
    EXPECT_EQ(FastCdcCut(longer, kSmall), cut) << seed;
    EXPECT_EQ(FastCdcCut(data, kSmall), cut) << seed;
    // A cut before the end of a shorter buffer is the same cut.
    EXPECT_EQ(FastCdcCut(std::span<const std::byte>(data).first(cut), kSmall), cut) << seed;
  }
}

TEST(FastCdcTest, BoundariesAreDeterministic) {
  const Bytes data = RandomBytes(1 << 20, 4);
  EXPECT_EQ(Boundaries(data, kSmall), Boundaries(data, kSmall));
  // Pinned so that a change to the gear table or masks, which would re-chunk every stored file,
  // cannot go unnoticed.
  const std::vector<std::size_t> ends = Boundaries(data, FastCdcParams{});
  ASSERT_GE(ends.size(), 3u);
  const std::vector<std::size_t> first(ends.begin(), ends.begin() + 3);
  EXPECT_EQ(first, (std::vector<std::size_t>{82414, 173356, 239740}));
}

TEST(FastCdcTest, AverageChunkSizeIsNearAvgSize) {
  const FastCdcParams cases[] = {kSmall, FastCdcParams{}};
  for (const FastCdcParams& params : cases) {
    const Bytes data = RandomBytes(8 << 20, 5);
    const std::vector<std::size_t> ends = Boundaries(data, params);
    const double average = static_cast<double>(data.size()) / static_cast<double>(ends.size());
    EXPECT_GE(average, 0.5 * static_cast<double>(params.avg_size)) << params.avg_size;
    EXPECT_LE(average, 2.0 * static_cast<double>(params.avg_size)) << params.avg_size;
  }
}

TEST(FastCdcTest, InsertionNearTheStartKeepsLaterBoundaries) {
  const Bytes original = RandomBytes(4 << 20, 6);
  for (const std::size_t inserted : {std::size_t{1}, std::size_t{100}, std::size_t{5000}}) {
    SCOPED_TRACE(inserted);
    constexpr std::size_t kInsertAt = 3000;
    Bytes edited = original;
    const Bytes extra = RandomBytes(inserted, 7);
    edited.insert(edited.begin() + kInsertAt, extra.begin(), extra.end());

    const std::vector<std::size_t> before = Boundaries(original, kSmall);
    std::set<std::size_t> after;
    for (std::size_t end : Boundaries(edited, kSmall)) {
      if (end > kInsertAt + inserted) after.insert(end - inserted);
    }
    std::size_t later = 0;
    std::size_t shared = 0;
    for (std::size_t end : before) {
      if (end <= kInsertAt) continue;
      ++later;
      shared += after.contains(end) ? 1 : 0;
    }
    ASSERT_GT(later, 100u);
    EXPECT_GE(static_cast<double>(shared), 0.8 * static_cast<double>(later))
        << shared << " of " << later;
  }
}

}  // namespace
}  // namespace mei
