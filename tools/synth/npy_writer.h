// Writes NumPy arrays as numpy.save writes them (.npy: magic, version, header length, the header
// dict, padding, then the array's bytes in C order) and archives of them as numpy.savez writes
// them (.npz: a zip of stored members "<name>.npy"), in bounded memory.
//
// NumPy has no bfloat16: a BF16 tensor is written as '<u2' holding its bit patterns, the bytes
// torch.Tensor.view(torch.int16).numpy() would give.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/errc.h"
#include "tools/synth/llama_layout.h"
#include "tools/synth/tensor_data.h"

namespace mei::tools {

// The descr of `dtype` in a header: "<f2", "<f4", or "<u2" for BF16.
[[nodiscard]] std::string_view NpyDescr(StoredDtype dtype);

// The header numpy.save writes for an array of `descr` and `shape`: the dict with its keys sorted
// ("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"), room for the growing axis to
// reach 21 digits, wrapped by WrapNpyHeader in the lowest version that fits. Thread-safe.
[[nodiscard]] std::string NpyHeader(std::string_view descr, const std::vector<std::uint64_t>& shape,
                                    bool fortran_order = false);

// Everything before the data for a header of text `dict`, written as given: the magic, version
// `major_version`.0 (1, 2 or 3; 0: 1 when the length fits 16 bits, else 2), the header length
// (16 bits in version 1, 32 after), `dict`, then spaces and '\n' up to a multiple of 64 bytes
// (a whole 64 more when already there, as NumPy pads). Thread-safe.
[[nodiscard]] std::string WrapNpyHeader(std::string_view dict, int major_version = 0);

// Writes `tensor` as `dtype` to `path` as a .npy file, atomically. Returns the file's size; kIo
// on write errors.
[[nodiscard]] Result<std::uint64_t> WriteNpy(const std::filesystem::path& path,
                                             const TensorSpec& tensor, StoredDtype dtype);

// Writes `tensors` in this order as `dtype` to `path` as a .npz file, atomically. Returns the
// file's size; kIo on write errors.
[[nodiscard]] Result<std::uint64_t> WriteNpz(const std::filesystem::path& path,
                                             std::span<const TensorSpec> tensors,
                                             StoredDtype dtype);

// The bytes WriteNpz writes, in memory: for small tensors (tests, fuzz seeds).
[[nodiscard]] std::string NpzBytes(std::span<const TensorSpec> tensors, StoredDtype dtype);

}  // namespace mei::tools
