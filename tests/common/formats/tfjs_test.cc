#include "common/formats/tfjs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tests/common/failing_byte_source.h"
#include "tools/synth/tfjs_writer.h"
#include "tools/synth/weights.h"

namespace mei {
namespace {

namespace fs = std::filesystem;
using tools::StoredDtype;
using tools::TensorSpec;
using Sizes = std::map<std::string, std::uint64_t, std::less<>>;

// A shard piece as the tests spell it out.
struct Piece {
  std::string name;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;

  friend bool operator==(const Piece&, const Piece&) = default;
  friend std::ostream& operator<<(std::ostream& out, const Piece& p) {
    return out << p.name << "@" << p.offset << "+" << p.size;
  }
};

std::vector<Piece> PiecesOf(const TfjsShard& shard) {
  std::vector<Piece> pieces;
  for (const TensorEntry& t : shard.tensors) pieces.push_back({t.name, t.offset, t.size});
  return pieces;
}

// Every shard is covered exactly, in order, by the pieces with bytes.
void ExpectShardsCovered(const std::vector<TfjsShard>& shards) {
  for (const TfjsShard& shard : shards) {
    std::uint64_t end = 0;
    for (const TensorEntry& t : shard.tensors) {
      if (t.size == 0) continue;
      EXPECT_EQ(t.offset, end) << shard.path << ": " << t.name;
      end = t.offset + t.size;
    }
    EXPECT_EQ(end, shard.size) << shard.path;
  }
}

Result<std::vector<TfjsShard>> Parse(const std::string& json, const Sizes& sizes) {
  const MemoryByteSource source(std::as_bytes(std::span(json)), "model.json");
  return ParseTfjsWeights(source, [&](std::string_view path) -> std::optional<std::uint64_t> {
    const auto found = sizes.find(path);
    if (found == sizes.end()) return std::nullopt;
    return found->second;
  });
}

void ExpectBad(const Result<std::vector<TfjsShard>>& result, const std::string& fragment) {
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, Errc::kBadModelFile);
  EXPECT_TRUE(result.error().message.starts_with("TF.js model.json: ")) << result.error().message;
  EXPECT_NE(result.error().message.find(fragment), std::string::npos) << result.error().message;
}

std::string Model(const std::string& manifest) {
  return R"({"format":"layers-model","modelTopology":{"class_name":"Sequential"},)"
         R"("weightsManifest":)" +
         manifest + "}";
}

std::string Group(const std::string& paths, const std::string& weights) {
  return R"({"paths":)" + paths + R"(,"weights":)" + weights + "}";
}

// A model of one weight with these fields, in one shard "w.bin".
std::string OneWeight(const std::string& fields) {
  return Model("[" + Group(R"(["w.bin"])", "[{" + fields + "}]") + "]");
}

TensorSpec Spec(std::string name, std::vector<std::uint64_t> shape, std::uint64_t seed) {
  TensorSpec spec;
  spec.name = std::move(name);
  spec.shape = std::move(shape);
  spec.stream.seed = seed;
  return spec;
}

class TfjsWrittenModelTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "mei-tfjs-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<std::string> Write(std::span<const TensorSpec> tensors, StoredDtype dtype,
                                 std::uint64_t shard_bytes) {
    Result<std::vector<std::string>> names =
        tools::WriteTfjsModel(dir_, tensors, dtype, {.shard_bytes = shard_bytes});
    if (!names) {
      ADD_FAILURE() << names.error().message;
      return {};
    }
    return *names;
  }

  // Parses model.json from disk, the shard sizes from the files beside it.
  Result<std::vector<TfjsShard>> ParseDir() {
    Result<FileByteSource> file = FileByteSource::Open(dir_ / "model.json");
    if (!file) return file.error();
    return ParseTfjsWeights(*file, [&](std::string_view path) -> std::optional<std::uint64_t> {
      std::error_code error;
      const std::uint64_t size = fs::file_size(dir_ / path, error);
      if (error) return std::nullopt;
      return size;
    });
  }

  std::string ReadFile(const std::string& name) const {
    std::ifstream in(dir_ / name, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  fs::path dir_;
};

TEST_F(TfjsWrittenModelTest, TensorsAreCutIntoPiecesAtShardBoundaries) {
  const std::vector<TensorSpec> tensors = {Spec("a", {3, 5}, 1), Spec("b", {7}, 2),
                                           Spec("c", {}, 3), Spec("d", {2, 2, 2}, 4)};
  EXPECT_EQ(Write(tensors, StoredDtype::kF32, 32),
            (std::vector<std::string>{"model.json", "group1-shard1of4.bin", "group1-shard2of4.bin",
                                      "group1-shard3of4.bin", "group1-shard4of4.bin"}));

  const Result<std::vector<TfjsShard>> shards = ParseDir();
  ASSERT_TRUE(shards.has_value()) << shards.error().message;
  ASSERT_EQ(shards->size(), 4u);
  EXPECT_EQ((*shards)[0].path, "group1-shard1of4.bin");
  EXPECT_EQ((*shards)[3].size, 28u);
  EXPECT_EQ(PiecesOf((*shards)[0]), (std::vector<Piece>{{"a", 0, 32}}));
  EXPECT_EQ(PiecesOf((*shards)[1]), (std::vector<Piece>{{"a", 0, 28}, {"b", 28, 4}}));
  EXPECT_EQ(PiecesOf((*shards)[2]), (std::vector<Piece>{{"b", 0, 24}, {"c", 24, 4}, {"d", 28, 4}}));
  EXPECT_EQ(PiecesOf((*shards)[3]), (std::vector<Piece>{{"d", 0, 28}}));
  const TensorEntry& a_tail = (*shards)[1].tensors[0];
  EXPECT_EQ(a_tail.dtype, "F32");
  EXPECT_EQ(a_tail.shape, (std::vector<std::uint64_t>{3, 5}));
  EXPECT_TRUE((*shards)[2].tensors[1].shape.empty());
  ExpectShardsCovered(*shards);
}

// The shards, concatenated, are each tensor's stream in order, in the stored type.
TEST_F(TfjsWrittenModelTest, ShardsHoldTheTensorStreamsBackToBack) {
  const std::vector<TensorSpec> tensors = {Spec("x", {5, 3}, 11), Spec("y", {9}, 12)};
  for (const StoredDtype dtype : {StoredDtype::kF32, StoredDtype::kBf16, StoredDtype::kF16}) {
    const std::vector<std::string> names = Write(tensors, dtype, 20);
    std::string group;
    for (std::size_t i = 1; i < names.size(); ++i) group += ReadFile(names[i]);

    std::string expected;
    for (const TensorSpec& tensor : tensors) {
      if (dtype == StoredDtype::kF16) {
        std::vector<std::uint16_t> values(tensor.Elements());
        tools::FillF16(tensor.stream, 0, values);
        expected.append(reinterpret_cast<const char*>(values.data()), values.size() * 2);
      } else {
        std::vector<std::uint32_t> values(tensor.Elements());
        tools::FillF32(tensor.stream, 0, values);
        expected.append(reinterpret_cast<const char*>(values.data()), values.size() * 4);
      }
    }
    EXPECT_EQ(group, expected) << tools::DtypeName(dtype);
    fs::remove_all(dir_);
    fs::create_directory(dir_);
  }
}

TEST_F(TfjsWrittenModelTest, F16IsFloat16QuantizationOfFloat32Weights) {
  const std::vector<TensorSpec> tensors = {Spec("h", {3, 4}, 5)};
  Write(tensors, StoredDtype::kF16, 16);
  const boost::json::value model = boost::json::parse(ReadFile("model.json"));
  const boost::json::value& weight = model.at("weightsManifest").at(0).at("weights").at(0);
  EXPECT_EQ(weight.at("dtype"), "float32");
  EXPECT_EQ(weight.at("quantization").at("dtype"), "float16");

  const Result<std::vector<TfjsShard>> shards = ParseDir();
  ASSERT_TRUE(shards.has_value()) << shards.error().message;
  ASSERT_EQ(shards->size(), 2u);
  EXPECT_EQ(PiecesOf((*shards)[1]), (std::vector<Piece>{{"h", 0, 8}}));
  EXPECT_EQ((*shards)[1].tensors[0].dtype, "F16");
}

TEST_F(TfjsWrittenModelTest, Bf16IsWrittenAsFloat32) {
  EXPECT_EQ(tools::TfjsStoredDtype(StoredDtype::kBf16), StoredDtype::kF32);
  const std::vector<TensorSpec> tensors = {Spec("b", {10}, 6)};
  Write(tensors, StoredDtype::kBf16, 1024);
  const Result<std::vector<TfjsShard>> shards = ParseDir();
  ASSERT_TRUE(shards.has_value()) << shards.error().message;
  ASSERT_EQ(shards->size(), 1u);
  EXPECT_EQ((*shards)[0].size, 40u);
  EXPECT_EQ((*shards)[0].tensors[0].dtype, "F32");
}

TEST_F(TfjsWrittenModelTest, DefaultShardsAreTheConvertersFourMebibytes) {
  const std::vector<TensorSpec> tensors = {Spec("big", {3, 512 * 1024}, 7), Spec("tail", {2}, 8)};
  EXPECT_EQ(
      Write(tensors, StoredDtype::kF32, tools::TfjsWriteOptions().shard_bytes),
      (std::vector<std::string>{"model.json", "group1-shard1of2.bin", "group1-shard2of2.bin"}));
  const Result<std::vector<TfjsShard>> shards = ParseDir();
  ASSERT_TRUE(shards.has_value()) << shards.error().message;
  ASSERT_EQ(shards->size(), 2u);
  EXPECT_EQ((*shards)[0].size, 4194304u);
  EXPECT_EQ(PiecesOf((*shards)[1]),
            (std::vector<Piece>{{"big", 0, 2097152}, {"tail", 2097152, 8}}));
}

TEST_F(TfjsWrittenModelTest, ModelJsonIsAGraphModelWithAConstNodePerWeight) {
  const std::vector<TensorSpec> tensors = {Spec("w\"q", {2, 3}, 1), Spec("s", {}, 2)};
  Write(tensors, StoredDtype::kF32, 64);
  const boost::json::value model = boost::json::parse(ReadFile("model.json"));
  EXPECT_EQ(model.at("format"), "graph-model");
  EXPECT_EQ(model.at("convertedBy"), "mei-synth");
  const boost::json::array& nodes = model.at("modelTopology").at("node").as_array();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].at("name"), "w\"q");
  EXPECT_EQ(nodes[0].at("op"), "Const");
  EXPECT_EQ(
      nodes[0].at("attr").at("value").at("tensor").at("tensorShape").at("dim").at(1).at("size"),
      "3");
  EXPECT_EQ(model.at("weightsManifest").at(0).at("paths"),
            (boost::json::array{"group1-shard1of1.bin"}));
  EXPECT_EQ(tools::TfjsModelJson(tensors, StoredDtype::kF32, {.shard_bytes = 64}),
            ReadFile("model.json"));
}

