// mei-synth's on-device format variants: the base's and lora-merged's tensors in ONNX, TFLite,
// PyTorch, NumPy and TF.js files, read back with the parsers the chunker uses.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_source.h"
#include "common/formats/onnx.h"
#include "common/formats/safetensors.h"
#include "tests/tools/family_files.h"
#include "tools/synth/model_family.h"
#include "tools/synth/onnx_writer.h"

namespace mei::tools {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kSmallModelBytes = 4ull << 20;  // F32 in TF.js: two shards

class ModelFamilyFormatsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(MakeTempDir());
    SynthOptions options;
    options.out_dir = *dir_ / "family";
    options.size_bytes = kSmallModelBytes;
    options.seed = 7;
    options.variants = {"base", "lora-merged"};
    options.variants.insert(options.variants.end(), kFormatVariants.begin(), kFormatVariants.end());
    Result<std::vector<VariantReport>> reports = WriteModelFamily(options);
    ASSERT_TRUE(reports.has_value()) << reports.error().message;
    reports_ = new std::vector<VariantReport>(std::move(*reports));
    order_ = new std::vector<std::string>();
    Result<FileByteSource> file = FileByteSource::Open(Family() / "base" / "model.safetensors");
    ASSERT_TRUE(file.has_value());
    Result<SafetensorsHeader> header = ParseSafetensors(*file);
    ASSERT_TRUE(header.has_value()) << header.error().message;
    for (const TensorEntry& tensor : header->tensors) order_->push_back(tensor.name);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete reports_;
    delete order_;
  }

  static fs::path Family() { return *dir_ / "family"; }
  static const VariantReport& Report(const std::string& variant) {
    const auto it = std::find_if(reports_->begin(), reports_->end(),
                                 [&](const VariantReport& r) { return r.variant == variant; });
    EXPECT_NE(it, reports_->end()) << variant;
    return *it;
  }
  static std::map<std::string, StoredTensor> Tensors(const std::string& variant) {
    return ReadStoredTensors(Family() / variant, *order_);
  }

  static fs::path* dir_;
  static std::vector<VariantReport>* reports_;
  static std::vector<std::string>* order_;  // the tensor names in the base's order
};

fs::path* ModelFamilyFormatsTest::dir_ = nullptr;
std::vector<VariantReport>* ModelFamilyFormatsTest::reports_ = nullptr;
std::vector<std::string>* ModelFamilyFormatsTest::order_ = nullptr;

// The F32 bytes of the BF16 bytes `bf16`: each element widened exactly.
std::vector<std::byte> WidenBf16(const std::vector<std::byte>& bf16) {
  std::vector<std::byte> f32(bf16.size() * 2);
  for (std::size_t i = 0; i < bf16.size() / 2; ++i) {
    std::uint16_t narrow;
    std::memcpy(&narrow, bf16.data() + 2 * i, 2);
    const std::uint32_t wide = std::uint32_t{narrow} << 16;
    std::memcpy(f32.data() + 4 * i, &wide, 4);
  }
  return f32;
}

TEST_F(ModelFamilyFormatsTest, WritesEachFormatVariantInOrderWithItsFilesAndSizes) {
  const std::map<std::string, std::vector<std::string>> weights = {
      {"onnx", {"model.onnx"}},
      {"tflite", {"model.tflite"}},
      {"pytorch", {"pytorch_model.bin"}},
      {"npz", {"model.npz"}},
      {"tfjs", {"model.json", "group1-shard1of2.bin", "group1-shard2of2.bin"}}};
  ASSERT_EQ(reports_->size(), 2 + kFormatVariants.size());
  for (std::size_t i = 0; i < kFormatVariants.size(); ++i) {
    const VariantReport& report = (*reports_)[2 + i];
    ASSERT_EQ(report.variant, kFormatVariants[i]);
    const std::string format = report.variant.substr(0, report.variant.find("-ft"));
    std::vector<std::string> files = weights.at(format);
    files.insert(files.end(), {"config.json", "tokenizer.json"});
    EXPECT_EQ(report.files, files) << report.variant;
    std::uint64_t bytes = 0;
    std::set<std::string> on_disk;
    for (const auto& entry : fs::directory_iterator(Family() / report.variant)) {
      on_disk.insert(entry.path().filename().string());
      bytes += entry.file_size();
    }
    EXPECT_EQ(report.bytes, bytes) << report.variant;
    EXPECT_EQ(on_disk, std::set<std::string>(files.begin(), files.end()))
        << "no temporary files are left behind in " << report.variant;
  }
}

