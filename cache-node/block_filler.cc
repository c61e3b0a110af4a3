#include "cache-node/block_filler.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <exception>
#include <utility>

#include "cache-node/node_metrics.h"
#include "common/codec.h"

namespace mei::cache_node {
namespace {

std::string_view ResultLabel(Errc code) {
  switch (code) {
    case Errc::kBlockNotFound:
      return "not_found";
    case Errc::kIntegrity:
      return "integrity";
    default:
      return "error";
  }
}

}  // namespace

BlockFiller::BlockFiller(BlockStore& blocks, BlockIndex& index, UpstreamHealth& health,
                         MetricsRegistry& metrics, UpstreamOrder order, FillOptions options)
    : blocks_(blocks),
      index_(index),
      health_(health),
      metrics_(metrics),
      order_(std::move(order)),
      options_(std::move(options)),
      pool_(std::max(1u, options_.threads)) {
  DeclareNodeMetrics(metrics_);
}

BlockFiller::~BlockFiller() {
  std::vector<std::shared_ptr<Pending>> dropped;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (const BlockId& id : queued_) {
      dropped.push_back(in_flight_.at(id));
      in_flight_.erase(id);
    }
    queued_.clear();
  }
  for (const auto& pending : dropped) {
    pending->Finish(Error{Errc::kOverloaded, "the node is shutting down"});
  }
  pool_.join();  // the running fills end within their fetch deadlines
}

std::shared_ptr<BlockFiller::Pending> BlockFiller::Join(const BlockId& id) {
  std::lock_guard lock(mu_);
  if (auto found = in_flight_.find(id); found != in_flight_.end()) {
    metrics_.Add(kCoalescedWaitersTotal, {});
    return found->second;
  }
  if (index_.Contains(id)) return nullptr;
  if (stopping_) {
    auto refused = std::make_shared<Pending>(id);
    refused->Finish(Error{Errc::kOverloaded, "the node is shutting down"});
    return refused;
  }
  return StartLocked(id);
}

boost::asio::awaitable<Result<std::string>> BlockFiller::Fill(BlockId id) {
  const std::shared_ptr<Pending> pending = Join(id);
  if (!pending) co_return std::string();
  co_return co_await pending->outcome.Wait();
}

Result<std::string> BlockFiller::FillBlocking(const BlockId& id) {
  const std::shared_ptr<Pending> pending = Join(id);
  if (!pending) return std::string();
  return pending->outcome.Get();
}

std::unique_ptr<BlockReader> BlockFiller::Stream(const BlockId& id) {
  const std::shared_ptr<Pending> pending = Join(id);
  if (!pending) return nullptr;
  return pending->progress->NewReader();
}

void BlockFiller::Pending::Finish(Outcome result) {
  if (!result) progress->Fail(result.error());
  outcome.Set(std::move(result));
}

std::shared_ptr<BlockFiller::Pending> BlockFiller::AheadLocked(const BlockId& id) {
  if (stopping_) return nullptr;
  if (auto found = in_flight_.find(id); found != in_flight_.end()) return found->second;
  if (in_flight_.size() >= options_.max_in_flight || index_.Contains(id)) return nullptr;
  return StartLocked(id);
}

std::unique_ptr<BlockReader> BlockFiller::StreamAhead(const BlockId& id) {
  std::shared_ptr<Pending> pending;
  {
    std::lock_guard lock(mu_);
    pending = AheadLocked(id);
  }
  return pending ? pending->progress->NewReader() : nullptr;
}

void BlockFiller::Prefetch(std::span<const BlockId> ids) {
  std::lock_guard lock(mu_);
  for (const BlockId& id : ids) AheadLocked(id);
}

std::size_t BlockFiller::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_.size();
}

std::shared_ptr<BlockFiller::Pending> BlockFiller::StartLocked(const BlockId& id) {
  auto pending = std::make_shared<Pending>(id);
  in_flight_.emplace(id, pending);
  if (running_ < std::max<std::size_t>(1, options_.concurrency)) {
    LaunchLocked(id, pending);
  } else {
    queued_.push_back(id);
  }
  return pending;
}

void BlockFiller::LaunchLocked(const BlockId& id, std::shared_ptr<Pending> pending) {
  ++running_;
  // Posted, never started here: co_spawn dispatches, so on a pool thread (a fill that just ended
  // launching the next) it would run the new fill inline, under mu_, and a fill that ends without
  // suspending (no upstream admitted) would take mu_ again on the same thread. A strand per fill:
  // its client's socket and timer complete on any pool thread, one at a time.
  boost::asio::post(pool_, [this, id, pending = std::move(pending)]() mutable {
    boost::asio::co_spawn(boost::asio::make_strand(pool_), RunAndFinish(id, std::move(pending)),
                          boost::asio::detached);
  });
}

