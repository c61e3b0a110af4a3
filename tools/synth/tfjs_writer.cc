#include "tools/synth/tfjs_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <boost/json.hpp>
#include <optional>
#include <utility>

#include "common/atomic_file.h"
#include "tools/synth/weights.h"

namespace mei::tools {
namespace {

namespace json = boost::json;

static_assert(std::endian::native == std::endian::little,
              "TF.js shards are little-endian and are written in host order");

constexpr std::uint64_t kChunkBytes = 4 << 20;

json::object ConstNode(const TensorSpec& tensor) {
  json::array dims;
  for (const std::uint64_t dim : tensor.shape)
    dims.push_back(json::object{{"size", std::to_string(dim)}});
  json::object shape;
  if (!dims.empty()) shape["dim"] = std::move(dims);
  return {{"name", tensor.name},
          {"op", "Const"},
          {"attr",
           {{"value", {{"tensor", {{"dtype", "DT_FLOAT"}, {"tensorShape", std::move(shape)}}}}},
            {"dtype", {{"type", "DT_FLOAT"}}}}}};
}

json::object ManifestEntry(const TensorSpec& tensor, StoredDtype stored) {
  json::array shape(tensor.shape.begin(), tensor.shape.end());
  json::object entry{{"name", tensor.name}, {"shape", std::move(shape)}, {"dtype", "float32"}};
  if (stored == StoredDtype::kF16) {
    entry["quantization"] = {{"dtype", "float16"}, {"original_dtype", "float32"}};
  }
  return entry;
}

// The bytes of one weight group, written across its shard files in order: a shard is committed
// when it is full, the next one opened on the next byte.
class ShardedGroupWriter {
 public:
  ShardedGroupWriter(std::filesystem::path dir, std::vector<std::string> names,
                     std::uint64_t shard_bytes)
      : dir_(std::move(dir)), names_(std::move(names)), shard_bytes_(shard_bytes) {}

  Result<void> Append(std::span<const std::byte> bytes) {
    while (!bytes.empty()) {
      if (!shard_) {
        Result<AtomicFile> created = AtomicFile::Create(dir_ / names_.at(next_shard_));
        if (!created) return created.error();
        shard_.emplace(std::move(*created));
      }
      const auto count = static_cast<std::size_t>(
          std::min<std::uint64_t>(bytes.size(), shard_bytes_ - shard_->size()));
      if (Result<void> appended = shard_->Append(bytes.first(count)); !appended) return appended;
      bytes = bytes.subspan(count);
      if (shard_->size() == shard_bytes_) {
        if (Result<void> committed = Commit(); !committed) return committed;
      }
    }
    return {};
  }

  // Commits the last, partly filled shard.
  Result<void> Finish() { return shard_ ? Commit() : Result<void>(); }

 private:
  Result<void> Commit() {
    Result<void> committed = shard_->Commit();
    shard_.reset();
    ++next_shard_;
    return committed;
  }

  std::filesystem::path dir_;
  std::vector<std::string> names_;
  std::uint64_t shard_bytes_;
  std::size_t next_shard_ = 0;
  std::optional<AtomicFile> shard_;
};

// Streams the elements of `tensor` into `group` a chunk at a time; each chunk starts at a
// multiple of four elements, as the fill functions require.
template <class Element>
Result<void> AppendTensor(const TensorSpec& tensor, ShardedGroupWriter& group,
                          void (*fill)(const WeightStream&, std::uint64_t, std::span<Element>)) {
  std::vector<Element> chunk(kChunkBytes / sizeof(Element));
  const std::uint64_t elements = tensor.Elements();
  for (std::uint64_t first = 0; first < elements; first += chunk.size()) {
    const std::span<Element> part(chunk.data(), static_cast<std::size_t>(std::min<std::uint64_t>(
                                                    chunk.size(), elements - first)));
    fill(tensor.stream, first, part);
    if (Result<void> appended = group.Append(std::as_bytes(part)); !appended) return appended;
  }
  return {};
}

}  // namespace

StoredDtype TfjsStoredDtype(StoredDtype dtype) {
  return dtype == StoredDtype::kBf16 ? StoredDtype::kF32 : dtype;
}

std::vector<std::string> TfjsShardNames(std::uint64_t group_bytes, std::uint64_t shard_bytes) {
  const std::uint64_t count = (group_bytes + shard_bytes - 1) / shard_bytes;
  std::vector<std::string> names;
  names.reserve(static_cast<std::size_t>(count));
  for (std::uint64_t i = 1; i <= count; ++i) {
    names.push_back(fmt::format("group1-shard{}of{}.bin", i, count));
  }
  return names;
}

std::uint64_t TfjsGroupBytes(std::span<const TensorSpec> tensors, StoredDtype dtype) {
  std::uint64_t bytes = 0;
  for (const TensorSpec& tensor : tensors) {
    bytes += tensor.Elements() * ElementBytes(TfjsStoredDtype(dtype));
  }
  return bytes;
}

std::string TfjsModelJson(std::span<const TensorSpec> tensors, StoredDtype dtype,
                          const TfjsWriteOptions& options) {
  const StoredDtype stored = TfjsStoredDtype(dtype);
  json::array nodes;
  json::array weights;
  for (const TensorSpec& tensor : tensors) {
    nodes.push_back(ConstNode(tensor));
    weights.push_back(ManifestEntry(tensor, stored));
  }
  json::array paths;
  for (std::string& name : TfjsShardNames(TfjsGroupBytes(tensors, dtype), options.shard_bytes)) {
    paths.push_back(json::string(std::move(name)));
  }
  const json::object model{
      {"format", "graph-model"},
      {"generatedBy", "2.15.0"},
      {"convertedBy", "mei-synth"},
      {"modelTopology",
       {{"node", std::move(nodes)},
        {"library", json::object()},
        {"versions", {{"producer", 1645}}}}},
      {"weightsManifest",
       json::array{json::object{{"paths", std::move(paths)}, {"weights", std::move(weights)}}}},
  };
  return json::serialize(model);
}

Result<std::vector<std::string>> WriteTfjsModel(const std::filesystem::path& dir,
                                                std::span<const TensorSpec> tensors,
                                                StoredDtype dtype,
                                                const TfjsWriteOptions& options) {
  std::vector<std::string> shard_names =
      TfjsShardNames(TfjsGroupBytes(tensors, dtype), options.shard_bytes);
  ShardedGroupWriter group(dir, shard_names, options.shard_bytes);
  const bool f16 = TfjsStoredDtype(dtype) == StoredDtype::kF16;
  for (const TensorSpec& tensor : tensors) {
    Result<void> appended = f16 ? AppendTensor<std::uint16_t>(tensor, group, &FillF16)
                                : AppendTensor<std::uint32_t>(tensor, group, &FillF32);
    if (!appended) return appended.error();
  }
  if (Result<void> finished = group.Finish(); !finished) return finished.error();
  if (Result<void> written =
          WriteFileAtomically(dir / "model.json", TfjsModelJson(tensors, dtype, options));
      !written) {
    return written.error();
  }
  std::vector<std::string> names{"model.json"};
  names.insert(names.end(), std::make_move_iterator(shard_names.begin()),
               std::make_move_iterator(shard_names.end()));
  return names;
}

}  // namespace mei::tools
