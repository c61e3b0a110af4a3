// BlockIndex: the cache node's in-memory index of its stored blocks, which keeps the store under
// its capacity by evicting the least valuable unpinned blocks.
//
// The index is rebuilt from the block_meta column family when the node starts, and it writes
// usage (last access, hits, pins) back there with Flush(). Operator pins persist in the PlanStore
// under "pins"; plan pins are handed in by the caller from the plan it holds.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/block_id.h"
#include "common/errc.h"
#include "common/store.h"

namespace mei::cache_node {

// Which unpinned block goes first when the store must make room. Pinned blocks (plan or operator
// pins) are never candidates, whatever the policy.
//
// kLru evicts the block whose last access (a fill or a hit) is oldest. It is the default: it
// needs no knowledge of the models and adapts at once when demand moves.
//
// kSharing values a block by how much serving it is worth per byte it occupies:
// value = hits x (number of models whose manifests the node knows that use the block) / stored
// size, and
// evicts the lowest value first, ties going to the least recently used. It is the value-per-byte
// idea of GreedyDual-Size (Cao and Irani, "Cost-Aware WWW Proxy Caching Algorithms", 1997),
// without its aging, with the benefit of a block counted once per model that shares it: a tensor
// shared by many fine-tunes of one base model stays, a block of a single, rarely asked model
// goes even if it was touched recently. The use counts come from the caller (SetModelUse); a
// block that no held model uses, or that was never hit, is worth 0.
enum class EvictionPolicy { kLru, kSharing };

// "lru" or "sharing"; kBadRequest naming the accepted values otherwise.
[[nodiscard]] Result<EvictionPolicy> ParseEvictionPolicy(std::string_view name);

// The name ParseEvictionPolicy accepts for `policy`. Static storage.
[[nodiscard]] std::string_view NameOf(EvictionPolicy policy);

struct CapacityOptions {
  std::uint64_t capacity_bytes = 0;  // stored (frame) bytes the blocks may take
  // Admission past high_watermark x capacity evicts down to low_watermark x capacity, so that
  // evictions come in batches rather than one per fill.
  double high_watermark = 0.95;
  double low_watermark = 0.85;
  EvictionPolicy policy = EvictionPolicy::kLru;
  // The clock for last access times, in Unix ms; null is the system clock. The index never lets
  // it run backwards. Tests pass a counter so that no two accesses tie.
  std::function<std::uint64_t()> now_ms;
};

// Thread-safe: every method takes one internal mutex. Eviction, Delete, Purge, Reconcile and
// Added read or write the BlockStore while they hold it (so store and index change together),
// which makes them wait behind a put that is flushing on a full disk. The index refers to the
// BlockStore and PlanStore it was opened on, which must outlive it.
//
// Capacity accounting: "used" is BlockStore::stored_bytes() plus the bytes reserved by fills in
// progress. A fill does Reserve(size) -> BlockStore::Put -> Added(id, meta) when the put worked
// (Added gives the reservation back when the block was already indexed), or Release(size) when it
// failed.
class BlockIndex {
 public:
  // Builds the index from the stored block metadata and the operator pins in `plan`. Evicts
  // nothing, even when the store is above the high watermark (say, restarted with a smaller
  // capacity): plan pins are not known yet, so the first Reserve makes room.
  // kBadRequest for capacity 0 or watermarks outside 0 < low <= high <= 1; kStorage when the
  // metadata or the stored pins cannot be read.
  [[nodiscard]] static Result<std::unique_ptr<BlockIndex>> Open(BlockStore& blocks, PlanStore& plan,
                                                                CapacityOptions options);

  BlockIndex(const BlockIndex&) = delete;
  BlockIndex& operator=(const BlockIndex&) = delete;
  ~BlockIndex();

  // Makes room for a block of `stored_size` bytes (its frame) and reserves it. When used +
  // stored_size would pass the high watermark, deletes unpinned blocks from the BlockStore in
  // policy order until used + stored_size is at the low watermark or nothing evictable is left.
  // kStoreFull, evicting nothing, when even evicting every unpinned block would leave used +
  // stored_size above the high watermark, or after evicting when the store still holds bytes the
  // index does not know of; the error of BlockStore::Delete when a deletion fails (blocks evicted
  // before it or before a kStoreFull stay evicted).
  [[nodiscard]] Result<void> Reserve(std::uint64_t stored_size);

  // Gives back a reservation whose block was not stored.
  void Release(std::uint64_t stored_size);

  // Records a block just stored, as its most recent access, and consumes its reservation
  // (meta.stored_size). The index sets last_access_ms itself; hits and pins in `meta` are
  // ignored (pins are the index's own). A block already indexed, or deleted from the store since
  // it was put (a purge in between), only gives the reservation back.
  // REQUIRES: a Reserve(meta.stored_size) not yet released or consumed.
  void Added(const BlockId& id, const BlockMeta& meta);

  // A hit: the block's last access becomes now and its hits grow by one. False, changing
  // nothing, for a block that is not indexed.
  bool Touched(const BlockId& id);

  // Deletes `id` from the BlockStore and forgets it, in one step under the index's mutex, so that
  // no fill's Added falls between the two (a purge, a damaged frame). Its pins stay: they name
  // ids, stored or not. Returns whether the store held the block; the error of
  // BlockStore::Delete, changing nothing, when it fails.
  [[nodiscard]] Result<bool> Delete(const BlockId& id);

  // What Purge did with a block.
  enum class Purged { kDeleted, kNotStored, kPinned };
  // Deletes `id` from the BlockStore and forgets it unless it is pinned (plan or operator pin),
  // checked and done in one step under the index's mutex, so a pin or a plan that arrives
  // meanwhile is never overtaken. The error of BlockStore::Delete, changing nothing, when it fails.
  [[nodiscard]] Result<Purged> Purge(const BlockId& id);

