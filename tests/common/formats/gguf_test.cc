#include "common/formats/gguf.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "tests/common/failing_byte_source.h"

namespace mei {
namespace {

using Bytes = std::vector<std::byte>;

constexpr std::uint32_t kF32 = 0;
constexpr std::uint32_t kQ4_0 = 2;
constexpr std::uint32_t kQ4_K = 12;

// Appends little-endian fields, the way a GGUF writer lays them out.
class ByteWriter {
 public:
  template <class T>
  ByteWriter& Le(T value) {
    const auto bits = static_cast<std::uint64_t>(value);
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      bytes_.push_back(static_cast<std::byte>(bits >> (8 * i)));
    }
    return *this;
  }
  ByteWriter& Type(GgufType type) { return Le(static_cast<std::uint32_t>(type)); }
  ByteWriter& Str(std::string_view text) {
    Le(std::uint64_t{text.size()});
    for (const char c : text) bytes_.push_back(static_cast<std::byte>(c));
    return *this;
  }
  ByteWriter& Raw(const Bytes& bytes) {
    bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  const Bytes& bytes() const { return bytes_; }

 private:
  Bytes bytes_;
};

struct TensorSpec {
  std::string name;
  std::vector<std::uint64_t> dims;
  std::uint32_t ggml_type = kF32;
  std::uint64_t offset = 0;
};

// Builds GGUF files, valid unless a test asks for something else.
class GgufBuilder {
 public:
  GgufBuilder& Version(std::uint32_t version) {
    version_ = version;
    return *this;
  }
  // `value` is the encoded value that follows the type.
  GgufBuilder& Kv(std::string_view key, GgufType type, const ByteWriter& value) {
    kv_.Str(key).Type(type).Raw(value.bytes());
    ++kv_count_;
    return *this;
  }
  GgufBuilder& KvU32(std::string_view key, std::uint32_t value) {
    return Kv(key, GgufType::kUint32, ByteWriter().Le(value));
  }
  GgufBuilder& KvString(std::string_view key, std::string_view value) {
    return Kv(key, GgufType::kString, ByteWriter().Str(value));
  }
  GgufBuilder& Alignment(std::uint64_t alignment) {
    padding_ = alignment;
    return KvU32("general.alignment", static_cast<std::uint32_t>(alignment));
  }
  GgufBuilder& Tensor(TensorSpec tensor) {
    tensors_.push_back(std::move(tensor));
    return *this;
  }
  GgufBuilder& DataBytes(std::uint64_t bytes) {
    data_bytes_ = bytes;
    return *this;
  }
  GgufBuilder& ClaimTensorCount(std::uint64_t count) {
    tensor_count_ = count;
    return *this;
  }
  GgufBuilder& ClaimMetadataCount(std::uint64_t count) {
    metadata_count_ = count;
    return *this;
  }

  Bytes Build() const {
    ByteWriter out;
    out.Raw({std::byte{'G'}, std::byte{'G'}, std::byte{'U'}, std::byte{'F'}});
    out.Le(version_).Le(tensor_count_.value_or(tensors_.size()));
    out.Le(metadata_count_.value_or(kv_count_)).Raw(kv_.bytes());
    for (const TensorSpec& tensor : tensors_) {
      out.Str(tensor.name).Le(static_cast<std::uint32_t>(tensor.dims.size()));
      for (const std::uint64_t dim : tensor.dims) out.Le(dim);
      out.Le(tensor.ggml_type).Le(tensor.offset);
    }
    Bytes bytes = out.bytes();
    bytes.resize((bytes.size() + padding_ - 1) / padding_ * padding_ + data_bytes_);
    return bytes;
  }

