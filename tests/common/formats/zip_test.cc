#include "common/formats/zip.h"

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
#include "tests/common/formats/zip_examples.h"
#include "tools/synth/npy_writer.h"
#include "tools/synth/pytorch_writer.h"
#include "tools/synth/weights.h"
#include "tools/synth/zip_writer.h"

namespace mei {
namespace {

using tools::AppendTo;
using tools::ZipBytes;
using tools::ZipMethod;
using tools::ZipWriter;
using tools::ZipWriterOptions;

constexpr std::uint64_t kLocalHeaderBytes = 30;
constexpr std::size_t kEndBytes = 22;

Result<ZipArchive> Parse(const std::string& bytes) {
  return ParseZip(MemoryByteSource(std::as_bytes(std::span(bytes)), "test.zip"));
}

std::string_view DataOf(const std::string& bytes, const ZipMember& member) {
  return std::string_view(bytes).substr(member.data_offset, member.compressed_size);
}

void ExpectBad(const Result<ZipArchive>& result, const std::string& fragment) {
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, Errc::kBadModelFile);
  EXPECT_NE(result.error().message.find("test.zip: not a valid zip archive: "), std::string::npos)
      << result.error().message;
  EXPECT_NE(result.error().message.find(fragment), std::string::npos) << result.error().message;
}

std::uint64_t GetLe(const std::string& bytes, std::size_t at, int width) {
  std::uint64_t value = 0;
  for (int i = 0; i < width; ++i) {
    value |= std::uint64_t{static_cast<unsigned char>(bytes.at(at + i))} << (8 * i);
  }
  return value;
}

void PutLe(std::string& bytes, std::size_t at, std::uint64_t value, int width) {
  for (int i = 0; i < width; ++i) bytes.at(at + i) = static_cast<char>(value >> (8 * i));
}

// Where central directory entry `index` of a valid archive starts.
std::size_t CentralEntryAt(const std::string& bytes, std::size_t index) {
  std::size_t at = Parse(bytes).value().central_directory_offset;
  for (std::size_t i = 0; i < index; ++i) {
    at += 46 + GetLe(bytes, at + 28, 2) + GetLe(bytes, at + 30, 2) + GetLe(bytes, at + 32, 2);
  }
  return at;
}

TEST(ZipTest, WrittenMembersParseBackWithTheirDataAtTheirOffsets) {
  const std::string long_text(70000, 'q');
  ZipWriterOptions options;
  std::vector<ZipMember> written;
  std::string bytes;
  {
    ZipWriter zip(AppendTo(bytes));
    zip.AddMember("config.json", R"({"a": 1})").value();
    zip.AddMember("empty", "").value();
    zip.AddMember("folder/", "").value();
    zip.AddMember("deflated.txt", long_text, ZipMethod::kDeflated).value();
    zip.BeginMember("streamed/héllo.bin", 11).value();
    zip.Append("hello ").value();
    zip.Append("world").value();
    zip.EndMember().value();
    zip.Finish().value();
    written = zip.members();
  }
  const Result<ZipArchive> archive = Parse(bytes);
  ASSERT_TRUE(archive.has_value()) << archive.error().message;
  EXPECT_EQ(archive->members, written);
  ASSERT_EQ(archive->members.size(), 5u);
  EXPECT_EQ(archive->members[0].name, "config.json");
  EXPECT_EQ(DataOf(bytes, archive->members[0]), R"({"a": 1})");
  EXPECT_EQ(archive->members[0].data_offset, kLocalHeaderBytes + 11);
  EXPECT_EQ(archive->members[1].compressed_size, 0u);
  EXPECT_EQ(archive->members[2].name, "folder/");
  EXPECT_EQ(archive->members[4].name, "streamed/héllo.bin");
  EXPECT_EQ(DataOf(bytes, archive->members[4]), "hello world");
  EXPECT_EQ(archive->members[4].crc32, tools::Crc32(std::as_bytes(std::span("hello world", 11))));
  EXPECT_EQ(archive->central_directory_offset, archive->members[4].data_offset + 11 + 16);
  for (const ZipMember& member : archive->members) {
    EXPECT_FALSE(member.encrypted) << member.name;
    EXPECT_EQ(IsStored(member), member.name != "deflated.txt") << member.name;
  }
}

TEST(ZipTest, DeflatedMemberHasItsCompressedSizeAndMethod) {
  const std::string content(2 * 65535 + 10, 'z');
  const std::string bytes =
      ZipBytes([&](ZipWriter& zip) { zip.AddMember("d", content, ZipMethod::kDeflated).value(); });
  const Result<ZipArchive> archive = Parse(bytes);
  ASSERT_TRUE(archive.has_value()) << archive.error().message;
  const ZipMember& member = archive->members.at(0);
  EXPECT_EQ(member.method, 8);
  EXPECT_FALSE(IsStored(member));
  EXPECT_EQ(member.uncompressed_size, content.size());
  EXPECT_EQ(member.compressed_size, content.size() + 3 * 5);  // three uncompressed blocks
  EXPECT_EQ(member.crc32, tools::Crc32(std::as_bytes(std::span(content))));
  EXPECT_EQ(DataOf(bytes, member).substr(0, 5), std::string("\x00\xff\xff\x00\x00", 5));
}

TEST(ZipTest, StreamedMembersTakeTheirSizesFromTheCentralDirectory) {
  const std::string bytes = ZipBytes([](ZipWriter& zip) {
    zip.BeginMember("a", 4).value();
    zip.Append("abcd").value();
    zip.EndMember().value();
  });
  EXPECT_EQ(GetLe(bytes, 6, 2) & 0x0008, 0x0008u);  // general purpose bit 3
  EXPECT_EQ(GetLe(bytes, 14, 4), 0u);               // CRC and sizes left to the descriptor
  EXPECT_EQ(GetLe(bytes, 18, 8), 0u);
  const Result<ZipArchive> archive = Parse(bytes);
  ASSERT_TRUE(archive.has_value()) << archive.error().message;
  EXPECT_EQ(archive->members.at(0).compressed_size, 4u);
  EXPECT_EQ(archive->members.at(0).uncompressed_size, 4u);
  EXPECT_EQ(DataOf(bytes, archive->members.at(0)), "abcd");
}

// Every zip64_from gives a different mix of saturated fields: 0 saturates all of them, 100 only
// the offsets, sizes and counts from 100 up.
TEST(ZipTest, Zip64RecordsAndExtraFieldsGiveTheWideValues) {
  for (const std::uint64_t zip64_from : {0, 3, 100, 200}) {
    SCOPED_TRACE(zip64_from);
    ZipWriterOptions options;
    options.zip64_from = zip64_from;
    std::vector<ZipMember> written;
    std::string bytes;
    {
      ZipWriter zip(AppendTo(bytes), options);
      zip.AddMember("small", "ab").value();
      zip.AddMember("large", std::string(150, 'L')).value();
      zip.BeginMember("streamed", 120).value();
      zip.Append(std::string(120, 'S')).value();
      zip.EndMember().value();
      zip.AddMember("deflated", std::string(10, 'D'), ZipMethod::kDeflated).value();
      zip.Finish().value();
      written = zip.members();
    }
    EXPECT_EQ(bytes.find(std::string("PK\x06\x06", 4)) != std::string::npos, zip64_from <= 200);
    const Result<ZipArchive> archive = Parse(bytes);
    ASSERT_TRUE(archive.has_value()) << archive.error().message;
    EXPECT_EQ(archive->members, written);
    EXPECT_EQ(DataOf(bytes, archive->members[1]), std::string(150, 'L'));
    EXPECT_EQ(DataOf(bytes, archive->members[2]), std::string(120, 'S'));
  }
}

TEST(ZipTest, Zip64EndRecordCountsAnArchiveOfNoMembers) {
  ZipWriterOptions options;
  options.zip64_from = 0;
  const Result<ZipArchive> archive = Parse(ZipBytes([](ZipWriter&) {}, options));
  ASSERT_TRUE(archive.has_value()) << archive.error().message;
  EXPECT_TRUE(archive->members.empty());
  EXPECT_EQ(archive->central_directory_offset, 0u);
}

TEST(ZipTest, ArchiveCommentOfAnyLengthIsSkipped) {
  for (const std::size_t length : {std::size_t{1}, std::size_t{1000}, std::size_t{65535}}) {
    SCOPED_TRACE(length);
    ZipWriterOptions options;
    options.comment = std::string(length, 'c');
    const std::string bytes =
        ZipBytes([](ZipWriter& zip) { zip.AddMember("a", "x").value(); }, options);
    const Result<ZipArchive> archive = Parse(bytes);
    ASSERT_TRUE(archive.has_value()) << archive.error().message;
    EXPECT_EQ(archive->members.at(0).name, "a");
  }
}

TEST(ZipTest, EndRecordSignatureInsideTheCommentIsPassedOver) {
  ZipWriterOptions options;
  options.comment = std::string("PK\x05\x06", 4) + std::string(30, '\x07');
  const std::string bytes =
      ZipBytes([](ZipWriter& zip) { zip.AddMember("a", "x").value(); }, options);
  const Result<ZipArchive> archive = Parse(bytes);
  ASSERT_TRUE(archive.has_value()) << archive.error().message;
  EXPECT_EQ(archive->members.at(0).name, "a");
}

TEST(ZipTest, EncryptedFlagIsReportedAndMeansNotStored) {
  std::string bytes = ZipBytes([](ZipWriter& zip) { zip.AddMember("secret", "xxxx").value(); });
  const std::size_t entry = CentralEntryAt(bytes, 0);
  PutLe(bytes, entry + 8, GetLe(bytes, entry + 8, 2) | 1, 2);
  const Result<ZipArchive> archive = Parse(bytes);
  ASSERT_TRUE(archive.has_value()) << archive.error().message;
  EXPECT_TRUE(archive->members.at(0).encrypted);
  EXPECT_FALSE(IsStored(archive->members.at(0)));
}

std::vector<tools::TensorSpec> TwoTensors() {
  std::vector<tools::TensorSpec> tensors(2);
  tensors[0].name = "model.embed_tokens.weight";
  tensors[0].shape = {8, 4};
  tensors[0].stream.seed = 7;
  tensors[1].name = "model.norm.weight";
  tensors[1].shape = {4};
  tensors[1].stream.seed = 8;
  return tensors;
}

std::string Bf16Bytes(const tools::TensorSpec& tensor) {
  std::vector<std::uint16_t> elements(tensor.Elements());
  tools::FillBf16(tensor.stream, 0, elements);
  return std::string(reinterpret_cast<const char*>(elements.data()), 2 * elements.size());
}

TEST(ZipTest, PytorchCheckpointHasItsRecordsAlignedTo64Bytes) {
  const std::vector<tools::TensorSpec> tensors = TwoTensors();
  const std::string bytes =
      tools::PytorchCheckpointBytes("pytorch_model", tensors, tools::StoredDtype::kBf16);
  const Result<ZipArchive> archive = Parse(bytes);
  ASSERT_TRUE(archive.has_value()) << archive.error().message;
  std::vector<std::string> names;
  for (const ZipMember& member : archive->members) {
    names.push_back(member.name);
    EXPECT_TRUE(IsStored(member)) << member.name;
    EXPECT_EQ(member.data_offset % 64, 0u) << member.name;
  }
  const std::vector<std::string> expected = {
      "pytorch_model/data.pkl", "pytorch_model/byteorder", "pytorch_model/data/0",
      "pytorch_model/data/1",   "pytorch_model/version",   "pytorch_model/.data/serialization_id"};
  EXPECT_EQ(names, expected);
  const auto& members = archive->members;
  EXPECT_EQ(DataOf(bytes, members[0]),
            tools::PytorchDataPickle(tensors, tools::StoredDtype::kBf16));
  EXPECT_EQ(DataOf(bytes, members[1]), "little");
  EXPECT_EQ(DataOf(bytes, members[2]), Bf16Bytes(tensors[0]));
  EXPECT_EQ(DataOf(bytes, members[3]), Bf16Bytes(tensors[1]));
  EXPECT_EQ(DataOf(bytes, members[4]), "3\n");
  EXPECT_EQ(members[5].compressed_size, 40u);
}

TEST(ZipTest, NpzMembersAreStoredNpyFilesNamedAfterTheirTensors) {
  std::vector<tools::TensorSpec> tensors = TwoTensors();
  tensors.emplace_back().name = "scalar";
  const std::string bytes = tools::NpzBytes(tensors, tools::StoredDtype::kBf16);
  const Result<ZipArchive> archive = Parse(bytes);
  ASSERT_TRUE(archive.has_value()) << archive.error().message;
  ASSERT_EQ(archive->members.size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const ZipMember& member = archive->members[i];
    EXPECT_EQ(member.name, tensors[i].name + ".npy");
    EXPECT_TRUE(IsStored(member));
    EXPECT_EQ(DataOf(bytes, member),
              tools::NpyHeader("<u2", tensors[i].shape) + Bf16Bytes(tensors[i]));
  }
}

TEST(ZipTest, PytorchStoragesAreWrittenInTheStringOrderOfTheirKeys) {
  std::vector<tools::TensorSpec> tensors(11);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    tensors[i].name = "t" + std::to_string(i);
    tensors[i].shape = {i + 1};
  }
  const Result<ZipArchive> archive =
      Parse(tools::PytorchCheckpointBytes("m", tensors, tools::StoredDtype::kF32));
  ASSERT_TRUE(archive.has_value()) << archive.error().message;
  EXPECT_EQ(archive->members.at(2).name, "m/data/0");
  EXPECT_EQ(archive->members.at(3).name, "m/data/1");
  EXPECT_EQ(archive->members.at(4).name, "m/data/10");
  EXPECT_EQ(archive->members.at(4).compressed_size, 11u * 4);
  EXPECT_EQ(archive->members.at(5).name, "m/data/2");
}

