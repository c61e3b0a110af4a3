#include "common/formats/onnx.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "common/formats/internal/onnx_tensor_proto.h"
#include "common/internal/protobuf_reader.h"

namespace mei {
namespace {

using internal::JudgeOnnxTensor;
using internal::OnnxTensorContents;
using internal::OnnxTensorFields;
using internal::OnnxTensorHolder;
using internal::OnnxTensorReader;
using internal::ProtobufReader;
using internal::ProtoField;
using internal::ProtoScope;
using internal::ReadOnnxText;

constexpr std::uint64_t kMaxTensors = std::uint64_t{1} << 20;
constexpr int kMaxGraphDepth = 16;
constexpr std::uint64_t kMaxBuiltNameBytes = std::uint64_t{64} << 20;

// Field numbers, from onnx/onnx.proto.
constexpr std::uint32_t kModelGraph = 7;
constexpr std::uint32_t kModelTrainingInfo = 20;
constexpr std::uint32_t kModelFunctions = 25;
constexpr std::uint32_t kTrainingInitialization = 1;
constexpr std::uint32_t kTrainingAlgorithm = 2;
constexpr std::uint32_t kFunctionName = 1;
constexpr std::uint32_t kFunctionNode = 7;
constexpr std::uint32_t kFunctionDomain = 10;
constexpr std::uint32_t kFunctionAttributeProto = 11;
constexpr std::uint32_t kFunctionOverload = 13;
constexpr std::uint32_t kGraphNode = 1;
constexpr std::uint32_t kGraphInitializer = 5;
constexpr std::uint32_t kNodeOutput = 2;
constexpr std::uint32_t kNodeName = 3;
constexpr std::uint32_t kNodeOpType = 4;
constexpr std::uint32_t kNodeAttribute = 5;
constexpr std::uint32_t kAttributeName = 1;
constexpr std::uint32_t kAttributeTensor = 5;
constexpr std::uint32_t kAttributeGraph = 6;
constexpr std::uint32_t kAttributeTensors = 10;
constexpr std::uint32_t kAttributeGraphs = 11;

Error Bad(std::string message) { return Error{Errc::kBadModelFile, std::move(message)}; }

// One step on the way from the model to a tensor outside the main graph's initializers: a node,
// a function, an attribute (whose g is a graph), an element of an attribute's graphs, a graph of
// training_info. A label is set once the message it names has been read.
struct PathStep {
  std::optional<std::size_t> parent;  // none: directly under the model
  std::string label;
  std::string value_name;  // for a Constant node, its first output, which names its value
};

// Where a tensor outside the main graph's initializers sits.
struct NestedPlace {
  std::optional<std::size_t> graph;      // the graph (or function) holding it or its node
  std::optional<std::size_t> attribute;  // for an attribute's tensor, that attribute
  std::optional<std::size_t> element;    // for the i-th of an attribute's `tensors`, i
  std::optional<std::size_t> constant;   // for an attribute's `t`, the node holding it
};

// A listed tensor waiting for its name.
struct PendingName {
  bool external = false;
  std::size_t index = 0;  // in OnnxModel::tensors or OnnxModel::external
  std::uint64_t at = 0;   // offset of its TensorProto
  std::string given;      // its TensorProto's name
  std::optional<NestedPlace> nested;
};

// Reads a ModelProto from its first byte to its last, descending into graphs, nodes, attributes
// and functions, reading the tensors' framing and skipping every other field by its wire type.
class OnnxParser {
 public:
  explicit OnnxParser(const ByteSource& file) : proto_(file, Errc::kBadModelFile) {}

  Result<OnnxModel> Parse() {
    const ProtoScope model = proto_.WholeSource("ModelProto");
    bool has_graph = false;
    std::size_t functions = 0;
    std::size_t training_infos = 0;
    while (proto_.Within(model)) {
      Result<ProtoField> field = proto_.ReadField(model);
      if (!field) return field.error();
      Result<void> read;
      if (field->number == kModelGraph) {
        Result<ProtoScope> graph = proto_.EnterMessage(*field, model, "graph", "GraphProto");
        if (!graph) return graph.error();
        read = ReadGraph(*graph, std::nullopt, 0);
        has_graph = true;
      } else if (field->number == kModelFunctions) {
        read = ReadFunction(*field, model, functions++);
      } else if (field->number == kModelTrainingInfo) {
        read = ReadTrainingInfo(*field, model, training_infos++);
      } else {
        read = proto_.SkipValue(*field, model);
      }
      if (!read) return read.error();
    }
    if (!has_graph) return Bad("the ModelProto has no graph (field 7)");
    if (Result<void> named = NameTensors(); !named) return named.error();
    if (Result<void> apart = CheckTensorsApart(); !apart) return apart.error();
    return std::move(model_);
  }

