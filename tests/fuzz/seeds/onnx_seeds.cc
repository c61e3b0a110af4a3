#include "tests/fuzz/seeds/onnx_seeds.h"

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tools/synth/onnx_writer.h"

namespace mei::fuzz {
namespace {

using tools::OnnxInitializer;
using tools::OnnxModelBytes;
using tools::OnnxWriteOptions;
using tools::ProtoMessage;

std::string Filler(std::size_t size, int seed) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 13 + seed);
  return bytes;
}

ProtoMessage TensorHead(std::string_view name, std::int32_t data_type,
                        std::initializer_list<std::uint64_t> dims) {
  ProtoMessage tensor;
  for (const std::uint64_t dim : dims) tensor.Varint(tools::kOnnxTensorDims, dim);
  return tensor.Varint(tools::kOnnxTensorDataType, static_cast<std::uint64_t>(data_type))
      .Bytes(tools::kOnnxTensorName, name);
}

std::string ModelOf(std::initializer_list<ProtoMessage> initializers) {
  ProtoMessage graph;
  for (const ProtoMessage& tensor : initializers) {
    graph.Message(tools::kOnnxGraphInitializer, tensor);
  }
  return ProtoMessage().Message(tools::kOnnxModelGraph, graph).bytes();
}

ProtoMessage ConstantNode(std::string_view name, std::string_view output,
                          const ProtoMessage& tensor) {
  return tools::OnnxNodeMessage("Constant", name, output)
      .Message(tools::kOnnxNodeAttribute, tools::OnnxTensorAttribute("value", tensor));
}

ProtoMessage IfNode(std::string_view name, const ProtoMessage& then_graph,
                    const ProtoMessage& else_graph) {
  return tools::OnnxNodeMessage("If", name, "out")
      .Message(tools::kOnnxNodeAttribute, tools::OnnxGraphAttribute("then_branch", then_graph))
      .Message(tools::kOnnxNodeAttribute, tools::OnnxGraphAttribute("else_branch", else_graph));
}

ProtoMessage External(std::string_view name, std::string_view offset) {
  return TensorHead(name, tools::kOnnxFloat, {4})
      .Message(tools::kOnnxTensorExternalData,
               ProtoMessage().Bytes(1, "location").Bytes(2, "model.onnx_data"))
      .Message(tools::kOnnxTensorExternalData, ProtoMessage().Bytes(1, "offset").Bytes(2, offset))
      .Message(tools::kOnnxTensorExternalData, ProtoMessage().Bytes(1, "length").Bytes(2, "16"))
      .Varint(tools::kOnnxTensorDataLocation, 1);
}

