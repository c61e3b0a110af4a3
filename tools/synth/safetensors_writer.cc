#include "tools/synth/safetensors_writer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <bit>
#include <cstring>

namespace mei::tools {

std::string SafetensorsHeader(std::span<const TensorSpec> tensors, StoredDtype dtype) {
  std::string json = R"({"__metadata__":{"format":"pt"})";
  std::uint64_t offset = 0;
  for (const TensorSpec& tensor : tensors) {
    const std::uint64_t end = offset + tensor.Elements() * ElementBytes(dtype);
    json += fmt::format(R"(,"{}":{{"dtype":"{}","shape":[{}],"data_offsets":[{},{}]}})",
                        tensor.name, DtypeName(dtype), fmt::join(tensor.shape, ","), offset, end);
    offset = end;
  }
  json += '}';
  json.append((8 - json.size() % 8) % 8, ' ');

  static_assert(std::endian::native == std::endian::little);
  const std::uint64_t length = json.size();
  std::string header(sizeof(length), '\0');
  std::memcpy(header.data(), &length, sizeof(length));
  return header + json;
}

Result<std::uint64_t> WriteSafetensors(const std::filesystem::path& path,
                                       std::span<const TensorSpec> tensors, StoredDtype dtype) {
  Result<AtomicFile> file = AtomicFile::Create(path);
  if (!file) return file.error();
  if (Result<void> header = file->Append(SafetensorsHeader(tensors, dtype)); !header) {
    return header.error();
  }
  for (const TensorSpec& tensor : tensors) {
    if (Result<void> data = AppendTensorData(tensor, dtype, *file); !data) return data.error();
  }
  const std::uint64_t size = file->size();
  if (Result<void> committed = file->Commit(); !committed) return committed.error();
  return size;
}

}  // namespace mei::tools