 private:
  std::uint32_t version_ = 3;
  ByteWriter kv_;
  std::uint64_t kv_count_ = 0;
  std::vector<TensorSpec> tensors_;
  std::uint64_t padding_ = 32;
  std::uint64_t data_bytes_ = 0;
  std::optional<std::uint64_t> tensor_count_;
  std::optional<std::uint64_t> metadata_count_;
};

Result<GgufFile> Parse(const Bytes& bytes) {
  return ParseGguf(MemoryByteSource(bytes, "test.gguf"));
}

void ExpectBad(const Result<GgufFile>& result, const std::string& fragment) {
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, Errc::kBadGguf);
  EXPECT_FALSE(result.error().message.empty());
  EXPECT_NE(result.error().message.find(fragment), std::string::npos) << result.error().message;
}

const GgufValue* Find(const GgufFile& gguf, std::string_view key) {
  for (const auto& [name, value] : gguf.metadata) {
    if (name == key) return &value;
  }
  return nullptr;
}

TEST(GgufTest, VersionsTwoAndThreeParseToSortedAbsoluteTensors) {
  for (const std::uint32_t version : {2u, 3u}) {
    SCOPED_TRACE(version);
    const Bytes bytes = GgufBuilder()
                            .Version(version)
                            .KvString("general.architecture", "llama")
                            .Tensor({"blk.0.ffn", {256, 2}, kQ4_K, 96})
                            .Tensor({"token_embd", {4, 2}, kF32, 0})
                            .Tensor({"blk.0.attn_q", {64}, kQ4_0, 32})
                            .DataBytes(96 + 288)
                            .Build();
    const Result<GgufFile> gguf = Parse(bytes);
    ASSERT_TRUE(gguf.has_value()) << gguf.error().message;
    EXPECT_EQ(gguf->version, version);
    EXPECT_EQ(gguf->alignment, 32u);
    EXPECT_EQ(gguf->data_start % 32, 0u);
    EXPECT_EQ(gguf->data_start, bytes.size() - 384);
    const std::uint64_t start = gguf->data_start;
    const std::vector<TensorEntry> expected = {
        {.name = "token_embd", .dtype = "F32", .shape = {4, 2}, .offset = start, .size = 32},
        {.name = "blk.0.attn_q", .dtype = "Q4_0", .shape = {64}, .offset = start + 32, .size = 36},
        {.name = "blk.0.ffn",
         .dtype = "Q4_K",
         .shape = {256, 2},
         .offset = start + 96,
         .size = 288},
    };
    EXPECT_EQ(gguf->tensors, expected);
    ASSERT_EQ(gguf->metadata.size(), 1u);
    EXPECT_EQ(std::get<std::string>(gguf->metadata[0].second.value), "llama");
  }
}

TEST(GgufTest, MetadataOfEveryValueTypeIsDecoded) {
  ByteWriter nested;  // [[1, -2], [], [3]] of int16
  nested.Type(GgufType::kArray).Le(std::uint64_t{3});
  nested.Type(GgufType::kInt16).Le(std::uint64_t{2}).Le(std::int16_t{1}).Le(std::int16_t{-2});
  nested.Type(GgufType::kInt16).Le(std::uint64_t{0});
  nested.Type(GgufType::kInt16).Le(std::uint64_t{1}).Le(std::int16_t{3});
  const Bytes bytes =
      GgufBuilder()
          .Kv("u8", GgufType::kUint8, ByteWriter().Le(std::uint8_t{200}))
          .Kv("i8", GgufType::kInt8, ByteWriter().Le(std::int8_t{-5}))
          .Kv("u16", GgufType::kUint16, ByteWriter().Le(std::uint16_t{60000}))
          .Kv("i16", GgufType::kInt16, ByteWriter().Le(std::int16_t{-300}))
          .Kv("u32", GgufType::kUint32, ByteWriter().Le(std::uint32_t{4000000000}))
          .Kv("i32", GgufType::kInt32, ByteWriter().Le(std::int32_t{-70000}))
          .Kv("f32", GgufType::kFloat32, ByteWriter().Le(std::bit_cast<std::uint32_t>(1.5f)))
          .Kv("bool", GgufType::kBool, ByteWriter().Le(std::uint8_t{1}))
          .KvString("string", "héllo")
          .Kv("u64", GgufType::kUint64, ByteWriter().Le(~std::uint64_t{0}))
          .Kv("i64", GgufType::kInt64, ByteWriter().Le(std::int64_t{-1} << 40))
          .Kv("f64", GgufType::kFloat64, ByteWriter().Le(std::bit_cast<std::uint64_t>(-0.25)))
          .Kv("strings", GgufType::kArray,
              ByteWriter().Type(GgufType::kString).Le(std::uint64_t{2}).Str("a").Str(""))
          .Kv("nested", GgufType::kArray, nested)
          .Build();
  const Result<GgufFile> gguf = Parse(bytes);
  ASSERT_TRUE(gguf.has_value()) << gguf.error().message;
  ASSERT_EQ(gguf->metadata.size(), 14u);
  EXPECT_EQ(gguf->metadata[0].first, "u8");
  EXPECT_EQ(gguf->metadata[13].first, "nested");

  const auto unsigned_of = [&](std::string_view key) {
    return std::get<std::uint64_t>(Find(*gguf, key)->value);
  };
  const auto signed_of = [&](std::string_view key) {
    return std::get<std::int64_t>(Find(*gguf, key)->value);
  };
  EXPECT_EQ(unsigned_of("u8"), 200u);
  EXPECT_EQ(unsigned_of("u16"), 60000u);
  EXPECT_EQ(unsigned_of("u32"), 4000000000u);
  EXPECT_EQ(unsigned_of("u64"), ~std::uint64_t{0});
  EXPECT_EQ(signed_of("i8"), -5);
  EXPECT_EQ(signed_of("i16"), -300);
  EXPECT_EQ(signed_of("i32"), -70000);
  EXPECT_EQ(signed_of("i64"), std::int64_t{-1} << 40);
  EXPECT_EQ(Find(*gguf, "u16")->type, GgufType::kUint16);
  EXPECT_EQ(Find(*gguf, "i32")->type, GgufType::kInt32);
  EXPECT_EQ(std::get<double>(Find(*gguf, "f32")->value), 1.5);
  EXPECT_EQ(std::get<double>(Find(*gguf, "f64")->value), -0.25);
  EXPECT_EQ(std::get<bool>(Find(*gguf, "bool")->value), true);
  EXPECT_EQ(std::get<std::string>(Find(*gguf, "string")->value), "héllo");

  const GgufValue& strings = *Find(*gguf, "strings");
  EXPECT_EQ(strings.type, GgufType::kArray);
  EXPECT_EQ(strings.element_type, GgufType::kString);
  const auto& texts = std::get<std::vector<GgufValue>>(strings.value);
  ASSERT_EQ(texts.size(), 2u);
  EXPECT_EQ(std::get<std::string>(texts[0].value), "a");
  EXPECT_EQ(std::get<std::string>(texts[1].value), "");

  const GgufValue& outer = *Find(*gguf, "nested");
  EXPECT_EQ(outer.element_type, GgufType::kArray);
  const auto& rows = std::get<std::vector<GgufValue>>(outer.value);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].element_type, GgufType::kInt16);
  const auto& first = std::get<std::vector<GgufValue>>(rows[0].value);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(std::get<std::int64_t>(first[1].value), -2);
  EXPECT_TRUE(std::get<std::vector<GgufValue>>(rows[1].value).empty());
  EXPECT_EQ(std::get<std::int64_t>(std::get<std::vector<GgufValue>>(rows[2].value)[0].value), 3);
}

