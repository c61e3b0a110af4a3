#include "cache-node/access_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <latch>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/common/access_record_examples.h"

namespace mei::cache_node {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::system_clock;

using mei::testing::FullRecord;
using mei::testing::kNoon;
using mei::testing::Numbered;

std::vector<std::string> ReadLines(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string ReadAll(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::string> Export(const AccessLog& log, system_clock::time_point since) {
  std::vector<std::string> lines;
  auto exported = log.ExportSince(since, [&](std::string_view line) {
    lines.emplace_back(line);
    return true;
  });
  EXPECT_TRUE(exported.has_value()) << exported.error().message;
  return lines;
}

std::vector<std::uint64_t> NumbersOf(const std::vector<std::string>& lines) {
  std::vector<std::uint64_t> numbers;
  for (const std::string& line : lines) {
    auto record = ParseAccessRecord(line);
    EXPECT_TRUE(record.has_value()) << line;
    if (record) numbers.push_back(record->bytes);
  }
  return numbers;
}

class AccessLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("mei_access_log_test_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<AccessLog> OpenLog(AccessLogOptions options = {}) {
    auto log = AccessLog::Open(dir_, options);
    EXPECT_TRUE(log.has_value()) << log.error().message;
    return log ? std::move(*log) : nullptr;
  }

  fs::path dir_;
};

TEST_F(AccessLogTest, WrittenRecordsParseBackFieldForField) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  const AccessRecord full = FullRecord();
  AccessRecord empty;
  empty.time = kNoon;
  log->Write(full);
  log->Write(empty);

  const std::vector<std::string> lines = ReadLines(dir_ / "access.log");
  ASSERT_EQ(lines.size(), 2u);
  auto parsed = ParseAccessRecord(lines[0]);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(parsed->time, full.time);
  EXPECT_EQ(parsed->node, full.node);
  EXPECT_EQ(parsed->client, full.client);
  EXPECT_EQ(parsed->route, full.route);
  EXPECT_EQ(parsed->model, full.model);
  EXPECT_EQ(parsed->revision, full.revision);
  EXPECT_EQ(parsed->commit, full.commit);
  EXPECT_EQ(parsed->path, full.path);
  EXPECT_EQ(parsed->block, full.block);
  EXPECT_EQ(parsed->bytes, full.bytes);
  EXPECT_EQ(parsed->status, full.status);
  EXPECT_EQ(parsed->cache, full.cache);
  EXPECT_EQ(parsed->upstream, full.upstream);
  EXPECT_DOUBLE_EQ(parsed->duration_ms, full.duration_ms);

  auto parsed_empty = ParseAccessRecord(lines[1]);
  ASSERT_TRUE(parsed_empty.has_value()) << parsed_empty.error().message;
  EXPECT_EQ(parsed_empty->time, kNoon);
  EXPECT_EQ(parsed_empty->node, "");
  EXPECT_EQ(parsed_empty->cache, "");
  EXPECT_EQ(parsed_empty->upstream, "");
  EXPECT_EQ(parsed_empty->bytes, 0u);
  EXPECT_EQ(parsed_empty->status, 0);
  EXPECT_EQ(log->write_errors(), 0u);
}

TEST_F(AccessLogTest, RotationKeepsAtMostMaxFilesAndEveryLineOfThem) {
  const std::size_t line_size = FormatAccessRecord(Numbered(100)).size() + 1;
  const AccessLogOptions options{.max_file_bytes = 10 * line_size, .max_files = 3};
  auto log = OpenLog(options);
  ASSERT_NE(log, nullptr);
  for (std::uint64_t n = 100; n < 200; ++n) log->Write(Numbered(n));
  EXPECT_EQ(log->write_errors(), 0u);

  EXPECT_TRUE(fs::exists(dir_ / "access.log"));
  EXPECT_TRUE(fs::exists(dir_ / "access.log.1"));
  EXPECT_TRUE(fs::exists(dir_ / "access.log.2"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 3);

  std::vector<std::uint64_t> kept;
  for (const char* name : {"access.log.2", "access.log.1", "access.log"}) {
    EXPECT_LE(fs::file_size(dir_ / name), options.max_file_bytes) << name;
    const std::vector<std::uint64_t> numbers = NumbersOf(ReadLines(dir_ / name));
    kept.insert(kept.end(), numbers.begin(), numbers.end());
  }
  // Exactly ten lines fit a file: the newest 30 survive, in order, none lost.
  std::vector<std::uint64_t> expected;
  for (std::uint64_t n = 170; n < 200; ++n) expected.push_back(n);
  EXPECT_EQ(kept, expected);
  EXPECT_EQ(NumbersOf(Export(*log, system_clock::time_point{})), expected);
}

TEST_F(AccessLogTest, OneFileMeansRotationStartsAfresh) {
  const std::size_t line_size = FormatAccessRecord(Numbered(100)).size() + 1;
  auto log = OpenLog({.max_file_bytes = 4 * line_size, .max_files = 1});
  ASSERT_NE(log, nullptr);
  for (std::uint64_t n = 100; n < 110; ++n) log->Write(Numbered(n));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
  EXPECT_EQ(NumbersOf(ReadLines(dir_ / "access.log")), (std::vector<std::uint64_t>{108, 109}));
}

TEST_F(AccessLogTest, LineLongerThanMaxFileBytesIsStillWrittenWhole) {
  auto log = OpenLog({.max_file_bytes = 64, .max_files = 4});
  ASSERT_NE(log, nullptr);
  for (std::uint64_t n = 0; n < 3; ++n) log->Write(Numbered(n));
  EXPECT_EQ(log->write_errors(), 0u);
  EXPECT_EQ(NumbersOf(Export(*log, system_clock::time_point{})),
            (std::vector<std::uint64_t>{0, 1, 2}));
  EXPECT_EQ(ReadLines(dir_ / "access.log").size(), 1u);
}

TEST_F(AccessLogTest, ExportSinceFiltersByTimeInOrderAcrossRotatedFiles) {
  const std::size_t line_size = FormatAccessRecord(Numbered(100)).size() + 1;
  auto log = OpenLog({.max_file_bytes = 7 * line_size, .max_files = 100});
  ASSERT_NE(log, nullptr);
  for (std::uint64_t n = 100; n < 200; ++n) log->Write(Numbered(n, kNoon + seconds(n)));
  ASSERT_TRUE(fs::exists(dir_ / "access.log.13"));

  std::vector<std::uint64_t> expected;
  for (std::uint64_t n = 150; n < 200; ++n) expected.push_back(n);
  EXPECT_EQ(NumbersOf(Export(*log, kNoon + seconds(150))), expected);
  // The boundary is inclusive to the millisecond.
  EXPECT_EQ(NumbersOf(Export(*log, kNoon + seconds(150) + milliseconds(1))).front(), 151u);
  EXPECT_TRUE(Export(*log, kNoon + seconds(1000)).empty());
  EXPECT_EQ(Export(*log, system_clock::time_point{}).size(), 100u);
}

TEST_F(AccessLogTest, ExportStopsWhenTheSinkSaysSo) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  for (std::uint64_t n = 0; n < 10; ++n) log->Write(Numbered(n));
  std::vector<std::string> lines;
  auto exported = log->ExportSince(system_clock::time_point{}, [&](std::string_view line) {
    lines.emplace_back(line);
    return lines.size() < 3;
  });
  ASSERT_TRUE(exported.has_value());
  EXPECT_EQ(NumbersOf(lines), (std::vector<std::uint64_t>{0, 1, 2}));
}

TEST_F(AccessLogTest, ConcurrentWritersProduceOnlyWholeLines) {
  constexpr int kThreads = 8;
  constexpr std::uint64_t kPerThread = 2000;
  // Small files, so writers race with rotations too; enough of them that nothing is deleted.
  auto log = OpenLog({.max_file_bytes = 64 << 10, .max_files = 1000});
  ASSERT_NE(log, nullptr);
  std::latch start(kThreads);
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      start.arrive_and_wait();
      for (std::uint64_t i = 0; i < kPerThread; ++i) {
        AccessRecord record = Numbered(i);
        record.client = "writer-" + std::to_string(t);
        record.path = std::string(i % 300, static_cast<char>('a' + t));  // lines of many sizes
        log->Write(record);
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  EXPECT_EQ(log->write_errors(), 0u);

  std::set<std::pair<std::string, std::uint64_t>> seen;
  std::size_t lines = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    const std::string content = ReadAll(entry.path());
    ASSERT_TRUE(content.empty() || content.back() == '\n') << entry.path();
    for (const std::string& line : ReadLines(entry.path())) {
      ++lines;
      auto record = ParseAccessRecord(line);
      ASSERT_TRUE(record.has_value()) << record.error().message << ": " << line;
      EXPECT_EQ(record->path.size(), record->bytes % 300);
      EXPECT_TRUE(seen.emplace(record->client, record->bytes).second);
    }
  }
  EXPECT_EQ(lines, kThreads * kPerThread);
  EXPECT_EQ(seen.size(), kThreads * kPerThread);
  EXPECT_EQ(Export(*log, system_clock::time_point{}).size(), kThreads * kPerThread);
}

TEST_F(AccessLogTest, ExportWhileWritingSeesOnlyWholeLines) {
  auto log = OpenLog({.max_file_bytes = 16 << 10, .max_files = 1000});
  ASSERT_NE(log, nullptr);
  std::latch start(2);
  std::thread writer([&] {
    start.arrive_and_wait();
    for (std::uint64_t i = 0; i < 5000; ++i) log->Write(Numbered(i));
  });
  start.arrive_and_wait();
  std::size_t previous = 0;
  for (int round = 0; round < 20; ++round) {
    const std::vector<std::uint64_t> numbers = NumbersOf(Export(*log, system_clock::time_point{}));
    ASSERT_GE(numbers.size(), previous);
    for (std::size_t i = 0; i < numbers.size(); ++i) ASSERT_EQ(numbers[i], i);
    previous = numbers.size();
  }
  writer.join();
  EXPECT_EQ(Export(*log, system_clock::time_point{}).size(), 5000u);
}

TEST_F(AccessLogTest, TornLastLineIsSkippedAndTerminatedOnReopen) {
  {
    auto log = OpenLog();
    ASSERT_NE(log, nullptr);
    for (std::uint64_t n = 0; n < 3; ++n) log->Write(Numbered(n));
  }
  const std::string whole = FormatAccessRecord(Numbered(99));
  {
    std::ofstream out(dir_ / "access.log", std::ios::binary | std::ios::app);
    out << whole.substr(0, whole.size() / 2);
  }
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(NumbersOf(Export(*log, system_clock::time_point{})),
            (std::vector<std::uint64_t>{0, 1, 2}));
  log->Write(Numbered(3));
  EXPECT_EQ(NumbersOf(Export(*log, system_clock::time_point{})),
            (std::vector<std::uint64_t>{0, 1, 2, 3}));
  // The fragment stays on a line of its own, so the record after it is intact.
  const std::vector<std::string> lines = ReadLines(dir_ / "access.log");
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[3], whole.substr(0, whole.size() / 2));
}

