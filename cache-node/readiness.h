// Readiness: whether a cache node can answer its clients, for GET /readyz (and so for the
// readiness probe of the Helm chart, which takes a node out of its Service while it is not).
//
// A node is ready when its store is open and readable, and either its parent's last answer was a
// success no older than three health intervals (a probe starts an interval after the last one
// ended and may take an interval), or the node holds every block its placement plan
// pins: a node that can serve its planned models without the parent stays in service. A node
// without a plan (or with an empty one) needs its parent.
//
// The parent is asked GET /healthz once per health interval on a thread of the Readiness's own, so
// a parent that goes away is noticed within one interval even when no request needs it; fills and
// manifest fetches from the parent count as well (UpstreamHealth, under "parent").
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "cache-node/block_index.h"
#include "cache-node/upstream.h"
#include "common/errc.h"
#include "common/store.h"

namespace mei::cache_node {

struct ReadinessOptions {
  // How often the parent is probed; its last success may be at most three times this old.
  std::chrono::milliseconds health_interval{5'000};
  // The probe's client: connect timeout and X-Mei-Client. Its deadline is the health interval.
  FetchContext fetch;
};

// Thread-safe. Probes from construction until destruction.
class Readiness {
 public:
  // REQUIRES: every reference outlives this; 0 < health_interval <= 1 hour.
  Readiness(const Store& store, const BlockIndex& index, UpstreamHealth& health, Upstream parent,
            ReadinessOptions options);
  // Stops probing; waits for a probe under way (at most one health interval).
  ~Readiness();

  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;

  // Success when ready; otherwise kStorage when the store cannot be read, or kUpstreamFailed
  // saying what the parent last did and how much of the plan is held.
  [[nodiscard]] Result<void> Check() const;

 private:
  void Probe();
  void RunProber();

  const Store& store_;
  const BlockIndex& index_;
  UpstreamHealth& health_;
  const Upstream parent_;
  const ReadinessOptions options_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread prober_;  // last: started once the rest is set
};

}  // namespace mei::cache_node
