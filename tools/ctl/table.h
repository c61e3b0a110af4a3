// Aligned text tables for a terminal, and the formats of the cells meictl puts in them.
//
//   MODEL      REVISION  SIZE      COMPLETE
//   acme/base  main      16.0 MiB    100.0%
//
// Columns are as wide as their widest cell (counted in UTF-8 characters) and two spaces apart;
// the last column is not padded, so no line ends in spaces. Plain value; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mei::tools {

enum class Align { kLeft, kRight };

struct Column {
  std::string header;  // printed as given ("MODEL")
  Align align = Align::kLeft;
};

class Table {
 public:
  explicit Table(std::vector<Column> columns);

  // REQUIRES: cells.size() == the number of columns.
  void AddRow(std::vector<std::string> cells);

  [[nodiscard]] bool empty() const { return rows_.empty(); }

  // The header line and one line per row, each starting with `indent` and ending in '\n'.
  [[nodiscard]] std::string Render(std::string_view indent = "") const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// "97.5%" for 0.975; one decimal. Thread-safe.
[[nodiscard]] std::string FormatPercent(double ratio);

// "16.0 MiB (1.6%)": a byte size and its share of `total` ("16.0 MiB" when total is 0).
[[nodiscard]] std::string FormatShare(std::uint64_t bytes, std::uint64_t total);

// The first 12 characters of a commit, as `git log --oneline` shortens; "-" for "".
[[nodiscard]] std::string ShortCommit(std::string_view commit);

// "1 model", "3 models", "0 models": `count` and `noun`, plural with an "s" unless count is 1.
[[nodiscard]] std::string CountOf(std::uint64_t count, std::string_view noun);

// "yes" or "no".
[[nodiscard]] std::string_view YesNo(bool value);

}  // namespace mei::tools