TEST(ZipTest, PytorchDataPickleHasTheOpcodesTorchSaveWrites) {
  std::vector<tools::TensorSpec> tensors(1);
  tensors[0].name = "w";
  tensors[0].shape = {2, 300};
  // As torch.save(OrderedDict(w=torch.zeros(2, 300, dtype=torch.float16)), ...) writes it.
  const std::string expected(
      "\x80\x02"
      "ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00wq\x02"
      "ctorch._utils\n_rebuild_tensor_v2\nq\x03((X\x07\x00\x00\x00storageq\x04"
      "ctorch\nHalfStorage\nq\x05X\x01\x00\x00\x00"
      "0q\x06X\x03\x00\x00\x00"
      "cpuq\x07MX\x02tq\x08QK\x00K\x02M,\x01\x86q\x09M,\x01K\x01\x86q\n"
      "\x89h\x00)Rq\x0btq\x0cRq\x0ds.",
      171);
  EXPECT_EQ(tools::PytorchDataPickle(tensors, tools::StoredDtype::kF16), expected);
}

TEST(ZipTest, CheckpointOnDiskIsFoldedUnderTheFileStem) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("zip_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path path = dir / "pytorch_model.bin";
  const std::vector<tools::TensorSpec> tensors = TwoTensors();
  const Result<std::uint64_t> size =
      tools::WritePytorchCheckpoint(path, tensors, tools::StoredDtype::kF16);
  ASSERT_TRUE(size.has_value()) << size.error().message;
  Result<FileByteSource> file = FileByteSource::Open(path);
  ASSERT_TRUE(file.has_value()) << file.error().message;
  EXPECT_EQ(file->size(), *size);
  const Result<ZipArchive> archive = ParseZip(*file);
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(archive.has_value()) << archive.error().message;
  ASSERT_EQ(archive->members.size(), 6u);
  EXPECT_EQ(archive->members[0].name, "pytorch_model/data.pkl");
  EXPECT_EQ(archive->members[2].compressed_size, 8u * 4 * 2);
}

