// One TensorProto of an ONNX model (onnx/onnx.proto): reading its fields and judging what it
// holds, for ParseOnnx, whose header (common/formats/onnx.h) states the rules. Errors are
// kBadModelFile. Header-only; included by common/formats/onnx.cc alone.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/errc.h"
#include "common/formats/onnx.h"
#include "common/internal/checked_math.h"
#include "common/internal/protobuf_reader.h"
#include "common/tensor_entry.h"

namespace mei::internal {

// The longest name (of a tensor, node, attribute, external_data entry...) the parser reads.
inline constexpr std::uint64_t kOnnxMaxTextBytes = 64 * 1024;

// What holds a TensorProto; errors name the tensor after it.
enum class OnnxTensorHolder : std::uint8_t { kMainInitializers, kSubgraphInitializers, kAttribute };

// A data field of fixed-width elements (float_data, double_data). Its values are the tensor's
// bytes only when they come as one packed run; empty packed runs hold nothing.
struct OnnxFixedWidthValues {
  std::optional<ProtoPayload> run;
  bool split = false;  // several non-empty runs, or unpacked elements
  [[nodiscard]] bool present() const { return run.has_value() || split; }
};

// What one TensorProto said, gathered field by field and judged once it has all been read.
struct OnnxTensorFields {
  OnnxTensorHolder holder = OnnxTensorHolder::kMainInitializers;
  std::uint64_t ordinal = 0;  // counts the main graph's initializers from 1
  std::uint64_t at = 0;       // offset of the TensorProto
  std::string attribute;      // the name of the attribute holding it, once known
  std::string name;
  std::vector<std::uint64_t> dims;
  std::optional<std::int64_t> data_type;
  std::uint64_t data_location = 0;
  bool has_segment = false;
  std::optional<ProtoPayload> raw_data;  // the last one, as protobuf keeps it
  OnnxFixedWidthValues float_data;
  OnnxFixedWidthValues double_data;
  std::vector<std::string_view> other_values;  // non-empty varint or string value fields
  std::optional<std::string> location;
  std::optional<std::string> offset_text;
  std::optional<std::string> length_text;
};

// What a whole TensorProto holds, under its own name: its bytes in this file, its bytes in
// another file, or nothing to list.
using OnnxTensorContents = std::variant<std::monostate, TensorEntry, OnnxExternalTensor>;

namespace onnx_tensor {

constexpr std::size_t kMaxDims = 64;
constexpr std::size_t kMaxDecimalDigits = 20;

// TensorProto field numbers.
constexpr std::uint32_t kDims = 1;
constexpr std::uint32_t kDataType = 2;
constexpr std::uint32_t kSegment = 3;
constexpr std::uint32_t kFloatData = 4;
constexpr std::uint32_t kInt32Data = 5;
constexpr std::uint32_t kStringData = 6;
constexpr std::uint32_t kInt64Data = 7;
constexpr std::uint32_t kName = 8;
constexpr std::uint32_t kRawData = 9;
constexpr std::uint32_t kDoubleData = 10;
constexpr std::uint32_t kUint64Data = 11;
constexpr std::uint32_t kExternalData = 13;
constexpr std::uint32_t kDataLocation = 14;
constexpr std::uint32_t kEntryKey = 1;  // StringStringEntryProto
constexpr std::uint32_t kEntryValue = 2;

constexpr std::uint64_t kLocationDefault = 0;
constexpr std::uint64_t kLocationExternal = 1;

// TensorProto.DataType, indexed by number. `bits` is 0 for types of no fixed size.
struct DataType {
  std::string_view onnx_name;
  std::string_view dtype;  // the name TensorEntry carries
  std::uint32_t bits = 0;
};

constexpr std::int64_t kFloat = 1;
constexpr std::int64_t kString = 8;
constexpr std::int64_t kDouble = 11;
constexpr std::int64_t kComplex64 = 14;
constexpr std::int64_t kComplex128 = 15;

constexpr std::array<DataType, 27> kDataTypes = {{
    {"UNDEFINED", "", 0},
    {"FLOAT", "F32", 32},
    {"UINT8", "U8", 8},
    {"INT8", "I8", 8},
    {"UINT16", "U16", 16},
    {"INT16", "I16", 16},
    {"INT32", "I32", 32},
    {"INT64", "I64", 64},
    {"STRING", "STRING", 0},
    {"BOOL", "BOOL", 8},
    {"FLOAT16", "F16", 16},
    {"DOUBLE", "F64", 64},
    {"UINT32", "U32", 32},
    {"UINT64", "U64", 64},
    {"COMPLEX64", "C64", 64},
    {"COMPLEX128", "COMPLEX128", 128},
    {"BFLOAT16", "BF16", 16},
    {"FLOAT8E4M3FN", "F8_E4M3", 8},
    {"FLOAT8E4M3FNUZ", "FLOAT8E4M3FNUZ", 8},
    {"FLOAT8E5M2", "F8_E5M2", 8},
    {"FLOAT8E5M2FNUZ", "FLOAT8E5M2FNUZ", 8},
    {"UINT4", "UINT4", 4},
    {"INT4", "INT4", 4},
    {"FLOAT4E2M1", "F4", 4},
    {"FLOAT8E8M0", "F8_E8M0", 8},
    {"UINT2", "UINT2", 2},
    {"INT2", "INT2", 2},
}};

// The type numbered `number`, or null for UNDEFINED and numbers ONNX does not define.
inline const DataType* FindDataType(std::int64_t number) {
  if (number <= 0 || number >= static_cast<std::int64_t>(kDataTypes.size())) return nullptr;
  return &kDataTypes[static_cast<std::size_t>(number)];
}

// Bytes that `elements` of `type` take: sub-byte types pack their elements into whole bytes,
// first element in the low bits (onnx.proto, raw_data). REQUIRES: type.bits > 0.
inline std::optional<std::uint64_t> PayloadBytes(const DataType& type, std::uint64_t elements) {
  if (type.bits < 8) {
    const std::uint64_t per_byte = 8 / type.bits;
    return elements / per_byte + (elements % per_byte != 0 ? 1 : 0);
  }
  return CheckedMul(elements, type.bits / 8);
}

inline Error Bad(std::string message) { return Error{Errc::kBadModelFile, std::move(message)}; }

inline std::string ShapeText(const std::vector<std::uint64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

inline std::optional<std::uint64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > kMaxDecimalDigits) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const std::optional<std::uint64_t> times_ten = CheckedMul(value, 10);
    const std::optional<std::uint64_t> next =
        times_ten ? CheckedAdd(*times_ten, static_cast<std::uint64_t>(c - '0')) : std::nullopt;
    if (!next) return std::nullopt;
    value = *next;
  }
  return value;
}

