// Ingest: turns model files into stored blocks and a published manifest.
//
// Each file is chunked (parameter-aware for safetensors and GGUF, FastCDC otherwise), every block
// hashed, blocks the store lacks are encoded and stored (existing ids are skipped: dedup), and the
// manifest is written last, so an ingest that fails or is interrupted publishes nothing. Files are
// streamed: memory is bounded by a few blocks per worker thread, whatever the files' sizes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/chunker.h"
#include "common/codec.h"
#include "common/errc.h"
#include "common/manifest.h"
#include "common/store.h"

namespace mei::origin {

struct IngestOptions {
  std::string model;              // "org/name"
  std::string revision = "main";  // the name to point at the new commit
  ChunkOptions chunking;
  EncodeOptions encoding;
  unsigned threads = 0;  // hashing/encoding workers; 0 = one per core
};

struct IngestReport {
  std::uint64_t files = 0;
  std::uint64_t tensors = 0;
  std::uint64_t blocks = 0;
  std::uint64_t new_blocks = 0;       // blocks this ingest stored
  std::uint64_t raw_bytes = 0;        // the files' total size
  std::uint64_t new_raw_bytes = 0;    // raw bytes of the blocks this ingest stored
  std::uint64_t dedup_raw_bytes = 0;  // raw bytes of blocks the store already held
  std::uint64_t stored_bytes = 0;     // encoded (frame) bytes of the blocks this ingest stored
  double seconds = 0;
  Manifest manifest;  // as published
};

// An input file and the path it gets in the manifest.
struct InputFile {
  std::filesystem::path source;
  std::string path;  // relative, '/'-separated
};

// Expands `inputs`: a file is itself under its file name; a directory is every regular file below
// it (except under .git), under its path relative to the directory. Sorted by path. kBadRequest
// when two inputs map to the same path or nothing is found; kBadPath for a name a manifest cannot
// hold; kIo when an input does not exist.
[[nodiscard]] Result<std::vector<InputFile>> CollectInputs(
    const std::vector<std::filesystem::path>& inputs);

// Ingests `files` into `store` as options.model at options.revision. Thread-safe with respect to
// other ingests into the same store (dedup holds; the last to publish a revision name wins).
[[nodiscard]] Result<IngestReport> Ingest(Store& store, const std::vector<InputFile>& files,
                                          const IngestOptions& options);

}  // namespace mei::origin
