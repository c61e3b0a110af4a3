#include "common/formats/tfjs.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/internal/checked_math.h"
#include "common/manifest.h"

namespace mei {
namespace {

namespace json = boost::json;

// model.json nests its topology (Keras layer configs, GraphDef attributes) a dozen levels deep.
constexpr std::size_t kMaxJsonDepth = 64;
// TensorFlow's own limit on a tensor's rank (TensorShape::MaxDimensions).
constexpr std::size_t kMaxRank = 254;
// 256 GiB of the converter's 4 MiB shards. A piece of a weight copies its shape once per shard,
// so this and kMaxRank bound what a hostile model.json can make us allocate.
constexpr std::size_t kMaxShards = 65536;
// How much of a name or path an error message repeats.
constexpr std::size_t kMaxQuotedBytes = 200;

Error Bad(std::string message) {
  return Error{Errc::kBadModelFile, "TF.js model.json: " + std::move(message)};
}

std::string_view Quoted(std::string_view text) { return text.substr(0, kMaxQuotedBytes); }

std::string_view KindName(const json::value& value) {
  if (value.is_number()) return "number";
  const json::string_view name = json::to_string(value.kind());
  return {name.data(), name.size()};
}

// How a manifest dtype is stored: element bytes and the safetensors name of the stored type.
struct StoredType {
  std::string_view manifest_name;
  std::uint64_t bytes = 0;
  std::string_view name;
};

constexpr StoredType kWeightTypes[] = {
    {"float32", 4, "F32"}, {"int32", 4, "I32"}, {"bool", 1, "BOOL"}, {"complex64", 8, "C64"}};
constexpr StoredType kQuantizedTypes[] = {
    {"uint8", 1, "U8"}, {"uint16", 2, "U16"}, {"float16", 2, "F16"}};

const StoredType* FindType(std::span<const StoredType> types, std::string_view manifest_name) {
  for (const StoredType& type : types) {
    if (type.manifest_name == manifest_name) return &type;
  }
  return nullptr;
}

// A weight as the manifest lists it, with its byte length in the group.
struct Weight {
  std::string name;
  std::string dtype;  // the stored type's safetensors name
  std::vector<std::uint64_t> shape;
  std::uint64_t size = 0;
};

// Reads the fields of weightsManifest, one group at a time, and places each group's weights on
// its shards. `where` strings name the group and weight in messages.
class ManifestReader {
 public:
  explicit ManifestReader(const ShardSize& shard_size) : shard_size_(shard_size) {}

  Result<std::vector<TfjsShard>> Read(const json::value& root) {
    // A weights manifest file of its own (face-api's *-weights_manifest.json, tfjs-core's
    // loadWeights) is the array that model.json holds under "weightsManifest".
    const json::value* manifest = &root;
    if (!root.is_array()) {
      const json::object* model = root.if_object();
      if (model == nullptr) {
        return Bad(fmt::format("is a JSON {}, neither an object nor a weights manifest array",
                               KindName(root)));
      }
      manifest = model->if_contains("weightsManifest");
      if (manifest == nullptr) return Bad("has no \"weightsManifest\"");
    }
    const json::array* groups = manifest->if_array();
    if (groups == nullptr) {
      return Bad(fmt::format("weightsManifest is a JSON {}, not an array", KindName(*manifest)));
    }
    std::vector<TfjsShard> shards;
    for (std::size_t g = 0; g < groups->size(); ++g) {
      if (Result<void> group = ReadGroup(g, (*groups)[g], shards); !group) return group.error();
    }
    return shards;
  }

 private:
  Result<const json::array*> ArrayField(const json::object& object, std::string_view key,
                                        std::string_view where) const {
    const json::value* value = object.if_contains(key);
    if (value == nullptr) return Bad(fmt::format("{} has no \"{}\"", where, key));
    if (!value->is_array()) {
      return Bad(fmt::format("{}: {} is a JSON {}, not an array", where, key, KindName(*value)));
    }
    return &value->get_array();
  }

  // Reads each of `values` with `read` (given "<where> <noun> <i>" and the value) onto the end of
  // `out`, and returns the sum of their sizes.
  template <class Item, class Read>
  static Result<std::uint64_t> ReadEach(const json::array& values, std::string_view where,
                                        std::string_view noun, Read read, std::vector<Item>& out) {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < values.size(); ++i) {
      Result<Item> item = read(fmt::format("{} {} {}", where, noun, i), values[i]);
      if (!item) return item.error();
      const std::optional<std::uint64_t> sum = internal::CheckedAdd(total, item->size);
      if (!sum) {
        return Bad(fmt::format("the {}s of {} add up to more than 2^64 bytes", noun, where));
      }
      total = *sum;
      out.push_back(std::move(*item));
    }
    return total;
  }

