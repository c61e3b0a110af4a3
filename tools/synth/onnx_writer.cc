#include "tools/synth/onnx_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "common/atomic_file.h"

namespace mei::tools {
namespace {

constexpr std::uint32_t kWireVarint = 0;
constexpr std::uint32_t kWireFixed64 = 1;
constexpr std::uint32_t kWireLengthDelimited = 2;
constexpr std::uint32_t kWireFixed32 = 5;

constexpr std::uint64_t kIrVersion = 8;
constexpr std::uint64_t kOpsetVersion = 17;

// Fields of the messages only the writer builds (onnx/onnx.proto).
constexpr std::uint32_t kOpsetDomain = 1;
constexpr std::uint32_t kOpsetVersionField = 2;
constexpr std::uint32_t kValueInfoName = 1;
constexpr std::uint32_t kValueInfoType = 2;
constexpr std::uint32_t kTypeTensorType = 1;
constexpr std::uint32_t kTensorTypeElemType = 1;
constexpr std::uint32_t kTensorTypeShape = 2;
constexpr std::uint32_t kShapeDim = 1;
constexpr std::uint32_t kDimParam = 2;
constexpr std::uint32_t kEntryKey = 1;
constexpr std::uint32_t kEntryValue = 2;
constexpr std::uint64_t kDataLocationExternal = 1;

constexpr std::string_view kGraphInputName = "hidden_states";
constexpr std::string_view kConditionName = "use_then_branch";
constexpr std::int32_t kOnnxBool = 9;

std::string LittleEndian(std::uint64_t value, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
  return out;
}

// A tensor as the encoder sees it: its framing and the length of its payload, whose bytes
// the caller supplies.
struct Initializer {
  std::string_view name;
  std::int32_t data_type = kOnnxFloat;
  std::span<const std::uint64_t> dims;
  std::uint64_t payload_bytes = 0;
};

// A message's bytes in order, its length known before they are written: runs of framing, each
// followed by the payload of the tensor `payload` indexes, or by nothing.
struct Piece {
  std::string framing;
  std::optional<std::size_t> payload;
};

class PieceList {
 public:
  void Append(std::string_view framing) {
    AppendFraming(framing);
    size_ += framing.size();
  }
  void AppendPayload(std::size_t tensor, std::uint64_t bytes) {
    AppendPayloadOf(tensor);
    size_ += bytes;
  }
  void Append(PieceList other) {
    for (const Piece& piece : other.pieces_) {
      AppendFraming(piece.framing);
      if (piece.payload) AppendPayloadOf(*piece.payload);
    }
    size_ += other.size_;
  }
  // Appends `message` as field `field`: its tag and length, then its pieces.
  void AppendMessage(std::uint32_t field, PieceList message) {
    Append(ProtoMessage().LengthPrefix(field, message.size_).bytes());
    Append(std::move(message));
  }
  [[nodiscard]] std::uint64_t size() const { return size_; }
  std::vector<Piece> Take() { return std::move(pieces_); }

 private:
  void AppendFraming(std::string_view framing) {
    if (pieces_.empty() || pieces_.back().payload) pieces_.emplace_back();
    pieces_.back().framing += framing;
  }
  void AppendPayloadOf(std::size_t tensor) {
    if (pieces_.empty() || pieces_.back().payload) pieces_.emplace_back();
    pieces_.back().payload = tensor;
  }

  std::vector<Piece> pieces_;
  std::uint64_t size_ = 0;
};

// "/model/layers.0/mlp/up_proj" for "model.layers.0.mlp.up_proj.weight": the module path as
// PyTorch's exporter writes it into node names, list indices kept with their list.
std::string ModulePath(std::string_view tensor_name) {
  const std::size_t last_dot = tensor_name.rfind('.');
  if (last_dot == std::string_view::npos) return "";
  std::string path;
  std::string_view rest = tensor_name.substr(0, last_dot);
  while (!rest.empty()) {
    const std::size_t dot = rest.find('.');
    const std::string_view part = rest.substr(0, dot);
    const bool index =
        std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    path += fmt::format("{}{}", index && !path.empty() ? "." : "/", part);
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
  }
  return path;
}

// Names the node of each initializer, unique within the graph.
class NodeNamer {
 public:
  explicit NodeNamer(OnnxNodeNaming naming) : naming_(naming) {}