TEST_F(ModelFamilyFormatsTest, EachFormatHoldsItsSourcesTensorsAsTheParserReadsThem) {
  struct Case {
    std::string variant;
    std::string source;  // the safetensors variant of the same tensors
    std::string dtype;   // as the format's parser names it
  };
  const std::vector<Case> cases = {
      {"onnx", "base", "BF16"},       {"onnx-ft", "lora-merged", "BF16"},
      {"tflite", "base", "BF16"},     {"tflite-ft", "lora-merged", "BF16"},
      {"pytorch", "base", "storage"}, {"pytorch-ft", "lora-merged", "storage"},
      {"npz", "base", "U16"},         {"npz-ft", "lora-merged", "U16"},
      {"tfjs", "base", "F32"},        {"tfjs-ft", "lora-merged", "F32"}};
  for (const Case& c : cases) {
    const std::map<std::string, StoredTensor> source = Tensors(c.source);
    const std::map<std::string, StoredTensor> tensors = Tensors(c.variant);
    ASSERT_EQ(tensors.size(), source.size()) << c.variant;
    for (const auto& [name, expected] : source) {
      ASSERT_TRUE(tensors.contains(name)) << c.variant << " lacks " << name;
      const StoredTensor& tensor = tensors.at(name);
      EXPECT_EQ(tensor.dtype, c.dtype) << c.variant << " " << name;
      if (c.dtype == "storage") {
        EXPECT_EQ(tensor.shape, std::vector<std::uint64_t>{expected.bytes.size()}) << name;
      } else {
        EXPECT_EQ(tensor.shape, expected.shape) << c.variant << " " << name;
      }
      const bool same =
          tensor.bytes == (c.dtype == "F32" ? WidenBf16(expected.bytes) : expected.bytes);
      EXPECT_TRUE(same) << c.variant << " " << name << " holds other values than " << c.source;
    }
  }
}

TEST_F(ModelFamilyFormatsTest, EachReportMatchesAByteComparisonWithItsBaseVariant) {
  const VariantReport& lora_merged = Report("lora-merged");
  for (const std::string& variant : kFormatVariants) {
    const VariantReport& report = Report(variant);
    const bool fine_tune = variant.ends_with("-ft");
    EXPECT_EQ(report.base_variant, fine_tune ? variant.substr(0, variant.size() - 3) : "base");
    const std::map<std::string, StoredTensor> tensors = Tensors(variant);
    const std::set<std::string> shared = NamesWithSameBytes(tensors, Tensors(report.base_variant));
    std::set<std::string> changed;
    for (const auto& [name, tensor] : tensors) {
      if (!shared.contains(name)) changed.insert(name);
    }
    EXPECT_EQ(std::set<std::string>(report.shared_with_base.begin(), report.shared_with_base.end()),
              shared)
        << variant;
    EXPECT_EQ(std::set<std::string>(report.changed.begin(), report.changed.end()), changed)
        << variant;
    if (fine_tune) {
      EXPECT_EQ(report.changed, lora_merged.changed)
          << variant << " retrains what lora-merged does";
    } else if (variant == "tfjs") {
      EXPECT_EQ(report.shared_with_base, std::vector<std::string>{}) << "TF.js stores F32";
    } else {
      EXPECT_EQ(report.changed, std::vector<std::string>{}) << variant << " stores base's bytes";
    }
  }
  EXPECT_FALSE(lora_merged.changed.empty());
}

