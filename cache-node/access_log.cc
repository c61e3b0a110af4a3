#include "cache-node/access_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

namespace mei::cache_node {
namespace {

namespace fs = std::filesystem;
using std::chrono::system_clock;

constexpr std::string_view kFileName = "access.log";
constexpr std::size_t kReadChunk = 256 << 10;
// An export holds a descriptor for every file at once.
constexpr std::uint32_t kMaxFiles = 1000;

Error Bad(std::string message) { return Error{Errc::kBadRequest, std::move(message)}; }

Error Io(std::string_view what, const fs::path& path, int error) {
  return Error{Errc::kIo, fmt::format("{} {}: {}", what, path.string(), std::strerror(error))};
}

// Closes a file descriptor on scope exit.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd = -1) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  [[nodiscard]] int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Opens `path` for appending and makes sure it ends with a newline: a line torn by a crash is
// terminated, so that it stays one malformed line that readers skip instead of swallowing the
// next record. Returns the descriptor and the file's size.
Result<std::pair<FileDescriptor, std::uint64_t>> OpenForAppend(const fs::path& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
  if (fd.get() < 0) return Io("cannot open access log", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Io("cannot stat access log", path, errno);
  auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > 0) {
    char last = '\n';
    if (::pread(fd.get(), &last, 1, st.st_size - 1) != 1) {
      return Io("cannot read access log", path, errno);
    }
    if (last != '\n') {
      if (::write(fd.get(), "\n", 1) != 1) return Io("cannot write access log", path, errno);
      ++size;
    }
  }
  return std::pair<FileDescriptor, std::uint64_t>(std::move(fd), size);
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

fs::path RotatedPath(const fs::path& dir, std::uint32_t index) {
  return dir / fmt::format("{}.{}", kFileName, index);
}

// Feeds the complete lines of `fd` to `line_sink`, reading at most `limit` bytes; a last line
// without its newline is dropped. Stops early when `line_sink` returns false.
Result<bool> ForEachLine(int fd, const fs::path& name, std::optional<std::uint64_t> limit,
                         std::vector<char>& buffer,
                         const std::function<bool(std::string_view)>& line_sink) {
  std::string pending;
  std::uint64_t remaining = limit.value_or(std::numeric_limits<std::uint64_t>::max());
  while (remaining > 0) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), remaining));
    const ssize_t got = ::read(fd, buffer.data(), want);
    if (got < 0) {
      if (errno == EINTR) continue;
      return Io("cannot read access log", name, errno);
    }
    if (got == 0) break;
    remaining -= static_cast<std::uint64_t>(got);
    const std::string_view chunk(buffer.data(), static_cast<std::size_t>(got));
    std::size_t start = 0;
    for (std::size_t newline = chunk.find('\n'); newline != std::string_view::npos;
         newline = chunk.find('\n', start)) {
      std::string_view line = chunk.substr(start, newline - start);
      if (!pending.empty()) {
        pending.append(line);
        line = pending;
      }
      if (!line_sink(line)) return false;
      pending.clear();
      start = newline + 1;
    }
    pending.append(chunk.substr(start));
  }
  return true;
}

}  // namespace

AccessLog::AccessLog(fs::path dir, AccessLogOptions options, int fd, std::uint64_t size)
    : dir_(std::move(dir)), options_(options), fd_(fd), size_(size) {}

AccessLog::~AccessLog() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<AccessLog>> AccessLog::Open(fs::path dir, AccessLogOptions options) {
  if (options.max_file_bytes == 0) return Bad("access log max_file_bytes must be positive");
  if (options.max_files == 0 || options.max_files > kMaxFiles) {
    return Bad(fmt::format("access log max_files must be 1 to {}", kMaxFiles));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Io("cannot create access log directory", dir, ec.value());

  // Rotated files beyond what max_files keeps, left by a run with a larger setting.
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::string_view prefix = "access.log.";
    if (!name.starts_with(prefix) || !AllDigits(std::string_view(name).substr(prefix.size()))) {
      continue;
    }
    const std::string_view digits = std::string_view(name).substr(prefix.size());
    std::uint64_t index = 0;
    const auto [end_of_number, parse_error] =
        std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (parse_error != std::errc() || index >= options.max_files) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
    }
  }
  if (ec) return Io("cannot list access log directory", dir, ec.value());

  auto opened = OpenForAppend(dir / kFileName);
  if (!opened) return opened.error();
  const std::uint64_t size = opened->second;
  return std::unique_ptr<AccessLog>(
      new AccessLog(std::move(dir), options, opened->first.release(), size));
}

