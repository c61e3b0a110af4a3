#include "cache-node/node_content.h"

#include <utility>

namespace mei::cache_node {

NodeContent::NodeContent(BlockStore& blocks, BlockIndex& index, BlockFiller& filler,
                         ManifestCache& manifests, FirstUpstream first_upstream)
    : blocks_(blocks),
      index_(index),
      filler_(filler),
      manifests_(manifests),
      first_upstream_(std::move(first_upstream)) {}

Result<std::vector<ManifestStore::RevisionEntry>> NodeContent::ListRevisions() {
  return manifests_.List();
}

Result<Manifest> NodeContent::GetManifest(std::string_view model, std::string_view revision) {
  return manifests_.Get(model, revision);
}

Result<StoredBlock> NodeContent::GetBlock(const BlockId& id) {
  // Two rounds: a block evicted between its fill and this read (a node far over capacity) is
  // filled once more before giving up.
  for (int round = 0; round < 2; ++round) {
    auto stored = blocks_.Get(id);
    if (!stored && stored.error().code == Errc::kBlockNotFound) {
      // Metadata that outlived its frame (a disk that lost data) would make the store take the
      // block for held and skip the fill's write: it counts as a damaged frame. The metadata is
      // read first, then the frame again: a Put writes both in one batch, so a fill that landed
      // meanwhile is found, and a block deleted meanwhile has no metadata left to drop.
      auto has = blocks_.Has(id);
      if (!has) return has.error();
      if (*has) {
        stored = blocks_.Get(id);
        if (!stored && stored.error().code == Errc::kBlockNotFound) {
          stored = Error{Errc::kBadFrame, "block " + id.Hex() + " has metadata but no frame"};
        }
      }
    }
    if (stored) {
      index_.Touched(id);
      return stored;
    }
    if (stored.error().code == Errc::kBadFrame) {
      if (auto dropped = blocks_.Delete(id); !dropped) return dropped.error();
      index_.Removed(id);
    } else if (stored.error().code != Errc::kBlockNotFound) {
      return stored.error();
    }
    auto filled = filler_.Fill(id);
    if (!filled) return filled.error();
    // "Already held" while the store says otherwise: the index outlived a deletion (a purge that
    // raced the fill). Forget it, so the next round fills for real.
    if (filled->empty()) index_.Removed(id);
  }
  return Error{Errc::kStoreFull,
               "block " + id.Hex() + " was evicted as soon as it was stored; the node is too full"};
}

Result<void> NodeContent::Ready() { return {}; }

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
