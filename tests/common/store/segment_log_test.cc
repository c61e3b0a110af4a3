#include "common/store/segment_log.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/aligned_bytes.h"

namespace mei {
namespace {

namespace fs = std::filesystem;

std::vector<std::byte> Bytes(std::size_t size, char fill) {
  return std::vector<std::byte>(size, static_cast<std::byte>(fill));
}

class SegmentLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("mei_segment_log_test_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<SegmentLog> OpenLog(std::uint64_t segment_bytes = 1 << 20) {
    auto log = SegmentLog::Open(dir_, SegmentLogOptions{.segment_bytes = segment_bytes});
    EXPECT_TRUE(log) << log.error().message;
    return log ? std::move(*log) : nullptr;
  }

  std::vector<std::byte> ReadBack(const SegmentLog& log, const FrameLocation& where) {
    std::vector<std::byte> out;
    auto read = log.Read(where, out);
    EXPECT_TRUE(read) << read.error().message;
    return out;
  }

  fs::path dir_;
};

TEST_F(SegmentLogTest, AppendedFramesReadBackWhereTheyWent) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  const auto a = Bytes(100, 'a');
  const auto b = Bytes(7, 'b');
  const FrameLocation at_a = log->Append(a).value();
  const FrameLocation at_b = log->Append(b).value();
  EXPECT_EQ(at_a, (FrameLocation{1, 0, 100}));
  EXPECT_EQ(at_b, (FrameLocation{1, 100, 7}));
  EXPECT_EQ(ReadBack(*log, at_b), b);
  EXPECT_EQ(ReadBack(*log, at_a), a);
  ASSERT_TRUE(log->Sync());
  ASSERT_TRUE(log->Sync());  // nothing left to sync
  EXPECT_EQ(fs::file_size(dir_ / "0000000001.seg"), 107u);
}

// An aligned buffer holding `size` bytes of `fill`, as a filled block's frame is.
AlignedBytes AlignedFrame(std::size_t size, char fill) {
  AlignedBytes frame(size);
  std::memset(frame.data(), fill, size);
  return frame;
}

std::vector<std::byte> BytesOf(const AlignedBytes& frame) {
  return {frame.data(), frame.data() + frame.size()};
}