bool AccessLog::ReopenLocked() {
  auto opened = OpenForAppend(dir_ / kFileName);
  if (!opened) {
    fd_ = -1;
    return false;
  }
  fd_ = opened->first.release();
  size_ = opened->second;
  return true;
}

void AccessLog::RotateLocked() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  const fs::path current = dir_ / kFileName;
  bool failed = false;
  if (options_.max_files == 1) {
    failed = ::unlink(current.c_str()) != 0 && errno != ENOENT;
  } else {
    failed = ::unlink(RotatedPath(dir_, options_.max_files - 1).c_str()) != 0 && errno != ENOENT;
    for (std::uint32_t i = options_.max_files - 1; i >= 2; --i) {
      if (::rename(RotatedPath(dir_, i - 1).c_str(), RotatedPath(dir_, i).c_str()) != 0 &&
          errno != ENOENT) {
        failed = true;
      }
    }
    failed = (::rename(current.c_str(), RotatedPath(dir_, 1).c_str()) != 0) || failed;
  }
  if (failed) write_errors_.fetch_add(1, std::memory_order_relaxed);
  ReopenLocked();
}

void AccessLog::Write(const AccessRecord& record) {
  std::string line = FormatAccessRecord(record);
  line.push_back('\n');

  std::lock_guard lock(mutex_);
  if (fd_ < 0 && !ReopenLocked()) {
    write_errors_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (size_ > 0 && size_ + line.size() > options_.max_file_bytes) {
    RotateLocked();
    if (fd_ < 0) {
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  ssize_t written;
  do {
    written = ::write(fd_, line.data(), line.size());
  } while (written < 0 && errno == EINTR);
  if (written == static_cast<ssize_t>(line.size())) {
    size_ += line.size();
    return;
  }
  write_errors_.fetch_add(1, std::memory_order_relaxed);
  // A short write (disk full) left part of a line: cut it off so the next line starts clean. If
  // that fails too, close the file; the reopen in a later Write terminates the torn line.
  if (written > 0 && ::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

Result<void> AccessLog::ExportSince(system_clock::time_point since,
                                    const std::function<bool(std::string_view line)>& sink) const {
  // Open every file under the lock: renames after that do not move what the descriptors read,
  // and the current file is read only up to the size it had, so no line is half-written.
  struct Source {
    FileDescriptor fd;
    fs::path path;
    std::optional<std::uint64_t> limit;
  };
  std::vector<Source> sources;
  {
    std::lock_guard lock(mutex_);
    for (std::uint32_t i = options_.max_files - 1; i >= 1; --i) {
      fs::path path = RotatedPath(dir_, i);
      FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (fd.get() < 0) {
        if (errno == ENOENT) continue;
        return Io("cannot open access log", path, errno);
      }
      sources.push_back({std::move(fd), std::move(path), std::nullopt});
    }
    fs::path path = dir_ / kFileName;
    FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0 && errno != ENOENT) return Io("cannot open access log", path, errno);
    if (fd.get() >= 0) {
      sources.push_back({std::move(fd), std::move(path),
                         fd_ >= 0 ? std::optional<std::uint64_t>(size_) : std::nullopt});
    }
  }

  std::vector<char> buffer(kReadChunk);
  const auto filter = [&](std::string_view line) {
    // Old lines are passed over on their leading time alone; a line to export must parse whole.
    if (const auto time = AccessRecordTime(line); time && *time < since) return true;
    const auto record = ParseAccessRecord(line);
    if (!record || record->time < since) return true;
    return sink(line);
  };
  for (const Source& source : sources) {
    auto more = ForEachLine(source.fd.get(), source.path, source.limit, buffer, filter);
    if (!more) return more.error();
    if (!*more) break;
  }
  return {};
}

}  // namespace mei::cache_node