 private:
  // --- Graphs, nodes, attributes, functions ---

  // A GraphProto's nodes and initializers; `step` is the graph's PathStep (none: the main graph).
  Result<void> ReadGraph(const ProtoScope& graph, std::optional<std::size_t> step, int depth) {
    std::size_t nodes = 0;
    while (proto_.Within(graph)) {
      Result<ProtoField> field = proto_.ReadField(graph);
      if (!field) return field.error();
      Result<void> read;
      if (field->number == kGraphNode) {
        Result<ProtoScope> node = proto_.EnterMessage(*field, graph, "node", "NodeProto");
        if (!node) return node.error();
        read = ReadNode(*node, step, nodes++, depth);
      } else if (field->number == kGraphInitializer) {
        read = ReadInitializer(*field, graph, step);
      } else {
        read = proto_.SkipValue(*field, graph);
      }
      if (!read) return read;
    }
    return {};
  }

  Result<void> ReadInitializer(const ProtoField& field, const ProtoScope& graph,
                               std::optional<std::size_t> step) {
    Result<ProtoScope> tensor = proto_.EnterMessage(field, graph, "initializer", "TensorProto");
    if (!tensor) return tensor.error();
    Result<OnnxTensorFields> fields = NewTensor(
        step ? OnnxTensorHolder::kSubgraphInitializers : OnnxTensorHolder::kMainInitializers,
        *tensor);
    if (!fields) return fields.error();
    if (Result<void> read = tensors_.Read(*tensor, *fields); !read) return read;
    std::optional<NestedPlace> place;
    if (step) place = NestedPlace{.graph = step, .attribute = {}, .element = {}, .constant = {}};
    return Place(*fields, place);
  }

  // The graph in `field` of an attribute, whose PathStep is `step`, below a graph `depth` deep.
  Result<void> ReadSubgraph(const ProtoField& field, const ProtoScope& attribute,
                            std::string_view name, std::size_t step, int depth) {
    Result<ProtoScope> graph = proto_.EnterMessage(field, attribute, name, "GraphProto");
    if (!graph) return graph.error();
    if (depth >= kMaxGraphDepth) {
      return Bad(fmt::format("the subgraph at byte {} lies more than {} graphs deep", graph->start,
                             kMaxGraphDepth));
    }
    return ReadGraph(*graph, step, depth + 1);
  }

  // The `index`-th NodeProto of the graph (or function) whose PathStep is `graph`.
  Result<void> ReadNode(const ProtoScope& node, std::optional<std::size_t> graph, std::size_t index,
                        int depth) {
    const std::size_t step = NewStep(graph);
    std::string name;
    std::optional<std::string> output;
    std::string op_type;
    while (proto_.Within(node)) {
      Result<ProtoField> field = proto_.ReadField(node);
      if (!field) return field.error();
      Result<void> read;
      switch (field->number) {
        case kNodeName:
          read = ReadOnnxText(proto_, *field, node, "name", name);
          break;
        case kNodeOpType:
          read = ReadOnnxText(proto_, *field, node, "op_type", op_type);
          break;
        case kNodeOutput:
          read = output ? proto_.SkipValue(*field, node)
                        : ReadOnnxText(proto_, *field, node, "output", output.emplace());
          break;
        case kNodeAttribute: {
          Result<ProtoScope> attribute =
              proto_.EnterMessage(*field, node, "attribute", "AttributeProto");
          if (!attribute) return attribute.error();
          read = ReadAttribute(*attribute, step, depth);
          break;
        }
        default:
          read = proto_.SkipValue(*field, node);
      }
      if (!read) return read;
    }
    if (DropIfUnused(step, names_.size())) return {};
    const std::string first_output = output.value_or("");
    steps_[step].label = !name.empty()           ? name
                         : !first_output.empty() ? first_output
                                                 : fmt::format("{}#{}", op_type, index);
    if (op_type == "Constant") steps_[step].value_name = first_output;
    return {};
  }

