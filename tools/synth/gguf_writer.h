// Writes the GGUF (v3) export of a synthetic Llama model, as llama.cpp's converter would name
// and describe it, with tensor data byte-identical to the safetensors base so that the two files
// share their tensor blocks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "common/errc.h"
#include "tools/synth/llama_layout.h"
#include "tools/synth/tokenizer.h"

namespace mei::tools {

inline constexpr std::uint64_t kGgufAlignment = 32;

// Everything before the data section of a GGUF file holding `tensors` in this order (metadata:
// general.*, llama.* dims, the vocabulary; tensor infos: llama.cpp names, dims ne0 first, type
// BF16, offsets aligned to kGgufAlignment), padded to kGgufAlignment. Thread-safe.
[[nodiscard]] std::string LlamaGgufHeader(std::string_view model_name, const LlamaDims& dims,
                                          const Vocab& vocab, std::span<const TensorSpec> tensors);

// Writes the header and the BF16 data of `tensors` to `path`, atomically and in bounded memory.
// Returns the file's size; kIo on write errors.
[[nodiscard]] Result<std::uint64_t> WriteLlamaGguf(const std::filesystem::path& path,
                                                   std::string_view model_name,
                                                   const LlamaDims& dims, const Vocab& vocab,
                                                   std::span<const TensorSpec> tensors);

}  // namespace mei::tools
