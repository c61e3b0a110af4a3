#include "tools/synth/weights.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <vector>

namespace mei::tools {
namespace {

TEST(WeightsTest, AnyRangeOfAStreamEqualsTheSameRangeOfTheWholeStream) {
  const WeightStream stream{.seed = 42, .distribution = WeightDistribution::kProjection};
  std::vector<std::uint16_t> whole(103);
  FillBf16(stream, 0, whole);
  std::vector<std::uint16_t> tail(51);
  FillBf16(stream, 52, tail);
  EXPECT_EQ(tail, std::vector<std::uint16_t>(whole.begin() + 52, whole.end()));
}

TEST(WeightsTest, F32ElementsAreTheBf16ElementsWidened) {
  const WeightStream stream{.seed = 3, .distribution = WeightDistribution::kNormScale};
  std::vector<std::uint16_t> narrow(1001);
  std::vector<std::uint32_t> wide(1001);
  FillBf16(stream, 0, narrow);
  FillF32(stream, 0, wide);
  for (std::size_t i = 0; i < narrow.size(); ++i) {
    ASSERT_EQ(std::bit_cast<float>(wide[i]), Bf16ToFloat(narrow[i])) << i;
  }
}

TEST(WeightsTest, ProjectionWeightsAreNormalWithStdTwoHundredths) {
  std::vector<std::uint16_t> values(1 << 20);
  FillBf16({.seed = 11, .distribution = WeightDistribution::kProjection}, 0, values);
  double sum = 0;
  double sum_of_squares = 0;
  std::size_t within_one_std = 0;
  for (const std::uint16_t bits : values) {
    const double value = Bf16ToFloat(bits);
    sum += value;
    sum_of_squares += value * value;
    within_one_std += std::abs(value) < 0.02 ? 1 : 0;
  }
  const double count = static_cast<double>(values.size());
  EXPECT_NEAR(sum / count, 0.0, 1e-4);
  EXPECT_NEAR(std::sqrt(sum_of_squares / count), 0.02, 2e-4);
  EXPECT_NEAR(static_cast<double>(within_one_std) / count, 0.6827, 0.01);
}

TEST(WeightsTest, NormScalesStayNearOne) {
  std::vector<std::uint16_t> values(1 << 16);
  FillBf16({.seed = 11, .distribution = WeightDistribution::kNormScale}, 0, values);
  double sum = 0;
  for (const std::uint16_t bits : values) {
    const double value = Bf16ToFloat(bits);
    ASSERT_GT(value, 0.85);
    ASSERT_LT(value, 1.15);
    sum += value;
  }
  EXPECT_NEAR(sum / static_cast<double>(values.size()), 1.0, 1e-3);
}

TEST(WeightsTest, StreamSeedsDifferForEveryDifferingInput) {
  const std::uint64_t seed = StreamSeed(1, "line", "base", "w");
  EXPECT_EQ(seed, StreamSeed(1, "line", "base", "w"));
  EXPECT_NE(seed, StreamSeed(2, "line", "base", "w"));
  EXPECT_NE(seed, StreamSeed(1, "other", "base", "w"));
  EXPECT_NE(seed, StreamSeed(1, "line", "ft", "w"));
  EXPECT_NE(seed, StreamSeed(1, "line", "base", "v"));
  EXPECT_NE(StreamSeed(1, "ab", "c", "w"), StreamSeed(1, "a", "bc", "w"));
}

TEST(WeightsTest, DifferentSeedsGiveDifferentStreams) {
  std::vector<std::uint16_t> a(64);
  std::vector<std::uint16_t> b(64);
  FillBf16({.seed = 1}, 0, a);
  FillBf16({.seed = 2}, 0, b);
  EXPECT_NE(a, b);
}

struct Bf16Case {
  float value;
  std::uint16_t bits;
};

class FloatToBf16Test : public ::testing::TestWithParam<Bf16Case> {};

TEST_P(FloatToBf16Test, RoundsToNearestEven) {
  EXPECT_EQ(FloatToBf16(GetParam().value), GetParam().bits);
}

INSTANTIATE_TEST_SUITE_P(
    Values, FloatToBf16Test,
    ::testing::Values(Bf16Case{1.0f, 0x3f80}, Bf16Case{-2.0f, 0xc000},
                      Bf16Case{std::bit_cast<float>(0x3f808000u), 0x3f80},  // tie, even below
                      Bf16Case{std::bit_cast<float>(0x3f818000u), 0x3f82},  // tie, even above
                      Bf16Case{std::bit_cast<float>(0x3f808001u), 0x3f81},
                      Bf16Case{std::numeric_limits<float>::infinity(), 0x7f80},
                      Bf16Case{0.0f, 0x0000}));

TEST(FloatToBf16NanTest, NanStaysNan) {
  EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(std::numeric_limits<float>::quiet_NaN()))));
}

}  // namespace
}  // namespace mei::tools
