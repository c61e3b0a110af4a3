// Fragments: blocks grouped by the exact set of models that use them.
//
// Blocks used by exactly the same models are all-or-nothing for placement: a plan that holds one
// of them without the others makes no additional model available, so the optimizer decides per
// fragment instead of per block. This loses nothing and turns the thousands of blocks of a model
// family into a few items (the base's own blocks, the blocks every fine-tune shares, each
// fine-tune's own blocks). Plain values; thread-compatible.
#pragma once

#include <cstdint>
#include <vector>

#include "placement/catalog.h"

namespace mei::placement {

struct Fragment {
  std::vector<std::uint32_t> models;  // sorted catalog model indices; never empty
  std::vector<std::uint32_t> blocks;  // sorted catalog block indices; never empty
  std::uint64_t size = 0;             // sum of the blocks' sizes
};

struct Fragments {
  // Ordered by their first block index, so the numbering is deterministic.
  std::vector<Fragment> fragments;
  // of_model[i]: the fragments model i is made of, sorted; their sizes add up to SizeOf(i).
  std::vector<std::vector<std::uint32_t>> of_model;
};

// Partitions the blocks that some model uses by their exact set of users. Blocks no model uses
// belong to no fragment. O(total block references x log).
[[nodiscard]] Fragments ComputeFragments(const Catalog& catalog);

}  // namespace mei::placement
