#include "tools/get/file_index.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/tools/get/scratch_dir.h"

namespace mei::tools {
namespace {

namespace fs = std::filesystem;

BlockId IdOf(std::string_view text) {
  return Sha256Of(std::as_bytes(std::span(text.data(), text.size())));
}

class FileIndexTest : public testing::ScratchDirTest {
 protected:
  // Writes `size` bytes to `name` and returns its complete entry, holding blocks "a" and "b".
  IndexedFile WriteFile(const std::string& name, std::uint64_t size) const {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << std::string(size, 'x');
    ManifestFile file;
    file.size = size;
    file.sha256 = IdOf(name);
    file.blocks = {{IdOf("a"), 0, size / 2}, {IdOf("b"), size / 2, size - size / 2}};
    auto entry = FileIndex::EntryOf(path, file);
    EXPECT_TRUE(entry) << entry.error().message;
    return *entry;
  }
};

TEST_F(FileIndexTest, FormatThenParseKeepsEveryFieldAndOddPaths) {
  std::map<std::string, IndexedFile> entries;
  for (const std::string name : {"plain.bin", "with space.bin", "tab\there", "new\nline", "100%"}) {
    IndexedFile entry;
    entry.path = "/models/" + name;
    entry.size = 1000 + name.size();
    entry.mtime_ns = 1'700'000'000'123'456'789;
    entry.partial = name.size() % 2 == 0;
    entry.sha256 = IdOf(name);
    entry.blocks = {{IdOf(name + "0"), 0, 600}, {IdOf(name + "1"), 600, entry.size - 600}};
    entries[entry.path.string()] = entry;
  }
  const auto parsed = ParseFileIndex(FormatFileIndex(entries));
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->size(), entries.size());
  for (const auto& [key, entry] : entries) {
    SCOPED_TRACE(key);
    const IndexedFile& got = parsed->at(key);
    EXPECT_EQ(got.path, entry.path);
    EXPECT_EQ(got.size, entry.size);
    EXPECT_EQ(got.mtime_ns, entry.mtime_ns);
    EXPECT_EQ(got.partial, entry.partial);
    EXPECT_EQ(got.sha256, entry.sha256);
    EXPECT_EQ(got.blocks, entry.blocks);
  }
  const auto none = ParseFileIndex(FormatFileIndex({}));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(FileIndexTest, TextThatIsNotAWholeIndexIsRefused) {
  const std::string id = IdOf("a").Hex();
  const std::string file = "file\tcomplete\t100\t5\t" + id + "\t/m/a.bin\n";
  const struct {
    const char* name;
    std::string text;
  } cases[] = {
      {"empty", ""},
      {"other_header", "mei-file-index 2\n"},
      {"torn_last_line", "mei-file-index 1\n" + file.substr(0, file.size() - 1)},
      {"block_before_any_file", "mei-file-index 1\nblock\t" + id + "\t0\t10\n"},
      {"block_past_the_file", "mei-file-index 1\n" + file + "block\t" + id + "\t90\t11\n"},
      {"bad_block_id", "mei-file-index 1\n" + file + "block\tnot-hex\t0\t10\n"},
      {"unknown_kind", "mei-file-index 1\nfile\thalf\t100\t5\t" + id + "\t/m/a.bin\n"},
      {"negative_size", "mei-file-index 1\nfile\tcomplete\t-1\t5\t" + id + "\t/m/a.bin\n"},
      {"bad_escape", "mei-file-index 1\nfile\tcomplete\t100\t5\t" + id + "\t/m/%G0\n"},
      {"unknown_line", "mei-file-index 1\n" + file + "extra\n"},
  };
  for (const auto& c : cases) {
    EXPECT_FALSE(ParseFileIndex(c.text)) << c.name;
  }
  EXPECT_TRUE(ParseFileIndex("mei-file-index 1\n" + file + "block\t" + id + "\t90\t10\n"));
}

TEST_F(FileIndexTest, AMissingOrMalformedFileOpensEmpty) {
  EXPECT_TRUE(FileIndex::Open(dir_ / "missing").entries().empty());
  std::ofstream(dir_ / "bad") << "not an index\n";
  EXPECT_TRUE(FileIndex::Open(dir_ / "bad").entries().empty());
}

TEST_F(FileIndexTest, ACompleteFileIsFreshWhileItKeepsItsSizeAndTimeAPartialWhileItKeepsItsSize) {
  IndexedFile complete = WriteFile("complete.bin", 100);
  EXPECT_TRUE(FileIndex::IsFresh(complete));
  fs::last_write_time(complete.path, fs::last_write_time(complete.path) + std::chrono::seconds(3));
  EXPECT_FALSE(FileIndex::IsFresh(complete));

  IndexedFile partial = WriteFile("partial.bin", 100);
  partial.partial = true;
  partial.mtime_ns = 0;
  fs::last_write_time(partial.path, fs::last_write_time(partial.path) + std::chrono::seconds(3));
  EXPECT_TRUE(FileIndex::IsFresh(partial));
  fs::resize_file(partial.path, 99);
  EXPECT_FALSE(FileIndex::IsFresh(partial));
  fs::remove(partial.path);
  EXPECT_FALSE(FileIndex::IsFresh(partial));
}

TEST_F(FileIndexTest, DropStaleRemovesChangedAndMissingFilesAndSaveKeepsTheDrop) {
  FileIndex index = FileIndex::Open(dir_ / "index");
  const IndexedFile kept = WriteFile("kept.bin", 10);
  const IndexedFile changed = WriteFile("changed.bin", 10);
  const IndexedFile gone = WriteFile("gone.bin", 10);
  for (const IndexedFile& entry : {kept, changed, gone}) index.Put(entry);
  ASSERT_TRUE(index.Save());

  fs::resize_file(changed.path, 11);
  fs::remove(gone.path);
  FileIndex reopened = FileIndex::Open(dir_ / "index");
  EXPECT_EQ(reopened.entries().size(), 3u);
  reopened.DropStale();
  ASSERT_TRUE(reopened.Save());
  const FileIndex saved = FileIndex::Open(dir_ / "index");
  ASSERT_EQ(saved.entries().size(), 1u);
  EXPECT_NE(saved.Find(kept.path), nullptr);
}

TEST_F(FileIndexTest, LocateNamesEveryPlaceCompleteFilesFirst) {
  FileIndex index = FileIndex::Open(dir_ / "index");
  IndexedFile partial = WriteFile("a-partial.bin", 10);
  partial.partial = true;
  const IndexedFile complete = WriteFile("b-complete.bin", 20);
  index.Put(partial);
  index.Put(complete);

  const std::vector<BlockLocation> found = index.Locate(IdOf("b"));
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].path, complete.path);
  EXPECT_EQ(found[0].offset, 10u);
  EXPECT_FALSE(found[0].partial);
  EXPECT_EQ(found[1].path, partial.path);
  EXPECT_EQ(found[1].offset, 5u);
  EXPECT_TRUE(found[1].partial);
  EXPECT_TRUE(index.Locate(IdOf("c")).empty());