TEST_F(TfjsWrittenModelTest, ModelWithoutBytesHasNoShards) {
  const std::vector<TensorSpec> tensors = {Spec("empty", {0, 4}, 1)};
  EXPECT_EQ(Write(tensors, StoredDtype::kF32, 64), (std::vector<std::string>{"model.json"}));
  const Result<std::vector<TfjsShard>> shards = ParseDir();
  ASSERT_TRUE(shards.has_value()) << shards.error().message;
  EXPECT_TRUE(shards->empty());
}

TEST(TfjsTest, EachDtypeAndQuantizationHasItsStoredSize) {
  const std::string json =
      Model("[" +
            Group(R"(["w.bin"])", R"([{"name":"f","shape":[2],"dtype":"float32"},)"
                                  R"({"name":"i","shape":[2],"dtype":"int32"},)"
                                  R"({"name":"b","shape":[3],"dtype":"bool"},)"
                                  R"({"name":"c","shape":[1],"dtype":"complex64"},)"
                                  R"({"name":"q8","shape":[4],"dtype":"float32","group":)"
                                  R"("model","quantization":{"dtype":"uint8","min":-0.5,)"
                                  R"("scale":0.01,"original_dtype":"float32"}},)"
                                  R"({"name":"q16","shape":[2],"dtype":"int32",)"
                                  R"("quantization":{"dtype":"uint16","min":0,"scale":1}},)"
                                  R"({"name":"h","shape":[3],"dtype":"float32",)"
                                  R"("quantization":{"dtype":"float16"}}])") +
            "]");
  const Result<std::vector<TfjsShard>> shards = Parse(json, {{"w.bin", 41}});
  ASSERT_TRUE(shards.has_value()) << shards.error().message;
  ASSERT_EQ(shards->size(), 1u);
  EXPECT_EQ(PiecesOf((*shards)[0]), (std::vector<Piece>{{"f", 0, 8},
                                                        {"i", 8, 8},
                                                        {"b", 16, 3},
                                                        {"c", 19, 8},
                                                        {"q8", 27, 4},
                                                        {"q16", 31, 4},
                                                        {"h", 35, 6}}));
  std::vector<std::string> dtypes;
  for (const TensorEntry& t : (*shards)[0].tensors) dtypes.push_back(t.dtype);
  EXPECT_EQ(dtypes, (std::vector<std::string>{"F32", "I32", "BOOL", "C64", "U8", "U16", "F16"}));
}