boost::asio::awaitable<void> BlockFiller::RunAndFinish(BlockId id,
                                                       std::shared_ptr<Pending> pending) {
  // Whatever happens, the entry leaves the table and every waiter wakes: an exception escaping
  // the coroutine would be lost with its waiters, and one skipping Set would hang them.
  std::optional<Outcome> outcome;
  try {
    outcome = co_await Run(id, *pending->progress);
  } catch (const std::exception& e) {
    outcome = Error{Errc::kInternal, "the fill of block " + id.Hex() + " failed: " + e.what()};
  } catch (...) {
    outcome = Error{Errc::kInternal, "the fill of block " + id.Hex() + " failed"};
  }
  {
    std::lock_guard lock(mu_);
    in_flight_.erase(id);
    --running_;
    if (!stopping_ && !queued_.empty()) {
      const BlockId next = queued_.front();
      queued_.pop_front();
      LaunchLocked(next, in_flight_.at(next));
    }
  }
  pending->Finish(std::move(*outcome));
}

boost::asio::awaitable<BlockFiller::Outcome> BlockFiller::Run(BlockId id, FillProgress& progress) {
  const auto started = std::chrono::steady_clock::now();
  // What to answer when every upstream fails: a real failure outranks "not found", so that a
  // client is told 502/504 rather than a 404 that is only true of the upstreams that answered.
  std::optional<Error> failure;
  const std::vector<Upstream> upstreams = order_(id);
  http::FetchContext peer_fetch = options_.fetch;
  peer_fetch.only_if_cached = true;  // a peer answers from its store, never fills from its own
  for (const Upstream& upstream : upstreams) {
    const bool peer = upstream.name.starts_with("peer:");
    const http::FetchContext& context = peer ? peer_fetch : options_.fetch;
    progress.BeginAttempt(upstream.name);
    auto block =
        progress.FinishAttempt(co_await http::FetchBlockAsync(upstream, id, context, progress));
    if (!block) {
      const Errc code = block.error().code;
      metrics_.Add(kUpstreamFetchesTotal,
                   {{"upstream", upstream.name}, {"result", std::string(ResultLabel(code))}});
      if (code == Errc::kBlockNotFound) {
        // The upstream answered: a success for its health (it closes a probing circuit).
        health_.Record(upstream.name, {});
        if (!failure) failure = block.error();
        continue;
      }
      health_.Record(upstream.name, block.error());
      if (code == Errc::kIntegrity) {
        metrics_.Add(kIntegrityFailuresTotal, {{"upstream", upstream.name}});
        failure = Error{Errc::kUpstreamFailed, block.error().message};
      } else {
        failure = block.error();
      }
      continue;
    }
    health_.Record(upstream.name, {});
    metrics_.Add(kUpstreamFetchesTotal, {{"upstream", upstream.name}, {"result", "ok"}});
    metrics_.Add(kUpstreamBytesTotal, {{"upstream", upstream.name}},
                 static_cast<double>((*block)->frame().size() - kFrameHeaderSize));
    // On the store's thread: this one goes back to the sockets of the other fills meanwhile. The
    // work guard keeps ~BlockFiller's join waiting for this fill's resumption.
    OneShot<Result<void>> stored_once;
    boost::asio::post(store_thread_, [&, work = boost::asio::make_work_guard(pool_)] {
      stored_once.Set(Store(id, **block));
    });
    if (auto stored = co_await stored_once.Wait(); !stored) {
      metrics_.Add(kFillFailuresTotal, {{"code", std::string(CodeOf(stored.error().code))}});
      co_return stored.error();
    }
    metrics_.Observe(
        kFillSeconds, {{"upstream", upstream.name}},
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    co_return upstream.name;
  }
  if (!failure) {
    // The order leaves out only upstreams whose circuit is open, and there is always a parent.
    failure = Error{Errc::kUpstreamFailed,
                    fmt::format("no upstream to fill block {} from: every upstream's circuit is "
                                "open after failures in a row",
                                id.Hex())};
  }
  if (failure->code == Errc::kBlockNotFound) {
    failure->message = fmt::format("no upstream has block {}", id.Hex());
  }
  metrics_.Add(kFillFailuresTotal, {{"code", std::string(CodeOf(failure->code))}});
  co_return *failure;
}

Result<void> BlockFiller::Store(const BlockId& id, const http::ReceivedBlock& block) {
  const std::span<const std::byte> frame = block.frame();
  const FrameHeader header = block.header();
  if (auto reserved = index_.Reserve(frame.size()); !reserved) return reserved.error();
  auto put = blocks_.Put(id, frame, header);
  if (!put) {
    index_.Release(frame.size());
    return put.error();
  }
  // Indexed also when the store already had it (put false): a block stored but not indexed could
  // never be evicted. Added gives the reservation back for a block already indexed.
  BlockMeta meta;
  meta.raw_size = header.raw_size;
  meta.stored_size = frame.size();
  meta.codec = header.codec;
  index_.Added(id, meta);
  return {};
}

}  // namespace mei::cache_node
