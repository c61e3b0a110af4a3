// `mei-origin ingest` and `mei-synth` as real processes: streaming memory, the JSON report, and
// one clear sentence with a non-zero exit for bad input, with nothing published.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/store.h"
#include "tests/integration/process.h"

namespace mei {
namespace {

namespace fs = std::filesystem;
using testing::BinaryPath;
using testing::RunProcess;

class IngestCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("ingest_cli_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  testing::ProcessResult Synth(const std::string& size, const std::string& variants) {
    return RunProcess(
        {BinaryPath("tools/synth/mei-synth").string(), "--out", (dir_ / "models").string(),
         "--size", size, "--seed", "3", "--variants", variants},
        dir_ / "synth");
  }

  testing::ProcessResult IngestCli(const std::string& model, const fs::path& input,
                                   bool json = true) {
    std::vector<std::string> argv = {BinaryPath("origin/mei-origin").string(),
                                     "ingest",
                                     "--store",
                                     (dir_ / "store").string(),
                                     "--model",
                                     model,
                                     input.string()};
    if (json) argv.push_back("--json");
    return RunProcess(argv, dir_ / "ingest");
  }

  void ExpectNothingPublished(const std::string& model) {
    auto store = OpenStore(dir_ / "store");
    ASSERT_TRUE(store) << store.error().message;
    auto manifest = store->manifests->Get(model, "main");
    ASSERT_FALSE(manifest);
    EXPECT_EQ(manifest.error().code, Errc::kModelNotFound);
  }

  static void ExpectOneSentence(const testing::ProcessResult& r) {
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.signal, 0);
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.rfind("mei-origin: ", 0), 0u) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
  }

  fs::path dir_;
};

TEST_F(IngestCliTest, StreamingIngestOfATwoGibFileStaysFarUnderOneGibOfMemory) {
  auto synth = Synth("2GiB", "base");
  ASSERT_EQ(synth.exit_code, 0) << synth.err;
  const fs::path weights = dir_ / "models" / "base" / "model.safetensors";
  ASSERT_GE(fs::file_size(weights), 1900ull << 20);

  auto ingest = IngestCli("test/big", weights);
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  boost::system::error_code ec;
  const auto report = boost::json::parse(ingest.out, ec);
  ASSERT_FALSE(ec) << ingest.out;
  EXPECT_EQ(report.at("raw_bytes").to_number<std::uint64_t>(), fs::file_size(weights));
  EXPECT_EQ(report.at("new_raw_bytes").to_number<std::uint64_t>() +
                report.at("dedup_raw_bytes").to_number<std::uint64_t>(),
            fs::file_size(weights));
  EXPECT_LT(ingest.max_rss_bytes, 1ull << 30);
  std::printf("ingest of %.2f GiB: peak RSS %.1f MiB, %.1f s\n",
              static_cast<double>(fs::file_size(weights)) / (1 << 30),
              static_cast<double>(ingest.max_rss_bytes) / (1 << 20), ingest.seconds);
}

// The demo's path: every variant ingested by its own process into one store, then every file of
// every manifest rebuilt from the stored blocks and compared with its source.
TEST_F(IngestCliTest, EveryVariantIngestedByItsOwnProcessReassemblesFromTheStore) {
  ASSERT_EQ(Synth("48MiB", "base,ft-last,lora-merged,v2-embed,f32,gguf,unrelated").exit_code, 0);
  const std::vector<std::string> variants = {"base", "ft-last", "lora-merged", "v2-embed",
                                             "f32",  "gguf",    "unrelated"};
  for (const std::string& variant : variants) {
    auto ingest = IngestCli("test/" + variant, dir_ / "models" / variant);
    ASSERT_EQ(ingest.exit_code, 0) << variant << ": " << ingest.err;
  }
  auto store = OpenStore(dir_ / "store");
  ASSERT_TRUE(store) << store.error().message;
  std::vector<std::byte> raw;
  for (const std::string& variant : variants) {
    auto manifest = store->manifests->Get("test/" + variant, "main");
    ASSERT_TRUE(manifest) << manifest.error().message;
    for (const ManifestFile& file : manifest->files) {
      std::ifstream source(dir_ / "models" / variant / file.path, std::ios::binary);
      std::vector<char> expected;
      for (const ManifestBlock& block : file.blocks) {
        auto read = store->blocks->ReadRaw(block.id, raw);
        ASSERT_TRUE(read) << variant << "/" << file.path << ": " << read.error().message;
        expected.resize(raw.size());
        source.read(expected.data(), static_cast<std::streamsize>(expected.size()));
        ASSERT_EQ(0, std::memcmp(expected.data(), raw.data(), raw.size()))
            << variant << "/" << file.path << " at " << block.offset;
      }
      EXPECT_EQ(source.peek(), EOF) << variant << "/" << file.path;
    }
  }
}

