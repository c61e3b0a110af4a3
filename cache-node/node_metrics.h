// The cache node's own Prometheus metrics (besides the HTTP server's, common/http/data_plane.h).
// Names are constants so that code and tests agree on them.
#pragma once

#include <string_view>

#include "common/metrics.h"

namespace mei::cache_node {

// Content requests by X-Cache result: {result="hit"|"miss"|"partial"}.
inline constexpr std::string_view kCacheRequestsTotal = "mei_cache_requests_total";
// Block bytes received from upstreams (stored frames, as they travelled): {upstream}.
inline constexpr std::string_view kUpstreamBytesTotal = "mei_cache_upstream_bytes_total";
// Block fetches from upstreams by outcome: {upstream, result="ok"|"not_found"|"integrity"|"error"}.
inline constexpr std::string_view kUpstreamFetchesTotal = "mei_cache_upstream_fetches_total";
// Each upstream's circuit (cache-node/upstream.h): {upstream}. The state is 0 closed, 1 open,
// 2 half-open; skips are requests that left the upstream out while its circuit was not closed.
inline constexpr std::string_view kUpstreamCircuitState = "mei_cache_upstream_circuit_state";
inline constexpr std::string_view kUpstreamCircuitOpensTotal =
    "mei_cache_upstream_circuit_opens_total";
inline constexpr std::string_view kUpstreamSkipsTotal = "mei_cache_upstream_skips_total";
// Requests for a block that joined a fill already under way instead of starting one.
inline constexpr std::string_view kCoalescedWaitersTotal = "mei_cache_coalesced_waiters_total";
// Blocks from an upstream that did not decode to their raw size or whose SHA-256 was not their id
// (never stored): {upstream}.
inline constexpr std::string_view kIntegrityFailuresTotal = "mei_cache_integrity_failures_total";
// Time to fill one block, from the first upstream tried to the block stored: {upstream}.
inline constexpr std::string_view kFillSeconds = "mei_cache_fill_duration_seconds";
// Fills that failed, on every upstream or when storing the block: {code}.
inline constexpr std::string_view kFillFailuresTotal = "mei_cache_fill_failures_total";
// Segment bytes given back by BlockStore::Compact (rewriting the live frames of partly evicted
// segments), net of the bytes rewritten.
inline constexpr std::string_view kCompactionReclaimedBytesTotal =
    "mei_cache_store_compaction_reclaimed_bytes_total";
// Read at render time from the block index.
inline constexpr std::string_view kEvictionsTotal = "mei_cache_evictions_total";
inline constexpr std::string_view kEvictedBytesTotal = "mei_cache_evicted_bytes_total";
inline constexpr std::string_view kStoreUsedBytes = "mei_cache_store_used_bytes";
inline constexpr std::string_view kStoreCapacityBytes = "mei_cache_store_capacity_bytes";
inline constexpr std::string_view kStoreBlocks = "mei_cache_store_blocks";

// Declares the counters and histograms above (the callback gauges are set where their source
// lives). Idempotent.
void DeclareNodeMetrics(MetricsRegistry& metrics);

}  // namespace mei::cache_node
