#include "common/formats/tflite.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/internal/checked_math.h"
#include "common/internal/utf8.h"

namespace mei {
namespace {

using internal::CheckedAdd;
using internal::IsValidUtf8;

constexpr std::string_view kFileIdentifier = "TFL3";
constexpr std::uint64_t kHeaderBytes = 8;  // root uoffset, file identifier
constexpr std::uint32_t kSchemaVersion = 3;

// Bounds the work a hostile file can cause: each table costs a few small reads, and a file can
// refer to the same table from millions of vector slots. Real models hold a few hundred thousand
// tables at most (tensors of every subgraph, buffers, metadata).
constexpr std::uint64_t kMaxTables = std::uint64_t{1} << 20;
constexpr std::uint64_t kMaxRank = 32;

// Vtable slots of the schema's fields (tensorflow/compiler/mlir/lite/schema/schema.fbs).
constexpr int kModelVersion = 0;
constexpr int kModelSubgraphs = 2;
constexpr int kModelBuffers = 4;
constexpr int kModelMetadata = 6;
constexpr int kSubgraphTensors = 0;
constexpr int kTensorShape = 0;
constexpr int kTensorType = 1;
constexpr int kTensorBuffer = 2;
constexpr int kTensorName = 3;
constexpr int kBufferData = 0;
constexpr int kBufferOffset = 1;
constexpr int kBufferSize = 2;
constexpr int kMetadataName = 0;
constexpr int kMetadataBuffer = 1;

// TensorType names, indexed by number: safetensors' where it has the type, the schema's otherwise.
constexpr std::array<std::string_view, 23> kTensorTypeNames = {
    "F32", "F16",  "I32",  "U8",         "I64",   "STRING",   "BOOL",    "I16",
    "C64", "I8",   "F64",  "COMPLEX128", "U64",   "RESOURCE", "VARIANT", "U32",
    "U16", "INT4", "BF16", "INT2",       "UINT4", "F8_E4M3",  "F8_E5M2",
};

// A type number from a newer schema keeps the tensor (its bytes are opaque here) under a name
// that says what it is.
std::string TensorTypeName(std::uint8_t type) {
  const auto number = static_cast<std::int8_t>(type);
  if (number >= 0 && static_cast<std::size_t>(number) < kTensorTypeNames.size()) {
    return std::string(kTensorTypeNames[static_cast<std::size_t>(number)]);
  }
  return fmt::format("TENSORTYPE_{}", number);
}

Error Bad(std::string message) { return Error{Errc::kBadModelFile, std::move(message)}; }

// Reads through a direct-mapped cache of small pages. The converter puts each Buffer table just
// before its data, so a model costs about a page per buffer plus its other tables; a 64 KiB window
// would read sixteen times as much. Not thread-safe.
class PagedReader {
 public:
  static constexpr std::uint64_t kPageBytes = 4096;
  static constexpr std::size_t kPages = 64;

  // A small file gets as many pages as it has, not kPages.
  explicit PagedReader(const ByteSource& file)
      : file_(file),
        slots_(static_cast<std::size_t>(
            std::min<std::uint64_t>(kPages, (file.size() + kPageBytes - 1) / kPageBytes))),
        pages_(slots_ * kPageBytes),
        tags_(slots_, kNoPage) {}

  // REQUIRES: at + out.size() <= the file's size (callers check, to name what does not fit).
  [[nodiscard]] Result<void> Read(std::uint64_t at, std::span<std::byte> out) {
    if (at > file_.size() || out.size() > file_.size() - at) {
      return Bad(fmt::format("{} bytes at byte {} run past the end of the {}-byte file", out.size(),
                             at, file_.size()));
    }
    if (out.size() >= kPageBytes) return file_.ReadAt(at, out);
    while (!out.empty()) {
      const std::uint64_t page = at / kPageBytes;
      const std::size_t slot = page % slots_;
      std::byte* cached = pages_.data() + slot * kPageBytes;
      if (tags_[slot] != page) {
        const std::uint64_t start = page * kPageBytes;
        const std::uint64_t length = std::min(kPageBytes, file_.size() - start);
        if (Result<void> read = file_.ReadAt(start, std::span(cached, length)); !read) return read;
        tags_[slot] = page;
      }
      const std::uint64_t within = at % kPageBytes;
      const std::size_t n = std::min<std::uint64_t>(out.size(), kPageBytes - within);
      std::memcpy(out.data(), cached + within, n);
      out = out.subspan(n);
      at += n;
    }
    return {};
  }

