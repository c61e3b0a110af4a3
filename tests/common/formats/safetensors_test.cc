#include "common/formats/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tests/common/failing_byte_source.h"

namespace mei {
namespace {

using Bytes = std::vector<std::byte>;

// A safetensors file: the 8-byte length (the real one unless `claimed_length` is given), the
// header text, then `data_bytes` bytes of data.
Bytes SafetensorsFile(const std::string& header, std::uint64_t data_bytes,
                      std::optional<std::uint64_t> claimed_length = std::nullopt) {
  Bytes bytes;
  const std::uint64_t length = claimed_length.value_or(header.size());
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<std::byte>(length >> (8 * i)));
  for (const char c : header) bytes.push_back(static_cast<std::byte>(c));
  for (std::uint64_t i = 0; i < data_bytes; ++i) bytes.push_back(static_cast<std::byte>(i));
  return bytes;
}

// One header entry: "name":{"dtype":..., "shape":..., "data_offsets":[begin,end]}.
std::string Tensor(const std::string& name, const std::string& dtype, const std::string& shape,
                   std::uint64_t begin, std::uint64_t end) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(end) + "]}";
}

std::string Header(std::initializer_list<std::string> entries) {
  std::string header = "{";
  for (const std::string& entry : entries) {
    if (header.size() > 1) header += ",";
    header += entry;
  }
  return header + "}";
}

Result<SafetensorsHeader> Parse(const Bytes& bytes) {
  return ParseSafetensors(MemoryByteSource(bytes, "test.safetensors"));
}

void ExpectBad(const Result<SafetensorsHeader>& result, const std::string& fragment) {
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, Errc::kBadSafetensors);
  EXPECT_FALSE(result.error().message.empty());
  EXPECT_NE(result.error().message.find(fragment), std::string::npos) << result.error().message;
}

TEST(SafetensorsTest, TensorsOfSeveralDtypesGetAbsoluteOffsetsAndExactSizes) {
  const std::string header = Header({
      Tensor("w.f32", "F32", "[2,3]", 0, 24),
      Tensor("w.bf16", "BF16", "[4]", 24, 32),
      Tensor("w.f4", "F4", "[3,2]", 32, 35),
      Tensor("w.f6", "F6_E2M3", "[4]", 35, 38),
      Tensor("w.bool", "BOOL", "[]", 38, 39),
      Tensor("w.c64", "C64", "[1,1]", 40, 48),
  });
  const Result<SafetensorsHeader> parsed = Parse(SafetensorsFile(header, 48));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  const std::uint64_t start = 8 + header.size();
  EXPECT_EQ(parsed->data_start, start);
  EXPECT_TRUE(parsed->metadata.empty());
  const std::vector<TensorEntry> expected = {
      {.name = "w.f32", .dtype = "F32", .shape = {2, 3}, .offset = start, .size = 24},
      {.name = "w.bf16", .dtype = "BF16", .shape = {4}, .offset = start + 24, .size = 8},
      {.name = "w.f4", .dtype = "F4", .shape = {3, 2}, .offset = start + 32, .size = 3},
      {.name = "w.f6", .dtype = "F6_E2M3", .shape = {4}, .offset = start + 35, .size = 3},
      {.name = "w.bool", .dtype = "BOOL", .shape = {}, .offset = start + 38, .size = 1},
      {.name = "w.c64", .dtype = "C64", .shape = {1, 1}, .offset = start + 40, .size = 8},
  };
  EXPECT_EQ(parsed->tensors, expected);
}

TEST(SafetensorsTest, TensorsAreSortedByOffsetThenByName) {
  const std::string header = Header({
      Tensor("c", "U8", "[4]", 4, 8),
      Tensor("b.empty", "F16", "[0,7]", 4, 4),
      Tensor("a.empty", "I64", "[3,0]", 4, 4),
      Tensor("d", "U8", "[4]", 0, 4),
  });
  const Result<SafetensorsHeader> parsed = Parse(SafetensorsFile(header, 8));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  std::vector<std::string> names;
  for (const TensorEntry& tensor : parsed->tensors) names.push_back(tensor.name);
  EXPECT_EQ(names, (std::vector<std::string>{"d", "a.empty", "b.empty", "c"}));
  EXPECT_EQ(parsed->tensors[1].size, 0u);
}

TEST(SafetensorsTest, MetadataKeepsFileOrder) {
  const std::string header = Header({
      R"("__metadata__":{"format":"pt","zeta":"1","alpha":"x"})",
      Tensor("t", "I32", "[1]", 0, 4),
  });
  const Result<SafetensorsHeader> parsed = Parse(SafetensorsFile(header, 4));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"format", "pt"}, {"zeta", "1"}, {"alpha", "x"}};
  EXPECT_EQ(parsed->metadata, expected);
  ASSERT_EQ(parsed->tensors.size(), 1u);
  EXPECT_EQ(parsed->tensors[0].name, "t");
}

