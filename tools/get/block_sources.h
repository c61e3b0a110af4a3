// CopyLocalBlocks: writes the blocks of a download that are already on the device, from where they
// are, into the files being written, before anything is fetched.
//
// For each distinct block, in this order:
//   1. its own places in a partial that an interrupted run left (PartialFile::resumed): the bytes
//      there are kept if they verify;
//   2. the places the file index names (index.Locate): complete files first, then partial ones;
//   3. the device's block store (frames left by earlier versions of mei-get).
// Every copy is read and verified against the block id (SHA-256) before it is written anywhere:
// a file edited since it was indexed, or a partial whose block never arrived, gives nothing. A
// complete file that fails is reported (to be dropped from the index), a damaged store frame is
// removed, and the block counts as repaired when it is then fetched.
//
// Runs `threads` threads and returns when every block is handled. Blocking.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "common/errc.h"
#include "tools/get/download_plan.h"
#include "tools/get/file_index.h"
#include "tools/get/local_block_store.h"

namespace mei::tools {

struct LocalCopies {
  std::vector<BlockNeed> missing;  // to fetch: the blocks no copy was found of, and their places
  std::uint64_t reused_blocks = 0;
  std::uint64_t reused_bytes = 0;
  std::uint64_t repaired_blocks = 0;  // of `missing`: a complete file or a frame held a bad copy
  std::vector<std::filesystem::path> bad_files;  // complete indexed files that held a bad copy
};

// When `stop` is set, the blocks not handled yet are left missing. kIo / kStoreFull when a place
// cannot be written.
[[nodiscard]] Result<LocalCopies> CopyLocalBlocks(std::vector<BlockNeed> needs,
                                                  const FileIndex& index,
                                                  const LocalBlockStore& store, unsigned threads,
                                                  const std::atomic<bool>& stop);

}  // namespace mei::tools