// Tensors outside the main graph's initializers: Constant nodes, subgraphs, functions.
void AppendNestedSeeds(std::span<const OnnxInitializer> initializers,
                       std::vector<std::pair<std::string, std::string>>& seeds) {
  using tools::kOnnxFloat;
  for (const auto& [what, placement] :
       {std::pair{"constant-nodes", tools::OnnxTensorPlacement::kConstantNodes},
        std::pair{"if-branches", tools::OnnxTensorPlacement::kIfBranches}}) {
    OnnxWriteOptions options;
    options.placement = placement;
    options.node_naming = tools::OnnxNodeNaming::kNumbered;
    seeds.emplace_back(what, OnnxModelBytes(initializers, options).model);
  }

  const auto tensor = [](std::string_view name, std::string_view payload) {
    return TensorHead(name, kOnnxFloat, {1}).Bytes(tools::kOnnxTensorRawData, payload);
  };
  const ProtoMessage unnamed = ProtoMessage()
                                   .Varint(tools::kOnnxTensorDims, 1)
                                   .Varint(tools::kOnnxTensorDataType, kOnnxFloat)
                                   .Bytes(tools::kOnnxTensorRawData, "uuuu");
  const ProtoMessage lists =
      ProtoMessage()
          .Bytes(tools::kOnnxAttributeName, "lists")
          .Message(tools::kOnnxAttributeTensors, unnamed)
          .Message(tools::kOnnxAttributeTensors, tensor("w", "llll"))
          .Message(tools::kOnnxAttributeGraphs,
                   ProtoMessage().Message(tools::kOnnxGraphInitializer, tensor("w", "gggg")));
  const ProtoMessage then_graph =
      ProtoMessage()
          .Message(tools::kOnnxGraphNode, ConstantNode("c0", "x", tensor("const", "aaaa")))
          .Message(tools::kOnnxGraphNode, ConstantNode("c1", "y", tensor("const", "bbbb")))
          .Message(tools::kOnnxGraphInitializer, tensor("w", "cccc"));
  const ProtoMessage else_graph =
      ProtoMessage()
          .Message(tools::kOnnxGraphNode, ConstantNode("", "w_else", tensor("w", "dddd")))
          .Message(tools::kOnnxGraphNode,
                   tools::OnnxNodeMessage("ConstantOfShape", "", "")
                       .Message(tools::kOnnxNodeAttribute,
                                tools::OnnxTensorAttribute("value", unnamed)));
  seeds.emplace_back(
      "nested-names",
      ProtoMessage()
          .Message(
              tools::kOnnxModelGraph,
              ProtoMessage()
                  .Message(tools::kOnnxGraphNode, IfNode("If_0", then_graph, else_graph))
                  .Message(tools::kOnnxGraphNode, tools::OnnxNodeMessage("Scan", "Scan_1", "s")
                                                      .Message(tools::kOnnxNodeAttribute, lists))
                  .Message(tools::kOnnxGraphInitializer, tensor("w", "mmmm")))
          .bytes());

  const ProtoMessage function =
      ProtoMessage()
          .Bytes(tools::kOnnxFunctionName, "Block")
          .Message(tools::kOnnxFunctionNode, ConstantNode("", "k", tensor("w", "ffff")))
          .Bytes(tools::kOnnxFunctionDomain, "custom")
          .Message(tools::kOnnxFunctionAttributeProto, tools::OnnxTensorAttribute("alpha", unnamed))
          .Bytes(tools::kOnnxFunctionOverload, "v2");
  seeds.emplace_back(
      "functions-and-training",
      ProtoMessage()
          .Message(tools::kOnnxModelGraph,
                   ProtoMessage().Message(tools::kOnnxGraphInitializer, tensor("w", "mmmm")))
          .Message(tools::kOnnxModelTrainingInfo,
                   ProtoMessage().Message(
                       tools::kOnnxTrainingAlgorithm,
                       ProtoMessage().Message(tools::kOnnxGraphInitializer, tensor("w", "tttt"))))
          .Message(tools::kOnnxModelFunctions, function)
          .bytes());

  ProtoMessage deep = ProtoMessage().Message(tools::kOnnxGraphInitializer, tensor("w", "dddd"));
  for (int i = 0; i < 16; ++i) {
    deep = ProtoMessage().Message(tools::kOnnxGraphNode, IfNode("If", deep, ProtoMessage()));
  }
  seeds.emplace_back("sixteen-deep", ProtoMessage().Message(tools::kOnnxModelGraph, deep).bytes());

  const ProtoMessage merged =
      ProtoMessage()
          .Bytes(tools::kOnnxAttributeName, "value")
          .Message(tools::kOnnxAttributeT, tensor("first", "xxxx"))
          .Message(tools::kOnnxAttributeT, ProtoMessage().Bytes(tools::kOnnxTensorName, "merged"));
  const ProtoMessage node =
      tools::OnnxNodeMessage("Constant", "", "c").Message(tools::kOnnxNodeAttribute, merged);
  seeds.emplace_back(
      "merged-attribute",
      ProtoMessage()
          .Message(tools::kOnnxModelGraph, ProtoMessage().Message(tools::kOnnxGraphNode, node))
          .bytes());
}

}  // namespace