TEST(TfjsTest, GroupsMapOntoTheirOwnShardsAndLeadingDotSlashIsDropped) {
  const std::string json = Model(
      "[" + Group(R"(["./model.weights.bin"])", R"([{"name":"a","shape":[2],"dtype":"int32"}])") +
      "," +
      Group(R"(["weights/g2-1.bin","weights/g2-2.bin"])",
            R"([{"name":"b","shape":[3],"dtype":"float32"}])") +
      "]");
  std::vector<std::string> asked;
  const MemoryByteSource source(std::as_bytes(std::span(json)));
  const Result<std::vector<TfjsShard>> shards =
      ParseTfjsWeights(source, [&](std::string_view path) -> std::optional<std::uint64_t> {
        asked.emplace_back(path);
        return path == "model.weights.bin" ? 8 : 6;
      });
  ASSERT_TRUE(shards.has_value()) << shards.error().message;
  EXPECT_EQ(asked, (std::vector<std::string>{"model.weights.bin", "weights/g2-1.bin",
                                             "weights/g2-2.bin"}));
  ASSERT_EQ(shards->size(), 3u);
  EXPECT_EQ((*shards)[0].path, "model.weights.bin");
  EXPECT_EQ(PiecesOf((*shards)[0]), (std::vector<Piece>{{"a", 0, 8}}));
  EXPECT_EQ(PiecesOf((*shards)[1]), (std::vector<Piece>{{"b", 0, 6}}));
  EXPECT_EQ(PiecesOf((*shards)[2]), (std::vector<Piece>{{"b", 0, 6}}));
}

