#include "tools/synth/tflite_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>
#include <functional>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "common/atomic_file.h"

namespace mei::tools {
namespace {

static_assert(std::endian::native == std::endian::little,
              "flatbuffers are little-endian and are encoded here in host order");

constexpr std::string_view kFileIdentifier = "TFL3";
constexpr std::uint64_t kDataAlignment = 16;                        // Buffer.data (force_align: 16)
constexpr std::uint64_t kFlatbufferLimit = std::uint64_t{1} << 31;  // flatbuffers' 2 GiB
constexpr std::string_view kMinRuntimeVersion = "1.5.0";  // FULLY_CONNECTED, GATHER, MUL v1
constexpr std::int32_t kGather = 36;
constexpr std::int32_t kFullyConnected = 9;
constexpr std::int32_t kMul = 18;

// Vtable slots of the schema's fields (tensorflow/compiler/mlir/lite/schema/schema.fbs).
constexpr int kModelVersion = 0;
constexpr int kModelOperatorCodes = 1;
constexpr int kModelSubgraphs = 2;
constexpr int kModelDescription = 3;
constexpr int kModelBuffers = 4;
constexpr int kModelMetadata = 6;
constexpr int kOperatorCodeDeprecatedBuiltin = 0;
constexpr int kOperatorCodeBuiltin = 3;
constexpr int kSubgraphTensors = 0;
constexpr int kSubgraphInputs = 1;
constexpr int kSubgraphOutputs = 2;
constexpr int kSubgraphOperators = 3;
constexpr int kSubgraphName = 4;
constexpr int kTensorShape = 0;
constexpr int kTensorType = 1;
constexpr int kTensorBuffer = 2;
constexpr int kTensorName = 3;
constexpr int kOperatorOpcodeIndex = 0;
constexpr int kOperatorInputs = 1;
constexpr int kOperatorOutputs = 2;
constexpr int kBufferData = 0;
constexpr int kBufferOffset = 1;
constexpr int kBufferSize = 2;
constexpr int kMetadataName = 0;
constexpr int kMetadataBuffer = 1;

std::uint64_t RoundUp(std::uint64_t value, std::uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

template <class T>
void AppendLe(std::string& out, T value) {
  char raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));
  out.append(raw, sizeof(T));
}

// The file, front to back, as pieces: bytes the encoder makes, and buffers' data, which only
// advances the position. An object is appended after the one that refers to it, so every uoffset
// (unsigned, relative to where it is stored) points forward.
class Encoder {
 public:
  explicit Encoder(std::map<std::string, TflitePlacement>& objects) : objects_(objects) {}

  std::uint64_t size() const { return size_; }

  void Append(std::string_view bytes) {
    if (pieces_.empty() || pieces_.back().buffer) {
      starts_.push_back(size_);
      pieces_.emplace_back();
    }
    pieces_.back().bytes.append(bytes);
    size_ += bytes.size();
  }

  template <class T>
  void AppendLe(T value) {
    std::string raw;
    tools::AppendLe(raw, value);
    Append(raw);
  }

  void Align(std::uint64_t alignment) {
    Append(std::string(RoundUp(size_, alignment) - size_, '\0'));
  }

  // Pads until a 4-byte length prefix appended next ends on a multiple of `alignment`.
  void AlignAfterPrefix(std::uint64_t alignment) {
    Append(std::string(RoundUp(size_ + 4, alignment) - (size_ + 4), '\0'));
  }

  // The `bytes` of data of buffer `buffer`, supplied by the caller of LayOutTflite.
  void Data(std::size_t buffer, std::uint64_t bytes) {
    starts_.push_back(size_);
    pieces_.push_back({.buffer = buffer});
    size_ += bytes;
  }

  // Overwrites the low `width` bytes of `bits` at `at`, which the encoder made.
  void Patch(std::uint64_t at, std::uint64_t bits, std::size_t width) {
    const auto start = std::upper_bound(starts_.begin(), starts_.end(), at) - 1;
    TflitePiece& piece = pieces_[static_cast<std::size_t>(start - starts_.begin())];
    assert(!piece.buffer && at - *start + width <= piece.bytes.size());
    std::memcpy(piece.bytes.data() + (at - *start), &bits, width);
  }

