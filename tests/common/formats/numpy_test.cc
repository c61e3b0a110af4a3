#include "common/formats/numpy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tests/common/counting_byte_source.h"
#include "tests/common/failing_byte_source.h"
#include "tools/synth/npy_writer.h"
#include "tools/synth/weights.h"

namespace mei {
namespace {

using tools::NpyHeader;
using tools::WrapNpyHeader;

Result<NpyArray> Parse(std::string_view bytes) {
  return ParseNpy(MemoryByteSource(std::as_bytes(std::span(bytes)), "test.npy"));
}

// A file of `descr` and `shape` as numpy.save writes it, with `data_bytes` bytes of data.
std::string Npy(std::string_view descr, const std::vector<std::uint64_t>& shape,
                std::size_t data_bytes, bool fortran_order = false) {
  return NpyHeader(descr, shape, fortran_order) + std::string(data_bytes, '\x5a');
}

void ExpectBad(const Result<NpyArray>& result, const std::string& fragment) {
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, Errc::kBadModelFile);
  EXPECT_NE(result.error().message.find("test.npy: not a valid NumPy .npy file: "),
            std::string::npos)
      << result.error().message;
  EXPECT_NE(result.error().message.find(fragment), std::string::npos) << result.error().message;
}

TEST(NumpyTest, HeaderIsTheOneNumpySaveWrites) {
  // numpy.save(f, numpy.zeros((3, 4), '<f4')) writes these 128 bytes before the data.
  const std::string expected = std::string("\x93NUMPY\x01\x00\x76\x00", 10) +
                               "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }" +
                               std::string(58, ' ') + "\n";
  EXPECT_EQ(NpyHeader("<f4", {3, 4}), expected);
  EXPECT_EQ(NpyHeader("<f4", {3}).substr(10, 61),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }    ");
  EXPECT_EQ(NpyHeader("<f4", {}).size(), 128u);
  EXPECT_EQ(NpyHeader("<f4", {}).substr(10, 55),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (), }");
}

struct DtypeCase {
  std::string_view descr;
  std::string_view dtype;
  std::uint64_t item_bytes;
};

TEST(NumpyTest, NumericDescrsMapToSafetensorsNames) {
  const DtypeCase cases[] = {
      {"<f2", "F16", 2}, {"<f4", "F32", 4},  {"<f8", "F64", 8},    {"|i1", "I8", 1},
      {"<i2", "I16", 2}, {"<i4", "I32", 4},  {"<i8", "I64", 8},    {"|u1", "U8", 1},
      {"<u2", "U16", 2}, {"<u4", "U32", 4},  {"<u8", "U64", 8},    {"|b1", "BOOL", 1},
      {"<c8", "C64", 8}, {"=f4", "F32", 4},  {"f4", "F32", 4},     {">u1", "U8", 1},
      {">f4", ">f4", 4}, {">i8", ">i8", 8},  {"<c16", "<c16", 16}, {"<f16", "<f16", 16},
      {">c8", ">c8", 8}, {"<b1", "BOOL", 1}, {"<c32", "<c32", 32}, {"|f2", "F16", 2},
  };
  for (const DtypeCase& c : cases) {
    SCOPED_TRACE(c.descr);
    const std::string bytes = Npy(c.descr, {2, 3}, 6 * c.item_bytes);
    const Result<NpyArray> array = Parse(bytes);
    ASSERT_TRUE(array.has_value()) << array.error().message;
    EXPECT_EQ(array->data_start, 128u);
    EXPECT_FALSE(array->fortran_order);
    const TensorEntry expected{.name = "array",
                               .dtype = std::string(c.dtype),
                               .shape = {2, 3},
                               .offset = 128,
                               .size = 6 * c.item_bytes};
    EXPECT_EQ(array->tensor, expected);
  }
}

TEST(NumpyTest, ShapesOfEveryRankParse) {
  const std::vector<std::vector<std::uint64_t>> shapes = {
      {}, {7}, {0}, {2, 0, 3}, {1, 1, 1, 1, 1, 1, 1, 1}, {100000, 3}};
  for (const std::vector<std::uint64_t>& shape : shapes) {
    std::uint64_t elements = 1;
    for (const std::uint64_t dim : shape) elements *= dim;
    SCOPED_TRACE(elements);
    const std::string bytes = Npy("<i2", shape, 2 * elements);
    const Result<NpyArray> array = Parse(bytes);
    ASSERT_TRUE(array.has_value()) << array.error().message;
    EXPECT_EQ(array->tensor.shape, shape);
    EXPECT_EQ(array->tensor.size, 2 * elements);
    EXPECT_EQ(array->data_start + array->tensor.size, bytes.size());
  }
}

TEST(NumpyTest, FortranOrderIsReported) {
  const Result<NpyArray> array = Parse(Npy("<f8", {4, 5}, 160, /*fortran_order=*/true));
  ASSERT_TRUE(array.has_value()) << array.error().message;
  EXPECT_TRUE(array->fortran_order);
  EXPECT_EQ(array->tensor.shape, (std::vector<std::uint64_t>{4, 5}));
}

TEST(NumpyTest, VersionsTwoAndThreeHaveFourByteHeaderLengths) {
  for (const int version : {2, 3}) {
    SCOPED_TRACE(version);
    const std::string header =
        WrapNpyHeader("{'descr': '<u2', 'fortran_order': False, 'shape': (5,), }", version);
    EXPECT_EQ(header[6], static_cast<char>(version));
    const Result<NpyArray> array = Parse(header + std::string(10, '\0'));
    ASSERT_TRUE(array.has_value()) << array.error().message;
    EXPECT_EQ(array->data_start, header.size());
    EXPECT_EQ(array->data_start % 64, 0u);
    EXPECT_EQ(array->tensor.dtype, "U16");
  }
}

TEST(NumpyTest, HeaderOver64KiBIsWrittenAsVersionTwo) {
  const std::string header = WrapNpyHeader(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }" + std::string(70000, ' '));
  EXPECT_EQ(header[6], '\x02');
  const Result<NpyArray> array = Parse(header + std::string(8, '\0'));
  ASSERT_TRUE(array.has_value()) << array.error().message;
  EXPECT_EQ(array->data_start, header.size());
}

TEST(NumpyTest, KeysComeInAnyOrderWithPythonSpacingAndQuotes) {
  const std::string_view dicts[] = {
      R"({"shape": (2,3,), 'fortran_order':False,'descr':'<f4'})",
      "{ 'fortran_order' : False ,\n 'descr' : \"<f4\" , 'shape' : ( 2 , 3 ) }",
      "{'descr': '<f4', 'shape': (2, 3), 'fortran_order': False,}\t\r",
  };
  for (const std::string_view dict : dicts) {
    SCOPED_TRACE(dict);
    const Result<NpyArray> array = Parse(WrapNpyHeader(dict, 1) + std::string(24, '\0'));
    ASSERT_TRUE(array.has_value()) << array.error().message;
    EXPECT_EQ(array->tensor.shape, (std::vector<std::uint64_t>{2, 3}));
    EXPECT_EQ(array->tensor.dtype, "F32");
  }
}

TEST(NumpyTest, Python2LongSuffixIsReadInVersionsOneAndTwo) {
  const std::string_view dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }";
  for (const int version : {1, 2}) {
    const Result<NpyArray> array = Parse(WrapNpyHeader(dict, version) + std::string(48, '\0'));
    ASSERT_TRUE(array.has_value()) << array.error().message;
    EXPECT_EQ(array->tensor.shape, (std::vector<std::uint64_t>{3, 4}));
  }
  ExpectBad(Parse(WrapNpyHeader(dict, 3) + std::string(48, '\0')),
            "expected ',' or ')' in the shape at byte 52 of the header, found 'L'");
}

