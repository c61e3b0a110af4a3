#include "tools/get/local_block_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

#include "common/codec.h"

namespace mei::tools {
namespace {

namespace fs = std::filesystem;

Error IoError(const fs::path& path, std::string_view what, int error) {
  return Error{error == ENOSPC || error == EDQUOT ? Errc::kStoreFull : Errc::kIo,
               fmt::format("cannot {} {}: {}", what, path.string(), std::strerror(error))};
}

// Writes all of `bytes` to `fd`, retrying short writes and EINTR; errno on failure.
int WriteAll(int fd, std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return errno;
    bytes = bytes.subspan(static_cast<std::size_t>(written));
  }
  return 0;
}

// Temporaries are named "<id>.<pid>.<sequence>"; the pid, or 0 when the name is not one.
pid_t OwnerOfTemporary(const std::string& name) {
  const std::size_t first = name.find('.');
  const std::size_t second = first == std::string::npos ? first : name.find('.', first + 1);
  if (second == std::string::npos) return 0;
  pid_t pid = 0;
  const auto [end, error] = std::from_chars(name.data() + first + 1, name.data() + second, pid);
  return error == std::errc() && end == name.data() + second ? pid : 0;
}

}  // namespace

Result<LocalBlockStore> LocalBlockStore::Open(fs::path root) {
  std::error_code ec;
  fs::create_directories(root / "tmp", ec);
  if (ec) {
    return Error{Errc::kIo,
                 fmt::format("cannot create the block store {}: {}", root.string(), ec.message())};
  }
  // What an interrupted process left: a temporary whose owner is gone is never renamed.
  for (const fs::directory_entry& entry : fs::directory_iterator(root / "tmp", ec)) {
    const pid_t owner = OwnerOfTemporary(entry.path().filename().string());
    if (owner <= 0 || (::kill(owner, 0) != 0 && errno == ESRCH)) {
      std::error_code ignored;
      fs::remove(entry.path(), ignored);
    }
  }
  return LocalBlockStore(std::move(root));
}

fs::path LocalBlockStore::PathOf(const BlockId& id) const {
  const std::string hex = id.Hex();
  return root_ / hex.substr(0, 2) / hex;
}

bool LocalBlockStore::Contains(const BlockId& id) const {
  struct stat st {};
  return ::stat(PathOf(id).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<void> LocalBlockStore::Put(const BlockId& id, std::span<const std::byte> frame) const {
  static std::atomic<std::uint64_t> sequence{0};
  const fs::path target = PathOf(id);
  const fs::path temporary =
      root_ / "tmp" / fmt::format("{}.{}.{}", id.Hex(), ::getpid(), sequence.fetch_add(1));
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) return IoError(target.parent_path(), "create", ec.value());

  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return IoError(temporary, "create", errno);
  int error = WriteAll(fd, frame);
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && ::rename(temporary.c_str(), target.c_str()) != 0) error = errno;
  if (error != 0) {
    ::unlink(temporary.c_str());
    return IoError(target, "write", error);
  }
  return {};
}

Result<std::vector<std::byte>> LocalBlockStore::ReadFrame(const BlockId& id) const {
  const fs::path path = PathOf(id);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Error{Errc::kBlockNotFound, "block " + id.Hex() + " is not stored"};
    return IoError(path, "open", errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return IoError(path, "stat", error);
  }
  std::vector<std::byte> frame(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < frame.size()) {
    const ssize_t n = ::read(fd, frame.data() + got, frame.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  frame.resize(got);
  if (auto parsed = ParseFrame(frame); !parsed) {
    Remove(id);
    return Error{Errc::kBlockNotFound,
                 fmt::format("block {} was damaged on disk and is removed: {}", id.Hex(),
                             parsed.error().message)};
  }
  return frame;
}

void LocalBlockStore::Remove(const BlockId& id) const { ::unlink(PathOf(id).c_str()); }

std::vector<BlockId> LocalBlockStore::List() const {
  std::vector<BlockId> ids;
  std::error_code ec;
  for (const fs::directory_entry& folder : fs::directory_iterator(root_, ec)) {
    const std::string prefix = folder.path().filename().string();
    if (prefix.size() != 2 || !folder.is_directory(ec)) continue;
    std::error_code inner;
    for (const fs::directory_entry& entry : fs::directory_iterator(folder.path(), inner)) {
      const std::string name = entry.path().filename().string();
      auto id = BlockId::FromHex(name);
      if (id && name.starts_with(prefix)) ids.push_back(*id);
    }
  }
  return ids;
}

Result<fs::path> DefaultBlockStorePath() {
  if (const char* dir = std::getenv("MEI_CACHE_DIR"); dir != nullptr && *dir != '\0') {
    return fs::path(dir) / "blocks";
  }
  if (const char* dir = std::getenv("XDG_CACHE_HOME"); dir != nullptr && *dir != '\0') {
    return fs::path(dir) / "mei" / "blocks";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return fs::path(home) / ".cache" / "mei" / "blocks";
  }
  return Error{
      Errc::kBadRequest,
      "no place for the local block store: set HOME or MEI_CACHE_DIR, or give --blocks DIR"};
}

}  // namespace mei::tools
