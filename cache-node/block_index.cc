#include "cache-node/block_index.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cassert>
#include <chrono>
#include <cmath>
#include <string>

namespace mei::cache_node {
namespace {

constexpr std::string_view kPinsKey = "pins";

// Victims chosen per batch: bounds how long one choice holds the index's mutex, and how long a
// fill of a victim waits to be indexed (until the batch's deletes end).
constexpr std::size_t kVictimsPerBatch = 256;

// `share` of `capacity`, rounded to the nearest byte (so that 0.9 of 1000 is 900, not 899).
std::uint64_t BytesAt(std::uint64_t capacity, double share) {
  const long double bytes = std::roundl(static_cast<long double>(capacity) * share);
  return std::min(capacity, static_cast<std::uint64_t>(bytes));
}

std::uint64_t SystemNowMs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// The operator pins as stored under "pins": a JSON object from block id hex to pin count.
Result<std::unordered_map<BlockId, std::uint32_t>> ParsePins(std::string_view text) {
  const auto damaged = [](std::string_view why) {
    return Error{Errc::kStorage, fmt::format("the stored operator pins are damaged: {}", why)};
  };
  boost::system::error_code ec;
  const boost::json::value json = boost::json::parse(text, ec);
  if (ec) return damaged(ec.message());
  const boost::json::object* object = json.if_object();
  if (object == nullptr) return damaged("not a JSON object");
  std::unordered_map<BlockId, std::uint32_t> pins;
  for (const auto& [key, count] : *object) {
    auto id = BlockId::FromHex(key);
    if (!id) return damaged(fmt::format("{} is not a block id", std::string_view(key)));
    const std::int64_t* number = count.if_int64();
    if (number == nullptr || *number <= 0 || *number > std::int64_t{UINT32_MAX}) {
      return damaged(fmt::format("block {} has no valid pin count", std::string_view(key)));
    }
    pins[*id] = static_cast<std::uint32_t>(*number);
  }
  return pins;
}

std::string SerializePins(const std::unordered_map<BlockId, std::uint32_t>& pins) {
  std::vector<std::pair<std::string, std::uint32_t>> sorted;
  sorted.reserve(pins.size());
  for (const auto& [id, count] : pins) sorted.emplace_back(id.Hex(), count);
  std::sort(sorted.begin(), sorted.end());
  boost::json::object object;
  for (const auto& [hex, count] : sorted) object[hex] = count;
  return boost::json::serialize(object);
}

}  // namespace

Result<EvictionPolicy> ParseEvictionPolicy(std::string_view name) {
  if (name == "lru") return EvictionPolicy::kLru;
  if (name == "sharing") return EvictionPolicy::kSharing;
  return Error{Errc::kBadRequest,
               fmt::format("unknown eviction policy \"{}\": expected lru or sharing", name)};
}

std::string_view NameOf(EvictionPolicy policy) {
  switch (policy) {
    case EvictionPolicy::kLru:
      return "lru";
    case EvictionPolicy::kSharing:
      return "sharing";
  }
  return "lru";
}

BlockIndex::BlockIndex(BlockStore& blocks, PlanStore& plan, CapacityOptions options)
    : blocks_(blocks),
      plan_(plan),
      options_(std::move(options)),
      high_bytes_(BytesAt(options_.capacity_bytes, options_.high_watermark)),
      low_bytes_(BytesAt(options_.capacity_bytes, options_.low_watermark)) {}

BlockIndex::~BlockIndex() = default;

Result<std::unique_ptr<BlockIndex>> BlockIndex::Open(BlockStore& blocks, PlanStore& plan,
                                                     CapacityOptions options) {
  if (options.capacity_bytes == 0) {
    return Error{Errc::kBadRequest, "the store capacity must be more than 0 bytes"};
  }
  // Written so that NaN fails too.
  if (!(options.low_watermark > 0 && options.low_watermark <= options.high_watermark &&
        options.high_watermark <= 1)) {
    return Error{Errc::kBadRequest,
                 fmt::format("the watermarks must satisfy 0 < low <= high <= 1, not low {} and "
                             "high {}",
                             options.low_watermark, options.high_watermark)};
  }
  std::unique_ptr<BlockIndex> index(new BlockIndex(blocks, plan, std::move(options)));

  auto stored_pins = plan.Get(kPinsKey);
  if (!stored_pins) return stored_pins.error();
  if (stored_pins->has_value()) {
    auto pins = ParsePins(**stored_pins);
    if (!pins) return pins.error();
    index->operator_pins_ = std::move(*pins);
  }

  std::vector<std::pair<BlockId, BlockMeta>> stored;
  auto listed = blocks.ForEach([&](const BlockId& id, const BlockMeta& meta) {
    stored.emplace_back(id, meta);
    return true;
  });
  if (!listed) return listed.error();
  // Sequence numbers follow the persisted last access; ForEach's id order breaks ties.
  std::stable_sort(stored.begin(), stored.end(), [](const auto& a, const auto& b) {
    return a.second.last_access_ms < b.second.last_access_ms;
  });

  std::lock_guard lock(index->mutex_);
  index->entries_.reserve(stored.size());
  for (auto& [id, meta] : stored) {
    index->last_now_ms_ = std::max(index->last_now_ms_, meta.last_access_ms);
    Entry& entry = index->entries_[id];
    entry.meta = meta;
    entry.sequence = ++index->sequence_;
    entry.meta.pins = index->PinsLocked(id);
    if (entry.meta.pins != meta.pins) index->dirty_.insert(id);
    index->Insert(id, entry);
  }
  return index;
}

std::uint64_t BlockIndex::UsedLocked() const { return blocks_.stored_bytes() + reserved_bytes_; }

std::uint64_t BlockIndex::UsedAfterDeletesLocked() const {
  const std::uint64_t used = UsedLocked();
  return used - std::min(used, doomed_bytes_);
}

Error BlockIndex::FullLocked(std::uint64_t stored_size) const {
  return Error{
      Errc::kStoreFull,
      fmt::format("the store is full: a block of {} bytes does not fit, {} of {} bytes are "
                  "used and only {} of them belong to blocks that may be evicted (the "
                  "rest is pinned or being filled)",
                  stored_size, UsedLocked(), options_.capacity_bytes, candidate_bytes_)};
}

std::uint64_t BlockIndex::NowLocked() {
  const std::uint64_t now = options_.now_ms ? options_.now_ms() : SystemNowMs();
  last_now_ms_ = std::max(last_now_ms_, now);
  return last_now_ms_;
}

std::uint32_t BlockIndex::PinsLocked(const BlockId& id) const {
  std::uint32_t pins = plan_pins_.contains(id) ? 1 : 0;
  if (const auto it = operator_pins_.find(id); it != operator_pins_.end()) pins += it->second;
  return pins;
}

BlockIndex::Rank BlockIndex::RankOf(const BlockId& id, const Entry& entry) const {
  Rank rank{0, entry.sequence, id};
  if (options_.policy == EvictionPolicy::kSharing) {
    const auto use = use_count_.find(id);
    const double models = use == use_count_.end() ? 0.0 : static_cast<double>(use->second);
    rank.value = static_cast<double>(entry.meta.hits) * models /
                 static_cast<double>(std::max<std::uint64_t>(entry.meta.stored_size, 1));
  }
  return rank;
}

void BlockIndex::Insert(const BlockId& id, Entry& entry) {
  entry.pinned = entry.meta.pins > 0;
  if (entry.pinned) {
    ++pinned_blocks_;
    return;
  }
  entry.rank = RankOf(id, entry);
  candidates_.insert(entry.rank);
  candidate_bytes_ += entry.meta.stored_size;
}

void BlockIndex::Erase(Entry& entry) {
  if (entry.pinned) {
    --pinned_blocks_;
    return;
  }
  [[maybe_unused]] const std::size_t erased = candidates_.erase(entry.rank);
  assert(erased == 1);
  candidate_bytes_ -= entry.meta.stored_size;
}

void BlockIndex::Access(const BlockId& id, Entry& entry) {
  entry.meta.last_access_ms = NowLocked();
  entry.sequence = ++sequence_;
  dirty_.insert(id);
}

void BlockIndex::Forget(std::unordered_map<BlockId, Entry>::iterator it) {
  Erase(it->second);
  dirty_.erase(it->first);
  entries_.erase(it);
}

void BlockIndex::IndexStoredLocked(const BlockId& id, const BlockMeta& meta) {
  Entry& entry = entries_[id];
  entry.meta = meta;
  entry.meta.pins = PinsLocked(id);
  Access(id, entry);
  Insert(id, entry);
}

std::uint64_t BlockIndex::BeginDeleteLocked(const BlockId& id) {
  Doomed& doomed = doomed_[id];
  ++doomed.deleters;
  const auto it = entries_.find(id);
  if (it == entries_.end()) return 0;  // not indexed, or already doomed (never both)
  doomed.entry = it->second;
  doomed.stored_size = it->second.meta.stored_size;
  doomed_bytes_ += doomed.stored_size;
  Forget(it);
  return doomed.stored_size;
}

void BlockIndex::EndDeleteLocked(const BlockId& id, const Result<bool>& outcome) {
  const auto it = doomed_.find(id);
  assert(it != doomed_.end() && it->second.deleters > 0);
  Doomed& doomed = it->second;
  if (!outcome) {
    doomed.failed = true;
  } else if (*outcome) {
    doomed.deleted = true;
  }
  if (--doomed.deleters > 0) return;
  const Doomed ended = std::move(doomed);
  doomed_.erase(it);
  doomed_bytes_ -= ended.stored_size;
  deletes_ended_.notify_all();
  // Whatever the store holds now was not taken by these deletes: a block that no delete removed
  // (they failed) or one put again after it went, which an Added or a Reconcile asked about. A
  // store that cannot be read leaves it unindexed: the next read of the block reconciles it.
  if (!ended.failed && !ended.settle) return;
  auto meta = blocks_.Meta(id);
  if (!meta) return;
  if (!ended.entry || ended.deleted || !ended.failed) {
    IndexStoredLocked(id, *meta);
    return;
  }
  // No delete took it: the block is back in its place in the eviction order, with its usage.
  Entry& entry = entries_[id];
  entry.sequence = ended.entry->sequence;
  entry.meta = *meta;
  entry.meta.last_access_ms = ended.entry->meta.last_access_ms;
  entry.meta.hits = ended.entry->meta.hits;
  entry.meta.pins = PinsLocked(id);
  dirty_.insert(id);
  Insert(id, entry);
}

void BlockIndex::Repin(const BlockId& id) {
  const auto it = entries_.find(id);
  if (it == entries_.end()) return;
  Entry& entry = it->second;
  const std::uint32_t pins = PinsLocked(id);
  if (pins == entry.meta.pins) return;
  Erase(entry);
  entry.meta.pins = pins;
  dirty_.insert(id);
  Insert(id, entry);
}

void BlockIndex::Rerank() {
  if (options_.policy != EvictionPolicy::kSharing) return;
  candidates_.clear();
  for (auto& [id, entry] : entries_) {
    if (entry.pinned) continue;
    entry.rank = RankOf(id, entry);
    candidates_.insert(entry.rank);
  }
}

Result<void> BlockIndex::Reserve(std::uint64_t stored_size) {
  {
    std::lock_guard lock(mutex_);
    if (UsedLocked() + stored_size <= high_bytes_) {
      reserved_bytes_ += stored_size;
      return {};
    }
  }
  return MakeRoom(stored_size);
}

// Eviction, one at a time. Victims are chosen in policy order under mutex_, a batch at a time, and
// leave the index at once (doomed_), so that no hit finds them; their store deletes run outside
// mutex_, and hits go on meanwhile. While a victim is still in the store, used bytes count it:
// a concurrent Reserve that finds no room then waits here for this eviction (evict_mutex_), not
// for the index, and finds the room it made. Blocks doomed by others (a purge under way) count
// as leaving when choosing victims; before returning, this waits for their deletes, so that what
// it promises is room in the store, not room to come.
Result<void> BlockIndex::MakeRoom(std::uint64_t stored_size) {
  std::lock_guard evicting(evict_mutex_);
  std::unique_lock lock(mutex_);
  if (UsedLocked() + stored_size <= high_bytes_) {  // the eviction before this one made room
    reserved_bytes_ += stored_size;
    return {};
  }
  if (UsedAfterDeletesLocked() + stored_size > high_bytes_ + candidate_bytes_) {
    return FullLocked(stored_size);
  }
  reserved_bytes_ += stored_size;  // taken now; given back on failure
  while (!candidates_.empty() && UsedAfterDeletesLocked() > low_bytes_) {
    if (auto evicted = EvictBatch(lock); !evicted) {
      reserved_bytes_ -= stored_size;
      return evicted.error();
    }
  }
  deletes_ended_.wait(lock, [&] { return UsedLocked() <= high_bytes_ || doomed_bytes_ == 0; });
  if (UsedLocked() <= high_bytes_) return {};
  // Only when the BlockStore holds blocks the index does not know of.
  reserved_bytes_ -= stored_size;
  return FullLocked(stored_size);
}

Result<void> BlockIndex::EvictBatch(std::unique_lock<std::mutex>& lock) {
  std::vector<std::pair<BlockId, std::uint64_t>> victims;
  while (!candidates_.empty() && UsedAfterDeletesLocked() > low_bytes_ &&
         victims.size() < kVictimsPerBatch) {
    const BlockId victim = candidates_.begin()->id;
    victims.emplace_back(victim, BeginDeleteLocked(victim));
  }
  lock.unlock();
  std::vector<Result<bool>> outcomes;
  outcomes.reserve(victims.size());
  for (const auto& [victim, size] : victims) {
    outcomes.push_back(DeleteDoomed(victim));
    if (!outcomes.back()) break;  // the store is failing: the rest are not tried
  }
  const Error untried{Errc::kStorage, "an earlier deletion of the batch failed"};
  outcomes.resize(victims.size(), untried);  // indexed again, still stored
  lock.lock();
  Result<void> evicted;
  for (std::size_t i = 0; i < victims.size(); ++i) {
    const auto& [victim, size] = victims[i];
    EndDeleteLocked(victim, outcomes[i]);
    if (!outcomes[i]) {
      if (evicted) evicted = outcomes[i].error();
    } else if (*outcomes[i]) {  // false: an entry the store had lost (Reconcile drops those)
      ++evictions_;
      evicted_bytes_ += size;
    }
  }
  return evicted;
}

Result<bool> BlockIndex::DeleteDoomed(const BlockId& id) {
  if (options_.before_delete) {
    if (auto allowed = options_.before_delete(id); !allowed) return allowed.error();
  }
  return blocks_.Delete(id);
}

void BlockIndex::Release(std::uint64_t stored_size) {
  std::lock_guard lock(mutex_);
  assert(reserved_bytes_ >= stored_size);
  reserved_bytes_ -= std::min(reserved_bytes_, stored_size);
}

void BlockIndex::Added(const BlockId& id, const BlockMeta& meta) {
  std::lock_guard lock(mutex_);
  assert(reserved_bytes_ >= meta.stored_size);
  reserved_bytes_ -= std::min(reserved_bytes_, meta.stored_size);
  if (entries_.contains(id)) return;
  // The put may have found the doomed copy still stored and kept it: only the store after the
  // deletes can tell.
  if (const auto doomed = doomed_.find(id); doomed != doomed_.end()) {
    doomed->second.settle = true;
    return;
  }
  // A purge (Delete) that ran between the fill's put and this call found nothing to forget; an
  // entry made now would name a block the store no longer has. Checked under the mutex, which
  // every delete takes before and after its store delete.
  if (auto stored = blocks_.Has(id); stored && !*stored) return;
  BlockMeta added = meta;
  added.hits = 0;
  IndexStoredLocked(id, added);
}

bool BlockIndex::Touched(const BlockId& id) {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  Entry& entry = it->second;
  Erase(entry);
  ++entry.meta.hits;
  Access(id, entry);
  Insert(id, entry);
  return true;
}

Result<bool> BlockIndex::DeleteUnlocking(std::unique_lock<std::mutex>& lock, const BlockId& id) {
  BeginDeleteLocked(id);
  lock.unlock();
  auto deleted = DeleteDoomed(id);
  lock.lock();
  EndDeleteLocked(id, deleted);
  return deleted;
}

Result<bool> BlockIndex::Delete(const BlockId& id) {
  std::unique_lock lock(mutex_);
  return DeleteUnlocking(lock, id);
}

Result<BlockIndex::Purged> BlockIndex::Purge(const BlockId& id) {
  std::unique_lock lock(mutex_);
  if (PinsLocked(id) > 0) return Purged::kPinned;
  auto deleted = DeleteUnlocking(lock, id);
  if (!deleted) return deleted.error();
  return *deleted ? Purged::kDeleted : Purged::kNotStored;
}

Result<void> BlockIndex::Reconcile(const BlockId& id) {
  std::lock_guard lock(mutex_);
  if (const auto doomed = doomed_.find(id); doomed != doomed_.end()) {
    doomed->second.settle = true;  // the read found the copy being deleted, or one put after
    return {};
  }
  // Read under the mutex: a fill's Put may land before or after this read, but its Added, which
  // needs the mutex, comes after whatever this decides.
  auto meta = blocks_.Meta(id);
  const auto it = entries_.find(id);
  if (!meta) {
    if (meta.error().code != Errc::kBlockNotFound) return meta.error();
    if (it != entries_.end()) Forget(it);
    return {};
  }
  if (it == entries_.end()) IndexStoredLocked(id, *meta);
  return {};
}

void BlockIndex::SetPlanPins(std::vector<BlockId> ids) {
  std::lock_guard lock(mutex_);
  std::unordered_set<BlockId> previous(ids.begin(), ids.end());
  plan_pins_.swap(previous);
  for (const BlockId& id : previous) Repin(id);
  for (const BlockId& id : plan_pins_) Repin(id);
}

Result<void> BlockIndex::ChangePins(std::span<const BlockId> ids,
                                    const std::function<Result<bool>(PinCounts&)>& change) {
  std::lock_guard pinning(pins_mutex_);
  PinCounts pins = operator_pins_;  // only written under pins_mutex_
  auto changed = change(pins);
  if (!changed) return changed.error();
  if (!*changed) return {};
  if (auto stored = plan_.Put(kPinsKey, SerializePins(pins)); !stored) return stored.error();
  std::lock_guard lock(mutex_);
  operator_pins_.swap(pins);
  for (const BlockId& id : ids) Repin(id);
  return {};
}

Result<void> BlockIndex::Pin(std::span<const BlockId> ids) {
  return ChangePins(ids, [&](PinCounts& pins) -> Result<bool> {
    for (const BlockId& id : ids) {
      std::uint32_t& count = pins[id];
      if (count >= UINT32_MAX - 1) {  // leaves room for the plan pin in BlockMeta::pins
        return Error{Errc::kBadRequest, fmt::format("block {} has too many pins", id.Hex())};
      }
      ++count;
    }
    return !ids.empty();
  });
}

Result<void> BlockIndex::Unpin(std::span<const BlockId> ids) {
  return ChangePins(ids, [&](PinCounts& pins) -> Result<bool> {
    bool changed = false;
    for (const BlockId& id : ids) {
      const auto it = pins.find(id);
      if (it == pins.end()) continue;
      changed = true;
      if (--it->second == 0) pins.erase(it);
    }
    return changed;
  });
}

bool BlockIndex::IsPinned(const BlockId& id) const {
  std::lock_guard lock(mutex_);
  return PinsLocked(id) > 0;
}

void BlockIndex::SetModelUse(std::unordered_map<BlockId, std::uint32_t> use_count) {
  std::lock_guard lock(mutex_);
  use_count_ = std::move(use_count);
  Rerank();
}

Result<void> BlockIndex::Flush() {
  std::lock_guard flush_lock(flush_mutex_);
  std::vector<std::pair<BlockId, BlockMeta>> updates;
  {
    std::lock_guard lock(mutex_);
    updates.reserve(dirty_.size());
    for (const BlockId& id : dirty_) {
      if (const auto it = entries_.find(id); it != entries_.end()) {
        updates.emplace_back(id, it->second.meta);
      }
    }
    dirty_.clear();
  }
  auto written = blocks_.UpdateMeta(updates);
  if (!written) {
    std::lock_guard lock(mutex_);
    for (const auto& [id, meta] : updates) {
      if (entries_.contains(id)) dirty_.insert(id);
    }
    return written.error();
  }
  return {};
}

BlockIndex::Stats BlockIndex::stats() const {
  std::lock_guard lock(mutex_);
  Stats stats;
  stats.capacity_bytes = options_.capacity_bytes;
  stats.used_bytes = UsedLocked();
  stats.blocks = entries_.size();
  stats.pinned_blocks = pinned_blocks_;
  stats.evictions = evictions_;
  stats.evicted_bytes = evicted_bytes_;
  return stats;
}

bool BlockIndex::Contains(const BlockId& id) const {
  std::lock_guard lock(mutex_);
  return entries_.contains(id);
}

BlockIndex::PlanCoverage BlockIndex::plan_coverage() const {
  std::lock_guard lock(mutex_);
  PlanCoverage coverage;
  coverage.planned = plan_pins_.size();
  for (const BlockId& id : plan_pins_) coverage.held += entries_.contains(id) ? 1 : 0;
  return coverage;
}

std::vector<std::pair<BlockId, BlockMeta>> BlockIndex::List() const {
  std::vector<std::pair<BlockId, BlockMeta>> list;
  {
    std::lock_guard lock(mutex_);
    list.reserve(entries_.size());
    for (const auto& [id, entry] : entries_) list.emplace_back(id, entry.meta);
  }
  std::sort(list.begin(), list.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return list;
}

}  // namespace mei::cache_node