  // Makes the index agree with the BlockStore about `id`, in one step under the index's mutex: an
  // entry whose block the store no longer holds is dropped, and a stored block the index does not
  // know of is added as its most recent access. For a caller that finds them disagreeing (a fill
  // answers "already held" while the caller's read missed; a read hits a block the index lacks).
  // A stored block is never dropped. kStorage when the store cannot be read.
  [[nodiscard]] Result<void> Reconcile(const BlockId& id);

  // Replaces the plan pins: the blocks of the models the placement plan assigns to this node.
  // Ids not stored yet are pinned when they arrive. Not persisted: the caller sets them at start
  // from the plan it keeps in the PlanStore.
  void SetPlanPins(std::vector<BlockId> ids);

  // Operator pins, counted per id: each Pin of an id needs an Unpin before it can be evicted
  // again (an Unpin of an id with no operator pin does nothing). Ids not stored yet are pinned
  // when they arrive. Persisted (synced) in the PlanStore under "pins" before returning; on
  // error nothing changed.
  [[nodiscard]] Result<void> Pin(std::span<const BlockId> ids);
  [[nodiscard]] Result<void> Unpin(std::span<const BlockId> ids);

  // Whether `id` has a plan pin or an operator pin (stored or not).
  [[nodiscard]] bool IsPinned(const BlockId& id) const;

  // For kSharing: how many of the models whose manifests the node knows (stored manifests) use
  // each block (absent ids count 0).
  // Replaces the previous counts. Kept but unused under kLru.
  void SetModelUse(std::unordered_map<BlockId, std::uint32_t> use_count);

  // Writes the usage of every block changed since the last Flush (last access, hits, pins) to
  // block_meta in one batch (BlockStore::UpdateMeta). Call periodically and at shutdown. On
  // error the changes stay pending for the next Flush.
  [[nodiscard]] Result<void> Flush();

  struct Stats {
    std::uint64_t capacity_bytes = 0;
    std::uint64_t used_bytes = 0;  // stored bytes plus reservations
    std::uint64_t blocks = 0;
    std::uint64_t pinned_blocks = 0;  // stored blocks that are pinned
    std::uint64_t evictions = 0;      // blocks evicted since Open (purges not counted)
    std::uint64_t evicted_bytes = 0;
  };
  [[nodiscard]] Stats stats() const;

  [[nodiscard]] bool Contains(const BlockId& id) const;

  // The blocks the plan pins (SetPlanPins) and how many of them are indexed, for readiness: a
  // node that holds its whole plan can serve it without its parent.
  struct PlanCoverage {
    std::uint64_t planned = 0;
    std::uint64_t held = 0;
  };
  [[nodiscard]] PlanCoverage plan_coverage() const;

  // Every indexed block with its metadata as the index sees it now (pins = plan pin + operator
  // pins), sorted by id. For the admin API.
  [[nodiscard]] std::vector<std::pair<BlockId, BlockMeta>> List() const;

 private:
  // The eviction order: lowest value first, then least recently used (lowest sequence number).
  // Under kLru every value is 0.
  struct Rank {
    double value = 0;
    std::uint64_t sequence = 0;
    BlockId id;
    friend auto operator<=>(const Rank&, const Rank&) = default;
  };
  struct Entry {
    BlockMeta meta;
    std::uint64_t sequence = 0;  // order of last access; larger is more recent
    bool pinned = false;
    Rank rank;  // its key in candidates_ while unpinned
  };

  BlockIndex(BlockStore& blocks, PlanStore& plan, CapacityOptions options);

  // REQUIRES: mutex_ held (all below).
  std::uint64_t UsedLocked() const;
  std::uint64_t NowLocked();
  std::uint32_t PinsLocked(const BlockId& id) const;
  Rank RankOf(const BlockId& id, const Entry& entry) const;
  void Insert(const BlockId& id, Entry& entry);  // into candidates_ when unpinned
  void Erase(Entry& entry);                      // from candidates_ when there
  // Makes now the entry's last access, outside candidates_ (Erase before, Insert after).
  void Access(const BlockId& id, Entry& entry);
  void Forget(std::unordered_map<BlockId, Entry>::iterator it);  // drops an entry
  void Repin(const BlockId& id);  // recomputes pinned and pins after a pin change
  void Rerank();                  // after the use counts changed
  [[nodiscard]] Result<void> StorePinsLocked(
      const std::unordered_map<BlockId, std::uint32_t>& pins);

  BlockStore& blocks_;
  PlanStore& plan_;
  const CapacityOptions options_;
  const std::uint64_t high_bytes_;
  const std::uint64_t low_bytes_;

  mutable std::mutex mutex_;
  std::unordered_map<BlockId, Entry> entries_;
  std::set<Rank> candidates_;  // unpinned entries, in eviction order
  std::uint64_t candidate_bytes_ = 0;
  std::unordered_set<BlockId> dirty_;
  std::unordered_set<BlockId> plan_pins_;
  std::unordered_map<BlockId, std::uint32_t> operator_pins_;
  std::unordered_map<BlockId, std::uint32_t> use_count_;
  std::uint64_t reserved_bytes_ = 0;
  std::uint64_t sequence_ = 0;
  std::uint64_t last_now_ms_ = 0;
  std::uint64_t pinned_blocks_ = 0;
  std::uint64_t evictions_ = 0;
  std::uint64_t evicted_bytes_ = 0;

  std::mutex flush_mutex_;  // one Flush at a time; taken before mutex_
};

}  // namespace mei::cache_node
