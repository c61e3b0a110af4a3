// Parser for TensorFlow.js models: model.json's `weightsManifest`, which maps the weights onto
// binary shard files (group1-shard1of2.bin, ...).
//
// weightsManifest is an array of groups { "paths": [shard files, relative to model.json],
// "weights": [{ "name", "shape", "dtype", "quantization"? }] }. A group's weights lie end to end
// in the concatenation of its shards, in the order listed; a weight's byte length is its element
// count times the size of its stored dtype (the quantization's dtype when quantized: uint8, uint16,
// float16; else float32, int32, bool, complex64). A weight may cross from one shard into the next.
// String weights have no fixed size: a group that holds one is refused. A weights manifest may
// also be a file of its own (face-api's *-weights_manifest.json): the array alone.
//
// The parser trusts nothing: model.json must be a JSON object (or the array alone) within
// kMaxTfjsModelJsonBytes, every
// field of the expected type, shapes non-negative (at most 254 dimensions) and their products
// without overflow, names non-empty and unique, quantization as tfjs-core decodes it (uint8 and
// uint16 with numbers min and scale, of float32 or int32 weights; float16 of float32 weights),
// shard paths valid relative paths (ValidateFilePath) listed once in the model (at most 65536),
// and the weights of a group must fill its shards exactly (given their sizes). Any violation is
// kBadModelFile with a sentence naming the weight or shard and numbers; kIo from the source
// passes through.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_source.h"
#include "common/errc.h"
#include "common/tensor_entry.h"

namespace mei {

inline constexpr std::uint64_t kMaxTfjsModelJsonBytes = 64ull << 20;

// One shard file and the pieces of weights in it.
struct TfjsShard {
  // Relative to the folder of model.json, '/'-separated, as listed less any leading "./" (tfjs's
  // browser downloads write "./model.weights.bin").
  std::string path;
  std::uint64_t size = 0;
  std::uint64_t group_offset = 0;  // where the shard starts in its group's joined weight bytes
  // The weights' bytes in this shard, sorted by offset (offsets within the shard). A weight that
  // crosses into the next shard appears in both, each piece with the part of its bytes there;
  // both pieces carry the weight's name, dtype and full shape. A weight without bytes lies in the
  // shard where the next byte would be (the last one at the end of its group; in none when its
  // group has no shard).
  std::vector<TensorEntry> tensors;
};

// The size of a shard named by its path (TfjsShard::path), or nullopt when there is no such file
// (then model.json is refused). Called at most once per shard, in the order listed.
using ShardSize = std::function<std::optional<std::uint64_t>(std::string_view path)>;

// Reads `model_json` and maps its weights onto its shards, listed group by group in manifest order.
// dtype uses the safetensors names of the stored type ("F32", "I32", "BOOL", "C64", "U8", "U16",
// "F16"). Thread-safe if `shard_size` is.
[[nodiscard]] Result<std::vector<TfjsShard>> ParseTfjsWeights(const ByteSource& model_json,
                                                              const ShardSize& shard_size);

}  // namespace mei
