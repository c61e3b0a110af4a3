// What mei-synth wrote, read back for its tests: byte ranges, and each variant's tensors as the
// parsers of common/formats read them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace mei::tools {

// A new folder under the system's temporary folder; ADD_FAILURE when it cannot be made.
[[nodiscard]] std::filesystem::path MakeTempDir();

[[nodiscard]] std::vector<std::byte> ReadRange(const std::filesystem::path& path,
                                               std::uint64_t offset, std::uint64_t size);

[[nodiscard]] std::string ReadText(const std::filesystem::path& path);

// The llama.cpp name of a Hugging Face Llama tensor name: "blk.3.ffn_up.weight" for
// "model.layers.3.mlp.up_proj.weight".
[[nodiscard]] std::string GgufName(const std::string& hf_name);

// A tensor as a variant's file stores it.
struct StoredTensor {
  std::string dtype;                 // as the format's parser names it
  std::vector<std::uint64_t> shape;  // as the parser gives it (a PyTorch storage: its byte length)
  std::vector<std::byte> bytes;      // its data (TF.js: its pieces in the shards, joined)
};

// The tensors of the variant in `folder`, by Hugging Face name, read with the parser of the
// format of its weights file: model.safetensors, model.gguf (llama.cpp names mapped back),
// model.onnx, model.tflite (buffers that no tensor names left out), pytorch_model.bin (storage
// key i named tensor_order[i]), model.npz (members "<name>.npy") or model.json (TF.js).
// `tensor_order` lists the Hugging Face names in the order mei-synth gives them to the writers.
// ADD_FAILURE when the folder holds none of these or its file does not parse.
[[nodiscard]] std::map<std::string, StoredTensor> ReadStoredTensors(
    const std::filesystem::path& folder, const std::vector<std::string>& tensor_order);

// The names of `variant`'s tensors whose bytes equal those `base` stores under the same name.
[[nodiscard]] std::set<std::string> NamesWithSameBytes(
    const std::map<std::string, StoredTensor>& variant,
    const std::map<std::string, StoredTensor>& base);

}  // namespace mei::tools
