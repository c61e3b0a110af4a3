// Writes ONNX models: a ModelProto (ir_version 8, opset 17) whose graph holds the tensors, laid
// out as protobuf serializes what PyTorch's exporter builds: fields in number order, one node per
// tensor (MatMul for matrices, Mul otherwise) chained from one graph input to one output,
// TensorProto { dims (unpacked), data_type, name, raw_data }. The tensors are the graph's
// initializers, or the `value` of Constant nodes, or sit in both branches of an If node (see
// OnnxTensorPlacement). With external data the tensors of at least `external_min_bytes` go into
// `<model file>_data` instead, each at an offset aligned to kOnnxExternalAlignment, as
// onnx.save_model and onnxruntime write them.
//
// One encoder makes every ONNX byte here: mei-synth streams tensor data through it in bounded
// memory; tests and fuzz seeds build small models from given bytes, or single messages with
// ProtoMessage.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/errc.h"
#include "tools/synth/llama_layout.h"
#include "tools/synth/tensor_data.h"

namespace mei::tools {

// Protobuf wire-format encoding (https://protobuf.dev/programming-guides/encoding/): each call
// appends one field to the message's bytes. Not thread-safe.
class ProtoMessage {
 public:
  ProtoMessage& Varint(std::uint32_t field, std::uint64_t value);
  ProtoMessage& Fixed32(std::uint32_t field, std::uint32_t value);
  ProtoMessage& Fixed64(std::uint32_t field, std::uint64_t value);
  ProtoMessage& Bytes(std::uint32_t field, std::string_view bytes);  // length-delimited
  ProtoMessage& Message(std::uint32_t field, const ProtoMessage& message);
  ProtoMessage& PackedVarints(std::uint32_t field, std::span<const std::uint64_t> values);
  // The tag and length of a length-delimited field whose `length` bytes are appended after.
  ProtoMessage& LengthPrefix(std::uint32_t field, std::uint64_t length);
  // Appends `bytes` as they are: a hand-made tag, a truncated value.
  ProtoMessage& Raw(std::string_view bytes);

  [[nodiscard]] const std::string& bytes() const { return bytes_; }

  // The varint encoding of `value` (1 to 10 bytes).
  [[nodiscard]] static std::string VarintBytes(std::uint64_t value);

 private:
  ProtoMessage& Field(std::uint32_t field, std::uint32_t wire_type, std::string_view value);

