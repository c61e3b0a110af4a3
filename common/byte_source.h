// ByteSource: random-access reads from a file or a buffer of known size.
//
// Parsers and the chunker read through this interface, so they see exactly what ingest sees and
// never need a whole file in memory. Implementations are safe to read from several threads at
// once (ReadAt has no shared cursor).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <utility>

#include "common/errc.h"

namespace mei {

class ByteSource {
 public:
  virtual ~ByteSource() = default;

  // Total length in bytes.
  [[nodiscard]] virtual std::uint64_t size() const = 0;

  // Fills all of `out` with the bytes at [offset, offset + out.size()).
  // REQUIRES: offset + out.size() <= size(); otherwise the result is kIo, never a short read.
  [[nodiscard]] virtual Result<void> ReadAt(std::uint64_t offset,
                                            std::span<std::byte> out) const = 0;

  // A name for error messages (a file path, or "<memory>").
  [[nodiscard]] virtual const std::string& name() const = 0;
};

// Reads from a caller-owned buffer. The buffer must outlive the source.
class MemoryByteSource final : public ByteSource {
 public:
  explicit MemoryByteSource(std::span<const std::byte> bytes, std::string name = "<memory>")
      : bytes_(bytes), name_(std::move(name)) {}

  std::uint64_t size() const override { return bytes_.size(); }
  Result<void> ReadAt(std::uint64_t offset, std::span<std::byte> out) const override;
  const std::string& name() const override { return name_; }

 private:
  std::span<const std::byte> bytes_;
  std::string name_;
};

// Reads the bytes [offset, offset + size) of another source as a source of their own: a member of
// a zip archive, chunked by its own format. `base` must outlive the slice.
class SliceByteSource final : public ByteSource {
 public:
  // REQUIRES: offset + size <= base.size().
  SliceByteSource(const ByteSource& base, std::uint64_t offset, std::uint64_t size,
                  std::string name)
      : base_(base), offset_(offset), size_(size), name_(std::move(name)) {}

  std::uint64_t size() const override { return size_; }
  Result<void> ReadAt(std::uint64_t offset, std::span<std::byte> out) const override;
  const std::string& name() const override { return name_; }

 private:
  const ByteSource& base_;
  std::uint64_t offset_;
  std::uint64_t size_;
  std::string name_;
};

// Reads a regular file with pread(2). Owns the descriptor; move-only.
class FileByteSource final : public ByteSource {
 public:
  // Opens `path` read-only; kIo with the OS's reason when it cannot, or when it is not a regular
  // file. The size is taken once, at open.
  [[nodiscard]] static Result<FileByteSource> Open(const std::filesystem::path& path);

  FileByteSource(FileByteSource&& other) noexcept;
  FileByteSource& operator=(FileByteSource&& other) noexcept;
  FileByteSource(const FileByteSource&) = delete;
  FileByteSource& operator=(const FileByteSource&) = delete;
  ~FileByteSource() override;

  std::uint64_t size() const override { return size_; }
  Result<void> ReadAt(std::uint64_t offset, std::span<std::byte> out) const override;
  const std::string& name() const override { return name_; }

 private:
  FileByteSource(int fd, std::uint64_t size, std::string name)
      : fd_(fd), size_(size), name_(std::move(name)) {}

  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::string name_;
};

}  // namespace mei
