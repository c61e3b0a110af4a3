// TensorEntry: one tensor of a model file, as a parser reads it and as a manifest records it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mei {

struct TensorEntry {
  std::string name;
  std::string dtype;                 // format's own name: "BF16", "F32", "Q4_K", ...
  std::vector<std::uint64_t> shape;  // as the file lists it (GGUF: ne0 first)
  std::uint64_t offset = 0;          // absolute byte offset of the tensor's data in the file
  std::uint64_t size = 0;            // byte length of the tensor's data (padding excluded)
  std::uint32_t first_block = 0;  // index of the file's block holding `offset` (set by the chunker)
  std::uint32_t block_count = 0;  // blocks that hold the data (set by the chunker)

  friend bool operator==(const TensorEntry&, const TensorEntry&) = default;
};

}  // namespace mei
