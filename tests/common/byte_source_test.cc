#include "common/byte_source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace mei {
namespace {

TEST(ByteSourceTest, MemoryReadsExactRanges) {
  const std::string text = "0123456789";
  MemoryByteSource source(std::as_bytes(std::span(text)));
  std::vector<std::byte> out(4);
  ASSERT_TRUE(source.ReadAt(3, out));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(out.data()), out.size()), "3456");
  EXPECT_TRUE(source.ReadAt(10, std::span<std::byte>()));
}

TEST(ByteSourceTest, ReadPastTheEndIsAnErrorNotAShortRead) {
  const std::string text = "0123456789";
  MemoryByteSource source(std::as_bytes(std::span(text)));
  std::vector<std::byte> out(4);
  auto read = source.ReadAt(8, out);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, Errc::kIo);
  EXPECT_FALSE(source.ReadAt(UINT64_MAX - 1, out));
}

TEST(ByteSourceTest, FileReadsWhatWasWritten) {
  const auto path = std::filesystem::path(::testing::TempDir()) / "byte_source_test.bin";
  std::string data(100000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 253);
  std::ofstream(path, std::ios::binary)
      .write(data.data(), static_cast<std::streamsize>(data.size()));
  auto source = FileByteSource::Open(path);
  ASSERT_TRUE(source) << source.error().message;
  EXPECT_EQ(source->size(), data.size());
  std::vector<std::byte> out(5000);
  ASSERT_TRUE(source->ReadAt(90000, out));
  EXPECT_EQ(0, std::memcmp(out.data(), data.data() + 90000, out.size()));
  EXPECT_FALSE(source->ReadAt(96000, out));
  std::filesystem::remove(path);
}

TEST(ByteSourceTest, OpeningAMissingFileOrADirectoryIsAClearError) {
  auto missing = FileByteSource::Open("/nonexistent/model.safetensors");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kIo);
  EXPECT_NE(missing.error().message.find("/nonexistent/model.safetensors"), std::string::npos);
  auto directory = FileByteSource::Open(::testing::TempDir());
  ASSERT_FALSE(directory);
  EXPECT_NE(directory.error().message.find("not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace mei