TEST(SafetensorsTest, GapsAndTrailingBytesAreAllowed) {
  const std::string header = Header({
      Tensor("a", "F16", "[2]", 0, 4),
      Tensor("b", "F16", "[2]", 16, 20),
  });
  const Result<SafetensorsHeader> parsed = Parse(SafetensorsFile(header, 100));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  ASSERT_EQ(parsed->tensors.size(), 2u);
  EXPECT_EQ(parsed->tensors[1].offset, parsed->data_start + 16);
}

TEST(SafetensorsTest, EmptyTensorInsideAnotherTensorDoesNotOverlapIt) {
  const std::string header = Header({
      Tensor("a", "F32", "[4]", 0, 16),
      Tensor("empty", "F32", "[0]", 8, 8),
      Tensor("b", "F32", "[1]", 16, 20),
  });
  const Result<SafetensorsHeader> parsed = Parse(SafetensorsFile(header, 20));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(parsed->tensors.size(), 3u);
}

TEST(SafetensorsTest, HeaderPaddedWithSpacesAndWithoutTensorsIsValid) {
  const Result<SafetensorsHeader> parsed = Parse(SafetensorsFile("{}      ", 0));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(parsed->data_start, 16u);
  EXPECT_TRUE(parsed->tensors.empty());
}

// Records every read, so that a test can see how the parser used its source.
class RecordingByteSource final : public ByteSource {
 public:
  explicit RecordingByteSource(const Bytes& bytes) : inner_(bytes) {}
  std::uint64_t size() const override { return inner_.size(); }
  Result<void> ReadAt(std::uint64_t offset, std::span<std::byte> out) const override {
    reads.emplace_back(offset, out.size());
    return inner_.ReadAt(offset, out);
  }
  const std::string& name() const override { return inner_.name(); }

  mutable std::vector<std::pair<std::uint64_t, std::size_t>> reads;

 private:
  MemoryByteSource inner_;
};

TEST(SafetensorsTest, ReadsTheLengthAndThenTheWholeHeaderInOneRead) {
  const std::string header = Header({Tensor("a", "F64", "[1000]", 0, 8000)});
  const Bytes bytes = SafetensorsFile(header, 8000);
  const RecordingByteSource source(bytes);
  const Result<SafetensorsHeader> parsed = ParseSafetensors(source);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  const std::vector<std::pair<std::uint64_t, std::size_t>> expected = {{0, 8}, {8, header.size()}};
  EXPECT_EQ(source.reads, expected);
}

TEST(SafetensorsTest, ParsesAFileOnDisk) {
  const std::string header = Header({
      R"("__metadata__":{"format":"pt"})",
      Tensor("embed", "BF16", "[8,4]", 0, 64),
  });
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("safetensors_test_" + std::to_string(::getpid()));
  {
    const Bytes bytes = SafetensorsFile(header, 64);
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  Result<FileByteSource> file = FileByteSource::Open(path);
  ASSERT_TRUE(file.has_value()) << file.error().message;
  const Result<SafetensorsHeader> parsed = ParseSafetensors(*file);
  std::filesystem::remove(path);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  ASSERT_EQ(parsed->tensors.size(), 1u);
  EXPECT_EQ(parsed->tensors[0].offset, 8 + header.size());
  EXPECT_EQ(parsed->tensors[0].size, 64u);
  EXPECT_EQ(parsed->metadata.size(), 1u);
}

TEST(SafetensorsTest, FileShorterThanTheLengthFieldIsRejected) {
  const Bytes bytes(5, std::byte{0});
  ExpectBad(Parse(bytes), "5 bytes");
}

TEST(SafetensorsTest, ErrorsNameTheFile) {
  ExpectBad(Parse(SafetensorsFile("[]", 0)), "test.safetensors");
}

TEST(SafetensorsTest, ReadErrorsStayIoErrors) {
  const Result<SafetensorsHeader> parsed = ParseSafetensors(FailingByteSource());
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().code, Errc::kIo);
  EXPECT_EQ(parsed.error().message, "disk on fire");
}

struct MalformedCase {
  std::string name;
  std::string header;
  std::uint64_t data_bytes = 0;
  std::optional<std::uint64_t> claimed_length;
  std::string fragment;  // must appear in the error message
};

void PrintTo(const MalformedCase& c, std::ostream* out) { *out << c.name; }

class MalformedSafetensorsTest : public testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedSafetensorsTest, IsRejectedWithAClearError) {
  const MalformedCase& c = GetParam();
  ExpectBad(Parse(SafetensorsFile(c.header, c.data_bytes, c.claimed_length)), c.fragment);
}

const std::string kValid = Header({Tensor("t", "F32", "[2]", 0, 8)});