TEST_F(AccessLogTest, ExportSkipsTornLastLineOfAFileItDidNotWrite) {
  fs::create_directories(dir_);
  const std::string first = FormatAccessRecord(Numbered(1));
  const std::string second = FormatAccessRecord(Numbered(2));
  {
    std::ofstream out(dir_ / "access.log.1", std::ios::binary);
    out << first << '\n' << second.substr(0, 20);
  }
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  log->Write(Numbered(3));
  EXPECT_EQ(NumbersOf(Export(*log, system_clock::time_point{})),
            (std::vector<std::uint64_t>{1, 3}));
}

TEST_F(AccessLogTest, OpenRemovesRotatedFilesBeyondMaxFiles) {
  fs::create_directories(dir_);
  for (const char* name : {"access.log.1", "access.log.2", "access.log.7", "other.txt"}) {
    std::ofstream(dir_ / name) << FormatAccessRecord(Numbered(1)) << '\n';
  }
  auto log = OpenLog({.max_file_bytes = 1 << 20, .max_files = 2});
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(fs::exists(dir_ / "access.log.1"));
  EXPECT_FALSE(fs::exists(dir_ / "access.log.2"));
  EXPECT_FALSE(fs::exists(dir_ / "access.log.7"));
  EXPECT_TRUE(fs::exists(dir_ / "other.txt"));
}