TEST(NumpyTest, WrittenFileHoldsTheTensorAfterTheHeader) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("numpy_test_" + std::to_string(::getpid()) + ".npy");
  tools::TensorSpec tensor;
  tensor.name = "w";
  tensor.shape = {3, 5};
  tensor.stream.seed = 11;
  ASSERT_TRUE(tools::WriteNpy(path, tensor, tools::StoredDtype::kF32).has_value());
  Result<FileByteSource> file = FileByteSource::Open(path);
  ASSERT_TRUE(file.has_value()) << file.error().message;
  const Result<NpyArray> array = ParseNpy(*file);
  ASSERT_TRUE(array.has_value()) << array.error().message;
  EXPECT_EQ(array->tensor.dtype, "F32");
  EXPECT_EQ(array->tensor.shape, tensor.shape);
  std::vector<std::uint32_t> expected(15);
  tools::FillF32(tensor.stream, 0, expected);
  std::vector<std::uint32_t> stored(15);
  ASSERT_TRUE(file->ReadAt(array->data_start, std::as_writable_bytes(std::span(stored))));
  std::filesystem::remove(path);
  EXPECT_EQ(stored, expected);
}

TEST(NumpyTest, ReadsTheHeaderButNotTheArray) {
  const std::string bytes = Npy("<f4", {1024, 1024}, 4 << 20);
  const CountingByteSource source(bytes);
  const Result<NpyArray> array = ParseNpy(source);
  ASSERT_TRUE(array.has_value()) << array.error().message;
  EXPECT_LE(source.bytes_read(), 64u * 1024);
}

