// Parser for GGUF (llama.cpp's model format), versions 2 and 3, little-endian.
//
// Layout: magic "GGUF", u32 version, u64 tensor count, u64 metadata count, metadata key/values
// (string key, u32 value type, value; arrays are u32 element type + u64 count + elements, and may
// nest), tensor infos (string name, u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset
// relative to the data section), padding to `general.alignment` (default 32), then the data
// section. Every count and length is checked against the bytes left in the file before anything
// is allocated, so a file that claims 2^60 tensors is an error, not an allocation. Tensor offsets
// must be multiples of the alignment, sorted-able without overlap, and inside the file; each
// tensor's byte size follows from its ggml type and shape. Violations are kBadGguf.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/byte_source.h"
#include "common/errc.h"
#include "common/tensor_entry.h"

namespace mei {

enum class GgufType : std::uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// One metadata value. Integers are widened (unsigned to uint64, signed to int64), floats to
// double; `type` keeps what the file said. An array keeps its element type in `element_type`.
struct GgufValue {
  GgufType type = GgufType::kUint8;
  GgufType element_type = GgufType::kUint8;  // meaningful only when type == kArray
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string, std::vector<GgufValue>>
      value;
};

struct GgufFile {
  std::uint32_t version = 0;
  std::uint64_t alignment = 32;
  std::uint64_t data_start = 0;                             // absolute offset of the data section
  std::vector<std::pair<std::string, GgufValue>> metadata;  // in file order
  std::vector<TensorEntry> tensors;  // sorted by offset; offsets absolute; dtype = ggml type name
};

// Reads and validates everything before the data section of `file`. Thread-safe.
[[nodiscard]] Result<GgufFile> ParseGguf(const ByteSource& file);

// Name of a ggml tensor type ("F32", "BF16", "Q4_K", ...), or empty for an unknown number.
[[nodiscard]] std::string_view GgmlTypeName(std::uint32_t ggml_type);

}  // namespace mei
