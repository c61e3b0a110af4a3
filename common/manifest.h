// Manifest: what a model revision is made of (schema "mei.manifest.v1"; an example is in
// docs/ARCHITECTURE.md, "Manifests").
//
// A revision name ("main") is mutable and points at a commit; a commit is immutable and is the
// SHA-256 of the canonical JSON of the manifest without its "commit" and "revision" fields, so
// two nodes that hold the same commit hold the same bytes. Canonical JSON: object keys sorted
// bytewise, no white space, integers in decimal, strings escaped by Boost.JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/block_id.h"
#include "common/errc.h"
#include "common/tensor_entry.h"

namespace mei {

inline constexpr std::string_view kManifestSchema = "mei.manifest.v1";

struct ManifestBlock {
  BlockId id;
  std::uint64_t offset = 0;  // in the file
  std::uint64_t size = 0;    // raw bytes

  friend bool operator==(const ManifestBlock&, const ManifestBlock&) = default;
};

struct ManifestFile {
  std::string path;  // relative, '/'-separated
  std::uint64_t size = 0;
  Sha256Digest sha256;
  std::string format;                 // how it was cut: a ModelFormat's name or "other"
  std::vector<ManifestBlock> blocks;  // contiguous, covering [0, size) exactly, in order
  std::vector<TensorEntry> tensors;   // empty for "other"

  friend bool operator==(const ManifestFile&, const ManifestFile&) = default;
};

struct Manifest {
  std::string model;                // "org/name"
  std::string revision;             // a name such as "main"
  Sha256Digest commit;              // see CommitOf
  std::string created;              // RFC 3339 UTC, "2026-11-23T12:00:00Z"
  std::vector<ManifestFile> files;  // sorted by path, paths unique

  friend bool operator==(const Manifest&, const Manifest&) = default;
};

// The commit id of `manifest`: SHA-256 of its canonical JSON without "commit" and "revision".
[[nodiscard]] Sha256Digest CommitOf(const Manifest& manifest);

// The manifest as one line of JSON with every field, keys in canonical (sorted) order.
[[nodiscard]] std::string ToJson(const Manifest& manifest);

// Parses and validates (ValidateManifest, and that "commit" equals CommitOf). kBadManifest with a
// sentence naming the first problem otherwise. Never throws.
[[nodiscard]] Result<Manifest> ParseManifest(std::string_view json);

// Checks every invariant: schema-level fields, model name, revision name, paths, that blocks are
// contiguous and cover each file exactly, that tensors lie in their file and name valid blocks.
// Does not check the commit (CommitOf is the caller's to compare).
[[nodiscard]] Result<void> ValidateManifest(const Manifest& manifest);

// A file path inside a model: relative, '/'-separated, no empty, "." or ".." component, no
// backslash or NUL, at most 1024 bytes. kBadPath otherwise.
[[nodiscard]] Result<void> ValidateFilePath(std::string_view path);

// A model id "org/name": two non-empty components of [A-Za-z0-9._-], not starting with '.' or
// '-', at most 96 bytes each. kBadModelName otherwise.
[[nodiscard]] Result<void> ValidateModelName(std::string_view model);

// Whether a revision names a commit: exactly 64 lowercase hex digits (lookups then go by commit;
// any other revision is a name).
[[nodiscard]] bool IsCommitHex(std::string_view revision);

// A revision name: 1-128 bytes of [A-Za-z0-9._-/], no "..", not starting with '/' or '.'.
// kBadRequest otherwise. (A 64-hex string is a valid name too; lookups treat it as a commit.)
[[nodiscard]] Result<void> ValidateRevisionName(std::string_view revision);

// A model revision as a user names it on a command line: "org/name" or "org/name@rev".
struct ModelRef {
  std::string model;
  std::string revision = "main";
};

// Parses "MODEL[@REV]" (the revision defaults to "main"), checking both names as
// ValidateModelName and ValidateRevisionName do; their errors otherwise ("@" with nothing after
// it is kBadRequest). Thread-safe.
[[nodiscard]] Result<ModelRef> ParseModelRef(std::string_view text);

}  // namespace mei
