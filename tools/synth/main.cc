// mei-synth: writes a synthetic Llama model family (a base, fine-tunes that share most of its
// tensors, F16, F32 and GGUF exports, an unrelated model, and the base and a fine-tune in
// on-device formats) for tests, demos and benchmarks.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_size.h"
#include "tools/synth/model_family.h"
#include "tools/synth/tensor_name_summary.h"

namespace mei::tools {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

std::string DescribeSharing(const VariantReport& report) {
  std::vector<std::string> all = report.shared_with_base;
  all.insert(all.end(), report.changed.begin(), report.changed.end());
  std::string line = fmt::format("{} of {} tensors shared with {}", report.shared_with_base.size(),
                                 all.size(), report.base_variant);
  if (!report.changed.empty()) {
    line += fmt::format("; changed: {}", SummarizeTensorNames(report.changed, all));
  }
  if (report.variant == "f16") line += " (converted to F16)";
  if (report.variant == "f32") line += " (widened to F32)";
  if (report.variant == "gguf") line += " (under llama.cpp names, same bytes)";
  if (report.variant == "unrelated") line += " (another model line)";
  if (report.variant == "tfjs") line += " (TF.js widens BF16 to F32)";
  return line;
}

void PrintReport(const SynthOptions& options, const std::vector<VariantReport>& reports) {
  const LlamaDims dims = BaseModelDims(options.size_bytes);
  fmt::print(
      "{}: seed {}, base of {} parameters: hidden {}, intermediate {}, {} layers, {} heads, "
      "vocab {}\n",
      options.out_dir.string(), options.seed, dims.Parameters(), dims.hidden, dims.intermediate,
      dims.layers, dims.heads, dims.vocab);
  for (const VariantReport& report : reports) {
    std::vector<std::string> files;
    for (const std::string& file : report.files) {
      files.push_back(fmt::format(
          "{} {}", file,
          FormatByteSize(std::filesystem::file_size(options.out_dir / report.variant / file))));
    }
    fmt::print("{}/ ({}): {}\n  {}\n", report.variant, FormatByteSize(report.bytes),
               fmt::join(files, ", "), DescribeSharing(report));
  }
}

int Run(int argc, char** argv) {
  CLI::App app{
      "Writes a synthetic Llama model family, one folder per variant, every byte a function of "
      "--seed and --size: base (BF16 safetensors); ft-last, lora-merged and v2-embed (fine-tunes "
      "sharing most tensors with base); f16 and f32 (base's values as F16 and F32 safetensors); "
      "gguf (base's bytes as GGUF); unrelated (another model); and, when named, the base's and "
      "ft-last's tensors in on-device formats: onnx and onnx-ft, tflite and tflite-ft, pytorch "
      "and pytorch-ft (torch.save), npz and npz-ft (NumPy), tfjs and tfjs-ft (TF.js, in F32)."};
  SynthOptions options;
  std::string out_dir;
  std::string size_text = "64MiB";
  app.add_option("--out", out_dir, "Folder to write the variant folders into")->required();
  app.add_option("--size", size_text,
                 "Approximate size of the base model's weights file: 64MiB, 1GiB, 500MB, 4096")
      ->capture_default_str();
  app.add_option("--seed", options.seed, "Seed from which every byte is drawn")
      ->capture_default_str();
  app.add_option("--variants", options.variants,
                 fmt::format("Comma-separated variants to write, of {} (default: {})",
                             fmt::join(kAllVariants, ","), fmt::join(kDefaultVariants, ",")))
      ->delimiter(',');
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    const std::string_view message = error.what();
    fmt::print(stderr, "mei-synth: {}{}\n", message, message.ends_with('.') ? "" : ".");
    return kExitUsage;
  }

  options.out_dir = out_dir;
  const Result<std::uint64_t> size = ParseByteSize(size_text);
  if (!size) {
    fmt::print(stderr, "mei-synth: {}.\n", size.error().message);
    return kExitUsage;
  }
  options.size_bytes = *size;
  const Result<std::vector<VariantReport>> reports = WriteModelFamily(options);
  if (!reports) {
    fmt::print(stderr, "mei-synth: {}.\n", reports.error().message);
    return reports.error().code == Errc::kBadRequest ? kExitUsage : kExitFailure;
  }
  PrintReport(options, *reports);
  return 0;
}

}  // namespace
}  // namespace mei::tools

int main(int argc, char** argv) {
  try {
    return mei::tools::Run(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "mei-synth: %s.\n", error.what());
    return 1;
  }
}
