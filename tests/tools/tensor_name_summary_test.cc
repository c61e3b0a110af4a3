#include "tools/synth/tensor_name_summary.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mei::tools {
namespace {

std::vector<std::string> AllNames(int layers) {
  std::vector<std::string> names = {"lm_head.weight", "model.embed_tokens.weight",
                                    "model.norm.weight"};
  for (int layer = 0; layer < layers; ++layer) {
    for (const char* suffix :
         {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
          "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
          "mlp.down_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight"}) {
      names.push_back(fmt::format("model.layers.{}.{}", layer, suffix));
    }
  }
  return names;
}

std::vector<std::string> Matching(int layers, const std::function<bool(const std::string&)>& f) {
  std::vector<std::string> names;
  for (const std::string& name : AllNames(layers)) {
    if (f(name)) names.push_back(name);
  }
  return names;
}

struct SummaryCase {
  std::string description;
  std::function<bool(const std::string&)> chosen;
  std::string summary;
};

class TensorNameSummaryTest : public ::testing::TestWithParam<SummaryCase> {};

TEST_P(TensorNameSummaryTest, Summarizes) {
  const std::vector<std::string> all = AllNames(12);
  EXPECT_EQ(SummarizeTensorNames(Matching(12, GetParam().chosen), all), GetParam().summary);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TensorNameSummaryTest,
    ::testing::Values(
        SummaryCase{"None", [](const std::string&) { return false; }, "none"},
        SummaryCase{"All", [](const std::string&) { return true; }, "all"},
        SummaryCase{"LastLayers",
                    [](const std::string& n) {
                      return n.starts_with("model.layers.10.") || n.starts_with("model.layers.11.");
                    },
                    "model.layers.10.*, model.layers.11.*"},
        SummaryCase{"AttentionEverywhere",
                    [](const std::string& n) { return n.find("self_attn") != std::string::npos; },
                    "model.layers.*.self_attn.*"},
        SummaryCase{"OneSuffixEverywhere",
                    [](const std::string& n) { return n.ends_with("q_proj.weight"); },
                    "model.layers.*.self_attn.q_proj.weight"},
        SummaryCase{"EveryLayerButNotTheRest",
                    [](const std::string& n) { return n.starts_with("model.layers."); },
                    "model.layers.*"},
        SummaryCase{"TopLevelNames",
                    [](const std::string& n) { return n == "model.embed_tokens.weight"; },
                    "model.embed_tokens.weight"},
        SummaryCase{"ScatteredTensors",
                    [](const std::string& n) {
                      return n == "model.layers.3.mlp.up_proj.weight" || n == "lm_head.weight";
                    },
                    "lm_head.weight, model.layers.3.mlp.up_proj.weight"}),
    [](const auto& info) { return info.param.description; });

}  // namespace
}  // namespace mei::tools