  // Points the uoffset at `reference` to `object`, which lies after it, and records the object.
  void Link(const std::string& path, std::uint64_t reference, std::uint64_t object) {
    assert(object >= reference && object - reference <= std::numeric_limits<std::uint32_t>::max());
    Patch(reference, object - reference, sizeof(std::uint32_t));
    objects_[path] = {object, reference};
  }

  std::uint64_t String(std::string_view text) {
    Align(4);
    const std::uint64_t position = size_;
    AppendLe(static_cast<std::uint32_t>(text.size()));
    Append(text);
    Append(std::string_view("\0", 1));
    return position;
  }

  std::uint64_t Int32s(std::span<const std::int32_t> values) {
    Align(4);
    const std::uint64_t position = size_;
    AppendLe(static_cast<std::uint32_t>(values.size()));
    for (const std::int32_t value : values) AppendLe(value);
    return position;
  }

  // A vector of `count` tables; write(i, path) writes table i and returns its position. With
  // `last_first`, table count - 1 is written first, as the converter orders buffers.
  std::uint64_t Tables(const std::string& path, std::size_t count,
                       const std::function<std::uint64_t(std::size_t, const std::string&)>& write,
                       bool last_first = false) {
    Align(4);
    const std::uint64_t position = size_;
    AppendLe(static_cast<std::uint32_t>(count));
    Append(std::string(4 * count, '\0'));
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t i = last_first ? count - 1 - k : k;
      const std::string element = fmt::format("{}[{}]", path, i);
      Link(element, position + 4 + 4 * i, write(i, element));
    }
    return position;
  }

  // The position of an identical vtable written before, as flatbuffers builders share them.
  std::optional<std::uint64_t> FindVtable(const std::string& vtable) const {
    const auto found = vtables_.find(vtable);
    if (found == vtables_.end()) return std::nullopt;
    return found->second;
  }
  std::uint64_t AddVtable(const std::string& path, const std::string& vtable) {
    Align(2);
    const std::uint64_t position = size_;
    Append(vtable);
    vtables_.emplace(vtable, position);
    objects_[path + "#vtable"] = {position, 0};
    return position;
  }

  std::vector<TflitePiece> TakePieces() && { return std::move(pieces_); }

 private:
  std::vector<TflitePiece> pieces_;
  std::vector<std::uint64_t> starts_;  // per piece: its position in the file
  std::uint64_t size_ = 0;
  std::map<std::string, TflitePlacement>& objects_;
  std::unordered_map<std::string, std::uint64_t> vtables_;
};

// One table: its scalar fields, and uoffsets to children that Finish writes after the table, in
// the order they were added.
class TableWriter {
 public:
  TableWriter(Encoder& encoder, std::string path) : encoder_(encoder), path_(std::move(path)) {}

  // Omitted when 0, the default of every field written here, as builders omit defaults.
  template <class T>
  TableWriter& Scalar(int slot, T value) {
    if (value != 0) Fixed(slot, value);
    return *this;
  }

  // Written even when 0 (a field patched once the data is placed).
  template <class T>
  TableWriter& Fixed(int slot, T value) {
    Field field;
    field.slot = slot;
    field.width = sizeof(T);
    std::memcpy(&field.bits, &value, sizeof(T));
    fields_.push_back(std::move(field));
    return *this;
  }

  TableWriter& Child(int slot, std::string_view name, std::function<std::uint64_t()> write) {
    Field field;
    field.slot = slot;
    field.width = 4;
    field.child = path_ == "model" ? std::string(name) : fmt::format("{}.{}", path_, name);
    field.write = std::move(write);
    fields_.push_back(std::move(field));
    return *this;
  }

