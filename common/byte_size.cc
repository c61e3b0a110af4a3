#include "common/byte_size.h"

#include <fmt/format.h>

#include <array>
#include <utility>

namespace mei {

Result<std::uint64_t> ParseByteSize(std::string_view text) {
  auto bad = [&] {
    return Error{Errc::kBadRequest,
                 fmt::format("\"{}\" is not a byte size such as 4096, 64MiB or 1GB", text)};
  };
  std::size_t digits = 0;
  std::uint64_t value = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    const std::uint64_t digit = static_cast<std::uint64_t>(text[digits] - '0');
    if (value > (UINT64_MAX - digit) / 10) return bad();
    value = value * 10 + digit;
    ++digits;
  }
  if (digits == 0) return bad();
  static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 14> kUnits = {{
      {"", 1},
      {"B", 1},
      {"K", 1ull << 10},
      {"KiB", 1ull << 10},
      {"KB", 1000},
      {"M", 1ull << 20},
      {"MiB", 1ull << 20},
      {"MB", 1000'000},
      {"G", 1ull << 30},
      {"GiB", 1ull << 30},
      {"GB", 1000'000'000},
      {"T", 1ull << 40},
      {"TiB", 1ull << 40},
      {"TB", 1000'000'000'000},
  }};
  const std::string_view unit = text.substr(digits);
  for (const auto& [name, scale] : kUnits) {
    if (unit != name) continue;
    if (value > UINT64_MAX / scale) return bad();
    return value * scale;
  }
  return bad();
}

std::string FormatByteSize(std::uint64_t bytes) {
  static constexpr std::array<std::string_view, 5> kUnits = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes) / 1024;
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < kUnits.size()) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.{}f} {}", value, value < 10 ? 2 : value < 100 ? 1 : 0, kUnits[unit]);
}

}  // namespace mei