  std::string Name(const Initializer& initializer, std::string_view op_type) {
    std::string name = naming_ == OnnxNodeNaming::kModulePath
                           ? fmt::format("{}/{}", ModulePath(initializer.name), op_type)
                           : fmt::format("{}_{}", op_type, counter_++);
    const int seen = seen_[name]++;
    return seen == 0 ? name : fmt::format("{}_{}", name, seen);
  }
  std::string Output(std::string_view node) const {
    return naming_ == OnnxNodeNaming::kModulePath ? fmt::format("{}_output_0", node)
                                                  : fmt::format("{}_out", node);
  }

 private:
  OnnxNodeNaming naming_;
  int counter_ = 0;
  std::map<std::string, int> seen_;
};

ProtoMessage ValueInfo(std::string_view name, std::int32_t elem_type) {
  ProtoMessage shape;
  for (const std::string_view dim : {"batch", "sequence"}) {
    shape.Message(kShapeDim, ProtoMessage().Bytes(kDimParam, dim));
  }
  const ProtoMessage tensor_type =
      ProtoMessage()
          .Varint(kTensorTypeElemType, static_cast<std::uint64_t>(elem_type))
          .Message(kTensorTypeShape, shape);
  return ProtoMessage()
      .Bytes(kValueInfoName, name)
      .Message(kValueInfoType, ProtoMessage().Message(kTypeTensorType, tensor_type));
}

ProtoMessage ExternalDataEntry(std::string_view key, std::string_view value) {
  return ProtoMessage().Bytes(kEntryKey, key).Bytes(kEntryValue, value);
}

// Offsets in the data file of the initializers stored there (nullopt: kept in the model), each
// aligned to kOnnxExternalAlignment, in order.
std::vector<std::optional<std::uint64_t>> PlaceExternalData(
    std::span<const Initializer> initializers, const OnnxWriteOptions& options) {
  std::vector<std::optional<std::uint64_t>> offsets(initializers.size());
  if (!options.external_data) return offsets;
  std::uint64_t end = 0;
  for (std::size_t i = 0; i < initializers.size(); ++i) {
    if (initializers[i].payload_bytes < options.external_min_bytes) continue;
    const std::uint64_t offset =
        (end + kOnnxExternalAlignment - 1) / kOnnxExternalAlignment * kOnnxExternalAlignment;
    offsets[i] = offset;
    end = offset + initializers[i].payload_bytes;
  }
  return offsets;
}

// The tensors of a model and where each one's bytes go.
struct TensorLayout {
  std::span<const Initializer> initializers;
  std::span<const std::optional<std::uint64_t>> external_offsets;  // nullopt: in the model
  std::string_view location;                                       // the data file
};

// The TensorProto of the `index`-th tensor: its raw_data, or where it lies in the data file.
PieceList TensorMessage(const TensorLayout& layout, std::size_t index) {
  const Initializer& initializer = layout.initializers[index];
  ProtoMessage head;
  for (const std::uint64_t dim : initializer.dims) head.Varint(kOnnxTensorDims, dim);
  head.Varint(kOnnxTensorDataType, static_cast<std::uint64_t>(initializer.data_type))
      .Bytes(kOnnxTensorName, initializer.name);
  PieceList tensor;
  if (const std::optional<std::uint64_t> offset = layout.external_offsets[index]) {
    head.Message(kOnnxTensorExternalData, ExternalDataEntry("location", layout.location))
        .Message(kOnnxTensorExternalData, ExternalDataEntry("offset", std::to_string(*offset)))
        .Message(kOnnxTensorExternalData,
                 ExternalDataEntry("length", std::to_string(initializer.payload_bytes)))
        .Varint(kOnnxTensorDataLocation, kDataLocationExternal);
    tensor.Append(head.bytes());
    return tensor;
  }
  head.LengthPrefix(kOnnxTensorRawData, initializer.payload_bytes);
  tensor.Append(head.bytes());
  tensor.AppendPayload(index, initializer.payload_bytes);
  return tensor;
}

// An AttributeProto called `name` holding `value`, a TensorProto or a GraphProto as `field` and
// `type` say.
PieceList Attribute(std::string_view name, std::uint32_t field, std::uint64_t type,
                    PieceList value) {
  PieceList attribute;
  attribute.Append(ProtoMessage().Bytes(kOnnxAttributeName, name).bytes());
  attribute.AppendMessage(field, std::move(value));
  attribute.Append(ProtoMessage().Varint(kOnnxAttributeType, type).bytes());
  return attribute;
}

// A GraphProto called `name` with one node per tensor, chained from the main graph's input, and
// the tensors as its initializers or, with `as_constants`, as Constant nodes before the nodes
// using them. Sets `output` to the last node's output.
PieceList GraphMessage(const TensorLayout& layout, bool as_constants, std::string_view name,
                       OnnxNodeNaming naming, std::string& output) {
  NodeNamer namer(naming);
  PieceList graph;
  output = kGraphInputName;
  for (std::size_t i = 0; i < layout.initializers.size(); ++i) {
    const Initializer& initializer = layout.initializers[i];
    if (as_constants) {
      PieceList constant;
      constant.Append(ProtoMessage()
                          .Bytes(kOnnxNodeOutput, initializer.name)
                          .Bytes(kOnnxNodeName, namer.Name(initializer, "Constant"))
                          .Bytes(kOnnxNodeOpType, "Constant")
                          .bytes());
      constant.AppendMessage(
          kOnnxNodeAttribute,
          Attribute("value", kOnnxAttributeT, kOnnxAttributeTensor, TensorMessage(layout, i)));
      graph.AppendMessage(kOnnxGraphNode, std::move(constant));
    }
    const std::string_view op_type = initializer.dims.size() == 2 ? "MatMul" : "Mul";
    const std::string node = namer.Name(initializer, op_type);
    std::string node_output = namer.Output(node);
    graph.Append(ProtoMessage()
                     .Message(kOnnxGraphNode, ProtoMessage()
                                                  .Bytes(kOnnxNodeInput, output)
                                                  .Bytes(kOnnxNodeInput, initializer.name)
                                                  .Bytes(kOnnxNodeOutput, node_output)
                                                  .Bytes(kOnnxNodeName, node)
                                                  .Bytes(kOnnxNodeOpType, op_type))
                     .bytes());
    output = std::move(node_output);
  }
  graph.Append(ProtoMessage().Bytes(kOnnxGraphName, name).bytes());
  if (!as_constants) {
    for (std::size_t i = 0; i < layout.initializers.size(); ++i) {
      graph.AppendMessage(kOnnxGraphInitializer, TensorMessage(layout, i));
    }
  }
  return graph;
}

// The main graph of OnnxTensorPlacement::kIfBranches: one If node, whose branches hold the
// tensors, choosing on a boolean input.
PieceList IfGraph(const TensorLayout& layout, const OnnxWriteOptions& options,
                  std::int32_t elem_type) {
  const std::string node = options.node_naming == OnnxNodeNaming::kModulePath ? "/If" : "If_0";
  const std::string output = NodeNamer(options.node_naming).Output(node);
  PieceList if_node;
  if_node.Append(ProtoMessage()
                     .Bytes(kOnnxNodeInput, kConditionName)
                     .Bytes(kOnnxNodeOutput, output)
                     .Bytes(kOnnxNodeName, node)
                     .Bytes(kOnnxNodeOpType, "If")
                     .bytes());
  for (const bool as_constants : {false, true}) {
    const std::string_view branch = as_constants ? "else_branch" : "then_branch";
    std::string branch_output;
    PieceList graph =
        GraphMessage(layout, as_constants, branch, options.node_naming, branch_output);
    graph.Append(
        ProtoMessage().Message(kOnnxGraphOutput, ValueInfo(branch_output, elem_type)).bytes());
    if_node.AppendMessage(kOnnxNodeAttribute, Attribute(branch, kOnnxAttributeG,
                                                        kOnnxAttributeGraph, std::move(graph)));
  }
  PieceList graph;
  graph.AppendMessage(kOnnxGraphNode, std::move(if_node));
  graph.Append(ProtoMessage()
                   .Bytes(kOnnxGraphName, options.graph_name)
                   .Message(kOnnxGraphInput, ValueInfo(kGraphInputName, elem_type))
                   .Message(kOnnxGraphInput, ValueInfo(kConditionName, kOnnxBool))
                   .Message(kOnnxGraphOutput, ValueInfo(output, elem_type))
                   .bytes());
  return graph;
}

// The ModelProto of `layout`'s tensors.
std::vector<Piece> EncodeModel(const TensorLayout& layout, const OnnxWriteOptions& options) {
  const std::int32_t elem_type =
      layout.initializers.empty() ? kOnnxFloat : layout.initializers[0].data_type;
  PieceList graph;
  if (options.placement == OnnxTensorPlacement::kIfBranches) {
    graph = IfGraph(layout, options, elem_type);
  } else {
    std::string output;
    graph = GraphMessage(layout, options.placement == OnnxTensorPlacement::kConstantNodes,
                         options.graph_name, options.node_naming, output);
    graph.Append(ProtoMessage()
                     .Message(kOnnxGraphInput, ValueInfo(kGraphInputName, elem_type))
                     .Message(kOnnxGraphOutput, ValueInfo(output, elem_type))
                     .bytes());
  }
  PieceList model;
  model.Append(ProtoMessage()
                   .Varint(kOnnxModelIrVersion, kIrVersion)
                   .Bytes(kOnnxModelProducerName, options.producer)
                   .Bytes(kOnnxModelProducerVersion, options.producer_version)
                   .bytes());
  model.AppendMessage(kOnnxModelGraph, std::move(graph));
  model.Append(
      ProtoMessage()
          .Message(kOnnxModelOpsetImport,
                   ProtoMessage().Bytes(kOpsetDomain, "").Varint(kOpsetVersionField, kOpsetVersion))
          .bytes());
  return model.Take();
}

std::int32_t OnnxDataType(StoredDtype dtype) {
  switch (dtype) {
    case StoredDtype::kF16:
      return kOnnxFloat16;
    case StoredDtype::kF32:
      return kOnnxFloat;
    case StoredDtype::kBf16:
      break;
  }
  return kOnnxBfloat16;
}

Result<void> WriteExternalData(const std::filesystem::path& path,
                               std::span<const TensorSpec> tensors, StoredDtype dtype,
                               std::span<const std::optional<std::uint64_t>> offsets) {
  Result<AtomicFile> file = AtomicFile::Create(path);
  if (!file) return file.error();
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (!offsets[i]) continue;
    if (Result<void> padded = file->Append(std::string(*offsets[i] - file->size(), '\0'));
        !padded) {
      return padded;
    }
    if (Result<void> data = AppendTensorData(tensors[i], dtype, *file); !data) return data;
  }
  return file->Commit();
}

}  // namespace

