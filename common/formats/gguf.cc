#include "common/formats/gguf.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <optional>
#include <string_view>

#include "common/internal/buffered_reader.h"
#include "common/internal/checked_math.h"
#include "common/internal/utf8.h"

namespace mei {
namespace {

using internal::BufferedReader;
using internal::CheckedAdd;
using internal::CheckedMul;
using internal::IsValidUtf8;

constexpr std::uint32_t kMaxDims = 4;  // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;
constexpr std::uint64_t kDefaultAlignment = 32;
constexpr std::string_view kAlignmentKey = "general.alignment";

// Bounds the memory a hostile file can make us spend on GgufValue objects (about 48 bytes each,
// against as little as one byte in the file). Real files stay far below: a 256k-token vocabulary
// with scores, types and merges is about a million values.
constexpr std::uint64_t kMaxMetadataValues = std::uint64_t{1} << 24;

// Fewest bytes that a tensor info (empty name, no dims) and a metadata entry (empty key, one-byte
// value) can take; counts are checked against these before anything is reserved.
constexpr std::uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;
constexpr std::uint64_t kMinMetadataEntryBytes = 8 + 4 + 1;

struct GgmlType {
  std::string_view name;  // empty: a retired or unassigned number
  std::uint32_t block_elements = 0;
  std::uint32_t block_bytes = 0;
};

// Indexed by ggml type number; block sizes as in ggml's type_traits and gguf-py's
// GGML_QUANT_SIZES.
constexpr std::array<GgmlType, 43> kGgmlTypes = {{
    {"F32", 1, 4},
    {"F16", 1, 2},
    {"Q4_0", 32, 18},
    {"Q4_1", 32, 20},
    {},  // 4: Q4_2, retired
    {},  // 5: Q4_3, retired
    {"Q5_0", 32, 22},
    {"Q5_1", 32, 24},
    {"Q8_0", 32, 34},
    {"Q8_1", 32, 36},
    {"Q2_K", 256, 84},
    {"Q3_K", 256, 110},
    {"Q4_K", 256, 144},
    {"Q5_K", 256, 176},
    {"Q6_K", 256, 210},
    {"Q8_K", 256, 292},
    {"IQ2_XXS", 256, 66},
    {"IQ2_XS", 256, 74},
    {"IQ3_XXS", 256, 98},
    {"IQ1_S", 256, 50},
    {"IQ4_NL", 32, 18},
    {"IQ3_S", 256, 110},
    {"IQ2_S", 256, 82},
    {"IQ4_XS", 256, 136},
    {"I8", 1, 1},
    {"I16", 1, 2},
    {"I32", 1, 4},
    {"I64", 1, 8},
    {"F64", 1, 8},
    {"IQ1_M", 256, 56},
    {"BF16", 1, 2},
    {},  // 31: Q4_0_4_4, retired
    {},  // 32: Q4_0_4_8, retired
    {},  // 33: Q4_0_8_8, retired
    {"TQ1_0", 256, 54},
    {"TQ2_0", 256, 66},
    {},  // 36: IQ4_NL_4_4, retired
    {},  // 37: IQ4_NL_4_8, retired
    {},  // 38: IQ4_NL_8_8, retired
    {"MXFP4", 32, 17},
    {"NVFP4", 64, 36},
    {"Q1_0", 128, 18},
    {"Q2_0", 64, 18},
}};

const GgmlType* FindGgmlType(std::uint32_t number) {
  if (number >= kGgmlTypes.size() || kGgmlTypes[number].name.empty()) return nullptr;
  return &kGgmlTypes[number];
}

std::optional<std::string_view> TypeName(std::uint32_t type) {
  static constexpr std::array<std::string_view, 13> kNames = {
      "uint8", "int8",   "uint16", "int16",  "uint32", "int32",   "float32",
      "bool",  "string", "array",  "uint64", "int64",  "float64",
  };
  if (type >= kNames.size()) return std::nullopt;
  return kNames[type];
}

// Fewest bytes one value of `type` takes in the file. REQUIRES: TypeName(type) has a value.
std::uint64_t MinValueBytes(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool:
      return 1;
    case GgufType::kUint16:
    case GgufType::kInt16:
      return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32:
      return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64:
    case GgufType::kString:
      return 8;
    case GgufType::kArray:
      return 4 + 8;
  }
  return 1;
}

Error Bad(std::string message) { return Error{Errc::kBadGguf, std::move(message)}; }

// Puts `context` in front of a format error; I/O errors keep their own message.
Error InContext(Error error, std::string_view context) {
  if (error.code != Errc::kBadGguf) return error;
  return Bad(fmt::format("{}: {}", context, error.message));
}

// Reads the fields of a GGUF file in order, from the magic to the end of the tensor infos.
class GgufParser {
 public:
  explicit GgufParser(const ByteSource& file) : file_(file), reader_(file, Errc::kBadGguf) {}