TEST_F(SegmentLogTest, AlignedFramesStartAtAlignedOffsetsAndOthersAtTheEnd) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  const auto small = Bytes(100, 'a');
  const AlignedBytes aligned = AlignedFrame(10'000, 'b');  // two whole pages and a partial one
  const auto tail = Bytes(7, 'c');
  const AlignedBytes tiny = AlignedFrame(100, 'd');  // aligned, but less than a page
  EXPECT_EQ(log->Append(small).value(), (FrameLocation{1, 0, 100}));
  EXPECT_EQ(log->Append(aligned.span()).value(), (FrameLocation{1, 4096, 10'000}));
  EXPECT_EQ(log->Append(tail).value(), (FrameLocation{1, 14'096, 7}));
  EXPECT_EQ(log->Append(tiny.span()).value(), (FrameLocation{1, 14'103, 100}));
  EXPECT_EQ(ReadBack(*log, {1, 0, 100}), small);
  EXPECT_EQ(ReadBack(*log, {1, 4096, 10'000}), BytesOf(aligned));
  EXPECT_EQ(ReadBack(*log, {1, 14'096, 7}), tail);
  EXPECT_EQ(ReadBack(*log, {1, 14'103, 100}), BytesOf(tiny));
  ASSERT_TRUE(log->Sync());
  log.reset();

  // Reopened, appends go on after the last frame, aligned again when the frame is.
  log = OpenLog();
  ASSERT_NE(log, nullptr);
  const AlignedBytes next = AlignedFrame(8192, 'e');
  EXPECT_EQ(log->Append(next.span()).value(), (FrameLocation{1, 16'384, 8192}));
  EXPECT_EQ(ReadBack(*log, {1, 16'384, 8192}), BytesOf(next));
  EXPECT_EQ(ReadBack(*log, {1, 4096, 10'000}), BytesOf(aligned));
  EXPECT_EQ(fs::file_size(dir_ / "0000000001.seg"), 16'384u + 8192u);
}

TEST_F(SegmentLogTest, WithoutDirectAppendsAlignedFramesGoAtTheEndToo) {
  auto log = SegmentLog::Open(dir_, SegmentLogOptions{.direct_appends = false});
  ASSERT_TRUE(log) << log.error().message;
  const AlignedBytes aligned = AlignedFrame(10'000, 'b');
  EXPECT_EQ((*log)->Append(Bytes(100, 'a')).value(), (FrameLocation{1, 0, 100}));
  EXPECT_EQ((*log)->Append(aligned.span()).value(), (FrameLocation{1, 100, 10'000}));
  EXPECT_EQ(ReadBack(**log, {1, 100, 10'000}), BytesOf(aligned));
}

TEST_F(SegmentLogTest, AnAppendThatWouldPassTheSegmentSizeGoesToANewSegment) {
  auto log = OpenLog(100);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->Append(Bytes(60, 'a')).value(), (FrameLocation{1, 0, 60}));
  EXPECT_EQ(log->Append(Bytes(40, 'b')).value(), (FrameLocation{1, 60, 40}));  // exactly full
  EXPECT_EQ(log->Append(Bytes(1, 'c')).value(), (FrameLocation{2, 0, 1}));
  EXPECT_EQ(log->Append(Bytes(250, 'd')).value(), (FrameLocation{3, 0, 250}));  // its own
  EXPECT_EQ(log->List(), (std::vector<SegmentLog::SegmentInfo>{{1, 100}, {2, 1}, {3, 250}}));
}

TEST_F(SegmentLogTest, ReopenedLogFindsEverySegmentAndAppendsAfterTheLast) {
  FrameLocation first;
  {
    auto log = OpenLog(100);
    ASSERT_NE(log, nullptr);
    first = log->Append(Bytes(80, 'a')).value();
    ASSERT_TRUE(log->Append(Bytes(30, 'b')));
    ASSERT_TRUE(log->Sync());
  }
  std::ofstream(dir_ / "notes.txt") << "not a segment";
  std::ofstream(dir_ / "12.seg") << "not a segment name either";
  auto log = OpenLog(100);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->List(), (std::vector<SegmentLog::SegmentInfo>{{1, 80}, {2, 30}}));
  EXPECT_EQ(ReadBack(*log, first), Bytes(80, 'a'));
  EXPECT_EQ(log->Append(Bytes(5, 'c')).value(), (FrameLocation{2, 30, 5}));
  EXPECT_TRUE(fs::exists(dir_ / "notes.txt"));
}

TEST_F(SegmentLogTest, TruncateCutsATornTailAndAppendsContinueThere) {
  FrameLocation kept;
  {
    auto log = OpenLog();
    ASSERT_NE(log, nullptr);
    kept = log->Append(Bytes(50, 'a')).value();
  }
  // Half a frame that a crash left after the last one an index names.
  std::ofstream(dir_ / "0000000001.seg", std::ios::binary | std::ios::app) << "torn-frame";
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->List().back().bytes, 60u);
  ASSERT_TRUE(log->Truncate(1, kept.offset + kept.length));
  EXPECT_EQ(fs::file_size(dir_ / "0000000001.seg"), 50u);
  const FrameLocation next = log->Append(Bytes(3, 'b')).value();
  EXPECT_EQ(next, (FrameLocation{1, 50, 3}));
  EXPECT_EQ(ReadBack(*log, kept), Bytes(50, 'a'));
  EXPECT_EQ(ReadBack(*log, next), Bytes(3, 'b'));
  EXPECT_EQ(log->Truncate(1, 54).error().code, Errc::kBadRequest);  // past the end
  EXPECT_EQ(log->Truncate(9, 0).error().code, Errc::kBadRequest);
}

TEST_F(SegmentLogTest, ARemovedSegmentStaysReadableToAReaderThatHoldsIt) {
  auto log = OpenLog(100);
  ASSERT_NE(log, nullptr);
  const FrameLocation old = log->Append(Bytes(90, 'a')).value();
  ASSERT_TRUE(log->Append(Bytes(20, 'b')));  // segment 2 takes the appends now
  std::shared_ptr<const Segment> reader = log->Get(1).value();
  ASSERT_TRUE(log->Remove(1));
  EXPECT_FALSE(fs::exists(dir_ / "0000000001.seg"));
  EXPECT_EQ(log->Get(1).error().code, Errc::kBadFrame);
  std::vector<std::byte> out;
  EXPECT_EQ(log->Read(old, out).error().code, Errc::kBadFrame);
  std::vector<std::byte> held(old.length);
  ASSERT_TRUE(reader->Read(old.offset, held));
  EXPECT_EQ(held, Bytes(90, 'a'));
  ASSERT_TRUE(log->Sync());
}

TEST_F(SegmentLogTest, RemovingTheActiveSegmentStartsTheNextAndUnknownOnesAreRefused) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  const FrameLocation old = log->Append(Bytes(10, 'a')).value();
  std::shared_ptr<const Segment> reader = log->Hold(old).value();
  EXPECT_EQ(log->Remove(2).error().code, Errc::kBadRequest);
  ASSERT_TRUE(log->Remove(1));
  EXPECT_FALSE(fs::exists(dir_ / "0000000001.seg"));
  EXPECT_EQ(log->active(), 2u);
  EXPECT_EQ(log->Append(Bytes(5, 'b')).value(), (FrameLocation{2, 0, 5}));
  std::vector<std::byte> held(old.length);
  ASSERT_TRUE(reader->Read(old.offset, held));
  EXPECT_EQ(held, Bytes(10, 'a'));
  EXPECT_EQ(log->Hold(old).error().code, Errc::kBadFrame);
  ASSERT_TRUE(log->Sync());
}

TEST_F(SegmentLogTest, RollStartsANewSegmentUnlessTheActiveOneIsEmpty) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Roll());
  EXPECT_EQ(log->active(), 1u) << "an empty active segment stays";
  const FrameLocation first = log->Append(Bytes(10, 'a')).value();
  ASSERT_TRUE(log->Roll());
  EXPECT_EQ(log->active(), 2u);
  EXPECT_EQ(log->Append(Bytes(5, 'b')).value(), (FrameLocation{2, 0, 5}));
  EXPECT_EQ(ReadBack(*log, first), Bytes(10, 'a'));
  ASSERT_TRUE(log->Remove(1));
  EXPECT_EQ((log->List()), (std::vector<SegmentLog::SegmentInfo>{{2, 5}}));
}

TEST_F(SegmentLogTest, ReadsOutsideWhatWasAppendedAreBadFrame) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Append(Bytes(10, 'a')));
  std::vector<std::byte> out;
  for (const FrameLocation where : {FrameLocation{1, 5, 6}, FrameLocation{1, 11, 0},
                                    FrameLocation{2, 0, 1}, FrameLocation{1, ~0ull, 2}}) {
    const auto read = log->Read(where, out);
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code, Errc::kBadFrame) << read.error().message;
  }
  std::vector<std::byte> past(4);
  EXPECT_EQ(log->Get(1).value()->Read(8, past).error().code, Errc::kBadFrame);
}

TEST_F(SegmentLogTest, BadOptionsAndEmptyFramesAreRefused) {
  EXPECT_EQ(SegmentLog::Open(dir_, SegmentLogOptions{.segment_bytes = 0}).error().code,
            Errc::kBadRequest);
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->Append({}).error().code, Errc::kBadRequest);
  std::ofstream(dir_ / "file") << "x";
  EXPECT_EQ(SegmentLog::Open(dir_ / "file").error().code, Errc::kIo);
}

// On a 1 MiB tmpfs (mounted as root, as CI runs; skipped otherwise): the append that finds the disk
// full fails with kStoreFull and leaves no partial frame, and the frames before it read back.
TEST_F(SegmentLogTest, AnAppendThatFindsTheDiskFullIsStoreFullAndLeavesNoPartialFrame) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  fs::create_directories(dir_);
  if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=1048576") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs at " << dir_ << ": " << std::strerror(errno);
  }
  struct Unmount {
    fs::path dir;
    ~Unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
  } unmount{dir_};
  std::vector<FrameLocation> written;
  Error full;
  {
    auto log = OpenLog(16 << 20);  // one segment
    ASSERT_NE(log, nullptr);
    for (int i = 0; i < 8; ++i) {
      // Aligned frames (written with O_DIRECT) and others in turn.
      const AlignedBytes frame = AlignedFrame(300 << 10, static_cast<char>('a' + i));
      auto appended = i % 2 == 0 ? log->Append(frame.span())
                                 : log->Append(Bytes(300 << 10, static_cast<char>('a' + i)));
      if (!appended) {
        full = appended.error();
        break;
      }
      written.push_back(*appended);
    }
    EXPECT_EQ(full.code, Errc::kStoreFull) << full.message;
    ASSERT_FALSE(written.empty());
    EXPECT_EQ(log->List().back().bytes, written.size() * (300 << 10));
    EXPECT_EQ(fs::file_size(dir_ / "0000000001.seg"), written.size() * (300 << 10));
    for (std::size_t i = 0; i < written.size(); ++i) {
      EXPECT_EQ(ReadBack(*log, written[i]), Bytes(300 << 10, static_cast<char>('a' + i)));
    }
  }
}

}  // namespace
}  // namespace mei