TEST_F(ModelFamilyFormatsTest, OnnxFineTuneIsAReExportThatMovesEveryInitializer) {
  const auto parse = [](const fs::path& path) {
    Result<FileByteSource> file = FileByteSource::Open(path);
    EXPECT_TRUE(file.has_value()) << path;
    Result<OnnxModel> model = ParseOnnx(*file);
    EXPECT_TRUE(model.has_value()) << path << ": " << model.error().message;
    return model ? *model : OnnxModel{};
  };
  const OnnxModel base = parse(Family() / "onnx" / "model.onnx");
  const OnnxModel fine_tune = parse(Family() / "onnx-ft" / "model.onnx");
  ASSERT_EQ(base.tensors.size(), order_->size());
  ASSERT_EQ(fine_tune.tensors.size(), base.tensors.size());
  for (std::size_t i = 0; i < base.tensors.size(); ++i) {
    EXPECT_EQ(base.tensors[i].name, (*order_)[i]) << "initializers are in the base's order";
    EXPECT_EQ(fine_tune.tensors[i].name, base.tensors[i].name);
    EXPECT_EQ(fine_tune.tensors[i].offset, base.tensors[i].offset + 2)
        << "producer_version 1.0.1 is two bytes longer than 1.0";
  }
  const auto head = [](const fs::path& path) {
    const std::vector<std::byte> bytes = ReadRange(path, 0, 64);
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  };
  const auto producer_version = [](std::string_view version) {
    return ProtoMessage().Bytes(kOnnxModelProducerVersion, version).bytes();
  };
  EXPECT_NE(head(Family() / "onnx" / "model.onnx").find(producer_version("1.0")),
            std::string::npos);
  EXPECT_NE(head(Family() / "onnx-ft" / "model.onnx").find(producer_version("1.0.1")),
            std::string::npos);
}

TEST_F(ModelFamilyFormatsTest, CompanionFilesAreTheBasesAndTfjsConfigSaysFloat32) {
  const std::string config = ReadText(Family() / "base" / "config.json");
  const std::string tokenizer = ReadText(Family() / "base" / "tokenizer.json");
  for (const std::string& variant : kFormatVariants) {
    EXPECT_EQ(ReadText(Family() / variant / "tokenizer.json"), tokenizer) << variant;
    if (variant.starts_with("tfjs")) {
      boost::json::object tfjs_config =
          boost::json::parse(ReadText(Family() / variant / "config.json")).as_object();
      EXPECT_EQ(tfjs_config.at("torch_dtype").as_string(), "float32");
      tfjs_config["torch_dtype"] = "bfloat16";
      EXPECT_EQ(tfjs_config, boost::json::parse(config).as_object());
    } else {
      EXPECT_EQ(ReadText(Family() / variant / "config.json"), config) << variant;
    }
  }
}

TEST_F(ModelFamilyFormatsTest, RewritingTfjsAtASmallerSizeRemovesTheEarlierShards) {
  SynthOptions options;
  options.out_dir = *dir_ / "rewrite";
  options.size_bytes = kSmallModelBytes;
  options.variants = {"tfjs"};
  ASSERT_TRUE(WriteModelFamily(options).has_value());
  ASSERT_TRUE(fs::exists(options.out_dir / "tfjs" / "group1-shard2of2.bin"));
  options.size_bytes = kMinWeightBytes;
  Result<std::vector<VariantReport>> reports = WriteModelFamily(options);
  ASSERT_TRUE(reports.has_value()) << reports.error().message;
  const std::vector<std::string>& files = reports->at(0).files;
  EXPECT_EQ(files, (std::vector<std::string>{"model.json", "group1-shard1of1.bin", "config.json",
                                             "tokenizer.json"}));
  std::set<std::string> on_disk;
  for (const auto& entry : fs::directory_iterator(options.out_dir / "tfjs")) {
    on_disk.insert(entry.path().filename().string());
  }
  EXPECT_EQ(on_disk, std::set<std::string>(files.begin(), files.end()));
  EXPECT_EQ(ReadStoredTensors(options.out_dir / "tfjs", {}).size(),
            reports->at(0).shared_with_base.size() + reports->at(0).changed.size())
      << "model.json maps every tensor onto the one shard";
}

}  // namespace
}  // namespace mei::tools
