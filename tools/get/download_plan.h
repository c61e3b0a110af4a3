// DownloadPlan: what one mei-get run has to do for a manifest. It selects the files asked for
// (--files GLOB), leaves out those already complete in the output folder, and lists the distinct
// blocks of the rest with every place (file and offset) each one goes: a block that repeats, in one
// file or across files, is fetched or copied once and written to all its places.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/errc.h"
#include "common/manifest.h"
#include "tools/get/file_index.h"
#include "tools/get/partial_file.h"

namespace mei::tools {

// Where one copy of a block goes: a file being written, and the block's offset in it.
struct BlockPlace {
  const PartialFile* file = nullptr;
  std::uint64_t offset = 0;
  // The manifest's entry of that file (its path on the resolve route), when known.
  const ManifestFile* entry = nullptr;
};

// A distinct block a download writes, and every place it goes.
struct BlockNeed {
  ManifestBlock block;  // its offset is that of its first place
  std::vector<BlockPlace> places;
};

struct DownloadPlan {
  std::vector<const ManifestFile*> files;       // selected and not yet complete, manifest order
  std::vector<const ManifestFile*> up_to_date;  // selected and already complete in the output
  std::vector<BlockNeed> to_fetch;              // distinct blocks no local copy could give
  std::uint64_t file_bytes = 0;                 // size of `files`
  std::uint64_t fetch_bytes = 0;                // raw bytes of `to_fetch`
  std::uint64_t reused_blocks = 0;              // distinct blocks of `files` found on the device
  std::uint64_t reused_bytes = 0;               // their raw bytes
  std::uint64_t repaired_blocks = 0;  // of `to_fetch`: a local copy was there but failed to verify
};

// The files of `manifest` whose path matches at least one of `globs` (fnmatch(3) patterns, '*'
// not crossing '/'; every file when `globs` is empty), in manifest order. kBadRequest, naming the
// pattern, when a glob matches no file. Thread-safe.
[[nodiscard]] Result<std::vector<const ManifestFile*>> SelectFiles(
    const Manifest& manifest, const std::vector<std::string>& globs);

// Whether `path` already holds exactly `file`: the same size and SHA-256 (read in full).
[[nodiscard]] bool HoldsFile(const std::filesystem::path& path, const ManifestFile& file);

// Which of `selected` (pointers into a manifest that must outlive the result) are already complete
// under `out_dir` (absolute): a file the index knows as complete, fresh and of the manifest's
// SHA-256 is, without being read; one the index does not know is read in full (HoldsFile), and if
// it holds the file, its entry is put into `index`.
struct OutputState {
  std::vector<const ManifestFile*> to_write;
  std::vector<const ManifestFile*> up_to_date;
};
[[nodiscard]] OutputState CheckOutput(const std::vector<const ManifestFile*>& selected,
                                      const std::filesystem::path& out_dir, FileIndex& index);

// The distinct blocks of `files`, in file order, with every place each goes; partials[i] is where
// files[i] is written. REQUIRES: partials.size() == files.size().
[[nodiscard]] std::vector<BlockNeed> NeedsOf(const std::vector<const ManifestFile*>& files,
                                             const std::vector<PartialFile>& partials);

}  // namespace mei::tools
