#include "tools/get/local_block_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/codec.h"
#include "tests/tools/get/download_fixture.h"

namespace mei::tools {
namespace {

namespace fs = std::filesystem;

using testing::RandomBytes;

class LocalBlockStoreTest : public testing::DownloadFixture {
 protected:
  void SetUp() override {
    DownloadFixture::SetUp();
    if (HasFatalFailure()) return;
    blocks_ = AddBlockPerCodec();
  }

  struct CodecCase {
    const char* name;
    BlockId id;
    Codec codec;  // what the real encoder chose for it
  };
  std::vector<CodecCase> CodecCases() const {
    return {{"raw", blocks_.raw, Codec::kRaw},
            {"zstd", blocks_.zstd, Codec::kZstd},
            {"bg2_zstd", blocks_.bg2_zstd, Codec::kBg2Zstd}};
  }

  // Writes an empty file named `name` into <root>/tmp/, as another process's write would leave.
  void LeaveTemporary(const std::string& name) const {
    WriteBytes(local_->root() / "tmp" / name, std::vector<std::byte>{std::byte{1}});
  }

  CodecBlocks blocks_;
};

TEST_F(LocalBlockStoreTest, PutFramesOfEveryCodecReadBackUnchanged) {
  for (const CodecCase& c : CodecCases()) {
    SCOPED_TRACE(c.name);
    const std::vector<std::byte> frame = UpstreamFrame(c.id);
    auto parsed = ParseFrame(frame);
    ASSERT_TRUE(parsed) << parsed.error().message;
    ASSERT_EQ(parsed->header.codec, c.codec);

    EXPECT_FALSE(local_->Contains(c.id));
    ASSERT_TRUE(local_->Put(c.id, frame));
    EXPECT_TRUE(local_->Contains(c.id));
    EXPECT_TRUE(fs::is_regular_file(LocalPathOf(c.id)));

    auto read = local_->ReadFrame(c.id);
    ASSERT_TRUE(read) << read.error().message;
    EXPECT_EQ(*read, frame);
    BlockDecoder decoder;
    std::vector<std::byte> raw;
    ASSERT_TRUE(decoder.Decode(*read, raw));
    EXPECT_EQ(raw, raw_.at(c.id));
  }
}

TEST_F(LocalBlockStoreTest, PutLeavesNoTemporaryBehind) {
  for (const CodecCase& c : CodecCases()) StoreLocally(c.id);
  EXPECT_TRUE(fs::is_empty(local_->root() / "tmp"));
}

TEST_F(LocalBlockStoreTest, PutReplacesTheFrameUnderAnId) {
  ASSERT_TRUE(local_->Put(blocks_.raw, UpstreamFrame(blocks_.zstd)));
  ASSERT_TRUE(local_->Put(blocks_.raw, UpstreamFrame(blocks_.raw)));
  auto read = local_->ReadFrame(blocks_.raw);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(*read, UpstreamFrame(blocks_.raw));
}

TEST_F(LocalBlockStoreTest, FrameDamagedOnDiskIsNotFoundAndRemoved) {
  for (const CodecCase& c : CodecCases()) {
    SCOPED_TRACE(c.name);
    StoreLocally(c.id);
    DamageLocally(c.id);
    auto read = local_->ReadFrame(c.id);
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code, Errc::kBlockNotFound) << read.error().message;
    EXPECT_FALSE(fs::exists(LocalPathOf(c.id)));
    EXPECT_FALSE(local_->Contains(c.id));
  }
}

TEST_F(LocalBlockStoreTest, ReadFrameOfABlockNeverStoredIsNotFound) {
  auto read = local_->ReadFrame(MissingBlock());
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, Errc::kBlockNotFound);
}

TEST_F(LocalBlockStoreTest, RemoveDeletesOnlyThatFrame) {
  StoreLocally(blocks_.raw);
  StoreLocally(blocks_.zstd);
  local_->Remove(blocks_.raw);
  local_->Remove(MissingBlock());  // absent: nothing to do
  EXPECT_FALSE(local_->Contains(blocks_.raw));
  EXPECT_FALSE(local_->ReadFrame(blocks_.raw));
  EXPECT_TRUE(local_->Contains(blocks_.zstd));
  EXPECT_TRUE(local_->ReadFrame(blocks_.zstd));
}

