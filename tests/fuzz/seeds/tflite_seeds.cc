#include "tests/fuzz/seeds/tflite_seeds.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "tools/synth/llama_layout.h"
#include "tools/synth/tensor_data.h"
#include "tools/synth/tflite_writer.h"

namespace mei::fuzz {
namespace {

using tools::TfliteBuffer;
using tools::TfliteModel;
using tools::TfliteSubgraph;
using tools::TfliteTensor;

// SmallTfliteModel() with its min_runtime_version metadata, as the converter writes it.
TfliteModel SmallModel() {
  TfliteModel model = tools::SmallTfliteModel();
  model.metadata = {
      {.name = "min_runtime_version", .buffer = static_cast<std::uint32_t>(model.buffers.size())}};
  model.buffers.push_back(tools::TfliteBufferOf(std::string("1.5.0\0\0\0\0\0\0\0\0\0\0\0", 16)));
  return model;
}

template <class T>
std::string Patched(std::string file, std::uint64_t at, T value) {
  if (at + sizeof(T) <= file.size()) std::memcpy(file.data() + at, &value, sizeof(T));
  return file;
}

// SmallModel() with the uoffset that points at `path` sent past the end of the file.
std::string PointedPastTheEnd(const std::string& path) {
  const TfliteModel model = SmallModel();
  const std::string file = tools::EncodeTflite(model);
  const std::uint64_t reference = tools::LayOutTflite(model).objects.at(path).reference;
  return Patched(file, reference, static_cast<std::uint32_t>(file.size() - reference));
}

std::string SyntheticModel(bool outside) {
  std::vector<tools::TensorSpec> weights(3);
  weights[0].name = "model.embed_tokens.weight";
  weights[0].shape = {8, 4};
  weights[0].role = tools::TensorRole::kEmbedding;
  weights[1].name = "model.norm.weight";
  weights[1].shape = {4};
  weights[1].role = tools::TensorRole::kOutputNorm;
  weights[2].name = "lm_head.weight";
  weights[2].shape = {8, 4};
  weights[2].role = tools::TensorRole::kOutput;
  return tools::EncodeTflite(
      tools::TfliteModelOf(weights, tools::StoredDtype::kBf16, {.buffers_outside = outside}));
}

}  // namespace

std::vector<std::pair<std::string, std::string>> TfliteSeeds() {
  std::vector<std::pair<std::string, std::string>> seeds;
  const TfliteModel small = SmallModel();
  const tools::TfliteLayout layout = tools::LayOutTflite(small);
  const std::string file = tools::EncodeTflite(small);
  seeds.emplace_back("small", file);
  seeds.emplace_back("synthetic-inside", SyntheticModel(false));
  seeds.emplace_back("synthetic-outside", SyntheticModel(true));

  TfliteModel rich = SmallModel();
  TfliteSubgraph second;
  second.tensors = {
      TfliteTensor{.name = "vocab", .shape = {2}, .type = tools::kTfliteString, .buffer = 5},
      TfliteTensor{.name = "again", .shape = {6}, .buffer = 1}};
  rich.subgraphs.push_back(std::move(second));
  rich.buffers.push_back(
      tools::TfliteBufferOf(std::string("\x02\0\0\0\x10\0\0\0\x11\0\0\0\x12\0\0\0ab", 18)));
  rich.buffers.push_back(TfliteBuffer{.bytes = 7});  // no tensor names it
  rich.buffers[3].outside = true;
  seeds.emplace_back("two-subgraphs-string-unnamed-outside", tools::EncodeTflite(rich));

  TfliteModel shared = SmallModel();
  shared.buffers.push_back(TfliteBuffer{.outside = true, .offset = 2, .size = 24});
  shared.subgraphs[0].tensors[1].buffer = 5;
  shared.buffers[5].offset = tools::LayOutTflite(shared).data_offsets[1];
  seeds.emplace_back("identical-ranges", tools::EncodeTflite(shared));

  std::string wrong = file;
  wrong[7] = '2';
  seeds.emplace_back("wrong-identifier", wrong);
  TfliteModel old = SmallModel();
  old.version = 2;
  seeds.emplace_back("version-2", tools::EncodeTflite(old));
  seeds.emplace_back("root-past-end",
                     Patched(file, 0, static_cast<std::uint32_t>(file.size() - 2)));
  seeds.emplace_back("vtable-odd-size",
                     Patched(file, layout.objects.at("model#vtable").object, std::uint16_t{7}));
  seeds.emplace_back("buffers-longer-than-file",
                     Patched(file, layout.objects.at("buffers").object, std::uint32_t{1} << 28));
  seeds.emplace_back("tensor-past-end", PointedPastTheEnd("subgraphs[0].tensors[2]"));
  seeds.emplace_back("data-past-end", PointedPastTheEnd("buffers[1].data"));
  const std::uint64_t name = layout.objects.at("subgraphs[0].tensors[1].name").object;
  seeds.emplace_back("name-not-terminated", Patched(file, name + 4 + 12, 'x'));

  TfliteModel bad = SmallModel();
  bad.subgraphs[0].tensors[2].name = "bad\xc3";
  seeds.emplace_back("name-not-utf8", tools::EncodeTflite(bad));
  bad = SmallModel();
  bad.subgraphs[0].tensors[3].buffer = 9;
  seeds.emplace_back("buffer-index-out-of-range", tools::EncodeTflite(bad));
  bad = SmallModel();
  bad.buffers[2] = TfliteBuffer{.outside = true, .offset = 1 << 20, .size = 4};
  seeds.emplace_back("outside-past-end", tools::EncodeTflite(bad));
  bad = SmallModel();
  bad.buffers[2] = TfliteBuffer{.outside = true, .offset = 2, .size = 4};
  bad.buffers[2].offset = tools::LayOutTflite(bad).data_offsets[1] + 8;
  seeds.emplace_back("overlapping-buffers", tools::EncodeTflite(bad));
  bad = SmallModel();
  bad.subgraphs[0].tensors[1].shape = {2, -3};
  seeds.emplace_back("negative-dimension", tools::EncodeTflite(bad));
  return seeds;
}

}  // namespace mei::fuzz