TEST(NumpyTest, ReadErrorsStayIoErrors) {
  const Result<NpyArray> array = ParseNpy(FailingByteSource());
  ASSERT_FALSE(array.has_value());
  EXPECT_EQ(array.error().code, Errc::kIo);
  EXPECT_EQ(array.error().message, "disk on fire");
}

// A version 1.0 file whose header dict is `dict`, with `data_bytes` bytes of data.
std::string WithDict(std::string_view dict, std::size_t data_bytes = 24) {
  return WrapNpyHeader(dict, 1) + std::string(data_bytes, '\0');
}

// A header dict with `shape` and descr '<f4'.
std::string WithShape(std::string_view shape) {
  return WithDict("{'descr': '<f4', 'fortran_order': False, 'shape': " + std::string(shape) +
                  ", }");
}

std::string WithDescr(std::string_view descr) {
  return WithDict("{'descr': " + std::string(descr) + ", 'fortran_order': False, 'shape': (), }");
}

std::string Patched(std::string bytes, std::size_t at, std::string_view with) {
  bytes.replace(at, with.size(), with);
  return bytes;
}

struct MalformedCase {
  std::string name;
  std::function<std::string()> make;
  std::string fragment;  // must appear in the error message
};

void PrintTo(const MalformedCase& c, std::ostream* out) { *out << c.name; }

class MalformedNpyTest : public testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedNpyTest, IsRejectedWithAClearError) {
  ExpectBad(Parse(GetParam().make()), GetParam().fragment);
}

constexpr std::string_view kGoodDict =
    "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

