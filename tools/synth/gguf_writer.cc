#include "tools/synth/gguf_writer.h"

#include <bit>
#include <cstring>
#include <type_traits>

#include "common/formats/gguf.h"
#include "tools/synth/tensor_data.h"

namespace mei::tools {
namespace {

static_assert(std::endian::native == std::endian::little,
              "GGUF is little-endian and is written in host order");

constexpr std::uint32_t kGgufVersion = 3;
constexpr std::uint32_t kGgmlTypeBf16 = 30;
constexpr std::uint32_t kFileTypeMostlyBf16 = 32;

using ValueType = GgufType;

std::uint64_t AlignUp(std::uint64_t offset) {
  return (offset + kGgufAlignment - 1) / kGgufAlignment * kGgufAlignment;
}

std::uint64_t DataBytes(const TensorSpec& tensor) {
  return tensor.Elements() * ElementBytes(StoredDtype::kBf16);
}

// Serializes metadata and tensor infos in GGUF's encoding, counting what it adds.
class GgufHeaderBuilder {
 public:
  void AddString(std::string_view key, std::string_view value) {
    Key(key, ValueType::kString);
    String(value);
  }
  void AddUint32(std::string_view key, std::uint64_t value) {
    Key(key, ValueType::kUint32);
    Scalar(static_cast<std::uint32_t>(value));
  }
  void AddFloat32(std::string_view key, float value) {
    Key(key, ValueType::kFloat32);
    Scalar(value);
  }
  void AddStringArray(std::string_view key, std::span<const std::string> values) {
    ArrayHeader(key, ValueType::kString, values.size());
    for (const std::string& value : values) String(value);
  }
  template <class T>
  void AddArray(std::string_view key, ValueType type, std::span<const T> values) {
    ArrayHeader(key, type, values.size());
    for (const T value : values) Scalar(value);
  }
  void AddTensorInfo(const TensorSpec& tensor, std::uint64_t offset) {
    String(tensor.gguf_name);
    Scalar(static_cast<std::uint32_t>(tensor.shape.size()));
    for (auto dim = tensor.shape.rbegin(); dim != tensor.shape.rend(); ++dim) Scalar(*dim);
    Scalar(kGgmlTypeBf16);
    Scalar(offset);
    ++tensor_count_;
  }

  // The file's bytes before the data section.
  std::string Finish() const {
    std::string header = "GGUF";
    AppendScalar(header, kGgufVersion);
    AppendScalar(header, tensor_count_);
    AppendScalar(header, metadata_count_);
    header += body_;
    header.append(AlignUp(header.size()) - header.size(), '\0');
    return header;
  }

 private:
  template <class T>
  static void AppendScalar(std::string& out, T value) {
    static_assert(std::is_arithmetic_v<T>);
    char bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T));
    out.append(bytes, sizeof(T));
  }
  template <class T>
  void Scalar(T value) {
    AppendScalar(body_, value);
  }
  void String(std::string_view text) {
    Scalar(static_cast<std::uint64_t>(text.size()));
    body_ += text;
  }
  void Key(std::string_view key, ValueType type) {
    String(key);
    Scalar(static_cast<std::uint32_t>(type));
    ++metadata_count_;
  }
  void ArrayHeader(std::string_view key, ValueType element_type, std::uint64_t count) {
    Key(key, ValueType::kArray);
    Scalar(static_cast<std::uint32_t>(element_type));
    Scalar(count);
  }

  std::string body_;
  std::uint64_t tensor_count_ = 0;
  std::uint64_t metadata_count_ = 0;
};

}  // namespace

std::string LlamaGgufHeader(std::string_view model_name, const LlamaDims& dims, const Vocab& vocab,
                            std::span<const TensorSpec> tensors) {
  GgufHeaderBuilder builder;
  builder.AddString("general.architecture", "llama");
  builder.AddString("general.type", "model");
  builder.AddString("general.name", model_name);
  builder.AddUint32("general.alignment", kGgufAlignment);
  builder.AddUint32("llama.block_count", dims.layers);
  builder.AddUint32("llama.context_length", dims.context);
  builder.AddUint32("llama.embedding_length", dims.hidden);
  builder.AddUint32("llama.feed_forward_length", dims.intermediate);
  builder.AddUint32("llama.attention.head_count", dims.heads);
  builder.AddUint32("llama.attention.head_count_kv", dims.kv_heads);
  builder.AddFloat32("llama.rope.freq_base", 10000.0f);
  builder.AddFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  builder.AddUint32("general.file_type", kFileTypeMostlyBf16);
  builder.AddUint32("llama.vocab_size", dims.vocab);
  builder.AddUint32("llama.rope.dimension_count", dims.hidden / dims.heads);
  builder.AddString("tokenizer.ggml.model", "llama");
  builder.AddString("tokenizer.ggml.pre", "default");
  builder.AddStringArray("tokenizer.ggml.tokens", vocab.tokens);
  builder.AddArray<float>("tokenizer.ggml.scores", ValueType::kFloat32, vocab.scores);
  builder.AddArray<std::int32_t>("tokenizer.ggml.token_type", ValueType::kInt32, vocab.token_types);
  builder.AddUint32("tokenizer.ggml.bos_token_id", 1);
  builder.AddUint32("tokenizer.ggml.eos_token_id", 2);
  builder.AddUint32("tokenizer.ggml.unknown_token_id", 0);
  builder.AddUint32("general.quantization_version", 2);

  std::uint64_t offset = 0;
  for (const TensorSpec& tensor : tensors) {
    builder.AddTensorInfo(tensor, offset);
    offset = AlignUp(offset + DataBytes(tensor));
  }
  return builder.Finish();
}

Result<std::uint64_t> WriteLlamaGguf(const std::filesystem::path& path, std::string_view model_name,
                                     const LlamaDims& dims, const Vocab& vocab,
                                     std::span<const TensorSpec> tensors) {
  Result<AtomicFile> file = AtomicFile::Create(path);
  if (!file) return file.error();
  if (Result<void> header = file->Append(LlamaGgufHeader(model_name, dims, vocab, tensors));
      !header) {
    return header.error();
  }
  static constexpr char kPadding[kGgufAlignment] = {};
  for (const TensorSpec& tensor : tensors) {
    if (Result<void> data = AppendTensorData(tensor, StoredDtype::kBf16, *file); !data) {
      return data.error();
    }
    const std::uint64_t padding = AlignUp(DataBytes(tensor)) - DataBytes(tensor);
    if (Result<void> padded = file->Append(std::string_view(kPadding, padding)); !padded) {
      return padded.error();
    }
  }
  const std::uint64_t size = file->size();
  if (Result<void> committed = file->Commit(); !committed) return committed.error();
  return size;
}

}  // namespace mei::tools
