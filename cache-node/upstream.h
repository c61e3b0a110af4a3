// Upstreams: where a cache node fills what it lacks (its parent, an origin or a regional node, and
// the peers a placement plan names), the two fetches it makes from them, and their health.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/block_id.h"
#include "common/errc.h"
#include "common/http/client.h"
#include "common/manifest.h"
#include "common/store.h"

namespace mei::cache_node {

// One node to fill from, by its data-plane base URL.
struct Upstream {
  std::string name;      // "parent" or "peer:<node id>": a label for metrics and the access log
  std::string base_url;  // "http://127.0.0.1:8088", no trailing '/'
};

// What a fetch sends besides the request itself.
struct FetchContext {
  std::string client_id;  // X-Mei-Client: the fetching node's id, for the upstream's access log
  http::ClientOptions client;
};

// GET /v1/blocks/{id} asking for the stored codings, so a compressed block travels compressed and
// is stored as it came; returns the frame to store. The block is verified: the payload decodes to
// exactly the announced raw size and the SHA-256 of the raw bytes is `id` (kIntegrity otherwise,
// and nothing is returned). kBlockNotFound on a 404; kUpstreamFailed / kUpstreamTimeout for
// other failures. Blocking; thread-safe.
[[nodiscard]] Result<std::vector<std::byte>> FetchBlockFrame(const Upstream& upstream,
                                                             const BlockId& id,
                                                             const FetchContext& context);

// GET /v1/models/{model}/revisions/{revision}/manifest, parsed and checked (ParseManifest checks
// the commit). kModelNotFound / kRevisionNotFound as the upstream says; kBadManifest for a reply
// that does not parse, or a commit other than the one asked for. Blocking; thread-safe.
[[nodiscard]] Result<Manifest> FetchManifest(const Upstream& upstream, std::string_view model,
                                             std::string_view revision,
                                             const FetchContext& context);

// GET /v1/models: every (model, revision, commit) the upstream knows, sorted as ManifestStore::List
// sorts. kUpstreamFailed for a reply that is not the expected JSON. Blocking; thread-safe.
[[nodiscard]] Result<std::vector<ManifestStore::RevisionEntry>> FetchModelList(
    const Upstream& upstream, const FetchContext& context);

// How each upstream has been doing, for the admin status and /readyz. Thread-safe.
class UpstreamHealth {
 public:
  struct Entry {
    std::uint64_t successes = 0;
    std::uint64_t failures = 0;
    std::uint64_t consecutive_failures = 0;
    std::string last_error;  // one sentence, "" when the last fetch worked
    std::chrono::system_clock::time_point last_success{};
    std::chrono::system_clock::time_point last_failure{};
  };

  // A fetch from `upstream` worked or failed. A 404 is not a failure of the upstream.
  void Record(const std::string& upstream, const Result<void>& outcome);

  // Every upstream seen, by name.
  std::map<std::string, Entry> Snapshot() const;

  // False once `upstream` failed at least `threshold` times in a row.
  bool Reachable(const std::string& upstream, std::uint64_t threshold = 3) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace mei::cache_node
