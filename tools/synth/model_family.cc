#include "tools/synth/model_family.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <span>
#include <string_view>
#include <system_error>

#include "common/atomic_file.h"
#include "common/byte_size.h"
#include "tools/synth/gguf_writer.h"
#include "tools/synth/npy_writer.h"
#include "tools/synth/onnx_writer.h"
#include "tools/synth/pytorch_writer.h"
#include "tools/synth/safetensors_writer.h"
#include "tools/synth/tensor_data.h"
#include "tools/synth/tfjs_writer.h"
#include "tools/synth/tflite_writer.h"
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

enum class WeightsFormat : std::uint8_t {
  kSafetensors,
  kGguf,
  kOnnx,
  kTflite,
  kPytorch,
  kNpz,
  kTfjs
};

// How a variant is made: the tensors of one revision of a model line, stored in one format.
struct VariantSpec {
  std::string_view name;
  WeightsFormat format = WeightsFormat::kSafetensors;
  StoredDtype dtype = StoredDtype::kBf16;
  // The fine-tune whose tensors it holds ("ft-last", "lora-merged", "v2-embed"); empty: the
  // base's.
  std::string_view revision = {};
  std::string_view base_variant = "base";
  bool unrelated_line = false;
};

constexpr VariantSpec kVariantSpecs[] = {
    {.name = "base"},
    {.name = "ft-last", .revision = "ft-last"},
    {.name = "lora-merged", .revision = "lora-merged"},
    {.name = "v2-embed", .revision = "v2-embed"},
    {.name = "f16", .dtype = StoredDtype::kF16},
    {.name = "f32", .dtype = StoredDtype::kF32},
    {.name = "gguf", .format = WeightsFormat::kGguf},
    {.name = "unrelated", .unrelated_line = true},
    {.name = "onnx", .format = WeightsFormat::kOnnx},
    {.name = "onnx-ft",
     .format = WeightsFormat::kOnnx,
     .revision = "lora-merged",
     .base_variant = "onnx"},
    {.name = "tflite", .format = WeightsFormat::kTflite},
    {.name = "tflite-ft",
     .format = WeightsFormat::kTflite,
     .revision = "lora-merged",
     .base_variant = "tflite"},
    {.name = "pytorch", .format = WeightsFormat::kPytorch},
    {.name = "pytorch-ft",
     .format = WeightsFormat::kPytorch,
     .revision = "lora-merged",
     .base_variant = "pytorch"},
    {.name = "npz", .format = WeightsFormat::kNpz},
    {.name = "npz-ft",
     .format = WeightsFormat::kNpz,
     .revision = "lora-merged",
     .base_variant = "npz"},
    {.name = "tfjs", .format = WeightsFormat::kTfjs},
    {.name = "tfjs-ft",
     .format = WeightsFormat::kTfjs,
     .revision = "lora-merged",
     .base_variant = "tfjs"},
};

