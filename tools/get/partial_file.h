// PartialFile: one file of a model while mei-get writes it, as `.<name>.mei-part` beside its final
// name. It has its full size from the start (the space reserved with fallocate(2) where the file
// system can, so a full disk shows at once), and every block is written at its offset as it
// arrives, by whichever thread has it. Commit makes the file durable with one fsync and renames it
// to its name: a file under its final name is always whole.
//
// A partial that an interrupted run left behind is opened again by the next run, which keeps the
// blocks in it that verify (block_sources.h). While a process writes a partial it holds an
// exclusive flock(2) on it, so a second mei-get writing the same folder fails instead of mixing
// its writes in.
//
// Write and StartWriteback are thread-safe; the rest is for one thread. Move-only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>

#include "common/errc.h"

namespace mei::tools {

class PartialFile {
 public:
  // Creates `.<name>.mei-part` for `final_path` (creating its folder), or opens the one there,
  // at `size` bytes. kIo when it cannot (another process writing it included), kStoreFull when
  // the disk has no room for `size` bytes.
  [[nodiscard]] static Result<PartialFile> Open(const std::filesystem::path& final_path,
                                                std::uint64_t size);

  // Where the partial of `final_path` is written.
  [[nodiscard]] static std::filesystem::path PathFor(const std::filesystem::path& final_path);

  PartialFile(PartialFile&& other) noexcept;
  PartialFile& operator=(PartialFile&& other) noexcept;
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;
  ~PartialFile();  // closes the file and keeps it (unless committed), so a later run resumes it

  // Writes `bytes` at `offset`. kIo / kStoreFull on error.
  [[nodiscard]] Result<void> Write(std::span<const std::byte> bytes, std::uint64_t offset) const;

  // Starts writing [offset, offset + length) back to the disk without waiting for it, so that
  // Commit's fsync finds little left to do.
  void StartWriteback(std::uint64_t offset, std::uint64_t length) const;

  // fsync, rename to the final name, fsync of the folder. kIo on error (the partial is kept).
  // REQUIRES: not committed yet.
  [[nodiscard]] Result<void> Commit();

  // Whether the partial was there before Open (an interrupted run's).
  [[nodiscard]] bool resumed() const { return resumed_; }
  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] std::uint64_t size() const { return size_; }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] const std::filesystem::path& final_path() const { return final_path_; }

 private:
  PartialFile(int fd, std::filesystem::path path, std::filesystem::path final_path,
              std::uint64_t size, bool resumed);

  int fd_ = -1;
  std::filesystem::path path_;
  std::filesystem::path final_path_;
  std::uint64_t size_ = 0;
  bool resumed_ = false;
};

}  // namespace mei::tools