TEST(ZipTest, ReadsHeadersButNotMemberData) {
  const std::string bytes = ZipBytes([](ZipWriter& zip) {
    for (const char* name : {"a", "b", "c", "d"}) {
      zip.BeginMember(name, 4 << 20).value();
      zip.Append(std::string(4 << 20, *name)).value();
      zip.EndMember().value();
    }
  });
  const CountingByteSource source(bytes);
  const Result<ZipArchive> archive = ParseZip(source);
  ASSERT_TRUE(archive.has_value()) << archive.error().message;
  EXPECT_EQ(archive->members.size(), 4u);
  EXPECT_LE(source.bytes_read(), 6u * 64 * 1024);
}

TEST(ZipTest, ReadErrorsStayIoErrors) {
  const Result<ZipArchive> archive = ParseZip(FailingByteSource());
  ASSERT_FALSE(archive.has_value());
  EXPECT_EQ(archive.error().code, Errc::kIo);
  EXPECT_EQ(archive.error().message, "disk on fire");
}

using mei::testing::Patched;

// See TwoMemberZip.
std::string TwoMembers(ZipWriterOptions options = {}) {
  return mei::testing::TwoMemberZip(std::move(options));
}

std::string WithCentralField(std::size_t entry, std::size_t field, std::uint64_t value, int width) {
  std::string bytes = TwoMembers();
  return Patched(bytes, CentralEntryAt(bytes, entry) + field, value, width);
}

