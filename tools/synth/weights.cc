#include "tools/synth/weights.h"

#include <array>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstddef>

namespace mei::tools {
namespace {

constexpr std::uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ull;
constexpr std::size_t kQuantiles = 65536;
constexpr double kStd = 0.02;

using QuantileTable = std::array<std::uint16_t, kQuantiles>;

std::uint64_t Mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Inverse of the standard normal CDF for p in (0, 0.5] by Acklam's rational approximation
// (relative error below 1.2e-9, far finer than BF16's 2^-8).
double NormalQuantileLowerHalf(double p) {
  constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                          1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                          6.680131188771972e+01, -1.328068155288572e+01};
  constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                          -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                          3.754408661907416e+00};
  if (p < 0.02425) {
    const double q = std::sqrt(-2.0 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  }
  const double q = p - 0.5;
  const double r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
}

// Built symmetric (entry 65535 - i mirrors entry i), so the mean of kProjection is exactly 0.
QuantileTable MakeTable(double mean) {
  QuantileTable table{};
  for (std::size_t i = 0; i < kQuantiles / 2; ++i) {
    const double z = NormalQuantileLowerHalf((static_cast<double>(i) + 0.5) / kQuantiles);
    table[i] = FloatToBf16(static_cast<float>(mean + kStd * z));
    table[kQuantiles - 1 - i] = FloatToBf16(static_cast<float>(mean - kStd * z));
  }
  return table;
}

const QuantileTable& TableFor(WeightDistribution distribution) {
  static const QuantileTable projection = MakeTable(0.0);
  static const QuantileTable norm_scale = MakeTable(1.0);
  return distribution == WeightDistribution::kNormScale ? norm_scale : projection;
}

// The BF16 table's entries converted to F16, so that FillF16 costs what FillBf16 does.
QuantileTable ToF16(const QuantileTable& bf16) {
  QuantileTable table{};
  for (std::size_t i = 0; i < kQuantiles; ++i) table[i] = FloatToF16(Bf16ToFloat(bf16[i]));
  return table;
}

const QuantileTable& F16TableFor(WeightDistribution distribution) {
  static const QuantileTable projection = ToF16(TableFor(WeightDistribution::kProjection));
  static const QuantileTable norm_scale = ToF16(TableFor(WeightDistribution::kNormScale));
  return distribution == WeightDistribution::kNormScale ? norm_scale : projection;
}

std::uint64_t Fnv1a(std::uint64_t hash, std::string_view text) {
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ull;
  }
  return (hash ^ 0xff) * 0x100000001b3ull;  // a separator byte, so ("ab","c") != ("a","bc")
}

// Element i of the stream is widen(table[quarter i of the stream's words]).
template <class Element, class Widen>
void Fill(const QuantileTable& table, const WeightStream& stream, std::uint64_t first_element,
          std::span<Element> out, Widen widen) {
  assert(first_element % 4 == 0);
  std::uint64_t counter = stream.seed + (first_element / 4 + 1) * kGoldenGamma;
  std::size_t i = 0;
  for (; i + 4 <= out.size(); i += 4, counter += kGoldenGamma) {
    const std::uint64_t word = Mix64(counter);
    out[i] = widen(table[word & 0xffff]);
    out[i + 1] = widen(table[(word >> 16) & 0xffff]);
    out[i + 2] = widen(table[(word >> 32) & 0xffff]);
    out[i + 3] = widen(table[word >> 48]);
  }
  for (std::uint64_t word = Mix64(counter); i < out.size(); ++i, word >>= 16) {
    out[i] = widen(table[word & 0xffff]);
  }
}

}  // namespace

std::uint64_t StreamSeed(std::uint64_t seed, std::string_view lineage, std::string_view revision,
                         std::string_view tensor_name) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  hash = Fnv1a(hash, lineage);
  hash = Fnv1a(hash, revision);
  hash = Fnv1a(hash, tensor_name);
  return Mix64(hash ^ Mix64(seed + kGoldenGamma));
}

void FillBf16(const WeightStream& stream, std::uint64_t first_element,
              std::span<std::uint16_t> out) {
  Fill(TableFor(stream.distribution), stream, first_element, out,
       [](std::uint16_t bits) { return bits; });
}

void FillF32(const WeightStream& stream, std::uint64_t first_element,
             std::span<std::uint32_t> out) {
  Fill(TableFor(stream.distribution), stream, first_element, out,
       [](std::uint16_t bits) { return static_cast<std::uint32_t>(bits) << 16; });
}

void FillF16(const WeightStream& stream, std::uint64_t first_element,
             std::span<std::uint16_t> out) {
  Fill(F16TableFor(stream.distribution), stream, first_element, out,
       [](std::uint16_t bits) { return bits; });
}

std::uint64_t SplitMix64::Next() {
  state_ += kGoldenGamma;
  return Mix64(state_);
}

double SplitMix64::NextUnit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

float Bf16ToFloat(std::uint16_t bits) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

std::uint16_t FloatToBf16(float value) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  if (std::isnan(value)) return static_cast<std::uint16_t>((bits >> 16) | 0x0040);
  const std::uint32_t rounding = 0x7fff + ((bits >> 16) & 1);
  return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

float F16ToFloat(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1f;
  const std::uint32_t mantissa = bits & 0x3ff;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign != 0 ? -magnitude : magnitude;
  }
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000 | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

// Normal results: rebias the exponent from 127 to 15 and round the mantissa from 23 bits to 10
// by adding just under half of the dropped part, plus one when the kept part is odd (ties to even);
// a carry out of the mantissa correctly bumps the exponent. Subnormal results are the magnitude in
// units of 2^-24 rounded to an integer, which rounds to nearest even in the default rounding mode;
// 1024 units is the smallest normal's encoding, so that carry is right too.
std::uint16_t FloatToF16(float value) {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000);
  const std::uint32_t magnitude = bits & 0x7fffffff;
  if (magnitude > 0x7f800000) {
    return static_cast<std::uint16_t>(sign | 0x7e00 | ((magnitude >> 13) & 0x3ff));
  }
  if (magnitude >= 0x477ff000) return sign | 0x7c00;  // 65520 and up round to infinity
  if (magnitude < 0x38800000) {                       // below 2^-14: subnormal or zero
    const float units = std::bit_cast<float>(magnitude) * 0x1.0p24f;
    return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(std::nearbyint(units)));
  }
  const std::uint32_t rebiased = magnitude - ((127u - 15u) << 23);
  return static_cast<std::uint16_t>(sign | ((rebiased + 0x0fff + ((rebiased >> 13) & 1)) >> 13));
}

}  // namespace mei::tools
