#include "common/formats/model_format.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "common/byte_source.h"
#include "common/chunker.h"

namespace mei {
namespace {

TEST(ModelFormatTest, EveryFormatHasItsOwnNameAndSuffixesAndIsFoundByItsId) {
  std::set<std::string_view> names;
  std::set<std::string_view> suffixes;
  for (const ModelFormat& format : ModelFormats()) {
    SCOPED_TRACE(format.name);
    EXPECT_NE(format.id, FileFormat::kOther);
    EXPECT_TRUE(names.insert(format.name).second) << "a name given twice";
    EXPECT_NE(format.name, "other");
    EXPECT_TRUE(IsFormatName(format.name));
    EXPECT_EQ(FindModelFormat(format.id), &format);
    EXPECT_EQ(NameOf(format.id), format.name);
    // A format without a layout of its own has its map from another file, and no suffix.
    EXPECT_EQ(format.layout == nullptr, format.suffixes.empty());
    for (const std::string_view suffix : format.suffixes) {
      EXPECT_TRUE(suffixes.insert(suffix).second) << "suffix " << suffix << " given twice";
      EXPECT_TRUE(suffix.starts_with(".")) << suffix;
      EXPECT_EQ(FormatForPath("dir/model" + std::string(suffix)), format.id) << suffix;
    }
  }
  EXPECT_EQ(ModelFormats().size(), 8u);
  EXPECT_EQ(FindModelFormat(FileFormat::kOther), nullptr);
  EXPECT_EQ(NameOf(FileFormat::kOther), "other");
  EXPECT_TRUE(IsFormatName("other"));
  EXPECT_FALSE(IsFormatName("Other"));
  EXPECT_FALSE(IsFormatName(""));
  EXPECT_EQ(FormatForPath("config.json"), FileFormat::kOther);
}

// Only the formats whose names are a claim refuse a file that does not parse.
TEST(ModelFormatTest, OnlySafetensorsAndGgufNamesAreClaims) {
  for (const ModelFormat& format : ModelFormats()) {
    EXPECT_EQ(format.claimed,
              format.id == FileFormat::kSafetensors || format.id == FileFormat::kGguf)
        << format.name;
  }
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

// A file whose name only suggests a format (a guess) and that does not parse is cut by content,
// and the plan says why.
TEST(ModelFormatTest, AFileThatDoesNotParseAsAGuessedFormatIsCutByContentWithTheReason) {
  const std::vector<std::byte> junk(64, std::byte{0x5a});
  const MemoryByteSource file(junk, "junk.bin");
  for (const FileFormat format : {FileFormat::kOnnx, FileFormat::kTflite, FileFormat::kNumpy,
                                  FileFormat::kPytorch, FileFormat::kZip}) {
    SCOPED_TRACE(NameOf(format));
    const Result<ChunkPlan> plan = PlanChunks(file, format);
    ASSERT_TRUE(plan) << plan.error().message;
    EXPECT_EQ(plan->format, FileFormat::kOther);
    ASSERT_EQ(plan->blocks.size(), 1u);
    ASSERT_EQ(plan->fallbacks.size(), 1u);
    EXPECT_NE(plan->fallbacks[0].find("junk.bin"), std::string::npos) << plan->fallbacks[0];
    EXPECT_NE(plan->fallbacks[0].find(std::string("not as ") + std::string(NameOf(format))),
              std::string::npos)
        << plan->fallbacks[0];
  }
}

}  // namespace
}  // namespace mei