  Result<GgufFile> Parse() {
    GgufFile gguf;
    Result<void> ok = ReadPreamble(gguf);
    if (ok) ok = ReadMetadata(gguf);
    if (ok) ok = ResolveAlignment(gguf);
    if (ok) ok = ReadTensorInfos(gguf);
    if (ok) ok = PlaceTensors(gguf);
    if (!ok) return ok.error();
    return gguf;
  }

 private:
  Result<void> ReadPreamble(GgufFile& gguf) {
    std::array<std::byte, 4> magic{};
    if (Result<void> read = reader_.Read(magic, "the magic"); !read) return read;
    if (std::memcmp(magic.data(), "GGUF", magic.size()) != 0) {
      std::array<unsigned, 4> shown{};
      std::transform(magic.begin(), magic.end(), shown.begin(),
                     [](std::byte b) { return std::to_integer<unsigned>(b); });
      return Bad(fmt::format("not a GGUF file: it starts with bytes {:02x}, not \"GGUF\"",
                             fmt::join(shown, " ")));
    }
    Result<std::uint32_t> version = reader_.ReadUint<std::uint32_t>("the version");
    if (!version) return version.error();
    if (*version != 0 && (*version & 0xFFFF) == 0) {
      const std::uint32_t swapped = ((*version >> 24) & 0xFF) | ((*version >> 8) & 0xFF00);
      return Bad(fmt::format("big-endian GGUF (version {} in big-endian order) is not supported",
                             swapped));
    }
    if (*version != 2 && *version != 3) {
      return Bad(
          fmt::format("GGUF version {} is not supported (only versions 2 and 3 are)", *version));
    }
    gguf.version = *version;

    Result<std::uint64_t> tensor_count = reader_.ReadUint<std::uint64_t>("the tensor count");
    if (!tensor_count) return tensor_count.error();
    Result<std::uint64_t> metadata_count = reader_.ReadUint<std::uint64_t>("the metadata count");
    if (!metadata_count) return metadata_count.error();
    const std::uint64_t left = reader_.remaining();
    if (*tensor_count > left / kMinTensorInfoBytes) {
      return Bad(fmt::format("header claims {} tensors but the {} bytes after it hold at most {}",
                             *tensor_count, left, left / kMinTensorInfoBytes));
    }
    if (*metadata_count > left / kMinMetadataEntryBytes) {
      return Bad(
          fmt::format("header claims {} metadata entries but the {} bytes after it hold at most {}",
                      *metadata_count, left, left / kMinMetadataEntryBytes));
    }
    tensor_count_ = *tensor_count;
    metadata_count_ = *metadata_count;
    return {};
  }

  Result<std::string> ReadString(std::string_view what) {
    Result<std::uint64_t> length = reader_.ReadUint<std::uint64_t>("a string length");
    if (!length) return length.error();
    if (*length > reader_.remaining()) {
      return Bad(fmt::format("{} at byte {} claims {} bytes but only {} are left in the file", what,
                             reader_.position() - 8, *length, reader_.remaining()));
    }
    std::string text(static_cast<std::size_t>(*length), '\0');
    if (Result<void> read = reader_.Read(std::as_writable_bytes(std::span(text)), what); !read) {
      return read.error();
    }
    return text;
  }

  Result<GgufType> ReadType(std::string_view what) {
    Result<std::uint32_t> type = reader_.ReadUint<std::uint32_t>(what);
    if (!type) return type.error();
    if (!TypeName(*type)) return Bad(fmt::format("{} {} is not a GGUF value type", what, *type));
    return static_cast<GgufType>(*type);
  }

