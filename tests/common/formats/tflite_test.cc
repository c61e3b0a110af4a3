#include "common/formats/tflite.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/common/counting_byte_source.h"
#include "tests/common/failing_byte_source.h"
#include "tools/synth/tensor_data.h"
#include "tools/synth/tflite_writer.h"
#include "tools/synth/weights.h"

namespace mei {
namespace {

using tools::TfliteBuffer;
using tools::TfliteLayout;
using tools::TfliteModel;
using tools::TfliteSubgraph;
using tools::TfliteTensor;

Result<std::vector<TensorEntry>> Parse(const std::string& bytes) {
  return ParseTflite(MemoryByteSource(std::as_bytes(std::span(bytes)), "test.tflite"));
}

void ExpectBad(const Result<std::vector<TensorEntry>>& result, const std::string& fragment) {
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, Errc::kBadModelFile);
  EXPECT_EQ(result.error().message.rfind("test.tflite (TFLite): ", 0), 0u)
      << result.error().message;
  EXPECT_NE(result.error().message.find(fragment), std::string::npos) << result.error().message;
}

template <class T>
void PatchLe(std::string& file, std::uint64_t at, T value) {
  ASSERT_LE(at + sizeof(T), file.size());
  std::memcpy(file.data() + at, &value, sizeof(T));
}

template <class T>
T ReadLe(const std::string& file, std::uint64_t at) {
  T value{};
  std::memcpy(&value, file.data() + at, sizeof(T));
  return value;
}

std::string PatternOf(std::size_t buffer, std::uint64_t bytes) {
  std::string data;
  for (std::uint64_t i = 0; i < bytes; ++i) data.push_back(tools::TflitePatternByte(buffer, i));
  return data;
}

TfliteModel SmallModel() { return tools::SmallTfliteModel(); }

std::vector<TensorEntry> SortedByOffset(std::vector<TensorEntry> tensors) {
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorEntry& a, const TensorEntry& b) { return a.offset < b.offset; });
  return tensors;
}

// The parse of SmallModel() with its buffers placed at `offsets`.
std::vector<TensorEntry> SmallModelTensors(const std::vector<std::uint64_t>& offsets) {
  return SortedByOffset({
      {.name = "dense/kernel", .dtype = "F32", .shape = {2, 3}, .offset = offsets[1], .size = 24},
      {.name = "quantized", .dtype = "I8", .shape = {4}, .offset = offsets[2], .size = 4},
      {.name = "half", .dtype = "F16", .shape = {3}, .offset = offsets[3], .size = 6},
  });
}

const TensorEntry& Named(const std::vector<TensorEntry>& tensors, std::string_view name) {
  const auto found = std::find_if(tensors.begin(), tensors.end(),
                                  [&](const TensorEntry& tensor) { return tensor.name == name; });
  if (found == tensors.end()) throw std::runtime_error("no tensor " + std::string(name));
  return *found;
}

// Each tensor holds the pattern of the buffer the layout placed at its offset.
void ExpectPatternBytes(const std::string& file, const TfliteLayout& layout,
                        const std::vector<TensorEntry>& tensors) {
  for (const TensorEntry& tensor : tensors) {
    const auto buffer =
        std::find(layout.data_offsets.begin(), layout.data_offsets.end(), tensor.offset);
    ASSERT_NE(buffer, layout.data_offsets.end()) << tensor.name;
    EXPECT_EQ(
        file.substr(tensor.offset, tensor.size),
        PatternOf(static_cast<std::size_t>(buffer - layout.data_offsets.begin()), tensor.size))
        << tensor.name;
  }
}

TEST(TfliteTest, InsideBuffersParseToTensorsSortedByOffsetWithTheirBytes) {
  const TfliteModel model = SmallModel();
  const TfliteLayout layout = tools::LayOutTflite(model);
  const std::string file = tools::EncodeTflite(model);
  ASSERT_EQ(file.size(), layout.file_bytes);
  EXPECT_EQ(file.substr(4, 4), "TFL3");
  EXPECT_EQ(layout.objects.at("model#vtable").object, 8u);

  const Result<std::vector<TensorEntry>> tensors = Parse(file);
  ASSERT_TRUE(tensors.has_value()) << tensors.error().message;
  EXPECT_EQ(*tensors, SmallModelTensors(layout.data_offsets));
  ExpectPatternBytes(file, layout, *tensors);
  for (const TensorEntry& tensor : *tensors) {
    EXPECT_EQ(tensor.offset % 16, 0u) << tensor.name;
    EXPECT_LT(tensor.offset, layout.objects.at("subgraphs").object) << "data precedes the graph";
  }
}