TEST(TfjsTest, EmptyWeightsLieWhereTheNextByteWouldBe) {
  const std::string json =
      Model("[" +
            Group(R"(["s1","s2","s3"])", R"([{"name":"e0","shape":[0],"dtype":"float32"},)"
                                         R"({"name":"a","shape":[2],"dtype":"float32"},)"
                                         R"({"name":"e1","shape":[4,0],"dtype":"bool"},)"
                                         R"({"name":"b","shape":[1],"dtype":"float32"},)"
                                         R"({"name":"e2","shape":[0],"dtype":"int32"}])") +
            "]");
  const Result<std::vector<TfjsShard>> shards = Parse(json, {{"s1", 8}, {"s2", 0}, {"s3", 4}});
  ASSERT_TRUE(shards.has_value()) << shards.error().message;
  ASSERT_EQ(shards->size(), 3u);
  EXPECT_EQ(PiecesOf((*shards)[0]), (std::vector<Piece>{{"e0", 0, 0}, {"a", 0, 8}}));
  EXPECT_TRUE((*shards)[1].tensors.empty());
  EXPECT_EQ(PiecesOf((*shards)[2]), (std::vector<Piece>{{"e1", 0, 0}, {"b", 0, 4}, {"e2", 4, 0}}));
  ExpectShardsCovered(*shards);
}

