#include "common/atomic_file.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace mei {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "mei-atomic-file-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  std::size_t Entries() {
    return static_cast<std::size_t>(
        std::distance(fs::directory_iterator(dir_), fs::directory_iterator()));
  }

  fs::path dir_;
};

TEST_F(AtomicFileTest, FileAppearsOnlyOnCommit) {
  Result<AtomicFile> file = AtomicFile::Create(dir_ / "a.bin");
  ASSERT_TRUE(file.has_value());
  ASSERT_TRUE(file->Append("hello ").has_value());
  const std::string large(3 << 20, 'x');
  ASSERT_TRUE(file->Append(large).has_value());
  EXPECT_FALSE(fs::exists(dir_ / "a.bin"));
  EXPECT_EQ(file->size(), 6 + large.size());
  ASSERT_TRUE(file->Commit().has_value());
  EXPECT_EQ(Read(dir_ / "a.bin"), "hello " + large);
  EXPECT_EQ(Entries(), 1u);
}

TEST_F(AtomicFileTest, UncommittedFileLeavesNothingAndKeepsTheOldContents) {
  ASSERT_TRUE(WriteFileAtomically(dir_ / "a.txt", "old").has_value());
  {
    Result<AtomicFile> file = AtomicFile::Create(dir_ / "a.txt");
    ASSERT_TRUE(file.has_value());
    ASSERT_TRUE(file->Append("new").has_value());
  }
  EXPECT_EQ(Read(dir_ / "a.txt"), "old");
  EXPECT_EQ(Entries(), 1u);
  ASSERT_TRUE(WriteFileAtomically(dir_ / "a.txt", "new").has_value());
  EXPECT_EQ(Read(dir_ / "a.txt"), "new");
}

TEST_F(AtomicFileTest, MissingFolderIsAnIoError) {
  Result<AtomicFile> file = AtomicFile::Create(dir_ / "missing" / "a.txt");
  ASSERT_FALSE(file.has_value());
  EXPECT_EQ(file.error().code, Errc::kIo);
}

}  // namespace
}  // namespace mei
