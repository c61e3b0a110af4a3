#include "tools/get/progress_bar.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common/byte_size.h"

namespace mei::tools {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

// What is between the brackets of a line.
std::string BarOf(const std::string& line) {
  const std::size_t close = line.find(']');
  EXPECT_EQ(line.front(), '[') << line;
  EXPECT_NE(close, std::string::npos) << line;
  return close == std::string::npos ? "" : line.substr(1, close - 1);
}

TEST(RenderProgressLineTest, ShowsShareSizesRateAndTimeLeft) {
  struct Case {
    const char* name;
    std::uint64_t done, total;
    double rate;
    std::string percent, sizes, speed, eta;
    double filled;  // share of the bar drawn as '='
  };
  const auto sizes = [](std::uint64_t done, std::uint64_t total) {
    return FormatByteSize(done) + " / " + FormatByteSize(total);
  };
  const auto speed = [](std::uint64_t rate) { return FormatByteSize(rate) + "/s"; };
  const std::vector<Case> cases = {
      {"nothing_yet", 0, 512 * kMiB, 64.0 * kMiB, "  0%", sizes(0, 512 * kMiB), speed(64 * kMiB),
       "ETA 0:08", 0.0},
      {"half", 256 * kMiB, 512 * kMiB, 128.0 * kMiB, " 50%", sizes(256 * kMiB, 512 * kMiB),
       speed(128 * kMiB), "ETA 0:02", 0.5},
      {"complete", 512 * kMiB, 512 * kMiB, 100.0 * kMiB, "100%", sizes(512 * kMiB, 512 * kMiB),
       speed(100 * kMiB), "ETA 0:00", 1.0},
      {"done_beyond_total_is_clamped", 600 * kMiB, 512 * kMiB, 100.0 * kMiB, "100%",
       sizes(512 * kMiB, 512 * kMiB), speed(100 * kMiB), "ETA 0:00", 1.0},
      {"total_zero", 0, 0, 0.0, "100%", sizes(0, 0), "--/s", "ETA --", 1.0},
      {"unknown_rate", 100 * kMiB, 1000 * kMiB, 0.0, " 10%", sizes(100 * kMiB, 1000 * kMiB), "--/s",
       "ETA --", 0.1},
      {"negative_rate", 100 * kMiB, 1000 * kMiB, -1.0, " 10%", sizes(100 * kMiB, 1000 * kMiB),
       "--/s", "ETA --", 0.1},
      {"minutes", 10 * kMiB, 100 * kMiB, 1.0 * kMiB, " 10%", sizes(10 * kMiB, 100 * kMiB),
       speed(kMiB), "ETA 1:30", 0.1},
      {"hours", 0, 3725 * kMiB, 1.0 * kMiB, "  0%", sizes(0, 3725 * kMiB), speed(kMiB),
       "ETA 1:02:05", 0.0},
      {"ten_hours", 0, 36000 * kMiB, 1.0 * kMiB, "  0%", sizes(0, 36000 * kMiB), speed(kMiB),
       "ETA 10:00:00", 0.0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string line = RenderProgressLine(c.done, c.total, c.rate, 120);
    SCOPED_TRACE(line);
    EXPECT_NE(line.find("] " + c.percent + "  "), std::string::npos);
    EXPECT_NE(line.find("  " + c.sizes + "  "), std::string::npos);
    EXPECT_NE(line.find("  " + c.speed + "  "), std::string::npos);
    EXPECT_TRUE(line.ends_with("  " + c.eta));

    const std::string bar = BarOf(line);
    ASSERT_GE(bar.size(), 10u);
    const auto filled = static_cast<std::size_t>(std::count(bar.begin(), bar.end(), '='));
    EXPECT_EQ(filled, static_cast<std::size_t>(c.filled * static_cast<double>(bar.size())));
    EXPECT_EQ(bar.find_first_not_of('='), filled == bar.size() ? std::string::npos : filled);
    if (filled < bar.size()) {
      EXPECT_EQ(bar[filled], '>');
    }
  }
}

// Lines with short and long numbers: rates and times of every magnitude.
struct Frame {
  std::uint64_t done, total;
  double rate;
};
const std::vector<Frame> kFrames = {
    {0, 0, 0.0},
    {1, 3, 1.0},
    {230 * kMiB, 512 * kMiB, 120.3 * kMiB},
    {1000 * kMiB, 1000 * kMiB * 1024, 1000.0},  // 1000 GiB at 1000 B/s: ETA in thousands of hours
};

TEST(RenderProgressLineTest, TheLineIsNeverLongerThanTheWidthOrFortyColumns) {
  for (const Frame& frame : kFrames) {
    for (const unsigned width : {0u, 20u, 39u, 40u, 50u, 60u, 72u, 80u, 100u, 200u}) {
      const std::string line = RenderProgressLine(frame.done, frame.total, frame.rate, width);
      EXPECT_LE(line.size(), std::max(width, 40u)) << "width " << width << ": \"" << line << '"';
    }
  }
}

TEST(RenderProgressLineTest, ANarrowerWidthNeverGivesALongerLine) {
  for (const Frame& frame : kFrames) {
    std::size_t wider = RenderProgressLine(frame.done, frame.total, frame.rate, 200).size();
    for (unsigned width = 199; width > 0; --width) {
      const std::string line = RenderProgressLine(frame.done, frame.total, frame.rate, width);
      EXPECT_LE(line.size(), wider) << "width " << width << ": \"" << line << '"';
      wider = line.size();
    }
  }
}

// Bytes in `file` now, by its descriptor.
std::int64_t SizeOf(std::FILE* file) {
  std::fflush(file);
  struct stat st {};
  EXPECT_EQ(::fstat(::fileno(file), &st), 0);
  return st.st_size;
}

// What mei-get does with a bar on `stream`: Start with the download half done, Stop once it is
// complete, Start again and leave the Stop to the destructor. Whether the bar was enabled.
bool RunBar(std::FILE* stream) {
  std::atomic<std::uint64_t> done{5};
  ProgressBar bar(stream, std::chrono::milliseconds(1));
  bar.Start(&done, 10);
  done = 10;
  bar.Stop();
  bar.Start(&done, 10);
  return bar.enabled();
}

TEST(ProgressBarTest, OnAFileItIsNotEnabledAndWritesNothing) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  EXPECT_FALSE(RunBar(file));
  EXPECT_EQ(SizeOf(file), 0);
  std::fclose(file);
}

TEST(ProgressBarTest, OnAPipeItIsNotEnabledAndWritesNothing) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::FILE* writer = ::fdopen(fds[1], "w");
  ASSERT_NE(writer, nullptr);
  EXPECT_FALSE(RunBar(writer));
  std::fclose(writer);  // the reader sees end of file after whatever was written
  char buffer[256];
  EXPECT_EQ(::read(fds[0], buffer, sizeof buffer), 0);
  ::close(fds[0]);
}

