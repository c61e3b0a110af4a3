// Synthetic BF16 weights for tests that need blocks the codecs treat like real model tensors.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace mei::testing {

// Little-endian BF16 values of small normally distributed weights: the high (sign and exponent)
// bytes repeat a few values, the low bytes are noise, which is what byte grouping is for (such
// blocks are stored bg2+zstd).
inline std::vector<std::byte> Bf16Weights(std::size_t elements, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<std::byte> bytes(elements * 2);
  for (std::size_t i = 0; i < elements; ++i) {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(normal(rng));
    bytes[2 * i] = static_cast<std::byte>(bits >> 16);
    bytes[2 * i + 1] = static_cast<std::byte>(bits >> 24);
  }
  return bytes;
}

}  // namespace mei::testing