  Result<GgufValue> ReadValue(GgufType type, int depth) {
    if (values_read_ == kMaxMetadataValues) {
      return Bad(fmt::format("metadata holds more than {} values", kMaxMetadataValues));
    }
    ++values_read_;
    GgufValue value;
    value.type = type;
    switch (type) {
      case GgufType::kUint8:
        return ReadUnsigned<std::uint8_t>(std::move(value));
      case GgufType::kUint16:
        return ReadUnsigned<std::uint16_t>(std::move(value));
      case GgufType::kUint32:
        return ReadUnsigned<std::uint32_t>(std::move(value));
      case GgufType::kUint64:
        return ReadUnsigned<std::uint64_t>(std::move(value));
      case GgufType::kInt8:
        return ReadSigned<std::uint8_t, std::int8_t>(std::move(value));
      case GgufType::kInt16:
        return ReadSigned<std::uint16_t, std::int16_t>(std::move(value));
      case GgufType::kInt32:
        return ReadSigned<std::uint32_t, std::int32_t>(std::move(value));
      case GgufType::kInt64:
        return ReadSigned<std::uint64_t, std::int64_t>(std::move(value));
      case GgufType::kFloat32: {
        Result<std::uint32_t> bits = reader_.ReadUint<std::uint32_t>("a float32 value");
        if (!bits) return bits.error();
        value.value = static_cast<double>(std::bit_cast<float>(*bits));
        return value;
      }
      case GgufType::kFloat64: {
        Result<std::uint64_t> bits = reader_.ReadUint<std::uint64_t>("a float64 value");
        if (!bits) return bits.error();
        value.value = std::bit_cast<double>(*bits);
        return value;
      }
      case GgufType::kBool: {
        Result<std::uint8_t> byte = reader_.ReadUint<std::uint8_t>("a bool value");
        if (!byte) return byte.error();
        if (*byte > 1) {
          return Bad(
              fmt::format("bool at byte {} is {}, not 0 or 1", reader_.position() - 1, *byte));
        }
        value.value = *byte == 1;
        return value;
      }
      case GgufType::kString: {
        Result<std::string> text = ReadString("a string value");
        if (!text) return text.error();
        value.value = std::move(*text);
        return value;
      }
      case GgufType::kArray:
        return ReadArray(std::move(value), depth);
    }
    return Bad("unreachable value type");
  }

  template <class Unsigned>
  Result<GgufValue> ReadUnsigned(GgufValue value) {
    Result<Unsigned> number = reader_.ReadUint<Unsigned>("an integer value");
    if (!number) return number.error();
    value.value = std::uint64_t{*number};
    return value;
  }

  template <class Unsigned, class Signed>
  Result<GgufValue> ReadSigned(GgufValue value) {
    Result<Unsigned> number = reader_.ReadUint<Unsigned>("an integer value");
    if (!number) return number.error();
    value.value = std::int64_t{static_cast<Signed>(*number)};
    return value;
  }

  Result<GgufValue> ReadArray(GgufValue value, int depth) {
    if (depth >= kMaxArrayDepth) {
      return Bad(fmt::format("arrays nest deeper than {} levels", kMaxArrayDepth));
    }
    Result<GgufType> element_type = ReadType("array element type");
    if (!element_type) return element_type.error();
    Result<std::uint64_t> count = reader_.ReadUint<std::uint64_t>("an array length");
    if (!count) return count.error();
    const std::uint64_t min_bytes = MinValueBytes(*element_type);
    if (*count > reader_.remaining() / min_bytes) {
      return Bad(fmt::format(
          "array of {} {} values at byte {} needs at least {} bytes per value but only {} bytes "
          "are left in the file",
          *count, *TypeName(static_cast<std::uint32_t>(*element_type)), reader_.position() - 12,
          min_bytes, reader_.remaining()));
    }
    if (*count > kMaxMetadataValues - values_read_) {
      return Bad(fmt::format("array of {} values takes metadata past {} values", *count,
                             kMaxMetadataValues));
    }
    value.element_type = *element_type;
    std::vector<GgufValue> elements;
    elements.reserve(static_cast<std::size_t>(*count));
    for (std::uint64_t i = 0; i < *count; ++i) {
      Result<GgufValue> element = ReadValue(*element_type, depth + 1);
      if (!element) {
        if (depth > 0) return element.error();
        return InContext(element.error(), fmt::format("array element {}", i));
      }
      elements.push_back(std::move(*element));
    }
    value.value = std::move(elements);
    return value;
  }

