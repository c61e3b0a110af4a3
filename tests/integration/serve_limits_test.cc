// `mei-origin serve` at its limits, over real sockets on 127.0.0.1: the memory it takes to send a
// 2 GiB file, slowloris connections cut by the header deadline while a real download goes on, and
// a graceful drain on SIGTERM that lets an in-flight download finish.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/served_origin.h"

namespace mei {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using testing::ChildProcess;
using testing::LoopbackEnvironment;
using testing::RequireTool;
using testing::RunProcess;
using testing::Sha256OfFile;

constexpr char kSafetensors[] = "/acme/base/resolve/main/model.safetensors";

// The bound on the server's peak RSS while it sends a 2 GiB file. In a sanitizer build the
// sanitizer's own memory is part of that RSS (ASan keeps up to 256 MiB of freed blocks in
// quarantine, and shadow memory for what is used), so there the bound only has to catch a server
// that holds the file in memory.
#ifdef MEI_SANITIZED
constexpr std::uint64_t kPeakRssBound = 1ull << 30;
#else
constexpr std::uint64_t kPeakRssBound = 256ull << 20;
#endif

// The peak resident set (VmHWM) of a live process, in bytes; 0 if it cannot be read.
std::uint64_t PeakRssBytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "... kB"
  }
  return 0;
}

