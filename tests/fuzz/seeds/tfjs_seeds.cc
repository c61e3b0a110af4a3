#include "tests/fuzz/seeds/tfjs_seeds.h"

#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "tools/synth/tfjs_writer.h"

namespace mei::fuzz {
namespace {

// The fuzz target's input (tfjs_fuzzer.cc): model.json, a NUL, then the shard sizes as
// little-endian uint64s in the order the shards are listed.
std::string WithShardSizes(std::string model_json, std::initializer_list<std::uint64_t> sizes) {
  model_json.push_back('\0');
  for (const std::uint64_t size : sizes) {
    for (int i = 0; i < 8; ++i) model_json.push_back(static_cast<char>(size >> (8 * i)));
  }
  return model_json;
}

tools::TensorSpec Spec(std::string name, std::vector<std::uint64_t> shape) {
  tools::TensorSpec spec;
  spec.name = std::move(name);
  spec.shape = std::move(shape);
  return spec;
}

std::string Model(std::string_view groups) {
  return R"({"format":"layers-model","modelTopology":{},"weightsManifest":[)" +
         std::string(groups) + "]}";
}

// A model of one group in the shard "w.bin" with one weight of these fields.
std::string OneWeight(std::string_view fields) {
  return Model(R"({"paths":["w.bin"],"weights":[{)" + std::string(fields) + "}]}");
}

}  // namespace

std::vector<std::pair<std::string, std::string>> TfjsSeeds() {
  const std::vector<tools::TensorSpec> tensors = {Spec("a", {3, 5}), Spec("b", {7}), Spec("c", {}),
                                                  Spec("d", {2, 2, 2})};
  // 124 bytes of float32 in shards of 32; 62 bytes of float16 in shards of 24.
  const std::string f32 =
      tools::TfjsModelJson(tensors, tools::StoredDtype::kF32, {.shard_bytes = 32});
  const std::string f16 =
      tools::TfjsModelJson(tensors, tools::StoredDtype::kF16, {.shard_bytes = 24});
  const std::string dtypes = Model(
      R"({"paths":["./model.weights.bin"],"weights":[{"name":"f","shape":[2],"dtype":"float32"},)"
      R"({"name":"i","shape":[2],"dtype":"int32"},{"name":"b","shape":[3],"dtype":"bool"},)"
      R"({"name":"c","shape":[1],"dtype":"complex64"},{"name":"q8","shape":[4],"dtype":"float32",)"
      R"("quantization":{"dtype":"uint8","min":-0.5,"scale":0.01}},{"name":"q16","shape":[2],)"
      R"("dtype":"int32","quantization":{"dtype":"uint16","min":0,"scale":1}}]},)"
      R"({"paths":["w/g2-1.bin","w/g2-2.bin"],"weights":[{"name":"h","shape":[3],)"
      R"("dtype":"float32","quantization":{"dtype":"float16"}},{"name":"e","shape":[0],)"
      R"("dtype":"float32"}]})");
  const std::string f32x4 = R"("name":"w","shape":[4],"dtype":"float32")";
  return {
      {"graph-model-f32", WithShardSizes(f32, {32, 32, 32, 28})},
      {"graph-model-f16", WithShardSizes(f16, {24, 24, 14})},
      {"layers-model-every-dtype", WithShardSizes(dtypes, {35, 4, 2})},
      {"empty-weights-at-boundaries",
       WithShardSizes(
           Model(R"({"paths":["s1","s2","s3"],"weights":[)"
                 R"({"name":"e0","shape":[0],"dtype":"float32"},)"
                 R"({"name":"a","shape":[2],"dtype":"float32"},)"
                 R"({"name":"e1","shape":[4,0],"dtype":"bool"},)"
                 R"({"name":"b","shape":[1],"dtype":"float32"}]},)"
                 R"({"paths":[],"weights":[{"name":"e2","shape":[0],"dtype":"int32"}]})"),
           {8, 0, 4})},
      {"huge-weight", WithShardSizes(OneWeight(R"("name":"w","shape":[2147483648,1073741824],)"
                                               R"("dtype":"bool")"),
                                     {std::uint64_t{1} << 61})},
      {"shards-one-byte-short", WithShardSizes(f32, {32, 32, 32, 27})},
      {"shard-missing", WithShardSizes(f32, {32, 32, 32})},
      {"shard-sizes-overflow",
       WithShardSizes(Model(R"({"paths":["a","b"],"weights":[{)" + f32x4 + "}]}"),
                      {std::uint64_t{1} << 63, std::uint64_t{1} << 63})},
      {"string-weight",
       WithShardSizes(OneWeight(R"("name":"w","shape":[1],"dtype":"string")"), {5})},
      {"unknown-dtype",
       WithShardSizes(OneWeight(R"("name":"w","shape":[2],"dtype":"float64")"), {16})},
      {"negative-dimension",
       WithShardSizes(OneWeight(R"("name":"w","shape":[4,-1],"dtype":"float32")"), {16})},
      {"fractional-dimension",
       WithShardSizes(OneWeight(R"("name":"w","shape":[1.5],"dtype":"float32")"), {16})},
      {"shape-overflow",
       WithShardSizes(OneWeight(R"("name":"w","shape":[4294967296,4294967296],"dtype":"bool")"),
                      {16})},
      {"float16-of-int32", WithShardSizes(OneWeight(R"("name":"w","shape":[4],"dtype":"int32",)"
                                                    R"("quantization":{"dtype":"float16"})"),
                                          {8})},
      {"uint8-without-min",
       WithShardSizes(OneWeight(f32x4 + R"(,"quantization":{"dtype":"uint8","scale":1})"), {4})},
      {"dot-dot-path",
       WithShardSizes(Model(R"({"paths":["../w.bin"],"weights":[{)" + f32x4 + "}]}"), {16})},
      {"path-listed-twice",
       WithShardSizes(Model(R"({"paths":["w.bin","./w.bin"],"weights":[{)" + f32x4 + "}]}"),
                      {8, 8})},
      {"name-listed-twice",
       WithShardSizes(Model(R"({"paths":["w.bin"],"weights":[{)" + f32x4 + "},{" + f32x4 + "}]}"),
                      {32})},
      {"not-an-object", WithShardSizes(R"(["weightsManifest"])", {})},
      {"no-weights-manifest", WithShardSizes(R"({"modelTopology":{"node":[]}})", {})},
  };
}

}  // namespace mei::fuzz
