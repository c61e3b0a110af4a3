#include "common/formats/safetensors.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <optional>
#include <string_view>

#include "common/dtype.h"
#include "common/internal/checked_math.h"

namespace mei {
namespace {

constexpr std::string_view kMetadataKey = "__metadata__";

Error Bad(std::string message) { return Error{Errc::kBadSafetensors, std::move(message)}; }

std::string_view KindName(const boost::json::value& value) {
  if (value.is_number()) return "number";
  const boost::json::string_view name = boost::json::to_string(value.kind());
  return {name.data(), name.size()};
}

std::optional<std::uint64_t> AsUint64(const boost::json::value& value) {
  if (value.is_uint64()) return value.get_uint64();
  if (value.is_int64() && value.get_int64() >= 0) {
    return static_cast<std::uint64_t>(value.get_int64());
  }
  return std::nullopt;
}

std::string ShapeText(const std::vector<std::uint64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

Result<std::vector<std::pair<std::string, std::string>>> ParseMetadata(
    const boost::json::value& value) {
  const boost::json::object* object = value.if_object();
  if (object == nullptr) {
    return Bad(
        fmt::format("{} is a JSON {}, not an object of strings", kMetadataKey, KindName(value)));
  }
  std::vector<std::pair<std::string, std::string>> metadata;
  metadata.reserve(object->size());
  for (const boost::json::key_value_pair& item : *object) {
    const boost::json::string* text = item.value().if_string();
    if (text == nullptr) {
      return Bad(fmt::format("{} value of \"{}\" is a JSON {}, not a string", kMetadataKey,
                             std::string_view(item.key()), KindName(item.value())));
    }
    metadata.emplace_back(std::string(item.key()), std::string(*text));
  }
  return metadata;
}

Result<std::vector<std::uint64_t>> ParseShape(std::string_view name,
                                              const boost::json::value& value) {
  const boost::json::array* dims = value.if_array();
  if (dims == nullptr) {
    return Bad(
        fmt::format("tensor \"{}\": shape is a JSON {}, not an array", name, KindName(value)));
  }
  std::vector<std::uint64_t> shape;
  shape.reserve(dims->size());
  for (std::size_t i = 0; i < dims->size(); ++i) {
    const std::optional<std::uint64_t> dim = AsUint64((*dims)[i]);
    if (!dim) {
      return Bad(fmt::format("tensor \"{}\": shape element {} is {}, not a non-negative integer",
                             name, i, boost::json::serialize((*dims)[i])));
    }
    shape.push_back(*dim);
  }
  return shape;
}

// Returns [begin, end) relative to the data section.
Result<std::array<std::uint64_t, 2>> ParseDataOffsets(std::string_view name,
                                                      const boost::json::value& value) {
  const boost::json::array* offsets = value.if_array();
  if (offsets == nullptr || offsets->size() != 2) {
    return Bad(fmt::format("tensor \"{}\": data_offsets is {}, not an array [begin, end]", name,
                           boost::json::serialize(value)));
  }
  const std::optional<std::uint64_t> begin = AsUint64((*offsets)[0]);
  const std::optional<std::uint64_t> end = AsUint64((*offsets)[1]);
  if (!begin || !end) {
    return Bad(fmt::format("tensor \"{}\": data_offsets {} are not two non-negative integers", name,
                           boost::json::serialize(value)));
  }
  if (*begin > *end) {
    return Bad(
        fmt::format("tensor \"{}\": data_offsets begin {} is after end {}", name, *begin, *end));
  }
  return std::array<std::uint64_t, 2>{*begin, *end};
}

Result<const boost::json::value*> Field(std::string_view name, const boost::json::object& entry,
                                        std::string_view field) {
  const boost::json::value* value = entry.if_contains(field);
  if (value == nullptr) return Bad(fmt::format("tensor \"{}\" has no \"{}\"", name, field));
  return value;
}

Result<TensorEntry> ParseTensor(std::string_view name, const boost::json::value& value,
                                std::uint64_t data_start, std::uint64_t file_size) {
  const boost::json::object* entry = value.if_object();
  if (entry == nullptr) {
    return Bad(fmt::format("tensor \"{}\" is a JSON {}, not an object", name, KindName(value)));
  }
  Result<const boost::json::value*> dtype_field = Field(name, *entry, "dtype");
  if (!dtype_field) return dtype_field.error();
  Result<const boost::json::value*> shape_field = Field(name, *entry, "shape");
  if (!shape_field) return shape_field.error();
  Result<const boost::json::value*> offsets_field = Field(name, *entry, "data_offsets");
  if (!offsets_field) return offsets_field.error();

  const boost::json::string* dtype = (*dtype_field)->if_string();
  if (dtype == nullptr) {
    return Bad(fmt::format("tensor \"{}\": dtype is a JSON {}, not a string", name,
                           KindName(**dtype_field)));
  }
  const std::optional<std::uint32_t> bits = SafetensorsDtypeBits(*dtype);
  if (!bits) {
    return Bad(
        fmt::format("tensor \"{}\" has unknown dtype \"{}\"", name, std::string_view(*dtype)));
  }
  Result<std::vector<std::uint64_t>> shape = ParseShape(name, **shape_field);
  if (!shape) return shape.error();
  Result<std::array<std::uint64_t, 2>> offsets = ParseDataOffsets(name, **offsets_field);
  if (!offsets) return offsets.error();
  const auto [begin, end] = *offsets;

  const std::optional<std::uint64_t> elements = internal::CheckedProduct(*shape);
  const std::optional<std::uint64_t> total_bits =
      elements ? internal::CheckedMul(*elements, *bits) : std::nullopt;
  if (!total_bits) {
    return Bad(fmt::format("tensor \"{}\": shape {} of {} holds more bits than fit in 64 bits",
                           name, ShapeText(*shape), std::string_view(*dtype)));
  }
  if (*total_bits % 8 != 0) {
    return Bad(fmt::format("tensor \"{}\": shape {} of {} is {} bits, not a whole number of bytes",
                           name, ShapeText(*shape), std::string_view(*dtype), *total_bits));
  }
  if (*total_bits / 8 != end - begin) {
    return Bad(fmt::format(
        "tensor \"{}\": shape {} of {} needs {} bytes but data_offsets [{}, {}) hold {} bytes",
        name, ShapeText(*shape), std::string_view(*dtype), *total_bits / 8, begin, end,
        end - begin));
  }
  if (end > file_size - data_start) {
    return Bad(fmt::format(
        "tensor \"{}\": data_offsets [{}, {}) end at byte {} of the data section, which starts "
        "at byte {} of a {}-byte file and so holds only {} bytes",
        name, begin, end, end, data_start, file_size, file_size - data_start));
  }
  return TensorEntry{.name = std::string(name),
                     .dtype = std::string(*dtype),
                     .shape = std::move(*shape),
                     .offset = data_start + begin,
                     .size = end - begin};
}

// Sorted by offset, a non-empty tensor overlaps an earlier one exactly when it starts before the
// furthest end reached so far. Empty tensors occupy no bytes and are skipped.
Result<void> CheckNoOverlap(const std::vector<TensorEntry>& tensors, std::uint64_t data_start) {
  const TensorEntry* furthest = nullptr;
  for (const TensorEntry& tensor : tensors) {
    if (tensor.size == 0) continue;
    if (furthest != nullptr && tensor.offset < furthest->offset + furthest->size) {
      return Bad(
          fmt::format("tensors \"{}\" at data_offsets [{}, {}) and \"{}\" at [{}, {}) "
                      "overlap",
                      furthest->name, furthest->offset - data_start,
                      furthest->offset + furthest->size - data_start, tensor.name,
                      tensor.offset - data_start, tensor.offset + tensor.size - data_start));
    }
    if (furthest == nullptr || tensor.offset + tensor.size > furthest->offset + furthest->size) {
      furthest = &tensor;
    }
  }
  return {};
}

Result<std::uint64_t> ReadHeaderLength(const ByteSource& file) {
  const std::uint64_t file_size = file.size();
  if (file_size < 8) {
    return Bad(fmt::format("file is {} bytes, too short for the 8-byte header length", file_size));
  }
  std::array<std::byte, 8> bytes{};
  if (Result<void> read = file.ReadAt(0, bytes); !read) return read.error();
  std::uint64_t length = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    length |= std::to_integer<std::uint64_t>(bytes[i]) << (8 * i);
  }
  if (length > kMaxSafetensorsHeaderBytes) {
    return Bad(fmt::format("header length {} exceeds the limit of {} bytes", length,
                           kMaxSafetensorsHeaderBytes));
  }
  if (length > file_size - 8) {
    return Bad(
        fmt::format("header length {} runs past the end of the {}-byte file", length, file_size));
  }
  return length;
}

Result<SafetensorsHeader> ParseHeader(const ByteSource& file) {
  Result<std::uint64_t> length = ReadHeaderLength(file);
  if (!length) return length.error();
  std::string text(*length, '\0');
  if (Result<void> read = file.ReadAt(8, std::as_writable_bytes(std::span(text))); !read) {
    return read.error();
  }
  boost::system::error_code ec;
  const boost::json::value json = boost::json::parse(text, ec);
  if (ec) return Bad(fmt::format("header is not valid JSON: {}", ec.message()));
  const boost::json::object* root = json.if_object();
  if (root == nullptr) {
    return Bad(fmt::format("header is a JSON {}, not an object", KindName(json)));
  }

  SafetensorsHeader header;
  header.data_start = 8 + *length;
  header.tensors.reserve(root->size());
  for (const boost::json::key_value_pair& item : *root) {
    if (item.key() == kMetadataKey) {
      Result<std::vector<std::pair<std::string, std::string>>> metadata =
          ParseMetadata(item.value());
      if (!metadata) return metadata.error();
      header.metadata = std::move(*metadata);
      continue;
    }
    Result<TensorEntry> tensor =
        ParseTensor(item.key(), item.value(), header.data_start, file.size());
    if (!tensor) return tensor.error();
    header.tensors.push_back(std::move(*tensor));
  }
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorEntry& a, const TensorEntry& b) {
              return a.offset != b.offset ? a.offset < b.offset : a.name < b.name;
            });
  if (Result<void> ok = CheckNoOverlap(header.tensors, header.data_start); !ok) {
    return ok.error();
  }
  return header;
}

}  // namespace

Result<SafetensorsHeader> ParseSafetensors(const ByteSource& file) {
  Result<SafetensorsHeader> header = ParseHeader(file);
  if (!header && header.error().code == Errc::kBadSafetensors) {
    return Bad(fmt::format("{}: {}", file.name(), header.error().message));
  }
  return header;
}

}  // namespace mei
