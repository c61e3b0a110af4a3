#include "common/fastcdc.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cstdint>

namespace mei {
namespace {

// The gear table: 256 pseudo-random 64-bit words from splitmix64 with a fixed seed. Cut points,
// and so block ids, depend on every bit of it: changing the seed re-chunks every stored file.
constexpr std::array<std::uint64_t, 256> MakeGearTable() {
  std::array<std::uint64_t, 256> table{};
  std::uint64_t state = 0x6d65692d63646e31;  // "mei-cdn1"
  for (std::uint64_t& entry : table) {
    state += 0x9e3779b97f4a7c15;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    entry = z ^ (z >> 31);
  }
  return table;
}

constexpr std::array<std::uint64_t, 256> kGear = MakeGearTable();

// A mask of the top `bits` bits of a 64-bit word.
constexpr std::uint64_t TopBitsMask(int bits) {
  if (bits <= 0) return 0;
  if (bits >= 64) return ~std::uint64_t{0};
  return ~std::uint64_t{0} << (64 - bits);
}

}  // namespace

// FastCDC (Xia et al., USENIX ATC 2016). The gear fingerprint fp = (fp << 1) + Gear[byte] rolls
// over the input one byte at a time; bit k of fp depends on the last k+1 bytes only, so the top
// bits hash a 64-byte window, and a cut is declared where the masked top bits are all zero. Three
// of the paper's ideas keep chunks fast to find and close to avg_size:
//  - cut-point skipping: no chunk is shorter than min_size, so hashing starts at min_size;
//  - normalized chunking (level 2): before avg_size the mask has log2(avg)+2 bits, making a cut 4x
//    less likely than 1/avg per byte, after it log2(avg)-2 bits, 4x more likely, which pulls chunk
//    sizes towards avg_size;
//  - a hard cut at max_size.
// The paper spreads its mask bits over the word to widen the window; taking the top bits, which
// already depend on a full 64-byte window, does the same with a single comparison.
std::size_t FastCdcCut(std::span<const std::byte> data, const FastCdcParams& params) {
  assert(params.max_size > 0 && params.min_size <= params.avg_size &&
         params.avg_size <= params.max_size && std::has_single_bit(params.avg_size));
  const std::size_t end = std::min(data.size(), params.max_size);
  if (end <= params.min_size) return end;

  const int avg_bits = std::bit_width(params.avg_size) - 1;
  const std::uint64_t mask_small = TopBitsMask(avg_bits + 2);
  const std::uint64_t mask_large = TopBitsMask(avg_bits - 2);
  const std::size_t normal_end = std::min(end, params.avg_size);

  std::uint64_t fp = 0;
  std::size_t i = params.min_size;
  for (; i < normal_end; ++i) {
    fp = (fp << 1) + kGear[static_cast<std::uint8_t>(data[i])];
    if ((fp & mask_small) == 0) return i + 1;
  }
  for (; i < end; ++i) {
    fp = (fp << 1) + kGear[static_cast<std::uint8_t>(data[i])];
    if ((fp & mask_large) == 0) return i + 1;
  }
  return end;
}

}  // namespace mei