INSTANTIATE_TEST_SUITE_P(
    NumpyTest, MalformedNpyTest,
    testing::Values(
        MalformedCase{"ShorterThanTheMagic", [] { return std::string("\x93NUM"); },
                      "the file ends at byte 4 but the magic"},
        MalformedCase{"NotNumpy", [] { return Patched(Npy("<f4", {2}, 8), 1, "Z"); },
                      "does not start with \"\\x93NUMPY\""},
        MalformedCase{"VersionFour", [] { return Patched(Npy("<f4", {2}, 8), 6, "\x04"); },
                      "version 4.0 is not supported"},
        MalformedCase{"VersionOneOne", [] { return Patched(Npy("<f4", {2}, 8), 7, "\x01"); },
                      "version 1.1 is not supported"},
        MalformedCase{"HeaderLengthPastTheFile",
                      [] { return Patched(Npy("<f4", {2}, 8), 8, "\xff\x7f"); },
                      "the header claims 32767 bytes but only 126 follow"},
        MalformedCase{"HeaderOverTheLimit",
                      [] {
                        return Patched(WrapNpyHeader(kGoodDict, 2), 8,
                                       std::string("\x01\x00\x10\x00", 4));
                      },
                      "the header claims 1048577 bytes, more than the limit of 1048576"},
        MalformedCase{"EmptyHeader",
                      [] { return Patched(Npy("<f4", {2}, 8), 8, std::string(2, '\0')); },
                      "does not end with a newline"},
        MalformedCase{"NoFinalNewline", [] { return Patched(Npy("<f4", {2}, 8), 127, " "); },
                      "does not end with a newline"},
        MalformedCase{"NotADict", [] { return WithDict("['descr', 'shape']"); },
                      "not a dict: it does not start with '{'"},
        MalformedCase{"UnclosedDict",
                      [] { return WithDict("{'descr': '<f4', 'fortran_order': False"); },
                      "the header ends where ',' or '}' after a value should be"},
        MalformedCase{"NoShape",
                      [] { return WithDict("{'descr': '<f4', 'fortran_order': False}"); },
                      "the header has no 'shape'"},
        MalformedCase{"NoDescr", [] { return WithDict("{'fortran_order': False, 'shape': ()}"); },
                      "the header has no 'descr'"},
        MalformedCase{"NoFortranOrder", [] { return WithDict("{'descr': '<f4', 'shape': ()}"); },
                      "the header has no 'fortran_order'"},
        MalformedCase{"UnknownKey",
                      [] {
                        return WithDict(
                            "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}");
                      },
                      "key 'x'; only 'descr', 'fortran_order' and 'shape' are allowed"},
        MalformedCase{"KeyTwice",
                      [] {
                        return WithDict(
                            "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'shape': ()}");
                      },
                      "the header has 'shape' more than once"},
        MalformedCase{"KeyNotAString", [] { return WithDict("{descr: '<f4'}"); },
                      "expected a quoted string for a key at byte 1 of the header, found 'd'"},
        MalformedCase{"NoColon", [] { return WithDict("{'descr' '<f4'}"); },
                      "expected ':' after the key"},
        MalformedCase{"JunkAfterTheDict", [] { return WithDict(std::string(kGoodDict) + " x"); },
                      "expected only spaces after the dict"},
        MalformedCase{"ObjectDtype", [] { return WithDescr("'|O'"); }, "object, string, void"},
        MalformedCase{"UnicodeDtype", [] { return WithDescr("'<U10'"); }, "descr '<U10' is an"},
        MalformedCase{"BytesDtype", [] { return WithDescr("'|S5'"); }, "descr '|S5' is an"},
        MalformedCase{"VoidDtype", [] { return WithDescr("'|V8'"); }, "descr '|V8' is an"},
        MalformedCase{"DatetimeDtype", [] { return WithDescr("'<M8[ns]'"); },
                      "descr '<M8[ns]' is an"},
        MalformedCase{"StructuredDtype", [] { return WithDescr("[('a', '<f4')]"); },
                      "structured dtypes are not supported"},
        MalformedCase{"SubarrayDtype", [] { return WithDescr("('<f4', (2,))"); },
                      "expected a quoted string for the descr"},
        MalformedCase{"OddItemSize", [] { return WithDescr("'<f3'"); },
                      "descr '<f3' is not a numeric or bool dtype"},
        MalformedCase{"NoItemSize", [] { return WithDescr("'<f'"); },
                      "descr '<f' is not a byte order, a kind and an item size"},
        MalformedCase{"OnlyAByteOrder", [] { return WithDescr("'<'"); }, "names no type"},
        MalformedCase{"DescrWithAnEscape", [] { return WithDescr(R"('<f\x34')"); },
                      "holds byte 0x5c"},
        MalformedCase{"UnclosedDescr", [] { return WithDict("{'descr': '<f4}"); },
                      "the descr at byte 10 of the header holds byte 0x0a"},
        MalformedCase{"FortranOrderNotABool",
                      [] { return WithDict("{'descr': '<f4', 'fortran_order': 0, 'shape': ()}"); },
                      "expected True or False for 'fortran_order'"},
        MalformedCase{"ShapeAList", [] { return WithShape("[2, 3]"); },
                      "expected a tuple for 'shape'"},
        MalformedCase{"ShapeAParenthesizedInteger", [] { return WithShape("(6)"); },
                      "'(n)' needs a comma"},
        MalformedCase{"ShapeOfOnlyAComma", [] { return WithShape("(,)"); },
                      "expected a non-negative integer in the shape"},
        MalformedCase{"NegativeDimension", [] { return WithShape("(-6,)"); },
                      "expected a non-negative integer in the shape"},
        MalformedCase{"DimensionWithALeadingZero", [] { return WithShape("(06,)"); },
                      "has a leading zero"},
        MalformedCase{"DimensionOver64Bits", [] { return WithShape("(18446744073709551616,)"); },
                      "does not fit 64 bits"},
        MalformedCase{"ElementCountOver64Bits",
                      [] { return WithShape("(4294967296, 4294967296)"); },
                      "needs more than 2^64 bytes of data"},
        MalformedCase{"MoreThan64Dimensions",
                      [] {
                        std::string shape = "(";
                        for (int i = 0; i < 65; ++i) shape += "1, ";
                        return WithShape(shape + ")");
                      },
                      "more than 64 dimensions"},
        MalformedCase{"DataShort",
                      [] {
                        return Npy("<f4", {3, 4}, 47);
                      },
                      "shape (3, 4) of '<f4' needs 48 bytes of data but 47 follow the header"},
        MalformedCase{"DataLong",
                      [] {
                        return Npy("<f4", {3, 4}, 49);
                      },
                      "needs 48 bytes of data but 49 follow"},
        MalformedCase{"DataForAnEmptyArray",
                      [] {
                        return Npy("|u1", {0, 5}, 1);
                      },
                      "needs 0 bytes of data but 1 follow"}));

}  // namespace
}  // namespace mei