  template <class T>
  [[nodiscard]] Result<T> Le(std::uint64_t at) {
    std::array<std::byte, sizeof(T)> bytes{};
    if (Result<void> read = Read(at, bytes); !read) return read.error();
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      value |= std::to_integer<std::uint64_t>(bytes[i]) << (8 * i);
    }
    return static_cast<T>(value);
  }

 private:
  static constexpr std::uint64_t kNoPage = std::numeric_limits<std::uint64_t>::max();

  const ByteSource& file_;
  std::size_t slots_;
  std::vector<std::byte> pages_;
  std::vector<std::uint64_t> tags_;
};

// What a table is, for messages: "the model", "buffer 3", "tensor 5 of subgraph 0".
struct Place {
  std::string_view kind{};
  std::uint64_t index = 0;
  std::optional<std::uint64_t> subgraph{};
};

std::string Describe(const Place& place) {
  if (place.kind == "the model") return std::string(place.kind);
  if (place.subgraph)
    return fmt::format("{} {} of subgraph {}", place.kind, place.index, *place.subgraph);
  return fmt::format("{} {}", place.kind, place.index);
}

struct Table {
  Place place;
  std::uint64_t position = 0;  // of its soffset
  std::uint64_t vtable = 0;
  std::uint16_t vtable_bytes = 0;
  std::uint16_t table_bytes = 0;
};

struct Vector {
  std::uint64_t length_position = 0;
  std::uint64_t first = 0;  // position of element 0
  std::uint64_t length = 0;
};

// A buffer's bytes in the file; empty buffers have none.
struct ByteRange {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

constexpr std::uint32_t kNoEntry = std::numeric_limits<std::uint32_t>::max();

// Follows the flatbuffer from the root: buffers, then the tensors and metadata that name them.
class TfliteParser {
 public:
  explicit TfliteParser(const ByteSource& file) : size_(file.size()), reader_(file) {}

  Result<std::vector<TensorEntry>> Parse() {
    Result<Table> model = ReadModel();
    if (!model) return model.error();
    Result<void> ok = ReadBuffers(*model);
    if (ok) ok = NameFromTensors(*model);
    if (ok) ok = NameFromMetadata(*model);
    if (!ok) return ok.error();
    for (std::size_t e = 0; e < entries_.size(); ++e) {
      if (named_[e]) continue;
      entries_[e].name = fmt::format("buffer {}", entry_buffers_[e]);
      entries_[e].dtype = "U8";
      entries_[e].shape = {entries_[e].size};
    }
    return std::move(entries_);
  }

 private:
  Result<Table> ReadModel() {
    if (size_ < kHeaderBytes) {
      return Bad(fmt::format("the file is {} bytes, too short for a TFLite model ({} at least)",
                             size_, kHeaderBytes));
    }
    std::array<char, 4> identifier{};
    if (Result<void> read = reader_.Read(4, std::as_writable_bytes(std::span(identifier))); !read) {
      return read.error();
    }
    if (std::string_view(identifier.data(), identifier.size()) != kFileIdentifier) {
      std::array<unsigned, 4> shown{};
      std::transform(identifier.begin(), identifier.end(), shown.begin(),
                     [](char c) { return static_cast<unsigned>(static_cast<unsigned char>(c)); });
      return Bad(fmt::format("not a TFLite model: bytes 4 to 8 are {:02x}, not \"{}\"",
                             fmt::join(shown, " "), kFileIdentifier));
    }
    Result<std::uint32_t> root = reader_.Le<std::uint32_t>(0);
    if (!root) return root.error();
    if (*root > size_ - 4) {
      return Bad(
          fmt::format("the root offset {} points past the end of the {}-byte file", *root, size_));
    }
    Result<Table> model = ReadTable(*root, Place{.kind = "the model"});
    if (!model) return model;
    Result<std::uint32_t> version = Scalar<std::uint32_t>(*model, kModelVersion);
    if (!version) return version.error();
    if (*version != kSchemaVersion) {
      return Bad(fmt::format("schema version {} is not supported (only version {} is)", *version,
                             kSchemaVersion));
    }
    return model;
  }

