#include "tools/get/download_plan.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/tools/get/download_fixture.h"

namespace mei::tools {
namespace {

using testing::kModel;
using testing::RandomBytes;
using testing::TextBytes;

std::vector<std::string> PathsOf(const std::vector<const ManifestFile*>& files) {
  std::vector<std::string> paths;
  for (const ManifestFile* file : files) paths.push_back(file->path);
  return paths;
}

std::vector<BlockId> IdsOf(const std::vector<ManifestBlock>& blocks) {
  std::vector<BlockId> ids;
  for (const ManifestBlock& block : blocks) ids.push_back(block.id);
  return ids;
}

class DownloadPlanTest : public testing::DownloadFixture {
 protected:
  void SetUp() override {
    DownloadFixture::SetUp();
    if (HasFatalFailure()) return;
    a_ = AddBlock(RandomBytes(1000, 1));
    b_ = AddBlock(RandomBytes(2000, 2));
    c_ = AddBlock(TextBytes(3000));
    d_ = AddBlock(RandomBytes(4000, 4));
  }

  const ManifestFile& File(const Manifest& manifest, const std::string& path) const {
    for (const ManifestFile& file : manifest.files) {
      if (file.path == path) return file;
    }
    ADD_FAILURE() << "no file " << path;
    return manifest.files.front();
  }

  BlockId a_, b_, c_, d_;
};

TEST_F(DownloadPlanTest, SelectFilesTakesTheFilesAnyGlobMatchesInManifestOrder) {
  const Manifest manifest = AddModel(kModel, "main",
                                     {{"config.json", {a_}},
                                      {"model-1.safetensors", {b_}},
                                      {"model-2.safetensors", {c_}},
                                      {"onnx/model.safetensors", {d_}},
                                      {"tokenizer.json", {a_}}});
  struct Case {
    std::vector<std::string> globs;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {{},
       {"config.json", "model-1.safetensors", "model-2.safetensors", "onnx/model.safetensors",
        "tokenizer.json"}},
      {{"*.safetensors"}, {"model-1.safetensors", "model-2.safetensors"}},
      {{"*"}, {"config.json", "model-1.safetensors", "model-2.safetensors", "tokenizer.json"}},
      {{"*/*.safetensors"}, {"onnx/model.safetensors"}},
      {{"onnx/*"}, {"onnx/model.safetensors"}},
      {{"tokenizer.json", "*.json"}, {"config.json", "tokenizer.json"}},
      {{"model-2.*", "config.json"}, {"config.json", "model-2.safetensors"}},
      {{"model-[12].safetensors"}, {"model-1.safetensors", "model-2.safetensors"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.globs));
    auto selected = SelectFiles(manifest, c.globs);
    ASSERT_TRUE(selected) << selected.error().message;
    EXPECT_EQ(PathsOf(*selected), c.expected);
  }
}

TEST_F(DownloadPlanTest, SelectFilesRefusesAGlobThatMatchesNothingNamingIt) {
  const Manifest manifest =
      AddModel(kModel, "main", {{"config.json", {a_}}, {"onnx/model.safetensors", {d_}}});
  struct Case {
    std::vector<std::string> globs;
    std::string unmatched;
  };
  const std::vector<Case> cases = {
      {{"*.gguf"}, "*.gguf"},
      {{"*.json", "*.bin"}, "*.bin"},
      {{"*.safetensors"}, "*.safetensors"},  // '*' does not cross '/'
      {{"onnx"}, "onnx"},                    // a folder's name is not its files
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.globs));
    auto selected = SelectFiles(manifest, c.globs);
    ASSERT_FALSE(selected);
    EXPECT_EQ(selected.error().code, Errc::kBadRequest);
    EXPECT_NE(selected.error().message.find("\"" + c.unmatched + "\""), std::string::npos)
        << selected.error().message;
  }
}