std::string WithEndField(std::size_t field, std::uint64_t value, int width) {
  std::string bytes = TwoMembers();
  return Patched(bytes, bytes.size() - kEndBytes + field, value, width);
}

std::string Zip64TwoMembers() {
  ZipWriterOptions options;
  options.zip64_from = 0;
  return TwoMembers(options);
}

// Patches field `field` of the Zip64 end record (`locator` false) or locator (true).
std::string WithZip64Field(bool locator, std::size_t field, std::uint64_t value, int width) {
  std::string bytes = Zip64TwoMembers();
  const std::size_t locator_at = bytes.size() - kEndBytes - 20;
  return Patched(bytes, (locator ? locator_at : locator_at - 56) + field, value, width);
}

std::string Named(std::initializer_list<std::string_view> names) {
  return ZipBytes([&](ZipWriter& zip) {
    for (const std::string_view name : names) zip.AddMember(name, "data").value();
  });
}

struct MalformedCase {
  std::string name;
  std::function<std::string()> make;
  std::string fragment;  // must appear in the error message
};

void PrintTo(const MalformedCase& c, std::ostream* out) { *out << c.name; }

class MalformedZipTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedZipTest, IsRejectedWithAClearError) {
  ExpectBad(Parse(GetParam().make()), GetParam().fragment);
}

