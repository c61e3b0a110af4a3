#include "tests/integration/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

extern char** environ;

namespace mei::testing {
namespace {

std::string Slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The parent's environment with `changes` applied, as posix_spawn wants it. The strings live in
// `storage`.
std::vector<char*> BuildEnvironment(const EnvironmentChanges& changes,
                                    std::vector<std::string>& storage) {
  for (char** entry = environ; *entry != nullptr; ++entry) storage.emplace_back(*entry);
  for (const std::string& change : changes) {
    const std::string name = change.substr(0, change.find('='));
    std::erase_if(storage, [&](const std::string& entry) {
      return entry.compare(0, name.size() + 1, name + "=") == 0;
    });
    if (change.find('=') != std::string::npos) storage.push_back(change);
  }
  std::vector<char*> pointers;
  for (std::string& entry : storage) pointers.push_back(entry.data());
  pointers.push_back(nullptr);
  return pointers;
}

std::vector<char*> BuildArguments(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  return args;
}

std::chrono::milliseconds Remaining(std::chrono::steady_clock::time_point deadline) {
  return std::max(std::chrono::milliseconds(0), std::chrono::ceil<std::chrono::milliseconds>(
                                                    deadline - std::chrono::steady_clock::now()));
}

int ShellStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::filesystem::path& scratch,
                         const EnvironmentChanges& environment) {
  std::filesystem::create_directories(scratch);
  const auto out_path = scratch / "stdout.txt";
  const auto err_path = scratch / "stderr.txt";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  // The child gets stdin, stdout and stderr only: Asio opens sockets without close-on-exec, and a
  // child holding a test's listening socket would keep its port alive after the test closed it.
  // It comes after the dup2 and opens above, which need their source descriptors.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  std::vector<char*> args = BuildArguments(argv);
  std::vector<std::string> env_storage;
  std::vector<char*> env = BuildEnvironment(environment, env_storage);

  ProcessResult result;
  const auto started = std::chrono::steady_clock::now();
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    ADD_FAILURE() << "cannot start " << argv[0] << ": " << std::strerror(spawned);
    return result;
  }
  int status = 0;
  struct rusage usage {};
  while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  result.max_rss_bytes = static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;
  result.out = Slurp(out_path);
  result.err = Slurp(err_path);
  return result;
}

ChildProcess ChildProcess::Start(const std::vector<std::string>& argv,
                                 const std::filesystem::path& scratch,
                                 const EnvironmentChanges& environment) {
  ChildProcess child;
  std::filesystem::create_directories(scratch);
  child.stderr_path_ = scratch / "stderr.txt";
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return child;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);  // dup2 clears O_CLOEXEC
  posix_spawn_file_actions_addopen(&actions, 2, child.stderr_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  // The child gets stdin, stdout and stderr only: Asio opens sockets without close-on-exec, and a
  // child holding a test's listening socket would keep its port alive after the test closed it.
  // It comes after the dup2 and opens above, which need their source descriptors.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  std::vector<char*> args = BuildArguments(argv);
  std::vector<std::string> env_storage;
  std::vector<char*> env = BuildEnvironment(environment, env_storage);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (spawned != 0) {
    close(pipe_fds[0]);
    ADD_FAILURE() << "cannot start " << argv[0] << ": " << std::strerror(spawned);
    return child;
  }
  child.pid_ = pid;
  child.stdout_fd_ = pipe_fds[0];
  child.pid_fd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (child.pid_fd_ < 0) ADD_FAILURE() << "pidfd_open: " << std::strerror(errno);
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept { *this = std::move(other); }

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    Close();
    pid_ = std::exchange(other.pid_, -1);
    stdout_fd_ = std::exchange(other.stdout_fd_, -1);
    pid_fd_ = std::exchange(other.pid_fd_, -1);
    exit_ = std::exchange(other.exit_, std::nullopt);
    buffer_ = std::move(other.buffer_);
    eof_ = other.eof_;
    stderr_path_ = std::move(other.stderr_path_);
  }
  return *this;
}

ChildProcess::~ChildProcess() { Close(); }

void ChildProcess::Close() {
  if (pid_ > 0 && !exit_) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
  if (pid_fd_ >= 0) close(pid_fd_);
  pid_ = -1;
  stdout_fd_ = -1;
  pid_fd_ = -1;
  exit_.reset();
}

std::optional<std::string> ChildProcess::ReadLine(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (const auto newline = buffer_.find('\n'); newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return line;
    }
    if (eof_ || stdout_fd_ < 0) {
      if (buffer_.empty()) return std::nullopt;
      return std::exchange(buffer_, std::string());
    }
    pollfd readable{stdout_fd_, POLLIN, 0};
    const int ready = poll(&readable, 1, static_cast<int>(Remaining(deadline).count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    char chunk[4096];
    const ssize_t n = read(stdout_fd_, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof_ = true;
    } else {
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
}

void ChildProcess::Signal(int signal) {
  if (pid_ > 0 && !exit_) kill(pid_, signal);
}

std::optional<int> ChildProcess::WaitFor(std::chrono::milliseconds timeout) {
  if (exit_ || pid_ <= 0) return exit_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t reaped = waitpid(pid_, &status, WNOHANG);
    if (reaped == pid_) {
      exit_ = ShellStatus(status);
      return exit_;
    }
    if (reaped < 0 && errno != EINTR) {
      ADD_FAILURE() << "waitpid " << pid_ << ": " << std::strerror(errno);
      return std::nullopt;
    }
    const auto left = Remaining(deadline);
    if (left.count() == 0 || pid_fd_ < 0) return std::nullopt;
    pollfd exited{pid_fd_, POLLIN, 0};
    if (poll(&exited, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
      ADD_FAILURE() << "poll on pidfd: " << std::strerror(errno);
      return std::nullopt;
    }
  }
}

std::string ChildProcess::Stderr() const { return Slurp(stderr_path_); }

std::filesystem::path BinaryPath(const std::string& relative) {
  return std::filesystem::path(MEI_BINARY_DIR) / relative;
}

std::optional<std::filesystem::path> FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream directories(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  for (std::string directory; std::getline(directories, directory, ':');) {
    if (directory.empty()) continue;
    const std::filesystem::path candidate = std::filesystem::path(directory) / name;
    if (access(candidate.c_str(), X_OK) == 0 && !std::filesystem::is_directory(candidate)) {
      return candidate;
    }
  }
  return std::nullopt;
}

std::filesystem::path SourcePath(const std::string& relative) {
  return std::filesystem::path(MEI_SOURCE_DIR) / relative;
}

}  // namespace mei::testing