TEST_F(AccessLogTest, OpenRejectsZeroLimits) {
  auto no_bytes = AccessLog::Open(dir_, {.max_file_bytes = 0, .max_files = 8});
  ASSERT_FALSE(no_bytes.has_value());
  EXPECT_EQ(no_bytes.error().code, Errc::kBadRequest);
  auto no_files = AccessLog::Open(dir_, {.max_file_bytes = 1 << 20, .max_files = 0});
  ASSERT_FALSE(no_files.has_value());
  EXPECT_EQ(no_files.error().code, Errc::kBadRequest);
}

TEST_F(AccessLogTest, OpenFailsWithIoWhenTheDirectoryCannotBeMade) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "file") << "x";
  auto log = AccessLog::Open(dir_ / "file" / "logs");
  ASSERT_FALSE(log.has_value());
  EXPECT_EQ(log.error().code, Errc::kIo);
}

TEST_F(AccessLogTest, WriteErrorsAreCountedAndTheLogRecovers) {
  const std::size_t line_size = FormatAccessRecord(Numbered(1)).size() + 1;
  auto log = OpenLog({.max_file_bytes = 2 * line_size, .max_files = 4});
  ASSERT_NE(log, nullptr);
  log->Write(Numbered(1));
  log->Write(Numbered(2));
  fs::remove_all(dir_);
  log->Write(Numbered(3));  // needs a rotation, which cannot rename or reopen anything
  log->Write(Numbered(4));
  EXPECT_GE(log->write_errors(), 2u);
  fs::create_directories(dir_);
  const std::uint64_t errors = log->write_errors();
  log->Write(Numbered(5));
  EXPECT_EQ(log->write_errors(), errors);
  EXPECT_EQ(NumbersOf(Export(*log, system_clock::time_point{})), (std::vector<std::uint64_t>{5}));
}

}  // namespace
}  // namespace mei::cache_node
