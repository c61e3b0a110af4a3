// Writes TensorFlow Lite models (schema version 3, file identifier "TFL3"): a flatbuffer Model
// { version, operator_codes, subgraphs, description, buffers, metadata } whose buffers hold the
// tensors' bytes, as the TFLite converter writes them: buffer 0 the empty sentinel, each constant
// tensor's data 16-byte aligned, a "min_runtime_version" metadata buffer. A buffer's data is either
// its `data` vector inside the flatbuffer or, as the converter stores models over 2 GB, appended
// after the flatbuffer at a 16-byte aligned `offset` with its `size` (and "buffer_location"
// metadata saying "outside flatbuffers").
//
// The file is laid out front to back, in the converter's order: root offset, "TFL3", the Model's
// vtable at byte 8 and the Model table, the metadata, the buffers from the last to buffer 0, each
// Buffer table followed by its data, then the description, the subgraphs and the operator codes
// (identical vtables shared); outside data last. The layout is computed from the buffers' sizes
// alone, so that mei-synth can stream gigabytes of data into it. One encoder makes every TFLite
// byte here: WriteTflite streams synthetic weights through it; tests and fuzz seeds build small
// models, with any field set to what they need (a hostile offset, a bad name), through
// EncodeTflite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/errc.h"
#include "tools/synth/llama_layout.h"
#include "tools/synth/tensor_data.h"

namespace mei::tools {

// TensorType numbers of the schema.
inline constexpr std::int8_t kTfliteFloat32 = 0;
inline constexpr std::int8_t kTfliteFloat16 = 1;
inline constexpr std::int8_t kTfliteInt32 = 2;
inline constexpr std::int8_t kTfliteUint8 = 3;
inline constexpr std::int8_t kTfliteString = 5;
inline constexpr std::int8_t kTfliteInt8 = 9;
inline constexpr std::int8_t kTfliteBfloat16 = 18;

struct TfliteTensor {
  std::string name{};  // empty: no name field
  std::vector<std::int32_t> shape{};
  std::int8_t type = kTfliteFloat32;
  std::uint32_t buffer = 0;  // index into TfliteModel::buffers; 0: no data
};

struct TfliteOperator {
  std::uint32_t opcode_index = 0;  // index into TfliteModel::operator_codes
  std::vector<std::int32_t> inputs{};
  std::vector<std::int32_t> outputs{};
};

struct TfliteSubgraph {
  std::vector<TfliteTensor> tensors{};
  std::vector<std::int32_t> inputs{};
  std::vector<std::int32_t> outputs{};
  std::vector<TfliteOperator> operators{};
  std::string name{};
};

struct TfliteBuffer {
  std::uint64_t bytes = 0;  // length of its data; 0 for an empty buffer
  std::string contents{};   // its data when known here; otherwise the caller supplies it
  bool outside = false;     // appended after the flatbuffer, found by offset and size
  // Written as given in place of the offset and size the layout computes (tests); an inside
  // buffer gets these fields only when they are set.
  std::optional<std::uint64_t> offset{};
  std::optional<std::uint64_t> size{};
};

// A buffer holding `contents` inside the flatbuffer.
[[nodiscard]] TfliteBuffer TfliteBufferOf(std::string contents);

struct TfliteMetadata {
  std::string name{};
  std::uint32_t buffer = 0;
};

struct TfliteModel {
  std::uint32_t version = 3;
  std::vector<std::int32_t> operator_codes{};  // BuiltinOperator numbers (FULLY_CONNECTED = 9, ...)
  std::vector<TfliteSubgraph> subgraphs{};
  std::string description{};  // empty: no description field
  std::vector<TfliteBuffer> buffers{};
  std::vector<TfliteMetadata> metadata{};  // empty: no metadata field
};

// One piece of the file, in order: bytes the encoder made (tables, vectors, padding, the length
// prefix of a data vector), or the data of model.buffers[*buffer], which the caller supplies.
struct TflitePiece {
  std::string bytes{};
  std::optional<std::size_t> buffer{};
};

// Where an object went: its first byte (a table's soffset, a vector's or string's length), and
// the uoffset that points at it (0 for the Model, which the root offset at byte 0 points at).
struct TflitePlacement {
  std::uint64_t object = 0;
  std::uint64_t reference = 0;
};

struct TfliteLayout {
  std::vector<TflitePiece> pieces{};
  std::uint64_t file_bytes = 0;
  std::vector<std::uint64_t> data_offsets{};  // per buffer: where its data starts (0 when empty)
  // By path: "model", "model#vtable", "buffers", "buffers[2]", "buffers[2].data",
  // "subgraphs[0].tensors[1]", "subgraphs[0].tensors[1].name", "metadata[0].name", ... (a vtable
  // under the path of the first table that uses it).
  std::map<std::string, TflitePlacement> objects{};
};

// Lays out `model`. REQUIRES: every buffer's contents are empty or `bytes` long; the flatbuffer
// (everything but the outside buffers' data) is under 2 GiB. Thread-safe.
[[nodiscard]] TfliteLayout LayOutTflite(const TfliteModel& model);

// The whole file of `model`, buffers without contents filled with TflitePatternByte. For tests and
// fuzz seeds; REQUIRES as LayOutTflite. Thread-safe.
[[nodiscard]] std::string EncodeTflite(const TfliteModel& model);

// Byte `i` of the data EncodeTflite gives buffer `buffer` when it has no contents.
[[nodiscard]] char TflitePatternByte(std::size_t buffer, std::uint64_t i);

// A model as small as the converter makes: operator FULLY_CONNECTED, one subgraph "main" with an
// activation "input" [1, 3] and three constants: "dense/kernel" FLOAT32 [2, 3] in buffer 1 (24
// bytes), "quantized" INT8 [4] in buffer 2 (4 bytes), "half" FLOAT16 [3] in buffer 3 (6 bytes);
// description "small". For tests and fuzz seeds to vary. Thread-safe.
[[nodiscard]] TfliteModel SmallTfliteModel();

struct TfliteWriteOptions {
  std::string description = "mei-synth";
  // Store the weights after the flatbuffer (offset/size) even when it would stay under 2 GiB;
  // larger models are always stored so, as the converter does.
  bool buffers_outside = false;
};

// The model WriteTflite writes for `tensors` as `dtype`: one subgraph "main" with a tensor per
// weight (its name, shape, type and buffer i + 1) plus an INT32 input and a FLOAT32 output, an
// operator per weight (GATHER for the embedding, MUL for norms, FULLY_CONNECTED otherwise), then
// the buffers [sentinel, weights..., metadata]. Weight buffers have no contents: WriteTflite
// streams them. REQUIRES: every dimension fits in an int32. Thread-safe.
[[nodiscard]] TfliteModel TfliteModelOf(std::span<const TensorSpec> tensors, StoredDtype dtype,
                                        const TfliteWriteOptions& options);

// Writes TfliteModelOf(tensors, dtype, options) to `path`, atomically and in bounded memory.
// Returns the file's size; kBadRequest when a dimension does not fit in an int32, kIo on write
// errors.
[[nodiscard]] Result<std::uint64_t> WriteTflite(const std::filesystem::path& path,
                                                std::span<const TensorSpec> tensors,
                                                StoredDtype dtype,
                                                const TfliteWriteOptions& options = {});

}  // namespace mei::tools