  // An AttributeProto of the node (or function) whose PathStep is `owner`: its tensors, merging
  // repeated t as protobuf merges them, and its graphs.
  Result<void> ReadAttribute(const ProtoScope& attribute, std::size_t owner, int depth) {
    const std::size_t step = NewStep(owner);
    const std::size_t names_before = names_.size();
    std::string name;
    std::optional<OnnxTensorFields> value;
    std::vector<OnnxTensorFields> listed;
    std::size_t graphs = 0;
    while (proto_.Within(attribute)) {
      Result<ProtoField> field = proto_.ReadField(attribute);
      if (!field) return field.error();
      Result<void> read;
      switch (field->number) {
        case kAttributeName:
          read = ReadOnnxText(proto_, *field, attribute, "name", name);
          break;
        case kAttributeTensor:
        case kAttributeTensors: {
          const bool is_value = field->number == kAttributeTensor;
          Result<ProtoScope> tensor =
              proto_.EnterMessage(*field, attribute, is_value ? "t" : "tensors", "TensorProto");
          if (!tensor) return tensor.error();
          if (!is_value || !value) {
            Result<OnnxTensorFields> fields = NewTensor(OnnxTensorHolder::kAttribute, *tensor);
            if (!fields) return fields.error();
            (is_value ? value.emplace() : listed.emplace_back()) = std::move(*fields);
          }
          read = tensors_.Read(*tensor, is_value ? *value : listed.back());
          break;
        }
        case kAttributeGraph:
          read = ReadSubgraph(*field, attribute, "g", step, depth);
          break;
        case kAttributeGraphs: {
          const std::size_t names_before_graph = names_.size();
          const std::size_t element = NewStep(step, std::to_string(graphs++));
          read = ReadSubgraph(*field, attribute, "graphs", element, depth);
          if (read) DropIfUnused(element, names_before_graph);
          break;
        }
        default:
          read = proto_.SkipValue(*field, attribute);
      }
      if (!read) return read;
    }
    const std::optional<std::size_t> graph = steps_[owner].parent;
    if (value) {
      value->attribute = name;
      if (Result<void> placed = Place(
              *value,
              NestedPlace{.graph = graph, .attribute = step, .element = {}, .constant = owner});
          !placed) {
        return placed;
      }
    }
    for (std::size_t i = 0; i < listed.size(); ++i) {
      listed[i].attribute = name;
      if (Result<void> placed =
              Place(listed[i],
                    NestedPlace{.graph = graph, .attribute = step, .element = i, .constant = {}});
          !placed) {
        return placed;
      }
    }
    if (!DropIfUnused(step, names_before)) steps_[step].label = std::move(name);
    return {};
  }

  // The `index`-th FunctionProto: its nodes and its attributes' default values.
  Result<void> ReadFunction(const ProtoField& field, const ProtoScope& model, std::size_t index) {
    Result<ProtoScope> function = proto_.EnterMessage(field, model, "functions", "FunctionProto");
    if (!function) return function.error();
    const std::size_t step = NewStep(std::nullopt);
    std::string domain;
    std::string name;
    std::string overload;
    std::size_t nodes = 0;
    while (proto_.Within(*function)) {
      Result<ProtoField> inner = proto_.ReadField(*function);
      if (!inner) return inner.error();
      Result<void> read;
      switch (inner->number) {
        case kFunctionDomain:
          read = ReadOnnxText(proto_, *inner, *function, "domain", domain);
          break;
        case kFunctionName:
          read = ReadOnnxText(proto_, *inner, *function, "name", name);
          break;
        case kFunctionOverload:
          read = ReadOnnxText(proto_, *inner, *function, "overload", overload);
          break;
        case kFunctionNode: {
          Result<ProtoScope> node = proto_.EnterMessage(*inner, *function, "node", "NodeProto");
          if (!node) return node.error();
          read = ReadNode(*node, step, nodes++, 0);
          break;
        }
        case kFunctionAttributeProto: {
          Result<ProtoScope> attribute =
              proto_.EnterMessage(*inner, *function, "attribute_proto", "AttributeProto");
          if (!attribute) return attribute.error();
          read = ReadAttribute(*attribute, step, 0);
          break;
        }
        default:
          read = proto_.SkipValue(*inner, *function);
      }
      if (!read) return read;
    }
    if (DropIfUnused(step, names_.size())) return {};
    std::string& label = steps_[step].label;
    label = name.empty() ? fmt::format("function#{}", index) : std::move(name);
    if (!domain.empty()) label = fmt::format("{}.{}", domain, label);
    if (!overload.empty()) label = fmt::format("{}:{}", label, overload);
    return {};
  }

