// The cache node's access log: one line per data-plane request (common/access_record.h gives the
// record and its line format), written to rotated files and exported for `meictl trace pull`.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/access_record.h"
#include "common/errc.h"

namespace mei::cache_node {

struct AccessLogOptions {
  std::uint64_t max_file_bytes = 64ull << 20;  // access.log is rotated before it passes this
  std::uint32_t max_files = 8;                 // access.log plus up to max_files - 1 rotated ones
};

// The access log of one node: `dir`/access.log, rotated by size to access.log.1 (newest rotated)
// ... access.log.<max_files - 1> (oldest); a rotation that would make more files deletes the
// oldest. A line is never split across files; only a single line longer than max_file_bytes makes
// a file pass that size.
//
// Thread-safe: Write and ExportSince may be called from any number of threads at once. Each line
// goes to the file with one write(2) under a mutex, so lines never interleave; nothing is fsynced
// (a crash may lose the last lines the kernel had not written back, and may leave a torn last
// line, which Open terminates and readers skip).
class AccessLog {
 public:
  // Creates `dir` if needed and opens dir/access.log for appending. Deletes rotated files that
  // `options.max_files` no longer keeps (left by an earlier run with a larger setting).
  // kBadRequest when max_file_bytes is 0 or max_files is not 1 to 1000; kIo when the directory or
  // file cannot be created or opened.
  [[nodiscard]] static Result<std::unique_ptr<AccessLog>> Open(std::filesystem::path dir,
                                                               AccessLogOptions options = {});

  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Appends the line of `record`. Never throws and never blocks on anything but the file system:
  // a failed write or rotation is counted in write_errors() and the line is dropped (a later Write
  // tries again, reopening the file if it had to be closed).
  void Write(const AccessRecord& record);

  // Calls `sink` with every complete line (without its "\n") whose time is >= `since`, in the
  // order the lines were written (oldest file first), until `sink` returns false. That is time
  // order up to races between concurrent writers. Lines are read from a snapshot taken at the
  // call: rotations meanwhile neither duplicate nor lose a line. Lines that do not parse (a torn
  // line left by a crash) are skipped. Holds one descriptor per file while it runs; memory stays
  // bounded by the longest line. kIo on a read error, after the sink may have had some lines.
  [[nodiscard]] Result<void> ExportSince(
      std::chrono::system_clock::time_point since,
      const std::function<bool(std::string_view line)>& sink) const;

  // I/O errors met by Write since Open: lines lost, and rotation steps that failed.
  [[nodiscard]] std::uint64_t write_errors() const {
    return write_errors_.load(std::memory_order_relaxed);
  }

  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }

 private:
  AccessLog(std::filesystem::path dir, AccessLogOptions options, int fd, std::uint64_t size);

  // REQUIRES: mutex_ held.
  void RotateLocked();
  bool ReopenLocked();

  const std::filesystem::path dir_;
  const AccessLogOptions options_;
  mutable std::mutex mutex_;
  int fd_ = -1;             // access.log, O_APPEND; -1 after a failed reopen. Guarded by mutex_.
  std::uint64_t size_ = 0;  // bytes in access.log. Guarded by mutex_.
  std::atomic<std::uint64_t> write_errors_{0};
};

}  // namespace mei::cache_node
