#include "tools/synth/model_family.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/byte_source.h"
#include "common/digest.h"
#include "common/formats/gguf.h"
#include "common/formats/safetensors.h"
#include "tests/tools/family_files.h"
#include "tools/synth/weights.h"

namespace mei::tools {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kSmallModelBytes = 4ull << 20;

std::string FileSha256(const fs::path& path) {
  Result<FileByteSource> file = FileByteSource::Open(path);
  EXPECT_TRUE(file.has_value()) << path;
  if (!file) return {};
  Sha256Hasher hasher;
  std::vector<std::byte> chunk(1 << 20);
  for (std::uint64_t offset = 0; offset < file->size(); offset += chunk.size()) {
    const std::span<std::byte> part(chunk.data(),
                                    std::min<std::uint64_t>(chunk.size(), file->size() - offset));
    EXPECT_TRUE(file->ReadAt(offset, part).has_value());
    hasher.Update(part);
  }
  return hasher.Finish().Hex();
}

// Every file under `dir`, relative path -> SHA-256.
std::map<std::string, std::string> HashTree(const fs::path& dir) {
  std::map<std::string, std::string> hashes;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      hashes[fs::relative(entry.path(), dir).string()] = FileSha256(entry.path());
    }
  }
  return hashes;
}

struct ParsedSafetensors {
  fs::path path;
  SafetensorsHeader header;

  const TensorEntry& Tensor(const std::string& name) const {
    const auto it = std::find_if(header.tensors.begin(), header.tensors.end(),
                                 [&](const TensorEntry& entry) { return entry.name == name; });
    EXPECT_NE(it, header.tensors.end()) << name;
    return *it;
  }
  std::vector<std::byte> Bytes(const TensorEntry& tensor) const {
    return ReadRange(path, tensor.offset, tensor.size);
  }
};

ParsedSafetensors ParseSafetensorsFile(const fs::path& path) {
  Result<FileByteSource> file = FileByteSource::Open(path);
  EXPECT_TRUE(file.has_value()) << path;
  Result<SafetensorsHeader> header = ParseSafetensors(*file);
  EXPECT_TRUE(header.has_value()) << path << ": " << header.error().message;
  return {path, header ? *header : SafetensorsHeader{}};
}

class ModelFamilyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(MakeTempDir());
    SynthOptions options;
    options.out_dir = *dir_ / "family";
    options.size_bytes = kSmallModelBytes;
    options.seed = 7;
    Result<std::vector<VariantReport>> reports = WriteModelFamily(options);
    ASSERT_TRUE(reports.has_value()) << reports.error().message;
    reports_ = new std::vector<VariantReport>(std::move(*reports));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete reports_;
  }

  static fs::path Family() { return *dir_ / "family"; }
  static const VariantReport& Report(const std::string& variant) {
    const auto it = std::find_if(reports_->begin(), reports_->end(),
                                 [&](const VariantReport& r) { return r.variant == variant; });
    EXPECT_NE(it, reports_->end()) << variant;
    return *it;
  }
  static ParsedSafetensors Weights(const std::string& variant) {
    return ParseSafetensorsFile(Family() / variant / "model.safetensors");
  }

  static fs::path* dir_;
  static std::vector<VariantReport>* reports_;
};

fs::path* ModelFamilyTest::dir_ = nullptr;
std::vector<VariantReport>* ModelFamilyTest::reports_ = nullptr;

TEST_F(ModelFamilyTest, WritesEveryDefaultVariantInOrderWithItsFilesAndSizes) {
  ASSERT_EQ(reports_->size(), kDefaultVariants.size());
  for (std::size_t i = 0; i < kDefaultVariants.size(); ++i) {
    const VariantReport& report = (*reports_)[i];
    EXPECT_EQ(report.variant, kDefaultVariants[i]);
    const std::string weights = report.variant == "gguf" ? "model.gguf" : "model.safetensors";
    EXPECT_EQ(report.files, (std::vector<std::string>{weights, "config.json", "tokenizer.json"}));
    std::uint64_t bytes = 0;
    for (const std::string& file : report.files) {
      bytes += fs::file_size(Family() / report.variant / file);
    }
    EXPECT_EQ(report.bytes, bytes) << report.variant;
    std::set<std::string> on_disk;
    for (const auto& entry : fs::directory_iterator(Family() / report.variant)) {
      on_disk.insert(entry.path().filename().string());
    }
    EXPECT_EQ(on_disk, std::set<std::string>(report.files.begin(), report.files.end()))
        << "no temporary files are left behind in " << report.variant;
  }
}

