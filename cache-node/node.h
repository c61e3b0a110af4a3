// CacheNode: one edge cache at a base station, assembled (docs/ARCHITECTURE.md, "Cache node
// internals"): the RocksDB store and its block index, the filler and manifest cache behind the
// shared data plane, readiness, the admin API on its own listener, the prefetcher, metrics and the
// access log.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cache-node/access_log.h"
#include "cache-node/block_index.h"
#include "cache-node/upstream.h"
#include "common/errc.h"
#include "common/http/server.h"

namespace mei::cache_node {

struct NodeOptions {
  std::filesystem::path store_dir;
  std::string node_id;
  std::string parent_url;                    // http://HOST:PORT of the origin or a regional node
  std::map<std::string, std::string> peers;  // node id -> base URL (--peer ID=URL)
  CapacityOptions capacity;
  std::string admin_token;           // REQUIRES: non-empty
  http::ServerOptions data_server;   // listen, threads, limits of the data plane
  http::ServerOptions admin_server;  // the same for the admin listener
  std::chrono::milliseconds revision_ttl{60'000};
  std::chrono::milliseconds upstream_connect_timeout{5'000};
  // For one upstream request (a block, a manifest): no wait for the next bytes, and no whole
  // request, may take longer, so a parent that trickles a block fails as one that stalls does.
  std::chrono::milliseconds upstream_timeout{30'000};
  // Upstream circuits (cache-node/upstream.h): failures in a row that open one (0: never), the
  // first open period, its cap, and the jitter share. A probe's slot expires after the connect
  // timeout plus the upstream timeout.
  std::uint64_t circuit_failures = 3;
  std::chrono::milliseconds circuit_backoff{1'000};
  std::chrono::milliseconds circuit_max_backoff{60'000};
  double circuit_jitter = 0.2;
  std::size_t fill_concurrency = 64;  // upstream requests in flight for fills
  std::uint64_t prefetch_rate_bytes_per_second = 0;  // 0: unlimited
  std::filesystem::path access_log_dir;              // empty: <store_dir>/logs
  AccessLogOptions access_log;
  // Maintenance tick: block metadata persisted, the sharing policy's model counts recounted,
  // BlockStore::Compact run.
  std::chrono::milliseconds flush_interval{5'000};
  // The parent is probed this often for /readyz (cache-node/readiness.h).
  std::chrono::milliseconds health_interval{5'000};
};

// What Start() checks before it opens anything: a node id, a token, a capacity, a health interval
// of more than 0 and at most 1 hour, circuit settings CheckCircuitOptions takes, well-formed parent
// and peer URLs. kBadRequest naming the first problem.
[[nodiscard]] Result<void> CheckNodeOptions(const NodeOptions& options);

class CacheNode {
 public:
  // Opens the store, rebuilds the index, applies the stored plan, starts both listeners.
  // kBadRequest for inconsistent options, kStorage / kIo when the store or a listener cannot be
  // opened.
  [[nodiscard]] static Result<std::unique_ptr<CacheNode>> Start(NodeOptions options);
  ~CacheNode();  // Drain(), then closes everything in order

  std::string endpoint() const;        // data plane, "127.0.0.1:40123"
  std::string admin_endpoint() const;  // admin API

  // Stops both listeners after their in-flight responses. Idempotent; thread-safe. Prefetching,
  // the maintenance thread, readiness probes and the metadata flush stop in the destructor.
  void Drain();
  // Blocks until the data listener has drained.
  void Wait();

  struct Parts;

 private:
  explicit CacheNode(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace mei::cache_node
