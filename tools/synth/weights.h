// Synthetic weights: deterministic, seekable streams of BF16 values with a chosen distribution, and
// the same values as F32 or F16.
//
// A stream is counter-based (SplitMix64, Steele et al., OOPSLA 2014): word k of the stream with
// seed s is SplitMix64's finaliser applied to s + (k + 1) * golden gamma, and each word gives four
// elements, each of its 16-bit quarters indexing a table of the 65536 BF16-rounded quantiles
// (i + 0.5) / 65536 of the distribution. So any range of a tensor can be generated without what
// comes before it, and a 4 GiB model costs about a second of CPU.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace mei::tools {

enum class WeightDistribution : std::uint8_t {
  kProjection,  // N(0, 0.02), as linear layers and embeddings are initialised
  kNormScale,   // N(1, 0.02): RMSNorm scales stay near 1
};

struct WeightStream {
  std::uint64_t seed = 0;
  WeightDistribution distribution = WeightDistribution::kProjection;

  friend bool operator==(const WeightStream&, const WeightStream&) = default;
};

// The seed of the stream of tensor `tensor_name` in revision `revision` ("base", "ft-last", ...)
// of the model line `lineage`, for the user's `seed`. Distinct inputs give unrelated streams.
// Thread-safe.
[[nodiscard]] std::uint64_t StreamSeed(std::uint64_t seed, std::string_view lineage,
                                       std::string_view revision, std::string_view tensor_name);

// Writes elements [first_element, first_element + out.size()) of `stream` as BF16 bit patterns.
// REQUIRES: first_element % 4 == 0. Thread-safe.
void FillBf16(const WeightStream& stream, std::uint64_t first_element,
              std::span<std::uint16_t> out);

// The same elements as FillBf16, widened exactly to F32 bit patterns. REQUIRES as FillBf16.
void FillF32(const WeightStream& stream, std::uint64_t first_element, std::span<std::uint32_t> out);

// The same elements as FillBf16, converted to IEEE binary16 (F16) bit patterns by FloatToF16, as
// a BF16 checkpoint saved in float16 would be. Every value of magnitude at least 2^-14 (F16's
// smallest normal; all but about 0.25% of kProjection's, all of kNormScale's) converts exactly;
// smaller ones become F16 subnormals and are rounded. REQUIRES as FillBf16. Thread-safe.
void FillF16(const WeightStream& stream, std::uint64_t first_element, std::span<std::uint16_t> out);

// SplitMix64 as a sequential generator, for what is drawn once rather than streamed
// (vocabularies). Not thread-safe; one per use.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  [[nodiscard]] std::uint64_t Next();
  [[nodiscard]] double NextUnit();  // uniform in [0, 1)

 private:
  std::uint64_t state_;
};

[[nodiscard]] float Bf16ToFloat(std::uint16_t bits);

// Rounds to the nearest BF16, ties to even; NaN stays a (quiet) NaN.
[[nodiscard]] std::uint16_t FloatToBf16(float value);

[[nodiscard]] float F16ToFloat(std::uint16_t bits);

// Rounds to the nearest IEEE binary16, ties to even, with subnormals; magnitudes from 65520 up
// become infinity; NaN stays a (quiet) NaN.
[[nodiscard]] std::uint16_t FloatToF16(float value);

}  // namespace mei::tools