TEST_F(ModelFamilyTest, EverySafetensorsFileParsesWithLlamaNamesAndFormatMetadata) {
  const std::map<std::string, std::string> dtypes = {
      {"base", "BF16"}, {"ft-last", "BF16"}, {"lora-merged", "BF16"}, {"v2-embed", "BF16"},
      {"f16", "F16"},   {"f32", "F32"},      {"unrelated", "BF16"}};
  for (const auto& [variant, dtype] : dtypes) {
    const ParsedSafetensors parsed = Weights(variant);
    EXPECT_EQ(parsed.header.metadata,
              (std::vector<std::pair<std::string, std::string>>{{"format", "pt"}}));
    EXPECT_EQ(parsed.header.data_start % 8, 0u);
    std::uint64_t next_offset = parsed.header.data_start;
    for (const TensorEntry& tensor : parsed.header.tensors) {
      EXPECT_EQ(tensor.dtype, dtype) << tensor.name;
      EXPECT_EQ(tensor.offset, next_offset) << "data is contiguous at " << tensor.name;
      next_offset = tensor.offset + tensor.size;
    }
    EXPECT_EQ(next_offset, fs::file_size(parsed.path)) << variant;
    const TensorEntry& embedding = parsed.Tensor("model.embed_tokens.weight");
    const TensorEntry& up = parsed.Tensor("model.layers.0.mlp.up_proj.weight");
    const TensorEntry& down = parsed.Tensor("model.layers.0.mlp.down_proj.weight");
    EXPECT_EQ(up.shape[1], embedding.shape[1]);
    EXPECT_EQ(down.shape, (std::vector<std::uint64_t>{up.shape[1], up.shape[0]}));
    EXPECT_EQ(parsed.Tensor("model.norm.weight").shape,
              std::vector<std::uint64_t>{embedding.shape[1]});
    EXPECT_EQ(parsed.Tensor("lm_head.weight").shape, embedding.shape);
  }
}

TEST_F(ModelFamilyTest, ConfigMatchesTheTensorShapes) {
  const ParsedSafetensors base = Weights("base");
  const boost::json::object config =
      boost::json::parse(ReadText(Family() / "base" / "config.json")).as_object();
  const TensorEntry& embedding = base.Tensor("model.embed_tokens.weight");
  EXPECT_EQ(config.at("model_type").as_string(), "llama");
  EXPECT_EQ(config.at("vocab_size").as_int64(), static_cast<std::int64_t>(embedding.shape[0]));
  EXPECT_EQ(config.at("hidden_size").as_int64(), static_cast<std::int64_t>(embedding.shape[1]));
  EXPECT_EQ(config.at("intermediate_size").as_int64(),
            static_cast<std::int64_t>(base.Tensor("model.layers.0.mlp.up_proj.weight").shape[0]));
  const auto layers = static_cast<std::uint64_t>(config.at("num_hidden_layers").as_int64());
  EXPECT_EQ(base.header.tensors.size(), 3 + 9 * layers);
  EXPECT_EQ(config.at("torch_dtype").as_string(), "bfloat16");

  const boost::json::object f32_config =
      boost::json::parse(ReadText(Family() / "f32" / "config.json")).as_object();
  EXPECT_EQ(f32_config.at("torch_dtype").as_string(), "float32");
  const boost::json::object f16_config =
      boost::json::parse(ReadText(Family() / "f16" / "config.json")).as_object();
  EXPECT_EQ(f16_config.at("torch_dtype").as_string(), "float16");
  for (const std::string variant : {"f16", "f32"}) {
    boost::json::object config_as_base =
        boost::json::parse(ReadText(Family() / variant / "config.json")).as_object();
    config_as_base["torch_dtype"] = "bfloat16";
    EXPECT_EQ(config_as_base, config) << variant << " differs from base only in torch_dtype";
    EXPECT_EQ(ReadText(Family() / variant / "tokenizer.json"),
              ReadText(Family() / "base" / "tokenizer.json"));
  }
  for (const std::string variant : {"ft-last", "lora-merged", "v2-embed", "gguf"}) {
    EXPECT_EQ(ReadText(Family() / variant / "config.json"),
              ReadText(Family() / "base" / "config.json"));
    EXPECT_EQ(ReadText(Family() / variant / "tokenizer.json"),
              ReadText(Family() / "base" / "tokenizer.json"));
  }
}

