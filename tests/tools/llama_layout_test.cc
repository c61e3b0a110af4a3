#include "tools/synth/llama_layout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <set>

namespace mei::tools {
namespace {

constexpr std::uint64_t kMiB = 1ull << 20;

class LlamaDimsTest : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(LlamaDimsTest, DimsAreLlamaLikeAndFillTheBudget) {
  const std::uint64_t budget = GetParam();
  const LlamaDims dims = ChooseLlamaDims(budget, LlamaShape{});
  EXPECT_EQ(dims.hidden % 64, 0u);
  EXPECT_EQ(dims.intermediate % 64, 0u);
  EXPECT_LE(std::abs(static_cast<double>(dims.intermediate) - 2.6875 * dims.hidden), 32.0);
  EXPECT_GE(dims.layers, 2u);
  EXPECT_EQ(dims.hidden % dims.heads, 0u);
  EXPECT_GE(dims.vocab, 1024u);
  const double tolerance = budget >= 16 * kMiB ? 0.10 : 0.25;
  EXPECT_NEAR(static_cast<double>(dims.Parameters() * 2), static_cast<double>(budget),
              tolerance * static_cast<double>(budget));
  if (budget >= 64 * kMiB) {
    EXPECT_EQ(dims.vocab, 32000u);
  }
}

INSTANTIATE_TEST_SUITE_P(Budgets, LlamaDimsTest,
                         ::testing::Values(kMinWeightBytes, 4 * kMiB, 16 * kMiB, 64 * kMiB,
                                           500'000'000, 1024 * kMiB, 4096 * kMiB,
                                           64 * 1024 * kMiB));

TEST(LlamaKnownDimsTest, SixtyFourMibAndOneGibGiveTheseDims) {
  const LlamaDims small = ChooseLlamaDims(64 * kMiB, LlamaShape{});
  EXPECT_EQ(small, (LlamaDims{.vocab = 32000,
                              .hidden = 320,
                              .intermediate = 832,
                              .layers = 11,
                              .heads = 5,
                              .kv_heads = 5,
                              .context = 2048}));
  const LlamaDims large = ChooseLlamaDims(1024 * kMiB, LlamaShape{});
  EXPECT_EQ(large, (LlamaDims{.vocab = 32000,
                              .hidden = 1344,
                              .intermediate = 3584,
                              .layers = 21,
                              .heads = 21,
                              .kv_heads = 21,
                              .context = 2048}));
}

TEST(LlamaTensorsTest, TensorsAreSortedUniqueAndShapedLikeLlama) {
  const LlamaDims dims{.vocab = 1024,
                       .hidden = 128,
                       .intermediate = 320,
                       .layers = 12,
                       .heads = 2,
                       .kv_heads = 2,
                       .context = 2048};
  const std::vector<TensorSpec> tensors = LlamaTensors(dims);
  ASSERT_EQ(tensors.size(), 3 + 9 * dims.layers);
  EXPECT_TRUE(std::is_sorted(tensors.begin(), tensors.end(),
                             [](const auto& a, const auto& b) { return a.name < b.name; }));
  std::set<std::string> names;
  std::set<std::string> gguf_names;
  std::uint64_t parameters = 0;
  for (const TensorSpec& tensor : tensors) {
    names.insert(tensor.name);
    gguf_names.insert(tensor.gguf_name);
    parameters += tensor.Elements();
    const bool norm = tensor.name.ends_with("norm.weight");
    EXPECT_EQ(tensor.stream.distribution,
              norm ? WeightDistribution::kNormScale : WeightDistribution::kProjection)
        << tensor.name;
  }
  EXPECT_EQ(names.size(), tensors.size());
  EXPECT_EQ(gguf_names.size(), tensors.size());
  EXPECT_EQ(parameters, dims.Parameters());
  const auto shape_of = [&](std::string_view name) {
    return std::find_if(tensors.begin(), tensors.end(),
                        [&](const TensorSpec& t) { return t.name == name; })
        ->shape;
  };
  using Shape = std::vector<std::uint64_t>;
  EXPECT_EQ(shape_of("model.embed_tokens.weight"), (Shape{1024, 128}));
  EXPECT_EQ(shape_of("lm_head.weight"), (Shape{1024, 128}));
  EXPECT_EQ(shape_of("model.layers.11.self_attn.k_proj.weight"), (Shape{128, 128}));
  EXPECT_EQ(shape_of("model.layers.3.mlp.gate_proj.weight"), (Shape{320, 128}));
  EXPECT_EQ(shape_of("model.layers.3.mlp.down_proj.weight"), (Shape{128, 320}));
  EXPECT_EQ(shape_of("model.layers.0.input_layernorm.weight"), (Shape{128}));
  EXPECT_EQ(shape_of("model.norm.weight"), (Shape{128}));
  EXPECT_TRUE(gguf_names.contains("blk.11.attn_output.weight"));
  EXPECT_TRUE(gguf_names.contains("blk.0.ffn_norm.weight"));
  EXPECT_TRUE(gguf_names.contains("output_norm.weight"));
}

TEST(LlamaConfigJsonTest, IsJsonWithTheDims) {
  const LlamaDims dims{.vocab = 32000,
                       .hidden = 320,
                       .intermediate = 832,
                       .layers = 11,
                       .heads = 5,
                       .kv_heads = 5,
                       .context = 2048};
  const boost::json::object config =
      boost::json::parse(LlamaConfigJson(dims, "float32")).as_object();
  EXPECT_EQ(config.at("architectures").as_array().at(0).as_string(), "LlamaForCausalLM");
  EXPECT_EQ(config.at("hidden_size").as_int64(), 320);
  EXPECT_EQ(config.at("intermediate_size").as_int64(), 832);
  EXPECT_EQ(config.at("num_hidden_layers").as_int64(), 11);
  EXPECT_EQ(config.at("num_attention_heads").as_int64(), 5);
  EXPECT_EQ(config.at("vocab_size").as_int64(), 32000);
  EXPECT_EQ(config.at("torch_dtype").as_string(), "float32");
}

}  // namespace
}  // namespace mei::tools