INSTANTIATE_TEST_SUITE_P(
    SafetensorsTest, MalformedSafetensorsTest,
    testing::Values(
        MalformedCase{"HeaderLengthBeyondFile", kValid, 8, kValid.size() + 9, "past the end"},
        MalformedCase{"HeaderLengthOverBound", kValid, 8, kMaxSafetensorsHeaderBytes + 1,
                      "exceeds the limit"},
        MalformedCase{"HeaderLengthNearTwoToThe64", kValid, 8, ~std::uint64_t{0}, "limit"},
        MalformedCase{"NotJson", "{\"t\": {", 0, {}, "not valid JSON"},
        MalformedCase{"EmptyHeader", "", 0, {}, "not valid JSON"},
        MalformedCase{"JsonArray", "[1,2]", 0, {}, "not an object"},
        MalformedCase{"TensorNotAnObject", R"({"t":5})", 0, {}, "\"t\""},
        MalformedCase{
            "MissingDtype", R"({"t":{"shape":[1],"data_offsets":[0,4]}})", 4, {}, "no \"dtype\""},
        MalformedCase{
            "MissingShape", R"({"t":{"dtype":"F32","data_offsets":[0,4]}})", 4, {}, "no \"shape\""},
        MalformedCase{"MissingDataOffsets",
                      R"({"t":{"dtype":"F32","shape":[1]}})",
                      4,
                      {},
                      "no \"data_offsets\""},
        MalformedCase{"DtypeNotAString",
                      R"({"t":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})",
                      4,
                      {},
                      "not a string"},
        MalformedCase{"UnknownDtype",
                      Header({Tensor("t", "F12", "[1]", 0, 4)}),
                      4,
                      {},
                      "unknown dtype \"F12\""},
        MalformedCase{
            "ShapeNotAnArray", Header({Tensor("t", "F32", "4", 0, 16)}), 16, {}, "not an array"},
        MalformedCase{"NegativeDimension",
                      Header({Tensor("t", "F32", "[2,-1]", 0, 8)}),
                      8,
                      {},
                      "shape element 1"},
        MalformedCase{"FractionalDimension",
                      Header({Tensor("t", "F32", "[2.5]", 0, 8)}),
                      8,
                      {},
                      "shape element 0"},
        MalformedCase{"ShapeAndSizeDisagree",
                      Header({Tensor("t", "F32", "[2,3]", 0, 20)}),
                      20,
                      {},
                      "needs 24 bytes"},
        MalformedCase{"SubByteTensorNotWholeBytes",
                      Header({Tensor("t", "F4", "[3]", 0, 2)}),
                      2,
                      {},
                      "12 bits"},
        MalformedCase{"ElementCountOverflows",
                      Header({Tensor("t", "U8", "[4294967296,4294967296]", 0, 8)}),
                      8,
                      {},
                      "64 bits"},
        MalformedCase{"BitCountOverflows",
                      Header({Tensor("t", "F32", "[2305843009213693952]", 0, 8)}),
                      8,
                      {},
                      "64 bits"},
        MalformedCase{"DataOffsetsNotAPair",
                      R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4]}})",
                      4,
                      {},
                      "data_offsets"},
        MalformedCase{"DataOffsetsNotIntegers",
                      R"({"t":{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}})",
                      4,
                      {},
                      "not two non-negative integers"},
        MalformedCase{"DataOffsetsNegative",
                      R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})",
                      4,
                      {},
                      "not two non-negative integers"},
        MalformedCase{"BeginAfterEnd",
                      Header({Tensor("t", "F32", "[0]", 8, 4)}),
                      8,
                      {},
                      "begin 8 is after end 4"},
        MalformedCase{"DataBeyondFile",
                      Header({Tensor("t", "F32", "[2]", 0, 8)}),
                      7,
                      {},
                      "holds only 7 bytes"},
        MalformedCase{"PartialOverlap",
                      Header({Tensor("a", "F32", "[2]", 0, 8), Tensor("b", "F32", "[2]", 4, 12)}),
                      12,
                      {},
                      "overlap"},
        MalformedCase{"SameRangeTwice",
                      Header({Tensor("a", "F32", "[2]", 0, 8), Tensor("b", "I32", "[2]", 0, 8)}),
                      8,
                      {},
                      "overlap"},
        MalformedCase{"TensorInsideAnEarlierOne",
                      Header({Tensor("big", "F32", "[4]", 0, 16), Tensor("x", "U8", "[1]", 4, 5),
                              Tensor("y", "U8", "[1]", 12, 13)}),
                      16,
                      {},
                      "\"big\""},
        MalformedCase{"MetadataNotAnObject",
                      Header({R"("__metadata__":"x")", Tensor("t", "F32", "[1]", 0, 4)}),
                      4,
                      {},
                      "__metadata__"},
        MalformedCase{"MetadataWithNumberValue",
                      Header({R"("__metadata__":{"epoch":3})", Tensor("t", "F32", "[1]", 0, 4)}),
                      4,
                      {},
                      "\"epoch\""},
        MalformedCase{"MetadataWithNullValue",
                      Header({R"("__metadata__":{"note":null})"}),
                      0,
                      {},
                      "\"note\""}),
    [](const testing::TestParamInfo<MalformedCase>& info) { return info.param.name; });

}  // namespace
}  // namespace mei