  Result<void> ReadGroup(std::size_t index, const json::value& value,
                         std::vector<TfjsShard>& shards) {
    const std::string where = fmt::format("weightsManifest group {}", index);
    const json::object* group = value.if_object();
    if (group == nullptr) {
      return Bad(fmt::format("{} is a JSON {}, not an object", where, KindName(value)));
    }
    Result<const json::array*> paths = ArrayField(*group, "paths", where);
    if (!paths) return paths.error();
    Result<const json::array*> weights = ArrayField(*group, "weights", where);
    if (!weights) return weights.error();

    std::vector<Weight> group_weights;
    group_weights.reserve((*weights)->size());
    Result<std::uint64_t> weight_bytes = ReadEach(
        **weights, where, "weight",
        [&](const std::string& at, const json::value& v) { return ReadWeight(at, v); },
        group_weights);
    if (!weight_bytes) return weight_bytes.error();

    const std::size_t first_shard = shards.size();
    Result<std::uint64_t> shard_bytes = ReadEach(
        **paths, where, "shard",
        [&](const std::string& at, const json::value& v) { return ReadShard(at, v); }, shards);
    if (!shard_bytes) return shard_bytes.error();
    if (*weight_bytes != *shard_bytes) {
      return Bad(fmt::format("the {} weights of {} take {} bytes but its {} shards hold {} bytes",
                             group_weights.size(), where, *weight_bytes, (*paths)->size(),
                             *shard_bytes));
    }
    std::uint64_t group_offset = 0;
    for (std::size_t i = first_shard; i < shards.size(); ++i) {
      shards[i].group_offset = group_offset;
      group_offset += shards[i].size;
    }
    PlaceWeights(group_weights, std::span(shards).subspan(first_shard));
    return {};
  }

  Result<Weight> ReadWeight(const std::string& where, const json::value& value) {
    const json::object* entry = value.if_object();
    if (entry == nullptr) {
      return Bad(fmt::format("{} is a JSON {}, not an object", where, KindName(value)));
    }
    const json::value* name = entry->if_contains("name");
    if (name == nullptr || !name->is_string() || name->get_string().empty()) {
      return Bad(fmt::format("{} has no \"name\" that is a non-empty string", where));
    }
    Weight weight;
    weight.name = std::string(name->get_string());
    if (!names_.insert(weight.name).second) {
      return Bad(
          fmt::format("{} is named \"{}\", as an earlier weight is", where, Quoted(weight.name)));
    }
    const std::string named = fmt::format("{} (\"{}\")", where, Quoted(weight.name));
    Result<const StoredType*> type = ReadDtype(named, *entry);
    if (!type) return type.error();
    weight.dtype = std::string((*type)->name);
    Result<std::vector<std::uint64_t>> shape = ReadShape(named, *entry);
    if (!shape) return shape.error();
    weight.shape = std::move(*shape);

    const std::optional<std::uint64_t> elements = internal::CheckedProduct(weight.shape);
    const std::optional<std::uint64_t> size =
        elements ? internal::CheckedMul(*elements, (*type)->bytes) : std::nullopt;
    if (!size) {
      return Bad(fmt::format("{} of shape [{}] in {}-byte elements takes more than 2^64 bytes",
                             named, fmt::join(weight.shape, ", "), (*type)->bytes));
    }
    weight.size = *size;
    return weight;
  }

  // The stored type: the quantization's when there is one, else the weight's dtype.
  Result<const StoredType*> ReadDtype(const std::string& where, const json::object& entry) const {
    const json::value* dtype_value = entry.if_contains("dtype");
    if (dtype_value == nullptr || !dtype_value->is_string()) {
      return Bad(fmt::format("{} has no \"dtype\" that is a string", where));
    }
    const std::string_view dtype = dtype_value->get_string();
    if (dtype == "string") {
      return Bad(fmt::format(
          "{} is a string tensor, whose length only its shard records, so its group cannot be "
          "mapped",
          where));
    }
    const StoredType* type = FindType(kWeightTypes, dtype);
    if (type == nullptr) {
      return Bad(fmt::format("{} has unknown dtype \"{}\"", where, Quoted(dtype)));
    }
    const json::value* quantization = entry.if_contains("quantization");
    if (quantization == nullptr) return type;
    return ReadQuantization(where, dtype, *quantization);
  }

  // As tfjs-core's decodeWeight accepts them: uint8 and uint16 (with numbers min and scale) for
  // float32 and int32 weights, float16 for float32 weights.
  Result<const StoredType*> ReadQuantization(const std::string& where, std::string_view dtype,
                                             const json::value& value) const {
    const json::object* quantization = value.if_object();
    if (quantization == nullptr) {
      return Bad(
          fmt::format("{}: quantization is a JSON {}, not an object", where, KindName(value)));
    }
    const json::value* dtype_value = quantization->if_contains("dtype");
    if (dtype_value == nullptr || !dtype_value->is_string()) {
      return Bad(fmt::format("{}: quantization has no \"dtype\" that is a string", where));
    }
    const std::string_view stored = dtype_value->get_string();
    const StoredType* type = FindType(kQuantizedTypes, stored);
    if (type == nullptr) {
      return Bad(fmt::format("{} has unknown quantization dtype \"{}\"", where, Quoted(stored)));
    }
    const bool affine = stored != "float16";
    if (dtype != "float32" && (dtype != "int32" || !affine)) {
      return Bad(fmt::format("{}: {} weights cannot be quantized as {}", where, dtype, stored));
    }
    for (const std::string_view key : {"min", "scale"}) {
      const json::value* number = quantization->if_contains(key);
      if (affine && (number == nullptr || !number->is_number())) {
        return Bad(
            fmt::format("{}: {} quantization has no \"{}\" that is a number", where, stored, key));
      }
    }
    return type;
  }

