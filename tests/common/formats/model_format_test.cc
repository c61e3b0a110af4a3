#include "common/formats/model_format.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "common/byte_source.h"
#include "common/chunker.h"

namespace mei {
namespace {

TEST(ModelFormatTest, EveryFormatHasItsOwnNameSuffixAndParserAndIsFoundByItsId) {
  std::set<std::string_view> names;
  std::set<std::string_view> suffixes;
  for (const ModelFormat& format : ModelFormats()) {
    SCOPED_TRACE(format.name);
    EXPECT_NE(format.id, FileFormat::kOther);
    EXPECT_TRUE(names.insert(format.name).second) << "a name given twice";
    EXPECT_TRUE(suffixes.insert(format.suffix).second) << "a suffix given twice";
    EXPECT_NE(format.name, "other");
    EXPECT_TRUE(format.suffix.starts_with("."));
    EXPECT_NE(format.tensors, nullptr);
    EXPECT_EQ(FindModelFormat(format.id), &format);
    EXPECT_EQ(NameOf(format.id), format.name);
    EXPECT_EQ(FormatForPath("dir/model" + std::string(format.suffix)), format.id);
  }
  EXPECT_EQ(ModelFormats().size(), 2u);
  EXPECT_EQ(FindModelFormat(FileFormat::kOther), nullptr);
  EXPECT_EQ(NameOf(FileFormat::kOther), "other");
}

// A file that claims a format by its name and does not parse is that format's error: the chunker
// never falls back to content-defined chunking for it.
TEST(ModelFormatTest, AFileThatDoesNotParseAsItsFormatIsThatFormatsError) {
  const std::vector<std::byte> junk(64, std::byte{0x5a});
  const MemoryByteSource file(junk, "junk");
  EXPECT_EQ(PlanChunks(file, FileFormat::kSafetensors).error().code, Errc::kBadSafetensors);
  EXPECT_EQ(PlanChunks(file, FileFormat::kGguf).error().code, Errc::kBadGguf);
  EXPECT_EQ(PlanChunks(file, FileFormat::kOther).value().blocks.size(), 1u);
}

}  // namespace
}  // namespace mei
