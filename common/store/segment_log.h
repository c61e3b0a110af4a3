// SegmentLog: append-only segment files that hold stored frames, the payload layer of the block
// store (common/store/block_store.h: RocksDB is the index, frames live in these files and are sent
// with sendfile). A segment is one file, `<dir>/<number, 10 digits>.seg`; frames are appended to
// the active segment (the highest number) until it passes SegmentLogOptions::segment_bytes, then
// to a new one. Nothing here knows what a frame is: callers record where each one went
// (FrameLocation) and check what they read back.
//
// Direct appends: a frame whose buffer starts on kDirectIoAlignment (common/aligned_bytes.h), as
// a filled block's does, starts at an aligned offset and its aligned bulk goes to disk with
// O_DIRECT, its last partial 4 KiB through the page cache: the block's bytes are not copied into
// the page cache, whose fresh pages cost a fill more CPU than anything else but hashing. The gap
// before such a frame is a hole that no frame names. Other frames, and every frame where the
// file system refuses O_DIRECT, are written through the page cache at the segment's end.
//
// Durability: an append is written when Append returns; Sync makes every append before
// it durable (fdatasync of each segment written since the last Sync, and of the directory when a
// segment was created or removed). Syncs are serialised: a Sync that returns has waited for any
// Sync under way, so concurrent callers share one fdatasync (group commit) and none returns
// before its appends are durable. A caller that writes an index entry for a frame syncs first.
//
// Readers hold a Segment (shared_ptr): its descriptor stays open, so the bytes it held stay
// readable even after Remove unlinked the file; the space comes back when the last reader lets go.
//
// Thread-safe: appends, truncation and removal are serialised by one mutex, and an append's write
// holds no lock that Hold or Get takes, so reads never wait for a disk write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "common/errc.h"

namespace mei {

// Where a frame was appended: its segment, its offset there and its length in bytes.
struct FrameLocation {
  std::uint32_t segment = 0;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;

  friend bool operator==(const FrameLocation&, const FrameLocation&) = default;
};

struct SegmentLogOptions {
  // An append goes to a new segment when it would take the active one past this (a frame larger
  // than this gets a segment of its own).
  std::uint64_t segment_bytes = 256ull << 20;
  // Whether aligned frames are appended with O_DIRECT (see above).
  bool direct_appends = true;
};

// One segment file, open for reading. Immutable; thread-safe.
class Segment {
 public:
  // Takes ownership of `fd`.
  Segment(std::uint32_t number, std::filesystem::path path, int fd);
  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  [[nodiscard]] std::uint32_t number() const { return number_; }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  // The open descriptor, for pread(2) and sendfile(2). Valid while this Segment lives.
  [[nodiscard]] int fd() const { return fd_; }

  // Reads exactly out.size() bytes at `offset`. kBadFrame when the file ends first, kIo on a read
  // error.
  [[nodiscard]] Result<void> Read(std::uint64_t offset, std::span<std::byte> out) const;

 private:
  const std::uint32_t number_;
  const std::filesystem::path path_;
  const int fd_;
};

class SegmentLog {
 public:
  // Opens `dir` (created when missing) and every segment in it; files with other names are left
  // alone. Appends continue at the end of the highest-numbered segment (a new directory starts
  // with segment 1). kBadRequest for segment_bytes 0; kIo when the directory or a segment cannot
  // be opened.
  [[nodiscard]] static Result<std::unique_ptr<SegmentLog>> Open(std::filesystem::path dir,
                                                                SegmentLogOptions options = {});
  ~SegmentLog();
  SegmentLog(const SegmentLog&) = delete;
  SegmentLog& operator=(const SegmentLog&) = delete;

  // Appends `frame` (not empty) and returns where it went; durable only after Sync. kStoreFull,
  // leaving the segment as it was, when the disk is full; kIo on any other write error.
  [[nodiscard]] Result<FrameLocation> Append(std::span<const std::byte> frame);

  // Makes every append made before the call durable. kIo when a sync fails (the segments it
  // could not sync stay to be synced by the next call).
  [[nodiscard]] Result<void> Sync();

  // Segment `number`, held open for reading. kBadFrame when there is no such segment.
  [[nodiscard]] Result<std::shared_ptr<const Segment>> Get(std::uint32_t number) const;

  // The segment that holds `where`, held open for reading (pread, sendfile). kBadFrame when there
  // is no such segment or `where` is not inside what was appended to it.
  [[nodiscard]] Result<std::shared_ptr<const Segment>> Hold(const FrameLocation& where) const;

  // Reads the frame at `where` into `out` (resized to where.length). kBadFrame when `where` is not
  // inside what was appended to its segment; kIo on a read error.
  [[nodiscard]] Result<void> Read(const FrameLocation& where, std::vector<std::byte>& out) const;

  // Cuts segment `number` to `length` bytes: a torn tail past the last frame an index names,
  // found at open. Appends to it continue from there. kBadRequest when `length` is past its end
  // or there is no such segment; kIo when the file cannot be cut.
  [[nodiscard]] Result<void> Truncate(std::uint32_t number, std::uint64_t length);

  // Unlinks segment `number` (its live frames were moved elsewhere). Readers that hold it keep
  // reading it. Removing the active segment first starts the next one, which takes the appends.
  // kBadRequest for a segment that does not exist; kIo when the file cannot be removed.
  [[nodiscard]] Result<void> Remove(std::uint32_t number);

  // Starts a new active segment, unless the active one is empty, so that the one before can be
  // compacted. kIo when the file cannot be created.
  [[nodiscard]] Result<void> Roll();

  struct SegmentInfo {
    std::uint32_t number = 0;
    std::uint64_t bytes = 0;  // appended so far

    friend bool operator==(const SegmentInfo&, const SegmentInfo&) = default;
  };
  // Every segment, by number; the last is the active one.
  [[nodiscard]] std::vector<SegmentInfo> List() const;

  // The number of the segment that takes the appends.
  [[nodiscard]] std::uint32_t active() const;

 private:
  struct Entry {
    std::shared_ptr<const Segment> segment;
    std::uint64_t bytes = 0;
    bool unsynced = false;
  };

  // Writes `frame` at `offset` of `segment`; REQUIRES: append_mu_ held.
  [[nodiscard]] Result<void> WriteLocked(const Segment& segment, std::uint64_t offset,
                                         std::span<const std::byte> frame, bool direct);
  // The active segment's O_DIRECT descriptor, opened on first use; -1 when the file system
  // refuses it. REQUIRES: append_mu_ held.
  int DirectFdLocked(const Segment& segment);

  SegmentLog(std::filesystem::path dir, SegmentLogOptions options, int dir_fd);

  // REQUIRES: mu_ held. Creates and opens segment `number` as the active one.
  [[nodiscard]] Result<void> StartSegmentLocked(std::uint32_t number);

  const std::filesystem::path dir_;
  const SegmentLogOptions options_;
  const int dir_fd_;  // for fsync of the directory's entries

  std::mutex sync_mu_;    // held for a whole Sync; taken before mu_
  std::mutex append_mu_;  // held for a whole append, truncation or removal; taken before mu_
  mutable std::mutex mu_;
  std::map<std::uint32_t, Entry> segments_;  // guarded by mu_; never empty after Open
  bool directory_unsynced_ = false;          // guarded by mu_
  // The active segment's O_DIRECT descriptor and its number; guarded by append_mu_.
  int direct_fd_ = -1;
  std::uint32_t direct_segment_ = 0;
  bool direct_refused_ = false;  // guarded by append_mu_
};

}  // namespace mei
