// BlockFiller: fills a cache node's missing blocks from its upstreams, one fetch per block however
// many ask for it (docs/ARCHITECTURE.md, "Cache node internals").
//
// Coalescing: the first request for a missing block starts a fill on the filler's own threads and
// records it in a table of fills under way; later requests for the same block find it there and
// wait for the same outcome. A waiter that goes away (its client disconnected) does not cancel the
// fill, so the block is stored for the next request; a failed fill wakes every waiter with the
// error. The entry leaves the table only after the block is stored and indexed, so a request that
// arrives afterwards finds the block in the store.
//
// A fill tries the upstreams in the order the node gives for the block (the peers the plan says
// hold it, then the parent). Each answer is verified (common/http/data_plane_client.h: decodes
// to its raw size, SHA-256 equals the id); a block that fails is counted and never stored, and the
// next upstream is tried. Room is made through the block index (eviction) before the frame is
// written.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache-node/block_index.h"
#include "cache-node/upstream.h"
#include "common/block_id.h"
#include "common/errc.h"
#include "common/metrics.h"
#include "common/store.h"

namespace mei::cache_node {

struct FillOptions {
  std::size_t concurrency = 8;     // fills running at once
  std::size_t max_in_flight = 64;  // read-ahead hints beyond this many fills under way are dropped
  FetchContext fetch;              // client id and timeouts for upstream requests
};

class BlockFiller {
 public:
  // The upstreams to try for a block, in order. Called on the filler's threads; thread-safe.
  using UpstreamOrder = std::function<std::vector<Upstream>(const BlockId&)>;

  // REQUIRES: every reference outlives the filler.
  BlockFiller(BlockStore& blocks, BlockIndex& index, UpstreamHealth& health,
              MetricsRegistry& metrics, UpstreamOrder order, FillOptions options);
  // Lets fills under way finish (bounded by the fetch timeouts); queued ones fail at once.
  ~BlockFiller();

  BlockFiller(const BlockFiller&) = delete;
  BlockFiller& operator=(const BlockFiller&) = delete;

  // Blocks until `id` is stored: filled now, or by a fill already under way. Returns the upstream
  // that filled it, or "" at once when the index already has the block (the caller's read may
  // have missed it: BlockIndex::Reconcile settles which is true). Errors: kBlockNotFound when no
  // upstream has it, kUpstreamFailed / kUpstreamTimeout when upstreams failed (the last failure's),
  // kStoreFull when no room can be made. Thread-safe.
  [[nodiscard]] Result<std::string> Fill(const BlockId& id);

  // Starts fills for those of `ids` that are neither stored nor being filled, without waiting,
  // while fewer than max_in_flight fills are under way (the rest of the hint is dropped: the
  // request that needs them fills them). Thread-safe.
  void Prefetch(std::span<const BlockId> ids);

  // Fills under way or queued now. Thread-safe.
  std::size_t in_flight() const;

 private:
  using Outcome = Result<std::string>;
  struct Pending {
    std::promise<Outcome> promise;
    std::shared_future<Outcome> outcome = promise.get_future().share();
  };

  // Adds a fill for `id` to the table and queues it. REQUIRES: mu_ held, id not in the table.
  std::shared_ptr<Pending> StartLocked(const BlockId& id);
  Outcome Run(const BlockId& id);
  // Stores a verified frame: makes room, writes, indexes.
  Result<void> Store(const BlockId& id, const std::vector<std::byte>& frame);

  BlockStore& blocks_;
  BlockIndex& index_;
  UpstreamHealth& health_;
  MetricsRegistry& metrics_;
  const UpstreamOrder order_;
  const FillOptions options_;

  mutable std::mutex mu_;
  std::unordered_map<BlockId, std::shared_ptr<Pending>> in_flight_;
  bool stopping_ = false;
  boost::asio::thread_pool pool_;  // last: joined first
};

}  // namespace mei::cache_node
