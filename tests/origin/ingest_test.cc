#include "origin/ingest.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json.hpp>
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
  // Named once, by the path the operator gave: "<dir>/broken/model.safetensors: <why>".
  const std::string source = (dir_ / "broken" / "model.safetensors").string();
  EXPECT_EQ(report.error().message.rfind(source + ": ", 0), 0u) << report.error().message;
  EXPECT_EQ(report.error().message.find("model.safetensors", source.size()), std::string::npos)
      << report.error().message;
  auto manifest = store_.manifests->Get("test/broken", "main");
  ASSERT_FALSE(manifest);
  EXPECT_EQ(manifest.error().code, Errc::kModelNotFound);
}

struct BadOptions {
  const char* name;
  void (*spoil)(IngestOptions&);
  Errc code;
};

TEST_F(IngestTest, BadOptionsAreRejectedBeforeAnyWork) {
  WriteFile(dir_ / "in" / "a.txt", "hello");
  auto files = CollectInputs({dir_ / "in"});
  ASSERT_TRUE(files);
  const BadOptions cases[] = {
      {"model escaping", [](IngestOptions& o) { o.model = "../etc"; }, Errc::kBadModelName},
      {"revision escaping", [](IngestOptions& o) { o.revision = "../main"; }, Errc::kBadRequest},
      {"zstd level too high",
       [](IngestOptions& o) { o.encoding.zstd_level = kMaxIngestZstdLevel + 1; },
       Errc::kBadRequest},
      {"zstd level too low",
       [](IngestOptions& o) { o.encoding.zstd_level = kMinIngestZstdLevel - 1; },
       Errc::kBadRequest},
      {"min saving above 1", [](IngestOptions& o) { o.encoding.min_saving = 1.01; },
       Errc::kBadRequest},
      {"min saving below 0", [](IngestOptions& o) { o.encoding.min_saving = -0.01; },
       Errc::kBadRequest},
      {"empty max block", [](IngestOptions& o) { o.chunking.max_block = 0; }, Errc::kBadRequest},
  };
  for (const BadOptions& c : cases) {
    SCOPED_TRACE(c.name);
    IngestOptions options;
    options.model = "org/name";
    c.spoil(options);
    EXPECT_EQ(Ingest(store_, *files, options).error().code, c.code);
  }
  EXPECT_EQ(store_.blocks->block_count(), 0u);

  IngestOptions extremes;  // the ends of each range are accepted
  extremes.model = "org/name";
  extremes.encoding.zstd_level = kMaxIngestZstdLevel;
  extremes.encoding.min_saving = 1;
  extremes.chunking.max_block = 1;
  EXPECT_TRUE(Ingest(store_, *files, extremes));
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
  EXPECT_EQ(missing.error().code, Errc::kFileNotFound);
  EXPECT_EQ(CollectInputs({dir_ / "x" / "a.txt" / "below-a-file"}).error().code,
            Errc::kFileNotFound);
  auto clash = CollectInputs({dir_ / "x" / "a.txt", dir_ / "y" / "a.txt"});
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code, Errc::kBadRequest);
  fs::create_directories(dir_ / "empty");
  EXPECT_FALSE(CollectInputs({dir_ / "empty"}));
}

TEST_F(IngestTest, CollectInputsRefusesAnInputThatIsNeitherAFileNorADirectory) {
  ASSERT_EQ(mkfifo((dir_ / "fifo").c_str(), 0600), 0);  // opening it would wait for a writer
  auto fifo = CollectInputs({dir_ / "fifo"});
  ASSERT_FALSE(fifo);
  EXPECT_EQ(fifo.error().code, Errc::kBadRequest);
  EXPECT_NE(fifo.error().message.find("fifo"), std::string::npos) << fifo.error().message;
}

