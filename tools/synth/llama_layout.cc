#include "tools/synth/llama_layout.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cmath>

namespace mei::tools {
namespace {

constexpr std::uint64_t kWidthQuantum = 64;
constexpr std::uint64_t kMinVocab = 1024;
constexpr std::uint64_t kMaxHidden = 8192;
constexpr double kFeedForwardRatio = 2.6875;  // Llama 2 7B: 11008 / 4096
constexpr std::uint64_t kBytesPerParameter = 2;

std::uint64_t RoundToQuantum(double value) {
  const auto quanta = static_cast<std::uint64_t>(std::llround(value / kWidthQuantum));
  return std::max<std::uint64_t>(1, quanta) * kWidthQuantum;
}

std::uint64_t LayerParameters(const LlamaDims& dims) {
  const std::uint64_t head_dim = dims.hidden / dims.heads;
  const std::uint64_t kv_width = dims.kv_heads * head_dim;
  return 2 * dims.hidden * dims.hidden + 2 * kv_width * dims.hidden +
         3 * dims.hidden * dims.intermediate + 2 * dims.hidden;
}

struct LayerTensor {
  std::string_view hf_suffix;
  std::string_view gguf_suffix;
  TensorRole role;
};

constexpr LayerTensor kLayerTensors[] = {
    {"self_attn.q_proj.weight", "attn_q.weight", TensorRole::kAttentionQuery},
    {"self_attn.k_proj.weight", "attn_k.weight", TensorRole::kAttentionKey},
    {"self_attn.v_proj.weight", "attn_v.weight", TensorRole::kAttentionValue},
    {"self_attn.o_proj.weight", "attn_output.weight", TensorRole::kAttentionOutput},
    {"mlp.gate_proj.weight", "ffn_gate.weight", TensorRole::kFeedForwardGate},
    {"mlp.up_proj.weight", "ffn_up.weight", TensorRole::kFeedForwardUp},
    {"mlp.down_proj.weight", "ffn_down.weight", TensorRole::kFeedForwardDown},
    {"input_layernorm.weight", "attn_norm.weight", TensorRole::kAttentionNorm},
    {"post_attention_layernorm.weight", "ffn_norm.weight", TensorRole::kFeedForwardNorm},
};

std::vector<std::uint64_t> LayerTensorShape(const LlamaDims& dims, TensorRole role) {
  const std::uint64_t kv_width = dims.kv_heads * (dims.hidden / dims.heads);
  switch (role) {
    case TensorRole::kAttentionKey:
    case TensorRole::kAttentionValue:
      return {kv_width, dims.hidden};
    case TensorRole::kFeedForwardGate:
    case TensorRole::kFeedForwardUp:
      return {dims.intermediate, dims.hidden};
    case TensorRole::kFeedForwardDown:
      return {dims.hidden, dims.intermediate};
    case TensorRole::kAttentionNorm:
    case TensorRole::kFeedForwardNorm:
      return {dims.hidden};
    default:
      return {dims.hidden, dims.hidden};
  }
}

WeightDistribution DistributionOf(TensorRole role) {
  const bool norm = role == TensorRole::kAttentionNorm || role == TensorRole::kFeedForwardNorm ||
                    role == TensorRole::kOutputNorm;
  return norm ? WeightDistribution::kNormScale : WeightDistribution::kProjection;
}

}  // namespace

std::uint64_t LlamaDims::Parameters() const {
  return 2 * vocab * hidden + hidden + layers * LayerParameters(*this);
}

std::uint64_t TensorSpec::Elements() const {
  std::uint64_t elements = 1;
  for (const std::uint64_t dim : shape) elements *= dim;
  return elements;
}

LlamaDims ChooseLlamaDims(std::uint64_t weight_bytes, const LlamaShape& shape) {
  assert(weight_bytes >= kMinWeightBytes && weight_bytes <= kMaxWeightBytes);
  const double parameters = static_cast<double>(weight_bytes / kBytesPerParameter);
  const double per_layer_over_hidden_squared = 4.0 + 3.0 * kFeedForwardRatio;

  LlamaDims dims;
  const double width = std::sqrt(parameters / (per_layer_over_hidden_squared * shape.depth));
  dims.hidden = std::clamp<std::uint64_t>(
      static_cast<std::uint64_t>(width) / kWidthQuantum * kWidthQuantum, kWidthQuantum, kMaxHidden);
  dims.intermediate = RoundToQuantum(kFeedForwardRatio * static_cast<double>(dims.hidden));
  const std::uint64_t head_dim = dims.hidden % 128 == 0 && dims.hidden >= 2048 ? 128 : 64;
  dims.heads = dims.hidden / head_dim;
  dims.kv_heads = dims.heads;
  dims.context = shape.context;

  dims.vocab = shape.max_vocab;
  const double embedding_budget = parameters * shape.embedding_share;
  if (static_cast<double>(2 * dims.vocab * dims.hidden) > embedding_budget) {
    const auto fitting = static_cast<std::uint64_t>(embedding_budget / (2.0 * dims.hidden));
    dims.vocab = std::max(kMinVocab, fitting / kWidthQuantum * kWidthQuantum);
  }

  const double fixed = static_cast<double>(2 * dims.vocab * dims.hidden + dims.hidden);
  const double layers = (parameters - fixed) / static_cast<double>(LayerParameters(dims));
  dims.layers =
      std::max<std::uint64_t>(2, static_cast<std::uint64_t>(std::llround(std::max(0.0, layers))));
  return dims;
}

std::vector<TensorSpec> LlamaTensors(const LlamaDims& dims) {
  std::vector<TensorSpec> tensors;
  tensors.reserve(3 + dims.layers * std::size(kLayerTensors));
  tensors.push_back({"model.embed_tokens.weight",
                     "token_embd.weight",
                     {dims.vocab, dims.hidden},
                     TensorRole::kEmbedding,
                     std::nullopt,
                     {}});
  for (std::uint64_t layer = 0; layer < dims.layers; ++layer) {
    for (const LayerTensor& tensor : kLayerTensors) {
      tensors.push_back({fmt::format("model.layers.{}.{}", layer, tensor.hf_suffix),
                         fmt::format("blk.{}.{}", layer, tensor.gguf_suffix),
                         LayerTensorShape(dims, tensor.role),
                         tensor.role,
                         layer,
                         {}});
    }
  }
  tensors.push_back({"model.norm.weight",
                     "output_norm.weight",
                     {dims.hidden},
                     TensorRole::kOutputNorm,
                     std::nullopt,
                     {}});
  tensors.push_back({"lm_head.weight",
                     "output.weight",
                     {dims.vocab, dims.hidden},
                     TensorRole::kOutput,
                     std::nullopt,
                     {}});
  for (TensorSpec& tensor : tensors) tensor.stream.distribution = DistributionOf(tensor.role);
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorSpec& a, const TensorSpec& b) { return a.name < b.name; });
  return tensors;
}

std::string LlamaConfigJson(const LlamaDims& dims, std::string_view torch_dtype) {
  return fmt::format(
      R"({{
  "architectures": [
    "LlamaForCausalLM"
  ],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 1,
  "eos_token_id": 2,
  "hidden_act": "silu",
  "hidden_size": {},
  "initializer_range": 0.02,
  "intermediate_size": {},
  "max_position_embeddings": {},
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": {},
  "num_hidden_layers": {},
  "num_key_value_heads": {},
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": null,
  "rope_theta": 10000.0,
  "tie_word_embeddings": false,
  "torch_dtype": "{}",
  "transformers_version": "4.44.2",
  "use_cache": true,
  "vocab_size": {}
}}
)",
      dims.hidden, dims.intermediate, dims.context, dims.heads, dims.layers, dims.kv_heads,
      torch_dtype, dims.vocab);
}

}  // namespace mei::tools