TEST_F(LocalBlockStoreTest, StoredFramesSurviveReopening) {
  StoreLocally(blocks_.bg2_zstd);
  auto reopened = LocalBlockStore::Open(local_->root());
  ASSERT_TRUE(reopened) << reopened.error().message;
  auto read = reopened->ReadFrame(blocks_.bg2_zstd);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(*read, UpstreamFrame(blocks_.bg2_zstd));
}

// A pid no process has: a child's, once it has been reaped.
pid_t PidOfAnEndedProcess() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  EXPECT_EQ(::waitpid(child, &status, 0), child);
  return child;
}

TEST_F(LocalBlockStoreTest, OpenRemovesTemporariesOfEndedProcessesAndStrayNames) {
  const std::string hex = blocks_.raw.Hex();
  const pid_t ended = PidOfAnEndedProcess();
  const std::string own = hex + "." + std::to_string(::getpid()) + ".0";
  const std::string init = hex + ".1.7";  // pid 1 always runs
  LeaveTemporary(own);
  LeaveTemporary(init);
  LeaveTemporary(hex + "." + std::to_string(ended) + ".3");
  LeaveTemporary("stray");
  LeaveTemporary(hex + ".notapid.4");
  LeaveTemporary(hex + ".0.5");

  auto reopened = LocalBlockStore::Open(local_->root());
  ASSERT_TRUE(reopened) << reopened.error().message;

  EXPECT_EQ(FilesUnder(local_->root() / "tmp"), (std::set<std::string>{own, init}));
}

TEST_F(LocalBlockStoreTest, OpenCreatesTheRootAndItsTmpFolder) {
  const fs::path root = dir_ / "new" / "blocks";
  auto opened = LocalBlockStore::Open(root);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->root(), root);
  EXPECT_TRUE(fs::is_directory(root / "tmp"));
}

TEST_F(LocalBlockStoreTest, OpenUnderARegularFileFailsWithIo) {
  WriteBytes(dir_ / "file", std::vector<std::byte>{std::byte{1}});
  auto opened = LocalBlockStore::Open(dir_ / "file" / "blocks");
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, Errc::kIo);
}

// Sets (or, for nullopt, unsets) an environment variable for its lifetime.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    Set(value);
  }
  ~ScopedEnv() { Set(old_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  void Set(const std::optional<std::string>& value) const {
    if (value) {
      ::setenv(name_, value->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

  const char* name_;
  std::optional<std::string> old_;
};

TEST(DefaultBlockStorePathTest, FollowsMeiCacheDirThenXdgCacheHomeThenHome) {
  struct Case {
    const char* name;
    std::optional<std::string> mei_cache_dir, xdg_cache_home, home;
    std::optional<fs::path> expected;  // nullopt: kBadRequest
  };
  const std::vector<Case> cases = {
      {"all_set", "/m", "/x", "/h", fs::path("/m/blocks")},
      {"no_mei_cache_dir", std::nullopt, "/x", "/h", fs::path("/x/mei/blocks")},
      {"only_home", std::nullopt, std::nullopt, "/h", fs::path("/h/.cache/mei/blocks")},
      {"empty_is_unset", "", "", "/h", fs::path("/h/.cache/mei/blocks")},
      {"mei_cache_dir_without_home", "/m", std::nullopt, std::nullopt, fs::path("/m/blocks")},
      {"none", std::nullopt, std::nullopt, std::nullopt, std::nullopt},
      {"all_empty", "", "", "", std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const ScopedEnv mei("MEI_CACHE_DIR", c.mei_cache_dir);
    const ScopedEnv xdg("XDG_CACHE_HOME", c.xdg_cache_home);
    const ScopedEnv home("HOME", c.home);
    auto path = DefaultBlockStorePath();
    if (c.expected) {
      ASSERT_TRUE(path) << path.error().message;
      EXPECT_EQ(*path, *c.expected);
    } else {
      ASSERT_FALSE(path);
      EXPECT_EQ(path.error().code, Errc::kBadRequest);
      EXPECT_NE(path.error().message.find("MEI_CACHE_DIR"), std::string::npos)
          << path.error().message;
    }
  }
}

}  // namespace
}  // namespace mei::tools