ProtoMessage& ProtoMessage::Field(std::uint32_t field, std::uint32_t wire_type,
                                  std::string_view value) {
  bytes_ += VarintBytes((std::uint64_t{field} << 3) | wire_type);
  bytes_ += value;
  return *this;
}

ProtoMessage& ProtoMessage::Varint(std::uint32_t field, std::uint64_t value) {
  return Field(field, kWireVarint, VarintBytes(value));
}

ProtoMessage& ProtoMessage::Fixed32(std::uint32_t field, std::uint32_t value) {
  return Field(field, kWireFixed32, LittleEndian(value, 4));
}

ProtoMessage& ProtoMessage::Fixed64(std::uint32_t field, std::uint64_t value) {
  return Field(field, kWireFixed64, LittleEndian(value, 8));
}

ProtoMessage& ProtoMessage::LengthPrefix(std::uint32_t field, std::uint64_t length) {
  return Field(field, kWireLengthDelimited, VarintBytes(length));
}

ProtoMessage& ProtoMessage::Bytes(std::uint32_t field, std::string_view bytes) {
  return LengthPrefix(field, bytes.size()).Raw(bytes);
}

ProtoMessage& ProtoMessage::Message(std::uint32_t field, const ProtoMessage& message) {
  return Bytes(field, message.bytes());
}

