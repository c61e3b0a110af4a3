// ManifestStore: manifests by commit, and revision names pointing at commits, in the store's
// RocksDB `manifests` family: "c/" + commit hex -> manifest JSON; "r/" + model + "@" + revision ->
// commit hex. Every put is synced.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/errc.h"
#include "common/manifest.h"

namespace mei {

class RocksHandle;  // internal: the shared database handle

// Manifests by commit, and revision names pointing at commits. Thread-safe.
class ManifestStore {
 public:
  explicit ManifestStore(std::shared_ptr<RocksHandle> db);

  // Stores the manifest under its commit and points model@revision at it, in one atomic write
  // (no revision pointer when `revision` is the commit hex itself: a manifest fetched by commit).
  // REQUIRES: ValidateManifest passes and manifest.commit == CommitOf(manifest) (checked:
  // kBadManifest). kStoreFull when the disk is full.
  [[nodiscard]] Result<void> Put(const Manifest& manifest);

  // `revision` is a name or a 64-hex commit. kModelNotFound when the model has no revision at
  // all, kRevisionNotFound when it has others. A commit lookup returns the manifest with
  // `revision` set to the commit hex.
  [[nodiscard]] Result<Manifest> Get(std::string_view model, std::string_view revision) const;

  // Every (model, revision name) with its commit hex, sorted.
  struct RevisionEntry {
    std::string model;
    std::string revision;
    std::string commit;
  };
  [[nodiscard]] Result<std::vector<RevisionEntry>> List() const;

 private:
  std::shared_ptr<RocksHandle> db_;
};

}  // namespace mei