TEST(TfjsTest, GroupWithoutShardsMayHoldOnlyEmptyWeights) {
  const Result<std::vector<TfjsShard>> shards =
      Parse(Model("[" + Group("[]", R"([{"name":"e","shape":[0],"dtype":"float32"}])") + "," +
                  Group("[]", "[]") + "]"),
            {});
  ASSERT_TRUE(shards.has_value()) << shards.error().message;
  EXPECT_TRUE(shards->empty());
  const Result<std::vector<TfjsShard>> none = Parse(Model("[]"), {});
  ASSERT_TRUE(none.has_value()) << none.error().message;
  EXPECT_TRUE(none->empty());
}

TEST(TfjsTest, WeightOfExabytesIsMappedWithoutReadingItsShards) {
  const Result<std::vector<TfjsShard>> shards =
      Parse(Model("[" +
                  Group(R"(["a","b","c","d"])",
                        R"([{"name":"huge","shape":[2147483648,1073741824],"dtype":"bool"}])") +
                  "]"),
            {{"a", 1ull << 59}, {"b", 1ull << 59}, {"c", 1ull << 59}, {"d", 1ull << 59}});
  ASSERT_TRUE(shards.has_value()) << shards.error().message;
  ASSERT_EQ(shards->size(), 4u);
  for (const TfjsShard& shard : *shards) {
    EXPECT_EQ(PiecesOf(shard), (std::vector<Piece>{{"huge", 0, 1ull << 59}}));
  }
}

TEST(TfjsTest, ShapeOf254DimensionsIsAcceptedButNot255) {
  std::string dims = "1";
  for (int i = 1; i < 254; ++i) dims += ",1";
  const Result<std::vector<TfjsShard>> ok =
      Parse(OneWeight(R"("name":"w","dtype":"bool","shape":[)" + dims + "]"), {{"w.bin", 1}});
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ((*ok)[0].tensors[0].shape.size(), 254u);
  ExpectBad(
      Parse(OneWeight(R"("name":"w","dtype":"bool","shape":[)" + dims + ",1]"), {{"w.bin", 1}}),
      "255 dimensions");
}

std::string Nested(int depth) {
  return R"({"modelTopology":)" + std::string(depth, '[') + std::string(depth, ']') +
         R"(,"weightsManifest":[]})";
}

TEST(TfjsTest, JsonNested64DeepIsAccepted) {
  const Result<std::vector<TfjsShard>> shards = Parse(Nested(63), {});
  ASSERT_TRUE(shards.has_value()) << shards.error().message;
  EXPECT_TRUE(shards->empty());
}

TEST(TfjsTest, MoreThan65536ShardsAreRefused) {
  std::string paths = "[";
  Sizes sizes;
  for (int i = 0; i <= 65536; ++i) {
    const std::string path = "s" + std::to_string(i);
    paths += (i == 0 ? "\"" : ",\"") + path + "\"";
    sizes[path] = 1;
  }
  paths += "]";
  ExpectBad(
      Parse(Model("[" + Group(paths, R"([{"name":"w","shape":[65537],"dtype":"bool"}])") + "]"),
            sizes),
      "group 0 shard 65536: the model lists more than 65536 shards");
}

