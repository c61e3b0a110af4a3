// Ingest of files whose tensor maps are in other files: TF.js shards (mapped by model.json) and
// ONNX external data (mapped by the model), into a real store.
#include "origin/internal/tensor_maps.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "origin/ingest.h"
#include "tools/synth/llama_layout.h"
#include "tools/synth/model_family.h"
#include "tools/synth/onnx_writer.h"
#include "tools/synth/tfjs_writer.h"

namespace mei::origin {
namespace {

namespace fs = std::filesystem;

class TensorMapsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("tensor_maps_test_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "model");
    store_ = OpenStore(dir_ / "store").value();
    tensors_ = tools::LlamaTensors(tools::BaseModelDims(2ull << 20));
    for (std::size_t i = 0; i < tensors_.size(); ++i) tensors_[i].stream.seed = i + 1;
  }
  void TearDown() override {
    store_ = {};
    fs::remove_all(dir_);
  }

  IngestReport IngestModel(const std::string& revision) {
    IngestOptions options;
    options.model = "acme/mapped";
    options.revision = revision;
    options.chunking.max_block = 256 * 1024;
    auto files = CollectInputs({dir_ / "model"});
    EXPECT_TRUE(files) << files.error().message;
    auto report = Ingest(store_, *files, options);
    EXPECT_TRUE(report) << report.error().message;
    return report ? std::move(*report) : IngestReport{};
  }

  static const ManifestFile* FileAt(const Manifest& manifest, std::string_view path) {
    for (const ManifestFile& file : manifest.files) {
      if (file.path == path) return &file;
    }
    return nullptr;
  }

  // Every tensor of at least 4 KiB (the default min_tensor_block) has blocks of its own.
  static void ExpectTensorsOwnTheirBlocks(const ManifestFile& file) {
    std::size_t owning = 0;
    for (const TensorEntry& tensor : file.tensors) {
      if (tensor.size < 4096) continue;
      const ManifestBlock& first = file.blocks[tensor.first_block];
      const ManifestBlock& last = file.blocks[tensor.first_block + tensor.block_count - 1];
      EXPECT_EQ(first.offset, tensor.offset) << tensor.name;
      EXPECT_EQ(last.offset + last.size, tensor.offset + tensor.size) << tensor.name;
      ++owning;
    }
    EXPECT_GT(owning, 0u) << file.path;
  }

  fs::path dir_;
  Store store_;
  std::vector<tools::TensorSpec> tensors_;
};

TEST_F(TensorMapsTest, TfjsShardsAreCutAlongTheWeightsModelJsonMapsOntoThem) {
  tools::TfjsWriteOptions options;
  options.shard_bytes = 1 << 20;  // several shards, weights crossing from one into the next
  const auto written =
      tools::WriteTfjsModel(dir_ / "model", tensors_, tools::StoredDtype::kF32, options);
  ASSERT_TRUE(written) << written.error().message;
  ASSERT_GT(written->size(), 3u);
  const IngestReport report = IngestModel("main");
  EXPECT_TRUE(report.notes.empty());
  std::size_t shards = 0;
  for (const ManifestFile& file : report.manifest.files) {
    SCOPED_TRACE(file.path);
    if (file.path == "model.json") {
      EXPECT_EQ(file.format, "other");
      continue;
    }
    ++shards;
    EXPECT_EQ(file.format, "tfjs");
    EXPECT_FALSE(file.tensors.empty());
    ExpectTensorsOwnTheirBlocks(file);
  }
  EXPECT_EQ(shards, written->size() - 1);
}

TEST_F(TensorMapsTest, OnnxExternalDataIsCutAlongTheInitializersTheModelMapsOntoIt) {
  tools::OnnxWriteOptions options;
  options.external_data = true;
  ASSERT_TRUE(tools::WriteOnnx(dir_ / "model" / "model.onnx", tensors_, tools::StoredDtype::kBf16,
                               options));
  const IngestReport report = IngestModel("main");
  const ManifestFile* data = FileAt(report.manifest, "model.onnx_data");
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->format, "onnx");
  ExpectTensorsOwnTheirBlocks(*data);
  const ManifestFile* model = FileAt(report.manifest, "model.onnx");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->format, "onnx");
}

// The same weights sharded at the converter's 4 MiB and kept in one file are cut into the same
// blocks: a weight that crosses a 4 MiB step is cut there in both, so the second stores none of
// the first's tensor bytes again.
TEST_F(TensorMapsTest, OneFileAndFourMibShardsOfTheSameWeightsCutIntoTheSameBlocks) {
  tensors_ = tools::LlamaTensors(tools::BaseModelDims(6ull << 20));  // 12 MiB as F32
  for (std::size_t i = 0; i < tensors_.size(); ++i) tensors_[i].stream.seed = i + 1;
  const auto sharded = tools::WriteTfjsModel(dir_ / "model", tensors_, tools::StoredDtype::kF32,
                                             {.shard_bytes = 4ull << 20});
  ASSERT_TRUE(sharded) << sharded.error().message;
  ASSERT_GT(sharded->size(), 3u);  // model.json and at least three shards: two 4 MiB steps
  const IngestReport first = IngestModel("sharded");
  std::set<BlockId> stored;
  for (const ManifestFile& file : first.manifest.files) {
    for (const ManifestBlock& block : file.blocks) stored.insert(block.id);
  }
  fs::remove_all(dir_ / "model");
  fs::create_directories(dir_ / "model");
  const auto whole = tools::WriteTfjsModel(dir_ / "model", tensors_, tools::StoredDtype::kF32,
                                           {.shard_bytes = 1ull << 30});
  ASSERT_TRUE(whole) << whole.error().message;
  ASSERT_EQ(whole->size(), 2u);
  const IngestReport second = IngestModel("whole");
  const ManifestFile* shard = FileAt(second.manifest, (*whole)[1]);
  ASSERT_NE(shard, nullptr);
  ASSERT_EQ(shard->format, "tfjs");
  std::uint64_t crossing = 0;
  for (const TensorEntry& tensor : shard->tensors) {
    if ((tensor.offset + tensor.size) % (4ull << 20) == 0) ++crossing;
    for (std::uint32_t i = 0; i < tensor.block_count; ++i) {
      EXPECT_TRUE(stored.contains(shard->blocks[tensor.first_block + i].id)) << tensor.name;
    }
  }
  EXPECT_GE(crossing, 2u);  // pieces that end at a 4 MiB step
}

// A model.json whose map does not fit its shards (here: one cut short) maps nothing: its shards
// are stored whole, by content, and the report says why.
TEST_F(TensorMapsTest, AModelJsonWhoseMapDoesNotFitItsShardsMapsNothingAndTheReportSaysWhy) {
  const auto written = tools::WriteTfjsModel(dir_ / "model", tensors_, tools::StoredDtype::kF32,
                                             {.shard_bytes = 1 << 20});
  ASSERT_TRUE(written) << written.error().message;
  ASSERT_EQ(written->front(), "model.json");
  fs::resize_file(dir_ / "model" / (*written)[1], 1000);
  const IngestReport report = IngestModel("main");
  for (const ManifestFile& file : report.manifest.files) {
    EXPECT_NE(file.format, "tfjs") << file.path;
  }
  ASSERT_FALSE(report.notes.empty());
  EXPECT_NE(report.notes.front().find("model.json maps no tensors onto its shards"),
            std::string::npos)
      << report.notes.front();
}

}  // namespace
}  // namespace mei::origin