TEST_F(IngestCliTest, JsonReportHasEveryField) {
  ASSERT_EQ(Synth("4MiB", "base").exit_code, 0);
  auto ingest = IngestCli("test/base", dir_ / "models" / "base");
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  const auto report = boost::json::parse(ingest.out).as_object();
  for (const char* key : {"raw_bytes", "new_raw_bytes", "dedup_raw_bytes", "stored_bytes", "blocks",
                          "new_blocks", "seconds", "commit"}) {
    EXPECT_TRUE(report.contains(key)) << key;
  }
  EXPECT_EQ(report.at("commit").as_string().size(), 64u);
}

TEST_F(IngestCliTest, HumanReportNamesTheCommitAndDedup) {
  ASSERT_EQ(Synth("4MiB", "base").exit_code, 0);
  auto ingest = IngestCli("test/base", dir_ / "models" / "base", /*json=*/false);
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  EXPECT_NE(ingest.out.find("-> commit "), std::string::npos) << ingest.out;
  EXPECT_NE(ingest.out.find("deduplicated"), std::string::npos) << ingest.out;
}

TEST_F(IngestCliTest, TruncatedSafetensorsIsOneSentenceAndPublishesNothing) {
  ASSERT_EQ(Synth("4MiB", "base").exit_code, 0);
  const fs::path weights = dir_ / "models" / "base" / "model.safetensors";
  fs::resize_file(weights, fs::file_size(weights) - 1000);
  auto ingest = IngestCli("test/truncated", dir_ / "models" / "base");
  ExpectOneSentence(ingest);
  EXPECT_NE(ingest.err.find("model.safetensors"), std::string::npos) << ingest.err;
  ExpectNothingPublished("test/truncated");
}

TEST_F(IngestCliTest, LyingGgufIsOneSentenceAndPublishesNothing) {
  fs::create_directories(dir_ / "bad");
  std::string gguf = "GGUF";
  const std::uint32_t version = 3;
  const std::uint64_t tensors = 1ull << 60;
  const std::uint64_t metadata = 0;
  gguf.append(reinterpret_cast<const char*>(&version), 4);
  gguf.append(reinterpret_cast<const char*>(&tensors), 8);
  gguf.append(reinterpret_cast<const char*>(&metadata), 8);
  gguf.append(64, '\0');
  std::ofstream(dir_ / "bad" / "model.gguf", std::ios::binary) << gguf;
  auto ingest = IngestCli("test/lying", dir_ / "bad");
  ExpectOneSentence(ingest);
  ExpectNothingPublished("test/lying");
}

TEST_F(IngestCliTest, MissingInputIsOneSentence) {
  auto ingest = IngestCli("test/missing", dir_ / "does-not-exist");
  ExpectOneSentence(ingest);
  EXPECT_NE(ingest.err.find("does-not-exist"), std::string::npos) << ingest.err;
}

TEST_F(IngestCliTest, BadSynthArgumentsAreOneSentence) {
  auto synth = Synth("lots", "base");
  EXPECT_NE(synth.exit_code, 0);
  EXPECT_FALSE(synth.err.empty());
  auto unknown = Synth("4MiB", "base,nonsense");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("nonsense"), std::string::npos) << unknown.err;
}

}  // namespace
}  // namespace mei
