#include "common/byte_size.h"

#include <gtest/gtest.h>

namespace mei {
namespace {

TEST(ByteSizeTest, ParsesUnits) {
  struct Case {
    const char* text;
    std::uint64_t bytes;
  };
  const Case cases[] = {{"0", 0},
                        {"4096", 4096},
                        {"12B", 12},
                        {"64MiB", 64 << 20},
                        {"64M", 64 << 20},
                        {"500MB", 500'000'000},
                        {"1GiB", 1ull << 30},
                        {"4GiB", 4ull << 30},
                        {"2KB", 2000},
                        {"1TiB", 1ull << 40},
                        {"18446744073709551615", UINT64_MAX}};
  for (const Case& c : cases) {
    auto parsed = ParseByteSize(c.text);
    ASSERT_TRUE(parsed) << c.text;
    EXPECT_EQ(*parsed, c.bytes) << c.text;
  }
}

TEST(ByteSizeTest, RejectsGarbageAndOverflow) {
  for (const char* text : {"", "MiB", "-1", "1.5GiB", "12 MiB", "1XB", "1mib",
                           "18446744073709551616", "20000000TiB"}) {
    auto parsed = ParseByteSize(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().code, Errc::kBadRequest);
  }
}

TEST(ByteSizeTest, FormatsWithBinaryUnits) {
  EXPECT_EQ(FormatByteSize(512), "512 B");
  EXPECT_EQ(FormatByteSize(1536), "1.50 KiB");
  EXPECT_EQ(FormatByteSize(64ull << 20), "64.0 MiB");
  EXPECT_EQ(FormatByteSize(3ull << 30), "3.00 GiB");
}

}  // namespace
}  // namespace mei