// The value fields that hold something, by name (raw_data counts when present at all).
inline std::vector<std::string_view> ValueFields(const OnnxTensorFields& tensor) {
  std::vector<std::string_view> fields;
  if (tensor.raw_data) fields.push_back("raw_data");
  if (tensor.float_data.present()) fields.push_back("float_data");
  if (tensor.double_data.present()) fields.push_back("double_data");
  for (const std::string_view other : tensor.other_values) {
    if (std::find(fields.begin(), fields.end(), other) == fields.end()) fields.push_back(other);
  }
  return fields;
}

}  // namespace onnx_tensor

// The tensor as errors call it: by what holds it, its name once read, and where it starts.
inline std::string OnnxTensorSubject(const OnnxTensorFields& tensor) {
  const std::string at = fmt::format("TensorProto at byte {}", tensor.at);
  switch (tensor.holder) {
    case OnnxTensorHolder::kMainInitializers:
      return tensor.name.empty() ? fmt::format("initializer #{} ({})", tensor.ordinal, at)
                                 : fmt::format("initializer \"{}\"", tensor.name);
    case OnnxTensorHolder::kSubgraphInitializers:
      return tensor.name.empty() ? fmt::format("subgraph initializer ({})", at)
                                 : fmt::format("subgraph initializer \"{}\" ({})", tensor.name, at);
    case OnnxTensorHolder::kAttribute:
      break;
  }
  return fmt::format(
      "{} of {} ({})", tensor.name.empty() ? "tensor" : fmt::format("tensor \"{}\"", tensor.name),
      tensor.attribute.empty() ? "an attribute" : fmt::format("attribute \"{}\"", tensor.attribute),
      at);
}

// Reads the string `field` (called `name` in errors) into `text`: UTF-8 of at most
// kOnnxMaxTextBytes.
[[nodiscard]] inline Result<void> ReadOnnxText(ProtobufReader& proto, const ProtoField& field,
                                               const ProtoScope& scope, std::string_view name,
                                               std::string& text) {
  Result<std::string> read = proto.ReadText(field, scope, name, kOnnxMaxTextBytes);
  if (!read) return read.error();
  text = std::move(*read);
  return {};
}

