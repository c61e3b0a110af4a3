// AssembleFile: writes one file of a model from the blocks in the local block store.
//
// The file is written to a temporary beside its name (common/atomic_file.h) block by block, each
// frame decoded (checking its XXH3 and raw size) as it is appended, and the SHA-256 of the whole
// file computed on the way; only when that equals the manifest's is the temporary renamed to the
// file's name. So a file under its final name is always complete and verified; anything else
// leaves the previous file, if any, in place and no temporary behind.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "common/block_id.h"
#include "common/errc.h"
#include "common/manifest.h"
#include "tools/get/local_block_store.h"

namespace mei::tools {

struct AssemblyFailure {
  Error error;
  // Every block of the file that is missing, damaged or of the wrong size (once one is found,
  // the rest of the file is checked too), or, when only the file's SHA-256 disagreed, every block
  // whose own SHA-256 is wrong; these are removed from the store, so that one fetch of them all
  // repairs the file. Empty for failures no fetch can repair (the local disk).
  std::vector<BlockId> bad_blocks;
};

// Writes `file` to `out_dir`/file.path (creating folders). On failure nothing is under that name
// that was not there before. Blocking; thread-safe for distinct files.
[[nodiscard]] boost::system::result<void, AssemblyFailure> AssembleFile(
    const ManifestFile& file, const std::filesystem::path& out_dir, const LocalBlockStore& store);

}  // namespace mei::tools