TEST(TfjsTest, ModelJsonOverTheLimitIsRefusedUnread) {
  class HugeSource final : public ByteSource {
   public:
    std::uint64_t size() const override { return kMaxTfjsModelJsonBytes + 1; }
    Result<void> ReadAt(std::uint64_t, std::span<std::byte>) const override {
      ADD_FAILURE() << "read a model.json over the limit";
      return Error{Errc::kIo, "read"};
    }
    const std::string& name() const override { return name_; }

   private:
    std::string name_ = "huge/model.json";
  };
  ExpectBad(ParseTfjsWeights(HugeSource(), [](std::string_view) { return std::uint64_t{0}; }),
            "huge/model.json is 67108865 bytes");
}

TEST(TfjsTest, ReadErrorsStayIoErrors) {
  const Result<std::vector<TfjsShard>> shards =
      ParseTfjsWeights(FailingByteSource(), [](std::string_view) { return std::uint64_t{0}; });
  ASSERT_FALSE(shards.has_value());
  EXPECT_EQ(shards.error().code, Errc::kIo);
  EXPECT_EQ(shards.error().message, "disk on fire");
}

struct MalformedCase {
  std::string name;
  std::string json;
  std::string fragment;  // must appear in the error message
  Sizes sizes = {{"w.bin", 16}};
};

void PrintTo(const MalformedCase& c, std::ostream* out) { *out << c.name; }

class MalformedTfjsTest : public testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedTfjsTest, IsRejectedWithASentenceNamingTheProblem) {
  ExpectBad(Parse(GetParam().json, GetParam().sizes), GetParam().fragment);
}

const std::string kF32x4 = R"("name":"w","shape":[4],"dtype":"float32")";

