#include "common/formats/model_format.h"

#include <array>
#include <utility>

#include "common/formats/gguf.h"
#include "common/formats/safetensors.h"

namespace mei {
namespace {

Result<std::vector<TensorEntry>> SafetensorsTensors(const ByteSource& file) {
  auto header = ParseSafetensors(file);
  if (!header) return header.error();
  return std::move(header->tensors);
}

Result<std::vector<TensorEntry>> GgufTensors(const ByteSource& file) {
  auto gguf = ParseGguf(file);
  if (!gguf) return gguf.error();
  return std::move(gguf->tensors);
}

constexpr std::array kFormats = {
    ModelFormat{FileFormat::kSafetensors, "safetensors", ".safetensors", &SafetensorsTensors},
    ModelFormat{FileFormat::kGguf, "gguf", ".gguf", &GgufTensors},
};

}  // namespace

std::span<const ModelFormat> ModelFormats() { return kFormats; }

const ModelFormat* FindModelFormat(FileFormat id) {
  for (const ModelFormat& format : kFormats) {
    if (format.id == id) return &format;
  }
  return nullptr;
}

}  // namespace mei