TEST_F(ModelFamilyTest, DerivedVariantsDifferFromBaseExactlyInTheReportedTensors) {
  const ParsedSafetensors base = Weights("base");
  for (const std::string variant : {"base", "ft-last", "lora-merged", "v2-embed"}) {
    const ParsedSafetensors derived = Weights(variant);
    ASSERT_EQ(derived.header.tensors.size(), base.header.tensors.size());
    std::set<std::string> shared;
    std::set<std::string> changed;
    for (const TensorEntry& tensor : base.header.tensors) {
      const TensorEntry& other = derived.Tensor(tensor.name);
      EXPECT_EQ(other.offset, tensor.offset);
      EXPECT_EQ(other.shape, tensor.shape);
      (derived.Bytes(other) == base.Bytes(tensor) ? shared : changed).insert(tensor.name);
    }
    const VariantReport& report = Report(variant);
    EXPECT_EQ(report.base_variant, "base");
    EXPECT_EQ(shared,
              std::set<std::string>(report.shared_with_base.begin(), report.shared_with_base.end()))
        << variant;
    EXPECT_EQ(changed, std::set<std::string>(report.changed.begin(), report.changed.end()))
        << variant;
    EXPECT_EQ(ReadRange(derived.path, 0, derived.header.data_start),
              ReadRange(base.path, 0, base.header.data_start))
        << "the header of " << variant << " is the base's";
  }
}

TEST_F(ModelFamilyTest, VariantsChangeWhatTheirNamesSay) {
  const std::uint64_t layers = (Weights("base").header.tensors.size() - 3) / 9;
  const std::uint64_t tuned = std::max<std::uint64_t>(1, layers / 4);
  EXPECT_EQ(Report("base").changed, std::vector<std::string>{});
  EXPECT_EQ(Report("ft-last").changed.size(), tuned * 9);
  for (const std::string& name : Report("ft-last").changed) {
    const std::uint64_t layer = std::stoull(name.substr(std::string("model.layers.").size()));
    EXPECT_GE(layer, layers - tuned) << name;
  }
  EXPECT_EQ(Report("lora-merged").changed.size(), layers * 4);
  for (const std::string& name : Report("lora-merged").changed) {
    EXPECT_NE(name.find(".self_attn."), std::string::npos) << name;
  }
  EXPECT_EQ(Report("v2-embed").changed, std::vector<std::string>{"model.embed_tokens.weight"});
  EXPECT_EQ(Report("f16").shared_with_base, std::vector<std::string>{});
  EXPECT_EQ(Report("f16").changed.size(), Weights("base").header.tensors.size());
  EXPECT_EQ(Report("f32").shared_with_base, std::vector<std::string>{});
  EXPECT_EQ(Report("gguf").changed, std::vector<std::string>{});
  EXPECT_EQ(Report("unrelated").shared_with_base, std::vector<std::string>{});
}

TEST_F(ModelFamilyTest, EveryReportMatchesAByteComparisonWithBase) {
  std::vector<std::string> order;
  for (const TensorEntry& tensor : Weights("base").header.tensors) order.push_back(tensor.name);
  const std::map<std::string, StoredTensor> base = ReadStoredTensors(Family() / "base", order);
  for (const VariantReport& report : *reports_) {
    EXPECT_EQ(report.base_variant, "base") << report.variant;
    const std::map<std::string, StoredTensor> tensors =
        ReadStoredTensors(Family() / report.variant, order);
    std::set<std::string> all;
    for (const auto& [name, tensor] : tensors) all.insert(name);
    std::set<std::string> reported(report.shared_with_base.begin(), report.shared_with_base.end());
    EXPECT_EQ(NamesWithSameBytes(tensors, base), reported) << report.variant;
    reported.insert(report.changed.begin(), report.changed.end());
    EXPECT_EQ(reported.size(), report.shared_with_base.size() + report.changed.size())
        << report.variant << " reports a tensor as both shared and changed";
    EXPECT_EQ(reported, all) << report.variant << " reports each of its tensors once";
  }
}

