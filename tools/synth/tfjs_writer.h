// Writes synthetic tensors as a TensorFlow.js graph model, laid out as tensorflowjs_converter lays
// one out: model.json (format "graph-model", one Const node per weight, a weightsManifest of one
// group) and the group's bytes, the tensors back to back in order, cut into shards
// group1-shard1ofN.bin ... of `shard_bytes` each (the last one shorter), so a tensor may cross
// from one shard into the next. N is 0 when there are no bytes.
//
// TF.js has no bfloat16: BF16 tensors are written as float32 (the same values, widened exactly).
// F16 tensors are float32 weights quantized to float16 ("quantization": {"dtype": "float16"}), as
// the converter's --quantize_float16 writes them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "common/errc.h"
#include "tools/synth/llama_layout.h"
#include "tools/synth/tensor_data.h"

namespace mei::tools {

inline constexpr std::uint64_t kTfjsShardBytes = 4 << 20;  // the converter's default

struct TfjsWriteOptions {
  std::uint64_t shard_bytes = kTfjsShardBytes;  // REQUIRES: > 0
};

// How a TF.js model stores tensors of `dtype`: kBf16 as kF32, the others as themselves.
[[nodiscard]] StoredDtype TfjsStoredDtype(StoredDtype dtype);

// The shard names of a group of `group_bytes`: "group1-shard1ofN.bin" ... REQUIRES:
// shard_bytes > 0. Thread-safe.
[[nodiscard]] std::vector<std::string> TfjsShardNames(std::uint64_t group_bytes,
                                                      std::uint64_t shard_bytes);

// The bytes of all of `tensors` stored as `dtype` (TfjsStoredDtype applied). Thread-safe.
[[nodiscard]] std::uint64_t TfjsGroupBytes(std::span<const TensorSpec> tensors, StoredDtype dtype);

// model.json (one line) for `tensors` in this order stored as `dtype`, in shards of
// `options.shard_bytes`. Thread-safe.
[[nodiscard]] std::string TfjsModelJson(std::span<const TensorSpec> tensors, StoredDtype dtype,
                                        const TfjsWriteOptions& options);

// Writes model.json and its shards into the folder `dir` (which must exist), each file
// atomically, the shards first, in bounded memory. Returns the names of the files written,
// model.json first; kIo on write errors.
[[nodiscard]] Result<std::vector<std::string>> WriteTfjsModel(const std::filesystem::path& dir,
                                                              std::span<const TensorSpec> tensors,
                                                              StoredDtype dtype,
                                                              const TfjsWriteOptions& options);

}  // namespace mei::tools
