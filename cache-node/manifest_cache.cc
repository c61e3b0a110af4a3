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

boost::asio::awaitable<Result<std::shared_ptr<const Manifest>>> ManifestCache::Get(
    std::string model, std::string revision) {
  const std::string key = model + '@' + revision;
  if (IsCommitHex(revision) || Fresh(key)) {
    auto held = store_.GetShared(model, revision);
    if (held) {
      metrics_.Add(kManifestLookupsTotal, {{"state", "fresh"}});
      co_return held;
    }
    if (held.error().code != Errc::kModelNotFound && held.error().code != Errc::kRevisionNotFound) {
      co_return held.error();
    }
  }

  auto fetched = co_await http::FetchManifestAsync(parent_, model, revision, fetch_);
  if (fetched) {
    health_.Record(parent_.name, {});
    if (auto put = store_.Put(*fetched); !put) co_return put.error();
    if (!IsCommitHex(revision)) {
      std::lock_guard lock(mu_);
      fetched_[key] = std::chrono::steady_clock::now();
    }
    metrics_.Add(kManifestLookupsTotal, {{"state", "fetched"}});
    co_return std::make_shared<const Manifest>(std::move(*fetched));
  }
  const Errc code = fetched.error().code;
  if (code == Errc::kModelNotFound || code == Errc::kRevisionNotFound) {
    health_.Record(parent_.name, {});
    co_return fetched.error();
  }
  health_.Record(parent_.name, fetched.error());
  // A manifest that does not check out is the parent failing (an error page served as 200, say):
  // the node answers from what it holds, or 502, never the client's fault (400).
  Error failure = fetched.error();
  if (code == Errc::kBadManifest) failure.code = Errc::kUpstreamFailed;
  if (failure.code != Errc::kUpstreamFailed && failure.code != Errc::kUpstreamTimeout) {
    co_return failure;
  }
  auto stale = store_.GetShared(model, revision);
  if (!stale) co_return failure;
  metrics_.Add(kManifestLookupsTotal, {{"state", "stale"}});
  co_return stale;
}

boost::asio::awaitable<Result<std::vector<ManifestStore::RevisionEntry>>> ManifestCache::List()
    const {
  auto listed = co_await http::FetchModelListAsync(parent_, fetch_);
  health_.Record(parent_.name, listed ? Result<void>{} : Result<void>{listed.error()});
  if (listed) co_return listed;
  co_return store_.List();
}

bool ManifestCache::Fresh(const std::string& key) const {
  std::lock_guard lock(mu_);
  const auto found = fetched_.find(key);
  return found != fetched_.end() &&
         std::chrono::steady_clock::now() - found->second < options_.revision_ttl;
}

}  // namespace mei::cache_node