  // Writes the vtable (unless an identical one exists), the table, then its children; returns the
  // table's position.
  std::uint64_t Finish() {
    std::vector<Field*> by_width;
    for (Field& field : fields_) by_width.push_back(&field);
    std::stable_sort(by_width.begin(), by_width.end(),
                     [](const Field* a, const Field* b) { return a->width > b->width; });
    int slots = 0;
    for (const Field& field : fields_) slots = std::max(slots, field.slot + 1);
    std::vector<std::uint16_t> offsets(static_cast<std::size_t>(slots), 0);
    std::uint64_t table_bytes = 4;  // the soffset to the vtable
    std::uint64_t alignment = 4;
    for (Field* field : by_width) {
      table_bytes = RoundUp(table_bytes, field->width);
      field->offset = table_bytes;
      offsets[static_cast<std::size_t>(field->slot)] = static_cast<std::uint16_t>(table_bytes);
      table_bytes += field->width;
      alignment = std::max<std::uint64_t>(alignment, field->width);
    }
    std::string vtable;
    AppendLe(vtable, static_cast<std::uint16_t>(4 + 2 * slots));
    AppendLe(vtable, static_cast<std::uint16_t>(table_bytes));
    for (const std::uint16_t offset : offsets) AppendLe(vtable, offset);
    const std::optional<std::uint64_t> shared = encoder_.FindVtable(vtable);
    const std::uint64_t vtable_position = shared ? *shared : encoder_.AddVtable(path_, vtable);

    encoder_.Align(alignment);
    const std::uint64_t table = encoder_.size();
    encoder_.AppendLe(static_cast<std::int32_t>(table - vtable_position));
    encoder_.Append(std::string(table_bytes - 4, '\0'));
    for (const Field& field : fields_) {
      encoder_.Patch(table + field.offset, field.bits, field.width);
    }
    for (const Field& field : fields_) {
      if (field.write) encoder_.Link(field.child, table + field.offset, field.write());
    }
    position_ = table;
    return table;
  }

  // Where the field of `slot` went. REQUIRES: Finish was called and the field was written.
  std::uint64_t FieldPosition(int slot) const {
    for (const Field& field : fields_) {
      if (field.slot == slot) return position_ + field.offset;
    }
    assert(false && "no such field");
    return 0;
  }

 private:
  struct Field {
    int slot = 0;
    std::uint64_t width = 0;
    std::uint64_t bits = 0;
    std::string child;
    std::function<std::uint64_t()> write;
    std::uint64_t offset = 0;  // from the table's start
  };

  Encoder& encoder_;
  std::string path_;
  std::vector<Field> fields_;
  std::uint64_t position_ = 0;
};

// Encodes a model as the converter lays it out: the Model table, its metadata, the buffers (in
// descending index, each table followed by its data vector, 16-byte aligned), then the
// description, the subgraphs and the operator codes. Buffers stored outside get a table with
// offset and size, patched by PlaceOutsideData.
class ModelEncoder {
 public:
  ModelEncoder(const TfliteModel& model, Encoder& encoder)
      : model_(model),
        encoder_(encoder),
        data_offsets_(model.buffers.size(), 0),
        offset_fields_(model.buffers.size()) {}

  // The root offset, the file identifier and the Model with everything it refers to.
  void Write() {
    encoder_.AppendLe(std::uint32_t{0});
    encoder_.Append(kFileIdentifier);
    encoder_.Link("model", 0, WriteModel());
  }

  // Appends the data of the buffers stored outside after the flatbuffer, each 16-byte aligned, then
  // 16 zero bytes (the converter's room for XNNPack's reads past the last buffer) and padding.
  void PlaceOutsideData() {
    bool any = false;
    for (std::size_t i = 0; i < model_.buffers.size(); ++i) {
      if (!model_.buffers[i].outside) continue;
      any = true;
      encoder_.Align(kDataAlignment);
      data_offsets_[i] = encoder_.size();
      if (offset_fields_[i]) encoder_.Patch(*offset_fields_[i], encoder_.size(), 8);
      encoder_.Data(i, model_.buffers[i].bytes);
    }
    if (any) encoder_.Append(std::string(kDataAlignment, '\0'));
    encoder_.Align(kDataAlignment);
  }

  std::vector<std::uint64_t> TakeDataOffsets() && { return std::move(data_offsets_); }

 private:
  std::uint64_t WriteModel() {
    TableWriter table(encoder_, "model");
    table.Scalar(kModelVersion, model_.version);
    if (!model_.metadata.empty()) {
      table.Child(kModelMetadata, "metadata", [&] {
        return encoder_.Tables("metadata", model_.metadata.size(),
                               [&](std::size_t i, const std::string& path) {
                                 return WriteMetadata(path, model_.metadata[i]);
                               });
      });
    }
    table.Child(kModelBuffers, "buffers", [&] {
      return encoder_.Tables(
          "buffers", model_.buffers.size(),
          [&](std::size_t i, const std::string& path) { return WriteBuffer(path, i); },
          /*last_first=*/true);
    });
    if (!model_.description.empty()) {
      table.Child(kModelDescription, "description",
                  [&] { return encoder_.String(model_.description); });
    }
    table.Child(kModelSubgraphs, "subgraphs", [&] {
      return encoder_.Tables("subgraphs", model_.subgraphs.size(),
                             [&](std::size_t i, const std::string& path) {
                               return WriteSubgraph(path, model_.subgraphs[i]);
                             });
    });
    table.Child(kModelOperatorCodes, "operator_codes", [&] {
      return encoder_.Tables("operator_codes", model_.operator_codes.size(),
                             [&](std::size_t i, const std::string& path) {
                               return WriteOperatorCode(path, model_.operator_codes[i]);
                             });
    });
    return table.Finish();
  }

