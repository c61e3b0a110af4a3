// Sweeps: the hit ratio of every algorithm while one parameter varies, for `mei-placement sweep`
// and the benchmark.
//
// Offline algorithms report the expected hit ratio over the demand; online policies report the
// hit ratio of their replay of requests sampled from the same demand (AlgorithmOptions).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/errc.h"
#include "placement/algorithm.h"
#include "placement/generator.h"

namespace mei::placement {

enum class SweepParameter {
  kCapacity,  // bytes per node; the scenario's other parts stay as they are
  kShared,    // the generator's shared share; a new scenario per value
  kZipf,      // the generator's Zipf exponent; a new scenario per value
};

// "capacity", "shared" or "zipf"; kBadRequest naming them otherwise.
[[nodiscard]] Result<SweepParameter> ParseSweepParameter(std::string_view name);
// The CSV column of `parameter`: "capacity_gib", "shared" or "zipf" (not always a name that
// ParseSweepParameter takes). Static storage.
[[nodiscard]] std::string_view NameOf(SweepParameter parameter);

struct SweepOptions {
  SweepParameter parameter = SweepParameter::kCapacity;
  std::vector<double> values;           // bytes for capacity
  std::vector<std::string> algorithms;  // names for MakeAlgorithm
  AlgorithmOptions algorithm_options;
};

struct SweepRow {
  double value = 0;
  std::vector<double> hit_ratio;  // per algorithm, in SweepOptions order
  std::vector<double> seconds;
};

// `base` is the scenario for kCapacity; `generator` makes one per value for the others (and for
// kCapacity when `base` is null). kBadRequest on an unknown algorithm or a negative value.
[[nodiscard]] Result<std::vector<SweepRow>> RunSweep(const Scenario* base,
                                                     const GeneratorOptions& generator,
                                                     const SweepOptions& options);

// CSV with a header: the parameter (capacity in GiB), then one hit-ratio column per algorithm.
[[nodiscard]] std::string SweepCsv(const SweepOptions& options, const std::vector<SweepRow>& rows);

}  // namespace mei::placement