// Reads TensorProtos through a ProtobufReader, which must outlive it. Not thread-safe.
class OnnxTensorReader {
 public:
  explicit OnnxTensorReader(ProtobufReader& proto) : proto_(proto) {}

  // Reads the fields of the TensorProto spanning `scope` into `tensor`; fields it already holds
  // are merged with as protobuf merges a message that comes twice.
  [[nodiscard]] Result<void> Read(const ProtoScope& scope, OnnxTensorFields& tensor) {
    while (proto_.Within(scope)) {
      Result<ProtoField> field = proto_.ReadField(scope);
      if (!field) return field.error();
      if (Result<void> read = ReadField(*field, scope, tensor); !read) return read;
    }
    return {};
  }

 private:
  Result<void> ReadField(const ProtoField& field, const ProtoScope& scope,
                         OnnxTensorFields& tensor) {
    using namespace onnx_tensor;
    switch (field.number) {
      case kDims:
        return ReadDims(field, scope, tensor);
      case kDataType:
      case kDataLocation: {
        const bool is_type = field.number == kDataType;
        if (Result<void> ok = proto_.Expect(field, WireType::kVarint, scope,
                                            is_type ? "data_type" : "data_location");
            !ok) {
          return ok;
        }
        Result<std::uint64_t> value = proto_.ReadVarint(scope, "a varint value");
        if (!value) return value.error();
        if (is_type) {
          tensor.data_type = static_cast<std::int64_t>(*value);
        } else {
          tensor.data_location = *value;
        }
        return {};
      }
      case kSegment:
        tensor.has_segment = true;
        return proto_.SkipValue(field, scope);
      case kFloatData:
        return ReadFixedWidthValues(field, scope, "float_data", 4, tensor.float_data);
      case kDoubleData:
        return ReadFixedWidthValues(field, scope, "double_data", 8, tensor.double_data);
      case kInt32Data:
        return NoteOtherValues(field, scope, "int32_data", tensor);
      case kStringData:
        return NoteOtherValues(field, scope, "string_data", tensor);
      case kInt64Data:
        return NoteOtherValues(field, scope, "int64_data", tensor);
      case kUint64Data:
        return NoteOtherValues(field, scope, "uint64_data", tensor);
      case kName:
        return ReadOnnxText(proto_, field, scope, "name", tensor.name);
      case kRawData: {
        if (Result<void> ok = proto_.Expect(field, WireType::kLengthDelimited, scope, "raw_data");
            !ok) {
          return ok;
        }
        Result<ProtoPayload> payload = proto_.ReadPayload(field, scope);
        if (!payload) return payload.error();
        tensor.raw_data = *payload;
        return proto_.SkipPayload(*payload, "raw_data");
      }
      case kExternalData:
        return ReadExternalDataEntry(field, scope, tensor);
      default:
        return proto_.SkipValue(field, scope);
    }
  }

  Result<void> ReadDim(const ProtoScope& scope, OnnxTensorFields& tensor) {
    using onnx_tensor::Bad;
    Result<std::uint64_t> dim = proto_.ReadVarint(scope, "a dim");
    if (!dim) return dim.error();
    if (*dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return Bad(fmt::format("{} has negative dim {}", OnnxTensorSubject(tensor),
                             static_cast<std::int64_t>(*dim)));
    }
    if (tensor.dims.size() == onnx_tensor::kMaxDims) {
      return Bad(fmt::format("{} has more than {} dims", OnnxTensorSubject(tensor),
                             onnx_tensor::kMaxDims));
    }
    tensor.dims.push_back(*dim);
    return {};
  }

  Result<void> ReadDims(const ProtoField& field, const ProtoScope& scope,
                        OnnxTensorFields& tensor) {
    if (field.wire_type == WireType::kVarint) return ReadDim(scope, tensor);
    if (Result<void> ok = proto_.Expect(field, WireType::kLengthDelimited, scope, "dims"); !ok) {
      return ok;
    }
    Result<ProtoPayload> payload = proto_.ReadPayload(field, scope);
    if (!payload) return payload.error();
    const ProtoScope packed{"packed dims", payload->offset, payload->offset + payload->length};
    while (proto_.Within(packed)) {
      if (Result<void> dim = ReadDim(packed, tensor); !dim) return dim;
    }
    return {};
  }