const VariantSpec* FindVariantSpec(std::string_view name) {
  for (const VariantSpec& spec : kVariantSpecs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

// The dtype a variant's file stores its tensors' bytes in: TF.js widens BF16 to F32.
StoredDtype FileDtype(const VariantSpec& spec) {
  return spec.format == WeightsFormat::kTfjs ? TfjsStoredDtype(spec.dtype) : spec.dtype;
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

// Whether fine-tune `revision` gives `tensor` new values or keeps the base's.
bool IsRetrained(std::string_view revision, const TensorSpec& tensor, const LlamaDims& dims) {
  if (revision == "ft-last") {
    const std::uint64_t tuned_layers = std::max<std::uint64_t>(1, dims.layers / 4);
    return tensor.layer.has_value() && *tensor.layer >= dims.layers - tuned_layers;
  }
  if (revision == "lora-merged") return IsAttentionProjection(tensor.role);
  if (revision == "v2-embed") return tensor.role == TensorRole::kEmbedding;
  return false;
}

// The tensors `spec` holds: the line's base tensors, those its revision retrains drawn from the
// revision's own streams.
std::vector<TensorSpec> VariantTensors(const VariantSpec& spec, const ModelLine& line) {
  std::vector<TensorSpec> tensors = line.base_tensors;
  for (TensorSpec& tensor : tensors) {
    if (IsRetrained(spec.revision, tensor, line.dims)) {
      tensor.stream.seed = StreamSeed(line.seed, line.lineage, spec.revision, tensor.name);
    }
  }
  return tensors;
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

Result<std::uint64_t> FileSize(const fs::path& path) {
  std::error_code error;
  const std::uintmax_t size = fs::file_size(path, error);
  if (error) {
    return Error{Errc::kIo, fmt::format("cannot stat {}: {}", path.string(), error.message())};
  }
  return size;
}

// Whether `name` is a file that a variant writes in some runs and not in others: TF.js shards
// ("group1-shard2of3.bin"), whose number follows the size, and ONNX's external data.
bool IsSizeDependentFile(std::string_view name) {
  const bool tfjs_shard = name.starts_with("group") && name.find("-shard") != std::string::npos &&
                          name.ends_with(".bin");
  return tfjs_shard || name == "model.onnx_data";
}

// Removes the size-dependent files of `folder` that are not in `written`: those of an earlier run
// of another size.
Result<void> RemoveStaleFiles(const fs::path& folder, const std::vector<std::string>& written) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(folder, error)) {
    const std::string name = entry.path().filename().string();
    if (!IsSizeDependentFile(name)) continue;
    if (std::find(written.begin(), written.end(), name) != written.end()) continue;
    if (fs::remove(entry.path(), error); error) break;
  }
  if (error) {
    return Error{Errc::kIo, fmt::format("cannot remove the files of an earlier run in {}: {}",
                                        folder.string(), error.message())};
  }
  return {};
}

// The most weight bytes an ONNX model file holds: protobuf's 2 GiB, less room for the framing.
// torch.onnx.export moves the initializers of larger models to external data.
constexpr std::uint64_t kOnnxMaxInlineWeightBytes = (2ull << 30) - (16ull << 20);

// Writes `tensors` into `folder` in `spec`'s format and appends the files to `report`.
Result<void> WriteWeights(const fs::path& folder, const VariantSpec& spec, const ModelLine& line,
                          std::span<const TensorSpec> tensors, VariantReport& report) {
  std::vector<std::string> files;
  Result<std::uint64_t> written = std::uint64_t{0};
  switch (spec.format) {
    case WeightsFormat::kSafetensors:
      files = {"model.safetensors"};
      written = WriteSafetensors(folder / files[0], tensors, spec.dtype);
      break;
    case WeightsFormat::kGguf:
      files = {"model.gguf"};
      written = WriteLlamaGguf(folder / files[0], ModelName(line), line.dims, line.vocab, tensors);
      break;
    case WeightsFormat::kOnnx: {
      files = {"model.onnx"};
      OnnxWriteOptions options;
      options.producer_version = spec.revision.empty() ? "1.0" : "1.0.1";
      std::uint64_t weight_bytes = 0;
      for (const TensorSpec& tensor : tensors) {
        weight_bytes += tensor.Elements() * ElementBytes(spec.dtype);
      }
      options.external_data = weight_bytes > kOnnxMaxInlineWeightBytes;
      written = WriteOnnx(folder / files[0], tensors, spec.dtype, options);
      if (options.external_data) files.push_back(OnnxExternalDataPath(files[0]).string());
      break;
    }
    case WeightsFormat::kTflite:
      files = {"model.tflite"};
      written = WriteTflite(folder / files[0], tensors, spec.dtype);
      break;
    case WeightsFormat::kPytorch:
      files = {"pytorch_model.bin"};
      written = WritePytorchCheckpoint(folder / files[0], tensors, spec.dtype);
      break;
    case WeightsFormat::kNpz:
      files = {"model.npz"};
      written = WriteNpz(folder / files[0], tensors, spec.dtype);
      break;
    case WeightsFormat::kTfjs: {
      Result<std::vector<std::string>> names =
          WriteTfjsModel(folder, tensors, spec.dtype, TfjsWriteOptions{});
      if (!names) return names.error();
      files = std::move(*names);
      break;
    }
  }
  if (!written) return written.error();
  if (Result<void> removed = RemoveStaleFiles(folder, files); !removed) return removed;
  for (const std::string& file : files) {
    const Result<std::uint64_t> size = FileSize(folder / file);
    if (!size) return size.error();
    report.bytes += *size;
    report.files.push_back(file);
  }
  return {};
}

// Writes one variant's folder: its weights, config.json and tokenizer.json. `base_line` is the
// line of `spec`'s base variant.
Result<VariantReport> WriteVariant(const fs::path& out_dir, const VariantSpec& spec,
                                   const ModelLine& line, const ModelLine& base_line) {
  VariantReport report;
  report.variant = spec.name;
  report.base_variant = spec.base_variant;
  const fs::path folder = out_dir / spec.name;
  if (Result<void> created = CreateFolder(folder); !created) return created.error();

  // Two files store a tensor's bytes alike when they hold the same stream in the same dtype.
  const std::vector<TensorSpec> tensors = VariantTensors(spec, line);
  const VariantSpec& base = *FindVariantSpec(spec.base_variant);
  std::map<std::string_view, const TensorSpec*> base_tensors;
  const std::vector<TensorSpec> base_specs = VariantTensors(base, base_line);
  for (const TensorSpec& tensor : base_specs) base_tensors[tensor.name] = &tensor;
  for (const TensorSpec& tensor : tensors) {
    const auto it = base_tensors.find(tensor.name);
    const bool same_bytes = it != base_tensors.end() && FileDtype(spec) == FileDtype(base) &&
                            it->second->stream == tensor.stream &&
                            it->second->shape == tensor.shape;
    (same_bytes ? report.shared_with_base : report.changed).push_back(tensor.name);
  }

  if (Result<void> weights = WriteWeights(folder, spec, line, tensors, report); !weights) {
    return weights.error();
  }
  const std::string config_json = LlamaConfigJson(line.dims, TorchDtype(FileDtype(spec)));
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
    if (FindVariantSpec(variant) == nullptr) {
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
  for (const VariantSpec& spec : kVariantSpecs) {
    if (!requested(spec.name)) continue;
    Result<VariantReport> report =
        spec.unrelated_line
            ? WriteVariant(options.out_dir, spec,
                           MakeModelLine(kUnrelatedLineage, kUnrelatedShape, options), base)
            : WriteVariant(options.out_dir, spec, base, base);
    if (!report) return report.error();
    reports.push_back(std::move(*report));
  }
  return reports;
}

}  // namespace mei::tools