  std::uint64_t WriteOperatorCode(const std::string& path, std::int32_t code) {
    TableWriter table(encoder_, path);
    table.Scalar(kOperatorCodeDeprecatedBuiltin, static_cast<std::int8_t>(std::min(code, 127)));
    table.Scalar(kOperatorCodeBuiltin, code);
    return table.Finish();
  }

  std::uint64_t WriteSubgraph(const std::string& path, const TfliteSubgraph& subgraph) {
    TableWriter table(encoder_, path);
    table.Child(kSubgraphTensors, "tensors", [&] {
      return encoder_.Tables(path + ".tensors", subgraph.tensors.size(),
                             [&](std::size_t i, const std::string& tensor) {
                               return WriteTensor(tensor, subgraph.tensors[i]);
                             });
    });
    table.Child(kSubgraphInputs, "inputs", [&] { return encoder_.Int32s(subgraph.inputs); });
    table.Child(kSubgraphOutputs, "outputs", [&] { return encoder_.Int32s(subgraph.outputs); });
    table.Child(kSubgraphOperators, "operators", [&] {
      return encoder_.Tables(path + ".operators", subgraph.operators.size(),
                             [&](std::size_t i, const std::string& op) {
                               return WriteOperator(op, subgraph.operators[i]);
                             });
    });
    if (!subgraph.name.empty()) {
      table.Child(kSubgraphName, "name", [&] { return encoder_.String(subgraph.name); });
    }
    return table.Finish();
  }

  std::uint64_t WriteTensor(const std::string& path, const TfliteTensor& tensor) {
    TableWriter table(encoder_, path);
    table.Child(kTensorShape, "shape", [&] { return encoder_.Int32s(tensor.shape); });
    table.Scalar(kTensorType, tensor.type);
    table.Scalar(kTensorBuffer, tensor.buffer);
    if (!tensor.name.empty()) {
      table.Child(kTensorName, "name", [&] { return encoder_.String(tensor.name); });
    }
    return table.Finish();
  }

  std::uint64_t WriteOperator(const std::string& path, const TfliteOperator& op) {
    TableWriter table(encoder_, path);
    table.Scalar(kOperatorOpcodeIndex, op.opcode_index);
    table.Child(kOperatorInputs, "inputs", [&] { return encoder_.Int32s(op.inputs); });
    table.Child(kOperatorOutputs, "outputs", [&] { return encoder_.Int32s(op.outputs); });
    return table.Finish();
  }

  // The table, then its data vector right after it; an outside buffer's offset starts as 1, the
  // converter's placeholder, until PlaceOutsideData places its data.
  std::uint64_t WriteBuffer(const std::string& path, std::size_t index) {
    const TfliteBuffer& buffer = model_.buffers[index];
    TableWriter table(encoder_, path);
    const bool data_inside = !buffer.outside && buffer.bytes > 0;
    if (data_inside) table.Fixed(kBufferData, std::uint32_t{0});
    if (buffer.outside || buffer.offset) {
      table.Fixed(kBufferOffset, buffer.offset.value_or(1));
    }
    if (buffer.outside || buffer.size) {
      table.Fixed(kBufferSize, buffer.size.value_or(buffer.bytes));
    }
    const std::uint64_t position = table.Finish();
    if (buffer.outside && !buffer.offset)
      offset_fields_[index] = table.FieldPosition(kBufferOffset);
    if (data_inside) {
      encoder_.AlignAfterPrefix(kDataAlignment);
      encoder_.Link(path + ".data", table.FieldPosition(kBufferData), encoder_.size());
      encoder_.AppendLe(static_cast<std::uint32_t>(buffer.bytes));
      data_offsets_[index] = encoder_.size();
      encoder_.Data(index, buffer.bytes);
    }
    return position;
  }

