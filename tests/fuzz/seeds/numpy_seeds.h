// The seed corpus of the numpy fuzz target (mei_fuzz_seeds writes it to tests/fuzz/corpus/numpy/).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace mei::fuzz {

// (name, bytes) pairs: valid inputs and near-valid ones that each break one rule. The same bytes
// on every run.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> NumpySeeds();

}  // namespace mei::fuzz