TEST(ModelFamilyDefaultsTest, WithoutVariantsTheSafetensorsAndGgufFamilyIsWritten) {
  EXPECT_EQ(SynthOptions{}.variants, kDefaultVariants);
  std::vector<std::string> all = kDefaultVariants;
  all.insert(all.end(), kFormatVariants.begin(), kFormatVariants.end());
  EXPECT_EQ(kAllVariants, all);

  const fs::path dir = MakeTempDir();
  SynthOptions options;
  options.out_dir = dir;
  options.size_bytes = kMinWeightBytes;
  Result<std::vector<VariantReport>> reports = WriteModelFamily(options);
  ASSERT_TRUE(reports.has_value()) << reports.error().message;
  std::vector<std::string> written;
  for (const VariantReport& report : *reports) written.push_back(report.variant);
  EXPECT_EQ(written, kDefaultVariants);
  std::set<std::string> folders;
  for (const auto& entry : fs::directory_iterator(dir)) {
    folders.insert(entry.path().filename().string());
  }
  EXPECT_EQ(folders, std::set<std::string>(kDefaultVariants.begin(), kDefaultVariants.end()));
  fs::remove_all(dir);
}

TEST_F(ModelFamilyTest, GgufParsesAndItsTensorBytesAreTheBases) {
  Result<FileByteSource> file = FileByteSource::Open(Family() / "gguf" / "model.gguf");
  ASSERT_TRUE(file.has_value());
  Result<GgufFile> gguf = ParseGguf(*file);
  ASSERT_TRUE(gguf.has_value()) << gguf.error().message;
  EXPECT_EQ(gguf->version, 3u);
  EXPECT_EQ(gguf->alignment, 32u);

  std::map<std::string, const GgufValue*> metadata;
  for (const auto& [key, value] : gguf->metadata) metadata[key] = &value;
  ASSERT_TRUE(metadata.contains("general.architecture"));
  EXPECT_EQ(std::get<std::string>(metadata["general.architecture"]->value), "llama");
  ASSERT_TRUE(metadata.contains("tokenizer.ggml.tokens"));
  const GgufValue& tokens = *metadata["tokenizer.ggml.tokens"];
  EXPECT_EQ(tokens.element_type, GgufType::kString);

  const ParsedSafetensors base = Weights("base");
  const TensorEntry& embedding = base.Tensor("model.embed_tokens.weight");
  EXPECT_EQ(std::get<std::vector<GgufValue>>(tokens.value).size(), embedding.shape[0]);
  EXPECT_EQ(std::get<std::uint64_t>(metadata["llama.embedding_length"]->value), embedding.shape[1]);

  ASSERT_EQ(gguf->tensors.size(), base.header.tensors.size());
  std::map<std::string, const TensorEntry*> by_name;
  for (const TensorEntry& tensor : gguf->tensors) by_name[tensor.name] = &tensor;
  for (const TensorEntry& tensor : base.header.tensors) {
    const std::string name = GgufName(tensor.name);
    ASSERT_TRUE(by_name.contains(name)) << name;
    const TensorEntry& exported = *by_name[name];
    EXPECT_EQ(exported.dtype, "BF16");
    EXPECT_EQ(exported.shape,
              std::vector<std::uint64_t>(tensor.shape.rbegin(), tensor.shape.rend()));
    EXPECT_EQ(exported.offset % 32, 0u);
    EXPECT_EQ(ReadRange(file->name(), exported.offset, exported.size), base.Bytes(tensor)) << name;
  }
}

TEST_F(ModelFamilyTest, F32HoldsTheBaseValuesWidenedExactly) {
  const ParsedSafetensors base = Weights("base");
  const ParsedSafetensors f32 = Weights("f32");
  for (const TensorEntry& tensor : base.header.tensors) {
    const TensorEntry& wide = f32.Tensor(tensor.name);
    ASSERT_EQ(wide.shape, tensor.shape);
    ASSERT_EQ(wide.size, tensor.size * 2);
    const std::vector<std::byte> narrow_bytes = base.Bytes(tensor);
    const std::vector<std::byte> wide_bytes = f32.Bytes(wide);
    for (std::size_t i = 0; i < narrow_bytes.size() / 2; ++i) {
      std::uint16_t narrow;
      float value;
      std::memcpy(&narrow, narrow_bytes.data() + 2 * i, 2);
      std::memcpy(&value, wide_bytes.data() + 4 * i, 4);
      ASSERT_EQ(value, Bf16ToFloat(narrow)) << tensor.name << " element " << i;
    }
  }
}