INSTANTIATE_TEST_SUITE_P(
    TfjsTest, MalformedTfjsTest,
    testing::Values(
        MalformedCase{"NotJson", R"({"weightsManifest":[)", "model.json is not JSON"},
        MalformedCase{"TrailingBytes", Model("[]") + "x", "is not JSON"},
        MalformedCase{"NestedDeeperThan64", Nested(64), "is not JSON (nested at most 64 deep)"},
        MalformedCase{"NameNotUtf8",
                      OneWeight(R"("name":"w)"
                                "\xff"
                                R"(","shape":[4],)"
                                R"("dtype":"float32")"),
                      "is not JSON"},
        MalformedCase{"RootNeitherObjectNorArray", "42",
                      "is a JSON number, neither an object nor a weights manifest array"},
        MalformedCase{"NoWeightsManifest", R"({"modelTopology":{}})", "no \"weightsManifest\""},
        MalformedCase{"ManifestNotAnArray", Model("{}"),
                      "weightsManifest is a JSON object, not an array"},
        MalformedCase{"GroupNotAnObject", Model("[1]"), "group 0 is a JSON number"},
        MalformedCase{"GroupWithoutPaths", Model(R"([{"weights":[]}])"),
                      "group 0 has no \"paths\""},
        MalformedCase{"GroupWithoutWeights", Model(R"([{"paths":[]}])"),
                      "group 0 has no \"weights\""},
        MalformedCase{"PathsNotAnArray", Model("[" + Group(R"("w.bin")", "[]") + "]"),
                      "group 0: paths is a JSON string, not an array"},
        MalformedCase{"WeightsNotAnArray", Model("[" + Group("[]", "{}") + "]"),
                      "group 0: weights is a JSON object, not an array"},
        MalformedCase{"PathNotAString",
                      Model("[" + Group(R"(["w.bin",7])", "[{" + kF32x4 + "}]") + "]"),
                      "group 0 shard 1 is a JSON number"},
        MalformedCase{"WeightNotAnObject", Model("[" + Group("[]", R"(["w"])") + "]"),
                      "group 0 weight 0 is a JSON string"},
        MalformedCase{"WeightWithoutName", OneWeight(R"("shape":[4],"dtype":"float32")"),
                      "weight 0 has no \"name\""},
        MalformedCase{"EmptyName", OneWeight(R"("name":"","shape":[4],"dtype":"float32")"),
                      "no \"name\" that is a non-empty string"},
        MalformedCase{"NameNotAString", OneWeight(R"("name":4,"shape":[4],"dtype":"float32")"),
                      "no \"name\""},
        MalformedCase{
            "DuplicateNameInAGroup",
            Model("[" + Group(R"(["w.bin"])", "[{" + kF32x4 + "},{" + kF32x4 + "}]") + "]"),
            "group 0 weight 1 is named \"w\", as an earlier weight is"},
        MalformedCase{"DuplicateNameAcrossGroups",
                      Model("[" + Group(R"(["w.bin"])", "[{" + kF32x4 + "}]") + "," +
                            Group(R"(["v.bin"])", "[{" + kF32x4 + "}]") + "]"),
                      "group 1 weight 0 is named \"w\"",
                      {{"w.bin", 16}, {"v.bin", 16}}},
        MalformedCase{"WeightWithoutDtype", OneWeight(R"("name":"w","shape":[4])"),
                      "weight 0 (\"w\") has no \"dtype\""},
        MalformedCase{"DtypeNotAString", OneWeight(R"("name":"w","shape":[4],"dtype":1)"),
                      "no \"dtype\" that is a string"},
        MalformedCase{"UnknownDtype", OneWeight(R"("name":"w","shape":[2],"dtype":"float64")"),
                      "(\"w\") has unknown dtype \"float64\""},
        MalformedCase{"StringWeight", OneWeight(R"("name":"w","shape":[2],"dtype":"string")"),
                      "(\"w\") is a string tensor"},
        MalformedCase{"WeightWithoutShape", OneWeight(R"("name":"w","dtype":"float32")"),
                      "(\"w\") has no \"shape\""},
        MalformedCase{"ShapeNotAnArray", OneWeight(R"("name":"w","shape":4,"dtype":"float32")"),
                      "no \"shape\" that is an array"},
        MalformedCase{"NegativeDimension",
                      OneWeight(R"("name":"w","shape":[4,-1],"dtype":"float32")"),
                      "shape element 1 is -1, not a non-negative integer"},
        MalformedCase{"FractionalDimension",
                      OneWeight(R"("name":"w","shape":[1.5],"dtype":"float32")"),
                      "shape element 0 is 1.5"},
        MalformedCase{"WholeDoubleDimension",
                      OneWeight(R"("name":"w","shape":[4.0],"dtype":"float32")"),
                      "shape element 0 is 4E0"},
        MalformedCase{"DimensionAsAString",
                      OneWeight(R"("name":"w","shape":["4"],"dtype":"float32")"),
                      "shape element 0 is \"4\""},
        MalformedCase{"DimensionBeyond64Bits",
                      OneWeight(R"("name":"w","shape":[18446744073709551616],"dtype":"bool")"),
                      "shape element 0"},
        MalformedCase{
            "ElementCountOverflows",
            OneWeight(R"("name":"w","shape":[4294967296,4294967296],"dtype":"bool")"),
            "(\"w\") of shape [4294967296, 4294967296] in 1-byte elements takes more than 2^64 "
            "bytes"},
        MalformedCase{"ByteCountOverflows",
                      OneWeight(R"("name":"w","shape":[4611686018427387904],"dtype":"float32")"),
                      "more than 2^64 bytes"},
        MalformedCase{"GroupBytesOverflow",
                      Model("[" +
                            Group(R"(["w.bin"])",
                                  R"([{"name":"a","shape":[9223372036854775808],"dtype":"bool"},)"
                                  R"({"name":"b","shape":[9223372036854775808],"dtype":"bool"}])") +
                            "]"),
                      "the weights of weightsManifest group 0 add up to more than 2^64 bytes"},
        MalformedCase{"QuantizationNotAnObject", OneWeight(kF32x4 + R"(,"quantization":"uint8")"),
                      "quantization is a JSON string, not an object"},
        MalformedCase{"QuantizationWithoutDtype",
                      OneWeight(kF32x4 + R"(,"quantization":{"min":0,"scale":1})"),
                      "quantization has no \"dtype\""},
        MalformedCase{"UnknownQuantizationDtype",
                      OneWeight(kF32x4 + R"(,"quantization":{"dtype":"int8"})"),
                      "unknown quantization dtype \"int8\""},
        MalformedCase{
            "Float16QuantizationOfInt32",
            OneWeight(
                R"("name":"w","shape":[4],"dtype":"int32","quantization":{"dtype":"float16"})"),
            "int32 weights cannot be quantized as float16"},
        MalformedCase{"Uint8QuantizationOfBool",
                      OneWeight(R"("name":"w","shape":[4],"dtype":"bool",)"
                                R"("quantization":{"dtype":"uint8","min":0,"scale":1})"),
                      "bool weights cannot be quantized as uint8"},
        MalformedCase{"AffineQuantizationWithoutMin",
                      OneWeight(kF32x4 + R"(,"quantization":{"dtype":"uint8","scale":1})"),
                      "uint8 quantization has no \"min\" that is a number"},
        MalformedCase{"AffineScaleNotANumber",
                      OneWeight(kF32x4 + R"(,"quantization":{"dtype":"uint16","min":0,)"
                                         R"("scale":"1"})"),
                      "uint16 quantization has no \"scale\""},
        MalformedCase{"AbsolutePath", Model("[" + Group(R"(["/w.bin"])", "[]") + "]"),
                      "group 0 shard 0: file path \"/w.bin\" is absolute"},
        MalformedCase{"DotDotPath", Model("[" + Group(R"(["a/../w.bin"])", "[]") + "]"),
                      "'..' component"},
        MalformedCase{"EmptyPath", Model("[" + Group(R"([""])", "[]") + "]"), "is empty"},
        MalformedCase{"OnlyDotSlash", Model("[" + Group(R"(["./"])", "[]") + "]"), "is empty"},
        MalformedCase{"EmptyComponent", Model("[" + Group(R"(["a//w.bin"])", "[]") + "]"),
                      "empty component"},
        MalformedCase{"Backslash", Model("[" + Group(R"(["a\\w.bin"])", "[]") + "]"), "backslash"},
        MalformedCase{"PathListedTwice",
                      Model("[" + Group(R"(["w.bin","w.bin"])", "[{" + kF32x4 + "}]") + "]"),
                      "group 0 shard 1 \"w.bin\" is listed twice"},
        MalformedCase{"PathListedTwiceOnceWithDotSlash",
                      Model("[" + Group(R"(["w.bin"])", "[{" + kF32x4 + "}]") + "," +
                            Group(R"(["./w.bin"])", "[]") + "]"),
                      "group 1 shard 0 \"w.bin\" is listed twice"},
        MalformedCase{
            "MissingShard", OneWeight(kF32x4), "group 0 shard 0 \"w.bin\" does not exist", {}},
        MalformedCase{"ShardsTooSmall",
                      OneWeight(kF32x4),
                      "the 1 weights of weightsManifest group 0 take 16 bytes but its 1 shards "
                      "hold 15 bytes",
                      {{"w.bin", 15}}},
        MalformedCase{"ShardsTooLarge", OneWeight(kF32x4), "hold 17 bytes", {{"w.bin", 17}}},
        MalformedCase{"WeightsWithoutShards", Model("[" + Group("[]", "[{" + kF32x4 + "}]") + "]"),
                      "take 16 bytes but its 0 shards hold 0 bytes"},
        MalformedCase{"ShardBytesOverflow",
                      Model("[" + Group(R"(["a","b"])", "[{" + kF32x4 + "}]") + "]"),
                      "the shards of weightsManifest group 0 add up to more than 2^64 bytes",
                      {{"a", 1ull << 63}, {"b", 1ull << 63}}}),
    [](const testing::TestParamInfo<MalformedCase>& info) { return info.param.name; });

}  // namespace
}  // namespace mei