  // float_data (fixed32) or double_data (fixed64): packed runs, or one element per field.
  Result<void> ReadFixedWidthValues(const ProtoField& field, const ProtoScope& scope,
                                    std::string_view name, std::uint64_t element_bytes,
                                    OnnxFixedWidthValues& values) {
    const WireType unpacked = element_bytes == 4 ? WireType::kFixed32 : WireType::kFixed64;
    if (field.wire_type == unpacked) {
      values.split = true;
      return proto_.SkipBytes(field, scope, element_bytes);
    }
    if (Result<void> ok = proto_.Expect(field, WireType::kLengthDelimited, scope, name); !ok) {
      return ok;
    }
    Result<ProtoPayload> payload = proto_.ReadPayload(field, scope);
    if (!payload) return payload.error();
    if (payload->length % element_bytes != 0) {
      return onnx_tensor::Bad(fmt::format(
          "{} at byte {}: packed {} at byte {} is {} bytes, not a whole number of {}-byte values",
          scope.kind, scope.start, name, field.at, payload->length, element_bytes));
    }
    if (payload->length != 0) {
      if (values.run) values.split = true;
      values.run = *payload;
    }
    return proto_.SkipPayload(*payload, name);
  }

  // int32_data, int64_data, uint64_data (varints, packed or not) and string_data: their values
  // are not the tensor's bytes, so they are only noted.
  Result<void> NoteOtherValues(const ProtoField& field, const ProtoScope& scope,
                               std::string_view name, OnnxTensorFields& tensor) {
    const bool is_string = field.number == onnx_tensor::kStringData;
    if (is_string || field.wire_type != WireType::kVarint) {
      if (Result<void> ok = proto_.Expect(field, WireType::kLengthDelimited, scope, name); !ok) {
        return ok;
      }
      Result<ProtoPayload> payload = proto_.ReadPayload(field, scope);
      if (!payload) return payload.error();
      if (payload->length != 0 || is_string) tensor.other_values.push_back(name);
      return proto_.SkipPayload(*payload, name);
    }
    tensor.other_values.push_back(name);
    return proto_.SkipValue(field, scope);
  }

  Result<void> ReadExternalDataEntry(const ProtoField& field, const ProtoScope& scope,
                                     OnnxTensorFields& tensor) {
    Result<ProtoScope> entry =
        proto_.EnterMessage(field, scope, "external_data", "StringStringEntryProto");
    if (!entry) return entry.error();
    std::string key;
    std::string value;
    while (proto_.Within(*entry)) {
      Result<ProtoField> inner = proto_.ReadField(*entry);
      if (!inner) return inner.error();
      Result<void> read;
      if (inner->number == onnx_tensor::kEntryKey) {
        read = ReadOnnxText(proto_, *inner, *entry, "key", key);
      } else if (inner->number == onnx_tensor::kEntryValue) {
        read = ReadOnnxText(proto_, *inner, *entry, "value", value);
      } else {
        read = proto_.SkipValue(*inner, *entry);
      }
      if (!read) return read;
    }
    if (key == "location") tensor.location = std::move(value);
    if (key == "offset") tensor.offset_text = std::move(value);
    if (key == "length") tensor.length_text = std::move(value);
    return {};
  }

  ProtobufReader& proto_;
};