std::vector<std::pair<std::string, std::string>> OnnxSeeds() {
  using tools::kOnnxFloat;
  const std::vector<OnnxInitializer> initializers = {
      {"model.layers.0.mlp.up_proj.weight", kOnnxFloat, {4, 8}, Filler(128, 1)},
      {"model.norm.weight", tools::kOnnxBfloat16, {8}, Filler(16, 2)},
      {"scale", tools::kOnnxInt64, {}, Filler(8, 3)},
      {"packed", tools::kOnnxInt4, {5}, Filler(3, 4)},
      {"empty", tools::kOnnxFloat16, {0}, ""},
  };
  std::vector<std::pair<std::string, std::string>> seeds;
  seeds.emplace_back("small", OnnxModelBytes(initializers).model);

  OnnxWriteOptions numbered;
  numbered.producer = "pytorch";
  numbered.graph_name = "torch_jit";
  numbered.node_naming = tools::OnnxNodeNaming::kNumbered;
  seeds.emplace_back("numbered-nodes",
                     OnnxModelBytes(std::span(initializers).first(2), numbered).model);

  OnnxWriteOptions external;
  external.external_data = true;
  external.external_min_bytes = 16;
  seeds.emplace_back("external-data", OnnxModelBytes(initializers, external).model);

  const std::uint64_t packed_dims[] = {2, 3};
  seeds.emplace_back(
      "values-in-other-fields",
      ModelOf(
          {ProtoMessage()
               .Bytes(tools::kOnnxTensorRawData, Filler(12, 5))
               .Bytes(tools::kOnnxTensorName, "name-last")
               .Varint(tools::kOnnxTensorDataType, kOnnxFloat)
               .Varint(tools::kOnnxTensorDims, 3),
           ProtoMessage()
               .PackedVarints(tools::kOnnxTensorDims, packed_dims)
               .Varint(tools::kOnnxTensorDataType, kOnnxFloat)
               .Bytes(tools::kOnnxTensorName, "floats")
               .Bytes(tools::kOnnxTensorFloatData, Filler(24, 6)),
           TensorHead("doubles", tools::kOnnxDouble, {1})
               .Bytes(tools::kOnnxTensorDoubleData, Filler(8, 7)),
           TensorHead("ints", 6, {2}).PackedVarints(tools::kOnnxTensorInt32Data, packed_dims),
           TensorHead("text", tools::kOnnxString, {1}).Bytes(tools::kOnnxTensorStringData, "hello"),
           TensorHead("unpacked", kOnnxFloat, {2})
               .Fixed32(tools::kOnnxTensorFloatData, 1)
               .Fixed32(tools::kOnnxTensorFloatData, 2)}));

  const ProtoMessage subgraph = ProtoMessage().Message(
      tools::kOnnxGraphInitializer, TensorHead("sub", kOnnxFloat, {1}).Bytes(9, "abcd"));
  const ProtoMessage node =
      ProtoMessage().Bytes(4, "If").Message(5, ProtoMessage().Message(6, subgraph));
  seeds.emplace_back(
      "skipped-fields",
      ProtoMessage()
          .Varint(tools::kOnnxModelIrVersion, 8)
          .Fixed64(40, 1)
          .Message(tools::kOnnxModelGraph,
                   ProtoMessage()
                       .Message(tools::kOnnxGraphNode, node)
                       .Fixed32(99, 7)
                       .Message(tools::kOnnxGraphSparseInitializer,
                                ProtoMessage().Message(1, TensorHead("s", kOnnxFloat, {1})))
                       .Message(tools::kOnnxGraphInitializer,
                                TensorHead("t", kOnnxFloat, {1})
                                    .Bytes(12, "doc")
                                    .Bytes(tools::kOnnxTensorRawData, "wxyz")))
          .bytes());

  const std::string nine_ff(9, '\xff');
  seeds.emplace_back("raw-data-size-mismatch",
                     ModelOf({TensorHead("t", kOnnxFloat, {2, 2}).Bytes(9, Filler(15, 8))}));
  seeds.emplace_back("varint-too-long",
                     ModelOf({TensorHead("t", kOnnxFloat, {}).Raw("\x08" + nine_ff + "\xff\x01")}));
  seeds.emplace_back("group-wire-type", ModelOf({TensorHead("t", kOnnxFloat, {}).Raw("\x0b")}));
  seeds.emplace_back("length-past-graph",
                     ProtoMessage()
                         .Message(tools::kOnnxModelGraph,
                                  ProtoMessage().LengthPrefix(tools::kOnnxGraphInitializer, 20))
                         .Bytes(6, Filler(30, 9))
                         .bytes());
  seeds.emplace_back("unknown-data-type",
                     ModelOf({TensorHead("t", 99, {1}).Bytes(9, Filler(4, 10))}));
  seeds.emplace_back("negative-dim", ModelOf({TensorHead("t", kOnnxFloat, {~std::uint64_t{0}})}));
  seeds.emplace_back(
      "duplicate-names",
      ModelOf({TensorHead("t", kOnnxFloat, {1}).Bytes(9, Filler(4, 11)), External("t", "0")}));
  seeds.emplace_back("external-bad-offset", ModelOf({External("t", "4096x")}));
  seeds.emplace_back("external-and-raw-data",
                     ModelOf({External("t", "0").Bytes(9, Filler(16, 12))}));
  seeds.emplace_back("segment",
                     ModelOf({TensorHead("t", kOnnxFloat, {1}).Message(3, ProtoMessage())}));
  AppendNestedSeeds(std::span(initializers).first(2), seeds);
  return seeds;
}

}  // namespace mei::fuzz