  Result<void> ReadMetadata(GgufFile& gguf) {
    gguf.metadata.reserve(static_cast<std::size_t>(metadata_count_));
    for (std::uint64_t i = 0; i < metadata_count_; ++i) {
      Result<std::string> key = ReadString("a metadata key");
      if (!key) return InContext(key.error(), fmt::format("metadata entry {}", i));
      const std::string context = fmt::format("metadata key \"{}\"", *key);
      Result<GgufType> type = ReadType("value type");
      if (!type) return InContext(type.error(), context);
      Result<GgufValue> value = ReadValue(*type, 0);
      if (!value) return InContext(value.error(), context);
      gguf.metadata.emplace_back(std::move(*key), std::move(*value));
    }
    std::vector<std::string_view> keys;
    keys.reserve(gguf.metadata.size());
    for (const auto& [key, value] : gguf.metadata) keys.push_back(key);
    std::sort(keys.begin(), keys.end());
    if (const auto twice = std::adjacent_find(keys.begin(), keys.end()); twice != keys.end()) {
      return Bad(fmt::format("metadata key \"{}\" appears more than once", *twice));
    }
    return {};
  }

  Result<void> ResolveAlignment(GgufFile& gguf) {
    gguf.alignment = kDefaultAlignment;
    for (const auto& [key, value] : gguf.metadata) {
      if (key != kAlignmentKey) continue;
      const std::uint64_t* alignment = std::get_if<std::uint64_t>(&value.value);
      if (alignment == nullptr) {
        return Bad(fmt::format("{} has type {}, not an unsigned integer type", kAlignmentKey,
                               *TypeName(static_cast<std::uint32_t>(value.type))));
      }
      if (!std::has_single_bit(*alignment)) {
        return Bad(fmt::format("{} is {}, not a power of two", kAlignmentKey, *alignment));
      }
      gguf.alignment = *alignment;
    }
    return {};
  }

  // Reads one tensor info; `offset` is left relative to the data section.
  Result<TensorEntry> ReadTensorInfo(std::uint64_t index) {
    Result<std::string> name = ReadString("a tensor name");
    if (!name) return InContext(name.error(), fmt::format("tensor info {}", index));
    if (name->empty() || !IsValidUtf8(*name)) {
      return Bad(fmt::format("tensor info {}: name at byte {} is empty or not valid UTF-8", index,
                             reader_.position() - name->size() - 8));
    }
    const std::string context = fmt::format("tensor \"{}\"", *name);
    Result<std::uint32_t> n_dims = reader_.ReadUint<std::uint32_t>("the dimension count");
    if (!n_dims) return InContext(n_dims.error(), context);
    if (*n_dims > kMaxDims) {
      return Bad(fmt::format("{} has {} dimensions, more than the {} ggml allows", context, *n_dims,
                             kMaxDims));
    }
    std::vector<std::uint64_t> shape;
    for (std::uint32_t d = 0; d < *n_dims; ++d) {
      Result<std::uint64_t> dim = reader_.ReadUint<std::uint64_t>("a dimension");
      if (!dim) return InContext(dim.error(), context);
      shape.push_back(*dim);
    }
    Result<std::uint32_t> type_number = reader_.ReadUint<std::uint32_t>("the ggml type");
    if (!type_number) return InContext(type_number.error(), context);
    Result<std::uint64_t> offset = reader_.ReadUint<std::uint64_t>("the data offset");
    if (!offset) return InContext(offset.error(), context);

    const GgmlType* type = FindGgmlType(*type_number);
    if (type == nullptr) {
      return Bad(fmt::format("{} has unknown ggml type {}", context, *type_number));
    }
    const std::string shape_text = fmt::format("[{}]", fmt::join(shape, ", "));
    const std::uint64_t row_elements = shape.empty() ? 1 : shape[0];
    if (row_elements % type->block_elements != 0) {
      return Bad(fmt::format("{}: ne0 {} of shape {} is not a multiple of the {}-element {} block",
                             context, row_elements, shape_text, type->block_elements, type->name));
    }
    const std::optional<std::uint64_t> elements = internal::CheckedProduct(shape);
    const std::optional<std::uint64_t> size =
        elements ? CheckedMul(*elements / type->block_elements, type->block_bytes) : std::nullopt;
    if (!size) {
      return Bad(fmt::format("{}: shape {} of {} takes more bytes than fit in 64 bits", context,
                             shape_text, type->name));
    }
    return TensorEntry{.name = std::move(*name),
                       .dtype = std::string(type->name),
                       .shape = std::move(shape),
                       .offset = *offset,
                       .size = *size};
  }

