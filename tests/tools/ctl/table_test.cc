#include "tools/ctl/table.h"

#include <gtest/gtest.h>

namespace mei::tools {
namespace {

TEST(CtlTableTest, PadsEveryColumnToItsWidestCellAndLeavesNoTrailingSpace) {
  Table table({{"MODEL"}, {"SIZE", Align::kRight}, {"PLANNED"}});
  table.AddRow({"acme/base", "16.0 MiB", "no"});
  table.AddRow({"acme/chat-7b", "512 B", "yes"});
  EXPECT_EQ(table.Render(),
            "MODEL             SIZE  PLANNED\n"
            "acme/base     16.0 MiB  no\n"
            "acme/chat-7b     512 B  yes\n");
}

TEST(CtlTableTest, RightAlignedLastColumnIsPaddedOnTheLeftOnly) {
  Table table({{"NODE"}, {"PINNED", Align::kRight}});
  table.AddRow({"edge-a", "5"});
  table.AddRow({"edge-b", "12345678"});
  EXPECT_EQ(table.Render("  "),
            "  NODE      PINNED\n"
            "  edge-a         5\n"
            "  edge-b  12345678\n");
}

TEST(CtlTableTest, CountsUtf8CharactersNotBytes) {
  Table table({{"A"}, {"B"}});
  table.AddRow({"caf\xC3\xA9", "x"});  // "café": 5 bytes, 4 characters
  table.AddRow({"tea", "y"});
  EXPECT_EQ(table.Render(),
            "A     B\n"
            "caf\xC3\xA9  x\n"
            "tea   y\n");
}

TEST(CtlTableTest, WithoutRowsRendersTheHeaderAndIsEmpty) {
  Table table({{"NODE"}, {"LINES", Align::kRight}});
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.Render(), "NODE  LINES\n");
}

TEST(CtlTableTest, CellFormats) {
  struct Case {
    std::string got;
    std::string want;
  };
  const Case cases[] = {
      {FormatPercent(0), "0.0%"},
      {FormatPercent(0.975), "97.5%"},
      {FormatPercent(1), "100.0%"},
      {FormatShare(16ull << 20, 1ull << 30), "16.0 MiB (1.6%)"},
      {FormatShare(512, 0), "512 B"},
      {ShortCommit("0123456789abcdef0123"), "0123456789ab"},
      {ShortCommit("abc"), "abc"},
      {ShortCommit(""), "-"},
      {CountOf(1, "model"), "1 model"},
      {CountOf(0, "model"), "0 models"},
      {CountOf(143, "block"), "143 blocks"},
      {std::string(YesNo(true)), "yes"},
      {std::string(YesNo(false)), "no"},
  };
  for (const Case& c : cases) EXPECT_EQ(c.got, c.want);
}

}  // namespace
}  // namespace mei::tools
