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
  std::lock_guard lock(mutex_);
  if (UsedLocked() + stored_size <= high_bytes_) {
    reserved_bytes_ += stored_size;
    return {};
  }
  const auto full = [&] {
    return Error{Errc::kStoreFull,
                 fmt::format("the store is full: a block of {} bytes does not fit, {} of {} bytes "
                             "are used and only {} of them belong to blocks that may be evicted "
                             "(the rest is pinned or being filled)",
                             stored_size, UsedLocked(), options_.capacity_bytes, candidate_bytes_)};
  };
  if (UsedLocked() + stored_size > high_bytes_ + candidate_bytes_) return full();

  while (!candidates_.empty() && UsedLocked() + stored_size > low_bytes_) {
    const BlockId victim = candidates_.begin()->id;
    auto deleted = blocks_.Delete(victim);
    if (!deleted) return deleted.error();
    const auto it = entries_.find(victim);
    const std::uint64_t size = it->second.meta.stored_size;
    Forget(it);
    if (*deleted) {  // false: an entry the store had lost (Reconcile drops those)
      ++evictions_;
      evicted_bytes_ += size;
    }
  }
  // Only when the BlockStore holds blocks the index does not know of.
  if (UsedLocked() + stored_size > high_bytes_) return full();
  reserved_bytes_ += stored_size;
  return {};
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
  // A purge (Delete) that ran between the fill's put and this call found nothing to forget; an
  // entry made now would name a block the store no longer has. Checked under the mutex, which
  // every Delete takes.
  if (auto stored = blocks_.Has(id); stored && !*stored) return;
  Entry& entry = entries_[id];
  entry.meta = meta;
  entry.meta.hits = 0;
  entry.meta.pins = PinsLocked(id);
  Access(id, entry);
  Insert(id, entry);
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

Result<bool> BlockIndex::Delete(const BlockId& id) {
  std::lock_guard lock(mutex_);
  auto deleted = blocks_.Delete(id);
  if (!deleted) return deleted.error();
  if (const auto it = entries_.find(id); it != entries_.end()) Forget(it);
  return *deleted;
}

Result<BlockIndex::Purged> BlockIndex::Purge(const BlockId& id) {
  std::lock_guard lock(mutex_);
  if (PinsLocked(id) > 0) return Purged::kPinned;
  auto deleted = blocks_.Delete(id);
  if (!deleted) return deleted.error();
  if (const auto it = entries_.find(id); it != entries_.end()) Forget(it);
  return *deleted ? Purged::kDeleted : Purged::kNotStored;
}

Result<void> BlockIndex::Reconcile(const BlockId& id) {
  std::lock_guard lock(mutex_);
  // Read under the mutex: a fill's Put may land before or after this read, but its Added, which
  // needs the mutex, comes after whatever this decides.
  auto meta = blocks_.Meta(id);
  const auto it = entries_.find(id);
  if (!meta) {
    if (meta.error().code != Errc::kBlockNotFound) return meta.error();
    if (it != entries_.end()) Forget(it);
    return {};
  }
  if (it != entries_.end()) return {};
  Entry& entry = entries_[id];
  entry.meta = *meta;
  entry.meta.pins = PinsLocked(id);
  Access(id, entry);
  Insert(id, entry);
  return {};
}

void BlockIndex::SetPlanPins(std::vector<BlockId> ids) {
  std::lock_guard lock(mutex_);
  std::unordered_set<BlockId> previous(ids.begin(), ids.end());
  plan_pins_.swap(previous);
  for (const BlockId& id : previous) Repin(id);
  for (const BlockId& id : plan_pins_) Repin(id);
}

Result<void> BlockIndex::StorePinsLocked(const std::unordered_map<BlockId, std::uint32_t>& pins) {
  return plan_.Put(kPinsKey, SerializePins(pins));
}

Result<void> BlockIndex::Pin(std::span<const BlockId> ids) {
  if (ids.empty()) return {};
  std::lock_guard lock(mutex_);
  std::unordered_map<BlockId, std::uint32_t> pins = operator_pins_;
  for (const BlockId& id : ids) {
    std::uint32_t& count = pins[id];
    if (count >= UINT32_MAX - 1) {  // leaves room for the plan pin in BlockMeta::pins
      return Error{Errc::kBadRequest, fmt::format("block {} has too many pins", id.Hex())};
    }
    ++count;
  }
  if (auto stored = StorePinsLocked(pins); !stored) return stored.error();
  operator_pins_.swap(pins);
  for (const BlockId& id : ids) Repin(id);
  return {};
}

Result<void> BlockIndex::Unpin(std::span<const BlockId> ids) {
  std::lock_guard lock(mutex_);
  std::unordered_map<BlockId, std::uint32_t> pins = operator_pins_;
  bool changed = false;
  for (const BlockId& id : ids) {
    const auto it = pins.find(id);
    if (it == pins.end()) continue;
    changed = true;
    if (--it->second == 0) pins.erase(it);
  }
  if (!changed) return {};
  if (auto stored = StorePinsLocked(pins); !stored) return stored.error();
  operator_pins_.swap(pins);
  for (const BlockId& id : ids) Repin(id);
  return {};
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
