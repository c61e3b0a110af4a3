// ManifestCache: a cache node's manifests (docs/ARCHITECTURE.md, "Cache node internals").
//
// A commit's manifest is immutable: once fetched from the parent it is kept in the node's store and
// never fetched again. A revision name (main) moves, so what it points at is trusted for
// revision_ttl after it was fetched, then asked again; when the parent cannot be reached, the last
// known commit for the name is served (stale) rather than failing. After a restart every name is
// stale until fetched again. Thread-safe.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cache-node/upstream.h"
#include "common/errc.h"
#include "common/manifest.h"
#include "common/metrics.h"
#include "common/store.h"

namespace mei::cache_node {

struct ManifestCacheOptions {
  std::chrono::milliseconds revision_ttl{60'000};
};

class ManifestCache {
 public:
  // REQUIRES: store, health and metrics outlive the cache.
  ManifestCache(ManifestStore& store, Upstream parent, FetchContext fetch, UpstreamHealth& health,
                MetricsRegistry& metrics, ManifestCacheOptions options = {});

  // `revision` is a name or a 64-hex commit (ManifestStore::Get semantics). Errors: what the
  // parent says is not found (kModelNotFound, kRevisionNotFound); the parent's failure
  // (kUpstreamFailed, kUpstreamTimeout) when nothing is held for the name, also when the manifest
  // the parent sent does not check out (a stale one held for the name is served instead).
  // A coroutine: a fetch from the parent suspends it and holds no thread.
  [[nodiscard]] boost::asio::awaitable<Result<std::shared_ptr<const Manifest>>> Get(
      std::string model, std::string revision);

  // What the parent knows (revision names with their commits), sorted, as a device asking the
  // origin would see it; what the node holds when the parent cannot be reached. A coroutine.
  [[nodiscard]] boost::asio::awaitable<Result<std::vector<ManifestStore::RevisionEntry>>> List()
      const;

 private:
  // True when model@revision was fetched within the TTL.
  bool Fresh(const std::string& key) const;

  ManifestStore& store_;
  const Upstream parent_;
  const FetchContext fetch_;
  UpstreamHealth& health_;
  MetricsRegistry& metrics_;
  const ManifestCacheOptions options_;

  mutable std::mutex mu_;
  std::map<std::string, std::chrono::steady_clock::time_point, std::less<>> fetched_;
};

// Served manifests by freshness: {state="fresh"|"fetched"|"stale"}.
inline constexpr std::string_view kManifestLookupsTotal = "mei_cache_manifest_lookups_total";

}  // namespace mei::cache_node
