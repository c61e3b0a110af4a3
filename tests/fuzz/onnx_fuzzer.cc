// Fuzz target: the ONNX parser (common/formats/onnx.h).
//
// The input is a whole file, read through a MemoryByteSource as ingest reads a file. A rejection
// must be kBadModelFile with a sentence (kIo would mean the parser read past the end; a hostile
// count or length must be refused before anything is allocated, which the fuzzer's RSS limit
// enforces). A file that parses must hold what the contract promises: tensors sorted by offset,
// inside the file, not overlapping, each with a name and a dtype; external tensors with a name, a
// dtype and a location; no two tensors of one name.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/byte_source.h"
#include "common/formats/onnx.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/plan_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mei;
  using ull = unsigned long long;
  const MemoryByteSource file(std::as_bytes(std::span(data, size)), "fuzz.onnx");
  const Result<OnnxModel> model = ParseOnnx(file);
  if (!model) {
    FUZZ_CHECK(model.error().code == Errc::kBadModelFile && !model.error().message.empty(),
               "rejected with code %d: %s", static_cast<int>(model.error().code),
               model.error().message.c_str());
    return 0;
  }
  // Sorted by offset; tensors with bytes do not overlap (an empty one may sit anywhere).
  std::uint64_t previous_offset = 0;
  std::uint64_t end_of_data = 0;
  for (const TensorEntry& tensor : model->tensors) {
    FUZZ_CHECK(tensor.offset >= previous_offset && tensor.size <= size &&
                   tensor.offset <= size - tensor.size &&
                   (tensor.size == 0 || tensor.offset >= end_of_data),
               "tensor %s at %llu+%llu (the one before is at %llu, data so far ends at %llu; "
               "file of %zu)",
               tensor.name.c_str(), static_cast<ull>(tensor.offset), static_cast<ull>(tensor.size),
               static_cast<ull>(previous_offset), static_cast<ull>(end_of_data), size);
    FUZZ_CHECK(!tensor.name.empty() && !tensor.dtype.empty(), "tensor \"%s\" of dtype \"%s\"",
               tensor.name.c_str(), tensor.dtype.c_str());
    previous_offset = tensor.offset;
    if (tensor.size != 0) end_of_data = tensor.offset + tensor.size;
  }
  for (const OnnxExternalTensor& tensor : model->external) {
    FUZZ_CHECK(!tensor.name.empty() && !tensor.dtype.empty() && !tensor.location.empty(),
               "external tensor \"%s\" of dtype \"%s\" in \"%s\"", tensor.name.c_str(),
               tensor.dtype.c_str(), tensor.location.c_str());
  }
  std::vector<std::string_view> names;
  for (const TensorEntry& tensor : model->tensors) names.push_back(tensor.name);
  for (const OnnxExternalTensor& tensor : model->external) names.push_back(tensor.name);
  std::sort(names.begin(), names.end());
  const auto twice = std::adjacent_find(names.begin(), names.end());
  FUZZ_CHECK(twice == names.end(), "two tensors named \"%.*s\"", static_cast<int>(twice->size()),
             twice->data());
  fuzz::CheckPlanPublishes(file, FileFormat::kOnnx, model->tensors.size());
  return 0;
}
