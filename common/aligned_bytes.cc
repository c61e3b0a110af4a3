#include "common/aligned_bytes.h"

#include <map>
#include <mutex>
#include <new>
#include <utility>

namespace mei {
namespace {

// Capacities are whole multiples of this, so that blocks of nearby sizes share buffers.
constexpr std::size_t kGranule = 64 * 1024;

class Pool {
 public:
  static Pool& Shared() {
    static Pool* pool = new Pool();  // never destroyed: buffers go back to it at exit too
    return *pool;
  }

  // A pooled buffer of at least `size` bytes and at most twice that (and its capacity), or a new
  // one of `capacity` bytes.
  std::pair<std::byte*, std::size_t> Take(std::size_t size, std::size_t capacity) {
    {
      std::lock_guard lock(mu_);
      const auto it = free_.lower_bound(size);
      if (it != free_.end() && it->first <= 2 * size) {
        const auto taken = std::make_pair(it->second, it->first);
        pooled_bytes_ -= it->first;
        free_.erase(it);
        return taken;
      }
    }
    return {
        static_cast<std::byte*>(::operator new (capacity, std::align_val_t{kDirectIoAlignment})),
        capacity};
  }

  void Give(std::byte* data, std::size_t capacity) {
    {
      std::lock_guard lock(mu_);
      if (pooled_bytes_ + capacity <= AlignedBytes::kPooledBytes) {
        free_.emplace(capacity, data);
        pooled_bytes_ += capacity;
        return;
      }
    }
    ::operator delete (data, std::align_val_t{kDirectIoAlignment});
  }

 private:
  std::mutex mu_;
  std::multimap<std::size_t, std::byte*> free_;  // by capacity; guarded by mu_
  std::size_t pooled_bytes_ = 0;                 // guarded by mu_
};

}  // namespace

AlignedBytes::AlignedBytes(std::size_t size) : size_(size) {
  if (size == 0) return;
  const std::size_t capacity = (size + kGranule - 1) / kGranule * kGranule;
  std::tie(data_, capacity_) = Pool::Shared().Take(size, capacity);
}

AlignedBytes::~AlignedBytes() {
  if (data_ != nullptr) Pool::Shared().Give(data_, capacity_);
}

AlignedBytes::AlignedBytes(AlignedBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)) {}

AlignedBytes& AlignedBytes::operator=(AlignedBytes&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) Pool::Shared().Give(data_, capacity_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

}  // namespace mei