  // The `index`-th TrainingInfoProto: its initialization and algorithm graphs.
  Result<void> ReadTrainingInfo(const ProtoField& field, const ProtoScope& model,
                                std::size_t index) {
    Result<ProtoScope> info =
        proto_.EnterMessage(field, model, "training_info", "TrainingInfoProto");
    if (!info) return info.error();
    while (proto_.Within(*info)) {
      Result<ProtoField> inner = proto_.ReadField(*info);
      if (!inner) return inner.error();
      if (inner->number != kTrainingInitialization && inner->number != kTrainingAlgorithm) {
        if (Result<void> skipped = proto_.SkipValue(*inner, *info); !skipped) return skipped;
        continue;
      }
      const std::string_view name =
          inner->number == kTrainingInitialization ? "initialization" : "algorithm";
      Result<ProtoScope> graph = proto_.EnterMessage(*inner, *info, name, "GraphProto");
      if (!graph) return graph.error();
      const std::size_t names_before = names_.size();
      const std::size_t step =
          NewStep(std::nullopt, fmt::format("training_info/{}/{}", index, name));
      if (Result<void> read = ReadGraph(*graph, step, 0); !read) return read;
      DropIfUnused(step, names_before);
    }
    return {};
  }

  std::size_t NewStep(std::optional<std::size_t> parent, std::string label = "") {
    steps_.push_back(PathStep{.parent = parent, .label = std::move(label), .value_name = ""});
    return steps_.size() - 1;
  }

  // Forgets `step` when nothing found since it was made needs it (no step below it, no tensor
  // listed after the first `names_before`), so that tensor-less nodes leave no steps behind.
  bool DropIfUnused(std::size_t step, std::size_t names_before) {
    if (steps_.size() != step + 1 || names_.size() != names_before) return false;
    steps_.pop_back();
    return true;
  }

  // --- Tensors ---

  Result<OnnxTensorFields> NewTensor(OnnxTensorHolder holder, const ProtoScope& tensor) {
    if (++tensors_read_ > kMaxTensors) {
      return Bad(fmt::format("the model has more than {} tensors", kMaxTensors));
    }
    OnnxTensorFields fields;
    fields.holder = holder;
    if (holder == OnnxTensorHolder::kMainInitializers) fields.ordinal = ++main_initializers_;
    fields.at = tensor.start;
    return fields;
  }

  // Judges a whole TensorProto and lists it, if it holds a tensor's bytes, to be named once all
  // are known. `place` says where a tensor outside the main graph's initializers sits.
  Result<void> Place(const OnnxTensorFields& tensor, const std::optional<NestedPlace>& place) {
    Result<OnnxTensorContents> contents = JudgeOnnxTensor(tensor);
    if (!contents) return contents.error();
    PendingName pending{
        .external = false, .index = 0, .at = tensor.at, .given = tensor.name, .nested = place};
    if (auto* entry = std::get_if<TensorEntry>(&*contents)) {
      pending.index = model_.tensors.size();
      model_.tensors.push_back(std::move(*entry));
    } else if (auto* external = std::get_if<OnnxExternalTensor>(&*contents)) {
      pending.external = true;
      pending.index = model_.external.size();
      model_.external.push_back(std::move(*external));
    } else {
      return {};
    }
    names_.push_back(std::move(pending));
    return {};
  }

  // --- Names (the rule is in onnx.h) ---

  // The labels of the steps from `step` up to `stop` (excluded; none: the model), top first,
  // joined by "/".
  std::string PathOf(std::optional<std::size_t> step, std::optional<std::size_t> stop) const {
    std::vector<const std::string*> labels;
    for (; step && step != stop; step = steps_[*step].parent) {
      labels.push_back(&steps_[*step].label);
    }
    std::string path;
    for (auto label = labels.rbegin(); label != labels.rend(); ++label) {
      if (!path.empty()) path += '/';
      path += **label;
    }
    return path;
  }

  static std::string Join(std::string path, std::string_view name) {
    if (!path.empty()) path += '/';
    path += name;
    return path;
  }

  // `<node>/<attribute>` (`/<i>` added for an element of `tensors`), with the steps above `stop`.
  std::string AttributePath(const NestedPlace& place, std::optional<std::size_t> stop) const {
    std::string path = PathOf(place.attribute, stop);
    return place.element ? Join(std::move(path), std::to_string(*place.element)) : path;
  }

  std::string LocalName(const PendingName& pending) const {
    const NestedPlace& place = *pending.nested;
    if (!pending.given.empty()) return pending.given;
    if (place.constant && !steps_[*place.constant].value_name.empty()) {
      return steps_[*place.constant].value_name;
    }
    return AttributePath(place, place.graph);
  }

  std::string NameInGraph(const PendingName& pending) const {
    return Join(PathOf(pending.nested->graph, std::nullopt), LocalName(pending));
  }

  std::string FullName(const PendingName& pending) const {
    const NestedPlace& place = *pending.nested;
    return place.attribute ? AttributePath(place, std::nullopt) : NameInGraph(pending);
  }

