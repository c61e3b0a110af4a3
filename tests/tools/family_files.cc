#include "tests/tools/family_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>

#include "common/byte_source.h"
#include "common/formats/gguf.h"
#include "common/formats/numpy.h"
#include "common/formats/onnx.h"
#include "common/formats/safetensors.h"
#include "common/formats/tfjs.h"
#include "common/formats/tflite.h"
#include "common/formats/zip.h"
#include "common/formats/zip_layout.h"

namespace mei::tools {
namespace {

namespace fs = std::filesystem;

using StoredTensors = std::map<std::string, StoredTensor>;

std::optional<FileByteSource> Open(const fs::path& path) {
  Result<FileByteSource> file = FileByteSource::Open(path);
  if (!file) {
    ADD_FAILURE() << path << ": " << file.error().message;
    return std::nullopt;
  }
  return std::move(*file);
}

// Adds `entries` (offsets in `path`) to `tensors`, under the names `name_of` gives.
template <typename NameOf>
void AddEntries(const fs::path& path, const std::vector<TensorEntry>& entries, NameOf name_of,
                StoredTensors& tensors) {
  for (const TensorEntry& entry : entries) {
    const std::string name = name_of(entry.name);
    EXPECT_FALSE(tensors.contains(name)) << path << " lists " << name << " twice";
    tensors[name] = {entry.dtype, entry.shape, ReadRange(path, entry.offset, entry.size)};
  }
}

std::string SameName(const std::string& name) { return name; }

StoredTensors ReadSafetensors(const fs::path& path) {
  StoredTensors tensors;
  std::optional<FileByteSource> file = Open(path);
  if (!file) return tensors;
  Result<SafetensorsHeader> header = ParseSafetensors(*file);
  EXPECT_TRUE(header.has_value()) << path << ": " << header.error().message;
  if (header) AddEntries(path, header->tensors, SameName, tensors);
  return tensors;
}

StoredTensors ReadGguf(const fs::path& path, const std::vector<std::string>& tensor_order) {
  StoredTensors tensors;
  std::optional<FileByteSource> file = Open(path);
  if (!file) return tensors;
  Result<GgufFile> gguf = ParseGguf(*file);
  EXPECT_TRUE(gguf.has_value()) << path << ": " << gguf.error().message;
  if (!gguf) return tensors;
  std::map<std::string, std::string> hf_names;
  for (const std::string& name : tensor_order) hf_names[GgufName(name)] = name;
  AddEntries(
      path, gguf->tensors,
      [&](const std::string& name) {
        const auto it = hf_names.find(name);
        return it == hf_names.end() ? name : it->second;
      },
      tensors);
  return tensors;
}

StoredTensors ReadOnnx(const fs::path& path) {
  StoredTensors tensors;
  std::optional<FileByteSource> file = Open(path);
  if (!file) return tensors;
  Result<OnnxModel> model = ParseOnnx(*file);
  EXPECT_TRUE(model.has_value()) << path << ": " << model.error().message;
  if (!model) return tensors;
  EXPECT_TRUE(model->external.empty()) << path;
  AddEntries(path, model->tensors, SameName, tensors);
  return tensors;
}

StoredTensors ReadTflite(const fs::path& path, const std::vector<std::string>& tensor_order) {
  StoredTensors tensors;
  std::optional<FileByteSource> file = Open(path);
  if (!file) return tensors;
  Result<std::vector<TensorEntry>> entries = ParseTflite(*file);
  EXPECT_TRUE(entries.has_value()) << path << ": " << entries.error().message;
  if (!entries) return tensors;
  std::erase_if(*entries, [&](const TensorEntry& entry) {
    return std::find(tensor_order.begin(), tensor_order.end(), entry.name) == tensor_order.end() &&
           entry.dtype == "U8";  // a metadata buffer ("min_runtime_version")
  });
  AddEntries(path, *entries, SameName, tensors);
  return tensors;
}

StoredTensors ReadPytorch(const fs::path& path, const std::vector<std::string>& tensor_order) {
  StoredTensors tensors;
  std::optional<FileByteSource> file = Open(path);
  if (!file) return tensors;
  Result<FileLayout> layout = PytorchLayout(*file);
  EXPECT_TRUE(layout.has_value()) << path << ": " << layout.error().message;
  if (!layout) return tensors;
  const std::string storages = path.stem().string() + "/data/";
  AddEntries(
      path, layout->tensors,
      [&](const std::string& member) {
        EXPECT_TRUE(member.starts_with(storages)) << member;
        const std::size_t key = std::stoul(member.substr(storages.size()));
        EXPECT_LT(key, tensor_order.size()) << member;
        return key < tensor_order.size() ? tensor_order[key] : member;
      },
      tensors);
  return tensors;
}

StoredTensors ReadNpz(const fs::path& path) {
  StoredTensors tensors;
  std::optional<FileByteSource> file = Open(path);
  if (!file) return tensors;
  Result<ZipArchive> archive = ParseZip(*file);
  EXPECT_TRUE(archive.has_value()) << path << ": " << archive.error().message;
  if (!archive) return tensors;
  for (const ZipMember& member : archive->members) {
    EXPECT_TRUE(IsStored(member)) << member.name;
    EXPECT_TRUE(member.name.ends_with(".npy")) << member.name;
    const SliceByteSource slice(*file, member.data_offset, member.compressed_size, member.name);
    Result<NpyArray> array = ParseNpy(slice);
    EXPECT_TRUE(array.has_value()) << member.name << ": " << array.error().message;
    if (!array) continue;
    const std::string name = member.name.substr(0, member.name.size() - 4);
    tensors[name] = {array->tensor.dtype, array->tensor.shape,
                     ReadRange(path, member.data_offset + array->data_start, array->tensor.size)};
  }
  return tensors;
}

StoredTensors ReadTfjs(const fs::path& folder) {
  StoredTensors tensors;
  std::optional<FileByteSource> model_json = Open(folder / "model.json");
  if (!model_json) return tensors;
  Result<std::vector<TfjsShard>> shards =
      ParseTfjsWeights(*model_json, [&](std::string_view shard) -> std::optional<std::uint64_t> {
        std::error_code error;
        const std::uintmax_t size = fs::file_size(folder / shard, error);
        if (error) return std::nullopt;
        return size;
      });
  EXPECT_TRUE(shards.has_value()) << folder << ": " << shards.error().message;
  if (!shards) return tensors;
  for (const TfjsShard& shard : *shards) {
    for (const TensorEntry& piece : shard.tensors) {
      StoredTensor& tensor = tensors[piece.name];
      tensor.dtype = piece.dtype;
      tensor.shape = piece.shape;
      const std::vector<std::byte> bytes = ReadRange(folder / shard.path, piece.offset, piece.size);
      tensor.bytes.insert(tensor.bytes.end(), bytes.begin(), bytes.end());
    }
  }
  return tensors;
}

}  // namespace

fs::path MakeTempDir() {
  std::string pattern = (fs::temp_directory_path() / "mei-synth-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed: " << std::strerror(errno);
  }
  return pattern;
}

std::vector<std::byte> ReadRange(const fs::path& path, std::uint64_t offset, std::uint64_t size) {
  Result<FileByteSource> file = FileByteSource::Open(path);
  EXPECT_TRUE(file.has_value()) << path;
  std::vector<std::byte> bytes(size);
  if (file) {
    EXPECT_TRUE(file->ReadAt(offset, bytes).has_value());
  }
  return bytes;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

std::string GgufName(const std::string& hf_name) {
  static const std::map<std::string, std::string> kTopLevel = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"}};
  static const std::map<std::string, std::string> kPerLayer = {
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
      {"input_layernorm.weight", "attn_norm.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"}};
  if (const auto it = kTopLevel.find(hf_name); it != kTopLevel.end()) return it->second;
  const std::string rest = hf_name.substr(std::string("model.layers.").size());
  const std::size_t dot = rest.find('.');
  return "blk." + rest.substr(0, dot) + "." + kPerLayer.at(rest.substr(dot + 1));
}

StoredTensors ReadStoredTensors(const fs::path& folder,
                                const std::vector<std::string>& tensor_order) {
  if (fs::exists(folder / "model.safetensors"))
    return ReadSafetensors(folder / "model.safetensors");
  if (fs::exists(folder / "model.gguf")) return ReadGguf(folder / "model.gguf", tensor_order);
  if (fs::exists(folder / "model.onnx")) return ReadOnnx(folder / "model.onnx");
  if (fs::exists(folder / "model.tflite")) return ReadTflite(folder / "model.tflite", tensor_order);
  if (fs::exists(folder / "pytorch_model.bin")) {
    return ReadPytorch(folder / "pytorch_model.bin", tensor_order);
  }
  if (fs::exists(folder / "model.npz")) return ReadNpz(folder / "model.npz");
  if (fs::exists(folder / "model.json")) return ReadTfjs(folder);
  ADD_FAILURE() << folder << " holds no weights file";
  return {};
}

std::set<std::string> NamesWithSameBytes(const StoredTensors& variant, const StoredTensors& base) {
  std::set<std::string> names;
  for (const auto& [name, tensor] : variant) {
    const auto it = base.find(name);
    if (it != base.end() && it->second.bytes == tensor.bytes) names.insert(name);
  }
  return names;
}

}  // namespace mei::tools
