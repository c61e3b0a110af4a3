// The shape of a Llama-architecture model: its dimensions, chosen to fill a byte budget, and the
// tensors that Hugging Face (safetensors) and llama.cpp (GGUF) name for it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/synth/weights.h"

namespace mei::tools {

struct LlamaDims {
  std::uint64_t vocab = 0;
  std::uint64_t hidden = 0;        // a multiple of 64
  std::uint64_t intermediate = 0;  // about 2.6875 x hidden, a multiple of 64
  std::uint64_t layers = 0;
  std::uint64_t heads = 0;
  std::uint64_t kv_heads = 0;
  std::uint64_t context = 0;  // max_position_embeddings

  [[nodiscard]] std::uint64_t Parameters() const;

  friend bool operator==(const LlamaDims&, const LlamaDims&) = default;
};

// How a model line scales with its budget: `depth` is the layer count the budget would buy if it
// held no embeddings (so larger means narrower); the vocabulary is `max_vocab` unless embeddings
// would then take more than `embedding_share` of the budget, in which case it shrinks to fit.
struct LlamaShape {
  double depth = 24.0;
  std::uint64_t max_vocab = 32000;
  double embedding_share = 2.0 / 3.0;
  std::uint64_t context = 2048;
};

inline constexpr std::uint64_t kMinWeightBytes = 1ull << 20;
inline constexpr std::uint64_t kMaxWeightBytes = 1ull << 40;

// Dimensions whose BF16 weights take about `weight_bytes` (within half a layer; at least two
// layers). REQUIRES: kMinWeightBytes <= weight_bytes <= kMaxWeightBytes. Thread-safe.
[[nodiscard]] LlamaDims ChooseLlamaDims(std::uint64_t weight_bytes, const LlamaShape& shape);

enum class TensorRole : std::uint8_t {
  kEmbedding,
  kAttentionQuery,
  kAttentionKey,
  kAttentionValue,
  kAttentionOutput,
  kFeedForwardGate,
  kFeedForwardUp,
  kFeedForwardDown,
  kAttentionNorm,
  kFeedForwardNorm,
  kOutputNorm,
  kOutput,
};

struct TensorSpec {
  std::string name;                  // Hugging Face name: model.layers.3.mlp.up_proj.weight
  std::string gguf_name;             // llama.cpp name: blk.3.ffn_up.weight
  std::vector<std::uint64_t> shape;  // row-major, outermost first, as safetensors lists it
  TensorRole role = TensorRole::kEmbedding;
  std::optional<std::uint64_t> layer;  // the decoder layer, for per-layer tensors
  WeightStream stream;

  [[nodiscard]] std::uint64_t Elements() const;
};

// The tensors of a model with `dims`, sorted by name as the safetensors serializer orders them,
// with each stream's distribution set and its seed left 0. Thread-safe.
[[nodiscard]] std::vector<TensorSpec> LlamaTensors(const LlamaDims& dims);

// config.json as transformers writes it for LlamaForCausalLM (sorted keys, two-space indent).
[[nodiscard]] std::string LlamaConfigJson(const LlamaDims& dims, std::string_view torch_dtype);

}  // namespace mei::tools
