// BlockIndex: the cache node's in-memory index of its stored blocks, which keeps the store under
// its capacity by evicting the least valuable unpinned blocks.
//
// The index is rebuilt from the block_meta column family when the node starts, and it writes
// usage (last access, hits, pins) back there with Flush(). Operator pins persist in the PlanStore
// under "pins"; plan pins are handed in by the caller from the plan it holds.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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
  // Called before each BlockStore::Delete the index makes (evictions, Delete, Purge), on the
  // deleting thread, outside the index's mutex: a test hook that can hold a deletion, or fail it
  // (an error stands for the delete's, and the store is not asked). Empty in production.
  std::function<Result<void>(const BlockId&)> before_delete;
};

// Thread-safe. Every method takes one internal mutex for in-memory work and at most a point read
// of the store (Added, Reconcile); no BlockStore write happens under it, so a hit (Touched,
// Contains) never waits behind a deletion, or behind a put flushing on a full disk that the
// deletion waits for. A deletion (eviction, Delete, Purge) forgets the block under the mutex and
// deletes it from the store outside it; an Added or Reconcile of that block meanwhile is settled
// when the deletion ends, from what the store then holds. Evictions run one at a time: a Reserve
// that must evict waits for the one under way, never for the hits. The index refers to the
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

  // Makes room for a block of `stored_size` bytes (its frame) and reserves it. The room is in the
  // store when it returns, not to come: used bytes, this reservation included, are then at most
  // the high watermark, and a victim counts as used until its delete is done. When used +
  // stored_size would pass the high watermark, evicts unpinned blocks in policy order until used +
  // stored_size is at the low watermark or nothing evictable is left: victims leave the index at
  // once and are deleted from the store in batches, outside the index's mutex.
  // kStoreFull, evicting nothing, when even evicting every unpinned block would leave used +
  // stored_size above the high watermark, or after evicting when the store still holds bytes the
  // index does not know of; the error of BlockStore::Delete when a deletion fails (blocks evicted
  // before it or before a kStoreFull stay evicted; the batch's others stay indexed).
  [[nodiscard]] Result<void> Reserve(std::uint64_t stored_size);

  // Gives back a reservation whose block was not stored.
  void Release(std::uint64_t stored_size);

  // Records a block just stored, as its most recent access, and consumes its reservation
  // (meta.stored_size). The index sets last_access_ms itself; hits and pins in `meta` are
  // ignored (pins are the index's own). A block already indexed, or deleted from the store since
  // it was put (a purge in between), only gives the reservation back; one whose deletion is under
  // way is indexed when the deletion ends if the store then holds it (put again after it went).
  // REQUIRES: a Reserve(meta.stored_size) not yet released or consumed.
  void Added(const BlockId& id, const BlockMeta& meta);

  // A hit: the block's last access becomes now and its hits grow by one. False, changing
  // nothing, for a block that is not indexed.
  bool Touched(const BlockId& id);

  // Forgets `id` and deletes it from the BlockStore (outside the index's mutex). Its pins stay:
  // they name ids, stored or not. Returns whether the store held the block; the error of
  // BlockStore::Delete when it fails, and the block, if still stored, is indexed again as it was.
  [[nodiscard]] Result<bool> Delete(const BlockId& id);

  // What Purge did with a block.
  enum class Purged { kDeleted, kNotStored, kPinned };
  // Delete, unless `id` is pinned (plan or operator pin): the check and the forgetting are one step
  // under the index's mutex, so a pin that arrives later finds the block gone (pinned when it is
  // stored again), never a purge that overtakes it. The error of BlockStore::Delete as for Delete.
  [[nodiscard]] Result<Purged> Purge(const BlockId& id);

  // Makes the index agree with the BlockStore about `id`: an entry whose block the store no longer
  // holds is dropped, and a stored block the index does not know of is added as its most recent
  // access, both under the index's mutex (a fill's Added comes before or after, never between).
  // For a caller that finds them disagreeing (a fill answers "already held" while the caller's read
  // missed; a read hits a block the index lacks). A block whose deletion is under way (a victim
  // read before its delete) is not indexed now: the deletion's end looks at the store again.
  // A stored block is never dropped. kStorage when the store cannot be read.
  [[nodiscard]] Result<void> Reconcile(const BlockId& id);

  // Replaces the plan pins: the blocks of the models the placement plan assigns to this node.
  // Ids not stored yet are pinned when they arrive. Not persisted: the caller sets them at start
  // from the plan it keeps in the PlanStore.
  void SetPlanPins(std::vector<BlockId> ids);

  // Operator pins, counted per id: each Pin of an id needs an Unpin before it can be evicted
  // again (an Unpin of an id with no operator pin does nothing). Ids not stored yet are pinned
  // when they arrive. Persisted (synced) in the PlanStore under "pins" before returning, outside
  // the index's mutex (concurrent Pin and Unpin calls take their turn); on error nothing changed.
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
  // A block whose deletion from the store is decided (an eviction victim, a Delete, a Purge): no
  // longer indexed, perhaps still stored until its deletes end. Never indexed meanwhile.
  struct Doomed {
    std::optional<Entry> entry;     // its entry when it was indexed, restored if no delete worked
    std::uint64_t stored_size = 0;  // entry's size, counted in doomed_bytes_
    std::uint32_t deleters = 0;     // BlockStore::Delete calls begun and not ended
    bool deleted = false;           // one of them removed it
    bool failed = false;            // one of them failed
    bool settle = false;  // an Added or Reconcile came meanwhile: look at the store at the end
  };

  BlockIndex(BlockStore& blocks, PlanStore& plan, CapacityOptions options);

  // Reserve's slow path: evicts under evict_mutex_, deleting outside mutex_.
  [[nodiscard]] Result<void> MakeRoom(std::uint64_t stored_size);
  // Dooms a batch of victims and deletes them from the store. REQUIRES: `lock` holds mutex_ (and
  // the caller evict_mutex_); released while the store deletes.
  [[nodiscard]] Result<void> EvictBatch(std::unique_lock<std::mutex>& lock);
  // Delete: dooms `id` and deletes it from the store. REQUIRES: `lock` holds mutex_; released
  // while the store deletes.
  [[nodiscard]] Result<bool> DeleteUnlocking(std::unique_lock<std::mutex>& lock, const BlockId& id);
  // BlockStore::Delete of a doomed block, after the test hook. REQUIRES: mutex_ not held.
  [[nodiscard]] Result<bool> DeleteDoomed(const BlockId& id);

  // REQUIRES: mutex_ held (all below).
  std::uint64_t UsedLocked() const;
  // Used bytes once the deletions under way have ended.
  std::uint64_t UsedAfterDeletesLocked() const;
  Error FullLocked(std::uint64_t stored_size) const;
  std::uint64_t NowLocked();
  std::uint32_t PinsLocked(const BlockId& id) const;
  Rank RankOf(const BlockId& id, const Entry& entry) const;
  void Insert(const BlockId& id, Entry& entry);  // into candidates_ when unpinned
  void Erase(Entry& entry);                      // from candidates_ when there
  // Makes now the entry's last access, outside candidates_ (Erase before, Insert after).
  void Access(const BlockId& id, Entry& entry);
  void Forget(std::unordered_map<BlockId, Entry>::iterator it);  // drops an entry
  // Indexes `id` from its stored metadata as its most recent access, if the store holds it.
  void IndexStoredLocked(const BlockId& id, const BlockMeta& meta);
  // A store delete of `id` begins: its entry, if any, moves to doomed_. Returns the entry's size
  // (0 when `id` was not indexed).
  std::uint64_t BeginDeleteLocked(const BlockId& id);
  // A store delete of `id` ended with `outcome`; the last one settles the index with the store.
  void EndDeleteLocked(const BlockId& id, const Result<bool>& outcome);
  void Repin(const BlockId& id);  // recomputes pinned and pins after a pin change
  void Rerank();                  // after the use counts changed

  // Pin and Unpin: applies `change` to a copy of the operator pins; when it reports a change,
  // stores the copy in the PlanStore (outside mutex_), then puts it in force and repins `ids`.
  using PinCounts = std::unordered_map<BlockId, std::uint32_t>;
  [[nodiscard]] Result<void> ChangePins(std::span<const BlockId> ids,
                                        const std::function<Result<bool>(PinCounts&)>& change);

  BlockStore& blocks_;
  PlanStore& plan_;
  const CapacityOptions options_;
  const std::uint64_t high_bytes_;
  const std::uint64_t low_bytes_;

  // Lock order: flush_mutex_, evict_mutex_ or pins_mutex_, then mutex_.
  std::mutex evict_mutex_;  // one eviction at a time
  std::mutex pins_mutex_;   // one Pin or Unpin at a time, held while it writes the PlanStore

  mutable std::mutex mutex_;
  std::condition_variable deletes_ended_;  // notified when a doomed block's last delete ends
  std::unordered_map<BlockId, Entry> entries_;
  std::set<Rank> candidates_;  // unpinned entries, in eviction order
  std::uint64_t candidate_bytes_ = 0;
  std::unordered_map<BlockId, Doomed> doomed_;  // disjoint from entries_
  std::uint64_t doomed_bytes_ = 0;
  std::unordered_set<BlockId> dirty_;
  std::unordered_set<BlockId> plan_pins_;
  // Written under pins_mutex_ and mutex_ both; read under either.
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
