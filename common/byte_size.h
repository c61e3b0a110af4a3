// Human byte sizes on command lines and in reports: "64MiB", "1GiB", "500MB", "4096".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/errc.h"

namespace mei {

// Parses a whole number with an optional unit: B, KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB
// (powers of 1024), K/M/G/T (taken as binary). kBadRequest on anything else or on overflow.
[[nodiscard]] Result<std::uint64_t> ParseByteSize(std::string_view text);

// "1.50 GiB", "12.0 MiB", "512 B": binary units, three significant digits.
[[nodiscard]] std::string FormatByteSize(std::uint64_t bytes);

}  // namespace mei
