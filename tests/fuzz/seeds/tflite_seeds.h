// The seed corpus of the tflite fuzz target (mei_fuzz_seeds writes it to
// tests/fuzz/corpus/tflite/).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace mei::fuzz {

// (name, bytes) pairs: valid inputs and near-valid ones that each break one rule. The same bytes
// on every run.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> TfliteSeeds();

}  // namespace mei::fuzz
