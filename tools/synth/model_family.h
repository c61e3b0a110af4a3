// A synthetic but realistic model family for tests, demos and benchmarks.
//
// A base model in safetensors with Llama-like tensor names and shapes and BF16 weights drawn from
// N(0, 0.02), plus config.json and tokenizer.json, and variants that share tensors with it the
// way real derivatives do, some in other file formats. Every byte is a function of (seed, size,
// variant), so two runs with the same arguments write identical files, and a tensor that two
// variants share is byte-identical.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/errc.h"
#include "tools/synth/llama_layout.h"

namespace mei::tools {

// The variants written when none are named, in the order they are written: the BF16 base;
// fine-tunes that retrain the last quarter of the layers, the attention projections, or the
// embedding; the base's values as F16 and as F32 safetensors; the base's bytes as GGUF; and a
// model of another line.
inline const std::vector<std::string> kDefaultVariants = {
    "base", "ft-last", "lora-merged", "v2-embed", "f16", "f32", "gguf", "unrelated"};

// The family in on-device formats, in pairs: "<format>" holds the base's tensors and
// "<format>-ft" lora-merged's (the attention projections of every layer retrained: k of n tensors,
// spread through the file, as a merged LoRA changes them), in the base's order, as model.onnx (BF16
// initializers), model.tflite (BF16 buffers), pytorch_model.bin (a torch.save zip of BF16
// storages), model.npz (BF16 bit patterns as '<u2') and model.json with group1-shard*.bin (TF.js,
// which widens BF16 to F32). An ONNX fine-tune names a later producer_version than its base, as a
// re-export does, so each of its initializers lies two bytes later in the file.
inline const std::vector<std::string> kFormatVariants = {
    "onnx",       "onnx-ft", "tflite", "tflite-ft", "pytorch",
    "pytorch-ft", "npz",     "npz-ft", "tfjs",      "tfjs-ft"};

// Every variant, in the order they are written: kDefaultVariants, then kFormatVariants.
inline const std::vector<std::string> kAllVariants = [] {
  std::vector<std::string> all = kDefaultVariants;
  all.insert(all.end(), kFormatVariants.begin(), kFormatVariants.end());
  return all;
}();

struct SynthOptions {
  std::filesystem::path out_dir;
  std::uint64_t size_bytes = 64ull << 20;  // approximate size of the base model's weights file
  std::uint64_t seed = 1;
  std::vector<std::string> variants = kDefaultVariants;  // a subset of kAllVariants
};

// What a variant holds, against the variant it derives from. Each tensor name is in exactly one
// of shared_with_base and changed; a tensor is shared when the bytes its file stores for it (its
// data, wherever the format puts it) equal those `base_variant`'s file stores for it.
struct VariantReport {
  std::string variant;                        // folder name
  std::vector<std::string> files;             // written files, relative to the variant folder
  std::uint64_t bytes = 0;                    // total size of the written files
  std::string base_variant;                   // "base", or for "<format>-ft" "<format>"
  std::vector<std::string> shared_with_base;  // tensor names byte-identical to base_variant's
  std::vector<std::string> changed;           // tensor names whose bytes differ from its
};

// Writes one folder per variant under options.out_dir (created if missing; existing files of the
// same names are replaced atomically, and shards of an earlier TF.js model that the new
// model.json does not list are removed). kBadRequest for an unknown variant, an empty list or a
// size outside [kMinWeightBytes, kMaxWeightBytes]; kIo on write errors.
[[nodiscard]] Result<std::vector<VariantReport>> WriteModelFamily(const SynthOptions& options);

// The dimensions WriteModelFamily gives the base model for `size_bytes` (clamped to the supported
// range). Thread-safe.
[[nodiscard]] LlamaDims BaseModelDims(std::uint64_t size_bytes);

}  // namespace mei::tools
