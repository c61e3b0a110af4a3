// A file that appears under its name only once it is complete: it is written to a temporary
// sibling and renamed over the name on Commit(), so a reader sees the old file or the whole new
// one, never a part.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include "common/errc.h"

namespace mei {

// Not thread-safe; move-only. Destroying a file that was not committed removes the temporary.
class AtomicFile {
 public:
  // Creates the temporary next to `path` (whose folder must exist). kIo when it cannot.
  [[nodiscard]] static Result<AtomicFile> Create(const std::filesystem::path& path);

  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&& other) noexcept;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  // Buffers small appends (up to 1 MiB) and writes larger ones straight through. kIo on error.
  [[nodiscard]] Result<void> Append(std::span<const std::byte> bytes);
  [[nodiscard]] Result<void> Append(std::string_view text);

  // Writes what is buffered, closes the file and renames it to its name. kIo on error, after
  // which the temporary is gone. REQUIRES: not yet committed.
  [[nodiscard]] Result<void> Commit();

  // Bytes appended so far.
  [[nodiscard]] std::uint64_t size() const { return size_; }

 private:
  AtomicFile(int fd, std::filesystem::path path, std::filesystem::path temporary);

  [[nodiscard]] Result<void> WriteAll(std::span<const std::byte> bytes);
  [[nodiscard]] Result<void> Flush();
  void Discard();

  int fd_ = -1;
  std::filesystem::path path_;
  std::filesystem::path temporary_;
  std::vector<std::byte> buffer_;
  std::uint64_t size_ = 0;
};

// Writes `contents` to `path` atomically. kIo on error.
[[nodiscard]] Result<void> WriteFileAtomically(const std::filesystem::path& path,
                                               std::string_view contents);

}  // namespace mei