  std::uint64_t WriteMetadata(const std::string& path, const TfliteMetadata& metadata) {
    TableWriter table(encoder_, path);
    table.Child(kMetadataName, "name", [&] { return encoder_.String(metadata.name); });
    table.Scalar(kMetadataBuffer, metadata.buffer);
    return table.Finish();
  }

  const TfliteModel& model_;
  Encoder& encoder_;
  std::vector<std::uint64_t> data_offsets_;
  std::vector<std::optional<std::uint64_t>> offset_fields_;  // per outside buffer
};

TfliteBuffer MetadataBuffer(std::string_view text, std::uint64_t padded_bytes) {
  std::string contents(text);
  contents.resize(std::max<std::uint64_t>(contents.size(), padded_bytes), '\0');
  return TfliteBufferOf(std::move(contents));
}

std::int8_t TensorTypeOf(StoredDtype dtype) {
  switch (dtype) {
    case StoredDtype::kF16:
      return kTfliteFloat16;
    case StoredDtype::kF32:
      return kTfliteFloat32;
    case StoredDtype::kBf16:
      break;
  }
  return kTfliteBfloat16;
}

// Index into TfliteModelOf's operator_codes.
std::uint32_t OpcodeIndexOf(TensorRole role) {
  switch (role) {
    case TensorRole::kEmbedding:
      return 0;  // GATHER
    case TensorRole::kAttentionNorm:
    case TensorRole::kFeedForwardNorm:
    case TensorRole::kOutputNorm:
      return 2;  // MUL
    default:
      return 1;  // FULLY_CONNECTED
  }
}

TfliteModel ModelOf(std::span<const TensorSpec> tensors, StoredDtype dtype,
                    const TfliteWriteOptions& options, bool outside) {
  TfliteModel model;
  model.operator_codes = {kGather, kFullyConnected, kMul};
  model.description = options.description;
  model.buffers.push_back({});  // the empty sentinel
  TfliteSubgraph main;
  main.name = "main";
  const auto input = static_cast<std::int32_t>(tensors.size());
  const std::int32_t output = input + 1;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorSpec& spec = tensors[i];
    TfliteTensor tensor{.name = spec.name,
                        .type = TensorTypeOf(dtype),
                        .buffer = static_cast<std::uint32_t>(model.buffers.size())};
    for (const std::uint64_t dim : spec.shape)
      tensor.shape.push_back(static_cast<std::int32_t>(dim));
    main.tensors.push_back(std::move(tensor));
    model.buffers.push_back({.bytes = spec.Elements() * ElementBytes(dtype), .outside = outside});
    const auto weight = static_cast<std::int32_t>(i);
    const std::uint32_t opcode = OpcodeIndexOf(spec.role);
    main.operators.push_back(
        {.opcode_index = opcode,
         .inputs = opcode == 0 ? std::vector{weight, input} : std::vector{input, weight},
         .outputs = {output}});
  }
  main.tensors.push_back({.name = "input_ids", .shape = {1, 16}, .type = kTfliteInt32});
  main.tensors.push_back({.name = "logits", .shape = {1, 16}, .type = kTfliteFloat32});
  main.inputs = {input};
  main.outputs = {output};
  model.subgraphs.push_back(std::move(main));

  const auto metadata = [&](std::string name, TfliteBuffer buffer) {
    model.metadata.push_back(
        {.name = std::move(name), .buffer = static_cast<std::uint32_t>(model.buffers.size())});
    model.buffers.push_back(std::move(buffer));
  };
  metadata("min_runtime_version", MetadataBuffer(kMinRuntimeVersion, 16));
  if (outside) metadata("buffer_location", MetadataBuffer("outside flatbuffers", 0));
  return model;
}

}  // namespace

TfliteBuffer TfliteBufferOf(std::string contents) {
  return TfliteBuffer{.bytes = contents.size(), .contents = std::move(contents)};
}

TfliteLayout LayOutTflite(const TfliteModel& model) {
  TfliteLayout layout;
  Encoder encoder(layout.objects);
  ModelEncoder model_encoder(model, encoder);
  model_encoder.Write();
  model_encoder.PlaceOutsideData();
  layout.file_bytes = encoder.size();
  layout.pieces = std::move(encoder).TakePieces();
  layout.data_offsets = std::move(model_encoder).TakeDataOffsets();
  return layout;
}

