// Parser for NumPy's .npy files: the magic "\x93NUMPY", a version (1.0, 2.0 or 3.0), a header
// length (2 bytes little-endian in 1.0, 4 bytes after), a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces and a newline,
// then the array's bytes.
//
// The parser trusts nothing: the header must be a dict of exactly those keys, the dtype a plain
// numeric or bool one (object and structured dtypes are refused: their bytes are not a tensor),
// and element count x item size must equal the bytes after the header exactly. Any violation is
// kBadModelFile with a sentence.
#pragma once

#include <cstdint>

#include "common/byte_source.h"
#include "common/errc.h"
#include "common/tensor_entry.h"

namespace mei {

inline constexpr std::uint64_t kMaxNpyHeaderBytes = 1 << 20;

struct NpyArray {
  std::uint64_t data_start = 0;  // first byte of the array: the header's length
  // The array as a tensor named "array"; dtype in safetensors names ("<f4" -> "F32", "<f2" ->
  // "F16", "|u1" -> "U8", "|b1" -> "BOOL", "<i8" -> "I64", ...; a big-endian descr keeps NumPy's
  // own, e.g. ">f4").
  TensorEntry tensor;
  bool fortran_order = false;
};

// Reads and validates `file` as a .npy file. Reads only the header. Thread-safe.
[[nodiscard]] Result<NpyArray> ParseNpy(const ByteSource& file);

}  // namespace mei
