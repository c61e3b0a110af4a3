// Parser for TensorFlow Lite models: the flatbuffer's buffers, which hold the constant tensors.
//
// Model (root table) -> buffers: [Buffer { data: [ubyte], offset: ulong, size: ulong }], and
// subgraphs[].tensors[] { shape, type, buffer, name } naming them. A buffer's bytes are either
// its `data` vector inside the flatbuffer or, in models over 2 GB (and in those written that
// way), `size` bytes at `offset` (when above 1; 1 is the converter's placeholder) from the start of
// the file, after the flatbuffer. Buffer 0 is the empty sentinel and is not read. Each other
// non-empty buffer is one tensor, named and typed by the first tensor (in subgraph order) that
// refers to it; one no tensor refers to is named after the metadata entry that points at it
// ("min_runtime_version", "TFLITE_METADATA"), or else "buffer N", with dtype "U8". Buffers with
// identical byte ranges (the converter stores equal constants once) are one tensor.
//
// The parser trusts nothing: the file identifier "TFL3", schema version 3, every uoffset, vtable,
// field and vector length is checked against the file before it is followed; buffers must lie
// inside the file and not overlap; names must be UTF-8. It reads only the flatbuffer's tables, a
// page at a time, never the buffers' data, and at most 2^20 tables. Any violation is
// kBadModelFile with a sentence naming the table (buffer 3, tensor 5 of subgraph 0) and numbers.
#pragma once

#include <vector>

#include "common/byte_source.h"
#include "common/errc.h"
#include "common/tensor_entry.h"

namespace mei {

// The non-empty buffers of `file`, as tensors sorted by offset; dtype uses the safetensors names
// where TFLite has the same type (FLOAT32 -> "F32", FLOAT16 -> "F16", BFLOAT16 -> "BF16", INT8 ->
// "I8", UINT8 -> "U8", INT32 -> "I32", INT64 -> "I64", BOOL -> "BOOL", FLOAT8_E4M3FN ->
// "F8_E4M3", ...), TFLite's own name otherwise ("STRING", whose buffer holds TFLite's string
// encoding, "INT4", "COMPLEX128", ...; "TENSORTYPE_N" for a number the schema does not know yet);
// shape is the referring tensor's. Thread-safe.
[[nodiscard]] Result<std::vector<TensorEntry>> ParseTflite(const ByteSource& file);

}  // namespace mei
