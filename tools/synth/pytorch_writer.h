// Writes synthetic tensors as a PyTorch checkpoint, laid out as torch.save(state_dict, path)
// writes one: a zip (stored members, each one's data aligned to 64 bytes by an "FB" extra field,
// CRC-32 and sizes in data descriptors, as PyTorch's miniz-based writer does) whose members sit in
// a folder named after the file's stem:
//   <stem>/data.pkl                 the state dict, pickled (protocol 2)
//   <stem>/byteorder                "little"
//   <stem>/data/<key>               one storage per tensor, its raw bytes; keys "0", "1", ... in
//                                   tensor order, written in the keys' string order as torch does
//   <stem>/version                  "3\n"
//   <stem>/.data/serialization_id   40 digits derived from the record names and CRC-32s
//
// data.pkl is an OrderedDict name -> torch._utils._rebuild_tensor_v2(storage, 0, shape, stride,
// False, OrderedDict()), each storage the persistent id ('storage', torch.<Type>Storage, key,
// 'cpu', element count), with the opcodes and memo Python's pickler emits, so torch.load reads it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "common/errc.h"
#include "tools/synth/llama_layout.h"
#include "tools/synth/tensor_data.h"

namespace mei::tools {

inline constexpr std::uint64_t kPytorchDataAlignment = 64;

// data.pkl of a checkpoint holding `tensors` in this order as `dtype`. Thread-safe.
[[nodiscard]] std::string PytorchDataPickle(std::span<const TensorSpec> tensors, StoredDtype dtype);

// Writes `tensors` in this order as `dtype` to `path`, atomically and in bounded memory. Returns
// the file's size; kIo on write errors.
[[nodiscard]] Result<std::uint64_t> WritePytorchCheckpoint(const std::filesystem::path& path,
                                                           std::span<const TensorSpec> tensors,
                                                           StoredDtype dtype);

// The bytes WritePytorchCheckpoint writes for a file of stem `archive_name`, in memory: for small
// tensors (tests, fuzz seeds).
[[nodiscard]] std::string PytorchCheckpointBytes(std::string_view archive_name,
                                                 std::span<const TensorSpec> tensors,
                                                 StoredDtype dtype);

}  // namespace mei::tools
