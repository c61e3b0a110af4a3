// BlockFiller: fills a cache node's missing blocks from its upstreams, one fetch per block however
// many ask for it (docs/ARCHITECTURE.md, "Cache node internals").
//
// Coalescing: the first request for a missing block starts a fill and records it in a table of
// fills under way; later requests for the same block find it there and wait for the same outcome.
// A waiter that goes away (its client disconnected) does not cancel the fill, so the block is
// stored for the next request; a failed fill wakes every waiter with the error. The entry leaves
// the table only after the block is stored and indexed, so a request that arrives afterwards finds
// the block in the store.
//
// Nothing waits on a thread: a fill is a coroutine whose upstream requests run on Asio
// (http::FetchBlockAsync: kept-alive connections per upstream, deadlines per step), and a
// request that waits for a fill is a coroutine suspended on its outcome (OneShot), or, with
// Stream, on the fill's progress: it reads the block's bytes as they arrive (cut-through,
// cache-node/fill_progress.h), and gets the last one once the block is verified. At most
// `concurrency` fills run at once (each one upstream request in flight); more are queued in the
// order they were asked for. The filler's few threads only take answers off the sockets
// (copying and hashing them as they come); a thread of its own writes verified blocks to the
// store, so that no socket waits for the disk.
//
// A fill tries the upstreams in the order the node gives for the block (the peers the plan says
// hold it, then the parent). Each answer is verified (common/http/received_block.h: decodes to
// its raw size, SHA-256 equals the id); a block that fails is counted and never stored, and the
// next upstream is tried. Room is made through the block index (eviction) before the frame is
// written.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache-node/block_index.h"
#include "cache-node/fill_progress.h"
#include "cache-node/upstream.h"
#include "common/block_id.h"
#include "common/errc.h"
#include "common/metrics.h"
#include "common/one_shot.h"
#include "common/store.h"

namespace mei::cache_node {

struct FillOptions {
  std::size_t concurrency = 64;    // fills running at once (upstream requests in flight)
  std::size_t max_in_flight = 64;  // read-ahead hints beyond this many fills under way are dropped
  unsigned threads = 2;            // take answers off the sockets and verify them
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

  // Suspends the calling coroutine until `id` is stored: filled now, or by a fill already under
  // way. Returns the upstream that filled it, or "" at once when the index already has the block
  // (the caller's read may have missed it: BlockIndex::Reconcile settles which is true). Errors:
  // kBlockNotFound when no upstream has it, kUpstreamFailed / kUpstreamTimeout when upstreams
  // failed (the last failure's), kStoreFull when no room can be made, kOverloaded once the filler
  // is shutting down. Thread-safe.
  [[nodiscard]] boost::asio::awaitable<Result<std::string>> Fill(BlockId id);

  // Fill for a plain thread (the prefetcher's), which it blocks. Thread-safe.
  [[nodiscard]] Result<std::string> FillBlocking(const BlockId& id);

  // A reader of `id`'s bytes as its fill (started now, or already under way) receives them; null
  // when the index already has the block (read it from the store). Thread-safe.
  [[nodiscard]] std::unique_ptr<BlockReader> Stream(const BlockId& id);

  // A reader of `id`'s fill, which starts now unless it is under way: Prefetch of one block that
  // hands back a reader. Null when the index has the block, or when max_in_flight fills are under
  // way and none of them is this block's. Thread-safe.
  [[nodiscard]] std::unique_ptr<BlockReader> StreamAhead(const BlockId& id);

  // Starts fills for those of `ids` that are neither stored nor being filled, without waiting,
  // while fewer than max_in_flight fills are under way (the rest of the hint is dropped: the
  // request that needs them fills them). Thread-safe.
  void Prefetch(std::span<const BlockId> ids);

  // Fills under way or queued now. Thread-safe.
  std::size_t in_flight() const;

 private:
  using Outcome = Result<std::string>;
  // A fill under way or queued: its outcome, and its bytes as they arrive.
  struct Pending {
    explicit Pending(const BlockId& id) : progress(std::make_shared<FillProgress>(id)) {}
    // Ends the fill for everyone: readers that found no good copy, and waiters for the outcome.
    void Finish(Outcome result);

    OneShot<Outcome> outcome;
    const std::shared_ptr<FillProgress> progress;
  };

  // The fill of `id` under way (a new one when there is none), or null when the index has the
  // block. Counts a coalesced waiter.
  std::shared_ptr<Pending> Join(const BlockId& id);
  // The fill of `id` under way; else a new one, unless the index has the block, max_in_flight
  // fills are under way or the filler is stopping (null). REQUIRES: mu_ held.
  std::shared_ptr<Pending> AheadLocked(const BlockId& id);
  // Adds a fill for `id` to the table and starts or queues it. REQUIRES: mu_ held, id not in the
  // table.
  std::shared_ptr<Pending> StartLocked(const BlockId& id);
  // Runs the fill of `id` on a strand of the pool. REQUIRES: mu_ held.
  void LaunchLocked(const BlockId& id, std::shared_ptr<Pending> pending);
  boost::asio::awaitable<void> RunAndFinish(BlockId id, std::shared_ptr<Pending> pending);
  boost::asio::awaitable<Outcome> Run(BlockId id, FillProgress& progress);
  // Stores a verified block: makes room, writes its frame, indexes it.
  Result<void> Store(const BlockId& id, const http::ReceivedBlock& block);

  BlockStore& blocks_;
  BlockIndex& index_;
  UpstreamHealth& health_;
  MetricsRegistry& metrics_;
  const UpstreamOrder order_;
  const FillOptions options_;

  mutable std::mutex mu_;
  std::unordered_map<BlockId, std::shared_ptr<Pending>> in_flight_;  // running and queued
  std::deque<BlockId> queued_;  // fills in in_flight_ waiting for one of `concurrency` slots
  std::size_t running_ = 0;
  bool stopping_ = false;
  boost::asio::thread_pool store_thread_{1};  // Store, for fills on pool_; outlives them
  boost::asio::thread_pool pool_;             // last: joined first
};

}  // namespace mei::cache_node
