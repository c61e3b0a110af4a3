#include "tools/get/partial_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

namespace mei::tools {
namespace {

namespace fs = std::filesystem;

Error IoError(std::string_view what, const fs::path& path, int error) {
  return Error{error == ENOSPC || error == EDQUOT ? Errc::kStoreFull : Errc::kIo,
               fmt::format("cannot {} {}: {}", what, path.string(), std::strerror(error))};
}

}  // namespace

fs::path PartialFile::PathFor(const fs::path& final_path) {
  return final_path.parent_path() / ("." + final_path.filename().string() + ".mei-part");
}

Result<PartialFile> PartialFile::Open(const fs::path& final_path, std::uint64_t size) {
  std::error_code ec;
  fs::create_directories(final_path.parent_path(), ec);
  if (ec) {
    return Error{Errc::kIo, fmt::format("cannot create {}: {}", final_path.parent_path().string(),
                                        ec.message())};
  }
  const fs::path path = PathFor(final_path);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("create", path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) {
      return Error{Errc::kIo, fmt::format("another mei-get is writing {}", final_path.string())};
    }
    return IoError("lock", path, error);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return IoError("stat", path, error);
  }
  const bool resumed = st.st_size > 0;
  int error = 0;
  if (static_cast<std::uint64_t>(st.st_size) != size &&
      ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    error = errno;
  }
  // Reserves the space (unwritten extents read as holes, so a resumed partial's missing blocks
  // still show as holes); a file system without fallocate gets a sparse file.
  if (error == 0 && size > 0 && ::fallocate(fd, 0, 0, static_cast<off_t>(size)) != 0 &&
      errno != EOPNOTSUPP && errno != ENOSYS) {
    error = errno;
  }
  if (error != 0) {
    ::close(fd);
    if (!resumed) ::unlink(path.c_str());
    return IoError(error == ENOSPC ? "make room for" : "size", path, error);
  }
  return PartialFile(fd, path, final_path, size, resumed);
}

PartialFile::PartialFile(int fd, fs::path path, fs::path final_path, std::uint64_t size,
                         bool resumed)
    : fd_(fd),
      path_(std::move(path)),
      final_path_(std::move(final_path)),
      size_(size),
      resumed_(resumed) {}

PartialFile::PartialFile(PartialFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      final_path_(std::move(other.final_path_)),
      size_(other.size_),
      resumed_(other.resumed_) {}

PartialFile& PartialFile::operator=(PartialFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    final_path_ = std::move(other.final_path_);
    size_ = other.size_;
    resumed_ = other.resumed_;
  }
  return *this;
}

PartialFile::~PartialFile() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> PartialFile::Write(std::span<const std::byte> bytes, std::uint64_t offset) const {
  while (!bytes.empty()) {
    const ssize_t written = ::pwrite(fd_, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return IoError("write", path_, errno);
    bytes = bytes.subspan(static_cast<std::size_t>(written));
    offset += static_cast<std::uint64_t>(written);
  }
  return {};
}

void PartialFile::StartWriteback(std::uint64_t offset, std::uint64_t length) const {
  ::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(length),
                    SYNC_FILE_RANGE_WRITE);
}

Result<void> PartialFile::Commit() {
  if (::fsync(fd_) != 0) return IoError("write", path_, errno);
  if (::rename(path_.c_str(), final_path_.c_str()) != 0) return IoError("rename", path_, errno);
  ::close(std::exchange(fd_, -1));
  // The rename is durable once the folder is.
  const fs::path folder = final_path_.parent_path().empty() ? "." : final_path_.parent_path();
  if (const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

}  // namespace mei::tools