TEST_F(DownloadPlanTest, HoldsFileOnlyWhenTheBytesAreTheManifestsBytes) {
  const Manifest manifest = AddModel(kModel, "main", {{"model.bin", {a_, b_}}});
  const ManifestFile& file = manifest.files[0];
  const std::vector<std::byte> bytes = BytesOf(file);
  std::vector<std::byte> flipped = bytes;
  flipped[1500] ^= std::byte{0x40};
  const std::vector<std::byte> shorter(bytes.begin(), bytes.end() - 1);
  std::vector<std::byte> longer = bytes;
  longer.push_back(std::byte{0});

  struct Case {
    const char* name;
    const std::vector<std::byte>* contents;  // null: nothing under the name
    bool expected;
  };
  const std::vector<Case> cases = {
      {"same_bytes", &bytes, true},        {"same_size_other_bytes", &flipped, false},
      {"one_byte_short", &shorter, false}, {"one_byte_long", &longer, false},
      {"missing", nullptr, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::filesystem::path path = dir_ / c.name / "model.bin";
    if (c.contents) WriteBytes(path, *c.contents);
    EXPECT_EQ(HoldsFile(path, file), c.expected);
  }
}

TEST_F(DownloadPlanTest, HoldsFileIsFalseForAFolderUnderTheName) {
  const Manifest manifest = AddModel(kModel, "main", {{"model.bin", {a_}}});
  std::filesystem::create_directories(out_ / "model.bin");
  EXPECT_FALSE(HoldsFile(out_ / "model.bin", manifest.files[0]));
}

TEST_F(DownloadPlanTest, FilesAlreadyCompleteInTheOutputAreUpToDateAndTheirBlocksNotFetched) {
  const Manifest manifest =
      AddModel(kModel, "main", {{"a.bin", {a_, b_}}, {"b.bin", {c_}}, {"c.bin", {d_}}});
  WriteBytes(out_ / "a.bin", BytesOf(File(manifest, "a.bin")));
  std::vector<std::byte> damaged = BytesOf(File(manifest, "c.bin"));
  damaged[0] ^= std::byte{1};
  WriteBytes(out_ / "c.bin", damaged);

  auto selected = SelectFiles(manifest, {});
  ASSERT_TRUE(selected);
  const DownloadPlan plan = PlanDownload(*selected, out_, *local_);

  EXPECT_EQ(PathsOf(plan.up_to_date), (std::vector<std::string>{"a.bin"}));
  EXPECT_EQ(PathsOf(plan.files), (std::vector<std::string>{"b.bin", "c.bin"}));
  EXPECT_EQ(IdsOf(plan.to_fetch), (std::vector<BlockId>{c_, d_}));
  EXPECT_EQ(plan.file_bytes, 3000u + 4000u);
  EXPECT_EQ(plan.fetch_bytes, 3000u + 4000u);
  EXPECT_EQ(plan.reused_blocks, 0u);
  EXPECT_EQ(plan.reused_bytes, 0u);
}

TEST_F(DownloadPlanTest, BlocksHeldLocallyAreReusedAndCountedOnce) {
  const Manifest manifest = AddModel(kModel, "main", {{"a.bin", {a_, b_}}, {"b.bin", {b_, c_}}});
  StoreLocally(a_);
  StoreLocally(b_);

  auto selected = SelectFiles(manifest, {});
  ASSERT_TRUE(selected);
  const DownloadPlan plan = PlanDownload(*selected, out_, *local_);

  EXPECT_EQ(PathsOf(plan.files), (std::vector<std::string>{"a.bin", "b.bin"}));
  EXPECT_TRUE(plan.up_to_date.empty());
  EXPECT_EQ(IdsOf(plan.to_fetch), (std::vector<BlockId>{c_}));
  EXPECT_EQ(plan.fetch_bytes, 3000u);
  EXPECT_EQ(plan.reused_blocks, 2u);
  EXPECT_EQ(plan.reused_bytes, 1000u + 2000u);
  EXPECT_EQ(plan.file_bytes, 3000u + 5000u);
}

TEST_F(DownloadPlanTest, ABlockAppearingTwiceInAFileOrInTwoFilesIsFetchedOnce) {
  const Manifest manifest =
      AddModel(kModel, "main", {{"a.bin", {a_, b_, a_}}, {"b.bin", {b_, c_, a_}}});

  auto selected = SelectFiles(manifest, {});
  ASSERT_TRUE(selected);
  const DownloadPlan plan = PlanDownload(*selected, out_, *local_);

  EXPECT_EQ(IdsOf(plan.to_fetch), (std::vector<BlockId>{a_, b_, c_}));  // file order
  EXPECT_EQ(plan.to_fetch[0].size, 1000u);
  EXPECT_EQ(plan.fetch_bytes, 1000u + 2000u + 3000u);
  EXPECT_EQ(plan.file_bytes, 4000u + 6000u);
  EXPECT_EQ(plan.reused_blocks, 0u);
}

TEST_F(DownloadPlanTest, OnlyTheSelectedFilesArePlanned) {
  const Manifest manifest =
      AddModel(kModel, "main", {{"a.json", {a_}}, {"b.safetensors", {b_, c_}}});
  auto selected = SelectFiles(manifest, {"*.safetensors"});
  ASSERT_TRUE(selected);
  const DownloadPlan plan = PlanDownload(*selected, out_, *local_);
  EXPECT_EQ(PathsOf(plan.files), (std::vector<std::string>{"b.safetensors"}));
  EXPECT_EQ(IdsOf(plan.to_fetch), (std::vector<BlockId>{b_, c_}));
  EXPECT_EQ(plan.file_bytes, 5000u);
}

}  // namespace
}  // namespace mei::tools
