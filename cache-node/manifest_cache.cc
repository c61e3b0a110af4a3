#include "cache-node/manifest_cache.h"

#include <utility>

namespace mei::cache_node {
ManifestCache::ManifestCache(ManifestStore& store, Upstream parent, FetchContext fetch,
                             UpstreamHealth& health, MetricsRegistry& metrics,
                             ManifestCacheOptions options)
    : store_(store),
      parent_(std::move(parent)),
      fetch_(std::move(fetch)),
      health_(health),
      metrics_(metrics),
      options_(options) {
  metrics_.Declare(std::string(kManifestLookupsTotal), MetricType::kCounter,
                   "Manifest lookups by how they were answered: fresh from the node, fetched "
                   "from the parent, or stale because the parent could not be reached.");
}

Result<Manifest> ManifestCache::Get(std::string_view model, std::string_view revision) {
  const std::string key = std::string(model) + '@' + std::string(revision);
  if (IsCommitHex(revision) || Fresh(key)) {
    auto held = store_.Get(model, revision);
    if (held) {
      metrics_.Add(kManifestLookupsTotal, {{"state", "fresh"}});
      return held;
    }
    if (held.error().code != Errc::kModelNotFound && held.error().code != Errc::kRevisionNotFound) {
      return held.error();
    }
  }

  auto fetched = FetchManifest(parent_, model, revision, fetch_);
  if (fetched) {
    health_.Record(parent_.name, {});
    if (auto put = store_.Put(*fetched); !put) return put.error();
    if (!IsCommitHex(revision)) {
      std::lock_guard lock(mu_);
      fetched_[key] = std::chrono::steady_clock::now();
    }
    metrics_.Add(kManifestLookupsTotal, {{"state", "fetched"}});
    return fetched;
  }
  const Errc code = fetched.error().code;
  if (code == Errc::kModelNotFound || code == Errc::kRevisionNotFound) {
    health_.Record(parent_.name, {});
    return fetched.error();
  }
  health_.Record(parent_.name, fetched.error());
  // A manifest that does not check out is the parent failing (an error page served as 200, say):
  // the node answers from what it holds, or 502, never the client's fault (400).
  Error failure = fetched.error();
  if (code == Errc::kBadManifest) failure.code = Errc::kUpstreamFailed;
  if (failure.code != Errc::kUpstreamFailed && failure.code != Errc::kUpstreamTimeout) {
    return failure;
  }
  auto stale = store_.Get(model, revision);
  if (!stale) return failure;
  metrics_.Add(kManifestLookupsTotal, {{"state", "stale"}});
  return stale;
}

Result<std::vector<ManifestStore::RevisionEntry>> ManifestCache::List() const {
  auto listed = FetchModelList(parent_, fetch_);
  health_.Record(parent_.name, listed ? Result<void>{} : Result<void>{listed.error()});
  if (listed) return listed;
  return store_.List();
}

bool ManifestCache::Fresh(const std::string& key) const {
  std::lock_guard lock(mu_);
  const auto found = fetched_.find(key);
  return found != fetched_.end() &&
         std::chrono::steady_clock::now() - found->second < options_.revision_ttl;
}

}  // namespace mei::cache_node
