// Parameter-aware chunking: how a model file is cut into blocks. The formats with a tensor map are
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
//   other        files up to single_block_limit are one block; larger ones are cut by FastCDC.
// Header-only formats read only their header; "other" files are read once, in max-size windows.
#pragma once

#include <cstdint>
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
  FastCdcParams cdc;
};

struct BlockExtent {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::uint8_t element_width = 0;  // byte-grouping hint for the codec (ByteGroupingWidth)

  friend bool operator==(const BlockExtent&, const BlockExtent&) = default;
};

struct ChunkPlan {
  FileFormat format = FileFormat::kOther;
  std::vector<BlockExtent> blocks;   // contiguous, covering the file exactly, in order
  std::vector<TensorEntry> tensors;  // with first_block and block_count set
};

// Plans the blocks of `file` as `format`. A file of a format with a tensor map that does not parse
// is that format's error (kBadSafetensors, kBadGguf), never a silent fallback. REQUIRES:
// max_block > 0.
[[nodiscard]] Result<ChunkPlan> PlanChunks(const ByteSource& file, FileFormat format,
                                           const ChunkOptions& options = {});

}  // namespace mei