TEST_F(ModelFamilyTest, F16HoldsTheBaseValuesConvertedToF16InTheBasesLayout) {
  const ParsedSafetensors base = Weights("base");
  const ParsedSafetensors f16 = Weights("f16");
  ASSERT_EQ(f16.header.tensors.size(), base.header.tensors.size());
  EXPECT_EQ(fs::file_size(f16.path) - f16.header.data_start,
            fs::file_size(base.path) - base.header.data_start);
  std::uint64_t subnormal = 0;
  std::uint64_t elements = 0;
  for (std::size_t t = 0; t < base.header.tensors.size(); ++t) {
    const TensorEntry& tensor = base.header.tensors[t];
    const TensorEntry& half = f16.header.tensors[t];
    ASSERT_EQ(half.name, tensor.name) << "tensors are in the base's order";
    EXPECT_EQ(half.dtype, "F16");
    ASSERT_EQ(half.shape, tensor.shape);
    ASSERT_EQ(half.size, tensor.size);
    EXPECT_EQ(half.offset - f16.header.data_start, tensor.offset - base.header.data_start);
    const std::vector<std::byte> base_bytes = base.Bytes(tensor);
    const std::vector<std::byte> half_bytes = f16.Bytes(half);
    for (std::size_t i = 0; i < base_bytes.size() / 2; ++i) {
      std::uint16_t bf16;
      std::uint16_t f16_bits;
      std::memcpy(&bf16, base_bytes.data() + 2 * i, 2);
      std::memcpy(&f16_bits, half_bytes.data() + 2 * i, 2);
      ASSERT_EQ(f16_bits, FloatToF16(Bf16ToFloat(bf16))) << tensor.name << " element " << i;
      const bool exact = F16ToFloat(f16_bits) == Bf16ToFloat(bf16);
      ASSERT_TRUE(exact || std::abs(Bf16ToFloat(bf16)) < 0x1.0p-14f)
          << tensor.name << " element " << i << " is a normal F16 and must be exact";
      subnormal += exact ? 0 : 1;
      ++elements;
    }
  }
  EXPECT_LT(static_cast<double>(subnormal) / static_cast<double>(elements), 0.005)
      << "only values below F16's smallest normal are rounded";
}

TEST_F(ModelFamilyTest, WeightsLookLikeAnInitialisedModel) {
  const ParsedSafetensors base = Weights("base");
  const auto stats = [&](const std::string& name) {
    const std::vector<std::byte> bytes = base.Bytes(base.Tensor(name));
    double sum = 0;
    double sum_of_squares = 0;
    const std::size_t count = bytes.size() / 2;
    for (std::size_t i = 0; i < count; ++i) {
      std::uint16_t bits;
      std::memcpy(&bits, bytes.data() + 2 * i, 2);
      const double value = Bf16ToFloat(bits);
      sum += value;
      sum_of_squares += value * value;
    }
    const double mean = sum / static_cast<double>(count);
    return std::pair(mean, std::sqrt(sum_of_squares / static_cast<double>(count) - mean * mean));
  };
  const auto [mean, std_dev] = stats("model.embed_tokens.weight");
  EXPECT_NEAR(mean, 0.0, 5e-4);
  EXPECT_NEAR(std_dev, 0.02, 0.0005);
  const auto [norm_mean, norm_std_dev] = stats("model.norm.weight");
  EXPECT_NEAR(norm_mean, 1.0, 0.01);
  EXPECT_LT(norm_std_dev, 0.05);
}

TEST_F(ModelFamilyTest, UnrelatedSharesNoTensorBytesOrTokenizerWithBase) {
  const ParsedSafetensors base = Weights("base");
  const ParsedSafetensors unrelated = Weights("unrelated");
  std::set<std::string> base_digests;
  for (const TensorEntry& tensor : base.header.tensors) {
    base_digests.insert(Sha256Of(base.Bytes(tensor)).Hex());
  }
  for (const TensorEntry& tensor : unrelated.header.tensors) {
    EXPECT_FALSE(base_digests.contains(Sha256Of(unrelated.Bytes(tensor)).Hex())) << tensor.name;
  }
  EXPECT_NE(base.Tensor("model.embed_tokens.weight").shape,
            unrelated.Tensor("model.embed_tokens.weight").shape);
  EXPECT_NE(ReadText(Family() / "unrelated" / "tokenizer.json"),
            ReadText(Family() / "base" / "tokenizer.json"));
}

