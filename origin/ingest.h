// Ingest: turns model files into stored blocks and a published manifest.
//
// Each file is chunked (along its tensors for the formats of common/formats/, FastCDC otherwise),
// every block hashed, blocks the store lacks are encoded and stored (existing ids are skipped:
// dedup), and the manifest is written last, so an ingest that fails or is interrupted publishes
// nothing. Files are streamed: memory is bounded by a few blocks per worker thread, whatever the
// files' sizes.
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

// The zstd levels an ingest accepts for stored blocks (EncodeOptions::zstd_level).
inline constexpr int kMinIngestZstdLevel = -7;
inline constexpr int kMaxIngestZstdLevel = 19;

struct IngestOptions {
  std::string model;              // "org/name"
  std::string revision = "main";  // the name to point at the new commit
  ChunkOptions chunking;
  EncodeOptions encoding;
  unsigned threads = 0;  // hashing/encoding workers; 0 = one per core
};

// Checks what Ingest checks before any work: the model and revision names (kBadModelName,
// kBadRequest), a positive chunking.max_block, encoding.zstd_level within [kMinIngestZstdLevel,
// kMaxIngestZstdLevel] and encoding.min_saving within [0, 1] (kBadRequest). Thread-safe.
[[nodiscard]] Result<void> ValidateIngestOptions(const IngestOptions& options);

// What an ingest did with the files of one format (how they were cut: the manifest's `format`).
struct FormatReport {
  std::string format;  // a ModelFormat's name ("safetensors", "onnx", ...) or "other"
  std::uint64_t files = 0;
  std::uint64_t tensors = 0;
  std::uint64_t blocks = 0;
  std::uint64_t raw_bytes = 0;
  std::uint64_t new_raw_bytes = 0;
  std::uint64_t dedup_raw_bytes = 0;  // includes blocks met earlier in the same ingest
  std::uint64_t stored_bytes = 0;
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
  std::vector<FormatReport> formats;  // the formats the files were cut as, by name
  // What an operator should know about how files were cut, one sentence each: files (or members
  // of them) cut by content although their names suggested a format that did not read them, and
  // why (ChunkPlan::fallbacks); a file whose tensors two others map.
  std::vector<std::string> notes;
  Manifest manifest;  // as published
};

// The report as one line of JSON, as `mei-origin ingest --json` prints it and the origin's admin
// API answers POST /admin/v1/ingest: {"model", "revision", "commit", "files", "tensors", "blocks",
// "new_blocks", "raw_bytes", "new_raw_bytes", "dedup_raw_bytes", "stored_bytes", "seconds",
// "formats": {name: {"files", "tensors", "blocks", "raw_bytes", "new_raw_bytes", "dedup_raw_bytes",
// "stored_bytes"}}, "notes": [sentence]}, so that an operator sees how each kind of file was cut
// and deduplicated, and why a file was not cut as its name suggested.
[[nodiscard]] std::string ToJson(const IngestReport& report);

// An input file and the path it gets in the manifest.
struct InputFile {
  std::filesystem::path source;
  std::string path;  // relative, '/'-separated
};

// Expands `inputs`: a file is itself under its file name; a directory is every regular file below
// it (except under .git), under its path relative to the directory. Sorted by path.
// kFileNotFound when an input does not exist; kBadRequest when an input is neither a regular file
// nor a directory (a FIFO or a device would block or never end), when two inputs map to the same
// path, or when nothing is found; kBadPath for a name a manifest cannot hold; kIo when an input
// cannot be examined or a directory cannot be listed.
[[nodiscard]] Result<std::vector<InputFile>> CollectInputs(
    const std::vector<std::filesystem::path>& inputs);

// Ingests `files` into `store` as options.model at options.revision. Options that fail
// ValidateIngestOptions are rejected before any work. Thread-safe with respect to other ingests
// into the same store (dedup holds; the last to publish a revision name wins) and to readers of
// the store, which see the revision once it is published and never a part of it.
[[nodiscard]] Result<IngestReport> Ingest(Store& store, const std::vector<InputFile>& files,
                                          const IngestOptions& options);

}  // namespace mei::origin
