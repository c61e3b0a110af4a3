// What a fine-tune costs in each on-device format: ingested after its base, a fine-tune that
// retrains k of n tensors (mei-synth's "<format>-ft": a merged LoRA, the attention projections of
// every layer) stores no more than the changed tensors plus framing (within 2% of the
// changed bytes), where cutting by content (FastCDC, 64 KiB on average) stores much more. The
// figures are printed, for docs/FORMATS.md.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "common/byte_source.h"
#include "common/digest.h"
#include "origin/ingest.h"
#include "tools/synth/model_family.h"

namespace mei::origin {
namespace {

namespace fs = std::filesystem;

class FormatDedupTest : public ::testing::TestWithParam<std::string> {
 protected:
  // The pair of the test's format, written once per test (ctest runs each in its own process).
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("format_dedup_test_" + GetParam());
    fs::remove_all(dir_);
    tools::SynthOptions options;
    options.out_dir = dir_ / "models";
    options.size_bytes = 32ull << 20;
    options.seed = 7;
    options.variants = {GetParam(), GetParam() + "-ft"};
    auto written = tools::WriteModelFamily(options);
    ASSERT_TRUE(written) << written.error().message;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The fine-tune's new raw bytes, ingested after its base into a fresh store.
  IngestReport IngestPair(const std::string& format, bool by_content) {
    const fs::path store_dir = dir_ / ("store-" + format + (by_content ? "-cdc" : ""));
    fs::remove_all(store_dir);
    Store store = OpenStore(store_dir).value();
    IngestOptions options;
    options.chunking.by_content_only = by_content;
    IngestReport report;
    for (const std::string& variant : {format, format + "-ft"}) {
      options.model = "synth/" + variant;
      auto files = CollectInputs({dir_ / "models" / variant}).value();
      auto ingested = Ingest(store, files, options);
      EXPECT_TRUE(ingested) << ingested.error().message;
      if (ingested) report = std::move(*ingested);
    }
    return report;
  }

  // The bytes of the tensors of `variant` (as the manifest lists them) whose contents appear in no
  // tensor of `base`: what the fine-tune truly changed.
  std::uint64_t ChangedTensorBytes(const Manifest& base, const Manifest& variant,
                                   const std::string& base_folder,
                                   const std::string& variant_folder) {
    std::set<std::string> base_tensors;
    for (const ManifestFile& file : base.files) {
      for (const TensorEntry& tensor : file.tensors) {
        base_tensors.insert(TensorDigest(base_folder, file.path, tensor));
      }
    }
    std::uint64_t changed = 0;
    for (const ManifestFile& file : variant.files) {
      for (const TensorEntry& tensor : file.tensors) {
        if (!base_tensors.contains(TensorDigest(variant_folder, file.path, tensor))) {
          changed += tensor.size;
        }
      }
    }
    return changed;
  }

  std::string TensorDigest(const std::string& folder, const std::string& path,
                           const TensorEntry& tensor) {
    auto file = FileByteSource::Open(dir_ / "models" / folder / path).value();
    std::vector<std::byte> bytes(tensor.size);
    EXPECT_TRUE(file.ReadAt(tensor.offset, bytes));
    return Sha256Of(bytes).Hex();
  }

  fs::path dir_;
};

TEST_P(FormatDedupTest, AFineTuneStoresItsChangedTensorsAndLittleElseWhereCdcStoresMuchMore) {
  const std::string format = GetParam();
  Store base_store = OpenStore(dir_ / ("manifests-" + format)).value();
  const IngestReport tensor_aware = IngestPair(format, /*by_content=*/false);
  const IngestReport by_content = IngestPair(format, /*by_content=*/true);
  ASSERT_FALSE(tensor_aware.manifest.files.empty());

  // The base's manifest, to find the tensors the fine-tune changed.
  IngestOptions options;
  options.model = "synth/" + format;
  const IngestReport base =
      Ingest(base_store, CollectInputs({dir_ / "models" / format}).value(), options).value();
  const std::uint64_t changed =
      ChangedTensorBytes(base.manifest, tensor_aware.manifest, format, format + "-ft");
  ASSERT_GT(changed, 0u);
  ASSERT_LT(changed, tensor_aware.raw_bytes);
  for (const ManifestFile& file : tensor_aware.manifest.files) {
    if (!file.path.ends_with(".json")) {
      EXPECT_NE(file.format, "other") << file.path;
    }
  }

  const double tensor_ratio =
      static_cast<double>(tensor_aware.new_raw_bytes) / static_cast<double>(changed);
  const double cdc_ratio =
      static_cast<double>(by_content.new_raw_bytes) / static_cast<double>(changed);
  std::printf("| %s | %llu | %llu | %llu (%.3fx) | %llu (%.3fx) |\n", format.c_str(),
              static_cast<unsigned long long>(tensor_aware.raw_bytes),
              static_cast<unsigned long long>(changed),
              static_cast<unsigned long long>(tensor_aware.new_raw_bytes), tensor_ratio,
              static_cast<unsigned long long>(by_content.new_raw_bytes), cdc_ratio);
  EXPECT_GE(tensor_aware.new_raw_bytes, changed);
  EXPECT_LE(tensor_ratio, 1.02) << "stored more than the changed tensors plus 2%";
  EXPECT_GE(cdc_ratio, 1.2 * tensor_ratio) << "CDC should store much more";
}

INSTANTIATE_TEST_SUITE_P(EachFormat, FormatDedupTest,
                         ::testing::Values("onnx", "tflite", "pytorch", "npz", "tfjs"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mei::origin
