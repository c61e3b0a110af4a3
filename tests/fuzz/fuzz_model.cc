#include "tests/fuzz/fuzz_model.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>
#include <unordered_set>

#include "common/byte_source.h"
#include "common/chunker.h"
#include "common/codec.h"
#include "common/digest.h"
#include "common/formats/gguf.h"

namespace mei::fuzz {
namespace {

void AppendLe(Bytes& out, std::uint64_t value, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) out.push_back(static_cast<std::byte>(value >> (8 * i)));
}

void AppendText(Bytes& out, std::string_view text) {
  for (const char c : text) out.push_back(static_cast<std::byte>(c));
}

Bytes TextBytes(std::string_view text) {
  Bytes bytes;
  AppendText(bytes, text);
  return bytes;
}

// A deterministic stream of pseudo-random bytes (a 64-bit LCG's high bytes).
class Noise {
 public:
  std::uint8_t Next() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint8_t>(state_ >> 56);
  }

 private:
  std::uint64_t state_ = 0x243f6a8885a308d3ULL;
};

// Weights with few distinct exponents, as trained weights have: bg2/bg4+zstd compress them.
float Weight(std::size_t i) {
  return 0.01f * static_cast<float>(static_cast<int>(i * 37 % 101) - 50);
}

Bytes SafetensorsFile() {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},)"
      R"("embed.weight":{"dtype":"BF16","shape":[32,16],"data_offsets":[0,1024]},)"
      R"("layers.0.wq":{"dtype":"F32","shape":[16,16],"data_offsets":[1024,2048]},)"
      R"("norm":{"dtype":"F16","shape":[256],"data_offsets":[2048,2560]}})";
  Bytes bytes;
  AppendLe(bytes, header.size(), 8);
  AppendText(bytes, header);
  for (std::size_t i = 0; i < 512; ++i) {
    AppendLe(bytes, std::bit_cast<std::uint32_t>(Weight(i)) >> 16, 2);  // BF16: the high half
  }
  for (std::size_t i = 0; i < 256; ++i) {
    AppendLe(bytes, std::bit_cast<std::uint32_t>(Weight(i * 7 + 3)), 4);
  }
  Noise noise;  // incompressible: stored raw
  for (std::size_t i = 0; i < 512; ++i) bytes.push_back(static_cast<std::byte>(noise.Next()));
  return bytes;
}

void AppendGgufString(Bytes& out, std::string_view text) {
  AppendLe(out, text.size(), 8);
  AppendText(out, text);
}

void AppendGgufKey(Bytes& out, std::string_view key, GgufType type) {
  AppendGgufString(out, key);
  AppendLe(out, static_cast<std::uint32_t>(type), 4);
}

Bytes GgufFile() {
  constexpr std::uint32_t kGgmlF32 = 0;
  constexpr std::uint32_t kGgmlQ4_0 = 2;
  Bytes bytes;
  AppendText(bytes, "GGUF");
  AppendLe(bytes, 3, 4);  // version
  AppendLe(bytes, 2, 8);  // tensors
  AppendLe(bytes, 5, 8);  // metadata
  AppendGgufKey(bytes, "general.architecture", GgufType::kString);
  AppendGgufString(bytes, "llama");
  AppendGgufKey(bytes, "general.alignment", GgufType::kUint32);
  AppendLe(bytes, 32, 4);
  AppendGgufKey(bytes, "llama.context_length", GgufType::kUint32);
  AppendLe(bytes, 64, 4);
  AppendGgufKey(bytes, "general.file_type", GgufType::kInt32);
  AppendLe(bytes, 2, 4);
  AppendGgufKey(bytes, "tokenizer.ggml.tokens", GgufType::kArray);
  AppendLe(bytes, static_cast<std::uint32_t>(GgufType::kString), 4);
  AppendLe(bytes, 3, 8);
  for (const std::string_view token : {"<s>", "</s>", "a"}) AppendGgufString(bytes, token);
  // token_embd.weight: F32 [16, 8] = 512 bytes at 0; blk.0.attn_q.weight: Q4_0 [64, 2] = 4
  // blocks of 32 weights x 18 bytes = 72 bytes at 512.
  AppendGgufString(bytes, "token_embd.weight");
  AppendLe(bytes, 2, 4);
  AppendLe(bytes, 16, 8);
  AppendLe(bytes, 8, 8);
  AppendLe(bytes, kGgmlF32, 4);
  AppendLe(bytes, 0, 8);
  AppendGgufString(bytes, "blk.0.attn_q.weight");
  AppendLe(bytes, 2, 4);
  AppendLe(bytes, 64, 8);
  AppendLe(bytes, 2, 8);
  AppendLe(bytes, kGgmlQ4_0, 4);
  AppendLe(bytes, 512, 8);
  bytes.resize((bytes.size() + 31) / 32 * 32);
  for (std::size_t i = 0; i < 128; ++i) {
    AppendLe(bytes, std::bit_cast<std::uint32_t>(Weight(i)), 4);
  }
  Noise noise;
  for (std::size_t i = 0; i < 72; ++i) bytes.push_back(static_cast<std::byte>(noise.Next()));
  return bytes;
}

Bytes VocabFile() {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "token_" + std::to_string(i % 50) + "\n";
  return TextBytes(text);
}

}  // namespace

std::vector<ModelFile> FuzzModelFiles() {
  std::vector<ModelFile> files = {
      {"config.json", TextBytes(R"({"architectures":["LlamaForCausalLM"],"hidden_size":16,)"
                                R"("num_hidden_layers":1,"vocab_size":32})"
                                "\n")},
      {"model.gguf", GgufFile()},
      {"model.safetensors", SafetensorsFile()},
      {"tokenizer/vocab.txt", VocabFile()},
  };
  std::sort(files.begin(), files.end(),
            [](const ModelFile& a, const ModelFile& b) { return a.path < b.path; });
  return files;
}

EncodedModel EncodeFuzzModel() {
  EncodedModel model;
  Manifest& manifest = model.manifest;
  manifest.model = std::string(kFuzzModelName);
  manifest.revision = "main";
  manifest.created = "2026-01-01T00:00:00Z";
  ChunkOptions chunking;
  chunking.max_block = kFuzzMaxBlock;
  BlockEncoder encoder;
  std::unordered_set<BlockId> seen;
  for (const ModelFile& file : FuzzModelFiles()) {
    const MemoryByteSource source(file.bytes, file.path);
    const FileFormat format = FormatForPath(file.path);
    Result<ChunkPlan> plan = PlanChunks(source, format, chunking);
    if (!plan) throw std::runtime_error("fuzz model: " + plan.error().message);
    ManifestFile entry;
    entry.path = file.path;
    entry.size = file.bytes.size();
    entry.sha256 = Sha256Of(file.bytes);
    entry.format = std::string(NameOf(format));
    entry.tensors = plan->tensors;
    for (const BlockExtent& extent : plan->blocks) {
      const std::span<const std::byte> raw =
          std::span<const std::byte>(file.bytes).subspan(extent.offset, extent.size);
      const BlockId id = BlockIdOf(raw);
      entry.blocks.push_back({id, extent.offset, extent.size});
      if (!seen.insert(id).second) continue;
      Bytes frame;
      encoder.Encode(raw, extent.element_width, frame);
      model.frames.emplace_back(id, std::move(frame));
    }
    manifest.files.push_back(std::move(entry));
  }
  manifest.commit = CommitOf(manifest);
  if (auto valid = ValidateManifest(manifest); !valid) {
    throw std::runtime_error("fuzz model: " + valid.error().message);
  }
  return model;
}

}  // namespace mei::fuzz