  // Reads the table at `position` (room for its soffset already checked) and checks that its
  // vtable and its inline fields lie inside the file.
  Result<Table> ReadTable(std::uint64_t position, Place place) {
    Table table{.place = place, .position = position};
    Result<std::uint32_t> soffset = reader_.Le<std::uint32_t>(position);
    if (!soffset) return soffset.error();
    const std::int64_t vtable =
        static_cast<std::int64_t>(position) - static_cast<std::int32_t>(*soffset);
    if (vtable < 0 || static_cast<std::uint64_t>(vtable) > size_ - 4) {
      return Bad(fmt::format("{} at byte {}: its vtable at byte {} is outside the {}-byte file",
                             Describe(place), position, vtable, size_));
    }
    table.vtable = static_cast<std::uint64_t>(vtable);
    Result<std::uint16_t> vtable_bytes = reader_.Le<std::uint16_t>(table.vtable);
    if (!vtable_bytes) return vtable_bytes.error();
    Result<std::uint16_t> table_bytes = reader_.Le<std::uint16_t>(table.vtable + 2);
    if (!table_bytes) return table_bytes.error();
    if (*vtable_bytes < 4 || *vtable_bytes % 2 != 0 || *vtable_bytes > size_ - table.vtable) {
      return Bad(fmt::format(
          "{}: its vtable at byte {} claims {} bytes, not an even number from 4 that fits the "
          "{}-byte file",
          Describe(place), table.vtable, *vtable_bytes, size_));
    }
    if (*table_bytes < 4 || *table_bytes > size_ - position) {
      return Bad(
          fmt::format("{} at byte {} claims {} bytes, not from 4 up to the end of the {}-byte file",
                      Describe(place), position, *table_bytes, size_));
    }
    table.vtable_bytes = *vtable_bytes;
    table.table_bytes = *table_bytes;
    return table;
  }

  // Where the field of `slot` lies, or nullopt when the table does not have it.
  Result<std::optional<std::uint64_t>> FieldPosition(const Table& table, int slot,
                                                     std::uint64_t width) {
    const std::uint64_t entry = 4 + 2 * static_cast<std::uint64_t>(slot);
    if (entry + 2 > table.vtable_bytes) return std::optional<std::uint64_t>();
    Result<std::uint16_t> offset = reader_.Le<std::uint16_t>(table.vtable + entry);
    if (!offset) return offset.error();
    if (*offset == 0) return std::optional<std::uint64_t>();
    if (*offset < 4 || *offset + width > table.table_bytes) {
      return Bad(fmt::format(
          "{}: field {} at offset {} of its table ({} bytes) does not fit the {}-byte table",
          Describe(table.place), slot, *offset, width, table.table_bytes));
    }
    return std::optional<std::uint64_t>(table.position + *offset);
  }

  // The field of `slot` as a T, or 0 (every default read here) when the table lacks it.
  template <class T>
  Result<T> Scalar(const Table& table, int slot) {
    Result<std::optional<std::uint64_t>> position = FieldPosition(table, slot, sizeof(T));
    if (!position) return position.error();
    if (!*position) return T{0};
    return reader_.Le<T>(**position);
  }

  // Follows the uoffset at `position` to an object that needs at least 4 bytes.
  Result<std::uint64_t> Follow(std::uint64_t position, const Place& place, std::string_view what) {
    Result<std::uint32_t> offset = reader_.Le<std::uint32_t>(position);
    if (!offset) return offset.error();
    const std::uint64_t target = position + *offset;
    if (target > size_ - 4) {
      return Bad(
          fmt::format("{}: {} at byte {} points to byte {}, past the end of the {}-byte file",
                      Describe(place), what, position, target, size_));
    }
    return target;
  }

