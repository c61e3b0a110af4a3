// Fuzz target: the TFLite parser (common/formats/tflite.h).
//
// The input is a whole file, read through a MemoryByteSource as ingest reads a file. A rejection
// must be kBadModelFile with a sentence (kIo would mean the parser read past the end; a huge vector
// must be refused before anything is allocated, which the fuzzer's RSS limit enforces, and a
// vector of offsets to one table must not cost more than the table cap allows, which its timeout
// enforces). A file that parses must hold what the contract promises: tensors sorted by offset,
// non-empty, inside the file and not overlapping, each named in UTF-8 and typed.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/byte_source.h"
#include "common/formats/tflite.h"
#include "common/internal/utf8.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/plan_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mei;
  using ull = unsigned long long;
  const MemoryByteSource file(std::as_bytes(std::span(data, size)), "fuzz.tflite");
  const Result<std::vector<TensorEntry>> tensors = ParseTflite(file);
  if (!tensors) {
    FUZZ_CHECK(tensors.error().code == Errc::kBadModelFile && !tensors.error().message.empty(),
               "rejected with code %d: %s", static_cast<int>(tensors.error().code),
               tensors.error().message.c_str());
    return 0;
  }
  std::uint64_t end_of_data = 0;
  for (const TensorEntry& tensor : *tensors) {
    FUZZ_CHECK(tensor.size > 0 && tensor.size <= size && tensor.offset <= size - tensor.size &&
                   tensor.offset >= end_of_data,
               "tensor %s at %llu+%llu (data so far ends at %llu; file of %zu)",
               tensor.name.c_str(), static_cast<ull>(tensor.offset), static_cast<ull>(tensor.size),
               static_cast<ull>(end_of_data), size);
    FUZZ_CHECK(!tensor.name.empty() && internal::IsValidUtf8(tensor.name) && !tensor.dtype.empty(),
               "tensor at %llu has name \"%s\" and dtype \"%s\"", static_cast<ull>(tensor.offset),
               tensor.name.c_str(), tensor.dtype.c_str());
    end_of_data = tensor.offset + tensor.size;
  }
  fuzz::CheckPlanPublishes(file, FileFormat::kTflite, tensors->size());
  return 0;
}