TEST(TfliteTest, OutsideBuffersAreReadFromTheirOffsetAndSize) {
  TfliteModel model = SmallModel();
  for (TfliteBuffer& buffer : model.buffers) buffer.outside = buffer.bytes > 0;
  const TfliteLayout layout = tools::LayOutTflite(model);
  const std::string file = tools::EncodeTflite(model);

  const Result<std::vector<TensorEntry>> tensors = Parse(file);
  ASSERT_TRUE(tensors.has_value()) << tensors.error().message;
  EXPECT_EQ(*tensors, SmallModelTensors(layout.data_offsets));
  ExpectPatternBytes(file, layout, *tensors);
  for (const TensorEntry& tensor : *tensors) {
    EXPECT_EQ(tensor.offset % 16, 0u) << tensor.name;
    EXPECT_GT(tensor.offset, layout.objects.at("operator_codes[0]").object)
        << "data follows the flatbuffer";
  }
  EXPECT_EQ(file.size() - (tensors->back().offset + tensors->back().size), 16u + 10)
      << "16 zero bytes after the last buffer, then padding to 16";
}

TEST(TfliteTest, TensorTypesMapToSafetensorsNamesOrTfliteNames) {
  const std::vector<std::pair<std::int8_t, std::string>> types = {
      {0, "F32"},
      {1, "F16"},
      {2, "I32"},
      {3, "U8"},
      {4, "I64"},
      {5, "STRING"},
      {6, "BOOL"},
      {7, "I16"},
      {8, "C64"},
      {9, "I8"},
      {10, "F64"},
      {11, "COMPLEX128"},
      {12, "U64"},
      {13, "RESOURCE"},
      {14, "VARIANT"},
      {15, "U32"},
      {16, "U16"},
      {17, "INT4"},
      {18, "BF16"},
      {19, "INT2"},
      {20, "UINT4"},
      {21, "F8_E4M3"},
      {22, "F8_E5M2"},
      {23, "TENSORTYPE_23"},
      {-1, "TENSORTYPE_-1"},
  };
  for (const auto& [type, name] : types) {
    SCOPED_TRACE(name);
    TfliteModel model = SmallModel();
    model.subgraphs[0].tensors[1].type = type;
    const Result<std::vector<TensorEntry>> tensors = Parse(tools::EncodeTflite(model));
    ASSERT_TRUE(tensors.has_value()) << tensors.error().message;
    EXPECT_EQ(Named(*tensors, "dense/kernel").dtype, name);
  }
}

TEST(TfliteTest, ScalarsAndRankFourShapesKeepTheirDimensions) {
  TfliteModel model = SmallModel();
  model.subgraphs[0].tensors[1].shape = {1, 2, 3, 1};
  model.subgraphs[0].tensors[2].shape = {};
  const Result<std::vector<TensorEntry>> tensors = Parse(tools::EncodeTflite(model));
  ASSERT_TRUE(tensors.has_value()) << tensors.error().message;
  EXPECT_EQ(Named(*tensors, "dense/kernel").shape, (std::vector<std::uint64_t>{1, 2, 3, 1}));
  EXPECT_TRUE(Named(*tensors, "quantized").shape.empty());
}

TEST(TfliteTest, TheSentinelAndEmptyBuffersAreNotTensors) {
  TfliteModel model = SmallModel();
  model.buffers[0] = tools::TfliteBufferOf("not a tensor");
  model.buffers[2] = TfliteBuffer{};
  const TfliteLayout layout = tools::LayOutTflite(model);
  const Result<std::vector<TensorEntry>> tensors = Parse(tools::EncodeTflite(model));
  ASSERT_TRUE(tensors.has_value()) << tensors.error().message;
  std::vector<TensorEntry> expected = SmallModelTensors(layout.data_offsets);
  std::erase_if(expected, [](const TensorEntry& tensor) { return tensor.name == "quantized"; });
  EXPECT_EQ(*tensors, expected);
}

