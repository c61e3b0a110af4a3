#include "tools/synth/model_family.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <string_view>
#include <system_error>

#include "common/atomic_file.h"
#include "common/byte_size.h"
#include "tools/synth/gguf_writer.h"
#include "tools/synth/safetensors_writer.h"
#include "tools/synth/tensor_data.h"
#include "tools/synth/tokenizer.h"
#include "tools/synth/weights.h"

namespace mei::tools {
namespace {

namespace fs = std::filesystem;

// A model line: the dimensions, tokenizer and base weights that a family's members derive from.
struct ModelLine {
  std::string_view lineage;
  std::uint64_t seed = 0;
  LlamaDims dims;
  std::vector<TensorSpec> base_tensors;
  std::string tokenizer_json;
  Vocab vocab;
};

constexpr std::string_view kBaseLineage = "mei-synth/llama";
constexpr std::string_view kUnrelatedLineage = "mei-synth/unrelated";
constexpr LlamaShape kBaseShape{
    .depth = 24.0, .max_vocab = 32000, .embedding_share = 2.0 / 3.0, .context = 2048};
constexpr LlamaShape kUnrelatedShape{
    .depth = 16.0, .max_vocab = 32768, .embedding_share = 0.5, .context = 4096};
constexpr std::string_view kBaseRevision = "base";

ModelLine MakeModelLine(std::string_view lineage, const LlamaShape& shape,
                        const SynthOptions& options) {
  ModelLine line;
  line.lineage = lineage;
  line.seed = options.seed;
  line.dims = ChooseLlamaDims(options.size_bytes, shape);
  line.base_tensors = LlamaTensors(line.dims);
  for (TensorSpec& tensor : line.base_tensors) {
    tensor.stream.seed = StreamSeed(options.seed, lineage, kBaseRevision, tensor.name);
  }
  line.vocab = MakeVocab(line.dims.vocab, StreamSeed(options.seed, lineage, "vocab", ""));
  line.tokenizer_json = TokenizerJson(line.vocab);
  return line;
}

// The dtype a variant stores its safetensors weights in: the re-encoded exports are F16 and F32;
// every other variant is BF16, like the base.
StoredDtype VariantDtype(std::string_view variant) {
  if (variant == "f16") return StoredDtype::kF16;
  if (variant == "f32") return StoredDtype::kF32;
  return StoredDtype::kBf16;
}

// config.json's torch_dtype for `dtype`.
std::string_view TorchDtype(StoredDtype dtype) {
  switch (dtype) {
    case StoredDtype::kF16:
      return "float16";
    case StoredDtype::kF32:
      return "float32";
    case StoredDtype::kBf16:
      break;
  }
  return "bfloat16";
}

bool IsAttentionProjection(TensorRole role) {
  return role == TensorRole::kAttentionQuery || role == TensorRole::kAttentionKey ||
         role == TensorRole::kAttentionValue || role == TensorRole::kAttentionOutput;
}

// Whether `variant` gives `tensor` new values (its own revision) or keeps the base's.
bool IsRetrained(std::string_view variant, const TensorSpec& tensor, const LlamaDims& dims) {
  if (variant == "ft-last") {
    const std::uint64_t tuned_layers = std::max<std::uint64_t>(1, dims.layers / 4);
    return tensor.layer.has_value() && *tensor.layer >= dims.layers - tuned_layers;
  }
  if (variant == "lora-merged") return IsAttentionProjection(tensor.role);
  if (variant == "v2-embed") return tensor.role == TensorRole::kEmbedding;
  return false;
}

std::string ModelName(const ModelLine& line) {
  const double millions = static_cast<double>(line.dims.Parameters()) / 1e6;
  return fmt::format("{} {}M", line.lineage, static_cast<std::uint64_t>(std::llround(millions)));
}

Result<void> CreateFolder(const fs::path& folder) {
  std::error_code error;
  fs::create_directories(folder, error);
  if (error) {
    return Error{Errc::kIo,
                 fmt::format("cannot create folder {}: {}", folder.string(), error.message())};
  }
  return {};
}

// Writes one variant's folder: its weights file, config.json and tokenizer.json.
Result<VariantReport> WriteVariant(const fs::path& out_dir, std::string_view variant,
                                   const ModelLine& line, bool same_line_as_base) {
  VariantReport report;
  report.variant = variant;
  const fs::path folder = out_dir / variant;
  if (Result<void> created = CreateFolder(folder); !created) return created.error();

  const StoredDtype dtype = VariantDtype(variant);
  std::vector<TensorSpec> tensors = line.base_tensors;
  for (TensorSpec& tensor : tensors) {
    const bool retrained = IsRetrained(variant, tensor, line.dims);
    if (retrained) tensor.stream.seed = StreamSeed(line.seed, line.lineage, variant, tensor.name);
    const bool bytes_as_base = same_line_as_base && !retrained && dtype == StoredDtype::kBf16;
    (bytes_as_base ? report.shared_with_base : report.changed).push_back(tensor.name);
  }

  const bool gguf = variant == "gguf";
  report.files.emplace_back(gguf ? "model.gguf" : "model.safetensors");
  const Result<std::uint64_t> weights_bytes =
      gguf ? WriteLlamaGguf(folder / report.files.back(), ModelName(line), line.dims, line.vocab,
                            tensors)
           : WriteSafetensors(folder / report.files.back(), tensors, dtype);
  if (!weights_bytes) return weights_bytes.error();
  report.bytes += *weights_bytes;

  const std::string config_json = LlamaConfigJson(line.dims, TorchDtype(dtype));
  for (const auto& [name, contents] :
       {std::pair<std::string_view, std::string_view>("config.json", config_json),
        {"tokenizer.json", line.tokenizer_json}}) {
    if (Result<void> written = WriteFileAtomically(folder / name, contents); !written) {
      return written.error();
    }
    report.files.emplace_back(name);
    report.bytes += contents.size();
  }
  return report;
}

Result<void> Validate(const SynthOptions& options) {
  if (options.variants.empty()) {
    return Error{Errc::kBadRequest, "no variants were requested"};
  }
  for (const std::string& variant : options.variants) {
    if (std::find(kAllVariants.begin(), kAllVariants.end(), variant) == kAllVariants.end()) {
      return Error{Errc::kBadRequest, fmt::format("unknown variant \"{}\"; expected some of {}",
                                                  variant, fmt::join(kAllVariants, ", "))};
    }
  }
  if (options.size_bytes < kMinWeightBytes || options.size_bytes > kMaxWeightBytes) {
    return Error{Errc::kBadRequest,
                 fmt::format("size {} is outside the supported range {} to {}",
                             FormatByteSize(options.size_bytes), FormatByteSize(kMinWeightBytes),
                             FormatByteSize(kMaxWeightBytes))};
  }
  return {};
}

}  // namespace

LlamaDims BaseModelDims(std::uint64_t size_bytes) {
  return ChooseLlamaDims(std::clamp(size_bytes, kMinWeightBytes, kMaxWeightBytes), kBaseShape);
}

Result<std::vector<VariantReport>> WriteModelFamily(const SynthOptions& options) {
  if (Result<void> valid = Validate(options); !valid) return valid.error();
  if (Result<void> created = CreateFolder(options.out_dir); !created) return created.error();

  const auto requested = [&](std::string_view variant) {
    return std::find(options.variants.begin(), options.variants.end(), variant) !=
           options.variants.end();
  };
  const ModelLine base = MakeModelLine(kBaseLineage, kBaseShape, options);
  std::vector<VariantReport> reports;
  for (const std::string& variant : kAllVariants) {
    if (!requested(variant)) continue;
    Result<VariantReport> report =
        variant == "unrelated"
            ? WriteVariant(options.out_dir, variant,
                           MakeModelLine(kUnrelatedLineage, kUnrelatedShape, options), false)
            : WriteVariant(options.out_dir, variant, base, true);
    if (!report) return report.error();
    reports.push_back(std::move(*report));
  }
  return reports;
}

}  // namespace mei::tools