INSTANTIATE_TEST_SUITE_P(
    ZipTest, MalformedZipTest,
    ::testing::Values(
        MalformedCase{"ShorterThanAnEndRecord", [] { return std::string(21, '\0'); },
                      "21 bytes, fewer than the 22"},
        MalformedCase{"NoEndRecord", [] { return WithEndField(0, 0x06054b51, 4); },
                      "no end of central directory record"},
        MalformedCase{"CommentLengthPastTheEnd", [] { return WithEndField(20, 1, 2); },
                      "no end of central directory record"},
        MalformedCase{"TruncatedArchive",
                      [] {
                        std::string bytes = TwoMembers();
                        return bytes.substr(0, bytes.size() / 2);
                      },
                      "no end of central directory record"},
        MalformedCase{"EndRecordOnAnotherDisk", [] { return WithEndField(4, 1, 2); },
                      "multi-disk archive (disk 1"},
        MalformedCase{"EntriesOnThisDiskDiffer", [] { return WithEndField(8, 1, 2); },
                      "1 of 2 entries on this disk"},
        MalformedCase{"DirectorySizeShort", [] { return WithEndField(12, 101, 4); },
                      "central directory of 101 bytes at byte 90 does not end where the end "
                      "records start (byte 192)"},
        MalformedCase{"DirectoryOffsetPastTheFile", [] { return WithEndField(16, 0xFFFFFFF0, 4); },
                      "does not end where the end records start"},
        MalformedCase{"MoreEntriesThanTheDirectoryHolds",
                      [] {
                        std::string bytes = WithEndField(8, 3, 2);
                        return Patched(bytes, bytes.size() - kEndBytes + 10, 3, 2);
                      },
                      "claims 3 entries but the central directory's 102 bytes hold at most 2"},
        MalformedCase{"FewerEntriesThanTheDirectory",
                      [] {
                        std::string bytes = WithEndField(8, 1, 2);
                        return Patched(bytes, bytes.size() - kEndBytes + 10, 1, 2);
                      },
                      "1 entries end at byte 141, but the directory runs to byte 192"},
        MalformedCase{"BadCentralSignature", [] { return WithCentralField(1, 0, 0x02014b51, 4); },
                      "entry 1 at byte 141 does not start with signature 50 4b 01 02"},
        MalformedCase{"NameRunsPastTheDirectory", [] { return WithCentralField(1, 28, 0xFFFF, 2); },
                      "run past the end of the directory at byte 192"},
        MalformedCase{"EmptyName", [] { return Named({""}); }, "has an empty name"},
        MalformedCase{"NameWithNul", [] { return Named({std::string_view("a\0b", 3)}); },
                      "name with a NUL byte"},
        MalformedCase{"NameNotUtf8", [] { return Named({"caf\xe9"}); }, "not UTF-8"},
        MalformedCase{"DuplicateName",
                      [] {
                        return Named({"x", "y", "x"});
                      },
                      "member \"x\" appears more than once"},
        MalformedCase{"SpanningMember", [] { return WithCentralField(0, 34, 1, 2); },
                      "member \"a.bin\" starts on disk 1"},
        MalformedCase{"SaturatedSizeWithoutZip64Extra",
                      [] { return WithCentralField(0, 24, 0xFFFFFFFF, 4); },
                      "member \"a.bin\" has saturated sizes or offset (0xFFFFFFFF) but no Zip64"},
        MalformedCase{"Zip64ExtraTooShort",
                      [] {
                        std::string bytes = Zip64TwoMembers();
                        return Patched(bytes, CentralEntryAt(bytes, 0) + 34, 0xFFFF, 2);
                      },
                      "member \"a.bin\": its Zip64 extra field has 24 bytes but its saturated "
                      "fields need 28"},
        MalformedCase{"ExtraFieldOverruns",
                      [] {
                        std::string bytes = Zip64TwoMembers();
                        return Patched(bytes, CentralEntryAt(bytes, 0) + 46 + 5 + 2, 0xFF, 2);
                      },
                      "extra field 0x0001 at byte 0 of its extra data claims 255 bytes but only "
                      "24 follow"},
        MalformedCase{"LocalHeaderInTheDirectory", [] { return WithCentralField(1, 42, 70, 4); },
                      "member \"b.bin\": its local header at byte 70 does not fit before the "
                      "central directory at byte 90"},
        MalformedCase{"BadLocalSignature", [] { return Patched(TwoMembers(), 45, 0, 4); },
                      "the local header at byte 45 does not start with signature 50 4b 03 04"},
        MalformedCase{"DataRunsIntoTheDirectory", [] { return WithCentralField(1, 20, 11, 4); },
                      "its 11 bytes of data at byte 80 (after a 5-byte local name and 0 bytes "
                      "of local extra fields) run past the central directory at byte 90"},
        MalformedCase{"LocalExtraRunsIntoTheDirectory",
                      [] { return Patched(TwoMembers(), 73, 9, 2); },
                      "at byte 89 (after a 5-byte local name and 9 bytes"},
        MalformedCase{"LocalNameDiffers", [] { return Patched(TwoMembers(), 30, 'A', 1); },
                      "member \"a.bin\": its local header at byte 0 gives another name"},
        MalformedCase{"OverlappingMembers", [] { return WithCentralField(0, 20, 20, 4); },
                      "members \"a.bin\" (local header at byte 0, data up to byte 55) and "
                      "\"b.bin\" (local header at byte 45) overlap"},
        MalformedCase{"NoZip64Locator",
                      [] { return WithZip64Field(/*locator=*/true, 0, 0x07064b51, 4); },
                      "are not a Zip64 end of central directory locator"},
        MalformedCase{"NoRoomBeforeTheLocator",
                      [] { return Patched(ZipBytes([](ZipWriter&) {}), 16, 0xFFFFFFFF, 4); },
                      "no room for a Zip64 end of central directory locator"},
        MalformedCase{"Zip64RecordPastTheLocator",
                      [] { return WithZip64Field(/*locator=*/true, 8, 0xFFFFFFFFFFFF, 8); },
                      "puts the Zip64 end record at byte 281474976710655"},
        MalformedCase{"Zip64RecordOnAnotherDisk",
                      [] { return WithZip64Field(/*locator=*/true, 4, 1, 4); },
                      "multi-disk archive (record on disk 1, 1 disks)"},
        MalformedCase{"Zip64ArchiveOfTwoDisks",
                      [] { return WithZip64Field(/*locator=*/true, 16, 2, 4); },
                      "multi-disk archive (record on disk 0, 2 disks)"},
        MalformedCase{"BadZip64RecordSignature",
                      [] { return WithZip64Field(/*locator=*/false, 0, 0x06064b51, 4); },
                      "does not start with signature 50 4b 06 06"},
        MalformedCase{"Zip64RecordSizeWrong",
                      [] { return WithZip64Field(/*locator=*/false, 4, 45, 8); },
                      "says it has 45 bytes after its first 12, but the locator follows 44"},
        MalformedCase{"Zip64RecordOnDiskOne",
                      [] { return WithZip64Field(/*locator=*/false, 16, 1, 4); },
                      "multi-disk archive (disk 1, directory on disk 0, 2 of 2 entries"},
        MalformedCase{"Zip64EntriesOnThisDiskDiffer",
                      [] { return WithZip64Field(/*locator=*/false, 24, 1, 8); },
                      "1 of 2 entries on this disk"},
        MalformedCase{"Zip64DirectoryOffsetWrong",
                      [] { return WithZip64Field(/*locator=*/false, 48, 91, 8); },
                      "at byte 91 does not end where the end records start"}));

