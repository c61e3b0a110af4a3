// Parser for ONNX models: every tensor a ModelProto holds, read from the protobuf wire format
// directly (only the few fields involved; no generated code).
//
// Tensors (TensorProto { dims (1), data_type (2), name (8), raw_data (9), external_data (13),
// data_location (14) }, fields in any order) sit in graph.initializer (GraphProto field 5) and in
// nodes' attributes (NodeProto field 5): an AttributeProto's t (5) and tensors (10), whatever its
// type says, e.g. a Constant node's `value`. Graphs sit in ModelProto.graph (7), in attributes'
// g (6) and graphs (11), e.g. an If node's then_branch, and in training_info (20) initialization
// and algorithm; a function (ModelProto.functions, 25) holds nodes (7) and attribute defaults
// (11). The parser walks them all, subgraphs at most 16 graphs deep.
//
// A tensor whose bytes are in the file is listed at its payload's offset: raw_data (also when
// empty, for a tensor of no elements), or one packed float_data (4) or double_data (10) field,
// whose payload is the little-endian elements. One whose data_location is EXTERNAL names another
// file (external_data's `location`, `offset`, `length`) and is listed apart. Not listed: STRING
// tensors, values in int32_data, int64_data or uint64_data (varints, not the tensor's bytes),
// float/double values split over several fields, tensors with no values, sparse tensors. A field
// that protobuf merges (a second t in one attribute) is merged as protobuf merges it. Payloads are
// skipped, never read: the parser reads the framing only, so a 2 GB model costs a few reads.
//
// Names. An initializer of the main graph keeps its name. Any other tensor has a local name: an
// initializer's name; for an attribute's tensor its own name, else (for a Constant node's value)
// the node's first output, else "<node>/<attribute>" ("/<i>" added for the i-th of `tensors`).
// A node is called by its name, else its first output, else "<op_type>#<index in its graph>"; a
// graph by the path that leads to it ("If_0/then_branch", "Scan_1/bodies/0" for the first of
// `graphs`, "training_info/0/algorithm"); a function "<domain>.<name>:<overload>", empty parts
// left out ("function#<index>" when nameless). A tensor is listed under its local name when no
// other listed tensor has that name; else as "<graph>/<local name>"
// ("If_0/else_branch/conv.weight") when no other has that; else, for an attribute's tensor, as
// "<graph>/<node>/<attribute>[/<i>]".
//
// The parser trusts nothing (see common/internal/protobuf_reader.h for the wire format): fields
// it reads must have their wire type; element count x element size must equal the payload's
// length (4-bit and 2-bit types pack 2 and 4 to a byte); every initializer needs a name; names
// (of tensors, nodes, attributes, functions) are UTF-8 of at most 64 KiB; the listed names must be
// unique, and those built for tensors outside the main graph's initializers total at most 64 MiB;
// every tensor needs a known data_type; segments, and values in two fields or both inline and
// external, are refused; there are at most 2^20 tensors of at most 64 dims. Any violation is
// kBadModelFile with a sentence naming the tensor and numbers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/byte_source.h"
#include "common/errc.h"
#include "common/tensor_entry.h"

namespace mei {

// A tensor stored in another file (data_location EXTERNAL).
struct OnnxExternalTensor {
  std::string name;
  std::string dtype;  // as in TensorEntry
  std::vector<std::uint64_t> shape;
  // The file, relative to the model's folder, as written (non-empty UTF-8). Not checked as a
  // path: a caller that opens it must refuse absolute paths and ".." itself.
  std::string location;
  std::uint64_t offset = 0;             // 0 when external_data has no "offset"
  std::optional<std::uint64_t> length;  // unset when external_data has no "length"; else the
                                        // tensor's byte size
};

struct OnnxModel {
  // Tensors whose bytes are in this file, sorted by offset, not overlapping. dtype uses the
  // safetensors names where ONNX has the same type (FLOAT -> "F32", FLOAT16 -> "F16", BFLOAT16 ->
  // "BF16", INT8 -> "I8", UINT8 -> "U8", INT64 -> "I64", DOUBLE -> "F64", BOOL -> "BOOL",
  // COMPLEX64 -> "C64", FLOAT8E4M3FN -> "F8_E4M3", FLOAT8E5M2 -> "F8_E5M2", FLOAT8E8M0 ->
  // "F8_E8M0", FLOAT4E2M1 -> "F4", ...), and ONNX's own upper-case name otherwise ("COMPLEX128",
  // "FLOAT8E4M3FNUZ", "FLOAT8E5M2FNUZ", "UINT4", "INT4", "UINT2", "INT2").
  std::vector<TensorEntry> tensors;
  std::vector<OnnxExternalTensor> external;  // in the order of their TensorProtos in the file
};

// Reads and validates `file` as an ONNX ModelProto, which must have a graph. Thread-safe.
[[nodiscard]] Result<OnnxModel> ParseOnnx(const ByteSource& file);

}  // namespace mei