  // The vector in the field of `slot`; empty when the table lacks it. Its elements, of
  // `element_bytes` each, are checked to lie inside the file.
  Result<Vector> ReadVector(const Table& table, int slot, std::uint64_t element_bytes,
                            std::string_view what) {
    Result<std::optional<std::uint64_t>> field = FieldPosition(table, slot, 4);
    if (!field) return field.error();
    if (!*field) return Vector{};
    Result<std::uint64_t> target = Follow(**field, table.place, what);
    if (!target) return target.error();
    Result<std::uint32_t> length = reader_.Le<std::uint32_t>(*target);
    if (!length) return length.error();
    const std::uint64_t room = size_ - *target - 4;
    if (*length > room / element_bytes) {
      return Bad(fmt::format(
          "{}: {} at byte {} claims {} elements of {} bytes but only {} bytes follow in the file",
          Describe(table.place), what, *target, *length, element_bytes, room));
    }
    return Vector{.length_position = *target, .first = *target + 4, .length = *length};
  }

  // A vector of tables, counted against kMaxTables.
  Result<Vector> ReadTables(const Table& table, int slot, std::string_view what) {
    Result<Vector> tables = ReadVector(table, slot, 4, what);
    if (!tables) return tables;
    tables_ += tables->length;
    if (tables_ > kMaxTables) {
      return Bad(fmt::format(
          "{}: {} takes the model past {} tables (buffers, subgraphs, tensors and metadata)",
          Describe(table.place), what, kMaxTables));
    }
    return tables;
  }

  Result<Table> Element(const Vector& tables, std::uint64_t index, Place place) {
    const std::uint64_t slot = tables.first + 4 * index;
    Result<std::uint64_t> target = Follow(slot, place, "its offset");
    if (!target) return target.error();
    return ReadTable(*target, place);
  }

  // The string in the field of `slot` (empty when absent), which must be UTF-8 and, with the
  // other names read, add up to no more than the file's size: a name can be shared by any
  // number of tables, and each copy costs its length.
  Result<std::string> ReadName(const Table& table, int slot) {
    Result<std::optional<std::uint64_t>> field = FieldPosition(table, slot, 4);
    if (!field) return field.error();
    if (!*field) return std::string();
    Result<std::uint64_t> target = Follow(**field, table.place, "its name");
    if (!target) return target.error();
    Result<std::uint32_t> length = reader_.Le<std::uint32_t>(*target);
    if (!length) return length.error();
    const std::uint64_t room = size_ - *target - 4;
    if (*length >= room) {
      return Bad(fmt::format(
          "{}: its name at byte {} claims {} bytes and a NUL but only {} bytes follow in the file",
          Describe(table.place), *target, *length, room));
    }
    name_bytes_ += *length;
    if (name_bytes_ > size_) {
      return Bad(fmt::format("{}: the names read add up to more than the {} bytes of the file",
                             Describe(table.place), size_));
    }
    std::string name(std::size_t{*length} + 1, '\0');
    if (Result<void> read = reader_.Read(*target + 4, std::as_writable_bytes(std::span(name)));
        !read) {
      return read.error();
    }
    if (name.back() != '\0') {
      return Bad(fmt::format("{}: its name at byte {} is not NUL-terminated", Describe(table.place),
                             *target));
    }
    name.pop_back();
    if (!IsValidUtf8(name)) {
      return Bad(fmt::format("{}: its name at byte {} is not valid UTF-8", Describe(table.place),
                             *target));
    }
    return name;
  }

  Result<ByteRange> ReadBuffer(const Table& buffer) {
    Result<std::uint64_t> offset = Scalar<std::uint64_t>(buffer, kBufferOffset);
    if (!offset) return offset.error();
    Result<std::uint64_t> size = Scalar<std::uint64_t>(buffer, kBufferSize);
    if (!size) return size.error();
    // offset 0 and 1 (the converter's placeholder) mean the data is inside, as the runtime reads.
    if (*offset > 1) {
      const std::optional<std::uint64_t> end = CheckedAdd(*offset, *size);
      if (!end || *end > size_) {
        return Bad(fmt::format("{}: {} bytes at byte {} run past the end of the {}-byte file",
                               Describe(buffer.place), *size, *offset, size_));
      }
      return ByteRange{.offset = *offset, .size = *size};
    }
    Result<Vector> data = ReadVector(buffer, kBufferData, 1, "its data");
    if (!data) return data.error();
    return ByteRange{.offset = data->first, .size = data->length};
  }