  Result<std::vector<std::uint64_t>> ReadShape(const std::string& where,
                                               const json::object& entry) const {
    const json::value* value = entry.if_contains("shape");
    if (value == nullptr || !value->is_array()) {
      return Bad(fmt::format("{} has no \"shape\" that is an array", where));
    }
    const json::array& dims = value->get_array();
    if (dims.size() > kMaxRank) {
      return Bad(fmt::format("{} has {} dimensions, more than {}", where, dims.size(), kMaxRank));
    }
    std::vector<std::uint64_t> shape;
    shape.reserve(dims.size());
    for (std::size_t i = 0; i < dims.size(); ++i) {
      if (dims[i].is_uint64()) {
        shape.push_back(dims[i].get_uint64());
      } else if (dims[i].is_int64() && dims[i].get_int64() >= 0) {
        shape.push_back(static_cast<std::uint64_t>(dims[i].get_int64()));
      } else {
        return Bad(fmt::format("{}: shape element {} is {}, not a non-negative integer", where, i,
                               json::serialize(dims[i])));
      }
    }
    return shape;
  }

  // A shard's path, with any leading "./" dropped (tfjs's browser downloads write
  // "./model.weights.bin"), and its size.
  Result<TfjsShard> ReadShard(const std::string& where, const json::value& value) {
    if (!value.is_string()) {
      return Bad(fmt::format("{} is a JSON {}, not a string", where, KindName(value)));
    }
    std::string_view path = value.get_string();
    while (path.starts_with("./")) path.remove_prefix(2);
    if (Result<void> valid = ValidateFilePath(path); !valid) {
      return Bad(fmt::format("{}: {}", where, valid.error().message));
    }
    if (shard_paths_.size() == kMaxShards) {
      return Bad(fmt::format("{}: the model lists more than {} shards", where, kMaxShards));
    }
    if (!shard_paths_.emplace(path).second) {
      return Bad(fmt::format("{} \"{}\" is listed twice", where, Quoted(path)));
    }
    const std::optional<std::uint64_t> size = shard_size_(path);
    if (!size) {
      return Bad(fmt::format("{} \"{}\" does not exist", where, Quoted(path)));
    }
    return TfjsShard{.path = std::string(path), .size = *size, .tensors = {}};
  }

  // Cuts each weight at the shard boundaries it crosses. A weight without bytes goes to the shard
  // where the next byte would be (the last shard when it ends the group; nowhere when the group
  // has no shard). REQUIRES: the weights' sizes add up to the shards'.
  static void PlaceWeights(std::span<const Weight> weights, std::span<TfjsShard> shards) {
    std::size_t shard = 0;
    std::uint64_t shard_start = 0;  // of `shard`, in the group
    std::uint64_t offset = 0;       // of the current weight, in the group
    for (const Weight& weight : weights) {
      const std::uint64_t end = offset + weight.size;
      std::uint64_t at = offset;
      do {
        while (shard + 1 < shards.size() && shard_start + shards[shard].size <= at) {
          shard_start += shards[shard].size;
          ++shard;
        }
        if (shard == shards.size()) break;
        const std::uint64_t piece_end = std::min(end, shard_start + shards[shard].size);
        TensorEntry& piece = shards[shard].tensors.emplace_back();
        piece.name = weight.name;
        piece.dtype = weight.dtype;
        piece.shape = weight.shape;
        piece.offset = at - shard_start;
        piece.size = piece_end - at;
        at = piece_end;
      } while (at < end);
      offset = end;
    }
  }

  const ShardSize& shard_size_;
  std::unordered_set<std::string> names_;
  std::unordered_set<std::string> shard_paths_;
};

}  // namespace

Result<std::vector<TfjsShard>> ParseTfjsWeights(const ByteSource& model_json,
                                                const ShardSize& shard_size) {
  if (model_json.size() > kMaxTfjsModelJsonBytes) {
    return Bad(fmt::format("{} is {} bytes, more than the {} accepted", model_json.name(),
                           model_json.size(), kMaxTfjsModelJsonBytes));
  }
  std::string text(static_cast<std::size_t>(model_json.size()), '\0');
  if (Result<void> read = model_json.ReadAt(0, std::as_writable_bytes(std::span(text))); !read) {
    return read.error();
  }
  json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  boost::system::error_code error;
  const json::value root = json::parse(text, error, {}, options);
  if (error) {
    return Bad(fmt::format("{} is not JSON (nested at most {} deep): {}", model_json.name(),
                           kMaxJsonDepth, error.message()));
  }
  return ManifestReader(shard_size).Read(root);
}

}  // namespace mei
