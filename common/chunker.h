// Parameter-aware chunking: how a model file is cut into blocks. The formats and their layouts are
// in common/formats/ (model_format.h).
//
// Cutting along tensor boundaries makes a tensor that two models share become the same blocks in
// both, whatever else differs in their files:
//   safetensors  the header (8-byte length + JSON) is one block; then each tensor's byte range,
//                in offset order, is cut into blocks of at most max_block from its first byte.
//                Bytes between tensors go with the preceding tensor; bytes before the first
//                tensor go with the header.
//   GGUF         everything before the first tensor's data (header, metadata, tensor infos,
//                padding) is one block; each tensor's range runs from its offset to the next
//                tensor's (padding included; the last to the end of file) and is cut as above.
//   ONNX, TFLite, NumPy, PyTorch, zip (framing apart)
//                each tensor of at least min_tensor_block bytes is cut into blocks of at most
//                max_block from its first byte, ending at its last byte; each embedded file (a zip
//                member) is cut by its own format, recursively, or by content when compressed;
//                the bytes between them (protobuf and flatbuffer framing, zip headers, pickles,
//                and the tensors under min_tensor_block) are cut by content (FastCDC above its
//                largest chunk), in blocks of their own, so that framing that differs between
//                two exports leaves the tensors' blocks alike.
//   other        files up to single_block_limit are one block; larger ones are cut by FastCDC.
// Layout readers read only headers; content-cut bytes are read once, in max-size windows.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_source.h"
#include "common/errc.h"
#include "common/fastcdc.h"
#include "common/formats/model_format.h"
#include "common/tensor_entry.h"

namespace mei {

// The format's name (ModelFormat::name), or "other": the manifest's `format` field.
[[nodiscard]] std::string_view NameOf(FileFormat format);

// The format a file is chunked as: the one whose suffix ends its path (ModelFormats()), else
// kOther.
[[nodiscard]] FileFormat FormatForPath(std::string_view path);

struct ChunkOptions {
  std::uint64_t max_block = 4ull << 20;
  std::uint64_t single_block_limit = 1ull << 20;
  // Tensors below this many bytes (biases, norms) stay with the framing around them in formats
  // whose framing is apart, so that a model of a thousand small tensors does not become thousands
  // of tiny blocks.
  std::uint64_t min_tensor_block = 4096;
  // Cut every file by content, whatever its format: the baseline that tensor-aware chunking is
  // measured against.
  bool by_content_only = false;
  FastCdcParams cdc;
};

struct BlockExtent {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::uint8_t element_width = 0;  // byte-grouping hint for the codec (ByteGroupingWidth)

  friend bool operator==(const BlockExtent&, const BlockExtent&) = default;
};

struct ChunkPlan {
  // The format that cut the file: kOther when a guessed format did not read it (see fallbacks).
  FileFormat format = FileFormat::kOther;
  std::vector<BlockExtent> blocks;   // contiguous, covering the file exactly, in order
  std::vector<TensorEntry> tensors;  // with first_block and block_count set; sorted by offset
  // Why the file, or files embedded in it, were cut by content rather than by the format their
  // names suggested: one sentence each (e.g. "x.bin was cut by content, not as pytorch: ...").
  std::vector<std::string> fallbacks;
};

// Plans the blocks of `file` as `format`. A file of a claimed format (safetensors, GGUF) that does
// not parse is that format's error (kBadSafetensors, kBadGguf); one of a guessed format is cut by
// content, and the reason is in the plan's fallbacks. Embedded files are always guesses. REQUIRES:
// max_block > 0.
[[nodiscard]] Result<ChunkPlan> PlanChunks(const ByteSource& file, FileFormat format,
                                           const ChunkOptions& options = {});

// Plans the blocks of `file`, whose tensors another file names (a TF.js shard's, from model.json;
// an ONNX external data file's, from the model), with its framing apart, as `format`. kBadModelFile
// when a tensor lies outside the file or overlaps another.
[[nodiscard]] Result<ChunkPlan> PlanChunksAlong(const ByteSource& file, FileFormat format,
                                                std::vector<TensorEntry> tensors,
                                                const ChunkOptions& options = {});

}  // namespace mei
