// The cache node's access log (DESIGN.md, "Cache node internals"): one JSON object per request
// on its own line, the traces that the placement optimizer learns demand from. A line is
//
//   {"time":"2026-11-24T12:00:00.123Z","node":"edge-1","client":"phone-7","route":"file",
//    "model":"org/name","revision":"main","commit":"<hex>","path":"model.safetensors",
//    "block":"","bytes":1048576,"status":200,"cache":"HIT","upstream":"","duration_ms":12.5}
//
// with exactly these keys, "time" first, in UTC with millisecond precision. Strings that are not
// valid UTF-8 (a client id from a header, a requested path) are logged with U+FFFD in place of
// the bad bytes, so every line is valid JSON for any reader.
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

#include "common/errc.h"

namespace mei::cache_node {

// One request as the access log records it. Plain value type.
struct AccessRecord {
  std::chrono::system_clock::time_point time;  // logged to the millisecond
  // Empty when not applicable.
  std::string node, client, route, model, revision, commit, path, block;
  std::uint64_t bytes = 0;  // body bytes sent
  int status = 0;
  std::string cache;       // "HIT" | "MISS" | "PARTIAL" | "" (not a content route)
  std::string upstream;    // what filled misses: "parent", "peer:<node id>", or ""
  double duration_ms = 0;  // logged to the microsecond; negative or non-finite logged as 0
};

struct AccessLogOptions {
  std::uint64_t max_file_bytes = 64ull << 20;  // access.log is rotated before it passes this
  std::uint32_t max_files = 8;                 // access.log plus up to max_files - 1 rotated ones
};

// The log line of `record`, without the trailing newline. Thread-safe.
[[nodiscard]] std::string FormatAccessRecord(const AccessRecord& record);

// Parses one line written by FormatAccessRecord (trailing "\n" or "\r\n" allowed). Every key must
// be present with its type; unknown keys are ignored. kBadRequest otherwise. Thread-safe.
[[nodiscard]] Result<AccessRecord> ParseAccessRecord(std::string_view line);

// "2026-11-24T12:00:00.123Z": UTC, milliseconds (truncated toward the past). Thread-safe.
[[nodiscard]] std::string FormatTimestamp(std::chrono::system_clock::time_point time);

// Parses an RFC 3339 date-time, "2026-11-24T12:00:00Z", with an optional fraction of any length
// (kept to the nanosecond) and "Z" or a numeric offset ("+02:00"), or Unix seconds, "1795521600"
// or "1795521600.25" (the forms GET /admin/v1/trace?since= accepts). kBadRequest otherwise.
// Thread-safe.
[[nodiscard]] Result<std::chrono::system_clock::time_point> ParseTimestamp(std::string_view text);

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