double MiB(std::uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

double SecondsSince(steady_clock::time_point start) {
  return std::chrono::duration<double>(steady_clock::now() - start).count();
}

// A socket connected to 127.0.0.1:port (blocking, close-on-exec), or -1.
int ConnectLoopback(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

class ServeLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("serve_limits_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    curl_ = RequireTool("curl");
    ASSERT_TRUE(curl_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // mei-synth's base at `size`, ingested as acme/base.
  void MakeStore(const std::string& size) {
    ASSERT_TRUE(testing::Synthesize(dir_ / "models", size, "base", dir_ / "synth"));
    ASSERT_FALSE(
        testing::Ingest(dir_ / "store", "acme/base", dir_ / "models" / "base", dir_ / "ingest")
            .empty());
  }

  fs::path Source() const { return dir_ / "models" / "base" / "model.safetensors"; }

  std::vector<std::string> CurlArgs(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {curl_->string(), "-sS", "--fail", "--noproxy", "*",
                                     "--max-time",    "600"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  fs::path dir_;
  std::optional<fs::path> curl_;
};

TEST_F(ServeLimitsTest, SendingATwoGibFileKeepsPeakRssUnder256MiB) {
  MakeStore("2GiB");
  const std::uint64_t length = fs::file_size(Source());
  ASSERT_GE(length, 1900ull << 20);
  auto origin = testing::StartOrigin(dir_ / "store", dir_ / "serve");
  ASSERT_FALSE(origin.endpoint.empty());
  const std::uint64_t rss_at_start = PeakRssBytes(origin.process.pid());

  const auto started = steady_clock::now();
  auto curl =
      RunProcess(CurlArgs({"-o", "/dev/null", "-w", "%{size_download}", origin.Url(kSafetensors)}),
                 dir_ / "curl", LoopbackEnvironment());
  const double elapsed = SecondsSince(started);
  ASSERT_EQ(curl.exit_code, 0) << curl.err;
  EXPECT_EQ(curl.out, std::to_string(length));

  const std::uint64_t peak = PeakRssBytes(origin.process.pid());
  ASSERT_GT(peak, 0u) << "cannot read VmHWM of the server";
  EXPECT_LT(peak, kPeakRssBound);
  std::printf(
      "served %.2f GiB in %.1f s (%.0f MiB/s): server peak RSS %.1f MiB (%.1f MiB at start)\n",
      MiB(length) / 1024, elapsed, MiB(length) / elapsed, MiB(peak), MiB(rss_at_start));

  origin.process.Signal(SIGTERM);
  EXPECT_EQ(origin.process.WaitFor(seconds(60)), 0) << origin.process.Stderr();
}

// 500 connections that send half a request header and stall must not keep a real client out,
// and the header deadline (2 s here) must close every one of them.
TEST_F(ServeLimitsTest, SlowlorisConnectionsAreClosedByTheHeaderDeadlineWhileADownloadSucceeds) {
  constexpr int kStalled = 500;
  constexpr milliseconds kHeaderTimeout{2000};
  rlimit files{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &files), 0);
  if (files.rlim_cur < 4 * kStalled) {  // this process and the server (which inherits it)
    files.rlim_cur = std::min<rlim_t>(files.rlim_max, 4 * kStalled);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &files), 0) << std::strerror(errno);
  }
  ASSERT_GE(files.rlim_cur, static_cast<rlim_t>(2 * kStalled + 64)) << "too few file descriptors";

  MakeStore("8MiB");
  auto origin =
      testing::StartOrigin(dir_ / "store", dir_ / "serve",
                           {"--header-timeout-ms", std::to_string(kHeaderTimeout.count())});
  ASSERT_FALSE(origin.endpoint.empty());

  struct Stalled {
    int fd = -1;
    steady_clock::time_point sent;
    std::optional<double> closed_after_seconds;
  };
  std::vector<Stalled> stalled(kStalled);
  constexpr std::string_view kHalfHeader = "GET / HTTP/1.1\r\nHost: x\r\n";
  for (Stalled& s : stalled) {
    s.fd = ConnectLoopback(origin.port);
    ASSERT_GE(s.fd, 0) << "connect: " << std::strerror(errno);
    ASSERT_EQ(send(s.fd, kHalfHeader.data(), kHalfHeader.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(kHalfHeader.size()));
    s.sent = steady_clock::now();
  }
  const auto all_sent = steady_clock::now();

  const auto download_started = steady_clock::now();
  auto curl =
      RunProcess(CurlArgs({"-o", (dir_ / "model.safetensors").string(), origin.Url(kSafetensors)}),
                 dir_ / "curl", LoopbackEnvironment());
  const double download_seconds = SecondsSince(download_started);
  EXPECT_EQ(curl.exit_code, 0) << curl.err;
  EXPECT_EQ(Sha256OfFile(dir_ / "model.safetensors"), Sha256OfFile(Source()));

  // Every stalled socket must see end of file (after any 408 the server may send) within 10 s of
  // the last half header.
  const auto deadline = all_sent + seconds(10);
  std::size_t open = stalled.size();
  std::vector<pollfd> fds;
  std::vector<Stalled*> polled;
  while (open > 0 && steady_clock::now() < deadline) {
    fds.clear();
    polled.clear();
    for (Stalled& s : stalled) {
      if (s.closed_after_seconds) continue;
      fds.push_back({s.fd, POLLIN, 0});
      polled.push_back(&s);
    }
    const auto left = std::chrono::ceil<milliseconds>(deadline - steady_clock::now());
    const int ready =
        poll(fds.data(), fds.size(), static_cast<int>(std::max<long>(left.count(), 0)));
    if (ready < 0 && errno == EINTR) continue;
    ASSERT_GE(ready, 0) << std::strerror(errno);
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = recv(fds[i].fd, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) continue;
      polled[i]->closed_after_seconds = SecondsSince(polled[i]->sent);  // EOF or reset
      --open;
    }
  }
  double first_close = 1e9;
  double last_close = 0;
  for (Stalled& s : stalled) {
    if (s.closed_after_seconds) {
      first_close = std::min(first_close, *s.closed_after_seconds);
      last_close = std::max(last_close, *s.closed_after_seconds);
    }
    close(s.fd);
  }
  EXPECT_EQ(open, 0u) << open << " of " << kStalled << " stalled connections still open 10 s on";
  // Not before the deadline it was given (with slack for when the server started its timer).
  EXPECT_GE(first_close, 1.5);
  std::printf(
      "%d stalled connections: download of %.1f MiB alongside in %.2f s; closed %.2f to "
      "%.2f s after their half header (header timeout %.1f s)\n",
      kStalled, MiB(fs::file_size(Source())), download_seconds, first_close, last_close,
      kHeaderTimeout.count() / 1000.0);

  auto health =
      RunProcess(CurlArgs({origin.Url("/healthz")}), dir_ / "health", LoopbackEnvironment());
  EXPECT_EQ(health.exit_code, 0) << "the server no longer answers: " << health.err;
  origin.process.Signal(SIGTERM);
  EXPECT_EQ(origin.process.WaitFor(seconds(60)), 0) << origin.process.Stderr();
}

// SIGTERM while a throttled client is mid-download: the server stops, but only after the
// response in flight has been sent whole, and exits 0.
TEST_F(ServeLimitsTest, SigtermDuringADownloadLetsItFinishAndExitsZero) {
  MakeStore("24MiB");
  auto origin = testing::StartOrigin(dir_ / "store", dir_ / "serve");
  ASSERT_FALSE(origin.endpoint.empty());
  const fs::path out = dir_ / "model.safetensors";
  // ~24 MiB at 3 MiB/s: about 8 s, well inside the server's 30 s drain timeout. -D - prints the
  // response head on stdout as soon as it arrives, so the test knows the response has started.
  auto curl = ChildProcess::Start(
      CurlArgs({"--limit-rate", "3M", "-D", "-", "-o", out.string(), origin.Url(kSafetensors)}),
      dir_ / "curl", LoopbackEnvironment());
  ASSERT_TRUE(curl.started());
  const auto status_line = curl.ReadLine(seconds(30));
  ASSERT_TRUE(status_line) << "no response head: " << curl.Stderr();
  ASSERT_EQ(status_line->rfind("HTTP/1.1 200", 0), 0u) << *status_line;

  const auto signalled = steady_clock::now();
  origin.process.Signal(SIGTERM);
  const auto curl_exit = curl.WaitFor(seconds(120));
  const double curl_seconds = SecondsSince(signalled);
  const auto server_exit = origin.process.WaitFor(seconds(60));
  const double server_seconds = SecondsSince(signalled);
  ASSERT_EQ(curl_exit, 0) << "the download did not complete: " << curl.Stderr();
  EXPECT_EQ(Sha256OfFile(out), Sha256OfFile(Source()));
  EXPECT_EQ(server_exit, 0) << origin.process.Stderr();
  std::printf("after SIGTERM: the download completed in %.1f s, the server exited by %.1f s\n",
              curl_seconds, server_seconds);
}

}  // namespace
}  // namespace mei
