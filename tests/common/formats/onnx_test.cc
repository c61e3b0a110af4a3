#include "common/formats/onnx.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/common/counting_byte_source.h"
#include "tests/common/failing_byte_source.h"
#include "tools/synth/onnx_writer.h"
#include "tools/synth/weights.h"

namespace mei {
namespace {

using tools::OnnxBytes;
using tools::OnnxGraphAttribute;
using tools::OnnxInitializer;
using tools::OnnxModelBytes;
using tools::OnnxNodeMessage;
using tools::OnnxTensorAttribute;
using tools::OnnxTensorPlacement;
using tools::OnnxWriteOptions;
using tools::ProtoMessage;

constexpr std::int32_t kFloat = 1;
constexpr std::int32_t kInt32 = 6;
constexpr std::int32_t kInt64 = 7;
constexpr std::int32_t kString = 8;
constexpr std::int32_t kFloat16 = 10;
constexpr std::int32_t kDouble = 11;
constexpr std::int32_t kComplex64 = 14;
constexpr std::int32_t kBfloat16 = 16;
constexpr std::int32_t kInt4 = 22;

// Field numbers of onnx.proto, as the writer's header names them.
constexpr std::uint32_t kGraph = tools::kOnnxModelGraph;
constexpr std::uint32_t kInitializer = tools::kOnnxGraphInitializer;
constexpr std::uint32_t kNode = tools::kOnnxGraphNode;
constexpr std::uint32_t kAttribute = tools::kOnnxNodeAttribute;
constexpr std::uint32_t kDims = tools::kOnnxTensorDims;
constexpr std::uint32_t kDataType = tools::kOnnxTensorDataType;
constexpr std::uint32_t kName = tools::kOnnxTensorName;
constexpr std::uint32_t kRawData = tools::kOnnxTensorRawData;
constexpr std::uint32_t kFloatData = tools::kOnnxTensorFloatData;
constexpr std::uint32_t kDoubleData = tools::kOnnxTensorDoubleData;
constexpr std::uint32_t kExternalData = tools::kOnnxTensorExternalData;
constexpr std::uint32_t kDataLocation = tools::kOnnxTensorDataLocation;

// `size` bytes that differ from one `seed` to another.
std::string Filler(std::size_t size, int seed = 1) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 31 + seed * 7);
  return bytes;
}

// A TensorProto with dims, data_type and name (unpacked dims, as protobuf writes onnx.proto's).
ProtoMessage TensorHead(std::string_view name, std::int32_t data_type,
                        std::initializer_list<std::uint64_t> dims) {
  ProtoMessage tensor;
  for (const std::uint64_t dim : dims) tensor.Varint(kDims, dim);
  return tensor.Varint(kDataType, static_cast<std::uint64_t>(data_type)).Bytes(kName, name);
}

// A FLOAT tensor of shape [1] called `name` holding `payload` (4 bytes) as raw_data.
ProtoMessage Scalar(std::string_view name, std::string_view payload) {
  return TensorHead(name, kFloat, {1}).Bytes(kRawData, payload);
}

ProtoMessage GraphOf(std::initializer_list<ProtoMessage> initializers,
                     std::initializer_list<ProtoMessage> nodes = {}) {
  ProtoMessage graph;
  for (const ProtoMessage& node : nodes) graph.Message(kNode, node);
  for (const ProtoMessage& tensor : initializers) graph.Message(kInitializer, tensor);
  return graph;
}

std::string ModelOf(std::initializer_list<ProtoMessage> initializers,
                    std::initializer_list<ProtoMessage> nodes = {}) {
  return ProtoMessage().Message(kGraph, GraphOf(initializers, nodes)).bytes();
}

Result<OnnxModel> Parse(const std::string& bytes) {
  return ParseOnnx(MemoryByteSource(std::as_bytes(std::span(bytes)), "test.onnx"));
}

void ExpectBad(const Result<OnnxModel>& result, const std::string& fragment) {
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, Errc::kBadModelFile);
  EXPECT_NE(result.error().message.find("test.onnx: not a valid ONNX model: "), std::string::npos)
      << result.error().message;
  EXPECT_NE(result.error().message.find(fragment), std::string::npos) << result.error().message;
}

// The bytes each listed tensor's range holds.
std::vector<std::string> PayloadsOf(const OnnxModel& model, const std::string& bytes) {
  std::vector<std::string> payloads;
  for (const TensorEntry& tensor : model.tensors) {
    payloads.push_back(bytes.substr(tensor.offset, tensor.size));
  }
  return payloads;
}

// Each listed tensor's name and the bytes its range holds.
std::map<std::string, std::string> PayloadsByName(const OnnxModel& model,
                                                  const std::string& bytes) {
  std::map<std::string, std::string> payloads;
  for (const TensorEntry& tensor : model.tensors) {
    payloads[tensor.name] = bytes.substr(tensor.offset, tensor.size);
  }
  return payloads;
}

ProtoMessage ConstantNode(std::string_view name, std::string_view output,
                          const ProtoMessage& tensor) {
  return OnnxNodeMessage("Constant", name, output)
      .Message(kAttribute, OnnxTensorAttribute("value", tensor));
}

ProtoMessage IfNode(std::string_view name, const ProtoMessage& then_graph,
                    const ProtoMessage& else_graph) {
  return OnnxNodeMessage("If", name, "")
      .Message(kAttribute, OnnxGraphAttribute("then_branch", then_graph))
      .Message(kAttribute, OnnxGraphAttribute("else_branch", else_graph));
}

TEST(OnnxTest, WrittenModelListsEachInitializerAtItsRawData) {
  const std::vector<OnnxInitializer> initializers = {
      {"model.embed_tokens.weight", kBfloat16, {4, 3}, Filler(24, 1)},
      {"model.layers.0.mlp.up_proj.weight", kFloat, {3, 2}, Filler(24, 2)},
      {"model.norm.weight", kFloat16, {3}, Filler(6, 3)},
      {"scale", kInt64, {}, Filler(8, 4)},
      {"packed", kInt4, {5}, Filler(3, 5)},
  };
  const OnnxBytes bytes = OnnxModelBytes(initializers);
  EXPECT_TRUE(bytes.external_data.empty());
  const Result<OnnxModel> model = Parse(bytes.model);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  EXPECT_TRUE(model->external.empty());
  ASSERT_EQ(model->tensors.size(), initializers.size());
  const std::vector<std::string_view> dtypes = {"BF16", "F32", "F16", "I64", "INT4"};
  for (std::size_t i = 0; i < initializers.size(); ++i) {
    const TensorEntry& tensor = model->tensors[i];
    EXPECT_EQ(tensor.name, initializers[i].name);
    EXPECT_EQ(tensor.dtype, dtypes[i]);
    EXPECT_EQ(tensor.shape, initializers[i].dims);
    EXPECT_EQ(tensor.size, initializers[i].raw_data.size());
    EXPECT_EQ(bytes.model.substr(tensor.offset, tensor.size), initializers[i].raw_data);
    if (i > 0) {
      EXPECT_GT(tensor.offset, model->tensors[i - 1].offset);
    }
  }
}