TEST_F(IngestTest, JsonReportNamesTheRevisionAndCarriesEveryCount) {
  Synth({"base", "ft-last"});
  ASSERT_TRUE(IngestDir("base", "test/base"));
  auto report = IngestDir("ft-last", "test/ft");
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_GT(report->dedup_raw_bytes, 0u);
  const boost::json::object json = boost::json::parse(ToJson(*report)).as_object();
  EXPECT_EQ(json.size(), 14u) << ToJson(*report);
  EXPECT_EQ(json.at("model").as_string(), "test/ft");
  EXPECT_EQ(json.at("revision").as_string(), "main");
  EXPECT_EQ(json.at("commit").as_string(), report->manifest.commit.Hex());
  EXPECT_EQ(json.at("files"), report->files);
  EXPECT_EQ(json.at("tensors"), report->tensors);
  EXPECT_EQ(json.at("blocks"), report->blocks);
  EXPECT_EQ(json.at("new_blocks"), report->new_blocks);
  EXPECT_EQ(json.at("raw_bytes"), report->raw_bytes);
  EXPECT_EQ(json.at("new_raw_bytes"), report->new_raw_bytes);
  EXPECT_EQ(json.at("dedup_raw_bytes"), report->dedup_raw_bytes);
  EXPECT_EQ(json.at("stored_bytes"), report->stored_bytes);
  EXPECT_DOUBLE_EQ(json.at("seconds").as_double(), report->seconds);
  EXPECT_EQ(json.at("notes").as_array().size(), report->notes.size());
  const boost::json::object& formats = json.at("formats").as_object();
  EXPECT_EQ(formats.size(), report->formats.size());
  for (const FormatReport& format : report->formats) {
    SCOPED_TRACE(format.format);
    const boost::json::object& entry = formats.at(format.format).as_object();
    EXPECT_EQ(entry.size(), 7u);
    EXPECT_EQ(entry.at("files"), format.files);
    EXPECT_EQ(entry.at("tensors"), format.tensors);
    EXPECT_EQ(entry.at("blocks"), format.blocks);
    EXPECT_EQ(entry.at("raw_bytes"), format.raw_bytes);
    EXPECT_EQ(entry.at("new_raw_bytes"), format.new_raw_bytes);
    EXPECT_EQ(entry.at("dedup_raw_bytes"), format.dedup_raw_bytes);
    EXPECT_EQ(entry.at("stored_bytes"), format.stored_bytes);
  }
}

// How each kind of file was cut and deduplicated, for an operator: a fine-tune's safetensors
// shares most of its base's bytes, its small JSON files (cut as "other") share what did not
// change, and the figures by format add up to the totals.
TEST_F(IngestTest, ReportSplitsItsFiguresByFormatAndTheyAddUpToTheTotals) {
  Synth({"base", "ft-last"});
  ASSERT_TRUE(IngestDir("base", "test/base"));
  auto report = IngestDir("ft-last", "test/ft");
  ASSERT_TRUE(report) << report.error().message;
  FormatReport sum;
  std::set<std::string> names;
  for (const FormatReport& format : report->formats) {
    EXPECT_TRUE(names.insert(format.format).second) << format.format << " listed twice";
    EXPECT_GT(format.files, 0u) << format.format;
    EXPECT_EQ(format.new_raw_bytes + format.dedup_raw_bytes, format.raw_bytes) << format.format;
    sum.files += format.files;
    sum.tensors += format.tensors;
    sum.blocks += format.blocks;
    sum.raw_bytes += format.raw_bytes;
    sum.new_raw_bytes += format.new_raw_bytes;
    sum.dedup_raw_bytes += format.dedup_raw_bytes;
    sum.stored_bytes += format.stored_bytes;
  }
  EXPECT_EQ(names.count("safetensors"), 1u);
  EXPECT_EQ(names.count("gguf"), 0u) << "no GGUF file was ingested";
  EXPECT_EQ(sum.files, report->files);
  EXPECT_EQ(sum.tensors, report->tensors);
  EXPECT_EQ(sum.blocks, report->blocks);
  EXPECT_EQ(sum.raw_bytes, report->raw_bytes);
  EXPECT_EQ(sum.new_raw_bytes, report->new_raw_bytes);
  EXPECT_EQ(sum.dedup_raw_bytes, report->dedup_raw_bytes);
  EXPECT_EQ(sum.stored_bytes, report->stored_bytes);
  for (const FormatReport& format : report->formats) {
    if (format.format != "safetensors") continue;
    EXPECT_EQ(format.tensors, report->tensors) << "only safetensors files have tensors here";
    EXPECT_GT(format.dedup_raw_bytes, format.raw_bytes / 2) << "a fine-tune shares most bytes";
  }
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
