#include "common/store/hot_entries.h"

#include <utility>

namespace mei {

std::shared_ptr<const HotEntry> HotEntries::Find(const BlockId& id) {
  std::lock_guard lock(mu_);
  const auto found = slots_.find(id);
  if (found == slots_.end()) return nullptr;
  uses_.splice(uses_.begin(), uses_, found->second.use);
  return found->second.entry;
}

std::uint64_t HotEntries::forgotten() const {
  std::lock_guard lock(mu_);
  return forgotten_;
}

std::shared_ptr<const HotEntry> HotEntries::OfferInline(const BlockId& id,
                                                        std::span<const std::byte> frame,
                                                        const FrameView& view,
                                                        std::uint64_t forgotten_before) {
  if (frame.size() > capacity_bytes_) return nullptr;
  // Copied outside the lock; the view is moved over the copy.
  auto entry = std::make_shared<HotEntry>();
  entry->bytes.assign(frame.begin(), frame.end());
  entry->view.header = view.header;
  entry->view.payload = std::span<const std::byte>(entry->bytes)
                            .subspan(static_cast<std::size_t>(view.payload.data() - frame.data()),
                                     view.payload.size());
  return Keep(id, std::move(entry), frame.size(), forgotten_before);
}

std::shared_ptr<const HotEntry> HotEntries::OfferInSegment(const BlockId& id,
                                                           const SegmentFrame& in_segment,
                                                           std::uint64_t forgotten_before) {
  if (kEntryCost > capacity_bytes_) return nullptr;
  auto entry = std::make_shared<HotEntry>();
  entry->in_segment = in_segment;
  return Keep(id, std::move(entry), kEntryCost, forgotten_before);
}

void HotEntries::Forget(const BlockId& id) {
  std::lock_guard lock(mu_);
  ++forgotten_;
  if (const auto found = slots_.find(id); found != slots_.end()) EraseLocked(found);
}

std::uint64_t HotEntries::held_bytes() const {
  std::lock_guard lock(mu_);
  return held_bytes_;
}

std::shared_ptr<const HotEntry> HotEntries::Keep(const BlockId& id,
                                                 std::shared_ptr<const HotEntry> entry,
                                                 std::uint64_t cost,
                                                 std::uint64_t forgotten_before) {
  std::lock_guard lock(mu_);
  if (forgotten_ != forgotten_before) return nullptr;  // the index may have changed since
  if (const auto found = slots_.find(id); found != slots_.end()) {
    return found->second.entry;  // another reader kept it first
  }
  while (held_bytes_ + cost > capacity_bytes_ && !uses_.empty()) {
    EraseLocked(slots_.find(uses_.back()));
  }
  uses_.push_front(id);
  slots_.emplace(id, Slot{entry, cost, uses_.begin()});
  held_bytes_ += cost;
  return entry;
}

void HotEntries::EraseLocked(std::unordered_map<BlockId, Slot>::iterator slot) {
  held_bytes_ -= slot->second.cost;
  uses_.erase(slot->second.use);
  slots_.erase(slot);
}

}  // namespace mei