// An array of arrays ... of one uint8, `levels` arrays deep.
ByteWriter NestedArrays(int levels) {
  ByteWriter value;
  for (int level = 1; level < levels; ++level) value.Type(GgufType::kArray).Le(std::uint64_t{1});
  value.Type(GgufType::kUint8).Le(std::uint64_t{1}).Le(std::uint8_t{7});
  return value;
}

TEST(GgufTest, ArraysNestEightLevelsDeepButNotNine) {
  const Result<GgufFile> eight =
      Parse(GgufBuilder().Kv("deep", GgufType::kArray, NestedArrays(8)).Build());
  ASSERT_TRUE(eight.has_value()) << eight.error().message;
  const GgufValue* value = &eight->metadata[0].second;
  for (int level = 1; level < 8; ++level) {
    value = &std::get<std::vector<GgufValue>>(value->value).at(0);
  }
  EXPECT_EQ(std::get<std::uint64_t>(std::get<std::vector<GgufValue>>(value->value).at(0).value),
            7u);
  ExpectBad(Parse(GgufBuilder().Kv("deep", GgufType::kArray, NestedArrays(9)).Build()),
            "deeper than 8");
}

TEST(GgufTest, CustomAlignmentPlacesTheDataSectionAndOffsets) {
  const Bytes bytes = GgufBuilder()
                          .Alignment(256)
                          .Tensor({"a", {8}, kF32, 0})
                          .Tensor({"b", {8}, kF32, 256})
                          .DataBytes(256 + 32)
                          .Build();
  const Result<GgufFile> gguf = Parse(bytes);
  ASSERT_TRUE(gguf.has_value()) << gguf.error().message;
  EXPECT_EQ(gguf->alignment, 256u);
  EXPECT_EQ(gguf->data_start, 256u);
  ASSERT_EQ(gguf->tensors.size(), 2u);
  EXPECT_EQ(gguf->tensors[1].offset, 512u);
}