  // Reads every buffer but the sentinel, 0, which the runtime never reads, then makes one entry
  // per distinct non-empty byte range: identical ranges (the converter stores equal constants
  // once) share an entry, overlapping ones are an error.
  Result<void> ReadBuffers(const Table& model) {
    Result<Vector> buffers = ReadTables(model, kModelBuffers, "buffers");
    if (!buffers) return buffers.error();
    buffer_count_ = buffers->length;
    std::vector<ByteRange> ranges(buffer_count_);
    std::vector<std::uint32_t> order;
    for (std::uint64_t i = 1; i < buffer_count_; ++i) {
      Result<Table> buffer = Element(*buffers, i, Place{.kind = "buffer", .index = i});
      if (!buffer) return buffer.error();
      Result<ByteRange> range = ReadBuffer(*buffer);
      if (!range) return range.error();
      ranges[i] = *range;
      if (range->size > 0) order.push_back(static_cast<std::uint32_t>(i));
    }
    std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
      const ByteRange& x = ranges[a];
      const ByteRange& y = ranges[b];
      return x.offset != y.offset ? x.offset < y.offset
             : x.size != y.size   ? x.size < y.size
                                  : a < b;
    });
    entry_of_buffer_.assign(buffer_count_, kNoEntry);
    std::uint32_t furthest = kNoEntry;  // the entry reaching furthest so far
    for (const std::uint32_t b : order) {
      const ByteRange& range = ranges[b];
      if (!entries_.empty() && entries_.back().offset == range.offset &&
          entries_.back().size == range.size) {
        entry_of_buffer_[b] = static_cast<std::uint32_t>(entries_.size() - 1);
        continue;
      }
      if (furthest != kNoEntry &&
          range.offset < entries_[furthest].offset + entries_[furthest].size) {
        const TensorEntry& other = entries_[furthest];
        return Bad(fmt::format(
            "buffers {} ({} bytes at byte {}) and {} ({} bytes at byte {}) overlap",
            entry_buffers_[furthest], other.size, other.offset, b, range.size, range.offset));
      }
      entry_of_buffer_[b] = static_cast<std::uint32_t>(entries_.size());
      if (furthest == kNoEntry ||
          range.offset + range.size > entries_[furthest].offset + entries_[furthest].size) {
        furthest = static_cast<std::uint32_t>(entries_.size());
      }
      TensorEntry entry;
      entry.offset = range.offset;
      entry.size = range.size;
      entries_.push_back(std::move(entry));
      entry_buffers_.push_back(b);
    }
    named_.assign(entries_.size(), false);
    return {};
  }

  // The entry of buffer `index` that still needs a name, or kNoEntry.
  Result<std::uint32_t> UnnamedEntry(const Table& table, std::uint32_t index) {
    if (index >= buffer_count_) {
      return Bad(fmt::format("{} refers to buffer {} but the model has {} buffers",
                             Describe(table.place), index, buffer_count_));
    }
    const std::uint32_t entry = entry_of_buffer_[index];
    if (index == 0 || entry == kNoEntry || named_[entry]) return kNoEntry;
    return entry;
  }

  Result<std::vector<std::uint64_t>> ReadShape(const Table& tensor, std::string_view name) {
    Result<Vector> dims = ReadVector(tensor, kTensorShape, 4, "its shape");
    if (!dims) return dims.error();
    if (dims->length > kMaxRank) {
      return Bad(fmt::format("tensor \"{}\": its shape has {} dimensions, more than {}", name,
                             dims->length, kMaxRank));
    }
    std::vector<std::uint64_t> shape;
    for (std::uint64_t d = 0; d < dims->length; ++d) {
      Result<std::uint32_t> dim = reader_.Le<std::uint32_t>(dims->first + 4 * d);
      if (!dim) return dim.error();
      if (static_cast<std::int32_t>(*dim) < 0) {
        return Bad(fmt::format("tensor \"{}\": dimension {} of its shape is {}", name, d,
                               static_cast<std::int32_t>(*dim)));
      }
      shape.push_back(*dim);
    }
    return shape;
  }

