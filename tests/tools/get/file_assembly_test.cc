#include "tools/get/file_assembly.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "tests/tools/get/download_fixture.h"

namespace mei::tools {
namespace {

using testing::kModel;
using testing::RandomBytes;

class FileAssemblyTest : public testing::DownloadFixture {
 protected:
  void SetUp() override {
    DownloadFixture::SetUp();
    if (HasFatalFailure()) return;
    blocks_ = AddBlockPerCodec();
    other_raw_block_ = AddBlock(RandomBytes(3000, 7));  // the size of blocks_.raw
    manifest_ =
        AddModel(kModel, "main",
                 {{"weights/model.bin",
                   {blocks_.raw, blocks_.zstd, blocks_.bg2_zstd, blocks_.raw, other_raw_block_}}});
    file_ = manifest_.files[0];
    path_ = out_ / file_.path;
  }

  void StoreEveryBlock() {
    for (const ManifestBlock& block : file_.blocks) StoreLocally(block.id);
  }

  CodecBlocks blocks_;
  BlockId other_raw_block_;
  Manifest manifest_;
  ManifestFile file_;
  std::filesystem::path path_;
};

TEST_F(FileAssemblyTest, AFileOfStoredBlocksOfEveryCodecAssemblesByteIdentical) {
  StoreEveryBlock();
  auto assembled = AssembleFile(file_, out_, *local_);
  ASSERT_TRUE(assembled) << assembled.error().error.message;
  EXPECT_EQ(ReadBytes(path_), BytesOf(file_));
  EXPECT_EQ(FilesUnder(out_), (std::set<std::string>{file_.path}));  // no temporary left
}

TEST_F(FileAssemblyTest, AssemblingReplacesAnOlderFileUnderTheName) {
  StoreEveryBlock();
  WriteBytes(path_, RandomBytes(10, 3));
  auto assembled = AssembleFile(file_, out_, *local_);
  ASSERT_TRUE(assembled) << assembled.error().error.message;
  EXPECT_EQ(ReadBytes(path_), BytesOf(file_));
}

TEST_F(FileAssemblyTest, AMissingBlockFailsNamingItAndLeavesNoFile) {
  StoreEveryBlock();
  local_->Remove(blocks_.zstd);
  auto assembled = AssembleFile(file_, out_, *local_);
  ASSERT_FALSE(assembled);
  EXPECT_EQ(assembled.error().bad_blocks, std::vector<BlockId>{blocks_.zstd});
  EXPECT_EQ(assembled.error().error.code, Errc::kBlockNotFound);
  EXPECT_NE(assembled.error().error.message.find(blocks_.zstd.Hex()), std::string::npos)
      << assembled.error().error.message;
  EXPECT_EQ(FilesUnder(out_), std::set<std::string>{});
}

TEST_F(FileAssemblyTest, AFrameDamagedOnDiskFailsAndIsRemovedFromTheStore) {
  StoreEveryBlock();
  DamageLocally(blocks_.bg2_zstd);
  auto assembled = AssembleFile(file_, out_, *local_);
  ASSERT_FALSE(assembled);
  EXPECT_EQ(assembled.error().bad_blocks, std::vector<BlockId>{blocks_.bg2_zstd});
  EXPECT_FALSE(local_->Contains(blocks_.bg2_zstd));
  EXPECT_TRUE(local_->Contains(blocks_.raw));
  EXPECT_EQ(FilesUnder(out_), std::set<std::string>{});
}

TEST_F(FileAssemblyTest, AFrameOfTheWrongSizeIsReportedBadAndRemoved) {
  StoreEveryBlock();
  ASSERT_TRUE(local_->Put(blocks_.zstd, UpstreamFrame(blocks_.raw)));  // 3000 bytes, not 4000
  auto assembled = AssembleFile(file_, out_, *local_);
  ASSERT_FALSE(assembled);
  EXPECT_EQ(assembled.error().error.code, Errc::kIntegrity);
  EXPECT_EQ(assembled.error().bad_blocks, std::vector<BlockId>{blocks_.zstd});
  EXPECT_FALSE(local_->Contains(blocks_.zstd));
  EXPECT_EQ(FilesUnder(out_), std::set<std::string>{});
}

TEST_F(FileAssemblyTest, AFrameOfOtherBytesOfTheRightSizeIsFoundByTheFileSha256) {
  StoreEveryBlock();
  // An intact frame, but of another block: only the SHA-256 can tell.
  ASSERT_TRUE(local_->Put(other_raw_block_, UpstreamFrame(blocks_.raw)));
  auto assembled = AssembleFile(file_, out_, *local_);
  ASSERT_FALSE(assembled);
  EXPECT_EQ(assembled.error().error.code, Errc::kIntegrity);
  EXPECT_EQ(assembled.error().bad_blocks, std::vector<BlockId>{other_raw_block_});
  EXPECT_FALSE(local_->Contains(other_raw_block_));
  for (const BlockId& good : {blocks_.raw, blocks_.zstd, blocks_.bg2_zstd}) {
    EXPECT_TRUE(local_->Contains(good)) << good.Hex();
  }
  EXPECT_EQ(FilesUnder(out_), std::set<std::string>{});
}

TEST_F(FileAssemblyTest, AWrongFileSha256IsAnIntegrityFailureThatBlamesNoGoodBlock) {
  StoreEveryBlock();
  ManifestFile wrong = file_;
  wrong.sha256 = Sha256Of(RandomBytes(16, 5));
  auto assembled = AssembleFile(wrong, out_, *local_);
  ASSERT_FALSE(assembled);
  EXPECT_EQ(assembled.error().error.code, Errc::kIntegrity);
  EXPECT_NE(assembled.error().error.message.find(file_.path), std::string::npos)
      << assembled.error().error.message;
  EXPECT_TRUE(assembled.error().bad_blocks.empty());
  for (const ManifestBlock& block : file_.blocks) {
    EXPECT_TRUE(local_->Contains(block.id)) << block.id.Hex();
  }
  EXPECT_EQ(FilesUnder(out_), std::set<std::string>{});
}

TEST_F(FileAssemblyTest, AFailedAssemblyLeavesTheOlderFileUntouched) {
  struct Case {
    const char* name;
    std::function<void(ManifestFile&)> spoil;
  };
  const std::vector<Case> cases = {
      {"missing_block", [this](ManifestFile&) { local_->Remove(blocks_.bg2_zstd); }},
      {"damaged_frame", [this](ManifestFile&) { DamageLocally(blocks_.zstd); }},
      {"wrong_sha256", [](ManifestFile& file) { file.sha256 = Sha256Of(RandomBytes(16, 5)); }},
  };
  const std::vector<std::byte> older = RandomBytes(100, 9);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    StoreEveryBlock();
    WriteBytes(path_, older);
    ManifestFile file = file_;
    c.spoil(file);
    auto assembled = AssembleFile(file, out_, *local_);
    EXPECT_FALSE(assembled);
    EXPECT_EQ(ReadBytes(path_), older);
    EXPECT_EQ(FilesUnder(out_), (std::set<std::string>{file_.path}));  // no temporary left
  }
}

}  // namespace
}  // namespace mei::tools
