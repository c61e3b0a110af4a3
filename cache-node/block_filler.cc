#include "cache-node/block_filler.h"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
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
      pool_(std::max<std::size_t>(1, options_.concurrency)) {
  DeclareNodeMetrics(metrics_);
}

BlockFiller::~BlockFiller() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  pool_.join();
}

Result<std::string> BlockFiller::Fill(const BlockId& id) {
  std::shared_ptr<Pending> pending;
  {
    std::lock_guard lock(mu_);
    if (auto found = in_flight_.find(id); found != in_flight_.end()) {
      pending = found->second;
      metrics_.Add(kCoalescedWaitersTotal, {});
    } else if (index_.Contains(id)) {
      return std::string();
    } else {
      pending = StartLocked(id);
    }
  }
  return pending->outcome.get();
}

void BlockFiller::Prefetch(std::span<const BlockId> ids) {
  std::lock_guard lock(mu_);
  for (const BlockId& id : ids) {
    if (in_flight_.size() >= options_.max_in_flight) return;
    if (in_flight_.contains(id) || index_.Contains(id)) continue;
    StartLocked(id);
  }
}

std::size_t BlockFiller::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_.size();
}

std::shared_ptr<BlockFiller::Pending> BlockFiller::StartLocked(const BlockId& id) {
  auto pending = std::make_shared<Pending>();
  in_flight_.emplace(id, pending);
  boost::asio::post(pool_, [this, id, pending] {
    // Whatever happens, the entry leaves the table and every waiter wakes: an exception escaping
    // a pool thread would end the process, and one skipping set_value would hang the waiters.
    Outcome outcome = Error{Errc::kInternal, "the fill of block " + id.Hex() + " failed"};
    try {
      outcome = Run(id);
    } catch (const std::exception& e) {
      outcome = Error{Errc::kInternal, "the fill of block " + id.Hex() + " failed: " + e.what()};
    } catch (...) {
    }
    {
      std::lock_guard lock(mu_);
      in_flight_.erase(id);
    }
    pending->promise.set_value(std::move(outcome));
  });
  return pending;
}

BlockFiller::Outcome BlockFiller::Run(const BlockId& id) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Error{Errc::kOverloaded, "the node is shutting down"};
  }
  const auto started = std::chrono::steady_clock::now();
  // What to answer when every upstream fails: a real failure outranks "not found", so that a
  // client is told 502/504 rather than a 404 that is only true of the upstreams that answered.
  std::optional<Error> failure;
  const std::vector<Upstream> upstreams = order_(id);
  http::FetchContext peer_fetch = options_.fetch;
  peer_fetch.only_if_cached = true;  // a peer answers from its store, never fills from its own
  for (const Upstream& upstream : upstreams) {
    const bool peer = upstream.name.starts_with("peer:");
    auto frame = FetchBlockFrame(upstream, id, peer ? peer_fetch : options_.fetch);
    if (!frame) {
      const Errc code = frame.error().code;
      metrics_.Add(kUpstreamFetchesTotal,
                   {{"upstream", upstream.name}, {"result", std::string(ResultLabel(code))}});
      if (code == Errc::kBlockNotFound) {
        if (!failure) failure = frame.error();
        continue;
      }
      health_.Record(upstream.name, frame.error());
      if (code == Errc::kIntegrity) {
        metrics_.Add(kIntegrityFailuresTotal, {{"upstream", upstream.name}});
        failure = Error{Errc::kUpstreamFailed, frame.error().message};
      } else {
        failure = frame.error();
      }
      continue;
    }
    health_.Record(upstream.name, {});
    metrics_.Add(kUpstreamFetchesTotal, {{"upstream", upstream.name}, {"result", "ok"}});
    metrics_.Add(kUpstreamBytesTotal, {{"upstream", upstream.name}},
                 static_cast<double>(frame->size()));
    if (auto stored = Store(id, *frame); !stored) {
      metrics_.Add(kFillFailuresTotal, {{"code", std::string(CodeOf(stored.error().code))}});
      return stored.error();
    }
    metrics_.Observe(
        kFillSeconds, {{"upstream", upstream.name}},
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return upstream.name;
  }
  if (!failure) failure = Error{Errc::kUpstreamFailed, "the node has no upstream to fill from"};
  if (failure->code == Errc::kBlockNotFound) {
    failure->message = fmt::format("no upstream has block {}", id.Hex());
  }
  metrics_.Add(kFillFailuresTotal, {{"code", std::string(CodeOf(failure->code))}});
  return *failure;
}

Result<void> BlockFiller::Store(const BlockId& id, const std::vector<std::byte>& frame) {
  auto view = ParseFrame(frame);
  if (!view) return view.error();
  if (auto reserved = index_.Reserve(frame.size()); !reserved) return reserved.error();
  auto put = blocks_.Put(id, frame);
  if (!put) {
    index_.Release(frame.size());
    return put.error();
  }
  // Indexed also when the store already had it (put false): a block stored but not indexed could
  // never be evicted. Added gives the reservation back for a block already indexed.
  BlockMeta meta;
  meta.raw_size = view->header.raw_size;
  meta.stored_size = frame.size();
  meta.codec = view->header.codec;
  index_.Added(id, meta);
  return {};
}

}  // namespace mei::cache_node
