// AlignedBytes: a fixed-size byte buffer that starts on a kDirectIoAlignment boundary, so that a
// segment log can write it to disk with O_DIRECT (common/store/segment_log.h) instead of copying
// it into the page cache. Buffers are recycled through a process-wide pool of those recently let
// go (at most kPooledBytes in all), so that a node filling block after block writes into pages
// that are already mapped rather than taking a page fault, and a fresh zeroed page, every 4 KiB.
// Move-only; not zeroed; thread-safe (the pool has its own lock).
#pragma once

#include <cstddef>
#include <span>

namespace mei {

// What O_DIRECT asks of a buffer's address, a file offset and a length on every device and file
// system the store runs on (logical blocks are 512 or 4096 bytes).
inline constexpr std::size_t kDirectIoAlignment = 4096;

class AlignedBytes {
 public:
  // The most bytes of let-go buffers the pool keeps; a buffer that would pass it is freed.
  static constexpr std::size_t kPooledBytes = 64ull << 20;

  AlignedBytes() = default;
  // `size` bytes: a pooled buffer that holds them without wasting more than as many again, or a
  // new one.
  explicit AlignedBytes(std::size_t size);
  ~AlignedBytes();
  AlignedBytes(AlignedBytes&& other) noexcept;
  AlignedBytes& operator=(AlignedBytes&& other) noexcept;
  AlignedBytes(const AlignedBytes&) = delete;
  AlignedBytes& operator=(const AlignedBytes&) = delete;

  [[nodiscard]] std::byte* data() { return data_; }
  [[nodiscard]] const std::byte* data() const { return data_; }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] std::span<std::byte> span() { return {data_, size_}; }
  [[nodiscard]] std::span<const std::byte> span() const { return {data_, size_}; }

 private:
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace mei
