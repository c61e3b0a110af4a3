// ManifestStore: manifests by commit, and revision names pointing at commits, in the store's
// RocksDB `manifests` family: "c/" + commit hex -> manifest JSON; "r/" + model + "@" + revision ->
// commit hex. Every put is synced. Manifests read are kept parsed (the last kParsedManifests,
// by commit and the revision they were asked by): a commit's manifest never changes, and a name is
// looked up in RocksDB on every read, so a hot download costs a point lookup, not a JSON parse.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
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
  // Get, shared: the parsed manifest kept for later reads, not a copy.
  [[nodiscard]] Result<std::shared_ptr<const Manifest>> GetShared(std::string_view model,
                                                                  std::string_view revision) const;

  // Every (model, revision name) with its commit hex, sorted.
  struct RevisionEntry {
    std::string model;
    std::string revision;
    std::string commit;
  };
  [[nodiscard]] Result<std::vector<RevisionEntry>> List() const;

 private:
  static constexpr std::size_t kParsedManifests = 64;

  // The manifest of `commit_hex` as asked for by `revision`, parsed once and kept.
  [[nodiscard]] Result<std::shared_ptr<const Manifest>> Parsed(std::string_view model,
                                                               std::string_view commit_hex,
                                                               std::string_view revision) const;

  std::shared_ptr<RocksHandle> db_;
  mutable std::mutex parsed_mu_;
  // "<commit hex>@<revision>" -> manifest; guarded by parsed_mu_, oldest first in parsed_order_.
  mutable std::unordered_map<std::string, std::shared_ptr<const Manifest>> parsed_;
  mutable std::deque<std::string> parsed_order_;
};

}  // namespace mei