  // Names each entry after the first tensor, in subgraph order, that refers to one of its buffers.
  Result<void> NameFromTensors(const Table& model) {
    Result<Vector> subgraphs = ReadTables(model, kModelSubgraphs, "subgraphs");
    if (!subgraphs) return subgraphs.error();
    for (std::uint64_t s = 0; s < subgraphs->length; ++s) {
      Result<Table> subgraph = Element(*subgraphs, s, Place{.kind = "subgraph", .index = s});
      if (!subgraph) return subgraph.error();
      Result<Vector> tensors = ReadTables(*subgraph, kSubgraphTensors, "its tensors");
      if (!tensors) return tensors.error();
      for (std::uint64_t t = 0; t < tensors->length; ++t) {
        Result<Table> tensor =
            Element(*tensors, t, Place{.kind = "tensor", .index = t, .subgraph = s});
        if (!tensor) return tensor.error();
        Result<std::uint32_t> buffer = Scalar<std::uint32_t>(*tensor, kTensorBuffer);
        if (!buffer) return buffer.error();
        Result<std::uint32_t> entry = UnnamedEntry(*tensor, *buffer);
        if (!entry) return entry.error();
        if (*entry == kNoEntry) continue;
        Result<std::string> name = ReadName(*tensor, kTensorName);
        if (!name) return name.error();
        if (name->empty()) *name = fmt::format("buffer {}", entry_buffers_[*entry]);
        Result<std::uint8_t> type = Scalar<std::uint8_t>(*tensor, kTensorType);
        if (!type) return type.error();
        Result<std::vector<std::uint64_t>> shape = ReadShape(*tensor, *name);
        if (!shape) return shape.error();
        TensorEntry& named = entries_[*entry];
        named.name = std::move(*name);
        named.dtype = TensorTypeName(*type);
        named.shape = std::move(*shape);
        named_[*entry] = true;
      }
    }
    return {};
  }

  // Names what no tensor refers to (min_runtime_version, TFLITE_METADATA, ...) after the metadata
  // entry that points at it.
  Result<void> NameFromMetadata(const Table& model) {
    Result<Vector> metadata = ReadTables(model, kModelMetadata, "metadata");
    if (!metadata) return metadata.error();
    for (std::uint64_t m = 0; m < metadata->length; ++m) {
      Result<Table> entry = Element(*metadata, m, Place{.kind = "metadata entry", .index = m});
      if (!entry) return entry.error();
      Result<std::uint32_t> buffer = Scalar<std::uint32_t>(*entry, kMetadataBuffer);
      if (!buffer) return buffer.error();
      Result<std::uint32_t> unnamed = UnnamedEntry(*entry, *buffer);
      if (!unnamed) return unnamed.error();
      if (*unnamed == kNoEntry) continue;
      Result<std::string> name = ReadName(*entry, kMetadataName);
      if (!name) return name.error();
      if (name->empty()) continue;
      TensorEntry& named = entries_[*unnamed];
      named.name = std::move(*name);
      named.dtype = "U8";
      named.shape = {named.size};
      named_[*unnamed] = true;
    }
    return {};
  }

  std::uint64_t size_;
  PagedReader reader_;
  std::uint64_t tables_ = 0;      // tables in the vectors read so far
  std::uint64_t name_bytes_ = 0;  // bytes of the names read so far
  std::uint64_t buffer_count_ = 0;
  std::vector<TensorEntry> entries_;            // sorted by offset, not overlapping
  std::vector<std::uint32_t> entry_buffers_;    // per entry: its lowest buffer index
  std::vector<bool> named_;                     // per entry
  std::vector<std::uint32_t> entry_of_buffer_;  // per buffer: its entry, or kNoEntry when empty
};

}  // namespace

Result<std::vector<TensorEntry>> ParseTflite(const ByteSource& file) {
  Result<std::vector<TensorEntry>> tensors = TfliteParser(file).Parse();
  if (!tensors && tensors.error().code == Errc::kBadModelFile) {
    return Bad(fmt::format("{} (TFLite): {}", file.name(), tensors.error().message));
  }
  return tensors;
}

}  // namespace mei