  // Those of `candidates` whose name another listed tensor has too.
  static std::vector<std::size_t> SharedNames(const std::vector<std::string>& names,
                                              const std::vector<std::size_t>& candidates) {
    std::unordered_map<std::string_view, std::size_t> uses;
    for (const std::string& name : names) ++uses[name];
    std::vector<std::size_t> shared;
    for (const std::size_t i : candidates) {
      if (uses[names[i]] > 1) shared.push_back(i);
    }
    return shared;
  }

  // Names every listed tensor, and puts the external ones in file order.
  Result<void> NameTensors() {
    std::vector<std::string> names(names_.size());
    std::vector<std::size_t> nested;
    std::uint64_t built_bytes = 0;
    const auto build = [&](std::size_t i, std::string name) -> Result<void> {
      built_bytes += name.size();
      if (built_bytes > kMaxBuiltNameBytes) {
        return Bad(fmt::format(
            "the names of the tensors outside the main graph's initializers take more than {} "
            "bytes",
            kMaxBuiltNameBytes));
      }
      names[i] = std::move(name);
      return {};
    };
    for (std::size_t i = 0; i < names_.size(); ++i) {
      if (!names_[i].nested) {
        names[i] = std::move(names_[i].given);
        continue;
      }
      nested.push_back(i);
      if (Result<void> built = build(i, LocalName(names_[i])); !built) return built;
    }
    for (const bool in_graph : {true, false}) {
      nested = SharedNames(names, nested);
      for (const std::size_t i : nested) {
        Result<void> built = build(i, in_graph ? NameInGraph(names_[i]) : FullName(names_[i]));
        if (!built) return built;
      }
    }
    std::vector<std::pair<std::uint64_t, OnnxExternalTensor>> external;
    for (std::size_t i = 0; i < names_.size(); ++i) {
      if (!names_[i].external) {
        model_.tensors[names_[i].index].name = std::move(names[i]);
        continue;
      }
      OnnxExternalTensor& tensor = model_.external[names_[i].index];
      tensor.name = std::move(names[i]);
      external.emplace_back(names_[i].at, std::move(tensor));
    }
    std::stable_sort(external.begin(), external.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < external.size(); ++i) {
      model_.external[i] = std::move(external[i].second);
    }
    return {};
  }

  // Protobuf nesting keeps payloads apart; this checks it all the same, and that names are
  // unique.
  Result<void> CheckTensorsApart() {
    std::vector<TensorEntry>& tensors = model_.tensors;
    std::sort(tensors.begin(), tensors.end(), [](const TensorEntry& a, const TensorEntry& b) {
      return a.offset != b.offset ? a.offset < b.offset : a.name < b.name;
    });
    const TensorEntry* furthest = nullptr;
    for (const TensorEntry& tensor : tensors) {
      if (tensor.size == 0) continue;
      if (furthest != nullptr && tensor.offset < furthest->offset + furthest->size) {
        return Bad(fmt::format(
            "tensors \"{}\" at byte {} ({} bytes) and \"{}\" at byte {} ({} bytes) overlap",
            furthest->name, furthest->offset, furthest->size, tensor.name, tensor.offset,
            tensor.size));
      }
      if (furthest == nullptr || tensor.offset + tensor.size > furthest->offset + furthest->size) {
        furthest = &tensor;
      }
    }
    std::vector<std::string_view> names;
    names.reserve(tensors.size() + model_.external.size());
    for (const TensorEntry& tensor : tensors) names.push_back(tensor.name);
    for (const OnnxExternalTensor& tensor : model_.external) names.push_back(tensor.name);
    std::sort(names.begin(), names.end());
    if (const auto twice = std::adjacent_find(names.begin(), names.end()); twice != names.end()) {
      return Bad(fmt::format("two tensors are named \"{}\"", *twice));
    }
    return {};
  }

  ProtobufReader proto_;
  OnnxTensorReader tensors_{proto_};
  std::uint64_t tensors_read_ = 0;
  std::uint64_t main_initializers_ = 0;
  std::vector<PathStep> steps_;
  std::vector<PendingName> names_;  // one per listed tensor, in the order they were found
  OnnxModel model_;
};

}  // namespace

Result<OnnxModel> ParseOnnx(const ByteSource& file) {
  Result<OnnxModel> model = OnnxParser(file).Parse();
  if (!model && model.error().code == Errc::kBadModelFile) {
    return Bad(fmt::format("{}: not a valid ONNX model: {}", file.name(), model.error().message));
  }
  return model;
}

}  // namespace mei
