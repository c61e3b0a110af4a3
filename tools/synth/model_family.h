// A synthetic but realistic model family for tests, demos and benchmarks.
//
// A base model in safetensors with Llama-like tensor names and shapes and BF16 weights drawn from
// N(0, 0.02), plus config.json and tokenizer.json, and variants that share tensors with it the
// way real derivatives do. Every byte is a function of (seed, size, variant), so two runs with the
// same arguments write identical files, and a tensor that two variants share is byte-identical.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/errc.h"
#include "tools/synth/llama_layout.h"

namespace mei::tools {

// Variant folder names, in the order they are written: the BF16 base; fine-tunes that retrain
// the last quarter of the layers, the attention projections, or the embedding; the base's values
// as F16 and as F32 safetensors; the base's bytes as GGUF; and a model of another line.
inline const std::vector<std::string> kAllVariants = {
    "base", "ft-last", "lora-merged", "v2-embed", "f16", "f32", "gguf", "unrelated"};

struct SynthOptions {
  std::filesystem::path out_dir;
  std::uint64_t size_bytes = 64ull << 20;  // approximate size of the base model's weights file
  std::uint64_t seed = 1;
  std::vector<std::string> variants = kAllVariants;  // a subset of kAllVariants
};

struct VariantReport {
  std::string variant;                        // folder name
  std::vector<std::string> files;             // written files, relative to the variant folder
  std::uint64_t bytes = 0;                    // total size of the written files
  std::vector<std::string> shared_with_base;  // tensor names byte-identical to the base's
  std::vector<std::string> changed;           // tensor names whose bytes differ from the base's
};

// Writes one folder per variant under options.out_dir (created if missing; existing files of the
// same names are replaced atomically). kBadRequest for an unknown variant, an empty list or a size
// outside [kMinWeightBytes, kMaxWeightBytes]; kIo on write errors.
[[nodiscard]] Result<std::vector<VariantReport>> WriteModelFamily(const SynthOptions& options);

// The dimensions WriteModelFamily gives the base model for `size_bytes` (clamped to the supported
// range). Thread-safe.
[[nodiscard]] LlamaDims BaseModelDims(std::uint64_t size_bytes);

}  // namespace mei::tools