TEST(GgufTest, AlignmentMayBeAnyUnsignedIntegerType) {
  const Bytes bytes =
      GgufBuilder()
          .Kv("general.alignment", GgufType::kUint64, ByteWriter().Le(std::uint64_t{64}))
          .Build();
  const Result<GgufFile> gguf = Parse(bytes);
  ASSERT_TRUE(gguf.has_value()) << gguf.error().message;
  EXPECT_EQ(gguf->alignment, 64u);
}

TEST(GgufTest, FileWithoutTensorsNeedNotBePadded) {
  Bytes bytes = GgufBuilder().KvString("tokenizer.ggml.model", "gpt2").Build();
  while (bytes.back() == std::byte{0}) bytes.pop_back();
  const Result<GgufFile> gguf = Parse(bytes);
  ASSERT_TRUE(gguf.has_value()) << gguf.error().message;
  EXPECT_TRUE(gguf->tensors.empty());
  EXPECT_EQ(gguf->data_start, bytes.size());
}

struct GgmlTypeCase {
  std::uint32_t number;
  std::string_view name;
  std::uint64_t block_elements;
  std::uint64_t block_bytes;
};

constexpr GgmlTypeCase kGgmlTypes[] = {
    {0, "F32", 1, 4},         {1, "F16", 1, 2},         {2, "Q4_0", 32, 18},
    {3, "Q4_1", 32, 20},      {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},
    {8, "Q8_0", 32, 34},      {9, "Q8_1", 32, 36},      {10, "Q2_K", 256, 84},
    {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},   {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},   {15, "Q8_K", 256, 292},   {16, "IQ2_XXS", 256, 66},
    {17, "IQ2_XS", 256, 74},  {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},
    {20, "IQ4_NL", 32, 18},   {21, "IQ3_S", 256, 110},  {22, "IQ2_S", 256, 82},
    {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},         {25, "I16", 1, 2},
    {26, "I32", 1, 4},        {27, "I64", 1, 8},        {28, "F64", 1, 8},
    {29, "IQ1_M", 256, 56},   {30, "BF16", 1, 2},       {34, "TQ1_0", 256, 54},
    {35, "TQ2_0", 256, 66},   {39, "MXFP4", 32, 17},    {40, "NVFP4", 64, 36},
    {41, "Q1_0", 128, 18},    {42, "Q2_0", 64, 18},
};

TEST(GgufTest, EveryGgmlTypeSizesItsTensorsByBlocks) {
  for (const GgmlTypeCase& type : kGgmlTypes) {
    SCOPED_TRACE(type.name);
    EXPECT_EQ(GgmlTypeName(type.number), type.name);
    const std::uint64_t size = 2 * 3 * type.block_bytes;
    const Bytes bytes = GgufBuilder()
                            .Tensor({"t", {2 * type.block_elements, 3}, type.number, 0})
                            .DataBytes(size)
                            .Build();
    const Result<GgufFile> gguf = Parse(bytes);
    ASSERT_TRUE(gguf.has_value()) << gguf.error().message;
    ASSERT_EQ(gguf->tensors.size(), 1u);
    EXPECT_EQ(gguf->tensors[0].size, size);
    EXPECT_EQ(gguf->tensors[0].dtype, type.name);
  }
}