  std::string bytes_;
};

// Field numbers of onnx/onnx.proto that the writer and its tests use.
inline constexpr std::uint32_t kOnnxModelIrVersion = 1;
inline constexpr std::uint32_t kOnnxModelProducerName = 2;
inline constexpr std::uint32_t kOnnxModelProducerVersion = 3;
inline constexpr std::uint32_t kOnnxModelGraph = 7;
inline constexpr std::uint32_t kOnnxModelOpsetImport = 8;
inline constexpr std::uint32_t kOnnxModelTrainingInfo = 20;
inline constexpr std::uint32_t kOnnxModelFunctions = 25;
inline constexpr std::uint32_t kOnnxTrainingInitialization = 1;
inline constexpr std::uint32_t kOnnxTrainingAlgorithm = 2;
inline constexpr std::uint32_t kOnnxFunctionName = 1;
inline constexpr std::uint32_t kOnnxFunctionNode = 7;
inline constexpr std::uint32_t kOnnxFunctionDomain = 10;
inline constexpr std::uint32_t kOnnxFunctionAttributeProto = 11;
inline constexpr std::uint32_t kOnnxFunctionOverload = 13;
inline constexpr std::uint32_t kOnnxGraphNode = 1;
inline constexpr std::uint32_t kOnnxGraphName = 2;
inline constexpr std::uint32_t kOnnxGraphInitializer = 5;
inline constexpr std::uint32_t kOnnxGraphSparseInitializer = 15;
inline constexpr std::uint32_t kOnnxGraphInput = 11;
inline constexpr std::uint32_t kOnnxGraphOutput = 12;
inline constexpr std::uint32_t kOnnxNodeInput = 1;
inline constexpr std::uint32_t kOnnxNodeOutput = 2;
inline constexpr std::uint32_t kOnnxNodeName = 3;
inline constexpr std::uint32_t kOnnxNodeOpType = 4;
inline constexpr std::uint32_t kOnnxNodeAttribute = 5;
inline constexpr std::uint32_t kOnnxAttributeName = 1;
inline constexpr std::uint32_t kOnnxAttributeT = 5;
inline constexpr std::uint32_t kOnnxAttributeG = 6;
inline constexpr std::uint32_t kOnnxAttributeTensors = 10;
inline constexpr std::uint32_t kOnnxAttributeGraphs = 11;
inline constexpr std::uint32_t kOnnxAttributeType = 20;
inline constexpr std::uint32_t kOnnxTensorDims = 1;
inline constexpr std::uint32_t kOnnxTensorDataType = 2;
inline constexpr std::uint32_t kOnnxTensorSegment = 3;
inline constexpr std::uint32_t kOnnxTensorFloatData = 4;
inline constexpr std::uint32_t kOnnxTensorInt32Data = 5;
inline constexpr std::uint32_t kOnnxTensorStringData = 6;
inline constexpr std::uint32_t kOnnxTensorInt64Data = 7;
inline constexpr std::uint32_t kOnnxTensorName = 8;
inline constexpr std::uint32_t kOnnxTensorRawData = 9;
inline constexpr std::uint32_t kOnnxTensorDoubleData = 10;
inline constexpr std::uint32_t kOnnxTensorUint64Data = 11;
inline constexpr std::uint32_t kOnnxTensorExternalData = 13;
inline constexpr std::uint32_t kOnnxTensorDataLocation = 14;

// TensorProto.DataType numbers the writer's callers use most.
inline constexpr std::int32_t kOnnxFloat = 1;
inline constexpr std::int32_t kOnnxUint8 = 2;
inline constexpr std::int32_t kOnnxInt64 = 7;
inline constexpr std::int32_t kOnnxString = 8;
inline constexpr std::int32_t kOnnxFloat16 = 10;
inline constexpr std::int32_t kOnnxDouble = 11;
inline constexpr std::int32_t kOnnxBfloat16 = 16;
inline constexpr std::int32_t kOnnxInt4 = 22;

// AttributeProto.AttributeType numbers.
inline constexpr std::uint64_t kOnnxAttributeTensor = 4;
inline constexpr std::uint64_t kOnnxAttributeGraph = 5;

inline constexpr std::uint64_t kOnnxExternalAlignment = 4096;

// How nodes are named: as PyTorch's exporter names them after the module path
// ("/model/layers.0/mlp/up_proj/MatMul"), or numbered as older converters do ("MatMul_3").
enum class OnnxNodeNaming : std::uint8_t { kModulePath, kNumbered };

// Where the tensors go: the main graph's initializers (most exporters); the `value` of one
// Constant node each, just before the node using it (PyTorch's exporter for constants, inlined
// models); or both branches of an If node, then_branch holding them as initializers and
// else_branch as Constant nodes, so that each tensor's bytes come twice under one name (silero
// VAD keeps the weights of its two sample rates in the branches of an If node).
enum class OnnxTensorPlacement : std::uint8_t { kInitializers, kConstantNodes, kIfBranches };

// The framing around the tensors, which differs from one export of the same weights to another.
// The tensors appear in the order they are given.
struct OnnxWriteOptions {
  std::string producer = "mei-synth";
  std::string producer_version = "1.0";
  std::string graph_name = "main_graph";
  OnnxNodeNaming node_naming = OnnxNodeNaming::kModulePath;
  OnnxTensorPlacement placement = OnnxTensorPlacement::kInitializers;
  bool external_data = false;
  std::uint64_t external_min_bytes = 1024;  // smaller tensors stay in the model file
  // The data file named in external_data; empty: `<model file name>_data` for WriteOnnx,
  // "model.onnx_data" for OnnxModelBytes.
  std::string external_location;
};

// A tensor given by its bytes, for models built in memory.
struct OnnxInitializer {
  std::string name;
  std::int32_t data_type = kOnnxFloat;  // TensorProto.DataType
  std::vector<std::uint64_t> dims;
  std::string raw_data;  // the little-endian elements; the writer does not check its length
};

struct OnnxBytes {
  std::string model;
  std::string external_data;  // the data file's bytes; empty unless options.external_data
};

// Single messages, for tests and fuzz seeds that build models by hand. Thread-safe.
// A NodeProto of `op_type` with its name and first output (each left out when empty).
[[nodiscard]] ProtoMessage OnnxNodeMessage(std::string_view op_type, std::string_view name,
                                           std::string_view output);
// An AttributeProto called `name` whose t is `tensor` (type TENSOR).
[[nodiscard]] ProtoMessage OnnxTensorAttribute(std::string_view name, const ProtoMessage& tensor);
// An AttributeProto called `name` whose g is `graph` (type GRAPH).
[[nodiscard]] ProtoMessage OnnxGraphAttribute(std::string_view name, const ProtoMessage& graph);

// The bytes of a model holding `initializers` as options.placement says. Thread-safe.
[[nodiscard]] OnnxBytes OnnxModelBytes(std::span<const OnnxInitializer> initializers,
                                       const OnnxWriteOptions& options = {});

// `model` with "_data" appended to its file name: model.onnx -> model.onnx_data.
[[nodiscard]] std::filesystem::path OnnxExternalDataPath(const std::filesystem::path& model);

// Writes `tensors` in this order as `dtype` (BFLOAT16, FLOAT16 or FLOAT) to `path`, and with
// options.external_data their large ones to the data file beside it (OnnxExternalDataPath(path)
// unless options.external_location names another; none when no tensor is large enough),
// atomically and in bounded memory. Returns the model file's size; kIo on write errors.
[[nodiscard]] Result<std::uint64_t> WriteOnnx(const std::filesystem::path& path,
                                              std::span<const TensorSpec> tensors,
                                              StoredDtype dtype,
                                              const OnnxWriteOptions& options = {});

}  // namespace mei::tools
