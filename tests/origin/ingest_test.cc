#include "origin/ingest.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/byte_source.h"
#include "common/digest.h"
#include "tools/synth/model_family.h"

namespace mei::origin {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class IngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("ingest_test_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = OpenStore(dir_ / "store").value();
  }
  void TearDown() override {
    store_ = {};
    fs::remove_all(dir_);
  }

  // Writes the synthetic family (small, fast) once per test.
  std::vector<tools::VariantReport> Synth(std::vector<std::string> variants) {
    tools::SynthOptions options;
    options.out_dir = dir_ / "models";
    options.size_bytes = 6ull << 20;
    options.seed = 42;
    options.variants = std::move(variants);
    return tools::WriteModelFamily(options).value();
  }

  Result<IngestReport> IngestDir(const std::string& variant, const std::string& model,
                                 std::uint64_t max_block = 1ull << 20) {
    IngestOptions options;
    options.model = model;
    options.chunking.max_block = max_block;
    auto files = CollectInputs({dir_ / "models" / variant});
    if (!files) return files.error();
    return Ingest(store_, *files, options);
  }

  // Reassembles `file` from the store's blocks.
  std::string Reassemble(const ManifestFile& file) {
    std::string out;
    std::vector<std::byte> raw;
    for (const ManifestBlock& block : file.blocks) {
      raw.clear();
      auto read = store_.blocks->ReadRaw(block.id, raw);
      EXPECT_TRUE(read) << read.error().message;
      out.append(reinterpret_cast<const char*>(raw.data()), raw.size());
    }
    return out;
  }

  static std::string ReadWhole(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_;
  Store store_;
};

TEST_F(IngestTest, EveryFileOfTheFamilyReassemblesByteIdentical) {
  const auto variants = Synth(tools::kAllVariants);
  for (const auto& variant : variants) {
    auto report = IngestDir(variant.variant, "test/" + variant.variant);
    ASSERT_TRUE(report) << variant.variant << ": " << report.error().message;
    auto manifest = store_.manifests->Get("test/" + variant.variant, "main");
    ASSERT_TRUE(manifest) << manifest.error().message;
    EXPECT_EQ(manifest->files.size(), variant.files.size());
    for (const ManifestFile& file : manifest->files) {
      const std::string original = ReadWhole(dir_ / "models" / variant.variant / file.path);
      const std::string rebuilt = Reassemble(file);
      ASSERT_EQ(rebuilt.size(), original.size()) << file.path;
      EXPECT_TRUE(rebuilt == original) << variant.variant << "/" << file.path;
      EXPECT_EQ(Sha256Of(std::as_bytes(std::span(rebuilt))), file.sha256) << file.path;
    }
  }
}

TEST_F(IngestTest, FineTuneStoresExactlyTheBlocksOfItsChangedTensors) {
  const auto variants = Synth({"base", "ft-last"});
  auto base = IngestDir("base", "test/base");
  ASSERT_TRUE(base) << base.error().message;
  EXPECT_EQ(base->dedup_raw_bytes + base->new_raw_bytes, base->raw_bytes);

  auto ft = IngestDir("ft-last", "test/ft-last");
  ASSERT_TRUE(ft) << ft.error().message;
  const std::set<std::string> changed(variants[1].changed.begin(), variants[1].changed.end());
  ASSERT_FALSE(changed.empty());
  std::uint64_t expected_blocks = 0;
  std::uint64_t expected_bytes = 0;
  for (const ManifestFile& file : ft->manifest.files) {
    for (const TensorEntry& t : file.tensors) {
      if (!changed.contains(t.name)) continue;
      expected_blocks += t.block_count;
      for (std::uint32_t i = t.first_block; i < t.first_block + t.block_count; ++i) {
        expected_bytes += file.blocks[i].size;
      }
    }
  }
  EXPECT_EQ(ft->new_blocks, expected_blocks);
  EXPECT_EQ(ft->new_raw_bytes, expected_bytes);
  EXPECT_EQ(ft->dedup_raw_bytes, ft->raw_bytes - expected_bytes);
  EXPECT_LT(ft->new_raw_bytes, ft->raw_bytes / 2);
}

TEST_F(IngestTest, IngestingTheSameFilesAgainStoresNothingNew) {
  Synth({"base"});
  auto first = IngestDir("base", "test/base");
  ASSERT_TRUE(first) << first.error().message;
  const std::uint64_t stored = store_.blocks->stored_bytes();
  auto second = IngestDir("base", "test/base");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->new_blocks, 0u);
  EXPECT_EQ(second->new_raw_bytes, 0u);
  EXPECT_EQ(second->dedup_raw_bytes, second->raw_bytes);
  EXPECT_EQ(store_.blocks->stored_bytes(), stored);
  EXPECT_EQ(first->stored_bytes, stored);
}

