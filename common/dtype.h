// Element types of tensors: how many bits an element takes and which byte grouping suits it.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace mei {

// Bits per element of a safetensors dtype ("BF16" -> 16, "F4" -> 4, "BOOL" -> 8), or nullopt for a
// name the format does not define. Covers every dtype of the format: BOOL, F4, F6_E2M3, F6_E3M2,
// U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64.
[[nodiscard]] std::optional<std::uint32_t> SafetensorsDtypeBits(std::string_view dtype);

// The element width in bytes that byte grouping should use for tensors of `dtype`: 2 for 16-bit
// floats (F16, BF16), 4 for 32-bit floats (F32), 0 (no grouping) for everything else. Accepts the
// names of both safetensors and GGUF, which agree for these types.
[[nodiscard]] std::uint8_t ByteGroupingWidth(std::string_view dtype);

}  // namespace mei