// A ByteSource of `size` bytes: zeros, then `tail`.
class ZeroPaddedByteSource final : public ByteSource {
 public:
  ZeroPaddedByteSource(std::string tail, std::uint64_t size)
      : tail_(std::move(tail)), size_(size) {}
  std::uint64_t size() const override { return size_; }
  Result<void> ReadAt(std::uint64_t offset, std::span<std::byte> out) const override {
    const std::uint64_t tail_start = size_ - tail_.size();
    for (std::size_t i = 0; i < out.size(); ++i) {
      const std::uint64_t at = offset + i;
      out[i] = at < tail_start ? std::byte{0} : static_cast<std::byte>(tail_[at - tail_start]);
    }
    return {};
  }
  const std::string& name() const override { return name_; }

 private:
  std::string tail_;
  std::uint64_t size_;
  std::string name_ = "test.zip";
};

TEST(ZipTest, DirectoryOfMoreThanFourMillionEntriesIsRefused) {
  ZipWriterOptions options;
  options.zip64_from = 0;
  std::string records = ZipBytes([](ZipWriter&) {}, options);  // Zip64 end, locator, end
  constexpr std::uint64_t kEntries = (std::uint64_t{1} << 22) + 1;
  constexpr std::uint64_t kDirectoryBytes = kEntries * 46;
  PutLe(records, 24, kEntries, 8);
  PutLe(records, 32, kEntries, 8);
  PutLe(records, 40, kDirectoryBytes, 8);
  PutLe(records, 56 + 8, kDirectoryBytes, 8);  // the locator's pointer to the Zip64 end record
  const Result<ZipArchive> archive =
      ParseZip(ZeroPaddedByteSource(records, kDirectoryBytes + records.size()));
  ExpectBad(archive, "the archive has 4194305 members, more than the limit of 4194304");
}