TEST(GgufTest, RetiredAndUnassignedGgmlTypesHaveNoName) {
  for (const std::uint32_t number : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 43u, 1000u}) {
    SCOPED_TRACE(number);
    EXPECT_EQ(GgmlTypeName(number), "");
  }
}

// Records every read, so that a test can see how the parser used its source.
class RecordingByteSource final : public ByteSource {
 public:
  explicit RecordingByteSource(const Bytes& bytes) : inner_(bytes) {}
  std::uint64_t size() const override { return inner_.size(); }
  Result<void> ReadAt(std::uint64_t offset, std::span<std::byte> out) const override {
    ++reads;
    return inner_.ReadAt(offset, out);
  }
  const std::string& name() const override { return inner_.name(); }

  mutable int reads = 0;

 private:
  MemoryByteSource inner_;
};

TEST(GgufTest, LargeMetadataIsReadIntactThroughFewWindowedReads) {
  constexpr std::uint64_t kTokens = 30000;
  ByteWriter tokens;
  tokens.Type(GgufType::kString).Le(kTokens);
  for (std::uint64_t i = 0; i < kTokens; ++i) tokens.Str(std::string(i % 13, 'a' + i % 26));
  const std::string long_text(100'000, 'x');
  const Bytes bytes = GgufBuilder()
                          .Kv("tokenizer.ggml.tokens", GgufType::kArray, tokens)
                          .KvString("tokenizer.chat_template", long_text)
                          .Tensor({"t", {8}, kF32, 0})
                          .DataBytes(32)
                          .Build();
  const RecordingByteSource source(bytes);
  const Result<GgufFile> gguf = ParseGguf(source);
  ASSERT_TRUE(gguf.has_value()) << gguf.error().message;
  const auto& values = std::get<std::vector<GgufValue>>(gguf->metadata[0].second.value);
  ASSERT_EQ(values.size(), kTokens);
  for (std::uint64_t i = 0; i < kTokens; ++i) {
    ASSERT_EQ(std::get<std::string>(values[i].value), std::string(i % 13, 'a' + i % 26)) << i;
  }
  EXPECT_EQ(std::get<std::string>(gguf->metadata[1].second.value), long_text);
  EXPECT_EQ(gguf->tensors[0].offset, bytes.size() - 32);
  EXPECT_LE(source.reads, static_cast<int>(bytes.size() / (64 * 1024)) + 3);
}

TEST(GgufTest, ParsesAFileOnDisk) {
  const Bytes bytes = GgufBuilder()
                          .KvString("general.name", "tiny")
                          .Tensor({"output", {32, 2}, kQ4_0, 0})
                          .DataBytes(36)
                          .Build();
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("gguf_test_" + std::to_string(::getpid()));
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  Result<FileByteSource> file = FileByteSource::Open(path);
  ASSERT_TRUE(file.has_value()) << file.error().message;
  const Result<GgufFile> gguf = ParseGguf(*file);
  std::filesystem::remove(path);
  ASSERT_TRUE(gguf.has_value()) << gguf.error().message;
  ASSERT_EQ(gguf->tensors.size(), 1u);
  EXPECT_EQ(gguf->tensors[0].size, 36u);
  EXPECT_EQ(gguf->tensors[0].offset, bytes.size() - 36);
}

TEST(GgufTest, ReadErrorsStayIoErrors) {
  const Result<GgufFile> gguf = ParseGguf(FailingByteSource());
  ASSERT_FALSE(gguf.has_value());
  EXPECT_EQ(gguf.error().code, Errc::kIo);
  EXPECT_EQ(gguf.error().message, "disk on fire");
}

Bytes WithVersionBytes(std::uint8_t b0, std::uint8_t b1, std::uint8_t b2, std::uint8_t b3) {
  Bytes bytes = GgufBuilder().Build();
  bytes[4] = std::byte{b0};
  bytes[5] = std::byte{b1};
  bytes[6] = std::byte{b2};
  bytes[7] = std::byte{b3};
  return bytes;
}

Bytes Truncated(Bytes bytes, std::size_t size) {
  bytes.resize(size);
  return bytes;
}

// A file with one tensor "t" and `data_bytes` bytes of data.
GgufBuilder OneTensor(std::vector<std::uint64_t> dims, std::uint32_t type, std::uint64_t offset,
                      std::uint64_t data_bytes) {
  GgufBuilder builder;
  builder.Tensor({"t", std::move(dims), type, offset}).DataBytes(data_bytes);
  return builder;
}

struct MalformedCase {
  std::string name;
  std::function<Bytes()> make;
  std::string fragment;  // must appear in the error message
};

void PrintTo(const MalformedCase& c, std::ostream* out) { *out << c.name; }

class MalformedGgufTest : public testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedGgufTest, IsRejectedWithAClearError) {
  ExpectBad(Parse(GetParam().make()), GetParam().fragment);
}

