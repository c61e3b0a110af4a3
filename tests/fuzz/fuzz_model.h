// A tiny model revision with the same bytes on every run, for the fuzz targets that need real
// content (the HTTP server's store) and for the seed corpus (tests/fuzz/write_seeds.cc).
//
// "acme/tiny" at "main": a safetensors file (BF16, F32 and F16 tensors), a GGUF file (F32 and
// Q4_0 tensors), a JSON config and a nested text file. Files are cut into blocks of at most
// kFuzzMaxBlock bytes and encoded as ingest does, so the blocks cover every stored codec (raw,
// zstd, bg2+zstd, bg4+zstd) and files span several blocks. The manifest's created time is fixed,
// so its commit id is the same on every run too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/block_id.h"
#include "common/manifest.h"

namespace mei::fuzz {

inline constexpr std::string_view kFuzzModelName = "acme/tiny";
inline constexpr std::uint64_t kFuzzMaxBlock = 512;

// The request limits of the server that serves this model to the HTTP target (smaller than the
// origin's, so that small inputs reach the 431 and 413 paths; see http_server_fuzzer.cc).
inline constexpr std::uint32_t kFuzzHeaderLimitBytes = 2048;
inline constexpr std::uint64_t kFuzzBodyLimitBytes = 2048;

using Bytes = std::vector<std::byte>;

struct ModelFile {
  std::string path;
  Bytes bytes;
};

// The model's files, sorted by path.
[[nodiscard]] std::vector<ModelFile> FuzzModelFiles();

struct EncodedModel {
  Manifest manifest;                              // revision "main", commit set
  std::vector<std::pair<BlockId, Bytes>> frames;  // one stored frame per distinct block
};

// The files chunked and encoded. Throws std::runtime_error if the fixture itself is inconsistent
// (a bug in this file, never input): callers run it at start-up only.
[[nodiscard]] EncodedModel EncodeFuzzModel();

}  // namespace mei::fuzz
