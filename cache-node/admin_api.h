// AdminApi: the cache node's operator API, served on its own listener (docs/ARCHITECTURE.md,
// "Admin APIs").
//
//   GET  /admin/v1/status     capacity, use, hit ratio, models held and how complete, upstream
//                             health and circuits, prefetch jobs, plan
//   GET  /admin/v1/blocks     every indexed block with its metadata
//   GET  /admin/v1/models     every model revision the node knows, with how much of it is held
//   POST /admin/v1/prefetch   {"model", "revision"}: fill a revision in the background (202)
//   POST /admin/v1/pin        {"model", "revision"} or {"blocks": [ids]}: never evict these
//   POST /admin/v1/unpin      the same, undone
//   POST /admin/v1/purge      {"model", "revision"} or {"blocks": [ids]}: delete what is not
//                             pinned (a model's blocks that another known model uses are kept)
//   PUT  /admin/v1/plan       a mei.plan.v1 document: replaces the plan pins with this node's
//                             blocks (operator pins stay), prefetches its models
//   GET  /admin/v1/plan       the plan in force (404 when none)
//   GET  /admin/v1/trace?since=T   access-log lines from T on (RFC 3339 or Unix seconds),
//                             application/x-ndjson
//
// Every request needs "Authorization: Bearer <token>" (401 otherwise, compared in constant time).
// Errors are JSON {"error", "message"} as on the data plane. Thread-safe.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "cache-node/access_log.h"
#include "cache-node/block_filler.h"
#include "cache-node/block_index.h"
#include "cache-node/manifest_cache.h"
#include "cache-node/plan_state.h"
#include "cache-node/prefetcher.h"
#include "cache-node/upstream.h"
#include "common/http/admin_auth.h"
#include "common/http/message.h"
#include "common/store.h"

namespace mei::cache_node {

// Content requests by X-Cache result, counted by the node's exchange observer.
struct CacheCounters {
  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> misses{0};
  std::atomic<std::uint64_t> partials{0};
};

// What the admin API reads and acts on. Every reference must outlive the AdminApi.
struct AdminContext {
  std::string node_id;
  Store& store;
  BlockIndex& index;
  BlockFiller& filler;
  ManifestCache& manifests;
  PlanState& plan;
  Prefetcher& prefetcher;
  UpstreamHealth& health;
  std::vector<Upstream> upstreams;  // parent and static peers, for the status
  AccessLog& access_log;
  const CacheCounters& counters;
  // Called after the plan or the set of known models changed (the node recomputes the sharing
  // policy's per-block model counts).
  std::function<void()> models_changed;
};

class AdminApi {
 public:
  AdminApi(AdminContext context, http::AdminAuth auth);

  // Answers one admin request: a coroutine for the server's AsyncHandler (pin, unpin and purge by
  // model may wait for the manifest from the parent, holding no thread); may block on store reads.
  // `request` outlives it. Thread-safe.
  [[nodiscard]] boost::asio::awaitable<http::Reply> Handle(const http::Request& request);

  // Applies a plan as PUT /admin/v1/plan does, without persisting it (at start, from the store).
  void Apply(Plan plan);

 private:
  // Every route but POST pin, unpin and purge; `name` as http::AdminRoute gave it.
  http::Reply HandleOther(const http::Request& request, const std::string& name);

  AdminContext context_;
  http::AdminAuth auth_;
  std::mutex plan_mu_;  // a plan is saved and applied as one step
};

}  // namespace mei::cache_node
