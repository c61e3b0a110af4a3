// Writes synthetic tensors as a safetensors file, laid out as the safetensors serializer lays
// them out: 8-byte little-endian header length, JSON header ("__metadata__" first, then the
// tensors in data order) padded with spaces to a multiple of 8, then the tensors' bytes back to
// back.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "common/errc.h"
#include "tools/synth/llama_layout.h"
#include "tools/synth/tensor_data.h"

namespace mei::tools {

// The header bytes (length prefix included) of a file holding `tensors` in this order as
// `dtype`. Thread-safe.
[[nodiscard]] std::string SafetensorsHeader(std::span<const TensorSpec> tensors, StoredDtype dtype);

// Writes `tensors` in this order as `dtype` to `path`, atomically and in bounded memory.
// Returns the file's size; kIo on write errors.
[[nodiscard]] Result<std::uint64_t> WriteSafetensors(const std::filesystem::path& path,
                                                     std::span<const TensorSpec> tensors,
                                                     StoredDtype dtype);

}  // namespace mei::tools
