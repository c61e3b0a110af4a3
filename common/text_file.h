// Small files read whole, as text: scenarios, traces, plans, manifests, meictl's topology files.
// (Files are written whole through common/atomic_file.h, so a reader never sees half of one.)
#pragma once

#include <filesystem>
#include <string>

#include "common/errc.h"

namespace mei {

// The whole file as text; kIo with the path and the reason when it cannot be read. Thread-safe.
[[nodiscard]] Result<std::string> ReadTextFile(const std::filesystem::path& path);

}  // namespace mei