INSTANTIATE_TEST_SUITE_P(
    GgufTest, MalformedGgufTest,
    testing::Values(
        MalformedCase{"TooShortForTheMagic", [] { return Bytes(2, std::byte{'G'}); }, "magic"},
        MalformedCase{"BadMagic",
                      [] {
                        Bytes bytes = GgufBuilder().Build();
                        bytes[3] = std::byte{'X'};
                        return bytes;
                      },
                      "47 47 55 58"},
        MalformedCase{"VersionOne", [] { return GgufBuilder().Version(1).Build(); },
                      "version 1 is not supported"},
        MalformedCase{"VersionFour", [] { return GgufBuilder().Version(4).Build(); },
                      "version 4 is not supported"},
        MalformedCase{"BigEndian", [] { return WithVersionBytes(0, 0, 0, 3); }, "big-endian"},
        MalformedCase{"HugeTensorCount",
                      [] { return GgufBuilder().ClaimTensorCount(std::uint64_t{1} << 60).Build(); },
                      "1152921504606846976 tensors"},
        MalformedCase{
            "HugeMetadataCount",
            [] { return GgufBuilder().ClaimMetadataCount(std::uint64_t{1} << 60).Build(); },
            "1152921504606846976 metadata entries"},
        MalformedCase{"HugeKeyLength",
                      [] {
                        ByteWriter w;
                        w.Raw({std::byte{'G'}, std::byte{'G'}, std::byte{'U'}, std::byte{'F'}});
                        w.Le(std::uint32_t{3}).Le(std::uint64_t{0}).Le(std::uint64_t{1});
                        w.Le(std::uint64_t{1} << 62).Raw(Bytes(64));
                        return w.bytes();
                      },
                      "4611686018427387904 bytes"},
        MalformedCase{"HugeStringValueLength",
                      [] {
                        return GgufBuilder()
                            .Kv("name", GgufType::kString, ByteWriter().Le(~std::uint64_t{0}))
                            .Build();
                      },
                      "18446744073709551615 bytes"},
        MalformedCase{"HugeArrayLength",
                      [] {
                        return GgufBuilder()
                            .Kv("scores", GgufType::kArray,
                                ByteWriter().Type(GgufType::kFloat32).Le(std::uint64_t{1} << 61))
                            .Build();
                      },
                      "array of 2305843009213693952 float32 values"},
        MalformedCase{"MoreValuesThanTheMetadataCap",
                      [] {
                        constexpr std::uint64_t kCount = (std::uint64_t{1} << 24) + 1;
                        return GgufBuilder()
                            .Kv("bytes", GgufType::kArray,
                                ByteWriter().Type(GgufType::kUint8).Le(kCount))
                            .DataBytes(kCount)
                            .Build();
                      },
                      "past 16777216 values"},
        MalformedCase{
            "UnknownValueType",
            [] { return GgufBuilder().Kv("k", GgufType{13}, ByteWriter().Le(0u)).Build(); },
            "13 is not a GGUF value type"},
        MalformedCase{"UnknownArrayElementType",
                      [] {
                        return GgufBuilder()
                            .Kv("k", GgufType::kArray,
                                ByteWriter().Le(std::uint32_t{99}).Le(std::uint64_t{0}))
                            .Build();
                      },
                      "99 is not a GGUF value type"},
        MalformedCase{"BoolNeitherZeroNorOne",
                      [] {
                        return GgufBuilder()
                            .Kv("b", GgufType::kBool, ByteWriter().Le(std::uint8_t{2}))
                            .Build();
                      },
                      "not 0 or 1"},
        MalformedCase{"DuplicateKey",
                      [] { return GgufBuilder().KvString("k", "a").KvString("k", "b").Build(); },
                      "\"k\" appears more than once"},
        MalformedCase{"AlignmentNotAPowerOfTwo",
                      [] { return GgufBuilder().KvU32("general.alignment", 48).Build(); },
                      "48, not a power of two"},
        MalformedCase{"AlignmentZero",
                      [] { return GgufBuilder().KvU32("general.alignment", 0).Build(); },
                      "0, not a power of two"},
        MalformedCase{"AlignmentSigned",
                      [] {
                        return GgufBuilder()
                            .Kv("general.alignment", GgufType::kInt32,
                                ByteWriter().Le(std::int32_t{32}))
                            .Build();
                      },
                      "int32"},
        MalformedCase{"UnknownGgmlType", [] { return OneTensor({32}, 99, 0, 128).Build(); },
                      "unknown ggml type 99"},
        MalformedCase{"RetiredGgmlType", [] { return OneTensor({32}, 4, 0, 128).Build(); },
                      "unknown ggml type 4"},
        MalformedCase{"TooManyDimensions",
                      [] {
                        return OneTensor({1, 1, 1, 1, 1}, kF32, 0, 4).Build();
                      },
                      "5 dimensions"},
        MalformedCase{"RowNotAMultipleOfTheBlock",
                      [] {
                        return OneTensor({48, 2}, kQ4_0, 0, 64).Build();
                      },
                      "ne0 48"},
        MalformedCase{"SizeOverflows",
                      [] {
                        return OneTensor({std::uint64_t{1} << 62, 8}, kF32, 0, 32).Build();
                      },
                      "64 bits"},
        MalformedCase{"MisalignedOffset",
                      [] {
                        return GgufBuilder()
                            .Tensor({"a", {4}, kF32, 0})
                            .Tensor({"b", {4}, kF32, 16})
                            .DataBytes(64)
                            .Build();
                      },
                      "data offset 16 is not a multiple of the alignment 32"},
        MalformedCase{"OverlappingTensors",
                      [] {
                        return GgufBuilder()
                            .Tensor({"a", {16}, kF32, 0})
                            .Tensor({"b", {4}, kF32, 32})
                            .DataBytes(64)
                            .Build();
                      },
                      "overlap"},
        MalformedCase{"TensorBeyondTheFile", [] { return OneTensor({16}, kF32, 0, 63).Build(); },
                      "run past the end"},
        MalformedCase{"OffsetBeyondTheFile",
                      [] { return OneTensor({0}, kF32, std::uint64_t{1} << 40, 0).Build(); },
                      "run past the end"},
        MalformedCase{"DataSectionBeyondTheFile",
                      [] {
                        // Header 24, name 8 + 1, n_dims 4, one dim 8, type 4, offset 8.
                        return Truncated(OneTensor({0}, kF32, 0, 0).Build(), 57);
                      },
                      "starts past the end"},
        MalformedCase{"DuplicateTensorName",
                      [] {
                        return GgufBuilder()
                            .Tensor({"a", {8}, kF32, 0})
                            .Tensor({"a", {8}, kF32, 32})
                            .DataBytes(64)
                            .Build();
                      },
                      "\"a\" appears more than once"},
        MalformedCase{
            "TensorNameNotUtf8",
            [] {
              return GgufBuilder().Tensor({"\xff\xfe", {8}, kF32, 0}).DataBytes(32).Build();
            },
            "not valid UTF-8"},
        MalformedCase{"TruncatedInsideMetadata",
                      [] {
                        return Truncated(
                            GgufBuilder().KvString("general.name", "tiny llama").Build(), 59);
                      },
                      "metadata key \"general.name\""},
        MalformedCase{"TruncatedInsideTensorInfos",
                      [] {
                        // Header 24, name 8 + 1, n_dims 4, one dim 8, type 4, then 3 bytes.
                        return Truncated(OneTensor({8}, kF32, 0, 32).Build(), 52);
                      },
                      "tensor \"t\""}),
    [](const testing::TestParamInfo<MalformedCase>& info) { return info.param.name; });

}  // namespace
}  // namespace mei
