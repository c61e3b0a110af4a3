#include "tools/get/download_plan.h"

#include <gtest/gtest.h>

#include <chrono>
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

TEST_F(DownloadPlanTest, FilesAlreadyCompleteInTheOutputAreUpToDateAndIndexed) {
  const Manifest manifest =
      AddModel(kModel, "main", {{"a.bin", {a_, b_}}, {"b.bin", {c_}}, {"c.bin", {d_}}});
  WriteBytes(out_ / "a.bin", BytesOf(File(manifest, "a.bin")));
  std::vector<std::byte> damaged = BytesOf(File(manifest, "c.bin"));
  damaged[0] ^= std::byte{1};
  WriteBytes(out_ / "c.bin", damaged);
  FileIndex index = FileIndex::Open(dir_ / "index");

  auto selected = SelectFiles(manifest, {});
  ASSERT_TRUE(selected);
  const OutputState state = CheckOutput(*selected, out_, index);

  EXPECT_EQ(PathsOf(state.up_to_date), (std::vector<std::string>{"a.bin"}));
  EXPECT_EQ(PathsOf(state.to_write), (std::vector<std::string>{"b.bin", "c.bin"}));
  const IndexedFile* indexed = index.Find(out_ / "a.bin");
  ASSERT_NE(indexed, nullptr);
  EXPECT_FALSE(indexed->partial);
  EXPECT_EQ(indexed->sha256, File(manifest, "a.bin").sha256);
  EXPECT_EQ(indexed->blocks, File(manifest, "a.bin").blocks);
  EXPECT_EQ(index.Find(out_ / "c.bin"), nullptr);
}

TEST_F(DownloadPlanTest, AFileTheIndexKnowsIsJudgedBySizeAndTimeWithoutBeingRead) {
  const Manifest manifest = AddModel(kModel, "main", {{"a.bin", {a_, b_}}});
  const ManifestFile& file = manifest.files[0];
  // Other bytes of the same size, indexed as if they were the file: taken as up to date, which
  // proves the bytes were not read.
  std::vector<std::byte> other = BytesOf(file);
  other[7] ^= std::byte{1};
  WriteBytes(out_ / "a.bin", other);
  FileIndex index = FileIndex::Open(dir_ / "index");
  auto entry = FileIndex::EntryOf(out_ / "a.bin", file);
  ASSERT_TRUE(entry);
  index.Put(*entry);
  auto selected = SelectFiles(manifest, {});
  ASSERT_TRUE(selected);
  EXPECT_EQ(PathsOf(CheckOutput(*selected, out_, index).up_to_date),
            (std::vector<std::string>{"a.bin"}));

  // A new modification time makes the entry stale: the file is read, and it is not the file.
  std::filesystem::last_write_time(
      out_ / "a.bin", std::filesystem::last_write_time(out_ / "a.bin") + std::chrono::seconds(2));
  EXPECT_EQ(PathsOf(CheckOutput(*selected, out_, index).to_write),
            (std::vector<std::string>{"a.bin"}));

  // The index knows a file of another SHA-256 under the name (an older revision): to write.
  WriteBytes(out_ / "a.bin", BytesOf(file));
  entry = FileIndex::EntryOf(out_ / "a.bin", file);
  ASSERT_TRUE(entry);
  entry->sha256 = Sha256Of(other);
  index.Put(*entry);
  EXPECT_EQ(PathsOf(CheckOutput(*selected, out_, index).to_write),
            (std::vector<std::string>{"a.bin"}));
}

TEST_F(DownloadPlanTest, ABlockAppearingTwiceInAFileOrInTwoFilesIsOneNeedWithEveryPlace) {
  const Manifest manifest =
      AddModel(kModel, "main", {{"a.bin", {a_, b_, a_}}, {"b.bin", {b_, c_, a_}}});
  const std::vector<const ManifestFile*> files = {&manifest.files[0], &manifest.files[1]};
  std::vector<PartialFile> partials;
  partials.push_back(PartialOf("a.bin", manifest.files[0].blocks));
  partials.push_back(PartialOf("b.bin", manifest.files[1].blocks));

  const std::vector<BlockNeed> needs = NeedsOf(files, partials);
  ASSERT_EQ(needs.size(), 3u);  // a, b, c in file order
  EXPECT_EQ(needs[0].block.id, a_);
  EXPECT_EQ(needs[1].block.id, b_);
  EXPECT_EQ(needs[2].block.id, c_);
  EXPECT_EQ(needs[0].block.size, 1000u);
  const auto places = [](const BlockNeed& need) {
    std::vector<std::pair<std::string, std::uint64_t>> places;
    for (const BlockPlace& place : need.places) {
      places.emplace_back(place.file->final_path().filename().string(), place.offset);
    }
    return places;
  };
  using Places = std::vector<std::pair<std::string, std::uint64_t>>;
  EXPECT_EQ(places(needs[0]), (Places{{"a.bin", 0}, {"a.bin", 3000}, {"b.bin", 5000}}));
  EXPECT_EQ(places(needs[1]), (Places{{"a.bin", 1000}, {"b.bin", 0}}));
  EXPECT_EQ(places(needs[2]), (Places{{"b.bin", 2000}}));
}

}  // namespace
}  // namespace mei::tools