TEST_F(ModelFamilyTest, SameSeedWritesIdenticalFilesAndAnotherSeedDifferentOnes) {
  SynthOptions options;
  options.size_bytes = kSmallModelBytes;
  options.seed = 7;
  options.out_dir = *dir_ / "again";
  ASSERT_TRUE(WriteModelFamily(options).has_value());
  EXPECT_EQ(HashTree(options.out_dir), HashTree(Family()));

  options.seed = 8;
  options.out_dir = *dir_ / "other-seed";
  options.variants = {"base", "gguf"};
  ASSERT_TRUE(WriteModelFamily(options).has_value());
  const std::map<std::string, std::string> original = HashTree(Family());
  const std::map<std::string, std::string> other = HashTree(options.out_dir);
  EXPECT_EQ(other.size(), 6u);
  for (const auto& [file, digest] : other) {
    if (file.ends_with("config.json")) continue;  // the dimensions depend on the size only
    EXPECT_NE(digest, original.at(file)) << file;
  }
}

TEST_F(ModelFamilyTest, RewritingReplacesFilesInPlace) {
  SynthOptions options;
  options.size_bytes = kSmallModelBytes;
  options.seed = 7;
  options.out_dir = *dir_ / "rewrite";
  options.variants = {"v2-embed"};
  ASSERT_TRUE(WriteModelFamily(options).has_value());
  options.seed = 9;
  ASSERT_TRUE(WriteModelFamily(options).has_value());
  options.out_dir = *dir_ / "fresh";
  ASSERT_TRUE(WriteModelFamily(options).has_value());
  EXPECT_EQ(HashTree(*dir_ / "rewrite"), HashTree(*dir_ / "fresh"));
}

TEST(ModelFamilySizeTest, SixteenMibRequestGivesABaseWithinAQuarter) {
  const fs::path dir = MakeTempDir();
  SynthOptions options;
  options.out_dir = dir;
  options.size_bytes = 16ull << 20;
  options.variants = {"base"};
  Result<std::vector<VariantReport>> reports = WriteModelFamily(options);
  ASSERT_TRUE(reports.has_value()) << reports.error().message;
  const auto size = static_cast<double>(fs::file_size(dir / "base" / "model.safetensors"));
  EXPECT_NEAR(size, 16.0 * (1 << 20), 0.25 * 16.0 * (1 << 20));
  fs::remove_all(dir);
}

TEST(ModelFamilyErrorsTest, UnknownVariantIsABadRequestAndWritesNothing) {
  const fs::path dir = MakeTempDir();
  SynthOptions options;
  options.out_dir = dir / "out";
  options.variants = {"base", "q4"};
  Result<std::vector<VariantReport>> reports = WriteModelFamily(options);
  ASSERT_FALSE(reports.has_value());
  EXPECT_EQ(reports.error().code, Errc::kBadRequest);
  EXPECT_NE(reports.error().message.find("q4"), std::string::npos);
  EXPECT_FALSE(fs::exists(options.out_dir));
  fs::remove_all(dir);
}

TEST(ModelFamilyErrorsTest, NoVariantsOrASizeOutOfRangeIsABadRequest) {
  SynthOptions options;
  options.out_dir = fs::temp_directory_path() / "mei-synth-never-written";
  options.variants = {};
  EXPECT_EQ(WriteModelFamily(options).error().code, Errc::kBadRequest);
  options.variants = {"base"};
  options.size_bytes = 1000;
  EXPECT_EQ(WriteModelFamily(options).error().code, Errc::kBadRequest);
  EXPECT_FALSE(fs::exists(options.out_dir));
}

TEST(ModelFamilyErrorsTest, OutputUnderARegularFileIsAnIoError) {
  const fs::path dir = MakeTempDir();
  std::ofstream(dir / "file") << "not a folder";
  SynthOptions options;
  options.out_dir = dir / "file" / "out";
  options.size_bytes = kSmallModelBytes;
  Result<std::vector<VariantReport>> reports = WriteModelFamily(options);
  ASSERT_FALSE(reports.has_value());
  EXPECT_EQ(reports.error().code, Errc::kIo);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mei::tools
