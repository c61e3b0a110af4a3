// DownloadPlan: what one mei-get run has to do for a manifest. It selects the files asked for
// (--files GLOB), leaves out those already complete in the output folder, and splits the blocks of
// the rest into those the local block store already holds (reused: a fine-tune shares most of
// its base's blocks) and those to fetch. Each block counts once however many times, and in however
// many files, it appears.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/errc.h"
#include "common/manifest.h"
#include "tools/get/local_block_store.h"

namespace mei::tools {

struct DownloadPlan {
  std::vector<const ManifestFile*> files;       // selected and not yet complete, manifest order
  std::vector<const ManifestFile*> up_to_date;  // selected and already complete in the output
  std::vector<ManifestBlock> to_fetch;          // distinct blocks, in file order
  std::uint64_t file_bytes = 0;                 // size of `files`
  std::uint64_t fetch_bytes = 0;                // raw bytes of `to_fetch`
  std::uint64_t reused_blocks = 0;              // distinct blocks of `files` held locally
  std::uint64_t reused_bytes = 0;               // their raw bytes
};

// The files of `manifest` whose path matches at least one of `globs` (fnmatch(3) patterns, '*'
// not crossing '/'; every file when `globs` is empty), in manifest order. kBadRequest, naming the
// pattern, when a glob matches no file. Thread-safe.
[[nodiscard]] Result<std::vector<const ManifestFile*>> SelectFiles(
    const Manifest& manifest, const std::vector<std::string>& globs);

// Whether `path` already holds exactly `file`: the same size and SHA-256 (read in full).
[[nodiscard]] bool HoldsFile(const std::filesystem::path& path, const ManifestFile& file);

// The plan for `selected` (pointers into a manifest that must outlive the plan) written under
// `out_dir`, given what `store` holds.
[[nodiscard]] DownloadPlan PlanDownload(const std::vector<const ManifestFile*>& selected,
                                        const std::filesystem::path& out_dir,
                                        const LocalBlockStore& store);

}  // namespace mei::tools
