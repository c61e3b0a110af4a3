#include "cache-node/node_metrics.h"

#include <string>

namespace mei::cache_node {

void DeclareNodeMetrics(MetricsRegistry& metrics) {
  metrics.Declare(std::string(kCacheRequestsTotal), MetricType::kCounter,
                  "Content requests by cache result (hit, miss, partial).");
  metrics.Declare(std::string(kUpstreamBytesTotal), MetricType::kCounter,
                  "Block bytes received from each upstream, as they travelled.");
  metrics.Declare(std::string(kUpstreamFetchesTotal), MetricType::kCounter,
                  "Block fetches from upstreams, by upstream and result.");
  metrics.Declare(std::string(kUpstreamCircuitState), MetricType::kGauge,
                  "State of each upstream's circuit: 0 closed, 1 open, 2 half-open (probing).");
  metrics.Declare(
      std::string(kUpstreamCircuitOpensTotal), MetricType::kCounter,
      "Times each upstream's circuit opened after failures in a row or a failed probe.");
  metrics.Declare(std::string(kUpstreamSkipsTotal), MetricType::kCounter,
                  "Requests that left an upstream out because its circuit was not closed.");
  metrics.Declare(std::string(kCoalescedWaitersTotal), MetricType::kCounter,
                  "Block requests that joined a fill already under way.");
  metrics.Declare(std::string(kIntegrityFailuresTotal), MetricType::kCounter,
                  "Blocks from an upstream whose SHA-256 did not match their id.");
  metrics.Declare(std::string(kFillSeconds), MetricType::kHistogram,
                  "Time to fill one block from upstreams, by the upstream that served it.");
  metrics.Declare(std::string(kFillFailuresTotal), MetricType::kCounter,
                  "Block fills that failed on every upstream, by error code.");
  metrics.Declare(std::string(kCompactionReclaimedBytesTotal), MetricType::kCounter,
                  "Disk bytes given back by compacting partly evicted segments, net of the bytes "
                  "rewritten.");
}

}  // namespace mei::cache_node