TEST(TfliteTest, ABufferIsNamedByTheFirstTensorThatRefersToIt) {
  TfliteModel model = SmallModel();
  TfliteSubgraph second;
  second.tensors = {TfliteTensor{.name = "again", .shape = {6}, .buffer = 1},
                    TfliteTensor{.name = "late", .shape = {2, 2}, .type = 3, .buffer = 4}};
  model.subgraphs.push_back(std::move(second));
  model.buffers.push_back(TfliteBuffer{.bytes = 4});
  const Result<std::vector<TensorEntry>> tensors = Parse(tools::EncodeTflite(model));
  ASSERT_TRUE(tensors.has_value()) << tensors.error().message;
  ASSERT_EQ(tensors->size(), 4u);
  EXPECT_EQ(Named(*tensors, "dense/kernel").shape, (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(Named(*tensors, "late").dtype, "U8");
  EXPECT_EQ(Named(*tensors, "late").shape, (std::vector<std::uint64_t>{2, 2}));
}

TEST(TfliteTest, BuffersNoTensorNamesAreNamedByTheirMetadataOrTheirIndex) {
  TfliteModel model = SmallModel();
  model.subgraphs[0].tensors[3].name.clear();  // buffer 3: named by its index, typed by its tensor
  model.buffers.push_back(tools::TfliteBufferOf(std::string("1.5.0\0\0\0\0\0\0\0\0\0\0\0", 16)));
  model.buffers.push_back(TfliteBuffer{.bytes = 5});
  model.buffers.push_back(TfliteBuffer{.bytes = 3});
  model.metadata = {{.name = "min_runtime_version", .buffer = 4},
                    {.name = "", .buffer = 6},
                    {.name = "sentinel", .buffer = 0}};
  const TfliteLayout layout = tools::LayOutTflite(model);
  const Result<std::vector<TensorEntry>> tensors = Parse(tools::EncodeTflite(model));
  ASSERT_TRUE(tensors.has_value()) << tensors.error().message;
  std::vector<TensorEntry> expected = SmallModelTensors(layout.data_offsets);
  for (TensorEntry& tensor : expected) {
    if (tensor.name == "half") tensor.name = "buffer 3";
  }
  expected.push_back({.name = "min_runtime_version",
                      .dtype = "U8",
                      .shape = {16},
                      .offset = layout.data_offsets[4],
                      .size = 16});
  expected.push_back({.name = "buffer 5",
                      .dtype = "U8",
                      .shape = {5},
                      .offset = layout.data_offsets[5],
                      .size = 5});
  expected.push_back({.name = "buffer 6",
                      .dtype = "U8",
                      .shape = {3},
                      .offset = layout.data_offsets[6],
                      .size = 3});
  EXPECT_EQ(*tensors, SortedByOffset(expected));
}

TEST(TfliteTest, BuffersWithIdenticalRangesAreOneTensorNamedByAnyOfThem) {
  TfliteModel model = SmallModel();
  for (TfliteBuffer& buffer : model.buffers) buffer.outside = buffer.bytes > 0;
  // Buffer 4 holds the same constant as buffer 1, as the converter stores equal constants once.
  model.buffers.push_back(TfliteBuffer{.outside = true, .offset = 2, .size = 24});
  model.subgraphs[0].tensors[1].buffer = 4;
  model.subgraphs[0].tensors.push_back(TfliteTensor{.name = "twin", .shape = {6}, .buffer = 1});
  model.buffers[4].offset = tools::LayOutTflite(model).data_offsets[1];
  const TfliteLayout layout = tools::LayOutTflite(model);
  ASSERT_EQ(*model.buffers[4].offset, layout.data_offsets[1]);
  const Result<std::vector<TensorEntry>> tensors = Parse(tools::EncodeTflite(model));
  ASSERT_TRUE(tensors.has_value()) << tensors.error().message;
  EXPECT_EQ(*tensors, SmallModelTensors(layout.data_offsets));
}

TEST(TfliteTest, OffsetOneIsThePlaceholderAndTheDataVectorCounts) {
  TfliteModel model = SmallModel();
  model.buffers[1].offset = 1;
  model.buffers[1].size = 1;
  const TfliteLayout layout = tools::LayOutTflite(model);
  const Result<std::vector<TensorEntry>> tensors = Parse(tools::EncodeTflite(model));
  ASSERT_TRUE(tensors.has_value()) << tensors.error().message;
  EXPECT_EQ(*tensors, SmallModelTensors(layout.data_offsets));
}

TEST(TfliteTest, ParsingReadsTheTablesNotTheData) {
  for (const bool outside : {false, true}) {
    SCOPED_TRACE(outside);
    TfliteModel model = SmallModel();
    for (TfliteBuffer& buffer : model.buffers) {
      if (buffer.bytes > 0) buffer = TfliteBuffer{.bytes = 1 << 20, .outside = outside};
    }
    const std::string file = tools::EncodeTflite(model);
    const CountingByteSource source(file);
    const Result<std::vector<TensorEntry>> tensors = ParseTflite(source);
    ASSERT_TRUE(tensors.has_value()) << tensors.error().message;
    EXPECT_EQ(tensors->size(), 3u);
    EXPECT_LE(source.bytes_read(), 16u * 4096) << "of " << file.size();
  }
}

TEST(TfliteTest, IoErrorsPassThrough) {
  const Result<std::vector<TensorEntry>> tensors = ParseTflite(FailingByteSource());
  ASSERT_FALSE(tensors.has_value());
  EXPECT_EQ(tensors.error().code, Errc::kIo);
}

TEST(TfliteTest, RejectsWhatIsNotATfliteModel) {
  ExpectBad(Parse(std::string("\x1c\0\0\0TFL", 7)), "7 bytes, too short");
  std::string file = tools::EncodeTflite(SmallModel());
  file[7] = '2';
  ExpectBad(Parse(file), "bytes 4 to 8 are 54 46 4c 32, not \"TFL3\"");
}

TEST(TfliteTest, RejectsSchemaVersionsOtherThanThree) {
  for (const std::uint32_t version : {0u, 2u, 4u}) {
    TfliteModel model = SmallModel();
    model.version = version;
    ExpectBad(Parse(tools::EncodeTflite(model)),
              "schema version " + std::to_string(version) + " is not supported");
  }
}

TEST(TfliteTest, RejectsARootOffsetPastTheEnd) {
  std::string file = tools::EncodeTflite(SmallModel());
  PatchLe<std::uint32_t>(file, 0, static_cast<std::uint32_t>(file.size() - 3));
  ExpectBad(Parse(file), "root offset");
}

TEST(TfliteTest, RejectsVtablesOutsideTheFile) {
  const TfliteLayout layout = tools::LayOutTflite(SmallModel());
  const std::uint64_t model = layout.objects.at("model").object;
  for (const std::int32_t soffset : {static_cast<std::int32_t>(model + 1), -(1 << 20)}) {
    SCOPED_TRACE(soffset);
    std::string file = tools::EncodeTflite(SmallModel());
    PatchLe<std::int32_t>(file, model, soffset);
    ExpectBad(Parse(file), "the model at byte " + std::to_string(model) + ": its vtable at byte");
  }
}

TEST(TfliteTest, RejectsVtablesAndTablesOfImpossibleSizes) {
  const TfliteLayout layout = tools::LayOutTflite(SmallModel());
  const std::uint64_t vtable = layout.objects.at("model#vtable").object;
  const std::string good = tools::EncodeTflite(SmallModel());
  for (const std::uint16_t vtable_bytes : {0, 2, 5}) {
    std::string file = good;
    PatchLe<std::uint16_t>(file, vtable, vtable_bytes);
    ExpectBad(Parse(file), "claims " + std::to_string(vtable_bytes) + " bytes, not an even number");
  }
  for (const std::uint16_t table_bytes : {2, 65535}) {
    std::string file = good;
    PatchLe<std::uint16_t>(file, vtable + 2, table_bytes);
    ExpectBad(Parse(file), "the model at byte " +
                               std::to_string(layout.objects.at("model").object) + " claims " +
                               std::to_string(table_bytes) + " bytes");
  }
}

TEST(TfliteTest, RejectsAFieldThatDoesNotFitItsTable) {
  const TfliteLayout layout = tools::LayOutTflite(SmallModel());
  const std::uint64_t vtable = layout.objects.at("model#vtable").object;
  std::string file = tools::EncodeTflite(SmallModel());
  const auto table_bytes = ReadLe<std::uint16_t>(file, vtable + 2);
  PatchLe<std::uint16_t>(file, vtable + 4 + 2 * 4, table_bytes - 2);  // buffers, slot 4
  ExpectBad(Parse(file), "the model: field 4 at offset " + std::to_string(table_bytes - 2));
}

// Patches SmallModel() at each object named in `cases` and expects the message given with it.
void ExpectPatchesRejected(
    const std::vector<std::pair<std::string, std::string>>& cases,
    const std::function<void(std::string& file, const tools::TflitePlacement& object)>& patch) {
  const TfliteLayout layout = tools::LayOutTflite(SmallModel());
  const std::string good = tools::EncodeTflite(SmallModel());
  for (const auto& [path, message] : cases) {
    SCOPED_TRACE(path);
    std::string file = good;
    patch(file, layout.objects.at(path));
    ExpectBad(Parse(file), message);
  }
}

TEST(TfliteTest, RejectsUoffsetsPastTheEnd) {
  ExpectPatchesRejected(
      {
          {"buffers", "the model: buffers at byte"},
          {"buffers[2]", "buffer 2: its offset at byte"},
          {"buffers[2].data", "buffer 2: its data at byte"},
          {"subgraphs[0].tensors[1]", "tensor 1 of subgraph 0: its offset at byte"},
          {"subgraphs[0].tensors[1].name", "tensor 1 of subgraph 0: its name at byte"},
          {"subgraphs[0].tensors[1].shape", "tensor 1 of subgraph 0: its shape at byte"},
      },
      [](std::string& file, const tools::TflitePlacement& object) {
        PatchLe<std::uint32_t>(file, object.reference,
                               static_cast<std::uint32_t>(file.size() - object.reference));
      });
}

TEST(TfliteTest, RejectsVectorsLongerThanTheFile) {
  ExpectPatchesRejected(
      {
          {"buffers", "the model: buffers at byte"},
          {"subgraphs", "the model: subgraphs at byte"},
          {"subgraphs[0].tensors", "subgraph 0: its tensors at byte"},
          {"buffers[1].data", "buffer 1: its data at byte"},
          {"subgraphs[0].tensors[1].shape", "tensor 1 of subgraph 0: its shape at byte"},
      },
      [](std::string& file, const tools::TflitePlacement& object) {
        PatchLe<std::uint32_t>(file, object.object, 1 << 30);
      });
  ExpectPatchesRejected({{"buffers", "claims 1073741824 elements of 4 bytes"}},
                        [](std::string& file, const tools::TflitePlacement& object) {
                          PatchLe<std::uint32_t>(file, object.object, 1 << 30);
                        });
}

TEST(TfliteTest, RejectsNamesPastTheEndUnterminatedOrNotUtf8) {
  const TfliteLayout layout = tools::LayOutTflite(SmallModel());
  const std::uint64_t name = layout.objects.at("subgraphs[0].tensors[2].name").object;
  const std::string good = tools::EncodeTflite(SmallModel());

  std::string file = good;
  PatchLe<std::uint32_t>(file, name, static_cast<std::uint32_t>(file.size()));
  ExpectBad(Parse(file), "tensor 2 of subgraph 0: its name at byte " + std::to_string(name) +
                             " claims " + std::to_string(file.size()) + " bytes and a NUL");

  file = good;
  file[name + 4 + std::string_view("quantized").size()] = 'x';
  ExpectBad(Parse(file), "its name at byte " + std::to_string(name) + " is not NUL-terminated");

  TfliteModel model = SmallModel();
  model.subgraphs[0].tensors[2].name = "bad\xff";
  ExpectBad(Parse(tools::EncodeTflite(model)), "tensor 2 of subgraph 0: its name at byte");
  ExpectBad(Parse(tools::EncodeTflite(model)), "is not valid UTF-8");
}

TEST(TfliteTest, RejectsNamesThatAddUpToMoreThanTheFile) {
  // Forty one-byte buffers whose tensors all point at the last tensor's long name.
  TfliteModel model;
  model.buffers.push_back(TfliteBuffer{});
  TfliteSubgraph graph;
  for (std::uint32_t i = 1; i <= 40; ++i) {
    model.buffers.push_back(TfliteBuffer{.bytes = 1});
    graph.tensors.push_back(TfliteTensor{.name = "t", .shape = {1}, .buffer = i});
  }
  graph.tensors.back().name = std::string(300, 'n');
  model.subgraphs.push_back(std::move(graph));
  const TfliteLayout layout = tools::LayOutTflite(model);
  std::string file = tools::EncodeTflite(model);
  const std::uint64_t long_name = layout.objects.at("subgraphs[0].tensors[39].name").object;
  for (int i = 0; i < 39; ++i) {
    const std::uint64_t reference =
        layout.objects.at(fmt::format("subgraphs[0].tensors[{}].name", i)).reference;
    PatchLe<std::uint32_t>(file, reference, static_cast<std::uint32_t>(long_name - reference));
  }
  ASSERT_LT(file.size(), 39u * 300);
  ExpectBad(Parse(file), "the names read add up to more than the " + std::to_string(file.size()));
}

TEST(TfliteTest, RejectsReferencesToBuffersThatDoNotExist) {
  TfliteModel model = SmallModel();
  model.subgraphs[0].tensors[0].buffer = 4;
  ExpectBad(Parse(tools::EncodeTflite(model)),
            "tensor 0 of subgraph 0 refers to buffer 4 but the model has 4 buffers");
  model = SmallModel();
  model.metadata = {{.name = "m", .buffer = 9}};
  ExpectBad(Parse(tools::EncodeTflite(model)),
            "metadata entry 0 refers to buffer 9 but the model has 4 buffers");
}

TEST(TfliteTest, RejectsOutsideBuffersPastTheEnd) {
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges = {
      {2, 1 << 20}, {1 << 30, 1}, {~std::uint64_t{0} - 4, 10}};
  for (const auto& [offset, size] : ranges) {
    SCOPED_TRACE(offset);
    TfliteModel model = SmallModel();
    model.buffers[2] = TfliteBuffer{.outside = true, .offset = offset, .size = size};
    ExpectBad(Parse(tools::EncodeTflite(model)),
              fmt::format("buffer 2: {} bytes at byte {} run past the end", size, offset));
  }
}

TEST(TfliteTest, RejectsOverlappingBuffers) {
  TfliteModel model = SmallModel();
  model.buffers[3] = TfliteBuffer{.outside = true, .offset = 2, .size = 6};
  const std::uint64_t kernel = tools::LayOutTflite(model).data_offsets[1];
  model.buffers[3].offset = kernel + 20;
  ExpectBad(Parse(tools::EncodeTflite(model)),
            fmt::format("buffers 1 (24 bytes at byte {}) and 3 (6 bytes at byte {}) overlap",
                        kernel, kernel + 20));
  model.buffers[3] = TfliteBuffer{.outside = true, .offset = kernel, .size = 8};
  ExpectBad(Parse(tools::EncodeTflite(model)),
            fmt::format("buffers 3 (8 bytes at byte {}) and 1 (24 bytes at byte {}) overlap",
                        kernel, kernel));
}

TEST(TfliteTest, RejectsShapesWithNegativeOrTooManyDimensions) {
  TfliteModel model = SmallModel();
  model.subgraphs[0].tensors[1].shape = {2, -1};
  ExpectBad(Parse(tools::EncodeTflite(model)),
            "tensor \"dense/kernel\": dimension 1 of its shape is -1");
  model.subgraphs[0].tensors[1].shape = std::vector<std::int32_t>(33, 1);
  ExpectBad(Parse(tools::EncodeTflite(model)),
            "tensor \"dense/kernel\": its shape has 33 dimensions, more than 32");
}

TEST(TfliteTest, RejectsModelsOfMoreThanAMillionTables) {
  TfliteModel model = SmallModel();
  model.buffers[1].bytes = 5 << 20;  // room for the claimed buffer offsets
  const TfliteLayout layout = tools::LayOutTflite(model);
  std::string file = tools::EncodeTflite(model);
  PatchLe<std::uint32_t>(file, layout.objects.at("buffers").object, (1 << 20) + 1);
  ExpectBad(Parse(file), "the model: buffers takes the model past 1048576 tables");
}

// A weight of `shape` in the role and stream given, as mei-synth makes them.
tools::TensorSpec Weight(std::string name, std::vector<std::uint64_t> shape, tools::TensorRole role,
                         std::uint64_t seed) {
  tools::TensorSpec spec;
  spec.name = std::move(name);
  spec.shape = std::move(shape);
  spec.role = role;
  spec.stream.seed = seed;
  if (role == tools::TensorRole::kAttentionNorm) {
    spec.stream.distribution = tools::WeightDistribution::kNormScale;
  }
  return spec;
}

std::string ElementBytes(const tools::TensorSpec& tensor, tools::StoredDtype dtype) {
  const auto elements = static_cast<std::size_t>(tensor.Elements());
  if (dtype == tools::StoredDtype::kF32) {
    std::vector<std::uint32_t> values(elements);
    tools::FillF32(tensor.stream, 0, values);
    return {reinterpret_cast<const char*>(values.data()), values.size() * 4};
  }
  std::vector<std::uint16_t> values(elements);
  if (dtype == tools::StoredDtype::kF16) {
    tools::FillF16(tensor.stream, 0, values);
  } else {
    tools::FillBf16(tensor.stream, 0, values);
  }
  return {reinterpret_cast<const char*>(values.data()), values.size() * 2};
}

TEST(TfliteTest, AWrittenSyntheticModelParsesToItsWeightsAndTheirBytes) {
  const std::vector<tools::TensorSpec> weights = {
      Weight("model.embed_tokens.weight", {16, 8}, tools::TensorRole::kEmbedding, 1),
      Weight("model.layers.0.input_layernorm.weight", {8}, tools::TensorRole::kAttentionNorm, 2),
      Weight("model.layers.0.self_attn.q_proj.weight", {8, 8}, tools::TensorRole::kAttentionQuery,
             3),
  };
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("tflite_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const tools::StoredDtype dtype :
       {tools::StoredDtype::kBf16, tools::StoredDtype::kF16, tools::StoredDtype::kF32}) {
    for (const bool outside : {false, true}) {
      SCOPED_TRACE(std::string(tools::DtypeName(dtype)) + (outside ? " outside" : " inside"));
      const std::filesystem::path path = dir / "model.tflite";
      const Result<std::uint64_t> written =
          tools::WriteTflite(path, weights, dtype, {.buffers_outside = outside});
      ASSERT_TRUE(written.has_value()) << written.error().message;
      std::ifstream in(path, std::ios::binary);
      const std::string file((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
      ASSERT_EQ(file.size(), *written);

      Result<FileByteSource> source = FileByteSource::Open(path);
      ASSERT_TRUE(source.has_value());
      const Result<std::vector<TensorEntry>> tensors = ParseTflite(*source);
      ASSERT_TRUE(tensors.has_value()) << tensors.error().message;
      EXPECT_TRUE(std::is_sorted(
          tensors->begin(), tensors->end(),
          [](const TensorEntry& a, const TensorEntry& b) { return a.offset < b.offset; }));
      std::map<std::string, TensorEntry> by_name;
      for (const TensorEntry& tensor : *tensors) by_name[tensor.name] = tensor;
      ASSERT_EQ(by_name.size(), weights.size() + (outside ? 2 : 1));
      for (const tools::TensorSpec& weight : weights) {
        SCOPED_TRACE(weight.name);
        ASSERT_EQ(by_name.count(weight.name), 1u);
        const TensorEntry& tensor = by_name[weight.name];
        EXPECT_EQ(tensor.dtype, tools::DtypeName(dtype));
        EXPECT_EQ(tensor.shape, weight.shape);
        EXPECT_EQ(tensor.offset % 16, 0u);
        EXPECT_EQ(file.substr(tensor.offset, tensor.size), ElementBytes(weight, dtype));
      }
      const TensorEntry& version = by_name["min_runtime_version"];
      EXPECT_EQ(file.substr(version.offset, version.size),
                std::string("1.5.0\0\0\0\0\0\0\0\0\0\0\0", 16));
      if (outside) {
        const TensorEntry& location = by_name["buffer_location"];
        EXPECT_EQ(file.substr(location.offset, location.size), "outside flatbuffers");
        EXPECT_LT(location.offset, by_name[weights[0].name].offset) << "metadata stays inside";
      }
    }
  }
  std::filesystem::remove_all(dir);
}

TEST(TfliteTest, TheWriterRefusesDimensionsBeyondInt32) {
  const std::vector<tools::TensorSpec> weights = {
      Weight("huge", {std::uint64_t{1} << 31}, tools::TensorRole::kOutput, 1)};
  const Result<std::uint64_t> written = tools::WriteTflite(
      std::filesystem::temp_directory_path() / "never.tflite", weights, tools::StoredDtype::kBf16);
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(written.error().code, Errc::kBadRequest);
  EXPECT_NE(written.error().message.find("huge"), std::string::npos);
}

}  // namespace
}  // namespace mei
