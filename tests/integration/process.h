// Runs the project's binaries and stock tools as real child processes for integration tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace mei::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
  std::uint64_t max_rss_bytes = 0;  // peak resident set of the child
  double seconds = 0;
};

// Changes to the environment a child inherits: "NAME=VALUE" sets NAME, a bare "NAME" removes it.
using EnvironmentChanges = std::vector<std::string>;

// Runs `argv` (argv[0] a path) to completion with stdin from /dev/null, capturing stdout and
// stderr through files under `scratch`. ADD_FAILURE and a result with exit_code -1 if it cannot
// start.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::filesystem::path& scratch,
                         const EnvironmentChanges& environment = {});

// A long-running child (a server, a throttled download): stdin from /dev/null, stdout on a pipe
// that ReadLine() reads, stderr to `scratch`/stderr.txt. Move-only; not thread-safe. The
// destructor kills (SIGKILL) and reaps a child that is still running.
class ChildProcess {
 public:
  // Starts `argv` (argv[0] a path). On failure, ADD_FAILURE and a ChildProcess that is not
  // started(): every other call then returns at once (nullopt).
  static ChildProcess Start(const std::vector<std::string>& argv,
                            const std::filesystem::path& scratch,
                            const EnvironmentChanges& environment = {});

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // The next line of stdout without its '\n', waiting at most `timeout` in poll(2). nullopt on
  // timeout, or at end of file with nothing left (a last line without '\n' is returned).
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);

  // Sends `signal` to the child if it has not been reaped yet.
  void Signal(int signal);

  // Waits at most `timeout` for the child to exit (poll(2) on a pidfd) and reaps it: its exit
  // code, or 128 + the signal that killed it (as a shell reports it); nullopt on timeout. Once
  // reaped, returns the same value again at once.
  std::optional<int> WaitFor(std::chrono::milliseconds timeout);

  // What the child wrote to stderr so far.
  std::string Stderr() const;

 private:
  ChildProcess() = default;
  void Close();

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int pid_fd_ = -1;
  std::optional<int> exit_;
  std::string buffer_;  // stdout read but not yet returned by ReadLine
  bool eof_ = false;
  std::filesystem::path stderr_path_;
};

// Path of a binary built by this project, e.g. BinaryPath("origin/mei-origin").
std::filesystem::path BinaryPath(const std::string& relative);

// The first executable called `name` in the directories of $PATH, or nullopt.
std::optional<std::filesystem::path> FindOnPath(const std::string& name);

// The source tree, e.g. SourcePath("tests/integration/hub-client").
std::filesystem::path SourcePath(const std::string& relative);

}  // namespace mei::testing
