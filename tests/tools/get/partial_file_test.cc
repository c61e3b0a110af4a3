#include "tools/get/partial_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/tools/get/scratch_dir.h"

namespace mei::tools {
namespace {

namespace fs = std::filesystem;

std::span<const std::byte> Bytes(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

std::string Contents(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

using PartialFileTest = testing::ScratchDirTest;

TEST_F(PartialFileTest, IsAHiddenFileOfTheFullSizeBesideItsName) {
  const fs::path name = dir_ / "nested" / "model.safetensors";
  auto partial = PartialFile::Open(name, 1000);
  ASSERT_TRUE(partial) << partial.error().message;
  EXPECT_EQ(partial->path(), dir_ / "nested" / ".model.safetensors.mei-part");
  EXPECT_EQ(PartialFile::PathFor(name), partial->path());
  EXPECT_EQ(fs::file_size(partial->path()), 1000u);
  EXPECT_FALSE(partial->resumed());
  EXPECT_FALSE(fs::exists(name));
}

TEST_F(PartialFileTest, WritesLandAtTheirOffsetsAndCommitPutsTheFileUnderItsName) {
  const fs::path name = dir_ / "a.bin";
  std::ofstream(name) << "older";  // replaced on Commit
  auto partial = PartialFile::Open(name, 10);
  ASSERT_TRUE(partial);
  ASSERT_TRUE(partial->Write(Bytes("56789"), 5));
  ASSERT_TRUE(partial->Write(Bytes("01234"), 0));
  partial->StartWriteback(0, 10);
  EXPECT_EQ(Contents(name), "older");
  ASSERT_TRUE(partial->Commit());
  EXPECT_EQ(Contents(name), "0123456789");
  EXPECT_FALSE(fs::exists(PartialFile::PathFor(name)));
}

TEST_F(PartialFileTest, AFileBeingWrittenCannotBeOpenedAgainUntilClosed) {
  const fs::path name = dir_ / "a.bin";
  {
    auto first = PartialFile::Open(name, 10);
    ASSERT_TRUE(first);
    auto second = PartialFile::Open(name, 10);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, Errc::kIo);
    EXPECT_NE(second.error().message.find("another mei-get is writing"), std::string::npos)
        << second.error().message;
  }
  EXPECT_TRUE(PartialFile::Open(name, 10));
}

TEST_F(PartialFileTest, APartialLeftBehindIsResumedKeepingItsBytesAtTheNewSize) {
  const fs::path name = dir_ / "a.bin";
  {
    auto first = PartialFile::Open(name, 10);
    ASSERT_TRUE(first);
    ASSERT_TRUE(first->Write(Bytes("abc"), 0));
  }  // not committed: an interrupted run
  auto again = PartialFile::Open(name, 12);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->resumed());
  EXPECT_EQ(fs::file_size(again->path()), 12u);
  EXPECT_EQ(Contents(again->path()).substr(0, 3), "abc");
}

TEST_F(PartialFileTest, ACommitIntoAFolderUnderTheNameFailsAndKeepsThePartial) {
  const fs::path name = dir_ / "a.bin";
  fs::create_directories(name / "occupied");
  auto partial = PartialFile::Open(name, 4);
  ASSERT_TRUE(partial);
  auto committed = partial->Commit();
  ASSERT_FALSE(committed);
  EXPECT_EQ(committed.error().code, Errc::kIo);
  EXPECT_TRUE(fs::exists(PartialFile::PathFor(name)));
}

}  // namespace
}  // namespace mei::tools
