#include "cache-node/node_content.h"

#include <utility>

namespace mei::cache_node {

NodeContent::NodeContent(BlockStore& blocks, BlockIndex& index, BlockFiller& filler,
                         ManifestCache& manifests, FirstUpstream first_upstream, ReadyCheck ready,
                         MissHook on_miss)
    : blocks_(blocks),
      index_(index),
      filler_(filler),
      manifests_(manifests),
      first_upstream_(std::move(first_upstream)),
      ready_(std::move(ready)),
      on_miss_(std::move(on_miss)) {}

boost::asio::awaitable<Result<std::vector<ManifestStore::RevisionEntry>>>
NodeContent::ListRevisions() {
  co_return co_await manifests_.List();
}

boost::asio::awaitable<Result<std::shared_ptr<const Manifest>>> NodeContent::GetManifest(
    std::string model, std::string revision) {
  co_return co_await manifests_.Get(std::move(model), std::move(revision));
}

namespace {

// The stored frame of `id`. Metadata that outlived its frame (a disk that lost data) would make
// the store take the block for held and skip the fill's write: it counts as a damaged frame
// (kBadFrame). The metadata is read first, then the frame again: a Put writes both in one batch,
// so a fill that landed meanwhile is found, and a block deleted meanwhile has no metadata left.
Result<StoredBlock> ReadStored(const BlockStore& blocks, const BlockId& id) {
  auto stored = blocks.Get(id);
  if (stored || stored.error().code != Errc::kBlockNotFound) return stored;
  auto has = blocks.Has(id);
  if (!has) return has.error();
  if (!*has) return stored;
  stored = blocks.Get(id);
  if (!stored && stored.error().code == Errc::kBlockNotFound) {
    return Error{Errc::kBadFrame, "block " + id.Hex() + " has metadata but no frame"};
  }
  return stored;
}

}  // namespace

boost::asio::awaitable<Result<StoredBlock>> NodeContent::GetBlock(BlockId id) {
  // Read, fill, read again. A fill that answers "already held" (the index has the block) makes
  // the index agree with the store: when a concurrent fill or a read-ahead stored the block
  // after this request's read missed, the next read finds it; when the index outlived a deletion,
  // the entry goes and the next round fills. A block evicted between its fill and the read (a
  // node far over capacity) is filled once more before giving up.
  constexpr int kReads = 3;
  const Error evicted{Errc::kStoreFull, "block " + id.Hex() +
                                            " was evicted as soon as it was stored; the node is "
                                            "too full"};
  Error last = evicted;  // why the last read missed
  for (int round = 0; round < kReads; ++round) {
    auto stored = ReadStored(blocks_, id);
    if (stored) {
      // Stored but not indexed (a purge raced a fill): index it, or it could never be evicted.
      if (!index_.Touched(id)) {
        if (auto reconciled = index_.Reconcile(id); !reconciled) co_return reconciled.error();
      }
      co_return stored;
    }
    if (stored.error().code == Errc::kBadFrame) {
      if (auto dropped = index_.Delete(id); !dropped) co_return dropped.error();
      last = stored.error();
    } else if (stored.error().code != Errc::kBlockNotFound) {
      co_return stored.error();
    }
    if (round + 1 == kReads) break;
    if (on_miss_) on_miss_(id);
    auto filled = co_await filler_.Fill(id);
    if (!filled) co_return filled.error();
    if (filled->empty()) {
      if (auto reconciled = index_.Reconcile(id); !reconciled) co_return reconciled.error();
    } else {
      last = evicted;
    }
  }
  co_return last;
}

std::optional<StoredBlock> NodeContent::TryGetBlock(const BlockId& id) {
  auto stored = blocks_.Get(id);
  if (!stored || !index_.Touched(id)) return std::nullopt;  // GetBlock reconciles or fills
  return std::move(*stored);
}

std::unique_ptr<BlockReader> NodeContent::StreamBlock(const BlockId& id) {
  return filler_.Stream(id);
}

std::unique_ptr<BlockReader> NodeContent::StreamAhead(const BlockId& id) {
  return filler_.StreamAhead(id);
}

Result<void> NodeContent::Ready() { return ready_(); }

std::optional<ContentSource::CacheLookup> NodeContent::Lookup(std::span<const BlockId> ids) {
  std::size_t held = 0;
  const BlockId* first_missing = nullptr;
  for (const BlockId& id : ids) {
    if (index_.Contains(id)) {
      ++held;
    } else if (first_missing == nullptr) {
      first_missing = &id;
    }
  }
  CacheLookup lookup;
  if (first_missing == nullptr) {
    lookup.status = "HIT";
  } else {
    lookup.status = held == 0 ? "MISS" : "PARTIAL";
    lookup.upstream = first_upstream_(*first_missing);
  }
  return lookup;
}

void NodeContent::WillNeed(std::span<const BlockId> ids) { filler_.Prefetch(ids); }

}  // namespace mei::cache_node
