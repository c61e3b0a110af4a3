#include "tools/ctl/table.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>

#include "common/byte_size.h"

namespace mei::tools {
namespace {

constexpr std::size_t kGap = 2;
constexpr std::size_t kShortCommit = 12;

// Characters on a terminal: every byte but UTF-8 continuation bytes.
std::size_t DisplayWidth(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

}  // namespace

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::AddRow(std::vector<std::string> cells) {
  assert(cells.size() == columns_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render(std::string_view indent) const {
  std::vector<std::size_t> widths;
  for (const Column& column : columns_) widths.push_back(DisplayWidth(column.header));
  for (const auto& row : rows_) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], DisplayWidth(row[c]));
    }
  }
  std::string text;
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string out(indent);
    for (std::size_t c = 0; c < cells.size(); ++c) {
      const std::size_t pad = widths[c] - DisplayWidth(cells[c]);
      const bool last = c + 1 == cells.size();
      if (columns_[c].align == Align::kRight) out.append(pad, ' ');
      out += cells[c];
      if (!last && columns_[c].align == Align::kLeft) out.append(pad, ' ');
      if (!last) out.append(kGap, ' ');
    }
    text += out + "\n";
  };
  std::vector<std::string> headers;
  for (const Column& column : columns_) headers.push_back(column.header);
  line(headers);
  for (const auto& row : rows_) line(row);
  return text;
}

std::string FormatPercent(double ratio) { return fmt::format("{:.1f}%", ratio * 100.0); }

std::string FormatShare(std::uint64_t bytes, std::uint64_t total) {
  if (total == 0) return FormatByteSize(bytes);
  return fmt::format("{} ({})", FormatByteSize(bytes),
                     FormatPercent(static_cast<double>(bytes) / static_cast<double>(total)));
}

std::string ShortCommit(std::string_view commit) {
  if (commit.empty()) return "-";
  return std::string(commit.substr(0, kShortCommit));
}

std::string CountOf(std::uint64_t count, std::string_view noun) {
  return fmt::format("{} {}{}", count, noun, count == 1 ? "" : "s");
}

std::string_view YesNo(bool value) { return value ? "yes" : "no"; }

}  // namespace mei::tools
