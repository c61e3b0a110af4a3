// Seeded synthetic scenarios for `mei-placement gen`, the tests and the benchmark.
//
// Base stations sit at the centres of a square grid over a square area; users are placed
// uniformly at random and reach every station within the coverage radius (at least the nearest
// one), at a rate that falls linearly from `peak_rate` at distance 0 to 25% of it at the radius.
// Each model family has a base model and fine-tunes of the same size; a fine-tune shares the first
// `shared_share` of the base's blocks and has its own blocks for the rest. Models are ranked by a
// random permutation and requested with Zipf popularity rank^-zipf; with `cell_variation` > 0,
// each base station's ranking is the global one with that share of positions shuffled, and users
// follow their nearest station's ranking. Each user requests at 1 request per second in total.
// The same options give the same scenario, byte for byte.
#pragma once

#include <cstdint>

#include "common/errc.h"
#include "placement/scenario.h"

namespace mei::placement {

struct GeneratorOptions {
  std::uint64_t seed = 1;
  double area_m = 1000;
  std::uint32_t base_stations = 10;
  std::uint32_t users = 200;
  double radius_m = 350;
  double peak_rate_bytes_per_s = 125e6;   // 1 Gbit/s
  double origin_rate_bytes_per_s = 25e6;  // 200 Mbit/s
  double deadline_s = 30;
  std::uint32_t families = 3;
  std::uint32_t models_per_family = 10;    // the base and models_per_family - 1 fine-tunes
  std::uint64_t model_bytes = 1ull << 30;  // mean model size; families vary within +-50%
  std::uint32_t blocks_per_model = 20;     // granularity of the shared share
  double shared_share = 0.8;               // of a fine-tune's bytes shared with its base
  double zipf = 0.8;
  double cell_variation = 0;                  // 0: one ranking everywhere; 1: independent per cell
  std::uint32_t demand_top = 0;               // > 0: each user requests only its top-ranked models
  std::uint64_t capacity_bytes = 4ull << 30;  // of every base station
};

// kBadRequest naming the first option out of range (no stations, a share outside [0, 1], ...).
[[nodiscard]] Result<Scenario> GenerateScenario(const GeneratorOptions& options);

}  // namespace mei::placement
