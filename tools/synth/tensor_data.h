// The bytes of a synthetic tensor, streamed into a file in bounded memory.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/atomic_file.h"
#include "common/errc.h"
#include "tools/synth/llama_layout.h"

namespace mei::tools {

enum class StoredDtype : std::uint8_t { kBf16, kF16, kF32 };

// "BF16", "F16" or "F32", as safetensors names them.
[[nodiscard]] std::string_view DtypeName(StoredDtype dtype);

[[nodiscard]] std::uint64_t ElementBytes(StoredDtype dtype);

// Appends the little-endian elements of `tensor` as `dtype` to `file`, a few MiB at a time.
// kIo on write errors.
[[nodiscard]] Result<void> AppendTensorData(const TensorSpec& tensor, StoredDtype dtype,
                                            AtomicFile& file);

}  // namespace mei::tools