// A pseudo-terminal: what is written to `terminal` is read from `controller`.
struct PseudoTerminal {
  int controller = -1;
  std::FILE* terminal = nullptr;
};

PseudoTerminal OpenPseudoTerminal() {
  PseudoTerminal pty;
  pty.controller = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (pty.controller < 0 || ::grantpt(pty.controller) != 0 || ::unlockpt(pty.controller) != 0) {
    ADD_FAILURE() << "cannot open a pseudo-terminal";
    return pty;
  }
  const int fd = ::open(::ptsname(pty.controller), O_RDWR | O_NOCTTY);
  if (fd < 0) {
    ADD_FAILURE() << "cannot open " << ::ptsname(pty.controller);
    return pty;
  }
  pty.terminal = ::fdopen(fd, "w");
  return pty;
}

// What `controller` gives until a '\n' arrives (or 10 s pass, a failure).
std::string ReadLine(int controller) {
  std::string text;
  while (text.find('\n') == std::string::npos) {
    pollfd readable{controller, POLLIN, 0};
    if (::poll(&readable, 1, 10'000) != 1) {
      ADD_FAILURE() << "no line ended; read \"" << text << '"';
      break;
    }
    char buffer[4096];
    const ssize_t got = ::read(controller, buffer, sizeof buffer);
    if (got <= 0) break;
    text.append(buffer, static_cast<std::size_t>(got));
  }
  return text;
}

// The counterpart of the tests above: on a terminal the same calls do draw.
TEST(ProgressBarTest, OnATerminalItDrawsFramesInPlaceAndEndsTheLine) {
  PseudoTerminal pty = OpenPseudoTerminal();
  ASSERT_NE(pty.terminal, nullptr);
  EXPECT_TRUE(RunBar(pty.terminal));
  // At least up to the first Stop; one read may bring what the bar drew after it too.
  const std::string text = ReadLine(pty.controller);
  const std::string line = text.substr(0, text.find('\n') + 1);  // empty when no line ended
  EXPECT_TRUE(line.starts_with("\r[")) << text;
  EXPECT_NE(line.find("100%"), std::string::npos) << text;
  EXPECT_NE(line.find("\x1b[K"), std::string::npos) << text;
  EXPECT_TRUE(line.ends_with("\n")) << text;
  std::fclose(pty.terminal);
  ::close(pty.controller);
}

}  // namespace
}  // namespace mei::tools