TEST_F(IngestTest, GgufExportSharesTensorBlocksWithTheSafetensorsBase) {
  Synth({"base", "gguf"});
  ASSERT_TRUE(IngestDir("base", "test/base", 4ull << 20));
  auto gguf = IngestDir("gguf", "test/gguf", 4ull << 20);
  ASSERT_TRUE(gguf) << gguf.error().message;
  // Only the GGUF header block is new: tensor data, config and tokenizer are all shared.
  EXPECT_EQ(gguf->new_blocks, 1u);
}

void WriteFile(const fs::path& path, std::string_view bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST_F(IngestTest, ABrokenFilePublishesNothing) {
  Synth({"base"});
  const fs::path models = dir_ / "models" / "base";
  std::string weights = ReadWhole(models / "model.safetensors");
  WriteFile(dir_ / "broken" / "config.json", "{}");
  WriteFile(dir_ / "broken" / "model.safetensors",
            std::string_view(weights).substr(0, weights.size() / 2));
  IngestOptions options;
  options.model = "test/broken";
  auto files = CollectInputs({dir_ / "broken"});
  ASSERT_TRUE(files);
  auto report = Ingest(store_, *files, options);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, Errc::kBadSafetensors);
  EXPECT_NE(report.error().message.find("model.safetensors"), std::string::npos);
  auto manifest = store_.manifests->Get("test/broken", "main");
  ASSERT_FALSE(manifest);
  EXPECT_EQ(manifest.error().code, Errc::kModelNotFound);
}

TEST_F(IngestTest, BadModelOrRevisionNamesAreRejectedBeforeAnyWork) {
  WriteFile(dir_ / "in" / "a.txt", "hello");
  auto files = CollectInputs({dir_ / "in"});
  ASSERT_TRUE(files);
  IngestOptions options;
  options.model = "../etc";
  EXPECT_EQ(Ingest(store_, *files, options).error().code, Errc::kBadModelName);
  options.model = "org/name";
  options.revision = "../main";
  EXPECT_EQ(Ingest(store_, *files, options).error().code, Errc::kBadRequest);
  EXPECT_EQ(store_.blocks->block_count(), 0u);
}

TEST_F(IngestTest, CollectInputsWalksDirectoriesSkipsGitAndSortsPaths) {
  WriteFile(dir_ / "in" / "b.txt", "b");
  WriteFile(dir_ / "in" / "sub" / "a.txt", "a");
  WriteFile(dir_ / "in" / ".git" / "HEAD", "ref");
  WriteFile(dir_ / "in" / ".gitattributes", "*.safetensors filter=lfs");
  auto files = CollectInputs({dir_ / "in"});
  ASSERT_TRUE(files) << files.error().message;
  std::vector<std::string> paths;
  for (const InputFile& f : *files) paths.push_back(f.path);
  EXPECT_EQ(paths, (std::vector<std::string>{".gitattributes", "b.txt", "sub/a.txt"}));
}

TEST_F(IngestTest, CollectInputsRejectsMissingInputsAndCollisions) {
  WriteFile(dir_ / "x" / "a.txt", "1");
  WriteFile(dir_ / "y" / "a.txt", "2");
  auto missing = CollectInputs({dir_ / "nope"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kIo);
  auto clash = CollectInputs({dir_ / "x" / "a.txt", dir_ / "y" / "a.txt"});
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code, Errc::kBadRequest);
  fs::create_directories(dir_ / "empty");
  EXPECT_FALSE(CollectInputs({dir_ / "empty"}));
}

TEST_F(IngestTest, ReportCountsAddUp) {
  Synth({"base"});
  auto report = IngestDir("base", "test/base");
  ASSERT_TRUE(report) << report.error().message;
  std::uint64_t raw = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "models" / "base"))
    raw += entry.file_size();
  EXPECT_EQ(report->raw_bytes, raw);
  EXPECT_EQ(report->files, 3u);
  EXPECT_EQ(report->new_blocks, store_.blocks->block_count());
  EXPECT_EQ(report->stored_bytes, store_.blocks->stored_bytes());
  EXPECT_LT(report->stored_bytes, report->new_raw_bytes);  // BF16 weights compress
  EXPECT_GT(report->tensors, 10u);
}

}  // namespace
}  // namespace mei::origin
