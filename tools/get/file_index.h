// FileIndex: which of the device's files hold which blocks, so that the files mei-get wrote are
// themselves the source of the blocks a later download reuses (a fine-tune's download copies the
// base's blocks out of the base's files), and the model is stored once on the device.
//
// One entry per file: its absolute path, size, modification time, whether it is complete or a
// partial download (a `.<name>.mei-part` being written), and the blocks it holds at which offsets.
// An entry is trusted only while the file still has its size and (for a complete file) its
// modification time; even then every block taken from a file is verified against its id before
// it is used (block_sources.h), and a file that fails is dropped from the index.
//
// On disk: one small text file (`<block store>/file-index`), read whole when mei-get starts and
// replaced atomically (temporary, fsync, rename) when it saves, under an exclusive flock(2) on
// `file-index.lock`, merging its own changes into what other mei-get processes saved meanwhile.
// Lines, tab-separated: a header "mei-file-index 1"; per file
//   file  complete|partial  SIZE  MTIME_NS  SHA256_HEX  PATH      (PATH with %, tab, CR, LF
//   block ID_HEX  OFFSET  SIZE                                       percent-encoded)
// A file that does not parse is taken as empty: the index only saves work, it never decides what
// is correct.
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/block_id.h"
#include "common/digest.h"
#include "common/errc.h"
#include "common/manifest.h"

namespace mei::tools {

struct IndexedFile {
  std::filesystem::path path;  // absolute
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;  // of a complete file when it was indexed; 0 for a partial one
  bool partial = false;       // a download in progress: its blocks may not have arrived yet
  Sha256Digest sha256;        // the SHA-256 of the complete file (its manifest's)
  std::vector<ManifestBlock> blocks;
};

// A place where a block may be found.
struct BlockLocation {
  std::filesystem::path path;
  std::uint64_t offset = 0;
  bool partial = false;
};

class FileIndex {
 public:
  // Reads the index at `file` (a missing or malformed one is empty).
  [[nodiscard]] static FileIndex Open(std::filesystem::path file);

  // Whether `entry` still describes the file under its path: a regular file of its size and,
  // unless partial, its modification time.
  [[nodiscard]] static bool IsFresh(const IndexedFile& entry);

  // The entry of a complete file just written at `path` (absolute): its size and modification
  // time read now, its blocks and SHA-256 from `file`. kIo when it cannot be read.
  [[nodiscard]] static Result<IndexedFile> EntryOf(const std::filesystem::path& path,
                                                   const ManifestFile& file);

  // Removes every entry that is no longer fresh.
  void DropStale();

  [[nodiscard]] const IndexedFile* Find(const std::filesystem::path& path) const;

  // Every place the index says holds `id`, complete files first.
  [[nodiscard]] std::vector<BlockLocation> Locate(const BlockId& id) const;

  // Adds `entry`, replacing the entry of its path.
  void Put(IndexedFile entry);
  void Remove(const std::filesystem::path& path);

  // Writes the changes made since Open (or the last Save) into the file, over what other
  // processes saved meanwhile. kIo (kStoreFull when the disk is full) on error; the file on disk
  // is then unchanged.
  [[nodiscard]] Result<void> Save();

  [[nodiscard]] const std::map<std::string, IndexedFile>& entries() const { return entries_; }
  [[nodiscard]] const std::filesystem::path& file() const { return file_; }

 private:
  explicit FileIndex(std::filesystem::path file) : file_(std::move(file)) {}
  void Forget(const std::string& key);

  std::filesystem::path file_;
  std::map<std::string, IndexedFile> entries_;  // by path
  // This process's changes, in order: an entry put, or a path removed (nullopt).
  std::vector<std::pair<std::string, std::optional<IndexedFile>>> changes_;
  mutable std::optional<std::unordered_multimap<BlockId, BlockLocation>> by_block_;
};

// The text of an index holding `entries` (the format above), and back. ParseFileIndex returns
// nullopt for text that is not such an index.
[[nodiscard]] std::string FormatFileIndex(const std::map<std::string, IndexedFile>& entries);
[[nodiscard]] std::optional<std::map<std::string, IndexedFile>> ParseFileIndex(
    std::string_view text);

}  // namespace mei::tools
