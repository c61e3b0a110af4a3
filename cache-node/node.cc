#include "cache-node/node.h"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "cache-node/admin_api.h"
#include "cache-node/block_filler.h"
#include "cache-node/manifest_cache.h"
#include "cache-node/node_content.h"
#include "cache-node/node_metrics.h"
#include "cache-node/plan_state.h"
#include "cache-node/prefetcher.h"
#include "cache-node/readiness.h"
#include "cache-node/upstream.h"
#include "common/http/admin_auth.h"
#include "common/http/data_plane.h"
#include "common/metrics.h"
#include "common/plan.h"
#include "common/store.h"

namespace mei::cache_node {
namespace {

CircuitOptions CircuitOf(const NodeOptions& options) {
  return CircuitOptions{
      .failure_threshold = options.circuit_failures,
      .backoff = options.circuit_backoff,
      .max_backoff = options.circuit_max_backoff,
      .jitter = options.circuit_jitter,
      .probe_timeout = options.upstream_connect_timeout + options.upstream_timeout};
}

}  // namespace

// Everything the node is made of, declared in the order it is built: destroyed in reverse, after
// ~Parts has stopped the listeners and the background threads.
struct CacheNode::Parts {
  explicit Parts(NodeOptions node_options)
      : options(std::move(node_options)),
        health(CircuitOf(options), &metrics),
        plan(options.node_id, options.peers) {}
  ~Parts() {
    Drain();
    prefetcher.reset();
    StopFlusher();
    filler.reset();
    if (index) (void)index->Flush();
  }

  void Drain() {
    std::call_once(drained, [this] {
      if (data_server) data_server->Drain();
      if (admin_server) admin_server->Drain();
    });
  }

  void StopFlusher() {
    {
      std::lock_guard lock(flush_mu);
      stopping = true;
    }
    flush_cv.notify_all();
    if (flusher.joinable()) flusher.join();
  }

  // The peers the plan names for a block, then the parent.
  std::vector<Upstream> UpstreamsFor(const BlockId& id) const {
    std::vector<Upstream> upstreams = plan.PeersFor(id);
    upstreams.push_back(parent);
    return upstreams;
  }

  // The sharing policy values a block by how many known models use it.
  void RecountModelUse() {
    if (options.capacity.policy != EvictionPolicy::kSharing) return;
    auto revisions = store.manifests->List();
    if (!revisions) return;
    std::unordered_map<BlockId, std::uint32_t> use;
    std::unordered_set<std::string> commits;
    for (const ManifestStore::RevisionEntry& entry : *revisions) {
      if (!commits.insert(entry.commit).second) continue;
      auto manifest = store.manifests->Get(entry.model, entry.commit);
      if (!manifest) continue;
      std::unordered_set<BlockId> in_model;
      for (const ManifestFile& file : manifest->files) {
        for (const ManifestBlock& block : file.blocks) {
          if (in_model.insert(block.id).second) ++use[block.id];
        }
      }
    }
    index->SetModelUse(std::move(use));
  }

  void RunFlusher() {
    std::unique_lock lock(flush_mu);
    while (!stopping) {
      flush_cv.wait_for(lock, options.flush_interval, [&] { return stopping; });
      lock.unlock();
      (void)index->Flush();
      RecountModelUse();
      // Evictions leave holes in segments that keep live blocks; give that space back.
      if (auto reclaimed = store.blocks->Compact(); reclaimed && *reclaimed > 0) {
        metrics.Add(kCompactionReclaimedBytesTotal, {}, static_cast<double>(*reclaimed));
      }
      lock.lock();
    }
  }

  void Observe(const http::Exchange& exchange) {
    RecordExchange(metrics, exchange);
    if (exchange.facts == nullptr || exchange.request == nullptr) return;
    const http::ReplyFacts& facts = *exchange.facts;
    if (facts.cache == "HIT") {
      ++counters.hits;
      metrics.Add(kCacheRequestsTotal, {{"result", "hit"}});
    } else if (facts.cache == "MISS") {
      ++counters.misses;
      metrics.Add(kCacheRequestsTotal, {{"result", "miss"}});
    } else if (facts.cache == "PARTIAL") {
      ++counters.partials;
      metrics.Add(kCacheRequestsTotal, {{"result", "partial"}});
    }
    AccessRecord record;
    record.time = std::chrono::system_clock::now();
    record.node = options.node_id;
    const std::string_view peer = exchange.request->peer;
    record.client = std::string(
        exchange.request->Find("X-Mei-Client")
            .value_or(peer.substr(
                0, peer.rfind(':') == std::string_view::npos ? peer.size() : peer.rfind(':'))));
    record.route = exchange.route;
    record.model = facts.model;
    record.revision = facts.revision;
    record.commit = facts.commit;
    record.path = facts.path;
    record.block = facts.block;
    record.bytes = exchange.bytes_sent;
    record.status = exchange.status;
    record.cache = facts.cache;
    record.upstream = facts.upstream;
    record.duration_ms = exchange.seconds * 1000.0;
    access_log->Write(record);
  }

