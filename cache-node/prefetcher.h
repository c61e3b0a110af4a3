// Prefetcher: fills whole model revisions in the background (operator prefetch, and the models a
// new plan assigns to the node), one job at a time, at most rate_bytes_per_second so that it does
// not crowd out devices' downloads. Jobs and their progress are reported in the admin status.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cache-node/block_filler.h"
#include "cache-node/block_index.h"
#include "cache-node/manifest_cache.h"

namespace mei::cache_node {

struct PrefetchJob {
  std::string model;
  std::string revision;
  std::string state = "queued";  // queued | running | done | failed | cancelled
  std::string commit;
  std::uint64_t blocks_total = 0;
  std::uint64_t blocks_done = 0;    // held now, fetched or found
  std::uint64_t bytes_fetched = 0;  // raw bytes of the blocks this job fetched
  std::string error;
};

class Prefetcher {
 public:
  // 0 means no limit. REQUIRES: every reference outlives the prefetcher.
  Prefetcher(ManifestCache& manifests, BlockIndex& index, BlockFiller& filler,
             std::uint64_t rate_bytes_per_second);
  ~Prefetcher();  // cancels queued jobs, finishes the current block, joins

  // Queues model@revision unless the same job is already queued or running.
  void Enqueue(std::string model, std::string revision);

  // Recent jobs, oldest first (the last 64 finished ones and every pending one).
  std::vector<PrefetchJob> Jobs() const;

  // Blocks until no job is queued or running (for tests and a clean --once run).
  void WaitIdle();

 private:
  void Run();
  void RunJob(std::size_t index);
  // Waits until `bytes` fetched since `started` are within the rate limit, unless stopping.
  void Pace(std::uint64_t bytes, std::chrono::steady_clock::time_point started);

  ManifestCache& manifests_;
  BlockIndex& index_;
  BlockFiller& filler_;
  const std::uint64_t rate_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<PrefetchJob> jobs_;  // finished ones first, then running, then queued
  bool busy_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: started after everything else
};

}  // namespace mei::cache_node
