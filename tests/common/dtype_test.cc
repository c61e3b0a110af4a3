#include "common/dtype.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace mei {
namespace {

struct DtypeBitsCase {
  std::string_view dtype;
  std::uint32_t bits;
};

constexpr DtypeBitsCase kEveryDtype[] = {
    {"BOOL", 8}, {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8},
    {"I8", 8},   {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"I16", 16},
    {"U16", 16}, {"F16", 16},    {"BF16", 16},   {"I32", 32},    {"U32", 32},
    {"F32", 32}, {"C64", 64},    {"F64", 64},    {"I64", 64},    {"U64", 64},
};

TEST(SafetensorsDtypeBitsTest, EveryDtypeOfTheFormatHasItsWidth) {
  for (const DtypeBitsCase& c : kEveryDtype) {
    SCOPED_TRACE(c.dtype);
    EXPECT_EQ(SafetensorsDtypeBits(c.dtype), std::optional<std::uint32_t>(c.bits));
  }
}

TEST(SafetensorsDtypeBitsTest, UnknownOrMisspelledNamesHaveNoWidth) {
  for (const std::string_view dtype : {"", "f32", "BF8", "F32 ", "Q4_K", "FLOAT", "F8_E4M3FN"}) {
    SCOPED_TRACE(dtype);
    EXPECT_EQ(SafetensorsDtypeBits(dtype), std::nullopt);
  }
}

struct GroupingCase {
  std::string_view dtype;
  std::uint8_t width;
};

TEST(ByteGroupingWidthTest, OnlySixteenAndThirtyTwoBitFloatsAreGrouped) {
  constexpr GroupingCase kCases[] = {
      {"F16", 2},  {"BF16", 2}, {"F32", 4},    {"F64", 0},  {"I16", 0},     {"U16", 0},
      {"I32", 0},  {"U32", 0},  {"U8", 0},     {"BOOL", 0}, {"F8_E4M3", 0}, {"C64", 0},
      {"Q4_K", 0}, {"Q8_0", 0}, {"IQ2_XS", 0}, {"", 0},     {"f16", 0},
  };
  for (const GroupingCase& c : kCases) {
    SCOPED_TRACE(c.dtype);
    EXPECT_EQ(ByteGroupingWidth(c.dtype), c.width);
  }
}

}  // namespace
}  // namespace mei
