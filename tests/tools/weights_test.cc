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

TEST(WeightsTest, F16ElementsAreTheBf16ElementsConvertedToF16) {
  for (const WeightDistribution distribution :
       {WeightDistribution::kProjection, WeightDistribution::kNormScale}) {
    const WeightStream stream{.seed = 5, .distribution = distribution};
    std::vector<std::uint16_t> bf16(1 << 16);
    std::vector<std::uint16_t> f16(1 << 16);
    FillBf16(stream, 0, bf16);
    FillF16(stream, 0, f16);
    std::size_t subnormal = 0;
    for (std::size_t i = 0; i < bf16.size(); ++i) {
      const float value = Bf16ToFloat(bf16[i]);
      ASSERT_EQ(f16[i], FloatToF16(value)) << i;
      if (std::abs(value) >= 0x1.0p-14f) {
        ASSERT_EQ(F16ToFloat(f16[i]), value) << "a normal F16 holds every BF16 bit, element " << i;
      } else {
        ++subnormal;
        ASSERT_LE(std::abs(F16ToFloat(f16[i]) - value), 0x1.0p-25f) << i;
      }
    }
    EXPECT_LT(static_cast<double>(subnormal) / static_cast<double>(bf16.size()), 0.005);
  }
}

TEST(WeightsTest, F16RangesOfAStreamEqualTheSameRangeOfTheWholeStream) {
  const WeightStream stream{.seed = 42};
  std::vector<std::uint16_t> whole(103);
  FillF16(stream, 0, whole);
  std::vector<std::uint16_t> tail(47);
  FillF16(stream, 56, tail);
  EXPECT_EQ(tail, std::vector<std::uint16_t>(whole.begin() + 56, whole.end()));
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

struct F16Case {
  float value;
  std::uint16_t bits;
};

class FloatToF16Test : public ::testing::TestWithParam<F16Case> {};

TEST_P(FloatToF16Test, RoundsToNearestEven) {
  EXPECT_EQ(FloatToF16(GetParam().value), GetParam().bits) << GetParam().value;
}

INSTANTIATE_TEST_SUITE_P(
    Values, FloatToF16Test,
    ::testing::Values(F16Case{1.0f, 0x3c00}, F16Case{-2.0f, 0xc000}, F16Case{0.0f, 0x0000},
                      F16Case{-0.0f, 0x8000}, F16Case{0.02f, 0x251f},
                      F16Case{1.0f + 0x1.0p-11f, 0x3c00},      // tie, even below
                      F16Case{1.0f + 3 * 0x1.0p-11f, 0x3c02},  // tie, even above
                      F16Case{1.0f + 0x1.0p-11f + 0x1.0p-20f, 0x3c01},
                      F16Case{65504.0f, 0x7bff},                             // largest finite
                      F16Case{65519.0f, 0x7bff}, F16Case{65520.0f, 0x7c00},  // tie rounds to inf
                      F16Case{std::numeric_limits<float>::infinity(), 0x7c00},
                      F16Case{-std::numeric_limits<float>::infinity(), 0xfc00},
                      F16Case{0x1.0p-14f, 0x0400},    // smallest normal
                      F16Case{0x1.ff8p-15f, 0x03ff},  // largest subnormal
                      F16Case{0x1.ffcp-15f, 0x0400},  // tie between it and the smallest normal
                      F16Case{0x1.0p-24f, 0x0001},    // smallest subnormal
                      F16Case{0x1.0p-25f, 0x0000},    // tie, even below
                      F16Case{0x1.8p-24f, 0x0002},    // tie, even above
                      F16Case{0x1.8p-25f, 0x0001}, F16Case{-0x1.0p-20f, 0x8010},
                      F16Case{0x1.0p-30f, 0x0000}));

TEST(FloatToF16NanTest, NanStaysNan) {
  const std::uint16_t bits = FloatToF16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(bits & 0x7c00, 0x7c00);
  EXPECT_NE(bits & 0x03ff, 0);
  EXPECT_TRUE(std::isnan(F16ToFloat(bits)));
}

TEST(F16ToFloatTest, EveryFiniteF16RoundTripsThroughFloat) {
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const auto f16 = static_cast<std::uint16_t>(bits);
    if ((f16 & 0x7c00) == 0x7c00 && (f16 & 0x03ff) != 0) continue;  // NaN
    ASSERT_EQ(FloatToF16(F16ToFloat(f16)), f16) << std::hex << bits;
  }
  EXPECT_EQ(F16ToFloat(0x3c00), 1.0f);
  EXPECT_EQ(F16ToFloat(0x0001), 0x1.0p-24f);
  EXPECT_EQ(F16ToFloat(0x03ff), 0x1.ff8p-15f);
  EXPECT_EQ(F16ToFloat(0xc000), -2.0f);
  EXPECT_EQ(F16ToFloat(0x7c00), std::numeric_limits<float>::infinity());
}

}  // namespace
}  // namespace mei::tools
