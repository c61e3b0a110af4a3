// NodeContent: what a cache node's data plane serves (common/http/data_plane.h's ContentSource):
// blocks from its store, filling misses through the BlockFiller, and manifests through the
// ManifestCache. Whole-file downloads tell it which blocks come next, and it starts their fills
// in parallel (read-ahead).
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache-node/block_filler.h"
#include "cache-node/block_index.h"
#include "cache-node/manifest_cache.h"
#include "common/http/data_plane.h"
#include "common/store.h"

namespace mei::cache_node {

class NodeContent final : public ContentSource {
 public:
  // The name of the upstream a miss of this block would be filled from first ("parent",
  // "peer:<id>"), for X-Cache replies and the access log. Thread-safe.
  using FirstUpstream = std::function<std::string(const BlockId&)>;

  // For /readyz (cache-node/readiness.h). Thread-safe.
  using ReadyCheck = std::function<Result<void>()>;
  // Called on the request's thread after a read of the block missed and before its fill is asked
  // for. Tests use it to order a concurrent fill deterministically; null in the node.
  using MissHook = std::function<void(const BlockId&)>;

  // REQUIRES: every reference outlives this; first_upstream and ready are not null.
  NodeContent(BlockStore& blocks, BlockIndex& index, BlockFiller& filler, ManifestCache& manifests,
              FirstUpstream first_upstream, ReadyCheck ready, MissHook on_miss = {});

  boost::asio::awaitable<Result<std::vector<ManifestStore::RevisionEntry>>> ListRevisions()
      override;
  boost::asio::awaitable<Result<std::shared_ptr<const Manifest>>> GetManifest(
      std::string model, std::string revision) override;
  // A hit counts towards the block's recency and hits; a miss suspends until the fill is done. A
  // stored frame that fails its checksum (damaged at rest), or that is gone while its metadata
  // stayed, is dropped and filled again. Whatever the interleaving with other fills, a block this
  // returns is indexed (counted against capacity, evictable).
  boost::asio::awaitable<Result<StoredBlock>> GetBlock(BlockId id) override;
  // A reader of the block's bytes as its fill receives them (cut-through); null when the index
  // has the block.
  std::unique_ptr<BlockReader> StreamBlock(const BlockId& id) override;
  // A reader of a block that a file body will read soon, its fill started now (BlockFiller's
  // StreamAhead).
  std::unique_ptr<BlockReader> StreamAhead(const BlockId& id) override;
  // A block the store and the index both hold (a hit), touched in the index; else nullopt.
  std::optional<StoredBlock> TryGetBlock(const BlockId& id) override;
  Result<void> Ready() override;
  std::optional<CacheLookup> Lookup(std::span<const BlockId> ids) override;
  void WillNeed(std::span<const BlockId> ids) override;

 private:
  BlockStore& blocks_;
  BlockIndex& index_;
  BlockFiller& filler_;
  ManifestCache& manifests_;
  const FirstUpstream first_upstream_;
  const ReadyCheck ready_;
  const MissHook on_miss_;
};

}  // namespace mei::cache_node