TEST(ZipWriterTest, MemberGivenTheWrongNumberOfBytesIsRefused) {
  std::string bytes;
  ZipWriter zip(AppendTo(bytes));
  ASSERT_TRUE(zip.BeginMember("a", 3).has_value());
  const Result<void> too_many = zip.Append("abcd");
  ASSERT_FALSE(too_many.has_value());
  EXPECT_EQ(too_many.error().code, Errc::kBadRequest);
  ASSERT_TRUE(zip.Append("ab").has_value());
  const Result<void> too_few = zip.EndMember();
  ASSERT_FALSE(too_few.has_value());
  EXPECT_NE(too_few.error().message.find("begun with 3 bytes but got 2"), std::string::npos);
  EXPECT_FALSE(zip.Finish().has_value());
}

TEST(ZipWriterTest, NameOrCommentTooLongForTheFormatIsRefused) {
  std::string bytes;
  ZipWriter zip(AppendTo(bytes));
  EXPECT_EQ(zip.AddMember(std::string(65536, 'n'), "").error().code, Errc::kBadRequest);
  ZipWriterOptions options;
  options.comment = std::string(65536, 'c');
  ZipWriter commented(AppendTo(bytes), options);
  EXPECT_EQ(commented.Finish().error().code, Errc::kBadRequest);
}

TEST(ZipWriterTest, Crc32MatchesTheStandardCheckValue) {
  EXPECT_EQ(tools::Crc32(std::as_bytes(std::span("123456789", 9))), 0xCBF43926u);
  EXPECT_EQ(tools::Crc32({}), 0u);
  const std::string text = "The quick brown fox jumps over the lazy dog";
  const auto bytes = std::as_bytes(std::span(text));
  EXPECT_EQ(tools::Crc32(bytes), 0x414FA339u);
  EXPECT_EQ(tools::Crc32(bytes.subspan(13), tools::Crc32(bytes.first(13))), 0x414FA339u);
}

}  // namespace
}  // namespace mei