  Result<void> ReadTensorInfos(GgufFile& gguf) {
    gguf.tensors.reserve(static_cast<std::size_t>(tensor_count_));
    for (std::uint64_t i = 0; i < tensor_count_; ++i) {
      Result<TensorEntry> tensor = ReadTensorInfo(i);
      if (!tensor) return tensor.error();
      gguf.tensors.push_back(std::move(*tensor));
    }
    return {};
  }

  // Turns relative offsets into absolute ones and checks that every tensor is aligned, inside the
  // file and clear of the others. A file without tensors (a vocabulary-only GGUF) need not be
  // padded to the alignment, so its data section starts at the end of the file at the latest.
  Result<void> PlaceTensors(GgufFile& gguf) {
    const std::uint64_t infos_end = reader_.position();
    const std::uint64_t file_size = file_.size();
    const std::uint64_t remainder = infos_end % gguf.alignment;
    const std::optional<std::uint64_t> data_start =
        CheckedAdd(infos_end, remainder == 0 ? 0 : gguf.alignment - remainder);
    if (gguf.tensors.empty()) {
      gguf.data_start = std::min(data_start.value_or(file_size), file_size);
      return {};
    }
    if (!data_start || *data_start > file_size) {
      return Bad(
          fmt::format("tensor infos end at byte {}, so the data section aligned to {} "
                      "starts past the end of the {}-byte file",
                      infos_end, gguf.alignment, file_size));
    }
    gguf.data_start = *data_start;
    const std::uint64_t data_bytes = file_size - *data_start;
    for (TensorEntry& tensor : gguf.tensors) {
      if (tensor.offset % gguf.alignment != 0) {
        return Bad(
            fmt::format("tensor \"{}\": data offset {} is not a multiple of the alignment {}",
                        tensor.name, tensor.offset, gguf.alignment));
      }
      if (tensor.offset > data_bytes || tensor.size > data_bytes - tensor.offset) {
        return Bad(fmt::format(
            "tensor \"{}\": {} bytes at data offset {} run past the end of the data section, "
            "which holds {} bytes from byte {}",
            tensor.name, tensor.size, tensor.offset, data_bytes, *data_start));
      }
      tensor.offset += *data_start;
    }
    std::sort(gguf.tensors.begin(), gguf.tensors.end(),
              [](const TensorEntry& a, const TensorEntry& b) {
                return a.offset != b.offset ? a.offset < b.offset : a.name < b.name;
              });
    return CheckTensorsApart(gguf.tensors, *data_start);
  }

  // Sorted by offset, a non-empty tensor overlaps an earlier one exactly when it starts before the
  // furthest end reached so far; empty tensors occupy no bytes. Names must be unique too.
  static Result<void> CheckTensorsApart(const std::vector<TensorEntry>& tensors,
                                        std::uint64_t data_start) {
    const TensorEntry* furthest = nullptr;
    for (const TensorEntry& tensor : tensors) {
      if (tensor.size == 0) continue;
      if (furthest != nullptr && tensor.offset < furthest->offset + furthest->size) {
        return Bad(fmt::format(
            "tensors \"{}\" at data offset {} ({} bytes) and \"{}\" at data offset {} ({} bytes) "
            "overlap",
            furthest->name, furthest->offset - data_start, furthest->size, tensor.name,
            tensor.offset - data_start, tensor.size));
      }
      if (furthest == nullptr || tensor.offset + tensor.size > furthest->offset + furthest->size) {
        furthest = &tensor;
      }
    }
    std::vector<std::string_view> names;
    names.reserve(tensors.size());
    for (const TensorEntry& tensor : tensors) names.push_back(tensor.name);
    std::sort(names.begin(), names.end());
    if (const auto twice = std::adjacent_find(names.begin(), names.end()); twice != names.end()) {
      return Bad(fmt::format("tensor \"{}\" appears more than once", *twice));
    }
    return {};
  }

  const ByteSource& file_;
  BufferedReader reader_;
  std::uint64_t tensor_count_ = 0;
  std::uint64_t metadata_count_ = 0;
  std::uint64_t values_read_ = 0;
};

}  // namespace

Result<GgufFile> ParseGguf(const ByteSource& file) {
  Result<GgufFile> gguf = GgufParser(file).Parse();
  if (!gguf && gguf.error().code == Errc::kBadGguf) {
    return Bad(fmt::format("{}: {}", file.name(), gguf.error().message));
  }
  return gguf;
}

std::string_view GgmlTypeName(std::uint32_t ggml_type) {
  const GgmlType* type = FindGgmlType(ggml_type);
  return type == nullptr ? std::string_view() : type->name;
}

}  // namespace mei