char TflitePatternByte(std::size_t buffer, std::uint64_t i) {
  return static_cast<char>((buffer * 151 + i * 13 + 7) & 0xFF);
}

std::string EncodeTflite(const TfliteModel& model) {
  const TfliteLayout layout = LayOutTflite(model);
  std::string file;
  file.reserve(layout.file_bytes);
  for (const TflitePiece& piece : layout.pieces) {
    if (!piece.buffer) {
      file += piece.bytes;
      continue;
    }
    const TfliteBuffer& buffer = model.buffers[*piece.buffer];
    if (!buffer.contents.empty()) {
      file += buffer.contents;
      continue;
    }
    for (std::uint64_t i = 0; i < buffer.bytes; ++i) {
      file.push_back(TflitePatternByte(*piece.buffer, i));
    }
  }
  return file;
}

TfliteModel SmallTfliteModel() {
  TfliteModel model;
  model.operator_codes = {kFullyConnected};
  model.description = "small";
  model.buffers = {TfliteBuffer{}, TfliteBuffer{.bytes = 24}, TfliteBuffer{.bytes = 4},
                   TfliteBuffer{.bytes = 6}};
  TfliteSubgraph graph;
  graph.name = "main";
  graph.tensors = {
      TfliteTensor{.name = "input", .shape = {1, 3}},
      TfliteTensor{.name = "dense/kernel", .shape = {2, 3}, .buffer = 1},
      TfliteTensor{.name = "quantized", .shape = {4}, .type = kTfliteInt8, .buffer = 2},
      TfliteTensor{.name = "half", .shape = {3}, .type = kTfliteFloat16, .buffer = 3},
  };
  graph.inputs = {0};
  graph.outputs = {0};
  graph.operators = {{.opcode_index = 0, .inputs = {0, 1}, .outputs = {0}}};
  model.subgraphs.push_back(std::move(graph));
  return model;
}

TfliteModel TfliteModelOf(std::span<const TensorSpec> tensors, StoredDtype dtype,
                          const TfliteWriteOptions& options) {
  if (options.buffers_outside) return ModelOf(tensors, dtype, options, true);
  // Inside, each weight takes its data, a length prefix and up to 15 bytes of alignment.
  TfliteModel model = ModelOf(tensors, dtype, options, false);
  std::uint64_t inside_bytes = 0;
  for (const TflitePiece& piece : LayOutTflite(ModelOf(tensors, dtype, options, true)).pieces) {
    inside_bytes += piece.bytes.size();
  }
  for (const TfliteBuffer& buffer : model.buffers) inside_bytes += buffer.bytes + 4 + 15;
  if (inside_bytes < kFlatbufferLimit) return model;
  return ModelOf(tensors, dtype, options, true);
}

Result<std::uint64_t> WriteTflite(const std::filesystem::path& path,
                                  std::span<const TensorSpec> tensors, StoredDtype dtype,
                                  const TfliteWriteOptions& options) {
  for (const TensorSpec& tensor : tensors) {
    for (const std::uint64_t dim : tensor.shape) {
      if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
        return Error{
            Errc::kBadRequest,
            fmt::format("tensor {} has dimension {}, more than a TFLite shape (int32) holds",
                        tensor.name, dim)};
      }
    }
  }
  const TfliteModel model = TfliteModelOf(tensors, dtype, options);
  const TfliteLayout layout = LayOutTflite(model);
  Result<AtomicFile> file = AtomicFile::Create(path);
  if (!file) return file.error();
  for (const TflitePiece& piece : layout.pieces) {
    Result<void> appended;
    if (!piece.buffer) {
      appended = file->Append(piece.bytes);
    } else if (!model.buffers[*piece.buffer].contents.empty()) {
      appended = file->Append(model.buffers[*piece.buffer].contents);
    } else {
      appended = AppendTensorData(tensors[*piece.buffer - 1], dtype, *file);  // buffer i + 1
    }
    if (!appended) return appended.error();
  }
  const std::uint64_t size = file->size();
  assert(size == layout.file_bytes);
  if (Result<void> committed = file->Commit(); !committed) return committed.error();
  return size;
}

}  // namespace mei::tools