namespace onnx_tensor {

inline Result<OnnxTensorContents> InFile(const OnnxTensorFields& tensor, const DataType& type,
                                         std::uint64_t bytes) {
  std::optional<ProtoPayload> payload = tensor.raw_data;
  std::string_view field = "raw_data";
  const auto check_type = [&](const OnnxFixedWidthValues& values, std::string_view name,
                              std::int64_t scalar, std::int64_t complex) -> Result<void> {
    if (!values.present() || *tensor.data_type == scalar || *tensor.data_type == complex) {
      return {};
    }
    return Bad(
        fmt::format("{} holds {} values in {}", OnnxTensorSubject(tensor), type.onnx_name, name));
  };
  if (Result<void> ok = check_type(tensor.float_data, "float_data", kFloat, kComplex64); !ok) {
    return ok.error();
  }
  if (Result<void> ok = check_type(tensor.double_data, "double_data", kDouble, kComplex128); !ok) {
    return ok.error();
  }
  if (tensor.float_data.run && !tensor.float_data.split) {
    payload = tensor.float_data.run;
    field = "float_data";
  } else if (tensor.double_data.run && !tensor.double_data.split) {
    payload = tensor.double_data.run;
    field = "double_data";
  }
  if (!payload) return OnnxTensorContents();
  if (payload->length != bytes) {
    return Bad(fmt::format("{}: {} holds {} bytes but shape {} of {} needs {}",
                           OnnxTensorSubject(tensor), field, payload->length,
                           ShapeText(tensor.dims), type.onnx_name, bytes));
  }
  return OnnxTensorContents(TensorEntry{.name = tensor.name,
                                        .dtype = std::string(type.dtype),
                                        .shape = tensor.dims,
                                        .offset = payload->offset,
                                        .size = payload->length,
                                        .first_block = 0,
                                        .block_count = 0});
}

inline Result<OnnxTensorContents> External(const OnnxTensorFields& tensor, const DataType& type,
                                           std::uint64_t bytes) {
  const std::string subject = OnnxTensorSubject(tensor);
  if (!tensor.location || tensor.location->empty()) {
    return Bad(
        fmt::format("{} is stored externally but its external_data has no location", subject));
  }
  const auto number = [&](const std::optional<std::string>& text,
                          std::string_view key) -> Result<std::optional<std::uint64_t>> {
    if (!text) return std::optional<std::uint64_t>();
    const std::optional<std::uint64_t> value = ParseDecimal(*text);
    if (!value) {
      return Bad(
          fmt::format("{}: external_data {} \"{}\" is not a decimal number of at most 64 bits",
                      subject, key, text->substr(0, 32)));
    }
    return value;
  };
  Result<std::optional<std::uint64_t>> offset = number(tensor.offset_text, "offset");
  if (!offset) return offset.error();
  Result<std::optional<std::uint64_t>> length = number(tensor.length_text, "length");
  if (!length) return length.error();
  if (*length && **length != bytes) {
    return Bad(fmt::format("{}: external_data length {} but shape {} of {} needs {} bytes", subject,
                           **length, ShapeText(tensor.dims), type.onnx_name, bytes));
  }
  if (!CheckedAdd(offset->value_or(0), bytes)) {
    return Bad(fmt::format("{}: external_data offset {} plus its {} bytes does not fit in 64 bits",
                           subject, offset->value_or(0), bytes));
  }
  return OnnxTensorContents(OnnxExternalTensor{.name = tensor.name,
                                               .dtype = std::string(type.dtype),
                                               .shape = tensor.dims,
                                               .location = *tensor.location,
                                               .offset = offset->value_or(0),
                                               .length = *length});
}

}  // namespace onnx_tensor

// Checks a whole TensorProto (see onnx.h) and says what it holds. Initializers need a name; a
// tensor of an attribute may have none.
[[nodiscard]] inline Result<OnnxTensorContents> JudgeOnnxTensor(const OnnxTensorFields& tensor) {
  using namespace onnx_tensor;
  const std::string subject = OnnxTensorSubject(tensor);
  if (tensor.name.empty() && tensor.holder != OnnxTensorHolder::kAttribute) {
    return Bad(fmt::format("{} has no name", subject));
  }
  if (!tensor.data_type) return Bad(fmt::format("{} has no data_type", subject));
  const DataType* type = FindDataType(*tensor.data_type);
  if (type == nullptr) {
    return Bad(fmt::format("{} has data_type {}, which is not an ONNX element type", subject,
                           *tensor.data_type));
  }
  if (tensor.has_segment) {
    return Bad(fmt::format("{} has a segment (field 3), which ONNX runtimes do not load", subject));
  }
  if (tensor.data_location != kLocationDefault && tensor.data_location != kLocationExternal) {
    return Bad(fmt::format("{} has data_location {}, neither DEFAULT (0) nor EXTERNAL (1)", subject,
                           static_cast<std::int64_t>(tensor.data_location)));
  }
  const std::vector<std::string_view> values = ValueFields(tensor);
  const bool external = tensor.data_location == kLocationExternal;
  if (external && !values.empty()) {
    return Bad(fmt::format("{} is stored externally (data_location EXTERNAL) but also holds {}",
                           subject, values.front()));
  }
  if (values.size() > 1) {
    return Bad(fmt::format("{} holds its values in both {} and {}", subject, values[0], values[1]));
  }
  if (*tensor.data_type == kString) return OnnxTensorContents();
  const std::optional<std::uint64_t> elements = CheckedProduct(tensor.dims);
  const std::optional<std::uint64_t> bytes =
      elements ? PayloadBytes(*type, *elements) : std::nullopt;
  if (!bytes) {
    return Bad(fmt::format("{}: shape {} of {} holds more bytes than fit in 64 bits", subject,
                           ShapeText(tensor.dims), type->onnx_name));
  }
  return external ? External(tensor, *type, *bytes) : InFile(tensor, *type, *bytes);
}

}  // namespace mei::internal