TEST(OnnxTest, TwoExportsOfTheSameTensorsDifferInFramingOnly) {
  std::vector<OnnxInitializer> initializers = {
      {"model.layers.0.self_attn.q_proj.weight", kFloat, {2, 2}, Filler(16, 1)},
      {"model.layers.0.self_attn.q_proj.bias", kFloat, {2}, Filler(8, 2)},
      {"lm_head.weight", kFloat, {2, 2}, Filler(16, 3)},
  };
  const OnnxBytes first = OnnxModelBytes(initializers);
  OnnxWriteOptions other;
  other.producer = "pytorch";
  other.producer_version = "2.5.1";
  other.graph_name = "torch_jit";
  other.node_naming = tools::OnnxNodeNaming::kNumbered;
  std::reverse(initializers.begin(), initializers.end());
  const OnnxBytes second = OnnxModelBytes(initializers, other);
  EXPECT_NE(first.model, second.model);
  EXPECT_NE(first.model.find("/model/layers.0/self_attn/q_proj/MatMul"), std::string::npos);
  EXPECT_NE(second.model.find("MatMul_0"), std::string::npos);

  const Result<OnnxModel> a = Parse(first.model);
  const Result<OnnxModel> b = Parse(second.model);
  ASSERT_TRUE(a.has_value()) << a.error().message;
  ASSERT_TRUE(b.has_value()) << b.error().message;
  ASSERT_EQ(a->tensors.size(), 3u);
  ASSERT_EQ(b->tensors.size(), 3u);
  EXPECT_EQ(a->tensors.front().name, "model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(b->tensors.front().name, "lm_head.weight");
  for (const TensorEntry& tensor : a->tensors) {
    const auto same = std::find_if(b->tensors.begin(), b->tensors.end(),
                                   [&](const TensorEntry& t) { return t.name == tensor.name; });
    ASSERT_NE(same, b->tensors.end()) << tensor.name;
    EXPECT_EQ(same->dtype, tensor.dtype);
    EXPECT_EQ(same->shape, tensor.shape);
    EXPECT_EQ(second.model.substr(same->offset, same->size),
              first.model.substr(tensor.offset, tensor.size));
  }
}

struct DataTypeCase {
  std::int32_t data_type;
  std::string_view dtype;
  std::uint64_t bytes_of_five;  // the payload of a tensor of shape [5]
};

TEST(OnnxTest, EveryElementTypeSizesItsTensors) {
  const DataTypeCase cases[] = {
      {1, "F32", 20},
      {2, "U8", 5},
      {3, "I8", 5},
      {4, "U16", 10},
      {5, "I16", 10},
      {6, "I32", 20},
      {7, "I64", 40},
      {9, "BOOL", 5},
      {10, "F16", 10},
      {11, "F64", 40},
      {12, "U32", 20},
      {13, "U64", 40},
      {14, "C64", 40},
      {15, "COMPLEX128", 80},
      {16, "BF16", 10},
      {17, "F8_E4M3", 5},
      {18, "FLOAT8E4M3FNUZ", 5},
      {19, "F8_E5M2", 5},
      {20, "FLOAT8E5M2FNUZ", 5},
      {21, "UINT4", 3},
      {22, "INT4", 3},
      {23, "F4", 3},
      {24, "F8_E8M0", 5},
      {25, "UINT2", 2},
      {26, "INT2", 2},
  };
  for (const DataTypeCase& c : cases) {
    SCOPED_TRACE(c.data_type);
    const std::string payload = Filler(c.bytes_of_five);
    const Result<OnnxModel> model =
        Parse(ModelOf({TensorHead("t", c.data_type, {5}).Bytes(kRawData, payload)}));
    ASSERT_TRUE(model.has_value()) << model.error().message;
    ASSERT_EQ(model->tensors.size(), 1u);
    EXPECT_EQ(model->tensors[0].dtype, c.dtype);
    EXPECT_EQ(model->tensors[0].size, c.bytes_of_five);
    ExpectBad(Parse(ModelOf({TensorHead("t", c.data_type, {5}).Bytes(kRawData, payload + "x")})),
              "raw_data holds");
  }
}

TEST(OnnxTest, FieldsMayComeInAnyOrder) {
  const std::string payload = Filler(8);
  const ProtoMessage tensor = ProtoMessage()
                                  .Bytes(kRawData, payload)
                                  .Bytes(kName, "late")
                                  .Varint(kDims, 2)
                                  .Varint(kDataType, kFloat16)
                                  .Varint(kDims, 2);
  const std::string bytes = ModelOf({tensor});
  const Result<OnnxModel> model = Parse(bytes);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  ASSERT_EQ(model->tensors.size(), 1u);
  EXPECT_EQ(model->tensors[0], (TensorEntry{.name = "late",
                                            .dtype = "F16",
                                            .shape = {2, 2},
                                            .offset = bytes.find(payload),
                                            .size = 8}));
}

TEST(OnnxTest, PackedAndUnpackedDimsReadAlike) {
  const std::uint64_t dims[] = {3, 300, 1};
  const std::string payload = Filler(900);
  const ProtoMessage packed = ProtoMessage()
                                  .PackedVarints(kDims, dims)
                                  .Varint(kDataType, 2)
                                  .Bytes(kName, "p")
                                  .Bytes(kRawData, payload);
  const Result<OnnxModel> model =
      Parse(ModelOf({packed, TensorHead("u", 2, {3, 300, 1}).Bytes(kRawData, payload)}));
  ASSERT_TRUE(model.has_value()) << model.error().message;
  ASSERT_EQ(model->tensors.size(), 2u);
  EXPECT_EQ(model->tensors[0].shape, (std::vector<std::uint64_t>{3, 300, 1}));
  EXPECT_EQ(model->tensors[1].shape, model->tensors[0].shape);
}

TEST(OnnxTest, OnePackedFloatOrDoubleFieldIsTheTensorsBytes) {
  const std::string floats = Filler(12, 1);
  const std::string complex = Filler(16, 2);
  const std::string doubles = Filler(16, 3);
  const std::string bytes = ModelOf({TensorHead("f", kFloat, {3}).Bytes(kFloatData, floats),
                                     TensorHead("c", kComplex64, {2}).Bytes(kFloatData, complex),
                                     TensorHead("d", kDouble, {2}).Bytes(kDoubleData, doubles)});
  const Result<OnnxModel> model = Parse(bytes);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  ASSERT_EQ(model->tensors.size(), 3u);
  EXPECT_EQ(PayloadsOf(*model, bytes), (std::vector<std::string>{floats, complex, doubles}));
  EXPECT_EQ(model->tensors[1].dtype, "C64");
  EXPECT_EQ(model->tensors[2].dtype, "F64");
}

TEST(OnnxTest, ValuesThatAreNotTheTensorsBytesAreNotListed) {
  const Result<OnnxModel> model = Parse(ModelOf({
      TensorHead("ints", kInt32, {2}).PackedVarints(5, std::vector<std::uint64_t>{1, 300}),
      TensorHead("longs", kInt64, {1}).Varint(7, 5),
      TensorHead("text", kString, {1}).Bytes(6, "hello"),
      TensorHead("split", kFloat, {2}).Bytes(kFloatData, Filler(4)).Bytes(kFloatData, Filler(4)),
      TensorHead("unpacked", kFloat, {2}).Fixed32(kFloatData, 1).Fixed32(kFloatData, 2),
      TensorHead("unpacked_doubles", kDouble, {1}).Fixed64(kDoubleData, 1),
      TensorHead("no_values", kFloat, {0}),
      TensorHead("empty_packed", kFloat, {0}).Bytes(kFloatData, ""),
  }));
  ASSERT_TRUE(model.has_value()) << model.error().message;
  EXPECT_TRUE(model->tensors.empty());
  EXPECT_TRUE(model->external.empty());
}

TEST(OnnxTest, EmptyTensorsAreListedOnlyWithRawData) {
  const std::string bytes = ModelOf({TensorHead("a", kFloat, {2}).Bytes(kRawData, Filler(8)),
                                     TensorHead("empty", kFloat, {0, 4}).Bytes(kRawData, ""),
                                     TensorHead("nothing", kFloat, {0})});
  const Result<OnnxModel> model = Parse(bytes);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  ASSERT_EQ(model->tensors.size(), 2u);
  EXPECT_EQ(model->tensors[1].name, "empty");
  EXPECT_EQ(model->tensors[1].size, 0u);
  EXPECT_EQ(model->tensors[1].offset, model->tensors[0].offset + 8 + 2 + 2 + 2 + 2 + 7 + 2);
  EXPECT_LE(model->tensors[1].offset, bytes.size());
}

TEST(OnnxTest, LastRawDataWinsAsInProtobuf) {
  const std::string bytes =
      ModelOf({TensorHead("t", kFloat, {1}).Bytes(kRawData, "xxxxxxxx").Bytes(kRawData, "abcd")});
  const Result<OnnxModel> model = Parse(bytes);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  EXPECT_EQ(PayloadsOf(*model, bytes), std::vector<std::string>{"abcd"});
}

TEST(OnnxTest, FieldsOutsideInitializersAreSkippedWhateverTheirWireType) {
  const std::string payload = Filler(4);
  const ProtoMessage sparse = ProtoMessage().Message(1, Scalar("sparse", "zzzz"));
  // A node with attributes of other kinds: f (fixed32), ints (packed), a sparse_tensor (22).
  const ProtoMessage node =
      tools::OnnxNodeMessage("Relu", "relu", "out")
          .Bytes(tools::kOnnxNodeInput, "in")
          .Message(kAttribute, ProtoMessage().Bytes(1, "alpha").Fixed32(2, 0).Varint(20, 1))
          .Message(kAttribute,
                   ProtoMessage().Bytes(1, "axes").PackedVarints(8, std::vector<std::uint64_t>{1}))
          .Message(kAttribute, ProtoMessage().Bytes(1, "sparse").Message(22, sparse).Varint(20, 11))
          .Bytes(6, "doc");
  const ProtoMessage graph = ProtoMessage()
                                 .Message(1, node)
                                 .Fixed32(99, 7)
                                 .Fixed64(100, 8)
                                 .Varint(101, ~std::uint64_t{0})
                                 .Message(tools::kOnnxGraphSparseInitializer, sparse)
                                 .Message(kInitializer, TensorHead("t", kFloat, {1})
                                                            .Fixed64(12345, 1)
                                                            .Bytes(12, "doc")
                                                            .Bytes(kRawData, payload));
  const std::string bytes = ProtoMessage()
                                .Varint(1, 8)
                                .Fixed32(50, 0)
                                .Message(kGraph, graph)
                                .Fixed64(51, 0)
                                .Bytes(14, "metadata")
                                .bytes();
  const Result<OnnxModel> model = Parse(bytes);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  ASSERT_EQ(model->tensors.size(), 1u);
  EXPECT_EQ(model->tensors[0].name, "t");
  EXPECT_EQ(PayloadsOf(*model, bytes), std::vector<std::string>{payload});
}

TEST(OnnxTest, TwoGraphFieldsMergeTheirInitializers) {
  const std::string bytes = ProtoMessage()
                                .Message(kGraph, GraphOf({Scalar("a", "aaaa")}))
                                .Message(kGraph, GraphOf({Scalar("b", "bbbb")}))
                                .bytes();
  const Result<OnnxModel> model = Parse(bytes);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  EXPECT_EQ(PayloadsOf(*model, bytes), (std::vector<std::string>{"aaaa", "bbbb"}));
}

TEST(OnnxTest, PaddedVarintsDecodeAsProtobufDecodesThem) {
  // data_type 1 as 0x81 0x80 0x00 and the raw_data length 4 as 0x84 0x00.
  const std::string bytes =
      ProtoMessage()
          .Message(kGraph, GraphOf({ProtoMessage()
                                        .Raw(std::string("\x10\x81\x80\x00", 4))
                                        .Bytes(kName, "t")
                                        .Raw(std::string("\x4a\x84\x00", 3) + "abcd")}))
          .bytes();
  const Result<OnnxModel> model = Parse(bytes);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  ASSERT_EQ(model->tensors.size(), 1u);
  EXPECT_EQ(model->tensors[0].dtype, "F32");
  EXPECT_EQ(PayloadsOf(*model, bytes), std::vector<std::string>{"abcd"});
}

TEST(OnnxTest, ExternalInitializersAreListedApartWithTheirPlaceInTheDataFile) {
  const std::vector<OnnxInitializer> initializers = {
      {"big", kFloat, {2, 1024}, Filler(8192, 1)},
      {"small", kFloat, {4}, Filler(16, 2)},
      {"odd", kBfloat16, {1500}, Filler(3000, 3)},
  };
  OnnxWriteOptions options;
  options.external_data = true;
  const OnnxBytes bytes = OnnxModelBytes(initializers, options);
  const Result<OnnxModel> model = Parse(bytes.model);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  ASSERT_EQ(model->tensors.size(), 1u);
  EXPECT_EQ(model->tensors[0].name, "small");
  EXPECT_EQ(PayloadsOf(*model, bytes.model), std::vector<std::string>{initializers[1].raw_data});
  ASSERT_EQ(model->external.size(), 2u);
  const OnnxExternalTensor& big = model->external[0];
  const OnnxExternalTensor& odd = model->external[1];
  EXPECT_EQ(big.name, "big");
  EXPECT_EQ(big.dtype, "F32");
  EXPECT_EQ(big.shape, (std::vector<std::uint64_t>{2, 1024}));
  EXPECT_EQ(big.location, "model.onnx_data");
  EXPECT_EQ(big.offset, 0u);
  EXPECT_EQ(big.length, 8192u);
  EXPECT_EQ(odd.dtype, "BF16");
  EXPECT_EQ(odd.offset, 8192u);
  EXPECT_EQ(odd.length, 3000u);
  EXPECT_EQ(bytes.external_data.size(), 8192u + 3000u);
  EXPECT_EQ(bytes.external_data.substr(big.offset, 8192), initializers[0].raw_data);
  EXPECT_EQ(bytes.external_data.substr(odd.offset, 3000), initializers[2].raw_data);
}

TEST(OnnxTest, ExternalDataMayOmitOffsetAndLength) {
  const Result<OnnxModel> model = Parse(ModelOf(
      {TensorHead("w", kFloat, {8})
           .Message(kExternalData, ProtoMessage().Bytes(1, "location").Bytes(2, "weights/w.bin"))
           .Message(kExternalData, ProtoMessage().Bytes(2, "ab12").Bytes(1, "checksum"))
           .Varint(kDataLocation, 1)}));
  ASSERT_TRUE(model.has_value()) << model.error().message;
  ASSERT_EQ(model->external.size(), 1u);
  EXPECT_EQ(model->external[0].location, "weights/w.bin");
  EXPECT_EQ(model->external[0].offset, 0u);
  EXPECT_FALSE(model->external[0].length.has_value());
}

// --- Tensors outside the main graph's initializers ---

ProtoMessage External(
    std::string_view name, std::initializer_list<std::uint64_t> dims,
    std::initializer_list<std::pair<std::string_view, std::string_view>> entries) {
  ProtoMessage tensor = TensorHead(name, kFloat, dims);
  for (const auto& [key, value] : entries) {
    tensor.Message(kExternalData, ProtoMessage().Bytes(1, key).Bytes(2, value));
  }
  return tensor.Varint(kDataLocation, 1);
}

TEST(OnnxTest, WrittenConstantNodesListEachTensorUnderItsName) {
  const std::vector<OnnxInitializer> initializers = {
      {"model.layers.0.mlp.up_proj.weight", kFloat, {3, 2}, Filler(24, 1)},
      {"model.norm.weight", kFloat16, {3}, Filler(6, 2)},
  };
  for (const tools::OnnxNodeNaming naming :
       {tools::OnnxNodeNaming::kModulePath, tools::OnnxNodeNaming::kNumbered}) {
    OnnxWriteOptions options;
    options.placement = OnnxTensorPlacement::kConstantNodes;
    options.node_naming = naming;
    const std::string bytes = OnnxModelBytes(initializers, options).model;
    EXPECT_NE(bytes.find("Constant"), std::string::npos);
    const Result<OnnxModel> model = Parse(bytes);
    ASSERT_TRUE(model.has_value()) << model.error().message;
    ASSERT_EQ(model->tensors.size(), 2u);
    for (std::size_t i = 0; i < initializers.size(); ++i) {
      EXPECT_EQ(model->tensors[i].name, initializers[i].name);
      EXPECT_EQ(model->tensors[i].shape, initializers[i].dims);
      EXPECT_EQ(PayloadsOf(*model, bytes)[i], initializers[i].raw_data);
    }
    EXPECT_EQ(model->tensors[1].dtype, "F16");
  }
}

TEST(OnnxTest, WrittenConstantNodesMayKeepTheirValuesInTheDataFile) {
  const std::vector<OnnxInitializer> initializers = {
      {"big", kFloat, {2, 1024}, Filler(8192, 1)},
      {"small", kFloat, {4}, Filler(16, 2)},
  };
  OnnxWriteOptions options;
  options.placement = OnnxTensorPlacement::kConstantNodes;
  options.external_data = true;
  const OnnxBytes bytes = OnnxModelBytes(initializers, options);
  const Result<OnnxModel> model = Parse(bytes.model);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  ASSERT_EQ(model->external.size(), 1u);
  EXPECT_EQ(model->external[0].name, "big");
  EXPECT_EQ(model->external[0].length, 8192u);
  EXPECT_EQ(bytes.external_data.substr(model->external[0].offset, 8192), initializers[0].raw_data);
  EXPECT_EQ(PayloadsByName(*model, bytes.model),
            (std::map<std::string, std::string>{{"small", initializers[1].raw_data}}));
}

TEST(OnnxTest, WrittenIfBranchesListEachTensorOncePerBranch) {
  const std::vector<OnnxInitializer> initializers = {
      {"encoder.0.weight", kFloat, {2, 2}, Filler(16, 1)},
      {"decoder.bias", kFloat, {2}, Filler(8, 2)},
  };
  for (const auto& [naming, node] : {std::pair{tools::OnnxNodeNaming::kModulePath, "/If"},
                                     std::pair{tools::OnnxNodeNaming::kNumbered, "If_0"}}) {
    OnnxWriteOptions options;
    options.placement = OnnxTensorPlacement::kIfBranches;
    options.node_naming = naming;
    const std::string bytes = OnnxModelBytes(initializers, options).model;
    const Result<OnnxModel> model = Parse(bytes);
    ASSERT_TRUE(model.has_value()) << model.error().message;
    std::map<std::string, std::string> expected;
    for (const std::string_view branch : {"then_branch", "else_branch"}) {
      for (const OnnxInitializer& tensor : initializers) {
        expected[fmt::format("{}/{}/{}", node, branch, tensor.name)] = tensor.raw_data;
      }
    }
    EXPECT_EQ(PayloadsByName(*model, bytes), expected);
  }
}

// A model whose main graph holds an If node, whose then_branch holds an initializer
// `then_name` ("aaaa") and whose else_branch a Constant node with a tensor `else_name` ("bbbb"),
// then an initializer `main` ("cccc"), as protobuf serializes a GraphProto: nodes first.
std::string BranchModel(std::string_view then_name, std::string_view else_name,
                        std::string_view main) {
  const ProtoMessage then_graph = GraphOf({Scalar(then_name, "aaaa")});
  const ProtoMessage else_graph = GraphOf({}, {ConstantNode("", "c", Scalar(else_name, "bbbb"))});
  return ModelOf({Scalar(main, "cccc")}, {IfNode("If_0", then_graph, else_graph)});
}

TEST(OnnxTest, ANestedTensorKeepsItsNameUnlessAnotherTensorHasIt) {
  struct Case {
    std::string_view then_name, else_name, main;
    std::map<std::string, std::string> expected;
  };
  const Case cases[] = {
      {"sub_only",
       "const_only",
       "main",
       {{"sub_only", "aaaa"}, {"const_only", "bbbb"}, {"main", "cccc"}}},
      // The main graph's initializer keeps its name; the others get their graph's path.
      {"w",
       "w",
       "w",
       {{"If_0/then_branch/w", "aaaa"}, {"If_0/else_branch/w", "bbbb"}, {"w", "cccc"}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.then_name);
    const std::string bytes = BranchModel(c.then_name, c.else_name, c.main);
    const Result<OnnxModel> model = Parse(bytes);
    ASSERT_TRUE(model.has_value()) << model.error().message;
    EXPECT_EQ(PayloadsByName(*model, bytes), c.expected);
  }
}

TEST(OnnxTest, TensorsOfAttributesWithoutANameAreNamedAfterTheirNode) {
  const auto unnamed = [](std::string_view payload) {
    return ProtoMessage().Varint(kDims, 1).Varint(kDataType, kFloat).Bytes(kRawData, payload);
  };
  const std::string bytes = ModelOf(
      {}, {
              ConstantNode("Constant_7", "c_out", unnamed("aaaa")),
              ConstantNode("Constant_8", "", unnamed("bbbb")),
              OnnxNodeMessage("ConstantOfShape", "fill", "zeros")
                  .Message(kAttribute, OnnxTensorAttribute("value", unnamed("cccc"))),
              OnnxNodeMessage("ConstantOfShape", "", "")
                  .Message(kAttribute, OnnxTensorAttribute("value", unnamed("dddd"))),
              OnnxNodeMessage("Pad", "pad", "padded")
                  .Message(kAttribute, ProtoMessage()
                                           .Bytes(tools::kOnnxAttributeName, "pads")
                                           .Message(tools::kOnnxAttributeTensors, unnamed("eeee"))
                                           .Message(tools::kOnnxAttributeTensors, unnamed("ffff"))),
          });
  const Result<OnnxModel> model = Parse(bytes);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  EXPECT_EQ(PayloadsByName(*model, bytes), (std::map<std::string, std::string>{
                                               {"c_out", "aaaa"},
                                               {"Constant_8/value", "bbbb"},
                                               {"fill/value", "cccc"},
                                               {"ConstantOfShape#3/value", "dddd"},
                                               {"pad/pads/0", "eeee"},
                                               {"pad/pads/1", "ffff"},
                                           }));
}

TEST(OnnxTest, TensorsSharingANameInOneGraphAreNamedAfterTheirNodes) {
  // onnx.helper users often give every Constant's tensor the same name.
  const auto constants = [](char a, char b) {
    return GraphOf({}, {ConstantNode("c0", "x", Scalar("const", std::string(4, a))),
                        ConstantNode("c1", "y", Scalar("const", std::string(4, b)))});
  };
  const std::string bytes =
      ProtoMessage()
          .Message(kGraph,
                   ProtoMessage()
                       .Raw(constants('a', 'b').bytes())
                       .Message(kNode, IfNode("If_0", constants('c', 'd'), GraphOf({}, {}))))
          .bytes();
  const Result<OnnxModel> model = Parse(bytes);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  EXPECT_EQ(PayloadsByName(*model, bytes), (std::map<std::string, std::string>{
                                               {"c0/value", "aaaa"},
                                               {"c1/value", "bbbb"},
                                               {"If_0/then_branch/c0/value", "cccc"},
                                               {"If_0/then_branch/c1/value", "dddd"},
                                           }));
}

TEST(OnnxTest, NodesAndAttributesAreNamedWhateverTheirFieldOrder) {
  const ProtoMessage attribute =
      ProtoMessage()
          .Message(tools::kOnnxAttributeG, GraphOf({Scalar("w", "aaaa")}))
          .Bytes(tools::kOnnxAttributeName, "body");
  const ProtoMessage node = ProtoMessage()
                                .Message(kAttribute, attribute)
                                .Bytes(tools::kOnnxNodeOpType, "Loop")
                                .Bytes(tools::kOnnxNodeName, "Loop_3")
                                .Bytes(tools::kOnnxNodeOutput, "out");
  const std::string bytes = ModelOf({Scalar("w", "bbbb")}, {node});
  const Result<OnnxModel> model = Parse(bytes);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  EXPECT_EQ(PayloadsByName(*model, bytes),
            (std::map<std::string, std::string>{{"Loop_3/body/w", "aaaa"}, {"w", "bbbb"}}));
}

TEST(OnnxTest, GraphsOfAnAttributesListAreNumbered) {
  ProtoMessage attribute = ProtoMessage().Bytes(tools::kOnnxAttributeName, "bodies");
  for (const std::string_view payload : {"aaaa", "bbbb"}) {
    attribute.Message(tools::kOnnxAttributeGraphs,
                      GraphOf({TensorHead("x", kFloat, {1}).Bytes(kRawData, payload)}));
  }
  const std::string bytes =
      ModelOf({}, {OnnxNodeMessage("Custom", "Scan_1", "out").Message(kAttribute, attribute)});
  const Result<OnnxModel> model = Parse(bytes);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  EXPECT_EQ(PayloadsByName(*model, bytes),
            (std::map<std::string, std::string>{{"Scan_1/bodies/0/x", "aaaa"},
                                                {"Scan_1/bodies/1/x", "bbbb"}}));
}

// A model whose main graph holds `depth` If nodes nested one in the other's then_branch, the
// innermost graph holding an initializer "w".
std::string NestedIfs(int depth) {
  ProtoMessage graph = GraphOf({Scalar("w", "wwww")});
  for (int i = depth; i > 0; --i) {
    graph = GraphOf({}, {IfNode(fmt::format("If_{}", i), graph, GraphOf({}))});
  }
  return ProtoMessage().Message(kGraph, graph).bytes();
}

TEST(OnnxTest, SubgraphsNestUpToSixteenGraphsDeep) {
  const Result<OnnxModel> model = Parse(NestedIfs(16));
  ASSERT_TRUE(model.has_value()) << model.error().message;
  ASSERT_EQ(model->tensors.size(), 1u);
  EXPECT_EQ(model->tensors[0].name, "w");
  ExpectBad(Parse(NestedIfs(17)), "lies more than 16 graphs deep");
}

TEST(OnnxTest, FunctionsAndTrainingGraphsHoldTensorsToo) {
  const ProtoMessage block =
      ProtoMessage()
          .Bytes(tools::kOnnxFunctionName, "Block")
          .Message(tools::kOnnxFunctionNode, ConstantNode("", "k", Scalar("w", "aaaa")))
          .Bytes(tools::kOnnxFunctionDomain, "custom")
          .Message(tools::kOnnxFunctionAttributeProto,
                   OnnxTensorAttribute("alpha", ProtoMessage()
                                                    .Varint(kDims, 1)
                                                    .Varint(kDataType, kFloat)
                                                    .Bytes(kRawData, "bbbb")))
          .Bytes(tools::kOnnxFunctionOverload, "v2");
  const ProtoMessage unnamed =
      ProtoMessage().Message(tools::kOnnxFunctionNode, ConstantNode("", "k2", Scalar("w", "cccc")));
  const ProtoMessage training =
      ProtoMessage().Message(tools::kOnnxTrainingAlgorithm, GraphOf({Scalar("w", "dddd")}));
  const std::string bytes = ProtoMessage()
                                .Message(kGraph, GraphOf({Scalar("w", "eeee")}))
                                .Message(tools::kOnnxModelTrainingInfo, training)
                                .Message(tools::kOnnxModelFunctions, block)
                                .Message(tools::kOnnxModelFunctions, unnamed)
                                .bytes();
  const Result<OnnxModel> model = Parse(bytes);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  EXPECT_EQ(PayloadsByName(*model, bytes), (std::map<std::string, std::string>{
                                               {"custom.Block:v2/w", "aaaa"},
                                               {"custom.Block:v2/alpha", "bbbb"},
                                               {"function#1/w", "cccc"},
                                               {"training_info/0/algorithm/w", "dddd"},
                                               {"w", "eeee"},
                                           }));
}

TEST(OnnxTest, ARepeatedTensorAttributeMergesAsInProtobuf) {
  // Protobuf merges two `t` fields: dims add up, name and raw_data are the last ones.
  const ProtoMessage attribute =
      ProtoMessage()
          .Bytes(tools::kOnnxAttributeName, "value")
          .Message(tools::kOnnxAttributeT, TensorHead("first", kFloat, {2}).Bytes(kRawData, "x"))
          .Message(
              tools::kOnnxAttributeT,
              ProtoMessage().Varint(kDims, 1).Bytes(kName, "merged").Bytes(kRawData, Filler(8)));
  const std::string bytes =
      ModelOf({}, {OnnxNodeMessage("Constant", "", "c").Message(kAttribute, attribute)});
  const Result<OnnxModel> model = Parse(bytes);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  ASSERT_EQ(model->tensors.size(), 1u);
  EXPECT_EQ(model->tensors[0].name, "merged");
  EXPECT_EQ(model->tensors[0].shape, (std::vector<std::uint64_t>{2, 1}));
  EXPECT_EQ(PayloadsOf(*model, bytes), std::vector<std::string>{Filler(8)});
}

TEST(OnnxTest, ExternalTensorsAreListedInFileOrderWhereverTheySit) {
  // The attribute's t comes before the initializer of its g in the file, though the parser
  // judges t only once the whole attribute has been read.
  const ProtoMessage attribute =
      ProtoMessage()
          .Bytes(tools::kOnnxAttributeName, "odd")
          .Message(tools::kOnnxAttributeT, External("first", {1}, {{"location", "d"}}))
          .Message(tools::kOnnxAttributeG, GraphOf({External("second", {1}, {{"location", "d"}})}));
  const Result<OnnxModel> model =
      Parse(ModelOf({External("third", {1}, {{"location", "d"}})},
                    {OnnxNodeMessage("Custom", "n", "").Message(kAttribute, attribute)}));
  ASSERT_TRUE(model.has_value()) << model.error().message;
  ASSERT_EQ(model->external.size(), 3u);
  EXPECT_EQ(model->external[0].name, "first");
  EXPECT_EQ(model->external[1].name, "second");
  EXPECT_EQ(model->external[2].name, "third");
}

TEST(OnnxTest, PayloadsAreSkippedNotRead) {
  std::vector<OnnxInitializer> initializers;
  for (int i = 0; i < 8; ++i) {
    initializers.push_back({"layer." + std::to_string(i), kFloat, {512, 512}, Filler(1 << 20, i)});
  }
  for (const OnnxTensorPlacement placement :
       {OnnxTensorPlacement::kInitializers, OnnxTensorPlacement::kConstantNodes,
        OnnxTensorPlacement::kIfBranches}) {
    SCOPED_TRACE(static_cast<int>(placement));
    OnnxWriteOptions options;
    options.placement = placement;
    const std::string bytes = OnnxModelBytes(initializers, options).model;
    const CountingByteSource source(bytes);
    const Result<OnnxModel> model = ParseOnnx(source);
    ASSERT_TRUE(model.has_value()) << model.error().message;
    EXPECT_EQ(model->tensors.size(), placement == OnnxTensorPlacement::kIfBranches ? 16u : 8u);
    // One 64 KiB window after each skipped payload, and the first.
    EXPECT_LE(source.bytes_read(), (model->tensors.size() + 1) * 64 * 1024);
  }
}

// The bytes AppendTensorData writes for `tensor` as BF16.
std::string Bf16Bytes(const tools::TensorSpec& tensor) {
  std::vector<std::uint16_t> values(tensor.Elements());
  tools::FillBf16(tensor.stream, 0, values);
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * 2);
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<tools::TensorSpec> SyntheticTensors() {
  std::vector<tools::TensorSpec> tensors(3);
  tensors[0].name = "model.embed_tokens.weight";
  tensors[0].shape = {512, 64};
  tensors[1].name = "model.layers.0.self_attn.q_proj.weight";
  tensors[1].shape = {64, 64};
  tensors[2].name = "model.norm.weight";
  tensors[2].shape = {64};
  for (std::size_t i = 0; i < tensors.size(); ++i) tensors[i].stream.seed = 100 + i;
  return tensors;
}

class OnnxFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::path(::testing::TempDir()) / ("onnx_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

TEST_F(OnnxFileTest, WrittenFileHoldsTheSyntheticTensorsAtTheListedOffsets) {
  const std::vector<tools::TensorSpec> tensors = SyntheticTensors();
  const std::filesystem::path path = dir_ / "model.onnx";
  const Result<std::uint64_t> size = tools::WriteOnnx(path, tensors, tools::StoredDtype::kBf16);
  ASSERT_TRUE(size.has_value()) << size.error().message;
  EXPECT_EQ(*size, std::filesystem::file_size(path));
  EXPECT_FALSE(std::filesystem::exists(tools::OnnxExternalDataPath(path)));

  Result<FileByteSource> file = FileByteSource::Open(path);
  ASSERT_TRUE(file.has_value()) << file.error().message;
  const Result<OnnxModel> model = ParseOnnx(*file);
  ASSERT_TRUE(model.has_value()) << model.error().message;
  const std::string bytes = ReadFile(path);
  ASSERT_EQ(model->tensors.size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorEntry& tensor = model->tensors[i];
    EXPECT_EQ(tensor.name, tensors[i].name);
    EXPECT_EQ(tensor.dtype, "BF16");
    EXPECT_EQ(tensor.shape, tensors[i].shape);
    EXPECT_EQ(bytes.substr(tensor.offset, tensor.size), Bf16Bytes(tensors[i])) << tensor.name;
  }
}

TEST_F(OnnxFileTest, WrittenFileHoldsTheSyntheticTensorsWhereverTheyArePlaced) {
  const std::vector<tools::TensorSpec> tensors = SyntheticTensors();
  const std::filesystem::path path = dir_ / "model.onnx";
  for (const OnnxTensorPlacement placement :
       {OnnxTensorPlacement::kConstantNodes, OnnxTensorPlacement::kIfBranches}) {
    SCOPED_TRACE(static_cast<int>(placement));
    OnnxWriteOptions options;
    options.placement = placement;
    const Result<std::uint64_t> size =
        tools::WriteOnnx(path, tensors, tools::StoredDtype::kBf16, options);
    ASSERT_TRUE(size.has_value()) << size.error().message;
    std::map<std::string, std::string> expected;
    for (const tools::TensorSpec& tensor : tensors) {
      if (placement == OnnxTensorPlacement::kConstantNodes) {
        expected[tensor.name] = Bf16Bytes(tensor);
        continue;
      }
      expected["/If/then_branch/" + tensor.name] = Bf16Bytes(tensor);
      expected["/If/else_branch/" + tensor.name] = Bf16Bytes(tensor);
    }
    const std::string bytes = ReadFile(path);
    const Result<OnnxModel> model = Parse(bytes);
    ASSERT_TRUE(model.has_value()) << model.error().message;
    EXPECT_EQ(PayloadsByName(*model, bytes), expected);
  }
}

TEST_F(OnnxFileTest, WrittenExternalDataSitsAtAlignedOffsetsBesideTheModel) {
  const std::vector<tools::TensorSpec> tensors = SyntheticTensors();
  const std::filesystem::path path = dir_ / "model.onnx";
  OnnxWriteOptions options;
  options.external_data = true;
  const Result<std::uint64_t> size =
      tools::WriteOnnx(path, tensors, tools::StoredDtype::kBf16, options);
  ASSERT_TRUE(size.has_value()) << size.error().message;
  const std::filesystem::path data_path = dir_ / "model.onnx_data";
  EXPECT_EQ(tools::OnnxExternalDataPath(path), data_path);
  const std::string data = ReadFile(data_path);

  const Result<OnnxModel> model = Parse(ReadFile(path));
  ASSERT_TRUE(model.has_value()) << model.error().message;
  ASSERT_EQ(model->external.size(), 2u);  // the 128-byte norm stays in the model
  ASSERT_EQ(model->tensors.size(), 1u);
  EXPECT_EQ(model->tensors[0].name, "model.norm.weight");
  for (std::size_t i = 0; i < 2; ++i) {
    const OnnxExternalTensor& tensor = model->external[i];
    EXPECT_EQ(tensor.name, tensors[i].name);
    EXPECT_EQ(tensor.location, "model.onnx_data");
    EXPECT_EQ(tensor.offset % tools::kOnnxExternalAlignment, 0u);
    ASSERT_TRUE(tensor.length.has_value());
    EXPECT_EQ(data.substr(tensor.offset, *tensor.length), Bf16Bytes(tensors[i])) << tensor.name;
  }
  EXPECT_EQ(model->external[1].offset, 512u * 64 * 2);
}

TEST(OnnxTest, ReadErrorsStayIoErrors) {
  const Result<OnnxModel> model = ParseOnnx(FailingByteSource());
  ASSERT_FALSE(model.has_value());
  EXPECT_EQ(model.error().code, Errc::kIo);
  EXPECT_EQ(model.error().message, "disk on fire");
}

// --- Rejections ---

std::string ModelWithRaw(std::string_view tensor_bytes) {
  return ProtoMessage().Message(kGraph, ProtoMessage().Bytes(kInitializer, tensor_bytes)).bytes();
}

struct BadCase {
  std::string_view what;
  std::string bytes;
  std::string_view fragment;
};

void ExpectEachBad(std::span<const BadCase> cases) {
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.what);
    ExpectBad(Parse(c.bytes), std::string(c.fragment));
  }
}

TEST(OnnxTest, MalformedWireFormatIsRejected) {
  const std::string ten_ff(9, '\xff');
  const BadCase cases[] = {
      {"empty file", "", "has no graph (field 7)"},
      {"no graph", ProtoMessage().Varint(1, 8).bytes(), "has no graph"},
      {"varint of 11 bytes", "\x08" + ten_ff + "\xff\x01", "longer than 10 bytes"},
      {"varint beyond 64 bits", "\x08" + ten_ff + "\x02", "overflows 64 bits"},
      {"varint cut short", "\x08\xff",
       "ModelProto at byte 0: a varint value at byte 1 runs past its end at byte 2"},
      {"group", "\x0b", "is a group (wire type 3)"},
      {"end group", "\x0c", "is a group (wire type 4)"},
      {"wire type 6", "\x0e", "wire type 6, which is not a protobuf wire type"},
      {"field number 0", std::string("\x00\x00", 2), "has field number 0"},
      {"tag beyond 32 bits", ProtoMessage::VarintBytes(std::uint64_t{1} << 35) + "\x00",
       "does not fit 32 bits"},
      {"graph as varint", ProtoMessage().Varint(kGraph, 1).bytes(),
       "field 7 (graph) at byte 0 has wire type 0, not 2"},
      {"graph past the file", ProtoMessage().LengthPrefix(kGraph, 100).Raw("abc").bytes(),
       "claims 100 bytes but the ModelProto ends 3 bytes later"},
      {"fixed64 past the file", "\x09\x01\x02", "the 8-byte value of field 1 at byte 0"},
      {"fixed32 past the file", "\x0d\x01", "the 4-byte value of field 1"},
      {"tensor past its graph",
       ProtoMessage()
           .Message(kGraph, ProtoMessage().LengthPrefix(kInitializer, 20))
           .Bytes(6, std::string(30, 'x'))
           .bytes(),
       "claims 20 bytes but the GraphProto ends 0 bytes later"},
      {"raw_data past its tensor",
       ProtoMessage()
           .Message(kGraph,
                    ProtoMessage().Message(kInitializer,
                                           TensorHead("t", kFloat, {2}).LengthPrefix(kRawData, 8)))
           .Bytes(6, std::string(30, 'x'))
           .bytes(),
       "claims 8 bytes but the TensorProto ends 0 bytes later"},
      {"external entry past its tensor",
       ModelWithRaw(
           TensorHead("t", kFloat, {2}).LengthPrefix(kExternalData, 2).Raw("\x0a\x05").bytes()),
       "claims 5 bytes but the StringStringEntryProto ends 0 bytes later"},
      {"packed dims past their field", ModelWithRaw(ProtoMessage().Bytes(kDims, "\x80").bytes()),
       "packed dims at byte 6: a dim at byte 6 runs past its end at byte 7"},
  };
  ExpectEachBad(cases);
}

TEST(OnnxTest, FieldsReadWithTheWrongWireTypeAreRejected) {
  const BadCase cases[] = {
      {"initializer",
       ProtoMessage().Message(kGraph, ProtoMessage().Varint(kInitializer, 1)).bytes(),
       "field 5 (initializer) at byte 2 has wire type 0, not 2"},
      {"dims", ModelWithRaw(ProtoMessage().Fixed32(kDims, 1).bytes()), "(dims)"},
      {"data_type", ModelWithRaw(ProtoMessage().Bytes(kDataType, "").bytes()), "(data_type)"},
      {"name", ModelWithRaw(ProtoMessage().Varint(kName, 1).bytes()), "(name)"},
      {"raw_data", ModelWithRaw(ProtoMessage().Varint(kRawData, 1).bytes()), "(raw_data)"},
      {"float_data", ModelWithRaw(ProtoMessage().Varint(kFloatData, 1).bytes()), "(float_data)"},
      {"double_data", ModelWithRaw(ProtoMessage().Fixed32(kDoubleData, 1).bytes()),
       "(double_data)"},
      {"string_data", ModelWithRaw(ProtoMessage().Varint(6, 1).bytes()), "(string_data)"},
      {"int32_data", ModelWithRaw(ProtoMessage().Fixed32(5, 1).bytes()), "(int32_data)"},
      {"external_data", ModelWithRaw(ProtoMessage().Varint(kExternalData, 1).bytes()),
       "(external_data)"},
      {"data_location", ModelWithRaw(ProtoMessage().Bytes(kDataLocation, "").bytes()),
       "(data_location)"},
      {"external key",
       ModelWithRaw(ProtoMessage().Message(kExternalData, ProtoMessage().Varint(1, 1)).bytes()),
       "(key)"},
  };
  ExpectEachBad(cases);
}

TEST(OnnxTest, InitializersThatDoNotAddUpAreRejected) {
  ProtoMessage many_dims = ProtoMessage().Varint(kDataType, kFloat).Bytes(kName, "t");
  for (int i = 0; i < 65; ++i) many_dims.Varint(kDims, 1);
  const BadCase cases[] = {
      {"no name", ModelOf({ProtoMessage().Varint(kDataType, kFloat).Bytes(kRawData, "abcd")}),
       "initializer #1 (TensorProto at byte 4) has no name"},
      {"name not UTF-8", ModelOf({TensorHead("\xc3\x28", kFloat, {})}), "is not valid UTF-8"},
      {"name too long", ModelOf({TensorHead(std::string(65537, 'n'), kFloat, {})}),
       "is 65537 bytes, more than the limit of 65536"},
      {"no data_type", ModelOf({ProtoMessage().Bytes(kName, "t").Bytes(kRawData, "abcd")}),
       "initializer \"t\" has no data_type"},
      {"UNDEFINED data_type", ModelOf({TensorHead("t", 0, {}).Bytes(kRawData, "abcd")}),
       "has data_type 0, which is not an ONNX element type"},
      {"unknown data_type", ModelOf({TensorHead("t", 99, {}).Bytes(kRawData, "abcd")}),
       "has data_type 99"},
      {"negative data_type", ModelOf({TensorHead("t", -1, {}).Bytes(kRawData, "abcd")}),
       "has data_type -1"},
      {"negative dim",
       ModelOf({ProtoMessage().Varint(kDims, ~std::uint64_t{0}).Varint(kDataType, kFloat)}),
       "initializer #1 (TensorProto at byte 4) has negative dim -1"},
      {"65 dims", ModelOf({many_dims}), "has more than 64 dims"},
      {"shape beyond 64 bits",
       ModelOf({TensorHead("t", kFloat, {std::uint64_t{1} << 40, std::uint64_t{1} << 30})
                    .Bytes(kRawData, "abcd")}),
       "initializer \"t\": shape [1099511627776, 1073741824] of FLOAT holds more bytes than fit"},
      {"raw_data too short", ModelOf({TensorHead("t", kFloat, {2}).Bytes(kRawData, Filler(7))}),
       "initializer \"t\": raw_data holds 7 bytes but shape [2] of FLOAT needs 8"},
      {"raw_data for no elements",
       ModelOf({TensorHead("t", kFloat, {0}).Bytes(kRawData, Filler(4))}),
       "raw_data holds 4 bytes but shape [0] of FLOAT needs 0"},
      {"float_data too long", ModelOf({TensorHead("t", kFloat, {1}).Bytes(kFloatData, Filler(8))}),
       "float_data holds 8 bytes but shape [1] of FLOAT needs 4"},
      {"float_data of ragged length",
       ModelOf({TensorHead("t", kFloat, {1}).Bytes(kFloatData, Filler(6))}),
       "packed float_data at byte 11 is 6 bytes, not a whole number of 4-byte values"},
      {"float_data of another type",
       ModelOf({TensorHead("t", kInt32, {1}).Bytes(kFloatData, Filler(4))}),
       "initializer \"t\" holds INT32 values in float_data"},
      {"double_data of another type",
       ModelOf({TensorHead("t", kFloat, {1}).Fixed64(kDoubleData, 1)}),
       "initializer \"t\" holds FLOAT values in double_data"},
      {"two value fields",
       ModelOf({TensorHead("t", kInt32, {1}).Bytes(kRawData, Filler(4)).Varint(5, 1)}),
       "initializer \"t\" holds its values in both raw_data and int32_data"},
      {"segment", ModelOf({TensorHead("t", kFloat, {1}).Message(3, ProtoMessage().Varint(1, 0))}),
       "initializer \"t\" has a segment (field 3)"},
      {"data_location 2", ModelOf({TensorHead("t", kFloat, {1}).Varint(kDataLocation, 2)}),
       "initializer \"t\" has data_location 2"},
      {"duplicate names",
       ModelOf({TensorHead("t", kFloat, {1}).Bytes(kRawData, Filler(4)),
                External("t", {1}, {{"location", "d"}})}),
       "two tensors are named \"t\""},
  };
  ExpectEachBad(cases);
}

TEST(OnnxTest, ExternalInitializersThatDoNotAddUpAreRejected) {
  const BadCase cases[] = {
      {"inline values too",
       ModelOf({External("t", {1}, {{"location", "d"}}).Bytes(kRawData, Filler(4))}),
       "initializer \"t\" is stored externally (data_location EXTERNAL) but also holds raw_data"},
      {"no location", ModelOf({External("t", {1}, {{"offset", "0"}})}),
       "initializer \"t\" is stored externally but its external_data has no location"},
      {"empty location", ModelOf({External("t", {1}, {{"location", ""}})}), "has no location"},
      {"offset not a number", ModelOf({External("t", {1}, {{"location", "d"}, {"offset", "12x"}})}),
       "initializer \"t\": external_data offset \"12x\" is not a decimal number"},
      {"negative length", ModelOf({External("t", {1}, {{"location", "d"}, {"length", "-4"}})}),
       "external_data length \"-4\" is not a decimal number"},
      {"offset beyond 64 bits",
       ModelOf({External("t", {1}, {{"location", "d"}, {"offset", "18446744073709551616"}})}),
       "is not a decimal number of at most 64 bits"},
      {"length of another shape",
       ModelOf({External("t", {3}, {{"location", "d"}, {"length", "8"}})}),
       "initializer \"t\": external_data length 8 but shape [3] of FLOAT needs 12 bytes"},
      {"end beyond 64 bits",
       ModelOf({External("t", {2}, {{"location", "d"}, {"offset", "18446744073709551610"}})}),
       "external_data offset 18446744073709551610 plus its 8 bytes does not fit in 64 bits"},
  };
  ExpectEachBad(cases);
}

TEST(OnnxTest, NestedTensorsThatDoNotAddUpAreRejected) {
  const auto in_branch = [](const ProtoMessage& graph) {
    return ModelOf({}, {IfNode("If_0", graph, GraphOf({}))});
  };
  const auto in_constant = [](const ProtoMessage& tensor) {
    return ModelOf({}, {ConstantNode("", "c", tensor)});
  };
  const BadCase cases[] = {
      {"subgraph initializer without a name",
       in_branch(GraphOf({ProtoMessage().Varint(kDataType, kFloat).Bytes(kRawData, "abcd")})),
       "subgraph initializer (TensorProto at byte 33) has no name"},
      {"subgraph initializer of another size",
       in_branch(GraphOf({TensorHead("w", kFloat, {2}).Bytes(kRawData, "abcd")})),
       "subgraph initializer \"w\" (TensorProto at byte 33): raw_data holds 4 bytes but shape [2] "
       "of FLOAT needs 8"},
      {"attribute tensor of an unknown type",
       in_constant(TensorHead("c", 99, {1}).Bytes(kRawData, "abcd")),
       "tensor \"c\" of attribute \"value\" (TensorProto at byte 28) has data_type 99"},
      {"attribute tensor of another size",
       in_constant(ProtoMessage().Varint(kDataType, kFloat).Bytes(kRawData, "abc")),
       "tensor of attribute \"value\" (TensorProto at byte 28): raw_data holds 3 bytes but shape "
       "[] of FLOAT needs 4"},
      {"attribute tensor with a negative dim before the attribute's name",
       ModelOf({}, {ProtoMessage().Message(
                       kAttribute, ProtoMessage().Message(tools::kOnnxAttributeT,
                                                          ProtoMessage().Varint(kDims, ~0ull)))}),
       "tensor of an attribute (TensorProto at byte 8) has negative dim -1"},
      {"two initializers of one name in one subgraph",
       in_branch(GraphOf({Scalar("w", "abcd"), Scalar("w", "efgh")})),
       "two tensors are named \"If_0/then_branch/w\""},
      {"node name not UTF-8", ModelOf({}, {OnnxNodeMessage("Relu", "\xc3\x28", "")}),
       "NodeProto at byte 4: name at byte 4 is not valid UTF-8"},
      {"attribute name too long",
       ModelOf({}, {OnnxNodeMessage("Relu", "", "")
                        .Message(kAttribute, ProtoMessage().Bytes(tools::kOnnxAttributeName,
                                                                  std::string(65537, 'a')))}),
       "AttributeProto at byte 18: name at byte 18 is 65537 bytes, more than the limit of 65536"},
      {"function name not UTF-8",
       ProtoMessage()
           .Message(tools::kOnnxModelFunctions,
                    ProtoMessage().Bytes(tools::kOnnxFunctionName, "\xff"))
           .Message(kGraph, GraphOf({}))
           .bytes(),
       "FunctionProto at byte 3: name at byte 3 is not valid UTF-8"},
  };
  ExpectEachBad(cases);
}

TEST(OnnxTest, NestedFieldsReadWithTheWrongWireTypeAreRejected) {
  const auto node = [](const ProtoMessage& node) { return ModelOf({}, {node}); };
  const auto attribute = [&](const ProtoMessage& attribute) {
    return node(ProtoMessage().Message(kAttribute, attribute));
  };
  const auto with_graph = [](std::uint32_t field, const ProtoMessage& message) {
    return ProtoMessage().Message(field, message).Message(kGraph, GraphOf({})).bytes();
  };
  const BadCase cases[] = {
      {"node", ProtoMessage().Message(kGraph, ProtoMessage().Varint(kNode, 1)).bytes(),
       "field 1 (node) at byte 2 has wire type 0, not 2"},
      {"node name", node(ProtoMessage().Varint(tools::kOnnxNodeName, 1)),
       "NodeProto at byte 4: field 3 (name) at byte 4 has wire type 0"},
      {"op_type", node(ProtoMessage().Varint(tools::kOnnxNodeOpType, 1)), "(op_type)"},
      {"output", node(ProtoMessage().Fixed32(tools::kOnnxNodeOutput, 1)), "(output)"},
      {"attribute", node(ProtoMessage().Varint(kAttribute, 1)), "(attribute)"},
      {"attribute name", attribute(ProtoMessage().Varint(tools::kOnnxAttributeName, 1)),
       "AttributeProto at byte 6: field 1 (name)"},
      {"t", attribute(ProtoMessage().Varint(tools::kOnnxAttributeT, 1)), "(t)"},
      {"tensors", attribute(ProtoMessage().Fixed64(tools::kOnnxAttributeTensors, 1)), "(tensors)"},
      {"g", attribute(ProtoMessage().Fixed32(tools::kOnnxAttributeG, 1)), "(g)"},
      {"graphs", attribute(ProtoMessage().Varint(tools::kOnnxAttributeGraphs, 1)), "(graphs)"},
      {"functions", ProtoMessage().Varint(tools::kOnnxModelFunctions, 1).bytes(),
       "ModelProto at byte 0: field 25 (functions)"},
      {"function node",
       with_graph(tools::kOnnxModelFunctions, ProtoMessage().Varint(tools::kOnnxFunctionNode, 1)),
       "FunctionProto at byte 3: field 7 (node)"},
      {"function attribute_proto",
       with_graph(tools::kOnnxModelFunctions,
                  ProtoMessage().Varint(tools::kOnnxFunctionAttributeProto, 1)),
       "(attribute_proto)"},
      {"function domain",
       with_graph(tools::kOnnxModelFunctions, ProtoMessage().Varint(tools::kOnnxFunctionDomain, 1)),
       "(domain)"},
      {"training_info", ProtoMessage().Fixed32(tools::kOnnxModelTrainingInfo, 1).bytes(),
       "(training_info)"},
      {"training algorithm",
       with_graph(tools::kOnnxModelTrainingInfo,
                  ProtoMessage().Varint(tools::kOnnxTrainingAlgorithm, 1)),
       "TrainingInfoProto at byte 3: field 2 (algorithm)"},
      {"training initialization",
       with_graph(tools::kOnnxModelTrainingInfo,
                  ProtoMessage().Varint(tools::kOnnxTrainingInitialization, 1)),
       "(initialization)"},
  };
  ExpectEachBad(cases);
}

TEST(OnnxTest, NamesBuiltForNestedTensorsAreBounded) {
  // Each of 1025 unnamed, empty tensors of one attribute is named "<node>/a/<i>" after a node
  // name of 64 KiB: more than 64 MiB of names from a file of 72 KiB.
  ProtoMessage attribute = ProtoMessage().Bytes(tools::kOnnxAttributeName, "a");
  const ProtoMessage empty =
      ProtoMessage().Varint(kDims, 0).Varint(kDataType, kFloat).Bytes(kRawData, "");
  for (int i = 0; i < 1025; ++i) attribute.Message(tools::kOnnxAttributeTensors, empty);
  const std::string long_name(65536, 'n');
  const auto model = [&](const ProtoMessage& attribute) {
    return ModelOf({}, {OnnxNodeMessage("Custom", long_name, "").Message(kAttribute, attribute)});
  };
  ExpectBad(Parse(model(attribute)),
            "the names of the tensors outside the main graph's initializers take more than "
            "67108864 bytes");
  const Result<OnnxModel> fewer = Parse(model(ProtoMessage()
                                                  .Bytes(tools::kOnnxAttributeName, "a")
                                                  .Message(tools::kOnnxAttributeTensors, empty)));
  ASSERT_TRUE(fewer.has_value()) << fewer.error().message;
  ASSERT_EQ(fewer->tensors.size(), 1u);
  EXPECT_EQ(fewer->tensors[0].name, long_name + "/a/0");
}

TEST(OnnxTest, MoreThanAMillionInitializersAreRejected) {
  const std::string tensor =
      ProtoMessage().Message(kInitializer, TensorHead("s", kString, {})).bytes();
  constexpr int kCount = (1 << 20) + 1;
  std::string graph;
  graph.reserve(tensor.size() * kCount);
  for (int i = 0; i < kCount; ++i) graph += tensor;
  ExpectBad(Parse(ProtoMessage().Bytes(kGraph, graph).bytes()),
            "the model has more than 1048576 tensors");
}

}  // namespace
}  // namespace mei
