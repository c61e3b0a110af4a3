// Overflow-checked arithmetic on sizes and offsets read from untrusted files.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace mei::internal {

[[nodiscard]] inline std::optional<std::uint64_t> CheckedAdd(std::uint64_t a, std::uint64_t b) {
  std::uint64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) return std::nullopt;
  return sum;
}

[[nodiscard]] inline std::optional<std::uint64_t> CheckedMul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) return std::nullopt;
  return product;
}

// The product of `factors` (1 for none), or nullopt when it does not fit in 64 bits. A zero factor
// makes the product zero whatever the others are.
[[nodiscard]] inline std::optional<std::uint64_t> CheckedProduct(
    std::span<const std::uint64_t> factors) {
  for (const std::uint64_t factor : factors) {
    if (factor == 0) return 0;
  }
  std::uint64_t product = 1;
  for (const std::uint64_t factor : factors) {
    const std::optional<std::uint64_t> next = CheckedMul(product, factor);
    if (!next) return std::nullopt;
    product = *next;
  }
  return product;
}

}  // namespace mei::internal