  NodeOptions options;
  MetricsRegistry metrics;
  Store store;
  std::unique_ptr<BlockIndex> index;
  UpstreamHealth health;
  PlanState plan;
  Upstream parent;
  CacheCounters counters;
  std::unique_ptr<AccessLog> access_log;
  std::unique_ptr<BlockFiller> filler;
  std::unique_ptr<Readiness> readiness;
  std::unique_ptr<ManifestCache> manifests;
  std::unique_ptr<NodeContent> content;
  std::unique_ptr<DataPlane> data_plane;
  std::unique_ptr<Prefetcher> prefetcher;
  std::unique_ptr<AdminApi> admin;
  std::unique_ptr<http::Server> data_server;
  std::unique_ptr<http::Server> admin_server;

  std::mutex flush_mu;
  std::condition_variable flush_cv;
  bool stopping = false;
  std::thread flusher;
  std::once_flag drained;
};

Result<void> CheckNodeOptions(const NodeOptions& options) {
  if (options.node_id.empty()) return Error{Errc::kBadRequest, "--node-id must not be empty"};
  if (options.admin_token.empty()) {
    return Error{Errc::kBadRequest, "the admin token must not be empty"};
  }
  if (options.capacity.capacity_bytes == 0) {
    return Error{Errc::kBadRequest, "--capacity must be more than 0 bytes"};
  }
  if (options.health_interval <= std::chrono::milliseconds(0) ||
      options.health_interval > std::chrono::hours(1)) {
    return Error{Errc::kBadRequest, "--health-interval-ms must be more than 0 and at most 1 hour"};
  }
  if (auto circuit = CheckCircuitOptions(CircuitOf(options)); !circuit) return circuit.error();
  if (auto url = http::ParseHttpUrl(options.parent_url); !url) {
    return Error{Errc::kBadRequest, "--parent: " + url.error().message};
  }
  for (const auto& [id, url] : options.peers) {
    if (auto parsed = http::ParseHttpUrl(url); !parsed) {
      return Error{Errc::kBadRequest, "--peer " + id + ": " + parsed.error().message};
    }
  }
  return {};
}

namespace {

std::string TrimSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

CacheNode::CacheNode(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

CacheNode::~CacheNode() = default;

Result<std::unique_ptr<CacheNode>> CacheNode::Start(NodeOptions options) {
  if (auto valid = CheckNodeOptions(options); !valid) return valid.error();
  auto parts = std::make_unique<Parts>(std::move(options));
  Parts& p = *parts;
  const NodeOptions& o = p.options;
  DeclareNodeMetrics(p.metrics);

  StoreOptions store_options;
  store_options.log_block_writes = false;  // a crash loses only blocks that can be filled again
  store_options.block_memtable_bytes = 16ull << 20;  // at most two: 32 MiB of the memory budget
  store_options.block_cache_bytes = 16ull << 20;     // index and metadata; frames are in segments
  // Holes in the active segment wait until it is full and compacted: segments of a sixteenth of
  // the capacity bound that slack (4 to 256 MiB).
  store_options.segment_bytes =
      std::clamp<std::uint64_t>(o.capacity.capacity_bytes / 16, 4ull << 20, 256ull << 20);
  auto store = OpenStore(o.store_dir, store_options);
  if (!store) return store.error();
  // Dropped blocks are simply not held any more: the next request fills them again.
  if (const std::string repaired = DescribeRecovery(store->blocks->recovery()); !repaired.empty()) {
    fmt::print(stderr, "mei-cache-node: {}\n", repaired);
  }
  p.store = std::move(*store);
  auto index = BlockIndex::Open(*p.store.blocks, *p.store.plan, o.capacity);
  if (!index) return index.error();
  p.index = std::move(*index);
  BlockIndex& index_ref = *p.index;
  p.metrics.SetCallback(std::string(kEvictionsTotal), MetricType::kCounter,
                        "Blocks evicted to stay under capacity.",
                        [&index_ref] { return static_cast<double>(index_ref.stats().evictions); });
  p.metrics.SetCallback(
      std::string(kEvictedBytesTotal), MetricType::kCounter, "Stored bytes evicted.",
      [&index_ref] { return static_cast<double>(index_ref.stats().evicted_bytes); });
  p.metrics.SetCallbackGauge(std::string(kStoreUsedBytes), "Stored bytes in use.", [&index_ref] {
    return static_cast<double>(index_ref.stats().used_bytes);
  });
  p.metrics.SetCallbackGauge(
      std::string(kStoreCapacityBytes), "Capacity of the store in bytes.",
      [&index_ref] { return static_cast<double>(index_ref.stats().capacity_bytes); });
  p.metrics.SetCallbackGauge(std::string(kStoreBlocks), "Blocks stored.", [&index_ref] {
    return static_cast<double>(index_ref.stats().blocks);
  });

  auto log = AccessLog::Open(o.access_log_dir.empty() ? o.store_dir / "logs" : o.access_log_dir,
                             o.access_log);
  if (!log) return log.error();
  p.access_log = std::move(*log);

  p.parent = Upstream{"parent", TrimSlash(o.parent_url)};
  FillOptions fill;
  fill.concurrency = o.fill_concurrency;
  fill.fetch.client_id = o.node_id;
  fill.fetch.client.connect_timeout = o.upstream_connect_timeout;
  fill.fetch.client.idle_timeout = o.upstream_timeout;
  fill.fetch.client.deadline = o.upstream_timeout;
  p.filler = std::make_unique<BlockFiller>(
      *p.store.blocks, *p.index, p.health, p.metrics,
      // An upstream whose circuit is open is left out; with all of them out, the fill fails.
      [&p](const BlockId& id) { return p.health.Admitted(p.UpstreamsFor(id)); }, fill);
  p.manifests = std::make_unique<ManifestCache>(*p.store.manifests, p.parent, fill.fetch, p.health,
                                                p.metrics, ManifestCacheOptions{o.revision_ttl});
  p.readiness = std::make_unique<Readiness>(
      p.store, *p.index, p.health, p.parent,
      ReadinessOptions{.health_interval = o.health_interval, .fetch = fill.fetch});
  p.content = std::make_unique<NodeContent>(
      *p.store.blocks, *p.index, *p.filler, *p.manifests,
      [&p](const BlockId& id) { return p.UpstreamsFor(id).front().name; },
      [&p] { return p.readiness->Check(); });
  p.data_plane =
      std::make_unique<DataPlane>(*p.content, p.metrics, DataPlaneOptions{.served_by = o.node_id});
  p.prefetcher = std::make_unique<Prefetcher>(*p.manifests, *p.index, *p.filler,
                                              o.prefetch_rate_bytes_per_second);

  std::vector<Upstream> upstreams = {p.parent};
  for (const auto& [id, url] : o.peers) upstreams.push_back({"peer:" + id, TrimSlash(url)});
  p.admin =
      std::make_unique<AdminApi>(AdminContext{.node_id = o.node_id,
                                              .store = p.store,
                                              .index = *p.index,
                                              .filler = *p.filler,
                                              .manifests = *p.manifests,
                                              .plan = p.plan,
                                              .prefetcher = *p.prefetcher,
                                              .health = p.health,
                                              .upstreams = std::move(upstreams),
                                              .access_log = *p.access_log,
                                              .counters = p.counters,
                                              .models_changed = [&p] { p.RecountModelUse(); }},
                                 http::AdminAuth(o.admin_token));

  // The plan in force before a restart: pins and prefetches as when it was put.
  auto stored_plan = p.store.plan->Get("plan");
  if (!stored_plan) return stored_plan.error();
  if (*stored_plan) {
    auto plan = ParsePlan(**stored_plan);
    if (!plan) {
      return Error{Errc::kStorage, "the stored plan does not parse: " + plan.error().message};
    }
    p.admin->Apply(std::move(*plan));
  } else {
    p.RecountModelUse();
  }

  p.flusher = std::thread([&p] { p.RunFlusher(); });

  auto data_server = http::Server::Start(
      o.data_server, [&p](const http::Request& request) { return p.data_plane->Handle(request); },
      [&p](const http::Exchange& exchange) { p.Observe(exchange); },
      [&p](const http::Request& request) { return p.data_plane->TryHandle(request); });
  if (!data_server) return data_server.error();
  p.data_server = std::move(*data_server);
  http::Server& data_ref = *p.data_server;
  p.metrics.SetCallbackGauge(
      "mei_http_open_connections", "Open data-plane connections.",
      [&data_ref] { return static_cast<double>(data_ref.open_connections()); });
  p.metrics.SetCallbackGauge("mei_cache_fills_in_flight",
                             "Block fills under way or queued for an upstream request.",
                             [&p] { return static_cast<double>(p.filler->in_flight()); });

  auto admin_server = http::Server::Start(
      o.admin_server, [&p](const http::Request& request) { return p.admin->Handle(request); },
      [&p](const http::Exchange& exchange) { RecordExchange(p.metrics, exchange); });
  if (!admin_server) return admin_server.error();
  p.admin_server = std::move(*admin_server);

  return std::unique_ptr<CacheNode>(new CacheNode(std::move(parts)));
}

std::string CacheNode::endpoint() const { return parts_->data_server->endpoint(); }

std::string CacheNode::admin_endpoint() const { return parts_->admin_server->endpoint(); }

void CacheNode::Drain() { parts_->Drain(); }

void CacheNode::Wait() { parts_->data_server->Wait(); }

}  // namespace mei::cache_node
