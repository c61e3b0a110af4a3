// Parser for the safetensors format: an 8-byte little-endian header length N, N bytes of JSON
// mapping tensor names to {dtype, shape, data_offsets: [begin, end)} (offsets relative to the
// byte after the header) and an optional "__metadata__" object of string values, then the data.
//
// The parser trusts nothing: the header length must fit the file and kMaxSafetensorsHeaderBytes,
// the JSON must be an object of well-formed entries, every dtype must be known, element count x
// dtype bits must equal the byte length exactly, and the data ranges must lie inside the file
// without overlapping. Gaps between tensors are allowed (the chunker gives them to the preceding
// tensor). Any violation is kBadSafetensors with a sentence that names the tensor and numbers.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/byte_source.h"
#include "common/errc.h"
#include "common/tensor_entry.h"

namespace mei {

inline constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct SafetensorsHeader {
  std::uint64_t data_start = 0;  // 8 + header length: first byte of the data section
  std::vector<std::pair<std::string, std::string>> metadata;  // "__metadata__", in file order
  std::vector<TensorEntry> tensors;  // sorted by offset; offsets absolute; first_block unset
};

// Reads and validates the header of `file`. Reads only the header bytes. Thread-safe.
[[nodiscard]] Result<SafetensorsHeader> ParseSafetensors(const ByteSource& file);

}  // namespace mei