ProtoMessage& ProtoMessage::PackedVarints(std::uint32_t field,
                                          std::span<const std::uint64_t> values) {
  std::string payload;
  for (const std::uint64_t value : values) payload += VarintBytes(value);
  return Bytes(field, payload);
}

ProtoMessage& ProtoMessage::Raw(std::string_view bytes) {
  bytes_ += bytes;
  return *this;
}

std::string ProtoMessage::VarintBytes(std::uint64_t value) {
  std::string bytes;
  while (value >= 0x80) {
    bytes.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  bytes.push_back(static_cast<char>(value));
  return bytes;
}

ProtoMessage OnnxNodeMessage(std::string_view op_type, std::string_view name,
                             std::string_view output) {
  ProtoMessage node;
  if (!output.empty()) node.Bytes(kOnnxNodeOutput, output);
  if (!name.empty()) node.Bytes(kOnnxNodeName, name);
  return node.Bytes(kOnnxNodeOpType, op_type);
}

ProtoMessage OnnxTensorAttribute(std::string_view name, const ProtoMessage& tensor) {
  return ProtoMessage()
      .Bytes(kOnnxAttributeName, name)
      .Message(kOnnxAttributeT, tensor)
      .Varint(kOnnxAttributeType, kOnnxAttributeTensor);
}

ProtoMessage OnnxGraphAttribute(std::string_view name, const ProtoMessage& graph) {
  return ProtoMessage()
      .Bytes(kOnnxAttributeName, name)
      .Message(kOnnxAttributeG, graph)
      .Varint(kOnnxAttributeType, kOnnxAttributeGraph);
}

OnnxBytes OnnxModelBytes(std::span<const OnnxInitializer> initializers,
                         const OnnxWriteOptions& options) {
  std::vector<Initializer> framing;
  framing.reserve(initializers.size());
  for (const OnnxInitializer& initializer : initializers) {
    framing.push_back(
        {initializer.name, initializer.data_type, initializer.dims, initializer.raw_data.size()});
  }
  const std::vector<std::optional<std::uint64_t>> offsets = PlaceExternalData(framing, options);
  const std::string location =
      options.external_location.empty() ? "model.onnx_data" : options.external_location;
  OnnxBytes bytes;
  for (const Piece& piece : EncodeModel({framing, offsets, location}, options)) {
    bytes.model += piece.framing;
    if (piece.payload) bytes.model += initializers[*piece.payload].raw_data;
  }
  for (std::size_t i = 0; i < initializers.size(); ++i) {
    if (!offsets[i]) continue;
    bytes.external_data.resize(*offsets[i], '\0');
    bytes.external_data += initializers[i].raw_data;
  }
  return bytes;
}

std::filesystem::path OnnxExternalDataPath(const std::filesystem::path& model) {
  std::filesystem::path data = model;
  data += "_data";
  return data;
}

Result<std::uint64_t> WriteOnnx(const std::filesystem::path& path,
                                std::span<const TensorSpec> tensors, StoredDtype dtype,
                                const OnnxWriteOptions& options) {
  std::vector<Initializer> framing;
  framing.reserve(tensors.size());
  for (const TensorSpec& tensor : tensors) {
    framing.push_back(
        {tensor.name, OnnxDataType(dtype), tensor.shape, tensor.Elements() * ElementBytes(dtype)});
  }
  const std::vector<std::optional<std::uint64_t>> offsets = PlaceExternalData(framing, options);
  const std::string location = options.external_location.empty()
                                   ? OnnxExternalDataPath(path).filename().string()
                                   : options.external_location;
  if (std::any_of(offsets.begin(), offsets.end(), [](const auto& o) { return o.has_value(); })) {
    if (Result<void> data =
            WriteExternalData(path.parent_path() / location, tensors, dtype, offsets);
        !data) {
      return data.error();
    }
  }
  Result<AtomicFile> file = AtomicFile::Create(path);
  if (!file) return file.error();
  for (const Piece& piece : EncodeModel({framing, offsets, location}, options)) {
    if (Result<void> framed = file->Append(piece.framing); !framed) return framed.error();
    if (!piece.payload) continue;
    if (Result<void> data = AppendTensorData(tensors[*piece.payload], dtype, *file); !data) {
      return data.error();
    }
  }
  const std::uint64_t size = file->size();
  if (Result<void> committed = file->Commit(); !committed) return committed.error();
  return size;
}

}  // namespace mei::tools
