#include "common/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

namespace mei {
namespace {

constexpr std::size_t kBufferBytes = 1 << 20;

Error IoError(std::string_view action, const std::filesystem::path& path, int error) {
  return Error{Errc::kIo,
               fmt::format("cannot {} {}: {}", action, path.string(), std::strerror(error))};
}

}  // namespace

Result<AtomicFile> AtomicFile::Create(const std::filesystem::path& path) {
  std::string pattern =
      (path.parent_path() / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0) return IoError("create a file next to", path, errno);
  if (::fchmod(fd, 0644) != 0) {
    const int error = errno;
    ::close(fd);
    ::unlink(pattern.c_str());
    return IoError("set permissions of", pattern, error);
  }
  return AtomicFile(fd, path, pattern);
}

AtomicFile::AtomicFile(int fd, std::filesystem::path path, std::filesystem::path temporary)
    : fd_(fd), path_(std::move(path)), temporary_(std::move(temporary)) {
  buffer_.reserve(kBufferBytes);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      temporary_(std::move(other.temporary_)),
      buffer_(std::move(other.buffer_)),
      size_(other.size_) {}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept {
  if (this != &other) {
    Discard();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    temporary_ = std::move(other.temporary_);
    buffer_ = std::move(other.buffer_);
    size_ = other.size_;
  }
  return *this;
}

AtomicFile::~AtomicFile() { Discard(); }

void AtomicFile::Discard() {
  if (fd_ < 0) return;
  ::close(fd_);
  ::unlink(temporary_.c_str());
  fd_ = -1;
}

Result<void> AtomicFile::Append(std::span<const std::byte> bytes) {
  size_ += bytes.size();
  if (buffer_.size() + bytes.size() <= kBufferBytes) {
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
    return {};
  }
  if (Result<void> flushed = Flush(); !flushed) return flushed;
  if (bytes.size() < kBufferBytes) {
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
    return {};
  }
  return WriteAll(bytes);
}

Result<void> AtomicFile::Append(std::string_view text) {
  return Append(std::as_bytes(std::span(text.data(), text.size())));
}

Result<void> AtomicFile::Flush() {
  Result<void> written = WriteAll(buffer_);
  buffer_.clear();
  return written;
}

Result<void> AtomicFile::WriteAll(std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd_, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      Discard();
      return IoError("write", path_, error);
    }
    bytes = bytes.subspan(static_cast<std::size_t>(written));
  }
  return {};
}

Result<void> AtomicFile::Commit() {
  if (fd_ < 0) return Error{Errc::kIo, fmt::format("{} was already discarded", path_.string())};
  if (Result<void> flushed = Flush(); !flushed) return flushed;
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) {
    const int error = errno;
    ::unlink(temporary_.c_str());
    return IoError("write", path_, error);
  }
  if (::rename(temporary_.c_str(), path_.c_str()) != 0) {
    const int error = errno;
    ::unlink(temporary_.c_str());
    return IoError("replace", path_, error);
  }
  return {};
}

Result<void> WriteFileAtomically(const std::filesystem::path& path, std::string_view contents) {
  Result<AtomicFile> file = AtomicFile::Create(path);
  if (!file) return file.error();
  if (Result<void> appended = file->Append(contents); !appended) return appended;
  return file->Commit();
}

}  // namespace mei
