#include "common/byte_source.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace mei {
namespace {

Error OutOfRange(const std::string& name, std::uint64_t offset, std::size_t length,
                 std::uint64_t size) {
  return Error{Errc::kIo, fmt::format("read of {} bytes at offset {} is past the end of {} ({} "
                                      "bytes)",
                                      length, offset, name, size)};
}

}  // namespace

Result<void> MemoryByteSource::ReadAt(std::uint64_t offset, std::span<std::byte> out) const {
  if (offset > bytes_.size() || out.size() > bytes_.size() - offset) {
    return OutOfRange(name_, offset, out.size(), bytes_.size());
  }
  if (!out.empty()) std::memcpy(out.data(), bytes_.data() + offset, out.size());
  return {};
}

Result<void> SliceByteSource::ReadAt(std::uint64_t offset, std::span<std::byte> out) const {
  if (offset > size_ || out.size() > size_ - offset) {
    return OutOfRange(name_, offset, out.size(), size_);
  }
  return base_.ReadAt(offset_ + offset, out);
}

Result<FileByteSource> FileByteSource::Open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Error{Errc::kIo, fmt::format("cannot open {}: {}", path.string(), std::strerror(errno))};
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int saved = errno;
    ::close(fd);
    return Error{Errc::kIo,
                 fmt::format("cannot read {}: {}", path.string(),
                             S_ISREG(st.st_mode) ? std::strerror(saved) : "not a regular file")};
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return FileByteSource(fd, static_cast<std::uint64_t>(st.st_size), path.string());
}

FileByteSource::FileByteSource(FileByteSource&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), size_(other.size_), name_(std::move(other.name_)) {}

FileByteSource& FileByteSource::operator=(FileByteSource&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
    name_ = std::move(other.name_);
  }
  return *this;
}

FileByteSource::~FileByteSource() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> FileByteSource::ReadAt(std::uint64_t offset, std::span<std::byte> out) const {
  if (offset > size_ || out.size() > size_ - offset) {
    return OutOfRange(name_, offset, out.size(), size_);
  }
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{Errc::kIo, fmt::format("cannot read {}: {}", name_, std::strerror(errno))};
    }
    if (n == 0) {
      return Error{Errc::kIo, fmt::format("{} shrank while being read (ends before byte {})", name_,
                                          offset + done)};
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace mei
