#include "origin/internal/tensor_maps.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

#include "common/byte_source.h"
#include "common/formats/onnx.h"
#include "common/formats/tfjs.h"
#include "common/manifest.h"

namespace mei::origin {
namespace {

namespace fs = std::filesystem;

// The folder part of a manifest path, with its trailing '/' ("" at the top).
std::string_view FolderOf(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash + 1);
}

// `relative` (a path the giver names, relative to its folder) as a manifest path, or nullopt
// when it leaves the folder tree or is no valid path.
std::optional<std::string> Resolve(std::string_view giver, std::string_view relative) {
  while (relative.starts_with("./")) relative.remove_prefix(2);
  std::string path = std::string(FolderOf(giver)) + std::string(relative);
  if (!ValidateFilePath(path)) return std::nullopt;
  return path;
}

// Whether `json` has the look of a TF.js weights manifest: the key "weightsManifest" (model.json)
// or both "paths" and "weights" (a weights manifest file of its own).
bool NamesWeights(const ByteSource& json) {
  std::string text(json.size(), '\0');
  if (!json.ReadAt(0, std::as_writable_bytes(std::span(text)))) return false;
  return text.find("\"weightsManifest\"") != std::string::npos ||
         (text.find("\"paths\"") != std::string::npos &&
          text.find("\"weights\"") != std::string::npos);
}

// The converter's default shard size (tensorflowjs_converter --weight_shard_size_bytes).
constexpr std::uint64_t kTfjsConverterShardBytes = 4ull << 20;

// The weights of `shard`, each cut where its group's joined bytes reach a multiple of the
// converter's shard size, as separate pieces of one name: a model sharded at 4 MiB and the same
// weights in one file (or sharded otherwise) then cut a weight that crosses a 4 MiB step into the
// same blocks.
std::vector<TensorEntry> AtConverterSteps(TfjsShard& shard) {
  std::vector<TensorEntry> pieces;
  for (TensorEntry& tensor : shard.tensors) {
    std::uint64_t at = tensor.offset;
    const std::uint64_t end = tensor.offset + tensor.size;
    while (true) {
      const std::uint64_t in_group = shard.group_offset + at;
      const std::uint64_t step =
          (in_group / kTfjsConverterShardBytes + 1) * kTfjsConverterShardBytes;
      const std::uint64_t cut = std::min(end, step - shard.group_offset);
      if (cut >= end) break;
      TensorEntry piece = tensor;
      piece.offset = at;
      piece.size = cut - at;
      pieces.push_back(std::move(piece));
      at = cut;
    }
    tensor.size = end - at;
    tensor.offset = at;
    pieces.push_back(std::move(tensor));
  }
  return pieces;
}

class Maps {
 public:
  Maps(const std::vector<InputFile>& files, std::vector<std::string>& notes)
      : files_(files), notes_(notes) {}

  void ReadGiver(const InputFile& file) {
    if (file.path.ends_with(".json")) {
      ReadTfjs(file);
    } else if (file.path.ends_with(".onnx")) {
      ReadOnnx(file);
    }
  }

  std::map<std::string, BorrowedMap> Take() { return std::move(maps_); }

 private:
  // A .json file is read as a TF.js model (or weights manifest) when it names a weights manifest
  // (config.json and tokenizer.json do not; reading them costs one look for the word).
  void ReadTfjs(const InputFile& file) {
    auto source = FileByteSource::Open(file.source);
    if (!source || source->size() > kMaxTfjsModelJsonBytes || !NamesWeights(*source)) return;
    auto shards = ParseTfjsWeights(*source, [&](std::string_view shard) {
      std::optional<std::uint64_t> size;
      if (auto path = Resolve(file.path, shard)) size = SizeOf(*path);
      return size;
    });
    if (!shards) {
      notes_.push_back(
          fmt::format("{} maps no tensors onto its shards: {}", file.path, shards.error().message));
      return;
    }
    for (TfjsShard& shard : *shards) {
      if (auto path = Resolve(file.path, shard.path)) {
        Add(*path, BorrowedMap{FileFormat::kTfjs, file.path, AtConverterSteps(shard)});
      }
    }
  }

  void ReadOnnx(const InputFile& file) {
    auto source = FileByteSource::Open(file.source);
    if (!source) return;
    auto model = ParseOnnx(*source);
    if (!model) return;
    std::map<std::string, BorrowedMap> by_file;
    for (OnnxExternalTensor& external : model->external) {
      // Without a length, the tensor's extent would have to come from its dtype and shape: such
      // data is left to the bytes around it.
      if (!external.length) continue;
      auto path = Resolve(file.path, external.location);
      if (!path || !SizeOf(*path)) continue;
      BorrowedMap& map = by_file[*path];
      map.format = FileFormat::kOnnx;
      map.from = file.path;
      map.tensors.push_back(TensorEntry{std::move(external.name), std::move(external.dtype),
                                        std::move(external.shape), external.offset,
                                        *external.length, 0, 0});
    }
    for (auto& [path, map] : by_file) Add(path, std::move(map));
  }

  std::optional<std::uint64_t> SizeOf(const std::string& path) const {
    for (const InputFile& file : files_) {
      if (file.path != path) continue;
      std::error_code error;
      const std::uint64_t size = fs::file_size(file.source, error);
      if (error) return std::nullopt;
      return size;
    }
    return std::nullopt;
  }

  void Add(const std::string& path, BorrowedMap map) {
    if (auto [it, added] = maps_.try_emplace(path, std::move(map)); !added) {
      notes_.push_back(fmt::format("{} is cut along the tensors {} names; {} names it too", path,
                                   it->second.from, map.from));
    }
  }

  const std::vector<InputFile>& files_;
  std::vector<std::string>& notes_;
  std::map<std::string, BorrowedMap> maps_;
};

}  // namespace

std::map<std::string, BorrowedMap> ReadTensorMaps(const std::vector<InputFile>& files,
                                                  std::vector<std::string>& notes) {
  Maps maps(files, notes);
  for (const InputFile& file : files) maps.ReadGiver(file);
  return maps.Take();
}

}  // namespace mei::origin