  index.Remove(complete.path);  // and the lookup follows
  EXPECT_EQ(index.Locate(IdOf("b")).size(), 1u);
}

TEST_F(FileIndexTest, SaveMergesWithWhatAnotherProcessSavedMeanwhile) {
  const IndexedFile x = WriteFile("x.bin", 10);
  const IndexedFile y = WriteFile("y.bin", 10);
  const IndexedFile z = WriteFile("z.bin", 10);
  FileIndex first = FileIndex::Open(dir_ / "index");
  first.Put(z);
  ASSERT_TRUE(first.Save());

  FileIndex a = FileIndex::Open(dir_ / "index");
  FileIndex b = FileIndex::Open(dir_ / "index");
  a.Put(x);
  b.Put(y);
  b.Remove(z.path);
  ASSERT_TRUE(a.Save());
  ASSERT_TRUE(b.Save());

  const FileIndex saved = FileIndex::Open(dir_ / "index");
  EXPECT_NE(saved.Find(x.path), nullptr);
  EXPECT_NE(saved.Find(y.path), nullptr);
  EXPECT_EQ(saved.Find(z.path), nullptr);
  EXPECT_EQ(saved.entries().size(), 2u);
  // b sees a's entry after its save, and no temporary is left.
  EXPECT_NE(b.Find(x.path), nullptr);
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
}

TEST_F(FileIndexTest, SaveIntoAFolderThatIsNotThereFailsWithIo) {
  FileIndex index = FileIndex::Open(dir_ / "no-such-folder" / "index");
  index.Put(WriteFile("x.bin", 10));
  auto saved = index.Save();
  ASSERT_FALSE(saved);
  EXPECT_EQ(saved.error().code, Errc::kIo);
}

}  // namespace
}  // namespace mei::tools
