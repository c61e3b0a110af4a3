// The seed corpus of the onnx fuzz target (mei_fuzz_seeds writes it to tests/fuzz/corpus/onnx/).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace mei::fuzz {

// (name, bytes) pairs: valid inputs and near-valid ones that each break one rule. The same bytes
// on every run.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> OnnxSeeds();

}  // namespace mei::fuzz
